#!/usr/bin/env python3
"""Transactions per second (issue #11): a half message (SEND_MESSAGE_V2 with TRAN_MSG, PREPARED) answered,
then END_TRANSACTION commit (oneway, as every client sends it) = one transaction.

Usage:
    perf/txn.py [--broker 127.0.0.1:10911] [--procs 2] [--window 64] [--duration 10] [--size 256]

Starts nothing: point it at a running broker (Bolide or the Java reference). `--procs` client processes,
each with one connection and `--window` half messages in flight (pipelined; each answer immediately
sends its commit and the next half). Prints transactions/s and half-send latency percentiles, then checks
that every committed message became visible exactly once on the topic (sum of max offsets equals the
commits sent), so a fast broker that drops commits cannot pass.

The client is Python (raw frames from tests/interop/remoting.py): on a small machine it is likely the
bottleneck, which the report says by printing the client processes' CPU time next to the wall time.
"""
import argparse
import multiprocessing as mp
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
import remoting as rm  # noqa: E402

END_TRANSACTION = 37
GET_MAX_OFFSET = 30
UPDATE_AND_CREATE_TOPIC = 17
PREPARED = 0x4
COMMIT = 8


def worker(args, topic, group, idx, out):
    host, port = args.broker.split(":")
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = b"x" * args.size
    opaque = [idx * 10_000_000]
    sent_at = {}
    lat_us = []
    commits = 0
    buf = bytearray()

    def send_half(n):
        opaque[0] += 1
        props = {"TRAN_MSG": "true", "PGROUP": group, "UNIQ_KEY": "%08X%010d" % (idx, n), "TAGS": "tx"}
        ext = rm.send_v2_ext(group, topic, props, queue_id=n % 4, sys_flag=PREPARED)
        sent_at[opaque[0]] = time.perf_counter()
        return rm.encode_request(rm.SEND_MESSAGE_V2, opaque[0], ext, body)

    n = 0
    s.sendall(b"".join(send_half(n + i) for i in range(args.window)))
    n += args.window
    start = time.perf_counter()
    deadline = start + args.duration
    out_frames = []
    while sent_at:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise RuntimeError("broker closed the connection")
        buf += chunk
        while len(buf) >= 4:
            (total,) = struct.unpack_from(">I", buf, 0)
            if len(buf) < total + 4:
                break
            f = rm.decode_frame_bytes(bytes(buf[: total + 4]))
            del buf[: total + 4]
            t0 = sent_at.pop(f.opaque, None)
            if t0 is None:
                continue
            if f.code != rm.SUCCESS:
                raise RuntimeError("half send failed: %s %s" % (f.code, f.remark))
            lat_us.append((time.perf_counter() - t0) * 1e6)
            ext = f.ext
            _, _, phys = rm.decode_offset_msg_id(ext["msgId"])
            opaque[0] += 1
            end = {"producerGroup": group, "tranStateTableOffset": ext["queueOffset"],
                   "commitLogOffset": str(phys), "commitOrRollback": str(COMMIT),
                   "fromTransactionCheck": "false", "msgId": ext.get("transactionId", "")}
            out_frames.append(rm.encode_request(END_TRANSACTION, opaque[0], end, flag=rm.FLAG_ONEWAY))
            commits += 1
            if time.perf_counter() < deadline:
                out_frames.append(send_half(n))
                n += 1
        if out_frames:
            s.sendall(b"".join(out_frames))
            out_frames = []
    wall = time.perf_counter() - start
    s.close()
    out.put((commits, wall, lat_us, time.process_time()))


def create_topic(broker, topic):
    """Creates the topic first: concurrent first sends racing its auto-creation are not what we measure."""
    host, port = broker.split(":")
    with rm.Conn(host, int(port)) as c:
        ext = {"topic": topic, "defaultTopic": "TBW102", "readQueueNums": "4", "writeQueueNums": "4",
               "perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}
        r = c.request(UPDATE_AND_CREATE_TOPIC, ext)
        if r.code != rm.SUCCESS:
            raise RuntimeError("create topic: %s %s" % (r.code, r.remark))


def max_offsets(broker, topic):
    host, port = broker.split(":")
    with rm.Conn(host, int(port)) as c:
        total = 0
        for q in range(4):
            r = c.request(GET_MAX_OFFSET, {"topic": topic, "queueId": str(q)})
            total += int(r.ext.get("offset", "0"))
        return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", default="127.0.0.1:10911")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    stamp = "%x" % int(time.time() * 1000)
    topic, group = "TxnBench_" + stamp, "TxnBenchPG_" + stamp
    create_topic(args.broker, topic)
    out = mp.Queue()
    procs = [mp.Process(target=worker, args=(args, topic, group, i, out)) for i in range(args.procs)]
    for p in procs:
        p.start()
    results = [out.get(timeout=args.duration + 120) for _ in procs]
    for p in procs:
        p.join()
    commits = sum(r[0] for r in results)
    wall = max(r[1] for r in results)
    cpu = sum(r[3] for r in results)
    lat = sorted(x for r in results for x in r[2])
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0  # noqa: E731
    deadline = time.time() + 60
    visible = max_offsets(args.broker, topic)
    while visible < commits and time.time() < deadline:
        time.sleep(0.2)
        visible = max_offsets(args.broker, topic)
    print("txn: %d transactions in %.1f s = %.0f tx/s (%d procs x %d in flight, %d B); half-send latency "
          "p50 %.0f us p99 %.0f us p99.9 %.0f us; client CPU %.1f s of %.1f s wall x %d procs"
          % (commits, wall, commits / wall, args.procs, args.window, args.size, pct(0.5), pct(0.99),
             pct(0.999), cpu, wall, args.procs))
    print("txn: visible on %s: %d of %d committed" % (topic, visible, commits))
    if visible != commits:
        print("txn: FAILED: committed messages visible %d, expected exactly %d" % (visible, commits))
        sys.exit(1)


if __name__ == "__main__":
    main()
