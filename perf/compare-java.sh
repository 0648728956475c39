#!/usr/bin/env bash
# Bolide against the Apache RocketMQ Java broker (5.x), side by side in one run on the same machine:
# for every scenario a fresh Bolide and then a fresh Java NameServer + broker (equivalent broker.conf),
# the same bolide-bench command against each, JSON reports collected, and a Markdown table saying by
# what ratio each one wins (perf/out/java-<stamp>/compare.md).
#
# Usage: perf/compare-java.sh [scenario ...]   (default: all, in this order)
# Scenarios (1 KiB bodies, the definitions of perf/run.sh):
#   sync-async-flush  ASYNC_FLUSH, CLIENTS closed-loop sync producers
#   batch             ASYNC_FLUSH, 32 producers, SEND_BATCH_MESSAGE of 64
#   sync-sync-flush   SYNC_FLUSH, CLIENTS closed-loop sync producers
#   open-loop         ASYNC_FLUSH, CLIENTS sync producers at one fixed rate for both brokers: half of
#                     the slower broker's sync-async-flush rate in this run's first round (or RATE)
#   tail-consume      ASYNC_FLUSH, 16 batch producers + pull loops from the tail (end-to-end latency)
# Env: RUNS (rounds, default 1)  DURATION (measured s, default 10)  WARMUP (s, default 3)
#      PREWARM (s of untimed load on a throwaway topic before each measured run, default 10: the JVM's
#      JIT needs it, Bolide gets the same)  CLIENTS (default 128)  SIZE (default 1024)
#      QUEUES (per topic, default 8)  RATE (open-loop msgs/s; default derived as above)
#      PORT_BASE (default 19700: Bolide +1 NameServer, +11 broker (+9 VIP); Java +2 NameServer,
#      +21 broker (+19 VIP, +22 HA))  DATA_ROOT (default ./data; a real filesystem, not tmpfs)
#      OUT  MAX_SECONDS (no new run starts after this, default 3600)
#      BOLIDE / BENCH (default ${CARGO_TARGET_DIR:-target}/release/{bolide,bolide-bench}; not built here)
#      REF_SCRIPT (default scripts/rocketmq-ref.sh)  REF_HEAP (Java heap, default 1g)
#      JAVA_EXTRA (more broker.conf KEY=VALUE pairs for the Java broker, space-separated)
#      TABLE_ONLY=1 with OUT=<an earlier run>: only rewrite its compare.md
# Rounds alternate the order (odd: Bolide first, even: Java first). Loopback only; every run is bounded
# by `timeout`; everything started here is stopped on exit and the data directories are deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TARGET=${CARGO_TARGET_DIR:-target}
BOLIDE=${BOLIDE:-$TARGET/release/bolide}
BENCH=${BENCH:-$TARGET/release/bolide-bench}
REF_SCRIPT=${REF_SCRIPT:-$ROOT/scripts/rocketmq-ref.sh}
RUNS=${RUNS:-1}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
PREWARM=${PREWARM:-10}
CLIENTS=${CLIENTS:-128}
SIZE=${SIZE:-1024}
QUEUES=${QUEUES:-8}
RATE=${RATE:-}
PORT_BASE=${PORT_BASE:-19700}
DATA_ROOT=${DATA_ROOT:-$ROOT/data}
OUT=${OUT:-$ROOT/perf/out/java-$(date -u +%Y%m%d-%H%M%S)}
MAX_SECONDS=${MAX_SECONDS:-3600}
export REF_HEAP=${REF_HEAP:-1g}

B_NS=$((PORT_BASE + 1)) B_BROKER=$((PORT_BASE + 11))
J_NS=$((PORT_BASE + 2)) J_BROKER=$((PORT_BASE + 21))
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(sync-async-flush batch sync-sync-flush open-loop tail-consume)
for s in "${SCENARIOS[@]}"; do
    case $s in sync-async-flush | batch | sync-sync-flush | open-loop | tail-consume) ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;; esac
done
if [ -z "${TABLE_ONLY:-}" ]; then
    for f in "$BOLIDE" "$BENCH" "$REF_SCRIPT"; do
        [ -x "$f" ] || { echo "not executable: $f (build with cargo build --release, or set BOLIDE/BENCH/REF_SCRIPT)" >&2; exit 2; }
    done
    command -v java >/dev/null || { echo "java not found (apt-get install openjdk-17-jdk-headless)" >&2; exit 2; }
