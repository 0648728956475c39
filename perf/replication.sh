#!/usr/bin/env bash
# Replication cost (issue #13): the same bolide-bench load against a single broker, an ASYNC_MASTER
# with a slave and a SYNC_MASTER with a slave, side by side in one run on this machine (loopback,
# separate data directories), and one table: msgs/s, send latency p50/p99/p99.9/max, broker CPU per
# stored message (master and slave separately, from /proc/<pid>/stat over the bench run), and the
# ratio against the single broker. After each replicated run it checks that the slave holds what the
# master stored: every queue's max offset on the slave equals the master's (waits up to SYNC_WAIT s).
#
# Usage: perf/replication.sh [setup ...]   (default: single async sync)
# Env: RUNS (rounds, default 1; odd rounds single->async->sync, even rounds the reverse; the table
#      shows medians)  DURATION (measured s, default 20)  WARMUP (s, default 3)  CLIENTS (default 64)
#      SIZE (default 1024)  MODE (bolide-bench --mode, default sync)  QUEUES (default 8)
#      SHARDS (broker --shards, the same on master and slave, default nproc)  BROKER_ARGS (extra
#      `bolide serve` flags for every broker)  PORT_BASE (default 24900: master NameServer +1, broker
#      +11, HA +21 (+ shard); slave NameServer +2, broker +31)  DATA_ROOT (default ./data; a real
#      filesystem, not tmpfs)  OUT  SYNC_WAIT (s, default 30)
#      BOLIDE / BENCH (default ${CARGO_TARGET_DIR:-target}/release/{bolide,bolide-bench}; not built here)
# Everything started here is stopped on exit and the data directories are deleted; every bench run is
# bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TARGET=${CARGO_TARGET_DIR:-target}
BOLIDE=${BOLIDE:-$TARGET/release/bolide}
BENCH=${BENCH:-$TARGET/release/bolide-bench}
RUNS=${RUNS:-1}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
CLIENTS=${CLIENTS:-64}
SIZE=${SIZE:-1024}
MODE=${MODE:-sync}
QUEUES=${QUEUES:-8}
SHARDS=${SHARDS:-$(nproc)}
BROKER_ARGS=${BROKER_ARGS:-}
PORT_BASE=${PORT_BASE:-24900}
DATA_ROOT=${DATA_ROOT:-$ROOT/data}
OUT=${OUT:-$ROOT/perf/out/repl-$(date -u +%Y%m%d-%H%M%S)}
SYNC_WAIT=${SYNC_WAIT:-30}

M_NS=$((PORT_BASE + 1)) M_BROKER=$((PORT_BASE + 11)) M_HA=$((PORT_BASE + 21))
S_NS=$((PORT_BASE + 2)) S_BROKER=$((PORT_BASE + 31))
TOPIC=ReplBench
SETUPS=("$@")
[ ${#SETUPS[@]} -eq 0 ] && SETUPS=(single async sync)
for s in "${SETUPS[@]}"; do
    case $s in single | async | sync) ;; *) echo "unknown setup $s (single, async, sync)" >&2; exit 2 ;; esac
done
for f in "$BOLIDE" "$BENCH"; do
    [ -x "$f" ] || { echo "not executable: $f (cargo build --release, or set BOLIDE/BENCH)" >&2; exit 2; }
done
mkdir -p "$OUT" "$DATA_ROOT"

