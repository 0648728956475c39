#!/usr/bin/env python3
"""Attribute the slow intervals of a benchmark run to what else ran on the machine at that moment.

Usage: perf/stalls.py BENCH_JSON SCHED_DATA [--min-ms 5] [--burst-ms 1] [--ours REGEX]

BENCH_JSON is a `bolide-bench` or `bolide-bench-std` report (it carries `clock_monotonic_start_s`);
SCHED_DATA a trace taken meanwhile with
    perf record -k mono -a -e sched:sched_switch -o SCHED_DATA -- sleep SECONDS
(perf/run.sh does both with TRACE=1, and adds the io_uring events below). A *foreign burst* is a task whose name does not match --ours
(the broker's and the load generators' threads, the idle task, perf) holding a CPU for at least
--burst-ms: from the switch that put it on the CPU to the next switch there. A task whose own
events are hidden from the trace (seen here: the VM's init agent) still shows, since the switch
into it is recorded by the task it preempts.

For every interval whose max latency is at least --min-ms, the bursts that overlap
[interval start - its max latency, interval end] (the span in which a message answered in the
interval was in flight) are listed, the longest first; the interval is attributed to the task of
the longest. The intervals with no burst at all in [start - 10 ms, end] are the broker's own tail:
their worst max and their median p99 are printed last.

The shard threads' own switches say what a shard did meanwhile: for each slow interval, the
longest stretch in the same span that a `bolide-shard-*` thread spent off its CPU while it wanted
it (left preempted, R, or blocked in the kernel, D) for at least --burst-ms, or else asleep (S: it
had nothing to do) for at least half the interval's max. When no foreign burst or disk wait explains
the interval, that stretch names the cause ("shard preempted", "shard blocked", "shard asleep").
"none seen" then means the shards ran or napped briefly: they were busy with requests.

When the trace also holds `io_uring:io_uring_submit_req` and `io_uring:io_uring_complete`, every
file operation of ours (a commit-log write, a read of a segment, an fsync, a fallocate) that took at
least --disk-ms (5 ms by default: below that a SYNC_FLUSH write is within the device's normal service
time when the CPUs are busy, perf/disk.py) from submission to completion is a *disk wait* and competes with the foreign bursts
as a cause ("disk WRITE_FIXED", or "disk WRITE" for a sealed chunk written from its own buffer): a
SYNC_FLUSH send cannot be answered before its write completes, and a device that holds one for 17
ms stalls every send behind it with no other task on the CPUs.
"""
import argparse
import collections
import json
import re
import statistics
import sys

from hiccups import script_matches, switches

OURS = r"^(bolide|bench|swapper|perf$|perf-exec|iou-wrk)"
# io_uring opcodes that touch a file rather than a socket or a timer (their numbers are the kernel
# ABI's, used by run.sh to filter the submissions it records).
# WRITE (23) is also how glommio's reactor writes its eventfd when a timer fires: see disk_write.
FILE_OPS = {"WRITE_FIXED": 5, "READ_FIXED": 4, "FSYNC": 3, "FALLOCATE": 17, "WRITE": 23}
SHARD_SWITCH = re.compile(r"\[(\d+)\]\s+([\d.]+):\s+\S+:\s+prev_comm=(.*?) prev_pid=(\d+) prev_prio=\S+ "
                          r"prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")
SHARD = re.compile(r"^bolide-shard")
# What a shard's state when it left its CPU means, as a cause.
LEFT_AS = {"R": "shard preempted", "R+": "shard preempted", "S": "shard asleep", "D": "shard blocked"}
IO_LINE = re.compile(r"^\s*(.*?)\s+([\d.]+):\s+io_uring:io_uring_(submit_req|complete):.*?req (\S+), .*?"
                     r"(?:opcode (\S+),|result (-?\d+))")


