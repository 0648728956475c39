#!/usr/bin/env bash
# Backlog benchmark (issue #9): fill a broker with a large backlog of small messages that nobody
# consumes, and record
#   1. broker RSS against stored messages (after each fill step, and the peak, VmHWM),
#   2. start-up time (until the broker logs that it is ready) after a clean stop (SIGTERM) and after kill -9
#      in the middle of sends, with the broker's own recovery line (records rescanned, bytes read),
#   3. consume throughput from cold disk (a fresh group reading the backlog from the start).
# Output: perf/out/backlog-<stamp>/{rss.csv,summary.md,*.json,broker-*.log}.
#
# Usage: perf/backlog.sh
# Env:   TARGET_MESSAGES (default 10000000)  STEP_S (seconds per fill step, default 30)
#        MAX_STEPS (default 40: the fill stops at TARGET_MESSAGES or MAX_STEPS steps)
#        SIZE (body bytes, default 100)  CLIENTS (default 8)  BATCH (default 64)
#        CONSUME_S (cold-consume seconds, default 30)  PULL_BATCH (default 32, the Java client's)
#        NO_BUILD=1 (use the release binaries as they are)  NS_PORT / BROKER_PORT (default 19876 / 20911)  DATA_ROOT (default ./data: must support
#        O_DIRECT, and hold TARGET_MESSAGES x ~(SIZE + 150) bytes)  BROKER_ARGS (extra `bolide serve` flags)
#        CACHE_BYTES_MAX (the broker's cache_bytes_max, default 268435456: the summary states the bound)
#        MIN_FREE_GB (default 15: the fill stops before the next step when the free space of DATA_ROOT's
#        filesystem, less what one more step and the sends before the kill would write at the last step's
#        rate, would fall below it; the disk may be shared, so this is checked again before every step)
#        KILL_AFTER_S (default 12: seconds of sends before the kill -9)
#        HTTP_PORT (default: none; when set the broker serves /metrics there and each sample adds the store's
#        memory from it, summed over shards: cache, unwritten chunks, pending CQ + index entries, their cap,
#        appends that waited at the cap)
#        SAMPLE_S (default 5: RSS, stored bytes on disk and free disk sampled into rss-time.csv)
# Every wait is bounded; only loopback addresses are used; the data directory is deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TARGET_MESSAGES=${TARGET_MESSAGES:-10000000}
STEP_S=${STEP_S:-30}
MAX_STEPS=${MAX_STEPS:-40}
SIZE=${SIZE:-100}
CLIENTS=${CLIENTS:-8}
BATCH=${BATCH:-64}
CONSUME_S=${CONSUME_S:-30}
PULL_BATCH=${PULL_BATCH:-32}
NS_PORT=${NS_PORT:-19876}
BROKER_PORT=${BROKER_PORT:-20911}
DATA_ROOT=${DATA_ROOT:-$ROOT/data}
OUT=${OUT:-$ROOT/perf/out/backlog-$(date -u +%Y%m%d-%H%M%S)}
BROKER_ARGS=${BROKER_ARGS:-}
CACHE_BYTES_MAX=${CACHE_BYTES_MAX:-268435456}
MIN_FREE_GB=${MIN_FREE_GB:-15}
KILL_AFTER_S=${KILL_AFTER_S:-12}
SAMPLE_S=${SAMPLE_S:-5}
HTTP_PORT=${HTTP_PORT:-}
[ -z "$HTTP_PORT" ] || BROKER_ARGS="$BROKER_ARGS --http-port $HTTP_PORT"
TOPIC=BacklogTopic

mkdir -p "$OUT" "$DATA_ROOT"
if [ -z "${NO_BUILD:-}" ]; then
    echo "== building (release)"
    cargo build --release --bin bolide --bin bolide-bench 2>&1 | tail -1
fi
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
BOLIDE=$BIN/bolide
BENCH=$BIN/bolide-bench
DATA_DIR=$(mktemp -d "$DATA_ROOT/backlog-XXXXXX")

BROKER_PID=
stop_broker() { # $1: TERM or KILL
    [ -n "$BROKER_PID" ] || return 0
    kill "-$1" "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 1 600); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=
}
SAMPLER_PID=
cleanup() {
    [ -z "$SAMPLER_PID" ] || kill "$SAMPLER_PID" 2>/dev/null || true
    stop_broker TERM
    rm -rf "$DATA_DIR"
}
trap cleanup EXIT