MASTER_PID= SLAVE_PID= RUN_DIR=
stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
stop_all() {
    stop_pid "$SLAVE_PID"; SLAVE_PID=
    stop_pid "$MASTER_PID"; MASTER_PID=
    if [ -n "$RUN_DIR" ]; then rm -rf "$RUN_DIR"; RUN_DIR=; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_ports() { # PID LOG PORT...
    local pid=$1 log=$2; shift 2
    for _ in $(seq 1 150); do
        local all=1 p
        for p in "$@"; do port_open "$p" || all=; done
        [ -n "$all" ] && return 0
        kill -0 "$pid" 2>/dev/null || { echo "!! broker exited:"; tail -20 "$log"; return 1; }
        sleep 0.1
    done
    echo "!! broker did not open ports $*"; return 1
}

# cpu_ticks PID: utime + stime of the whole process (fields 14 and 15 of /proc/PID/stat), in ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# max_offsets PORT: every queue's max offset of TOPIC on the broker at 127.0.0.1:PORT (GET_MAX_OFFSET,
# code 30, a JSON-header remoting frame per queue), space-separated; exits non-zero on any failure.
max_offsets() {
    python3 - "$1" "$TOPIC" "$QUEUES" <<'PY'
import json, socket, struct, sys
port, topic, queues = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
out = []
with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
    for q in range(queues):
        header = json.dumps({"code": 30, "language": "JAVA", "version": 401, "opaque": q + 1, "flag": 0,
                             "extFields": {"topic": topic, "queueId": str(q)}}).encode()
        c.sendall(struct.pack(">II", 4 + len(header), len(header)) + header)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = c.recv(65536)
            if not chunk:
                sys.exit("connection closed")
            buf += chunk
        hlen = struct.unpack(">I", buf[4:8])[0] & 0xFFFFFF
        h = json.loads(buf[8:8 + hlen])
        if h.get("code") != 0:
            sys.exit(f"queue {q}: code {h.get('code')} {h.get('remark')}")
        out.append(h["extFields"]["offset"])
print(" ".join(out))
PY
}

# one SETUP ROUND: fresh processes and data directories, the bench run, CPU and the slave check into
# OUT/SETUP-ROUND.{json,log,cpu,sync}.
one() {
    local setup=$1 round=$2 name="$1-$2"
    RUN_DIR=$(mktemp -d "$DATA_ROOT/repl-$name-XXXX")
    local common=(--shards "$SHARDS" --listen-ip 127.0.0.1 --set brokerName=repl-bench --set brokerIP1=127.0.0.1)
    local role=()
    case $setup in
        async) role=(--set brokerRole=ASYNC_MASTER --set "haListenPort=$M_HA") ;;
        sync) role=(--set brokerRole=SYNC_MASTER --set "haListenPort=$M_HA") ;;
    esac
    local p
    for p in "$M_NS" "$M_BROKER" "$S_NS" "$S_BROKER"; do
        port_open "$p" && { echo "!! port $p is already in use"; return 1; }
    done
    # shellcheck disable=SC2086
    "$BOLIDE" serve --data-dir "$RUN_DIR/master" --namesrv-port "$M_NS" --broker-port "$M_BROKER" \
        "${common[@]}" "${role[@]}" $BROKER_ARGS >"$OUT/$name.master.log" 2>&1 &
    MASTER_PID=$!
    wait_ports "$MASTER_PID" "$OUT/$name.master.log" "$M_NS" "$M_BROKER" || return 1
    if [ "$setup" != single ]; then
        # shellcheck disable=SC2086
        "$BOLIDE" serve --data-dir "$RUN_DIR/slave" --namesrv-port "$S_NS" --broker-port "$S_BROKER" \
            --namesrv-addr "127.0.0.1:$M_NS" "${common[@]}" --set brokerRole=SLAVE --set brokerId=1 \
            --set "haMasterAddress=127.0.0.1:$M_HA" $BROKER_ARGS >"$OUT/$name.slave.log" 2>&1 &
        SLAVE_PID=$!
        wait_ports "$SLAVE_PID" "$OUT/$name.slave.log" "$S_NS" "$S_BROKER" || return 1
        # Every master shard has its link before the load starts (a SYNC_MASTER without one answers
        # SLAVE_NOT_AVAILABLE).
        local linked=0
        for _ in $(seq 1 300); do
            linked=$(grep -c "slave connected" "$OUT/$name.master.log" || true)
            [ "$linked" -ge "$SHARDS" ] && break
            sleep 0.1
        done
        [ "$linked" -ge "$SHARDS" ] || { echo "!! only $linked of $SHARDS shard links up"; return 1; }
    fi
    local m0 s0=0 m1 s1=0
    m0=$(cpu_ticks "$MASTER_PID"); [ -n "$SLAVE_PID" ] && s0=$(cpu_ticks "$SLAVE_PID")
    echo "== $name: bolide-bench --mode $MODE --clients $CLIENTS --size $SIZE --queues $QUEUES (load $(cut -d' ' -f1-3 /proc/loadavg))"
    timeout $((DURATION + WARMUP + 300)) "$BENCH" --namesrv "127.0.0.1:$M_NS" --topic "$TOPIC" --queues "$QUEUES" \
        --mode "$MODE" --clients "$CLIENTS" --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" \
        --interval 1 --json "$OUT/$name.json" --label "$name" >"$OUT/$name.log" 2>&1 \
        || echo "!! $name: bolide-bench failed (see $OUT/$name.log)"
    m1=$(cpu_ticks "$MASTER_PID"); [ -n "$SLAVE_PID" ] && s1=$(cpu_ticks "$SLAVE_PID")
    echo "$(getconf CLK_TCK) $((m1 - m0)) $((s1 - s0)) $(cut -d' ' -f1 /proc/loadavg)" >"$OUT/$name.cpu"
    grep -E "^send:|p99.9|failures|max offset delta" "$OUT/$name.log" | sed 's/^/   /' || true
    if [ -n "$SLAVE_PID" ]; then
        local mo so="" t0=$SECONDS
        mo=$(max_offsets "$M_BROKER") || mo="error"
        while [ $((SECONDS - t0)) -le "$SYNC_WAIT" ]; do
            so=$(max_offsets "$S_BROKER" 2>&1) || so="error: $so"
            [ "$so" = "$mo" ] && break
            sleep 0.5
        done
        if [ "$so" = "$mo" ]; then
            echo "yes $((SECONDS - t0)) $mo" >"$OUT/$name.sync"
            echo "   slave in sync: every queue's max offset equals the master's ($mo) after $((SECONDS - t0)) s"
        else
            echo "NO $SYNC_WAIT $mo / $so" >"$OUT/$name.sync"
            echo "!! slave NOT in sync after $SYNC_WAIT s: master $mo, slave $so"
        fi
    fi
    stop_all
}

