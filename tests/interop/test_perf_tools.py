"""The attribution logic of the latency tools in perf/ (hiccups.py, stalls.py), on synthetic traces:
a wrong attribution would send a tail-latency hunt after the wrong culprit."""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "perf"))

import hiccups  # noqa: E402
import stalls  # noqa: E402

OURS = re.compile(stalls.OURS)


def test_a_foreign_task_holds_the_cpu_until_the_next_switch_there():
    events = [
        (0, 10.000, "bolide-shard-0-", "100"),
        (0, 10.100, "tokio-rt-worker", "75"),  # hides its own switch out
        (1, 10.101, "bench-0-2", "200"),  # another CPU: does not end the burst on CPU 0
        (0, 10.106, "bolide-shard-0-", "100"),
        (0, 10.200, "kworker/0:1", "9"),
        (0, 10.2004, "bolide-shard-0-", "100"),  # 0.4 ms: under the 1 ms floor
        (1, 10.300, "khugepaged", "38"),
        (1, 10.305, "swapper/1", "0"),
    ]
    got = stalls.bursts(events, OURS, 0.001)
    assert [(round(s, 4), round(e, 4), c, n) for s, e, c, n in got] == [
        (10.1, 10.106, 0, "tokio-rt-worker/75"),
        (10.3, 10.305, 1, "khugepaged/38"),
    ]


def iv(t_s, max_ms, p99_ms=0.5):
    return {"t_s": t_s, "send_max_us": max_ms * 1000, "send_p99_us": p99_ms * 1000}


def test_slow_intervals_go_to_the_longest_overlapping_burst_and_clean_ones_are_kept_apart():
    t0 = 100.0
    bs = [
        (100.05, 100.051, 1, "kdamond.0/77"),  # inside interval 0.1 (clean is judged with it)
        (100.25, 100.256, 0, "tokio-rt-worker/75"),  # interval 0.3
        (100.252, 100.254, 1, "kdamond.0/77"),  # same interval, shorter
        (100.595, 100.60, 0, "khugepaged/38"),  # ended 5 ms before interval 0.7 began; its max is 8 ms
    ]
    ivs = [iv(0.1, 2), iv(0.2, 1), iv(0.3, 9), iv(0.4, 1), iv(0.5, 6), iv(0.6, 1), iv(0.7, 8), iv(0.8, 1),
           iv(2.0, 30)]
    slow, causes, clean = stalls.attribute(ivs, t0, bs, (100.0, 101.0), 5.0)
    # | interval | max | burst in [start - max, end]           | cause           |
    # | 0.3      | 9   | tokio 6 ms, kdamond 2 ms              | tokio-rt-worker |
    # | 0.5      | 6   | none                                  | none seen       |
    # | 0.7      | 8   | khugepaged ended 5 ms before start    | khugepaged      |
    # | 2.0      | 30  | ends after the trace: left out        | -               |
    assert [(i["t_s"], c, [b[3] for b in hit]) for i, c, hit in slow] == [
        (0.3, "tokio-rt-worker", ["tokio-rt-worker/75", "kdamond.0/77"]),
        (0.5, "none seen", []),
        (0.7, "khugepaged", ["khugepaged/38"]),
    ]
    assert dict(causes) == {"tokio-rt-worker": 1, "none seen": 1, "khugepaged": 1}
    # Clean: no burst in [start - 10 ms, end]. 0.1 has kdamond, 0.3 tokio, 0.6 khugepaged (ends at
    # 0.600, its interval is 0.5-0.6), 0.7 khugepaged within 10 ms before it.
    assert [i["t_s"] for i in clean] == [0.2, 0.4, 0.5, 0.8]


def test_gap_time_goes_to_the_tasks_switched_in_and_the_rest_to_the_host():
    probes = {"500"}
    sw = [
        (1.0000, "python3/500"),
        (2.0000, "tokio-rt-worker/75"),
        (2.0040, "kworker/0:1/9"),
        (2.0050, "python3/500"),
        (4.0000, "swapper/0/0"),
    ]
    gaps = [(2.0, 0.005), (3.0, 0.007)]  # a gap with two tasks in it; one with no switch at all
    who = hiccups.spent_in(gaps, sw, probes)
    assert {k: round(v, 2) for k, v in who.items()} == {
        "tokio-rt-worker/75": 4.0,
        "kworker/0:1/9": 1.0,
        "(no switch: interrupt or outside the guest)": 7.0,
    }
