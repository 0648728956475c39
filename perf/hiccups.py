#!/usr/bin/env python3
"""The machine's own hiccups: how long, how often, and to whom each CPU is taken away from a program
that wants it all the time. Run it with nothing else running; it is the floor under any latency
figure measured on the same machine (perf/README.md, "What the machine takes").

Usage: perf/hiccups.py [--seconds 5] [--min-ms 1] [--json OUT] [--no-trace]

One process per CPU, pinned, spins reading CLOCK_MONOTONIC and records every gap of at least
--min-ms between two reads: the time the CPU ran something else (another task, an interrupt, the
hypervisor). With `perf` and root, a sched_switch trace taken meanwhile names the tasks that were
switched in on that CPU during each gap; a gap with no switch in it was spent in an interrupt or
outside the guest. The rhythm is the median spacing of the gaps of 3 ms and more.
"""
import argparse
import collections
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def spin(cpu, seconds, min_s, out):
    os.sched_setaffinity(0, {cpu})
    now = time.monotonic
    t0 = last = now()
    gaps = []
    while True:
        t = now()
        if t - last >= min_s:
            gaps.append((last, t - last))
        last = t
        if t - t0 >= seconds:
            break
    out.put((cpu, os.getpid(), t0, gaps))


SWITCH = re.compile(r"\[(\d+)\]\s+([\d.]+):\s+\S+:\s+prev_comm=.*? ==> next_comm=(.*?) next_pid=(\d+)")


def script_matches(data, fields, pattern):
    """The matches of `pattern` in `perf script -F fields` of a `perf record` file, line by line."""
    txt = subprocess.run(["perf", "script", "-i", data, "-F", fields], capture_output=True, text=True).stdout
    return filter(None, map(pattern.search, txt.splitlines()))


def switches(data):
    """(cpu, t, next_comm, next_pid) of every sched_switch in a `perf record -k mono` file."""
    for m in script_matches(data, "cpu,time,event,trace", SWITCH):
        yield int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)


def spent_in(gaps, sw, probes):
    """Milliseconds of the gaps `(start, length)` per task, from one CPU's switches `(t, "comm/tid")`.

    Each task switched in during a gap ran until the next switch there (or the gap's end); the
    probe itself and the idle task are not counted. A gap with no switch at all went to an
    interrupt or to the host (the vCPU did not run).
    """
    who = collections.Counter()
    for s, g in gaps:
        inside = [(t, c) for t, c in sw if s <= t <= s + g]
        for (t, c), nxt in zip(inside, inside[1:] + [(s + g, None)]):
            if c.rsplit("/", 1)[1] not in probes and not c.startswith("swapper/"):
                who[c] += (nxt[0] - t) * 1000
        if not inside:
            who["(no switch: interrupt or outside the guest)"] += g * 1000
    return who


def owner(name):
    """`comm/tid` with the command line of the process it belongs to, when it still runs."""
    tid = name.rsplit("/", 1)[-1]
    try:
        tgid = next(l.split()[1] for l in open(f"/proc/{tid}/status") if l.startswith("Tgid:"))
        cmd = open(f"/proc/{tgid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (OSError, StopIteration):
        return name
    return f"{name} (pid {tgid}: {cmd[:60]})" if cmd else name


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--min-ms", type=float, default=1.0)
    ap.add_argument("--json")
    ap.add_argument("--no-trace", action="store_true")
    a = ap.parse_args()

    trace = None
    if not a.no_trace and shutil.which("perf") and os.geteuid() == 0:
        tmp = tempfile.mkdtemp(prefix="hiccups-")
        data = os.path.join(tmp, "sched.data")
        trace = (subprocess.Popen(["perf", "record", "-q", "-k", "mono", "-a", "-e", "sched:sched_switch",
                                   "-o", data, "--", "sleep", str(a.seconds + 1)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), data, tmp)
        time.sleep(0.5)
    q = mp.Queue()
    cpus = sorted(os.sched_getaffinity(0))
    procs = [mp.Process(target=spin, args=(c, a.seconds, a.min_ms / 1000, q)) for c in cpus]
    for p in procs:
        p.start()
    res = sorted(q.get() for _ in procs)
    for p in procs:
        p.join()

    names = collections.defaultdict(list)  # cpu -> [(t, comm)]
    probes = {str(pid) for _, pid, _, _ in res}
    if trace:
        trace[0].wait()
        for cpu, t, comm, pid in switches(trace[1]):
            names[cpu].append((t, f"{comm}/{pid}"))
        shutil.rmtree(trace[2], ignore_errors=True)

    report = {"tool": "hiccups", "seconds": a.seconds, "min_ms": a.min_ms, "traced": bool(trace), "cpus": []}
    lines = []
    for cpu, _, t0, gaps in res:
        ms = [g * 1000 for _, g in gaps]
        big = [s for s, g in gaps if g >= 0.003]
        rhythm = statistics.median([b - a for a, b in zip(big, big[1:])]) if len(big) > 2 else None
        who = spent_in(gaps, names[cpu], probes)
        c = {
            "cpu": cpu,
            "gaps": len(gaps),
            "gaps_5ms": sum(m >= 5 for m in ms),
            "max_ms": round(max(ms, default=0), 2),
            "lost_ms_per_s": round(sum(ms) / a.seconds, 2),
            "rhythm_s": round(rhythm, 3) if rhythm else None,
            "who_ms": {owner(k): round(v, 1) for k, v in who.most_common(4)},
            "gaps_list": [[round(s - t0, 4), round(g * 1000, 2)] for s, g in gaps],
        }
        report["cpus"].append(c)
        culprits = ", ".join(f"{k} {v:.1f} ms" for k, v in c["who_ms"].items()) if trace else "(not traced)"
        lines.append(f"cpu{cpu}: {c['gaps']} gaps >= {a.min_ms:g} ms in {a.seconds:g} s, {c['gaps_5ms']} >= 5 ms, "
                     f"max {c['max_ms']} ms, {c['lost_ms_per_s']} ms lost per s, rhythm "
                     f"{str(c['rhythm_s']) + ' s' if rhythm else '-'}; gaps spent in: {culprits}")
    print("\n".join(lines))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
