"""The C++ push consumer (PyPI rocketmq 0.4.4) as a process of its own, for tests whose consumer
runs on another host (`netns.Host.popen`); the replication tests use it (issue #13):

  consume --namesrv ADDR --group G --topic T --out FILE --stop-file F [--max-seconds S]
      subscribes group G (clustering) to T with `*` and writes one JSON line per delivered message,
      flushed at once: {"key", "queue_id", "offset", "body", "t"} ("t": seconds since the epoch);
      consumption is acknowledged (the callback returns normally). Runs until the stop file exists
      (or S seconds), then shuts the consumer down, which commits its offsets to the broker the
      client reaches for them, and writes {"done": true}.

A separate file from netns_client.py (producer and whole-topic reader) so that each stays one
purpose; the C++ client keeps native threads and global state per process, hence a process.
"""
import argparse
import json
import os
import sys
import threading
import time
import uuid

from rocketmq.client import PushConsumer


def consume(a, out):
    lock = threading.Lock()

    def on_message(msg):
        rec = {"key": (msg.keys or b"").decode("utf-8", "replace"), "queue_id": msg.queue_id,
               "offset": msg.queue_offset, "body": (msg.body or b"").decode("utf-8", "replace"),
               "t": time.time()}
        with lock:
            out.write(json.dumps(rec) + "\n")
            out.flush()

    c = PushConsumer(a.group)
    c.set_instance_name("cons_%s" % uuid.uuid4().hex[:10])
    c.set_namesrv_addr(a.namesrv)
    c.subscribe(a.topic, on_message, "*")
    c.start()
    deadline = time.monotonic() + a.max_seconds
    try:
        while not os.path.exists(a.stop_file) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        c.shutdown()
    with lock:
        out.write(json.dumps({"done": True}) + "\n")
        out.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["consume"])
    ap.add_argument("--namesrv", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop-file", required=True)
    ap.add_argument("--max-seconds", type=float, default=600)
    a = ap.parse_args()
    with open(a.out, "a") as out:
        consume(a, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
