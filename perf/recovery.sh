#!/usr/bin/env bash
# Recovery after kill -9 at several backlog sizes (issue #9): fill a broker nobody consumes in steps;
# after each step, kill it with -9 in the middle of sends and time the restart until it logs
# "bolide ready" (every shard recovered and serving), with its recovery lines (records rescanned,
# log bytes read). The work must follow what was written since the last checkpoint, not the backlog.
# Output: perf/out/recovery-<stamp>/{recovery.csv,summary.md,broker-*.log,*.out}.
#
# Usage: perf/recovery.sh
# Env:   STEPS (default 4)  STEP_S (fill seconds per step, default 40)  SIZE (body bytes, default 100)
#        CLIENTS (default 8)  BATCH (default 64)  KILL_AFTER_S (sends before the kill, default 6)
#        NO_BUILD=1  NS_PORT / BROKER_PORT (default 19876 / 20911)  DATA_ROOT (default ./data, must
#        support O_DIRECT)  BROKER_ARGS (extra `bolide serve` flags)
# Every wait is bounded; only loopback addresses are used; the data directory is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STEPS=${STEPS:-4}
STEP_S=${STEP_S:-40}
SIZE=${SIZE:-100}
CLIENTS=${CLIENTS:-8}
BATCH=${BATCH:-64}
KILL_AFTER_S=${KILL_AFTER_S:-6}
NS_PORT=${NS_PORT:-19876}
BROKER_PORT=${BROKER_PORT:-20911}
DATA_ROOT=${DATA_ROOT:-$ROOT/data}
OUT=${OUT:-$ROOT/perf/out/recovery-$(date -u +%Y%m%d-%H%M%S)}
BROKER_ARGS=${BROKER_ARGS:-}
TOPIC=RecoveryTopic

mkdir -p "$OUT" "$DATA_ROOT"
if [ -z "${NO_BUILD:-}" ]; then
    echo "== building (release)"
    cargo build --release --bin bolide --bin bolide-bench 2>&1 | tail -1
fi
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
DATA_DIR=$(mktemp -d "$DATA_ROOT/recovery-XXXXXX")

BROKER_PID=
stop_broker() { # $1: TERM or KILL
    [ -n "$BROKER_PID" ] || return 0
    kill "-$1" "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 600); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
}
cleanup() { stop_broker TERM; rm -rf "$DATA_DIR"; }
trap cleanup EXIT

# Starts the broker; STARTUP_S = seconds until it logs "bolide ready". Bounded: 300 s.
start_broker() { # $1: log name
    local t0 log=$OUT/broker-$1.log
    t0=$(date +%s.%N)
    RUST_LOG=${RUST_LOG:-bolide=info} "$BIN/bolide" serve --data-dir "$DATA_DIR" --namesrv-port "$NS_PORT" \
        --broker-port "$BROKER_PORT" --flush async $BROKER_ARGS >"$log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 30000); do
        grep -q "bolide ready" "$log" && break
        kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited; see $log" >&2; exit 1; }
        sleep 0.01
    done
    STARTUP_S=$(echo "$(date +%s.%N) - $t0" | bc)
}

bench() { # $1: label, rest: bolide-bench flags
    local name=$1
    shift
    timeout 3600 "$BIN/bolide-bench" --namesrv "127.0.0.1:$NS_PORT" --topic "$TOPIC" --queues 8 --size "$SIZE" \
        --json "$OUT/$name.json" --label "$name" --interval 10 --scenario produce --mode batch \
        --batch "$BATCH" --clients "$CLIENTS" --warmup 0 "$@" >"$OUT/$name.out" 2>&1
}
stored_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('stored_messages') or 0)" "$1"; }
# Sums a field of the "store recovered" lines of a log.
recovered_sum() { # $1: log, $2: field
    sed 's/\x1b\[[0-9;]*m//g' "$1" | grep "store recovered" | grep -o "$2=[0-9]*" | cut -d= -f2 |
        awk '{s += $1} END {print s + 0}'
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), data in $DATA_DIR"
echo "step,stored_messages_before_kill,data_bytes,startup_s,records_rescanned,log_bytes_read,dispatch_bytes_read" >"$OUT/recovery.csv"
start_broker first
stored=0
for step in $(seq 1 "$STEPS"); do
    bench "fill-$step" --duration "$STEP_S"
    stored=$((stored + $(stored_of "$OUT/fill-$step.json")))
    bench "kill-$step" --duration $((KILL_AFTER_S + 30)) &
    bench_pid=$!
    sleep "$KILL_AFTER_S"
    stop_broker KILL
    wait "$bench_pid" 2>/dev/null || true
    # What the killed sends stored is not known exactly; the fill figure is a lower bound.
    data=$(du -sb "$DATA_DIR" | cut -f1)
    start_broker "restart-$step"
    log=$OUT/broker-restart-$step.log
    line="$step,$stored,$data,$STARTUP_S,$(recovered_sum "$log" records_scanned),$(recovered_sum "$log" log_bytes_read),$(recovered_sum "$log" dispatch_bytes_read)"
    echo "$line" | tee -a "$OUT/recovery.csv"
done

{
    echo "# Recovery after kill -9 by backlog size, $(date -u +%Y-%m-%dT%H:%MZ), git $(git rev-parse --short HEAD)"
    echo
    echo "Machine: $(nproc) cores, load at end $(cut -d' ' -f1-3 /proc/loadavg). ${SIZE} B bodies, batch ${BATCH}, ${CLIENTS} clients; kill -9 ${KILL_AFTER_S} s into sends after each ${STEP_S} s fill."
    echo
    echo "| step | stored before the kill (at least) | data bytes | start-up s | records rescanned | log bytes read | derived bytes read |"
    echo "|---|---|---|---|---|---|---|"
    tail -n +2 "$OUT/recovery.csv" | tr ',' '|' | sed 's/^/|/; s/$/|/'
} >"$OUT/summary.md"
cat "$OUT/summary.md"
