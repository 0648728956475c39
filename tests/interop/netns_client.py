"""The C++ client (PyPI rocketmq 0.4.4) as a process of its own, for tests whose client runs on
another host (`netns.Host.popen`). Two modes, each bounded in count and time:

  produce --namesrv ADDR --topic T --out FILE [--stop-file F] [--max-count N] [--max-seconds S]
          [--interval-ms MS] [--timeout-ms MS]
      sends messages with keys k000000, k000001, ... one at a time (send_sync) until the stop file
      exists or a limit is reached; writes one JSON line per send to FILE, flushed at once:
      {"key", "ok": true, "status", "msg_id", "offset", "t"} or {"key", "ok": false, "error", "t"}
      ("t": seconds since the epoch). A send that raised was not acknowledged; what the client
      did inside it (its retries on other brokers) is its own business.

  read --namesrv ADDR --topic T --out FILE [--max-seconds S]
      reads every queue of T (on every broker of its route) from offset 0 to its end with the C++
      pull consumer and writes one JSON line per message: {"key", "broker", "queue_id", "offset",
      "body"}; the last line is {"done": true, "queues": N}.
"""
import argparse
import json
import os
import sys
import time
import uuid

import ctypes

from rocketmq.client import Message, Producer, PullConsumer, RecvMessage, SendStatus
from rocketmq.exceptions import ffi_check
from rocketmq.ffi import _CMessageQueue, _CPullStatus, dll

dll.SetProducerInstanceName.argtypes = [ctypes.c_void_p, ctypes.c_char_p]


def produce(a, out):
    p = Producer("PG_%s" % uuid.uuid4().hex[:10], timeout=a.timeout_ms)
    dll.SetProducerInstanceName(p._handle, ("prod_%s" % uuid.uuid4().hex[:10]).encode())
    p.set_namesrv_addr(a.namesrv)
    p.start()
    deadline = time.monotonic() + a.max_seconds
    try:
        for i in range(a.max_count):
            if time.monotonic() >= deadline or (a.stop_file and os.path.exists(a.stop_file)):
                break
            key = "k%06d" % i
            m = Message(a.topic)
            m.set_keys(key)
            m.set_body("body-" + key)
            try:
                r = p.send_sync(m)
                rec = {"key": key, "ok": r.status == SendStatus.OK, "status": int(r.status),
                       "msg_id": r.msg_id, "offset": r.offset}
            except Exception as e:  # the client gave up on this message: not acknowledged
                rec = {"key": key, "ok": False, "error": "%s: %s" % (type(e).__name__, e)}
            rec["t"] = time.time()
            out.write(json.dumps(rec) + "\n")
            out.flush()
            time.sleep(a.interval_ms / 1000.0)
    finally:
        p.shutdown()


def read(a, out):
    """Pulls every queue from offset 0 to its end. Its own loop, not the wrapper's `pull()`: that
    one keeps offsets per topic@queueId, so with two brokers (each with queues 0..n) the second
    broker's queue would start at the first one's offset."""
    c = PullConsumer("RG_%s" % uuid.uuid4().hex[:10])
    c.set_namesrv_addr(a.namesrv)
    c.start()
    deadline = time.monotonic() + a.max_seconds
    queues = ctypes.POINTER(_CMessageQueue)()
    n = ctypes.c_int()
    try:
        ffi_check(dll.FetchSubscriptionMessageQueues(c._handle, a.topic.encode(), ctypes.pointer(queues),
                                                     ctypes.pointer(n)))
        try:
            for i in range(n.value):
                mq = queues[i]
                offset = 0
                while True:
                    if time.monotonic() >= deadline:
                        raise SystemExit("read: still reading after %d s" % a.max_seconds)
                    r = dll.Pull(c._handle, ctypes.pointer(mq), b"*", offset, 32)
                    try:
                        if r.pullStatus == _CPullStatus.BROKER_TIMEOUT:
                            time.sleep(0.5)
                            continue
                        if r.pullStatus == _CPullStatus.FOUND:
                            for k in range(r.size):
                                msg = RecvMessage(r.msgFoundList[k])
                                out.write(json.dumps({
                                    "key": (msg.keys or b"").decode(), "broker": mq.brokerName.decode(),
                                    "queue_id": mq.queueId, "offset": msg.queue_offset,
                                    "body": (msg.body or b"").decode()}) + "\n")
                        done = r.pullStatus == _CPullStatus.NO_NEW_MSG or r.nextBeginOffset <= offset
                        offset = r.nextBeginOffset
                    finally:
                        dll.ReleasePullResult(r)
                    if done:
                        break
        finally:
            ffi_check(dll.ReleaseSubscriptionMessageQueue(queues))
        out.write(json.dumps({"done": True, "queues": n.value}) + "\n")
    finally:
        c.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["produce", "read"])
    ap.add_argument("--namesrv", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop-file")
    ap.add_argument("--max-count", type=int, default=100_000)
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--interval-ms", type=int, default=20)
    ap.add_argument("--timeout-ms", type=int, default=3000)
    a = ap.parse_args()
    with open(a.out, "a") as out:
        (produce if a.mode == "produce" else read)(a, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
