#!/usr/bin/env bash
# A/B two broker binaries on the same load, alternating runs, and print broker CPU µs per stored
# message for each run (perf stat task-clock over the run / growth of the topic's max offsets).
# CPU per message is far steadier than msgs/s on a shared machine; still compare medians of several runs.
#
# Usage: perf/ab.sh BIN_A BIN_B [RUNS] [-- bolide-bench flags...]
#   e.g. perf/ab.sh /tmp/bolide-old target/release/bolide 3 -- --mode sync --clients 128
# Env: SHARDS (broker --shards), EXTRA (more broker flags), DURATION (s, default 6)
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2; RUNS=${3:-3}; shift 2; [ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
BENCH_ARGS=("$@"); [ ${#BENCH_ARGS[@]} -eq 0 ] && BENCH_ARGS=(--mode sync --clients 128)
TARGET=${CARGO_TARGET_DIR:-target}
DURATION=${DURATION:-6}
command -v perf >/dev/null || { echo "ab.sh needs perf (apt-get install linux-perf)"; exit 2; }

one() { # bin label
    local data; data=$(mktemp -d "$PWD/data-ab-XXXX")
    "$1" serve --data-dir "$data" --namesrv-port 19899 --broker-port 20971 --listen-ip 127.0.0.1 \
        --segment-size 268435456 ${SHARDS:+--shards $SHARDS} ${EXTRA:-} >"$data.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/20971) 2>/dev/null && break; sleep 0.1; done
    perf stat -e task-clock,context-switches -p "$pid" -o "$data.stat" -- sleep $((DURATION + 3)) &
    local stat=$!
    "$TARGET/release/bolide-bench" --namesrv 127.0.0.1:19899 --duration "$DURATION" --warmup 1 \
        --interval 100 "${BENCH_ARGS[@]}" >"$data.bench" 2>&1
    wait $stat
    local n ms cs
    n=$(grep -o "max offset delta): [0-9]*" "$data.bench" | grep -o "[0-9]*$")
    ms=$(awk '/task-clock/ {gsub(",","",$1); print $1}' "$data.stat")
    cs=$(awk '/context-switches/ {gsub(",","",$1); print $1}' "$data.stat")
    python3 -c "print(f'$2: {$n} msgs, broker {$ms*1000/$n:.2f} µs CPU/msg, {$cs/$n:.3f} ctx switches/msg, ' + '''$(grep -o 'send: *[0-9]* msgs/s' "$data.bench")''')"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$data" "$data.log" "$data.stat" "$data.bench"
}
for i in $(seq 1 "$RUNS"); do one "$A" "A($i)"; one "$B" "B($i)"; done
