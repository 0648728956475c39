#!/usr/bin/env bash
# The standard benchmark suite: starts a fresh broker per run, drives it with bolide-bench, writes
# JSON reports, a Markdown table (results.md) and a latency plot (latency.png) under perf/out/<stamp>/.
#
# Usage: perf/run.sh [run-name ...]      (default: every run, in the order below)
# Runs:  sync-async-flush  batch  sync-sync-flush  open-loop-half-peak  open-loop-half-peak-std
#        open-loop-half-peak-std-local  open-loop-half-peak-sync-flush  open-loop-half-peak-tail
#        open-loop-half-peak-tail-std
#        tail-consume  catch-up  sync-100b
# Env:   DURATION (s, default 20)  WARMUP (s, default 3)  CLIENTS (default 128)  SIZE (default 1024)
#        NS_PORT / BROKER_PORT (default 19876 / 20911)  DATA_ROOT (default ./data: must support O_DIRECT)
#        OUT (output directory)  BROKER_ARGS (extra `bolide serve` flags)  PEAK (msgs/s for the open-loop
#        run when sync-async-flush is not part of this invocation)  PEAK_SYNC (the same for SYNC_FLUSH)
#        TRACE=1 (root and perf: record sched_switch and io_uring file operations during each run and
#        attribute every interval over 5 ms to what else ran then or to a slow disk operation,
#        perf/stalls.py -> OUT/<run>.stalls.txt; KEEP_TRACE=1 keeps the trace as OUT/<run>.sched)
#        STD_DRIVER_SCHED (batch, the default, or normal: the scheduling policy of bolide-bench-std)
#        BROKER_CPUS / DRIVER_CPUS (taskset CPU lists: the broker, one shard per CPU it may use, and the
#        load generators on CPUs of their own, so that the broker's tail is seen without the CPU
#        sharing; peaks and half peaks are then those of the split)
# Every request loop is bounded in time; only loopback addresses are used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
CLIENTS=${CLIENTS:-128}
SIZE=${SIZE:-1024}
NS_PORT=${NS_PORT:-19876}
BROKER_PORT=${BROKER_PORT:-20911}
DATA_ROOT=${DATA_ROOT:-$ROOT/data}
OUT=${OUT:-$ROOT/perf/out/$(date -u +%Y%m%d-%H%M%S)}
BROKER_ARGS=${BROKER_ARGS:-}
RUNS=("$@")
[ ${#RUNS[@]} -eq 0 ] && RUNS=(sync-async-flush batch sync-sync-flush open-loop-half-peak open-loop-half-peak-std open-loop-half-peak-std-local open-loop-half-peak-sync-flush open-loop-half-peak-tail open-loop-half-peak-tail-std tail-consume catch-up sync-100b)

mkdir -p "$OUT" "$DATA_ROOT"
echo "== building (release)"
cargo build --release --bin bolide --bin bolide-bench --bin bolide-bench-std 2>&1 | tail -1
BOLIDE=$ROOT/target/release/bolide
BENCH=$ROOT/target/release/bolide-bench
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    BOLIDE=$CARGO_TARGET_DIR/release/bolide
    BENCH=$CARGO_TARGET_DIR/release/bolide-bench
fi
BENCH_STD=${BENCH}-std

# The load generators share the broker's CPUs. Under the default policy, a bolide-bench-std thread
# that a response wakes preempts the shard that sent it, in the middle of the shard's turn (8 % of
# the broker's samples at 50k msgs/s were the switch back); a client on another machine never does
# that. SCHED_BATCH keeps the driver's share of the CPU but not that wake-up preemption. Latency
# still counts from the intended send time, so whatever the policy delays the driver by counts
# against the broker. The glommio driver stays under the default policy: its one thread does every
# send and receipt and, under SCHED_BATCH, fell behind with consumers. perf/README.md, "The
# plain-threads driver under SCHED_BATCH", has the comparison.
# With BROKER_CPUS / DRIVER_CPUS, each side runs only on its own CPUs (taskset; the broker starts one
# shard per CPU it may use).
BROKER_PIN=()
DRIVER_PIN=()
if [ -n "${BROKER_CPUS:-}" ]; then BROKER_PIN=(taskset -c "$BROKER_CPUS"); fi
if [ -n "${DRIVER_CPUS:-}" ]; then DRIVER_PIN=(taskset -c "$DRIVER_CPUS"); fi

STD_DRIVER=()
case ${STD_DRIVER_SCHED:-batch} in
batch) if command -v chrt >/dev/null; then STD_DRIVER=(chrt --batch 0); else echo "(no chrt: bolide-bench-std runs under the default policy)"; fi ;;
normal) ;;
*) echo "STD_DRIVER_SCHED must be batch or normal"; exit 2 ;;
esac

