#!/usr/bin/env python3
"""Filtered pull throughput: how fast a consumer drains a backlog through SQL92 filters vs tags.

Starts a fresh broker (release binary), preloads MESSAGES messages of SIZE bytes into one queue (each with
properties n = i, color = red on every 10th), then drains the queue from offset 0 with pulls of 32
messages for each filter and prints consume-queue entries scanned per second and messages delivered per
second, plus the broker CPU per scanned entry (from /proc, user+system ticks over the drain).

    perf/filtered-pull.py                       # MESSAGES=100000 SIZE=256
    MESSAGES=20000 perf/filtered-pull.py        # a short run

The client is Python (tests/interop/remoting.py, one connection, one pull in flight): pulls that deliver
32 messages are bounded by the client; the selective filters (10%, 0.1%) show the broker's scan and
evaluation rate. Record the machine and whether it was shared with the figures.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
import remoting  # noqa: E402
from remoting import Conn  # noqa: E402

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.environ.get("BOLIDE_BIN", os.path.join(TARGET, "release", "bolide"))
MESSAGES = int(os.environ.get("MESSAGES", "100000"))
SIZE = int(os.environ.get("SIZE", "256"))
NS_PORT, BR_PORT = int(os.environ.get("NS_PORT", "19877")), int(os.environ.get("BR_PORT", "20981"))

FILTERS = [  # (label, expressionType, expression)
    ("TAG *", "TAG", "*"),
    ("SQL all (n >= 0)", "SQL92", "n >= 0"),
    ("SQL 10% (color = 'red')", "SQL92", "color = 'red'"),
    ("SQL 10%, 3 conditions", "SQL92", "color = 'red' AND n BETWEEN 0 AND 1000000000 AND TAGS IN ('TagA', 'TagB')"),
    ("SQL 0.1% (n IN ...)", "SQL92", "n IN (%s)" % ", ".join("'%d'" % i for i in range(0, MESSAGES, 1000))),
]


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def main():
    data = tempfile.mkdtemp(prefix="filtered-pull-", dir=os.environ.get("DATA_PARENT", os.getcwd()))
    log = open(data + ".log", "w")
    broker = subprocess.Popen([BIN, "serve", "--data-dir", data, "--namesrv-port", str(NS_PORT),
                               "--broker-port", str(BR_PORT), "--listen-ip", "127.0.0.1", "--broker-ip",
                               "127.0.0.1", "--shards", "1", "--segment-size", str(256 << 20)],
                              stdout=log, stderr=log)
    try:
        deadline = time.time() + 20
        while True:
            try:
                Conn("127.0.0.1", BR_PORT).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        topic = "FilteredPull"
        body = b"x" * SIZE
        t0 = time.time()
        with Conn("127.0.0.1", BR_PORT, timeout=60) as c:
            window = []
            for i in range(MESSAGES):
                props = {"n": str(i), "TAGS": "TagA" if i % 2 else "TagB", "UNIQ_KEY": "U%030d" % i}
                if i % 10 == 0:
                    props["color"] = "red"
                opaque = c.next_opaque()
                c.send_raw(remoting.encode_request(remoting.SEND_MESSAGE_V2, opaque,
                                                   remoting.send_v2_ext("PerfPG", topic, props, 0), body))
                window.append(opaque)
                if len(window) >= 256:
                    for _ in window:
                        f = c.read_frame()
                        assert f.code == remoting.SUCCESS, f
                    window = []
            for _ in window:
                assert c.read_frame().code == remoting.SUCCESS
        print("preloaded %d x %d B in %.1f s" % (MESSAGES, SIZE, time.time() - t0))
        print("| filter | entries scanned/s | messages delivered/s | delivered | broker CPU µs/entry |")
        print("|---|---|---|---|---|")
        hz = os.sysconf("SC_CLK_TCK")
        with Conn("127.0.0.1", BR_PORT, timeout=60) as c:
            for label, etype, expr in FILTERS:
                offset, delivered, pulls = 0, 0, 0
                cpu0, t0 = cpu_ticks(broker.pid), time.time()
                while offset < MESSAGES:
                    r = c.request(remoting.PULL_MESSAGE, {
                        "consumerGroup": "PerfCG", "topic": topic, "queueId": "0", "queueOffset": str(offset),
                        "maxMsgNums": "32", "sysFlag": str(remoting.PULL_SUBSCRIPTION), "commitOffset": "-1",
                        "suspendTimeoutMillis": "0", "subscription": expr, "subVersion": "0",
                        "expressionType": etype})
                    pulls += 1
                    assert r.code in (remoting.SUCCESS, remoting.PULL_RETRY_IMMEDIATELY), (label, r)
                    if r.code == remoting.SUCCESS:
                        delivered += len(remoting.decode_records(r.body))
                    offset = int(r.ext["nextBeginOffset"])
                secs = time.time() - t0
                cpu_us = (cpu_ticks(broker.pid) - cpu0) * 1e6 / hz
                print("| %s | %.0f | %.0f | %d (%d pulls) | %.2f |" % (
                    label, MESSAGES / secs, delivered / secs, delivered, pulls, cpu_us / MESSAGES))
    finally:
        broker.terminate()
        broker.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
        os.unlink(data + ".log")


if __name__ == "__main__":
    main()