# Starts the broker; sets STARTUP_S to the seconds until it logs "bolide ready" (every shard recovered
# its store and serves; the listening ports are bound before that, so an open port proves nothing).
# Bounded: 300 s.
start_broker() { # $1: log name
    local t0 t1 log=$OUT/broker-$1.log
    t0=$(date +%s.%N)
    RUST_LOG=${RUST_LOG:-bolide=info} "$BOLIDE" serve --data-dir "$DATA_DIR" --namesrv-port "$NS_PORT" \
        --broker-port "$BROKER_PORT" --flush async --set "cache_bytes_max=$CACHE_BYTES_MAX" $BROKER_ARGS >"$log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 30000); do
        grep -q "bolide ready" "$log" && break
        kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited; see $log" >&2; exit 1; }
        sleep 0.01
    done
    t1=$(date +%s.%N)
    STARTUP_S=$(echo "$t1 - $t0" | bc)
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$BROKER_PID/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$BROKER_PID/status"; }

bench() { # $1: label, rest: bolide-bench flags
    local name=$1
    shift
    timeout 3600 "$BENCH" --namesrv "127.0.0.1:$NS_PORT" --topic "$TOPIC" --queues 8 --size "$SIZE" \
        --json "$OUT/$name.json" --label "$name" --interval 10 "$@" >"$OUT/$name.out" 2>&1
}

free_kib() { df -Pk "$DATA_ROOT" | awk 'NR==2 {print $4}'; }
data_kib() { du -sk "$DATA_DIR" | cut -f1; }

# RSS over time, while the broker runs (any broker this script started: the pid is re-read each time).
sample_loop() {
    local t0 pid
    t0=$(date +%s)
    echo "elapsed_s,rss_mib,hwm_mib,data_mib,free_disk_gib,load1,cache_mib,chunks_mib,pending_entries,pending_max,pending_waits" >"$OUT/rss-time.csv"
    while :; do
        pid=$(pgrep -n -f "serve --data-dir $DATA_DIR" || true)
        if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
            echo "$(($(date +%s) - t0)),$(awk '/^VmRSS/ {print int($2/1024)}' "/proc/$pid/status"),$(awk '/^VmHWM/ {print int($2/1024)}' "/proc/$pid/status"),$(($(data_kib) / 1024)),$(($(free_kib) / 1048576)),$(cut -d' ' -f1 /proc/loadavg),$(store_memory)" >>"$OUT/rss-time.csv"
        fi
        sleep "$SAMPLE_S"
    done
}

# The store's memory from /metrics, summed over shards (empty fields without HTTP_PORT).
metric_sum() { awk -v n="$1" '$1 ~ "^"n"[{ ]" || $1 == n {s += $NF} END {printf "%d", s}' "$2"; }
store_memory() {
    local m=$OUT/.metrics
    if [ -z "$HTTP_PORT" ] || ! curl -sf -m 2 "http://127.0.0.1:$HTTP_PORT/metrics" -o "$m"; then
        echo ",,,,"
        return
    fi
    echo "$(($(metric_sum bolide_storage_cache_bytes "$m") / 1048576)),$(($(metric_sum bolide_storage_unwritten_chunk_bytes "$m") / 1048576)),$(($(metric_sum bolide_storage_pending_cq_entries "$m") + $(metric_sum bolide_storage_pending_index_entries "$m"))),$(metric_sum bolide_storage_pending_entries_max "$m"),$(metric_sum bolide_storage_pending_waits_total "$m")"
}

stored_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('stored_messages') or 0)" "$1"; }

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), data in $DATA_DIR"
echo "== free disk at start: $(($(free_kib) / 1048576)) GiB (stop when it would fall below ${MIN_FREE_GB} GiB)"
echo "step,elapsed_s,stored_messages,rss_mib,hwm_mib,data_mib,free_disk_gib,load1" >"$OUT/rss.csv"
start_broker first
echo "== first start: ${STARTUP_S}s"
sample_loop &
SAMPLER_PID=$!
stored=0
step_kib=0
FILL_STOP="reached TARGET_MESSAGES=$TARGET_MESSAGES"
t_fill=$(date +%s)
for step in $(seq 1 "$MAX_STEPS"); do
    # Room for one more step and for the sends before the kill (+2 s), at the last step's rate.
    if [ $(($(free_kib) - step_kib - step_kib * (KILL_AFTER_S + 2) / STEP_S)) -lt $((MIN_FREE_GB * 1048576)) ]; then
        FILL_STOP="stopped before step $step: free disk $(($(free_kib) / 1048576)) GiB, last step wrote $((step_kib / 1024)) MiB, MIN_FREE_GB=$MIN_FREE_GB"
        echo "== $FILL_STOP"
        break
    fi
    before_kib=$(data_kib)
    bench "fill-$step" --scenario produce --mode batch --batch "$BATCH" --clients "$CLIENTS" \
        --duration "$STEP_S" --warmup 0
    stored=$((stored + $(stored_of "$OUT/fill-$step.json")))
    step_kib=$(($(data_kib) - before_kib))
    [ "$step_kib" -ge 0 ] || step_kib=0
    line="$step,$(($(date +%s) - t_fill)),$stored,$(($(rss_kib) / 1024)),$(($(hwm_kib) / 1024)),$(($(data_kib) / 1024)),$(($(free_kib) / 1048576)),$(cut -d' ' -f1 /proc/loadavg)"
    echo "$line" | tee -a "$OUT/rss.csv"
    [ "$stored" -ge "$TARGET_MESSAGES" ] && break
    [ "$step" -eq "$MAX_STEPS" ] && FILL_STOP="stopped after MAX_STEPS=$MAX_STEPS"