def bursts(events, ours, min_s):
    """(start, end, cpu, task) of every foreign task's stretch on a CPU of at least min_s, from
    sched_switch events `(cpu, t, next_comm, next_pid)` in time order."""
    last = {}
    out = []
    for cpu, t, comm, pid in events:
        if cpu in last:
            s, name = last.pop(cpu)
            if t - s >= min_s:
                out.append((s, t, cpu, name))
        if not ours.search(comm):
            last[cpu] = (t, f"{comm}/{pid}")
    return out


def io_events(data):
    """(t, "submit"|"complete", req, opcode or result, comm) of the io_uring events in a trace."""
    for m in script_matches(data, "comm,time,event,trace", IO_LINE):
        comm, t, kind, req, op, res = m.groups()
        yield float(t), "submit" if kind == "submit_req" else "complete", req, op if op else res, comm


def shard_off_cpu(data):
    """(start, end, state, "comm/tid") of every stretch a shard's executor thread spent off its CPU,
    from the switch that took it off (its prev_state) to the one that put it back. A shard's other
    threads (its blocking pool) carry the same truncated name; the executor is the one of them that
    switches most."""
    away, out, count = {}, [], collections.Counter()
    for m in script_matches(data, "cpu,time,event,trace", SHARD_SWITCH):
        t, prev, prev_pid, state, nxt, next_pid = float(m.group(2)), *m.group(3, 4, 5, 6, 7)
        if SHARD.search(prev):
            away[prev_pid] = (t, state, prev)
            count[(prev, prev_pid)] += 1
        if SHARD.search(nxt) and next_pid in away:
            s, st, comm = away.pop(next_pid)
            out.append((s, t, st, f"{comm}/{next_pid}"))
    executor = {}
    for (comm, tid), n in count.items():
        if n > count.get((comm, executor.get(comm)), 0):
            executor[comm] = tid
    keep = {f"{c}/{tid}" for c, tid in executor.items()}
    return [o for o in out if o[3] in keep]


def is_disk_op(op, result):
    """Whether a completed file operation `op` with `result` (a string, as traced) was the disk's.
    A sealed commit-log chunk is written with WRITE from its own buffer, and so is the eventfd a
    glommio timer wakes its reactor with; only the commit log writes whole pages.

    | # | op                          | result                            | the disk's |
    |---|-----------------------------|-----------------------------------|------------|
    | 1 | WRITE_FIXED, READ_FIXED, FSYNC, FALLOCATE | -                   | yes        |
    | 2 | WRITE                       | a positive multiple of 4096       | yes        |
    | 3 | WRITE                       | a negative errno but -125         | yes (a failed write) |
    | 4 | WRITE                       | 8 (an eventfd), -125 (ECANCELED: a timer's link cancelled), other | no |
    """
    if op != "WRITE":
        return True
    r = int(result)
    return (r > 0 and r % 4096 == 0) or (r < 0 and r != -125)


def disk_waits(ios, ours, min_s):
    """(start, end, None, "disk OPCODE/comm") of every file operation of ours that took at least
    min_s, from io_events() in time order. A request's address is reused once it completes, so a
    completion belongs to the last submission of that address; completions of requests submitted
    before the trace began, or of socket and timer operations, are skipped."""
    pending, out = {}, []
    for t, kind, req, x, comm in ios:
        if kind == "submit":
            if x in FILE_OPS and ours.search(comm):
                pending[req] = (t, x, comm)
            else:
                pending.pop(req, None)
        elif req in pending:
            s, op, who = pending.pop(req)
            if t - s >= min_s and is_disk_op(op, x):
                out.append((s, t, None, f"disk {op}/{who}"))
    return out


