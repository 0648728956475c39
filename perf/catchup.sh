#!/usr/bin/env bash
# Producers on the tail while catch-up consumers read the backlog from cold disk (issue #9): fill a
# backlog nobody consumes, then measure sync sends alone, then the same sends while a fresh group
# pulls the backlog from the earliest offset. Compares send rate and send latency (p50/p99/max)
# between the two windows and records how fast the catch-up read.
# Output: perf/out/catchup-<stamp>/{summary.md,*.out,*.json,broker.log}.
#
# Usage: perf/catchup.sh
# Env:   FILL_S (backlog fill seconds, default 60)  MEASURE_S (each window, default 20)  SIZE (default 100)
#        SEND_CLIENTS (sync producers, default 16)  CONSUMERS (catch-up connections, default 2)
#        PULL_BATCH (default 32)  NO_BUILD=1  NS_PORT / BROKER_PORT (default 19876 / 20911)
#        DATA_ROOT (default ./data, must support O_DIRECT)  BROKER_ARGS (extra `bolide serve` flags)
# Every wait is bounded; only loopback addresses are used; the data directory is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FILL_S=${FILL_S:-60}
MEASURE_S=${MEASURE_S:-20}
SIZE=${SIZE:-100}
SEND_CLIENTS=${SEND_CLIENTS:-16}
CONSUMERS=${CONSUMERS:-2}
PULL_BATCH=${PULL_BATCH:-32}
NS_PORT=${NS_PORT:-19876}
BROKER_PORT=${BROKER_PORT:-20911}
DATA_ROOT=${DATA_ROOT:-$ROOT/data}
OUT=${OUT:-$ROOT/perf/out/catchup-$(date -u +%Y%m%d-%H%M%S)}
BROKER_ARGS=${BROKER_ARGS:-}
TOPIC=CatchupTopic

mkdir -p "$OUT" "$DATA_ROOT"
if [ -z "${NO_BUILD:-}" ]; then
    echo "== building (release)"
    cargo build --release --bin bolide --bin bolide-bench 2>&1 | tail -1
fi
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
DATA_DIR=$(mktemp -d "$DATA_ROOT/catchup-XXXXXX")
BROKER_PID=
cleanup() {
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 1 600); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$DATA_DIR"
}
trap cleanup EXIT

RUST_LOG=${RUST_LOG:-bolide=info} "$BIN/bolide" serve --data-dir "$DATA_DIR" --namesrv-port "$NS_PORT" \
    --broker-port "$BROKER_PORT" --flush async $BROKER_ARGS >"$OUT/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 30000); do
    grep -q "bolide ready" "$OUT/broker.log" && break
    kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited; see $OUT/broker.log" >&2; exit 1; }
    sleep 0.01
done

bench() { # $1: label, rest: bolide-bench flags
    local name=$1
    shift
    timeout 3600 "$BIN/bolide-bench" --namesrv "127.0.0.1:$NS_PORT" --topic "$TOPIC" --queues 8 --size "$SIZE" \
        --json "$OUT/$name.json" --label "$name" --interval 5 --warmup 0 "$@" >"$OUT/$name.out" 2>&1
}
send_line() { grep -h -E "send|Send" "$OUT/$1.out" | grep -E "p99|msgs/s" | tail -3; }

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), data in $DATA_DIR"
echo "== fill ${FILL_S} s (batch sends, nobody consumes)"
bench fill --scenario produce --mode batch --batch 64 --clients 8 --duration "$FILL_S"
echo "== sync sends alone, ${MEASURE_S} s"
bench send-alone --scenario produce --mode sync --clients "$SEND_CLIENTS" --duration "$MEASURE_S"
echo "== sync sends while ${CONSUMERS} catch-up connections read the backlog, ${MEASURE_S} s"
bench catchup-read --scenario consume --from earliest --consumers "$CONSUMERS" --pull-batch "$PULL_BATCH" \
    --duration $((MEASURE_S + 4)) --consumer-group "catchup_$(date +%s)" &
READ_PID=$!
sleep 2
bench send-with-catchup --scenario produce --mode sync --clients "$SEND_CLIENTS" --duration "$MEASURE_S"
wait "$READ_PID" || true

{
    echo "# Sends while catch-up consumers read, $(date -u +%Y-%m-%dT%H:%MZ), git $(git rev-parse --short HEAD)"
    echo
    echo "Machine: $(nproc) cores, load at end $(cut -d' ' -f1-3 /proc/loadavg). Backlog: ${FILL_S} s of 100 B batch sends ($(grep -o 'max offset delta): [0-9]*' "$OUT/fill.out" | grep -o '[0-9]*$') messages); ${SEND_CLIENTS} sync producers; ${CONSUMERS} catch-up connections, pull batch ${PULL_BATCH}."
    echo
    echo "Sends alone:"
    echo '```'
    send_line send-alone
    echo '```'
    echo "Sends while the backlog is read:"
    echo '```'
    send_line send-with-catchup
    echo '```'
    echo "Catch-up read:"
    echo '```'
    grep -h "Consume TPS" "$OUT/catchup-read.out" | tail -2
    echo '```'
} >"$OUT/summary.md"
cat "$OUT/summary.md"
