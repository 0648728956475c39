"""The attribution logic of the latency tools in perf/ (hiccups.py, stalls.py, disk.py), on synthetic
traces and reports: a wrong attribution would send a tail-latency hunt after the wrong culprit."""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "perf"))

import disk  # noqa: E402
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
    assert [(i["t_s"], c, [b[3] for b in hit]) for i, c, hit, _ in slow] == [
        (0.3, "tokio-rt-worker", ["tokio-rt-worker/75", "kdamond.0/77"]),
        (0.5, "none seen", []),
        (0.7, "khugepaged", ["khugepaged/38"]),
    ]
    assert dict(causes) == {"tokio-rt-worker": 1, "none seen": 1, "khugepaged": 1}
    # Clean: no burst in [start - 10 ms, end]. 0.1 has kdamond, 0.3 tokio, 0.6 khugepaged (ends at
    # 0.600, its interval is 0.5-0.6), 0.7 khugepaged within 10 ms before it.
    assert [i["t_s"] for i in clean] == [0.2, 0.4, 0.5, 0.8]


def test_a_shard_off_its_cpu_names_an_interval_no_burst_explains():
    t0 = 100.0
    off = [
        (100.150, 100.153, "R", "bolide-shard-0-/10"),  # preempted 3 ms: interval 0.2
        (100.250, 100.2505, "R", "bolide-shard-0-/10"),  # 0.5 ms: under the 1 ms floor
        (100.255, 100.258, "S", "bolide-shard-1-/11"),  # asleep 3 ms of a 9 ms interval: a nap
        (100.350, 100.356, "S", "bolide-shard-1-/11"),  # asleep 6 ms of a 10 ms interval
        (100.450, 100.470, "D", "bolide-shard-1-/11"),  # blocked 20 ms, but a burst explains 0.5
    ]
    bs = [(100.46, 100.47, 0, "kworker/0:1/9")]
    ivs = [iv(0.2, 7), iv(0.3, 9), iv(0.4, 10), iv(0.5, 25)]
    slow, causes, _ = stalls.attribute(ivs, t0, bs, (100.0, 101.0), 5.0, off, 0.001)
    # | interval | shard off CPU in [start - max, end]        | cause           |
    # | 0.2      | shard-0 preempted 3 ms                     | shard preempted |
    # | 0.3      | preempted 0.5 ms, asleep 3 ms of 9         | none seen       |
    # | 0.4      | asleep 6 ms of 10                          | shard asleep    |
    # | 0.5      | blocked 20 ms, a kworker burst overlaps    | kworker         |
    assert [(i["t_s"], c) for i, c, _, _ in slow] == [
        (0.2, "shard preempted"), (0.3, "none seen"), (0.4, "shard asleep"), (0.5, "kworker"),
    ]
    assert [a[0][3] if a else None for _, _, _, a in slow] == [
        "bolide-shard-0-/10", None, "bolide-shard-1-/11", "bolide-shard-1-/11",
    ]
    line = ("[001]   523.250436: sched:sched_switch: prev_comm=bolide-shard-0- prev_pid=6515 prev_prio=120 "
            "prev_state=R+ ==> next_comm=tokio-rt-worker next_pid=75 next_prio=120")
    m = stalls.SHARD_SWITCH.search(line)
    assert m.group(3, 4, 5, 6, 7) == ("bolide-shard-0-", "6515", "R+", "tokio-rt-worker", "75")
    assert stalls.LEFT_AS["R+"] == "shard preempted"


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


