#!/usr/bin/env bash
# Timer messages (issue #10): delivery lateness at a fixed rate of timers, and broker memory with many
# timers pending. One fresh broker, three phases, driven by bolide-bench:
#   1. lateness: open loop, RATE timer messages/s (TIMER_DELIVER_MS = send + DELAY_MS), scenario e2e: each
#      body carries its due time, so the end-to-end latency bolide-bench reports is the lateness as a
#      long-polling consumer sees it (due time -> message in the consumer's hands). p50/p99/max.
#   2. pending: PENDING_S seconds of closed-loop async sends of timers due in FAR_MS (a day): they stay
#      pending. VmRSS of the broker before and after, and per pending timer.
#   3. lateness again, with those timers pending.
# Writes $OUT/summary.md (and each phase's JSON report and log).
#
# Usage: perf/timer.sh
# Env:   RATE (default 10000)  DELAY_MS (default 1000)  DURATION (s, default 20)  WARMUP (s, default 3)
#        PENDING_S (s of far-timer sends, default 60)  FAR_MS (default 86400000)  FLUSH (async|sync, default async)
#        NS_PORT / BROKER_PORT (default 19876 / 20911)  DATA_ROOT (default ./data: must support O_DIRECT)
#        OUT (default perf/out/timer-<stamp>)  SHARDS (default 2)  BROKER_ARGS (extra `bolide serve` flags)
# VmRSS includes the store's recent-data cache (cache_bytes_max, 256 MiB by default), which the pending
# phase's writes fill: pass e.g. BROKER_ARGS="--set cache_bytes_max=16777216" to see the rest.
# Only loopback addresses are used; the broker and its data directory are removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RATE=${RATE:-10000}
DELAY_MS=${DELAY_MS:-1000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
PENDING_S=${PENDING_S:-60}
FAR_MS=${FAR_MS:-86400000}
FLUSH=${FLUSH:-async}
SHARDS=${SHARDS:-2}
NS_PORT=${NS_PORT:-19876}
BROKER_PORT=${BROKER_PORT:-20911}
DATA_ROOT=${DATA_ROOT:-$ROOT/data}
OUT=${OUT:-$ROOT/perf/out/timer-$(date -u +%Y%m%d-%H%M%S)}

mkdir -p "$OUT" "$DATA_ROOT"
echo "== building (release)"
cargo build --release --bin bolide --bin bolide-bench 2>&1 | tail -1
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BOLIDE=$TARGET/release/bolide
BENCH=$TARGET/release/bolide-bench

DATA_DIR=$(mktemp -d "$DATA_ROOT/bench-timer-XXXX")
# shellcheck disable=SC2086 # BROKER_ARGS is a list of flags
"$BOLIDE" serve --data-dir "$DATA_DIR" --namesrv-port "$NS_PORT" --broker-port "$BROKER_PORT" \
    --listen-ip 127.0.0.1 --broker-ip 127.0.0.1 --shards "$SHARDS" --flush "$FLUSH" ${BROKER_ARGS:-} >"$OUT/broker.log" 2>&1 &
BROKER_PID=$!
stop_broker() {
    kill "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    rm -rf "$DATA_DIR"
}
trap stop_broker EXIT
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$NS_PORT") 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/"$BROKER_PORT") 2>/dev/null && break
    kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited:"; tail -20 "$OUT/broker.log"; exit 1; }
    sleep 0.1
done

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$BROKER_PID/status"; }

# bench NAME [bolide-bench flags...]
bench() {
    local name=$1; shift
    echo "== $name: bolide-bench $*"
    timeout $((DURATION + WARMUP + PENDING_S + 600)) "$BENCH" --namesrv "127.0.0.1:$NS_PORT" \
        --json "$OUT/$name.json" --label "$name" "$@" 2>&1 | tee "$OUT/$name.log" \
        || echo "!! $name failed (see $OUT/$name.log)"
}

lateness() { # NAME: e2e open loop of timers; consumers start at the latest offset
    bench "$1" --topic TimerLateness --scenario e2e --mode sync --clients 64 --rate "$RATE" \
        --timer-delay-ms "$DELAY_MS" --size 128 --consumers 2 --pull-batch 256 --duration "$DURATION" --warmup "$WARMUP"
}

lateness lateness-idle
rss_before=$(rss_kib)
bench pending --topic TimerPending --scenario produce --mode async --clients 16 --inflight 16 \
    --timer-delay-ms "$FAR_MS" --size 128 --duration "$PENDING_S" --warmup 0
sleep 2
rss_after=$(rss_kib)
lateness lateness-pending

python3 - "$OUT" "$rss_before" "$rss_after" "$RATE" "$DELAY_MS" <<'PYEOF'
import json, sys
out, before, after, rate, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def load(n):
    try:
        return json.load(open(f"{out}/{n}.json"))
    except Exception:
        return None
pending = load("pending")
n = pending["send"]["messages"] if pending and pending.get("send") else 0
lines = [f"# Timer messages: lateness at {rate}/s (due {delay} ms after the send), memory with pending timers", "",
         "| phase | timers received | lateness p50 ms | p99 ms | p99.9 ms | max ms |", "|---|---|---|---|---|---|"]
for name in ("lateness-idle", "lateness-pending"):
    r = load(name)
    c = (r or {}).get("consume") or {}
    l = c.get("latency_us") or {}
    ms = lambda k: "%.2f" % (l.get(k, 0) / 1000.0)
    lines.append(f"| {name} | {c.get('messages', 0)} | {ms('p50')} | {ms('p99')} | {ms('p99_9')} | {ms('max')} |")
lines += ["", f"Pending timers sent (due in a day): {n}; broker VmRSS {before/1024:.0f} MiB before, {after/1024:.0f} MiB after"
          + (f", {(after - before) * 1024 / n:.0f} B per pending timer" if n else "") + "."]
open(f"{out}/summary.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
echo "== results in $OUT"