BROKER_PID=
DATA_DIR=
stop_broker() {
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
        BROKER_PID=
    fi
    if [ -n "$DATA_DIR" ]; then rm -rf "$DATA_DIR"; DATA_DIR=; fi
}
trap stop_broker EXIT

# start_broker NAME FLUSH: a fresh data directory, wait until both ports accept connections.
start_broker() {
    stop_broker
    DATA_DIR=$(mktemp -d "$DATA_ROOT/bench-$1-XXXX")
    # shellcheck disable=SC2086
    "${BROKER_PIN[@]}" "$BOLIDE" serve --data-dir "$DATA_DIR" --namesrv-port "$NS_PORT" --broker-port "$BROKER_PORT" \
        --flush "$2" $BROKER_ARGS >"$OUT/$1.broker.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 100); do
        if (exec 3<>/dev/tcp/127.0.0.1/"$NS_PORT") 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/"$BROKER_PORT") 2>/dev/null; then
            return 0
        fi
        kill -0 "$BROKER_PID" 2>/dev/null || { echo "broker exited:"; tail -20 "$OUT/$1.broker.log"; return 1; }
        sleep 0.1
    done
    echo "broker did not open its ports"; return 1
}

# trace_start NAME / trace_stop NAME: with TRACE=1, a sched_switch trace over the run, then
# perf/stalls.py attributes its slow intervals (OUT/NAME.stalls.txt).
TRACE_PID=
trace_start() {
    [ "${TRACE:-}" = 1 ] || return 0
    # With the kernel's io_uring tracepoints, also every file operation's submission and every
    # completion, so that stalls.py can name a slow disk write (submissions filtered to the file
    # opcodes FSYNC 3, READ_FIXED 4, WRITE_FIXED 5, FALLOCATE 17, WRITE 23 to keep the trace small).
    local io=()
    if [ -d /sys/kernel/tracing/events/io_uring ] || [ -d /sys/kernel/debug/tracing/events/io_uring ]; then
        io=(-e io_uring:io_uring_submit_req --filter 'opcode == 3 || opcode == 4 || opcode == 5 || opcode == 17 || opcode == 23'
            -e io_uring:io_uring_complete)
    fi
    perf record -q -k mono -a -e sched:sched_switch "${io[@]}" -o "$OUT/$1.sched" -- sleep $((DURATION + WARMUP + 600)) \
        >/dev/null 2>&1 &
    TRACE_PID=$!
    sleep 0.5
}
trace_stop() {
    [ -n "$TRACE_PID" ] || return 0
    kill -INT "$TRACE_PID" 2>/dev/null || true
    wait "$TRACE_PID" 2>/dev/null || true
    TRACE_PID=
    python3 "$ROOT/perf/stalls.py" "$OUT/$1.json" "$OUT/$1.sched" >"$OUT/$1.stalls.txt" 2>&1 || true
    tail -2 "$OUT/$1.stalls.txt"
    [ "${KEEP_TRACE:-}" = 1 ] || rm -f "$OUT/$1.sched"
}

# cpu_start / cpu_stop NAME: the CPU time the broker and the load generator used during one run, and how
# busy each CPU was (perf/cpu.py -> OUT/NAME.cpu.json, a column of results.md). A latency figure
# measured while the load generator had no CPU to spare includes the generator's own queueing: the
# column says when that was so. The generator's time is what this shell's waited-for children used
# over the run (the generator, `timeout` and `tee`); the broker's is read from its /proc entry.
CPU_SNAP=
cpu_snap() { # FILE
    local self=() broker="0 0"
    read -r -a self </proc/$$/stat
    if [ -n "$BROKER_PID" ] && [ -r "/proc/$BROKER_PID/stat" ]; then
        broker=$(awk '{print $14, $15}' "/proc/$BROKER_PID/stat")
    fi
    { date +%s.%N; echo "$(getconf CLK_TCK) $broker ${self[15]} ${self[16]}"; grep '^cpu[0-9]' /proc/stat; } >"$1"
}
cpu_start() { CPU_SNAP=$(mktemp); cpu_snap "$CPU_SNAP"; }
cpu_stop() {
    local end; end=$(mktemp)
    cpu_snap "$end"
    python3 "$ROOT/perf/cpu.py" "$CPU_SNAP" "$end" >"$OUT/$1.cpu.json" || rm -f "$OUT/$1.cpu.json"
    rm -f "$CPU_SNAP" "$end"
    [ -f "$OUT/$1.cpu.json" ] && python3 "$ROOT/perf/cpu.py" --line "$OUT/$1.cpu.json"
}