fi
mkdir -p "$OUT" "$DATA_ROOT"
START_S=$(date +%s)

# The Java broker's JVM, beyond the heap (REF_HEAP): the G1 settings of RocketMQ's own
# bin/runbroker.sh, a pre-touched heap (no page faults on first use during a run), and a GC log with
# wall-clock stamps so that pauses can be lined up with a run's measured window. JAVA_TOOL_OPTIONS
# is read by both JVMs the reference script starts (the NameServer's is idle during the runs).
JVM_OPTS="-XX:G1HeapRegionSize=16m -XX:G1ReservePercent=25 -XX:InitiatingHeapOccupancyPercent=30"
JVM_OPTS+=" -XX:SoftRefLRUPolicyMSPerMB=0 -XX:-OmitStackTraceInFastThrow -XX:+AlwaysPreTouch"

# Fetch the jars once, before any run (and without JAVA_TOOL_OPTIONS, which Maven would pick up).
[ -n "${TABLE_ONLY:-}" ] || "$REF_SCRIPT" fetch

BOLIDE_PID= BOLIDE_DIR= JAVA_DIR= BENCH_PID=
stop_bolide() {
    if [ -n "$BOLIDE_PID" ]; then
        kill "$BOLIDE_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$BOLIDE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$BOLIDE_PID" 2>/dev/null || true
        wait "$BOLIDE_PID" 2>/dev/null || true
        BOLIDE_PID=
    fi
    if [ -n "$BOLIDE_DIR" ]; then rm -rf "$BOLIDE_DIR"; BOLIDE_DIR=; fi
}
stop_java() { # [NAME]: with NAME, keep the GC log and the broker's stdout as OUT/NAME.{gc,broker}.log
    if [ -n "$JAVA_DIR" ]; then
        local bpid; bpid=$(cat "$JAVA_DIR/broker.pid" 2>/dev/null || true)
        "$REF_SCRIPT" stop "$JAVA_DIR" >/dev/null 2>&1 || true
        if [ -n "${1:-}" ]; then
            [ -n "$bpid" ] && [ -f "$JAVA_DIR/gc-$bpid.log" ] && cp "$JAVA_DIR/gc-$bpid.log" "$OUT/$1.gc.log"
            cp "$JAVA_DIR/broker.log" "$OUT/$1.broker.log" 2>/dev/null || true
            # Its own warnings (flow control, slow flushes, jstacks of busy moments), for the notes.
            grep -hE "^[0-9-]+ [0-9:,.]+ (WARN|ERROR) " "$JAVA_DIR"/home/logs/rocketmqlogs/*.log 2>/dev/null \
                | grep -v "No resource file" | head -300 >"$OUT/$1.warn.log" || true
        fi
        rm -rf "$JAVA_DIR"; JAVA_DIR=
    fi
}
cleanup() {
    if [ -n "$BENCH_PID" ]; then kill "$BENCH_PID" 2>/dev/null || true; wait "$BENCH_PID" 2>/dev/null || true; fi
    stop_bolide
    stop_java
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ports_free PORT...: a broker left over on our ports would answer in place of the one just started.
ports_free() {
    local p
    for p in "$@"; do
        if port_open "$p"; then echo "!! port $p is already in use: not starting a broker on it"; return 1; fi
    done
}

# wait_route NS_PORT TOPIC SECONDS: polls the NameServer (GET_ROUTEINFO_BY_TOPIC, a JSON-header
# remoting frame) until the topic has a route. The Java broker can log "boot success" before its
# registration reached the NameServer (it waits at most registerBrokerTimeoutMills, then goes on), and
# bolide-bench needs TBW102's route to create its topic.
wait_route() {
    python3 - "$@" <<'PY'
import json, socket, struct, sys, time
port, topic, deadline = int(sys.argv[1]), sys.argv[2], time.time() + float(sys.argv[3])
header = json.dumps({"code": 105, "language": "JAVA", "version": 401, "opaque": 1, "flag": 0,
                     "extFields": {"topic": topic}}).encode()
frame = struct.pack(">II", 4 + len(header), len(header)) + header
while True:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as c:
            c.sendall(frame)
            buf = b""
            while len(buf) < 8 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                chunk = c.recv(65536)
                if not chunk:
                    break
                buf += chunk
            hlen = struct.unpack(">I", buf[4:8])[0] & 0xFFFFFF
            if json.loads(buf[8:8 + hlen]).get("code") == 0:
                sys.exit(0)
    except (OSError, ValueError, struct.error):
        pass
    if time.time() > deadline:
        sys.exit(f"no route for {topic} on 127.0.0.1:{port}")
    time.sleep(0.2)
PY
}

# start_bolide NAME FLUSH(async|sync)
start_bolide() {
    ports_free "$B_NS" "$B_BROKER" $((B_BROKER - 2)) || return 1
    BOLIDE_DIR=$(mktemp -d "$DATA_ROOT/cmp-bolide-XXXX")
    "$BOLIDE" serve --data-dir "$BOLIDE_DIR" --namesrv-port "$B_NS" --broker-port "$B_BROKER" \
        --listen-ip 127.0.0.1 --broker-ip 127.0.0.1 --flush "$2" >"$OUT/$1.broker.log" 2>&1 &
    BOLIDE_PID=$!
    for _ in $(seq 1 300); do
        port_open "$B_NS" && port_open "$B_BROKER" && { wait_route "$B_NS" TBW102 30; return; }
        kill -0 "$BOLIDE_PID" 2>/dev/null || { echo "!! bolide exited:"; tail -20 "$OUT/$1.broker.log"; return 1; }
        sleep 0.1
    done
    echo "!! bolide did not open its ports"; return 1
}

# start_java NAME FLUSH(async|sync): RocketMQ's defaults except what makes it the same broker as
# Bolide's (flush mode, queue count, loopback address, 1 GiB commit-log files like Bolide's segments);
# the reference script's small-footprint overrides (thread pools, file sizes) are put back to the
# broker's own defaults so this measures the broker as shipped.
start_java() {
    local flush=ASYNC_FLUSH cpus; [ "$2" = sync ] && flush=SYNC_FLUSH
    cpus=$(nproc)
    ports_free "$J_NS" "$J_BROKER" $((J_BROKER - 2)) $((J_BROKER + 1)) || return 1
    JAVA_DIR=$(mktemp -d "$DATA_ROOT/cmp-java-XXXX")
    if ! JAVA_TOOL_OPTIONS="$JVM_OPTS -Xlog:gc:file=$JAVA_DIR/gc-%p.log:utctime" \
        "$REF_SCRIPT" start "$JAVA_DIR" "$J_NS" "$J_BROKER" \
        "flushDiskType=$flush" brokerIP1=127.0.0.1 brokerIP2=127.0.0.1 bindAddress=127.0.0.1 "defaultTopicQueueNums=$QUEUES" \
        "sendMessageThreadPoolNums=$((cpus < 4 ? cpus : 4))" "pullMessageThreadPoolNums=$((16 + 2 * cpus))" \
        mappedFileSizeCommitLog=1073741824 mappedFileSizeConsumeQueue=6000000 ${JAVA_EXTRA:-} \
        >"$OUT/$1.start.log" 2>&1; then
        echo "!! java broker did not start:"; tail -20 "$OUT/$1.start.log"; return 1
    fi
    wait_route "$J_NS" TBW102 60 || { echo "!! java broker never registered TBW102 with its NameServer"; return 1; }
}

# cpu_snapshot PID FILE: CPU ticks of every thread of PID, as JSON {tid: [name, utime + stime]}.
cpu_snapshot() {
    python3 - "$1" "$2" <<'PY'
import json, os, sys
pid, out = sys.argv[1], {}
for tid in os.listdir(f"/proc/{pid}/task"):
    try:
        stat = open(f"/proc/{pid}/task/{tid}/stat").read()
    except OSError:
        continue
    name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
    out[tid] = [name, int(rest[11]) + int(rest[12])]
json.dump({"clk_tck": os.sysconf("SC_CLK_TCK"), "threads": out}, open(sys.argv[2], "w"))
PY
}

# bench BROKER NAME NS_PORT PID [bolide-bench flags...]: a pre-warm on a throwaway topic, then the
# measured run writing OUT/NAME.json. Both in the background so that cleanup can stop them.
bench() {
    local broker=$1 name=$2 ns=$3 pid=$4; shift 4
    local topic="Cmp_${name%%.*}"; topic=${topic//-/_}
    if [ "$PREWARM" -gt 0 ]; then
        timeout $((PREWARM + 120)) "$BENCH" --namesrv "127.0.0.1:$ns" --topic "${topic}_warm" --queues "$QUEUES" \
            --duration "$PREWARM" --warmup 0 --interval 100 "$@" >"$OUT/$name.prewarm.log" 2>&1 &
        BENCH_PID=$!
        wait "$BENCH_PID" || echo "!! $name pre-warm failed (see $OUT/$name.prewarm.log)"
    fi
    if [ "$broker" = java ]; then
        # RocketMQ 5.5.0's TransactionMetricsFlushService spins on a core for its first flush interval
        # (10 s) after start (apache/rocketmq#10515, fixed after 5.5.0): measure after it.
        local age; age=$(python3 -c 'import os,sys; t=int(open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split()[19]); print(int(float(open("/proc/uptime").read().split()[0]) - t / os.sysconf("SC_CLK_TCK")))' "$pid" 2>/dev/null || echo 99)
        if [ "$age" -lt 12 ]; then sleep $((12 - age)); fi
    fi
    echo "== $name ($broker): bolide-bench $*"
    # The broker's CPU over the measured run (with its warm-up), per thread, for CPU per message.
    cpu_snapshot "$pid" "$OUT/$name.cpu0" || true
    timeout $((DURATION + WARMUP + 180)) "$BENCH" --namesrv "127.0.0.1:$ns" --topic "$topic" --queues "$QUEUES" \
        --duration "$DURATION" --warmup "$WARMUP" --json "$OUT/$name.json" --label "${name%%.*}" "$@" \
        >"$OUT/$name.log" 2>&1 &
    BENCH_PID=$!
    if wait "$BENCH_PID"; then
        cpu_snapshot "$pid" "$OUT/$name.cpu1" || true
        grep -E "^(send|consume): " "$OUT/$name.log" | sed 's/^/   /' || true
    else
        echo "!! $name failed:"; tail -5 "$OUT/$name.log"
    fi
    BENCH_PID=
}

peak_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["send"]["msgs_per_sec"])' "$1" 2>/dev/null || echo 0; }

# one BROKER SCENARIO ROUND
one() {
    local broker=$1 scenario=$2 round=$3 flush=async args
    local name="$scenario.$broker.$round"
    case $scenario in
    sync-async-flush) args=(--mode sync --clients "$CLIENTS" --size "$SIZE") ;;
    batch) args=(--mode batch --batch 64 --clients 32 --size "$SIZE") ;;
    sync-sync-flush) flush=sync; args=(--mode sync --clients "$CLIENTS" --size "$SIZE") ;;
    open-loop) args=(--mode sync --clients "$CLIENTS" --size "$SIZE" --rate "$RATE") ;;
    tail-consume) args=(--scenario e2e --mode batch --batch 64 --clients 16 --consumers 2 --pull-batch 256 --size "$SIZE") ;;
    esac
    if [ "$broker" = bolide ]; then
        start_bolide "$name" "$flush" && bench bolide "$name" "$B_NS" "$BOLIDE_PID" "${args[@]}" || true
        stop_bolide
    else
        start_java "$name" "$flush" && bench java "$name" "$J_NS" "$(cat "$JAVA_DIR/broker.pid")" "${args[@]}" || true
        stop_java "$name"
    fi
}

write_table() {
python3 - "$OUT" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY' | tee "$OUT/compare.md"
import json, re, statistics, sys
from datetime import datetime
from pathlib import Path

out, rev = Path(sys.argv[1]), sys.argv[2]
ORDER = ["sync-async-flush", "batch", "sync-sync-flush", "open-loop", "tail-consume"]
def cpu(name):
    """Broker CPU over a measured run: (total seconds, {thread name: seconds}), or None."""
    try:
        a, b = (json.loads((out / f"{name}.cpu{i}").read_text()) for i in (0, 1))
    except (OSError, ValueError):
        return None
    per = {}
    for tid, (tname, ticks) in b["threads"].items():
        t0 = a["threads"].get(tid, [tname, 0])[1]
        key = re.sub(r"[-_ ]?\d+$", "", tname) or tname  # pool threads by pool
        per[key] = per.get(key, 0) + (ticks - t0) / b["clk_tck"]
    return sum(per.values()), per


def cpu_us_per_msg(r, jit=True):
    c, stored = r.get("_cpu"), r.get("stored_messages")
    if not c or not stored:
        return None
    secs = c[0] if jit else c[0] - sum(v for k, v in c[1].items() if "CompilerThre" in k)
    return secs * 1e6 / stored


runs = {}  # (scenario, broker) -> [report]
for p in sorted(out.glob("*.json")):
    m = re.fullmatch(r"(.+)\.(bolide|java)\.(\d+)\.json", p.name)
    if not m:
        continue
    r = json.loads(p.read_text())
    r["_round"], r["_end"] = int(m.group(3)), p.stat().st_mtime
    r["_cpu"] = cpu(p.name[:-len(".json")])
    runs.setdefault((m.group(1), m.group(2)), []).append(r)


def gc_pauses(scenario, rnd, end, measured):
    """Java GC pauses (ms) inside the measured window of one run, from its -Xlog:gc file."""
    f = out / f"{scenario}.java.{rnd}.gc.log"
    if not f.exists():
        return None
    pauses = []
    for line in f.read_text().splitlines():
        m = re.match(r"\[([^\]]+)\].*Pause.* ([0-9.]+)ms$", line)
        if m:
            t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            if end - measured <= t <= end:
                pauses.append(float(m.group(2)))
    return pauses


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def pick(r, side, key):
    s = r.get(side) or {}
    if key == "msgs_per_sec":
        return s.get(key) if s else None
    lat = s.get("latency_us") or {}
    return lat.get(key) if lat.get("count") else None


def failures(r):
    send, cons = r.get("send") or {}, r.get("consume") or {}
    return send.get("send_failed", 0) + send.get("response_failed", 0) + cons.get("response_failed", 0)


def fmt(v, key):
    if v is None:
        return "-"
    if key == "msgs_per_sec":
        return f"{v:,.0f}"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def ratio(b, j, higher_better):
    if not b or not j:
        return "-"
    if b == j:
        return "even"
    bolide_wins = (b > j) == higher_better
    f = max(b, j) / min(b, j)
    return f"**{'Bolide' if bolide_wins else 'Java'}** {f:.2f}x"


METRICS = [("send", "msgs_per_sec", "send msgs/s", True)] + [
    ("send", k, f"send {n}", False) for k, n in (("p50", "p50"), ("p99", "p99"), ("p99_9", "p99.9"), ("max", "max"))]
E2E = [("consume", "msgs_per_sec", "consume msgs/s", True)] + [
    ("consume", k, f"e2e {n}", False) for k, n in (("p50", "p50"), ("p99", "p99"), ("p99_9", "p99.9"), ("max", "max"))]

nrounds = max([len(v) for v in runs.values()] or [0])
print(f"Bolide vs Apache RocketMQ Java broker, git `{rev}`, {nrounds} round(s); "
      + ("median of the rounds; " if nrounds > 1 else "")
      + "ratio = how many times better the winner is (higher msgs/s, lower latency).\n")
print("| scenario | metric | Bolide | Java | ratio |")
print("|---|---|---|---|---|")
notes = []
for sc in ORDER:
    b, j = runs.get((sc, "bolide"), []), runs.get((sc, "java"), [])
    if not b and not j:
        continue
    s = (b or j)[0].get("settings", {})
    how = f"{s.get('clients')}x {s.get('mode')}" + (f" of {s.get('batch')}" if s.get("mode") == "batch" else "")
    if s.get("rate"):
        how += f" at {s['rate']:,.0f}/s"
    label = f"{sc} ({how})"
    for side, key, name, hb in METRICS + (E2E if sc == "tail-consume" else []):
        vb, vj = med(pick(r, side, key) for r in b), med(pick(r, side, key) for r in j)
        print(f"| {label} | {name} | {fmt(vb, key)} | {fmt(vj, key)} | {ratio(vb, vj, hb)} |")
        label = ""
    cb, cj = med(cpu_us_per_msg(r) for r in b), med(cpu_us_per_msg(r) for r in j)
    print(f"|  | broker CPU per message | {'-' if cb is None else f'{cb:.1f} µs'} | "
          f"{'-' if cj is None else f'{cj:.1f} µs'} | {ratio(cb, cj, False)} |")
    cjn = med(cpu_us_per_msg(r, jit=False) for r in j)
    if cjn is not None and cb is not None:
        print(f"|  | same, Java without its JIT compiler threads | {cb:.1f} µs | {cjn:.1f} µs | "
              f"{ratio(cb, cjn, False)} |")
    fb, fj = med(failures(r) for r in b), med(failures(r) for r in j)
    print(f"|  | failed requests | {'-' if fb is None else f'{fb:,.0f}'} | {'-' if fj is None else f'{fj:,.0f}'} | |")
    for who, rs in (("Bolide", b), ("Java", j)):
        fails = sum(failures(r) for r in rs)
        if fails:
            codes = {}
            for r in rs:
                for side in ("send", "consume"):
                    for c, n in ((r.get(side) or {}).get("failure_codes") or {}).items():
                        codes[c] = codes.get(c, 0) + n
            notes.append(f"- {sc}: {who} had {fails} failed requests over {len(rs)} round(s), response codes {codes}"
                         + (" (2 = SYSTEM_BUSY: the Java broker's flow control)" if who == "Java" and "2" in codes else ""))
    for who, rs in (("Bolide", b), ("Java", j)):
        r = rs[0] if rs else None
        if r and r.get("_cpu") and r["_cpu"][0] > 0:
            total, per = r["_cpu"]
            top = sorted(per.items(), key=lambda kv: -kv[1])[:6]
            notes.append(f"- {sc}, round {r['_round']}: {who} broker CPU {total:.1f} s over the run; by thread: "
                         + ", ".join(f"{k} {v / total:.0%}" for k, v in top))
    for r in j:
        p = gc_pauses(sc, r["_round"], r["_end"], r.get("measured_s", 0))
        if p is not None:
            notes.append(f"- {sc}, round {r['_round']}: Java GC pauses in the measured window: {len(p)}"
                         + (f", longest {max(p):.1f} ms, total {sum(p):.1f} ms" if p else ""))

print("\nPer round (send msgs/s, send p99, e2e p99 for tail-consume):\n")
print("| scenario | round | Bolide | Java |")
print("|---|---|---|---|")
for sc in ORDER:
    for rnd in range(1, nrounds + 1):
        cells = []
        for who in ("bolide", "java"):
            r = next((x for x in runs.get((sc, who), []) if x["_round"] == rnd), None)
            if r is None:
                cells.append("-")
                continue
            c = f"{fmt(pick(r, 'send', 'msgs_per_sec'), 'msgs_per_sec')} / {fmt(pick(r, 'send', 'p99'), 'p99')}"
            if sc == "tail-consume":
                c += f" / {fmt(pick(r, 'consume', 'p99'), 'p99')}"
            cells.append(c)
        if cells != ["-", "-"]:
            print(f"| {sc} | {rnd} | {cells[0]} | {cells[1]} |")
if notes:
    print("\n" + "\n".join(notes))
any_r = next(iter(runs.values()), [{}])[0]
m = any_r.get("machine", {})
start = (out / "uptime.start").read_text().strip() if (out / "uptime.start").exists() else "?"
end = (out / "uptime.end").read_text().strip() if (out / "uptime.end").exists() else "?"
print(f"\nMachine: {m.get('cpu_model')}, {m.get('cpus')} CPUs; at start `{start}`; at end `{end}`.")
PY
echo "== table in $OUT/compare.md"
}
[ -n "${TABLE_ONLY:-}" ] && { write_table; exit 0; }

echo "== Bolide vs Java broker: ${SCENARIOS[*]}; $RUNS round(s) of ${DURATION}s (+${WARMUP}s warm-up, ${PREWARM}s pre-warm)"
echo "   load average $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"
uptime >"$OUT/uptime.start"
for round in $(seq 1 "$RUNS"); do
    order=(bolide java); [ $((round % 2)) -eq 0 ] && order=(java bolide)
    for scenario in "${SCENARIOS[@]}"; do
        if [ $(($(date +%s) - START_S)) -ge "$MAX_SECONDS" ]; then
            echo "!! MAX_SECONDS=$MAX_SECONDS reached: no more runs"; break 2
        fi
        if [ "$scenario" = open-loop ] && [ -z "$RATE" ]; then
            # The first round in which both brokers have a closed-loop figure.
            for r in $(seq 1 "$round"); do
                pb=$(peak_of "$OUT/sync-async-flush.bolide.$r.json"); pj=$(peak_of "$OUT/sync-async-flush.java.$r.json")
                RATE=$(python3 -c "print(int(min(float('$pb'), float('$pj')) / 2))")
                [ "$RATE" -gt 0 ] && break
            done
            if [ "$RATE" -le 0 ]; then
                echo "!! open-loop: no closed-loop peak of both brokers (run sync-async-flush first or set RATE)"
                RATE=; continue
            fi
            echo "== open-loop rate: $RATE msgs/s (half of min(Bolide $pb, Java $pj))"
        fi
        for broker in "${order[@]}"; do one "$broker" "$scenario" "$round"; done
    done
done
uptime >"$OUT/uptime.end"
write_table