def test_disk_waits_pair_each_file_op_of_ours_with_its_completion():
    ios = [
        (10.000, "complete", "0xa", "0", "bolide-shard-0-"),  # submitted before the trace: skipped
        (10.001, "submit", "0xa", "WRITE_FIXED", "bolide-shard-0-"),
        (10.002, "submit", "0xb", "POLL_ADD", "bolide-shard-0-"),  # a socket: never a disk wait
        (10.003, "submit", "0xc", "WRITE_FIXED", "kworker/0:1"),  # not ours
        (10.004, "submit", "0xd", "FSYNC", "bolide-shard-1-"),
        (10.019, "complete", "0xa", "4096", "bolide-shard-0-"),  # 18 ms: a disk wait
        (10.020, "complete", "0xb", "1", "bolide-shard-0-"),
        (10.021, "complete", "0xc", "4096", "kworker/0:1"),
        (10.022, "submit", "0xa", "WRITE", "bench-0-2"),  # the address reused by a non-file op
        (10.0245, "complete", "0xd", "0", "bolide-shard-1-"),  # 20.5 ms
        (10.040, "complete", "0xa", "-125", "bench-0-2"),  # not the WRITE_FIXED's completion
        (10.041, "submit", "0xe", "READ_FIXED", "bolide-shard-1-"),
        (10.042, "complete", "0xe", "8192", "bolide-shard-1-"),  # 1 ms: under the floor
        (10.150, "submit", "0xf", "WRITE", "bolide-shard-0-"),  # a sealed chunk, in place
        (10.150, "submit", "0x10", "WRITE", "bolide-shard-1-"),  # a timer's eventfd
        (10.171, "complete", "0x10", "8", "bolide-shard-1-"),
        (10.172, "complete", "0xf", "1048576", "bolide-shard-0-"),  # 22 ms
    ]
    got = stalls.disk_waits(ios, OURS, 0.005)
    assert [(s, e, c, n) for s, e, c, n in got] == [
        (10.001, 10.019, None, "disk WRITE_FIXED/bolide-shard-0-"),
        (10.004, 10.0245, None, "disk FSYNC/bolide-shard-1-"),
        (10.150, 10.172, None, "disk WRITE/bolide-shard-0-"),
    ]
    # A disk wait is a cause like a foreign burst: the longest overlapping one names the interval.
    slow, causes, _ = stalls.attribute([iv(0.1, 25)], 10.0, got, (9.0, 11.0), 5.0)
    assert causes == {"disk FSYNC": 1}


def test_a_write_is_the_disks_only_when_it_wrote_whole_pages_or_failed():
    # One row of stalls.is_disk_op's table each.
    assert stalls.is_disk_op("FSYNC", "0")  # 1
    assert stalls.is_disk_op("WRITE_FIXED", "8")  # 1: whatever the result
    assert stalls.is_disk_op("WRITE", "1048576")  # 2
    assert stalls.is_disk_op("WRITE", "-28")  # 3: ENOSPC
    assert not stalls.is_disk_op("WRITE", "8")  # 4: an eventfd
    assert not stalls.is_disk_op("WRITE", "-125")  # 4: a timer's link cancelled
    assert not stalls.is_disk_op("WRITE", "100")  # 4


def test_io_lines_of_perf_script_are_read_as_submissions_and_completions():
    lines = [
        " bolide-shard-1-   523.250436: io_uring:io_uring_submit_req: ring 0xffff888149d88800, "
        "req 0xffff888109791b00, user_data 0xc, opcode WRITE_FIXED, flags 0x400000, sq_thread 0",
        " bolide-shard-1-   523.252598:   io_uring:io_uring_complete: ring 0xffff888149d88800, "
        "req 0xffff888109791b00, user_data 0xc, result 8192, cflags 0x0 extra1 0 extra2 0 ",
        " kworker/1:1H-kb   523.250055:         block:block_rq_issue: 254,0 FF 0 () 0 + 0 0x0,0,0",
    ]
    got = [m.groups() for m in map(stalls.IO_LINE.search, lines) if m]
    assert got == [
        ("bolide-shard-1-", "523.250436", "submit_req", "0xffff888109791b00", "WRITE_FIXED", None),
        ("bolide-shard-1-", "523.252598", "complete", "0xffff888109791b00", None, "8192"),
    ]


def test_the_disk_floor_reads_fios_grouped_write_latency_in_ms():
    report = {"jobs": [{"write": {"iops": 3248.46, "lat_ns": {
        "max": 11070000, "percentile": {"50.000000": 130000, "99.000000": 4360000, "99.990000": 10810000}}}}]}
    assert disk.summary(report) == {"iops": 3248.5, "max": 11.07, "p50": 0.13, "p99": 4.36, "p99_99": 10.81}
    assert disk.line("busy", disk.summary(report)) == \
        "busy: 3248 writes/s, p50 0.13 / p99 4.36 / p99.99 10.81 / max 11.07 ms"