# bench NAME [bolide-bench flags...]
bench() {
    local name=$1; shift
    echo "== $name: bolide-bench $*"
    trace_start "$name"
    cpu_start
    timeout $((DURATION + WARMUP + 600)) "${DRIVER_PIN[@]}" "$BENCH" --namesrv "127.0.0.1:$NS_PORT" --topic "Bench_${name//-/_}" \
        --duration "$DURATION" --warmup "$WARMUP" --interval "${INTERVAL:-0.5}" \
        --json "$OUT/$name.json" --label "$name" "$@" \
        2>&1 | tee "$OUT/$name.log" || echo "!! $name failed (see $OUT/$name.log)"
    cpu_stop "$name"
    trace_stop "$name"
}

# bench_std NAME [bolide-bench-std flags...]: the open loop at `rate` from the plain-threads driver.
bench_std() {
    local name=$1; shift
    echo "== $name: bolide-bench-std --rate $rate $*"
    trace_start "$name"
    cpu_start
    timeout $((DURATION + WARMUP + 600)) "${DRIVER_PIN[@]}" "${STD_DRIVER[@]}" "$BENCH_STD" --broker "127.0.0.1:$BROKER_PORT" --topic "Bench_${name//-/_}" \
        --rate "$rate" --connections 4 --size "$SIZE" --duration "$DURATION" --warmup "$WARMUP" \
        --interval "${INTERVAL:-0.5}" --json "$OUT/$name.json" --label "$name" "$@" 2>&1 | tee "$OUT/$name.log" \
        || echo "!! $name failed (see $OUT/$name.log)"
    cpu_stop "$name"
    trace_stop "$name"
}

# The raw limit of the machine for request/response latency: a wake-up round trip between two
# processes on different cores and on one core (perf bench sched pipe). On the 2-vCPU VM of
# perf/README.md a cross-core round trip costs ~48 us, seven times the same-core one.
if command -v perf >/dev/null; then
    {
        echo "cross-core: $(perf bench sched pipe -l 20000 2>/dev/null | grep usecs/op)"
        echo "same core:  $(taskset -c 0 perf bench sched pipe -l 20000 2>/dev/null | grep usecs/op)"
    } | tee "$OUT/raw-wakeup.txt"
fi
# What the machine itself takes from a program that wants every CPU all the time (nothing else of
# ours running): the floor under every tail figure below (perf/hiccups.py).
python3 "$ROOT/perf/hiccups.py" --seconds 5 --json "$OUT/hiccups.json" | tee "$OUT/hiccups.txt" || true
# What the disk takes for SYNC_FLUSH-shaped writes, idle and with every CPU busy (perf/disk.py,
# needs fio): the floor under the SYNC_FLUSH figures. Only when a SYNC_FLUSH run is asked for.
case " ${RUNS[*]} " in
*" sync-sync-flush "* | *" open-loop-half-peak-sync-flush "*) python3 "$ROOT/perf/disk.py" --dir "$DATA_ROOT" --json "$OUT/disk.json" | tee "$OUT/disk.txt" || true ;;
esac

peak_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["send"]["msgs_per_sec"])' "$1" 2>/dev/null || echo 0; }
# half_peak PEAK CLOSED-LOOP-RUN: sets `rate` to half of PEAK (or of that run's result in this
# directory); fails with a message when neither is known.
half_peak() {
    local peak=${1:-$(peak_of "$OUT/$2.json")}
    rate=$(python3 -c "print(int(float('$peak') / 2))")
    [ "$rate" -gt 0 ] || { echo "!! $run: no peak known (run $2 first or set the PEAK variable)"; return 1; }
}

