#!/usr/bin/env bash
# A disk that takes no I/O for a while, on purpose: does the broker ride it out?
#
# Starts a fresh broker inside a blkio cgroup (cgroup v1) or a cgroup v2 group with the io
# controller, drives it open loop with bolide-bench-std (8 queues, so half the sends hop, as from
# real producers), and at STALL_AT seconds into the measured window caps the broker's reads and
# writes on its data disk at 1 per second for STALL_S seconds (the block layer's throttle: the
# disk itself is untouched, only this broker's I/O waits), then lifts the cap. The disk stalls
# that #12 saw in traced runs (one commit-log write taking 1-1.7 s) came at random; this one comes
# when asked, so a setting can be compared with the same stall.
#
# In ASYNC_FLUSH a send is answered once its message is in memory; the commit log writes it behind
# (`write_behind_bytes_max`, split over the shards). Appends wait only when a shard holds that many
# bytes not yet written, so a stall is ridden out while STALL_S * (rate per shard * record size)
# stays below the shard's share. In SYNC_FLUSH every send waits for its flush, so sends wait out
# the stall and none may fail.
#
# Usage: perf/diskstall.sh [label]
# Env:   RATE (msgs/s, default 85000)  STALL_AT (s into the measured window, default 8)
#        STALL_S (default 1.0)  DURATION (s measured, default 20)  WARMUP (s, default 3)
#        FLUSH (async or sync, default async)  CONSUMERS (threads tailing the topic, default 0;
#        with some, the end-to-end latency is reported too)  BROKER_ARGS (extra `bolide serve` flags, e.g.
#        "--set write_behind_bytes_max=536870912 --set cache_bytes_max=1073741824")
#        DATA_ROOT (default ./data: a real filesystem, O_DIRECT)  OUT (default perf/out/diskstall-<stamp>)
#        NS_PORT / BROKER_PORT (default 19886 / 20921)
#        TRACE=1 (perf: sched_switch and io_uring file operations over the run, then perf/stalls.py
#        attributes every interval over 5 ms, OUT/<label>.stalls.txt; KEEP_TRACE=1 keeps OUT/<label>.sched)
# Needs root and a cgroup hierarchy with block-I/O throttling; says so and exits 0 without one.
# Writes OUT/<label>.json (bolide-bench-std's report), OUT/<label>.txt (the intervals around the
# stall and the summary) and OUT/<label>.broker.log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LABEL=${1:-stall}
RATE=${RATE:-85000}
STALL_AT=${STALL_AT:-8}
STALL_S=${STALL_S:-1.0}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
FLUSH=${FLUSH:-async}
CONSUMERS=${CONSUMERS:-0}
BROKER_ARGS=${BROKER_ARGS:-}
NS_PORT=${NS_PORT:-19886}
BROKER_PORT=${BROKER_PORT:-20921}
DATA_ROOT=${DATA_ROOT:-$ROOT/data}
OUT=${OUT:-$ROOT/perf/out/diskstall-$(date -u +%Y%m%d-%H%M%S)}

