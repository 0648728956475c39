#!/usr/bin/env python3
"""The disk's own latency for SYNC_FLUSH-shaped writes, with the CPUs idle and with them busy: the
floor under every SYNC_FLUSH latency figure measured on the same machine (perf/README.md, "What the
disk takes").

Usage: perf/disk.py [--dir DATA_ROOT] [--seconds 10] [--jobs N] [--rate 2000] [--json OUT]

Each of --jobs writers (one per CPU by default, as the broker has one commit-log writer per shard)
writes 16 KiB O_DIRECT|O_DSYNC at queue depth 1 through io_uring, --rate times a second, into a file
written once before the measurement (as the broker's segments are), with `fio`. Twice: with nothing
else running, then with a SCHED_IDLE spinner on every CPU. The spinners yield to the writers at once,
so the second run changes nothing in the guest's scheduling; what it changes is that every vCPU is
busy, as under a loaded broker. On a VM whose host runs the disk's emulation beside the vCPUs
(Firecracker here), that alone moves the disk's tail by an order of magnitude.
"""
import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile

PCTS = ("50.000000", "99.000000", "99.990000")


def summary(fio_json):
    """{iops, p50, p99, p99_99, max} (latencies in ms) of a fio JSON report's write side, all jobs
    grouped; latency is submission to completion (fio's lat_ns)."""
    w = fio_json["jobs"][0]["write"]
    lat = w["lat_ns"]
    pct = lat.get("percentile", {})
    out = {"iops": round(w["iops"], 1), "max": lat["max"] / 1e6}
    for key, name in zip(PCTS, ("p50", "p99", "p99_99")):
        out[name] = pct.get(key, 0) / 1e6
    return out


def line(label, s):
    return (f"{label}: {s['iops']:.0f} writes/s, p50 {s['p50']:.2f} / p99 {s['p99']:.2f} / "
            f"p99.99 {s['p99_99']:.2f} / max {s['max']:.2f} ms")


def spin(cpu):
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    while True:
        pass


def run_fio(directory, seconds, jobs, rate):
    cmd = ["fio", "--name=dsync16k", f"--directory={directory}", "--ioengine=io_uring", "--direct=1",
           "--sync=dsync", "--rw=write", "--bs=16k", "--iodepth=1", f"--numjobs={jobs}", "--size=256m",
           "--overwrite=1", f"--runtime={seconds}", "--time_based", f"--rate_iops={rate}",
           "--group_reporting", "--lat_percentiles=1", "--percentile_list=50:99:99.99",
           "--output-format=json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
    if r.returncode != 0:
        raise RuntimeError(f"fio failed: {r.stderr.strip()[:300]}")
    return summary(json.loads(r.stdout[r.stdout.index("{"):]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--rate", type=int, default=2000, help="writes per second per writer")
    ap.add_argument("--json")
    a = ap.parse_args()
    if not shutil.which("fio"):
        print("disk: skipped, `fio` is not installed (apt-get install fio)")
        return 0
    with tempfile.TemporaryDirectory(dir=a.dir, prefix="disk-floor-") as d:
        idle = run_fio(d, a.seconds, a.jobs, a.rate)
        spinners = [mp.Process(target=spin, args=(c,), daemon=True) for c in sorted(os.sched_getaffinity(0))]
        for p in spinners:
            p.start()
        try:
            busy = run_fio(d, a.seconds, a.jobs, a.rate)
        finally:
            for p in spinners:
                p.kill()
    print(line(f"disk, {a.jobs} x 16 KiB O_DSYNC writes at QD1, {a.rate}/s each, CPUs idle", idle))
    print(line("disk, the same with every CPU busy (SCHED_IDLE spinners)", busy))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"idle": idle, "cpus_busy": busy, "jobs": a.jobs, "rate_per_job": a.rate,
                       "seconds": a.seconds}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