for run in "${RUNS[@]}"; do
    case $run in
    sync-async-flush)
        start_broker "$run" async
        bench "$run" --mode sync --clients "$CLIENTS" --size "$SIZE" ;;
    batch)
        start_broker "$run" async
        bench "$run" --mode batch --batch 64 --clients 32 --size "$SIZE" ;;
    sync-sync-flush)
        start_broker "$run" sync
        bench "$run" --mode sync --clients "$CLIENTS" --size "$SIZE" ;;
    open-loop-half-peak)
        half_peak "${PEAK:-}" sync-async-flush || continue
        start_broker "$run" async
        bench "$run" --mode sync --clients "$CLIENTS" --size "$SIZE" --rate "$rate" ;;
    open-loop-half-peak-std)
        # The same open-loop load from the plain-threads driver (no glommio, no io_uring): a stall that
        # both drivers see at the same moment belongs to the broker, not to the load generator. Like
        # the glommio driver and a RocketMQ producer, it takes turns over the topic's 8 queues, so
        # about half the messages hop to the other shard.
        half_peak "${PEAK:-}" sync-async-flush || continue
        start_broker "$run" async
        bench_std "$run" --queues 8 ;;
    open-loop-half-peak-std-local)
        # The same with queueId -1: the broker keeps each message on the shard that read it, so no
        # message hops. What the cross-shard hop costs is the difference to open-loop-half-peak-std.
        half_peak "${PEAK:-}" sync-async-flush || continue
        start_broker "$run" async
        bench_std "$run" ;;
    open-loop-half-peak-sync-flush)
        # SYNC_FLUSH at half of the SYNC_FLUSH closed-loop peak.
        half_peak "${PEAK_SYNC:-}" sync-sync-flush || continue
        start_broker "$run" sync
        bench "$run" --mode sync --clients "$CLIENTS" --size "$SIZE" --rate "$rate" ;;
    open-loop-half-peak-tail)
        # Half peak with two consumers tailing the topic (send and end-to-end latency).
        half_peak "${PEAK:-}" sync-async-flush || continue
        start_broker "$run" async
        bench "$run" --scenario e2e --mode sync --clients "$CLIENTS" --size "$SIZE" --rate "$rate" --consumers 2 --pull-batch 256 ;;
    open-loop-half-peak-tail-std)
        # The tail run from the plain-threads driver: its two consumers are OS threads too, so where
        # the kernel puts the glommio driver's one thread plays no part.
        half_peak "${PEAK:-}" sync-async-flush || continue
        start_broker "$run" async
        bench_std "$run" --queues 8 --consumers 2 --pull-batch 256 ;;
    tail-consume)
        start_broker "$run" async
        bench "$run" --scenario e2e --mode batch --batch 64 --clients 16 --consumers 2 --pull-batch 256 --size "$SIZE" ;;
    catch-up)
        start_broker "$run" async
        bench "$run" --scenario catchup --mode batch --batch 64 --clients 8 --messages 2000000 --consumers 2 --pull-batch 256 --size "$SIZE" ;;
    sync-100b)
        start_broker "$run" async
        bench "$run" --mode sync --clients "$CLIENTS" --size 100 ;;
    *) echo "unknown run $run"; exit 2 ;;
    esac
done
stop_broker

echo "== results in $OUT"
# .venv may already exist without matplotlib (scripts/test-env.sh creates it for the interop tests).
[ -x "$ROOT/.venv/bin/python" ] || python3 -m venv "$ROOT/.venv" || true
if [ -x "$ROOT/.venv/bin/python" ] && ! "$ROOT/.venv/bin/python" -c "import matplotlib" 2>/dev/null; then
    "$ROOT/.venv/bin/pip" install -q matplotlib || echo "(no matplotlib: table only)"
fi
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || PY=python3
"$PY" "$ROOT/perf/plot.py" "$OUT"
[ -f "$OUT/results.md" ] && printf '\nbolide-bench-std ran under the %s scheduling policy (STD_DRIVER_SCHED), bolide-bench under the default.\n' "${STD_DRIVER_SCHED:-batch}" >> "$OUT/results.md"
if [ -f "$OUT/results.md" ] && [ -n "${BROKER_CPUS:-}${DRIVER_CPUS:-}" ]; then
    printf 'The broker ran on CPUs %s, the load generators on CPUs %s (taskset).\n' "${BROKER_CPUS:-any}" "${DRIVER_CPUS:-any}" >> "$OUT/results.md"
fi