skip() { echo "diskstall: skipped: $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root (to create a cgroup and set its I/O throttle)"
mkdir -p "$OUT" "$DATA_ROOT"

# The whole disk under DATA_ROOT (throttle rules name a disk, not a partition).
SRC=$(df --output=source "$DATA_ROOT" | tail -1)
DEVNAME=$(basename "$(readlink -f "$SRC")")
[ -e "/sys/class/block/$DEVNAME/dev" ] || skip "$DATA_ROOT is on $SRC, not a block device"
if [ -e "/sys/class/block/$DEVNAME/partition" ]; then
    DEVNAME=$(basename "$(readlink -f "/sys/class/block/$DEVNAME/..")")
fi
DEV=$(cat "/sys/class/block/$DEVNAME/dev")

# The cgroup, and how to cap and uncap it.
CG=
if [ -e /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device ]; then
    CG=/sys/fs/cgroup/blkio/bolide-diskstall
    mkdir -p "$CG"
    # file, capped value, uncapped value
    KNOBS=("$CG/blkio.throttle.write_iops_device" "$DEV 1" "$DEV 0"
        "$CG/blkio.throttle.read_iops_device" "$DEV 1" "$DEV 0")
elif [ -e /sys/fs/cgroup/cgroup.controllers ] && grep -qw io /sys/fs/cgroup/cgroup.controllers; then
    echo "+io" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
    CG=/sys/fs/cgroup/bolide-diskstall
    mkdir -p "$CG"
    [ -e "$CG/io.max" ] || skip "the io controller is not enabled for $CG"
    KNOBS=("$CG/io.max" "$DEV riops=1 wiops=1" "$DEV riops=max wiops=max")
else
    skip "no cgroup with block-I/O throttling (cgroup v1 blkio or v2 io)"
fi

echo "== building (release)"
cargo build --release --bin bolide --bin bolide-bench-std 2>&1 | tail -1
BOLIDE=${CARGO_TARGET_DIR:-$ROOT/target}/release/bolide
BENCH_STD=${CARGO_TARGET_DIR:-$ROOT/target}/release/bolide-bench-std

uncap() { for ((k = 0; k < ${#KNOBS[@]}; k += 3)); do echo "${KNOBS[k + 2]}" >"${KNOBS[k]}"; done; }

BROKER_PID=
DATA_DIR=$(mktemp -d "$DATA_ROOT/diskstall-XXXX")
cleanup() {
    uncap 2>/dev/null || true
    if [ -n "$BROKER_PID" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
    rm -rf "$DATA_DIR"
    rmdir "$CG" 2>/dev/null || true
}
trap cleanup EXIT
uncap

# The broker joins the cgroup before it starts, so every thread it makes (shards, io_uring
# workers, the blocking pool) is in it.
# shellcheck disable=SC2086
(echo "$BASHPID" >"$CG/cgroup.procs" && exec "$BOLIDE" serve --data-dir "$DATA_DIR" \
    --namesrv-port "$NS_PORT" --broker-port "$BROKER_PORT" --flush "$FLUSH" $BROKER_ARGS) \
    >"$OUT/$LABEL.broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$BROKER_PORT") 2>/dev/null && break
    kill -0 "$BROKER_PID" 2>/dev/null || { tail -20 "$OUT/$LABEL.broker.log"; exit 1; }
    sleep 0.1
done

TRACE_PID=
if [ "${TRACE:-}" = 1 ]; then
    perf record -q -k mono -a -e sched:sched_switch \
        -e io_uring:io_uring_submit_req --filter 'opcode == 3 || opcode == 4 || opcode == 5 || opcode == 17 || opcode == 23' \
        -e io_uring:io_uring_complete -o "$OUT/$LABEL.sched" -- sleep $((DURATION + WARMUP + 60)) >/dev/null 2>&1 &
    TRACE_PID=$!
    sleep 0.5
fi
SCHED=()
command -v chrt >/dev/null && SCHED=(chrt --batch 0)
echo "== $LABEL: $FLUSH, $RATE msgs/s, disk capped at 1 IO/s for ${STALL_S}s at ${STALL_AT}s ($DEVNAME $DEV, $CG)"
"${SCHED[@]}" "$BENCH_STD" --broker "127.0.0.1:$BROKER_PORT" --topic DiskStall --queues 8 \
    --rate "$RATE" --size 1024 --duration "$DURATION" --warmup "$WARMUP" --interval 0.1 \
    --consumers "$CONSUMERS" --pull-batch 256 --json "$OUT/$LABEL.json" >"$OUT/$LABEL.bench" 2>&1 &
BENCH_PID=$!
# One small process started now (not at the stall: starting a process on the two busy CPUs shows
# in the latencies) caps and uncaps, and notes when (CLOCK_MONOTONIC, as the driver's report). The
# measured window starts after the driver connects, creates the topic and warms up.
python3 - "$(python3 -c "print($WARMUP + $STALL_AT + 0.5)")" "$STALL_S" "${KNOBS[@]}" >"$OUT/$LABEL.stall" <<'EOF' &
import sys, time
wait, stall, knobs = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
def put(col):
    for k in range(0, len(knobs), 3):
        with open(knobs[k], "w") as f:
            f.write(knobs[k + col])
time.sleep(wait)
t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
put(1)
time.sleep(stall)
put(2)
print(t0, time.clock_gettime(time.CLOCK_MONOTONIC))
EOF
STALLER=$!
wait "$BENCH_PID" || echo "!! bolide-bench-std failed (see $OUT/$LABEL.bench)"
wait "$STALLER" || echo "!! the stall was not applied"
read -r T0 T1 <"$OUT/$LABEL.stall"
if [ -n "$TRACE_PID" ]; then
    kill -INT "$TRACE_PID" 2>/dev/null || true
    wait "$TRACE_PID" 2>/dev/null || true
    python3 perf/stalls.py "$OUT/$LABEL.json" "$OUT/$LABEL.sched" >"$OUT/$LABEL.stalls.txt" 2>&1 || true
    [ "${KEEP_TRACE:-}" = 1 ] || rm -f "$OUT/$LABEL.sched"
fi

python3 - "$OUT/$LABEL.json" "$T0" "$T1" "$OUT/$LABEL.broker.log" <<'EOF' | tee "$OUT/$LABEL.txt"
import json, sys
report, t0, t1, log = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
r = json.load(open(report))
start = r["clock_monotonic_start_s"]
a, b = t0 - start, t1 - start
s = r["send"]
lat = s["latency_us"]
print(f"stall: {a:.2f}-{b:.2f} s of the measured window ({b - a:.2f} s)")
print(f"send: {s['msgs_per_sec']:.0f} msgs/s, failed {s['send_failed']} + {s['response_failed']}, "
      f"p50 {lat['p50'] / 1000:.2f} / p99 {lat['p99'] / 1000:.2f} / p99.99 {lat['p99_99'] / 1000:.2f} / "
      f"max {lat['max'] / 1000:.1f} ms")
c = r.get("consume") or {}
if c.get("messages"):
    e = c["latency_us"]  # from the intended send time to receipt
    print(f"consume: {c['msgs_per_sec']:.0f} msgs/s, end to end p50 {e['p50'] / 1000:.2f} / "
          f"p99 {e['p99'] / 1000:.2f} / max {e['max'] / 1000:.1f} ms")
print("t_s     sent/s   p99 ms   max ms  e2e p99 ms")
for i in r["intervals"]:
    t = i["t_s"]
    if a - 0.5 <= t <= b + 2.0:
        mark = " <- capped" if a <= t - 0.05 and t - 0.05 <= b else ""
        print(f"{t:5.1f} {i['send_msgs_per_sec']:9.0f} {i['send_p99_us'] / 1000:8.2f} "
              f"{i['send_max_us'] / 1000:8.2f} {i.get('e2e_p99_us', 0) / 1000:11.2f}{mark}")
outside = [i["send_max_us"] for i in r["intervals"] if not (a - 0.1 <= i["t_s"] <= b + 2.0)]
if outside:
    print(f"worst interval max away from the stall: {max(outside) / 1000:.1f} ms")
errs = [l.rstrip() for l in open(log) if " ERROR " in l or " WARN " in l]
print(f"broker log: {len(errs)} warnings/errors" + "".join("\n  " + l for l in errs[:5]))
EOF
