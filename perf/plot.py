#!/usr/bin/env python3
"""Tabulate and plot bolide-bench JSON reports.

Usage: plot.py OUT_DIR   (reads OUT_DIR/*.json written by `bolide-bench --json`)
Writes OUT_DIR/results.md (a Markdown table, one row per run), OUT_DIR/latency.png (send and
end-to-end latency percentiles per run, log scale) and, per run, OUT_DIR/<run>-timeline.png: latency
over time (p50, p99 and max of each report interval, log scale) above the throughput of each
interval, so that a stall shows as a spike at the moment it happened, not only as a worse p99.9.
Finer intervals show shorter stalls: `bolide-bench --interval 0.1`. The table needs only the standard library;
the plot needs matplotlib (perf/run.sh installs it in .venv) and is skipped without it.
"""
import json
import sys
from pathlib import Path

PCTS = [("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9"), ("p99_99", "p99.99"), ("max", "max")]


def load(out_dir):
    runs = []
    for p in sorted(out_dir.glob("*.json")):
        try:
            r = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        if r.get("tool") not in ("bolide-bench", "bolide-bench-std"):
            continue
        r["_file"] = p.name
        cpu = p.with_name(p.stem + ".cpu.json")
        if cpu.exists():
            try:
                r["_cpu"] = json.loads(cpu.read_text())
            except ValueError:
                pass
        runs.append(r)
    order = {n: i for i, n in enumerate(
        ["sync-async-flush", "batch", "sync-sync-flush", "open-loop-half-peak", "open-loop-half-peak-std",
         "open-loop-half-peak-std-local", "open-loop-half-peak-sync-flush", "open-loop-half-peak-tail", "open-loop-half-peak-tail-std", "tail-consume",
         "catch-up", "sync-100b"])}
    runs.sort(key=lambda r: (order.get(r.get("label"), 99), r["_file"]))
    return runs


def fmt_us(v):
    if v is None:
        return "-"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def row(r):
    s = r.get("settings", {})
    send = r.get("send") or {}
    cons = r.get("consume") or {}
    lat = send.get("latency_us") or {}
    # In a catch-up run the "end-to-end" figure is only the age of the preloaded data.
    e2e = {} if s.get("scenario") == "catchup" else (cons.get("latency_us") or {})
    mode = s.get("mode", "")
    if s.get("scenario") in ("consume", "catchup"):
        mode = s.get("scenario")
    how = f"{s.get('clients')}x {mode}"
    if mode == "batch":
        how += f" of {s.get('batch')}"
    if mode == "async":
        how += f" ({s.get('inflight')} in flight)"
    if s.get("rate"):
        how += f", open loop {s['rate']:.0f}/s"
    fails = (send.get("send_failed", 0) + send.get("response_failed", 0)
             + cons.get("response_failed", 0))
    return [
        r.get("label") or r["_file"],
        f"{s.get('size')} B",
        how,
        f"{send.get('msgs_per_sec', 0):,.0f}" if send else "-",
        f"{send.get('mb_per_sec', 0):,.1f}" if send else "-",
        f"{cons.get('msgs_per_sec', 0):,.0f}" if cons else "-",
        " / ".join(fmt_us(lat.get(k)) for k in ("p50", "p99", "p99_99", "max")) if lat.get("count") else "-",
        " / ".join(fmt_us(e2e.get(k)) for k in ("p50", "p99", "max")) if e2e.get("count") else "-",
        str(fails),
        cpu_cell(r.get("_cpu")),
    ]


def cpu_cell(c):
    """Broker and load generator CPU (% of one CPU), then each CPU's busy share (perf/cpu.py)."""
    if not c:
        return "-"
    per_cpu = ", ".join(f"{x['busy_pct']:.0f}" for x in c.get("cpus", []))
    cell = f"{c['broker_cpu_pct']:.0f} / {c['driver_cpu_pct']:.0f} %"
    return cell + (f" ({per_cpu} %)" if per_cpu else "")