for round in $(seq 1 "$RUNS"); do
    order=("${SETUPS[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        order=(); for ((i = ${#SETUPS[@]} - 1; i >= 0; i--)); do order+=("${SETUPS[$i]}"); done
    fi
    for s in "${order[@]}"; do one "$s" "$round" || { echo "!! $s-$round failed"; stop_all; }; done
done

python3 - "$OUT" "$RUNS" "$MODE" "$CLIENTS" "$SIZE" "$DURATION" "${SETUPS[@]}" <<'PY' | tee "$OUT/replication.md"
import json, pathlib, statistics, sys
out, runs, mode, clients, size, duration = pathlib.Path(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:7]
setups = sys.argv[7:]
label = {"single": "single broker", "async": "ASYNC_MASTER + slave", "sync": "SYNC_MASTER + slave"}
rows = {}
for s in setups:
    rs = []
    for r in range(1, runs + 1):
        try:
            j = json.loads((out / f"{s}-{r}.json").read_text())
        except (OSError, ValueError):
            continue
        tck, m, sl, load = (out / f"{s}-{r}.cpu").read_text().split()
        stored = j.get("stored_messages") or 0
        sync = (out / f"{s}-{r}.sync").read_text().split()[0] if (out / f"{s}-{r}.sync").exists() else "-"
        lat = j["send"]["latency_us"]
        rs.append({
            "rate": j["send"]["msgs_per_sec"], "p50": lat["p50"] / 1e3, "p99": lat["p99"] / 1e3,
            "p999": lat["p99_9"] / 1e3, "max": lat["max"] / 1e3,
            "fail": j["send"]["send_failed"] + j["send"]["response_failed"],
            "mcpu": int(m) / int(tck) * 1e6 / stored if stored else None,
            "scpu": (int(sl) / int(tck) * 1e6 / stored if stored else None) if s != "single" else None,
            "sync": sync, "load": float(load),
        })
    if rs:
        rows[s] = rs

def med(rs, k):
    v = [r[k] for r in rs if r[k] is not None]
    return statistics.median(v) if v else None

def f(v, fmt):
    return "-" if v is None else format(v, fmt)

base = rows.get("single")
print(f"Replication cost: `--mode {mode} --clients {clients}`, {size} B bodies, {duration} s measured, "
      f"{runs} round(s){' (medians)' if runs > 1 else ''}; broker CPU = µs of process CPU (user + system, "
      "/proc/<pid>/stat) over the bench run per message stored (warm-up included in both).\n")
print("| setup | msgs/s | vs single | p50 ms | p99 ms | p99.9 ms | max ms | failed | master µs CPU/msg | slave µs CPU/msg | slave in sync | load avg |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for s, rs in rows.items():
    rate = med(rs, "rate")
    ratio = f"{rate / med(base, 'rate'):.2f}x" if base and rate else "-"
    p50, p99 = med(rs, "p50"), med(rs, "p99")
    if base and s != "single":
        p50s = f"{p50:.2f} (+{p50 - med(base, 'p50'):.2f})"
        p99s = f"{p99:.2f} (+{p99 - med(base, 'p99'):.2f})"
    else:
        p50s, p99s = f"{p50:.2f}", f"{p99:.2f}"
    sync = "-" if s == "single" else ("yes" if all(r["sync"] == "yes" for r in rs) else "NO")
    print(f"| {label[s]} | {rate:,.0f} | {ratio} | {p50s} | {p99s} | {med(rs, 'p999'):.2f} | {med(rs, 'max'):.2f} | "
          f"{sum(r['fail'] for r in rs)} | {f(med(rs, 'mcpu'), '.2f')} | {f(med(rs, 'scpu'), '.2f')} | {sync} | "
          + ', '.join(format(r['load'], '.1f') for r in rs) + " |")
if base:
    print("\n(+x): added latency against the single broker, ms.")
print("slave in sync: after the run every queue's max offset on the slave equals the master's.")
PY
echo "(table: $OUT/replication.md)"