def attribute(intervals, t0, bs, span, min_ms, off=(), off_min_s=0.001):
    """(slow, causes, clean) for a report's intervals, the foreign bursts `bs` and the shards'
    off-CPU stretches `off` (module docs).

    slow: (interval, cause, bursts longest first, the longest shard stretch or none) per interval whose max >= min_ms; causes: a count
    per cause; clean: the intervals with no burst in [start - 10 ms, end]. Intervals not wholly
    inside the trace's `span` (first, last event) are left out of all three.
    """
    slow, causes, clean = [], collections.Counter(), []
    prev = None
    for iv in intervals:
        end = t0 + iv["t_s"]
        start = prev if prev is not None else end - 0.1
        prev = end
        mx = iv["send_max_us"] / 1000
        if start < span[0] or end > span[1]:
            continue
        if not any(b[1] > start - 0.010 and b[0] < end for b in bs):
            clean.append(iv)
        if mx < min_ms:
            continue
        hit = sorted((b for b in bs if b[1] > start - mx / 1000 and b[0] < end), key=lambda b: b[0] - b[1])
        window = [o for o in off if o[1] > start - mx / 1000 and o[0] < end]
        # A shard that wanted its CPU (preempted, blocked) for off_min_s; else one that slept
        # through half the stall or more (parking when idle is normal, a short nap explains nothing).
        wanted = [o for o in window if not o[2].startswith("S") and o[1] - o[0] >= off_min_s]
        slept = [o for o in window if o[2].startswith("S") and o[1] - o[0] >= mx / 2000]
        away = sorted(wanted or slept, key=lambda o: o[0] - o[1])[:1]
        cause = hit[0][3].split("/")[0] if hit else "none seen"
        if not hit and away:
            cause = LEFT_AS.get(away[0][2], f"shard off CPU ({away[0][2]})")
        causes[cause] += 1
        slow.append((iv, cause, hit, away))
    return slow, causes, clean


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench_json")
    ap.add_argument("sched_data")
    ap.add_argument("--min-ms", type=float, default=5.0)
    ap.add_argument("--burst-ms", type=float, default=1.0)
    ap.add_argument("--disk-ms", type=float, default=5.0)
    ap.add_argument("--ours", default=OURS)
    a = ap.parse_args()

    r = json.load(open(a.bench_json))
    t0 = r.get("clock_monotonic_start_s")
    if not t0:
        print(f"{a.bench_json} has no clock_monotonic_start_s (written by a bolide-bench before it)", file=sys.stderr)
        return 2
    events = list(switches(a.sched_data))
    if not events:
        print(f"{a.sched_data}: no sched_switch events", file=sys.stderr)
        return 2
    ours = re.compile(a.ours)
    bs = bursts(events, ours, a.burst_ms / 1000)
    disk = disk_waits(io_events(a.sched_data), ours, a.disk_ms / 1000)
    bs += disk
    off = shard_off_cpu(a.sched_data)
    rows, causes, clean = attribute(r["intervals"], t0, bs, (events[0][1], events[-1][1]), a.min_ms,
                                    off, a.burst_ms / 1000)
    print(f"intervals with max >= {a.min_ms:g} ms (t_s, latency in ms, what ran elsewhere meanwhile):")
    print("\n".join(
        f"{iv['t_s']:8.2f}  max {iv['send_max_us'] / 1000:6.1f}  p99 {iv['send_p99_us'] / 1000:6.1f}  {cause:18s} "
        + "; ".join(f"{n}{'' if c is None else f' cpu{c}'} {1000 * (e - s):.1f} ms at {s - t0:.3f}"
                    for s, e, c, n in hit[:4])
        + "".join(f" | {n} off CPU ({st}) {1000 * (e - s):.1f} ms at {s - t0:.3f}" for s, e, st, n in away)
        for iv, cause, hit, away in rows) or "  none")
    print("attributed: " + ", ".join(f"{k} {v}" for k, v in causes.most_common()))
    if clean:
        mx = [iv["send_max_us"] / 1000 for iv in clean]
        p99 = [iv["send_p99_us"] / 1000 for iv in clean]
        print(f"intervals with no foreign burst{' or disk wait' if disk else ''}: {len(clean)}; worst max {max(mx):.2f} ms, "
              f"median p99 {statistics.median(p99):.2f} ms, {sum(m >= a.min_ms for m in mx)} with max >= {a.min_ms:g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