def table(runs):
    head = ["run", "size", "load", "send msgs/s", "send MB/s", "consume msgs/s",
            "send latency p50 / p99 / p99.99 / max", "e2e p50 / p99 / max", "failures",
            "CPU broker / load generator (each CPU busy)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row(r)) + " |" for r in runs]
    if runs:
        # bolide-bench-std reports no machine block and keeps its load averages at the top level.
        full = next((r for r in runs if r.get("machine")), None)
        lines.append("")
        if full:
            m = full["machine"]
            lines.append(f"Machine: {m.get('cpu_model')}, {m.get('cpus')} CPUs, "
                         f"{m.get('memory_bytes', 0) / 2**30:.0f} GiB, kernel {m.get('kernel')}; "
                         f"git {full.get('git_revision')}; {full['measured_s']:.0f} s measured per run.")
        else:
            lines.append(f"{runs[0]['measured_s']:.0f} s measured per run (no bolide-bench run here: "
                         "machine and git revision not recorded).")

        def load(r, key):
            return r.get("machine", {}).get(key) or r.get(key) or "?"
        loads = ", ".join(f"{r.get('label')}: {load(r, 'load_avg_start')} -> {load(r, 'load_avg_end')}"
                          for r in runs)
        lines.append("")
        lines.append(f"Load average (1/5/15 min) at start -> end of each run: {loads}.")
        if any(r.get("_cpu") for r in runs):
            lines.append("")
            lines.append("CPU: what the broker and the load generator each used over the run, in % of one "
                         "CPU, and in brackets how busy each CPU was, CPU 0 first (perf/cpu.py). Where the "
                         "load generator's CPUs were busy nearly all the time, its latency figures include "
                         "its own queueing.")
    return "\n".join(lines) + "\n"


def plot(runs, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not available: no plot", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(10, 5.5))
    xs = list(range(len(PCTS)))
    for r in runs:
        for side, style in (("send", "-o"), ("consume", "--s")):
            if side == "consume" and r.get("settings", {}).get("scenario") == "catchup":
                continue
            lat = (r.get(side) or {}).get("latency_us") or {}
            if not lat.get("count"):
                continue
            ys = [max(lat.get(k, 0), 1) for k, _ in PCTS]
            name = r.get("label") or r["_file"]
            ax.plot(xs, ys, style, label=f"{name} ({'send' if side == 'send' else 'e2e'})")
    ax.set_xticks(xs, [n for _, n in PCTS])
    ax.set_yscale("log")
    ax.set_ylabel("latency (µs, log scale)")
    ax.set_xlabel("percentile")
    ax.set_title("bolide-bench latency percentiles")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def plot_timeline(r, path, plt):
    pts = r.get("intervals") or []
    if not pts:
        return False
    ts = [p["t_s"] for p in pts]
    fig, (lat, rate) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for key, name, style in (("send_max_us", "send max", "-"), ("send_p99_us", "send p99", "-"),
                             ("send_p50_us", "send p50", "-"), ("e2e_p99_us", "e2e p99", "--")):
        ys = [p.get(key, 0) for p in pts]
        if not any(ys):
            continue
        lat.plot(ts, [max(y, 1) for y in ys], style, label=name, linewidth=1)
    lat.set_yscale("log")
    lat.set_ylabel("latency per interval (µs)")
    lat.grid(True, which="both", alpha=0.3)
    lat.legend(fontsize=8, loc="upper right")
    rate.plot(ts, [p.get("send_msgs_per_sec", 0) for p in pts], label="sent/s", linewidth=1)
    if any(p.get("recv_msgs_per_sec", 0) for p in pts):
        rate.plot(ts, [p.get("recv_msgs_per_sec", 0) for p in pts], label="received/s", linewidth=1)
    rate.set_ylabel("msgs/s")
    rate.set_xlabel("time since start (s; warm-up included)")
    rate.grid(True, alpha=0.3)
    rate.legend(fontsize=8, loc="lower right")
    lat.set_title(f"{r.get('label') or r['_file']}: latency over time")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_timelines(runs, out):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    for r in runs:
        name = (r.get("label") or Path(r["_file"]).stem).replace("/", "_")
        path = out / f"{name}-timeline.png"
        if plot_timeline(r, path, plt):
            made.append(path)
    return made


def notes(out):
    """The machine's hiccups (perf/hiccups.py), the disk's latency (perf/disk.py) and each traced
    run's attribution (perf/stalls.py)."""
    md = ""
    h = out / "hiccups.txt"
    if h.exists():
        md += "\nWhat the machine takes from a spinning program, per CPU (perf/hiccups.py, no broker running):\n\n"
        md += "".join(f"- {l}\n" for l in h.read_text().splitlines() if l.strip())
    d = out / "disk.txt"
    if d.exists():
        md += "\nWhat the disk takes, SYNC_FLUSH-shaped writes (perf/disk.py, no broker running):\n\n"
        md += "".join(f"- {l}\n" for l in d.read_text().splitlines() if l.strip())
    for p in sorted(out.glob("*.stalls.txt")):
        tail = [l for l in p.read_text().splitlines() if l.startswith(("attributed:", "intervals with no"))]
        if tail:
            md += f"\n{p.name[:-len('.stalls.txt')]} (perf/stalls.py): " + "; ".join(tail) + "\n"
    return md


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    runs = load(out)
    if not runs:
        print(f"no bolide-bench reports in {out}", file=sys.stderr)
        return 1
    md = table(runs) + notes(out)
    (out / "results.md").write_text(md)
    print(md)
    if plot(runs, out / "latency.png"):
        print(f"plot: {out / 'latency.png'}")
    for path in plot_timelines(runs, out):
        print(f"timeline: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
