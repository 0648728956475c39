#!/usr/bin/env python3
"""The CPU one benchmark run used: the broker's, the load generator's, and each CPU's busy share.

Usage: cpu.py START END          (two snapshots written by perf/run.sh's cpu_snap; prints JSON)
       cpu.py --line RUN.cpu.json (one line for the console)

A snapshot is: a wall-clock time; then `CLK_TCK broker_utime broker_stime children_utime
children_stime` (the children of perf/run.sh's shell: the load generator once it has been waited
for); then the `cpuN` lines of /proc/stat.

Why: a latency figure taken while the load generator had no CPU to spare includes the generator's
own queueing (a request it was late to write, a response it was late to read, both count against
the broker because latency runs from the intended send time). On a 2-vCPU machine with consumers
tailing, the plain-threads generator needs ~94 % of its CPU at 100k msgs/s; the table says so
beside the latency instead of leaving it to be guessed.

Busy is user + nice + system + irq + softirq; steal (time the hypervisor gave to someone else) is
reported apart, as is the CPU's idle and iowait.
"""
import json
import sys


def read(path):
    lines = open(path).read().split("\n")
    t = float(lines[0])
    hz, b_user, b_sys, c_user, c_sys = (int(x) for x in lines[1].split())
    cpus = {}
    for line in lines[2:]:
        f = line.split()
        if not f or not f[0].startswith("cpu"):
            continue
        v = [int(x) for x in f[1:]] + [0] * 10
        user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
        cpus[f[0]] = {"busy": user + nice + system + irq + softirq, "idle": idle + iowait, "steal": steal}
    return t, hz, b_user + b_sys, c_user + c_sys, cpus


def report(start, end):
    t0, hz, b0, c0, cpus0 = read(start)
    t1, _, b1, c1, cpus1 = read(end)
    secs = max(t1 - t0, 1e-9)

    def pct(ticks):
        return round(100.0 * ticks / hz / secs, 1)
    per_cpu = []
    for name in sorted(cpus1, key=lambda n: int(n[3:])):
        if name not in cpus0:
            continue
        d = {k: cpus1[name][k] - cpus0[name][k] for k in ("busy", "idle", "steal")}
        total = max(sum(d.values()), 1)
        per_cpu.append({"cpu": int(name[3:]), "busy_pct": round(100.0 * d["busy"] / total, 1),
                        "steal_pct": round(100.0 * d["steal"] / total, 1)})
    return {"seconds": round(secs, 2), "broker_cpu_pct": pct(b1 - b0),
            "driver_cpu_pct": pct(c1 - c0), "cpus": per_cpu}


def line(r):
    cpus = ", ".join(f"cpu{c['cpu']} {c['busy_pct']:.0f} %" for c in r["cpus"])
    return (f"   CPU over {r['seconds']:.0f} s: broker {r['broker_cpu_pct']:.0f} %, load generator "
            f"{r['driver_cpu_pct']:.0f} % (of one CPU); busy {cpus}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--line":
        print(line(json.load(open(sys.argv[2]))))
    elif len(sys.argv) == 3:
        print(json.dumps(report(sys.argv[1], sys.argv[2])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