done
FILL_S=$(($(date +%s) - t_fill))
DISK=$(du -sh "$DATA_DIR" | cut -f1)
FILL_HWM=$(($(hwm_kib) / 1024))

echo "== clean stop, restart"
stop_broker TERM
start_broker clean-restart
CLEAN_S=$STARTUP_S
CLEAN_RSS=$(($(rss_kib) / 1024))
echo "   started in ${CLEAN_S}s, RSS ${CLEAN_RSS} MiB"

echo "== kill -9 during sends, restart"
bench "before-kill" --scenario produce --mode batch --batch "$BATCH" --clients "$CLIENTS" --duration $((KILL_AFTER_S + 18)) --warmup 0 &
BENCH_PID=$!
sleep "$KILL_AFTER_S"
stop_broker KILL
wait "$BENCH_PID" 2>/dev/null || true
start_broker kill9-restart
KILL_S=$STARTUP_S
KILL_RSS=$(($(rss_kib) / 1024))
echo "   started in ${KILL_S}s, RSS ${KILL_RSS} MiB"
RECOVERED=$(grep -h "store recovered" "$OUT/broker-kill9-restart.log" | sed 's/\x1b\[[0-9;]*m//g' || true)

echo "== cold consume (a new group from the earliest offset, ${CONSUME_S}s, pull batch ${PULL_BATCH})"
bench "cold-consume" --scenario consume --from earliest --consumers 2 --pull-batch "$PULL_BATCH" \
    --duration "$CONSUME_S" --warmup 0 --consumer-group "cold_$(date +%s)" || true
CONSUME=$(grep -h "Consume TPS" "$OUT/cold-consume.out" | tail -1 || true)
AFTER_CONSUME_RSS=$(($(rss_kib) / 1024))

{
    echo "# Backlog run $(date -u +%Y-%m-%dT%H:%MZ), git $(git rev-parse --short HEAD)"
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load at end $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Settings: ${SIZE} B bodies, batch ${BATCH}, ${CLIENTS} clients, ${STEP_S} s steps; broker args: --flush async ${BROKER_ARGS}"
    echo
    echo "| step | elapsed s | stored messages | RSS MiB | peak RSS MiB | data MiB | free disk GiB | load |"
    echo "|---|---|---|---|---|---|---|---|"
    tail -n +2 "$OUT/rss.csv" | tr ',' '|' | sed 's/^/|/; s/$/|/'
    echo
    echo "- fill: $stored messages in ${FILL_S} s ($FILL_STOP); data directory: $DISK"
    echo "- RSS every ${SAMPLE_S} s over the whole run: rss-time.csv (max RSS $(tail -n +2 "$OUT/rss-time.csv" | cut -d, -f2 | sort -n | tail -1) MiB)"
    echo "- peak RSS (VmHWM) over the fill: ${FILL_HWM} MiB; issue #9's bound is 256 MiB + cache_bytes_max ($((CACHE_BYTES_MAX / 1048576)) MiB here) = $((256 + CACHE_BYTES_MAX / 1048576)) MiB"
    echo "- start-up until \"bolide ready\": after a clean stop ${CLEAN_S} s (RSS ${CLEAN_RSS} MiB), after kill -9 ${KILL_S} s (RSS ${KILL_RSS} MiB)"
    echo "- recovery after kill -9: \`${RECOVERED:-n/a}\`"
    echo "- cold consume, last progress line: \`${CONSUME:-n/a}\`; RSS after it ${AFTER_CONSUME_RSS} MiB"
} >"$OUT/summary.md"
cat "$OUT/summary.md"
