"""Concurrent producers and a two-consumer group under moderate load: nothing lost, nothing mixed up.

Four threads share one C++ producer (sync and async sends interleaved) while two push consumers of one
group consume. At most 1% of sends may fail (client-side lock contention, see below); every acknowledged
message must arrive with its own body; within each queue the
delivered queue offsets must be distinct per message (no two messages at one offset) and, together,
contiguous (no hole the consumers skipped).
"""
import threading
import time

import clients
from clients import SendStatus, make_message, unique, wait_until

THREADS = 4
PER_THREAD = 750


def test_concurrent_sends_and_group_consumption_lose_nothing(broker):
    topic = unique("Load")
    group = unique("CG")
    received = clients.Received()
    acked, errors = {}, []
    lock = threading.Lock()

    def body_of(k):
        return ("%s|" % k + "x" * (64 + hash(k) % 512)).encode()

    def worker(p, t):
        pending = threading.Semaphore(64)
        for i in range(PER_THREAD):
            k = "t%d-%d" % (t, i)
            msg = make_message(topic, body_of(k).decode(), keys=k, tags="T%d" % t)
            try:
                if i % 3 == 2:
                    pending.acquire()

                    def ok(r, k=k):
                        with lock:
                            if r.status == SendStatus.OK:
                                acked[k] = r
                            else:
                                errors.append((k, r.status))
                        pending.release()

                    def err(e, k=k):
                        with lock:
                            errors.append((k, str(e)[:100]))
                        pending.release()

                    with lock:
                        keep.append(msg)
                    p.send_async(msg, ok, err)
                else:
                    r = p.send_sync(msg)
                    with lock:
                        if r.status == SendStatus.OK:
                            acked[k] = r
                        else:
                            errors.append((k, r.status))
            except Exception as e:
                with lock:
                    errors.append((k, str(e)[:100]))

    keep = []
    with clients.producer(broker.namesrv) as p:
        clients.create_topic(p, topic)
        with clients.push_consumer(broker.namesrv, group, topic, received.callback("A")), \
                clients.push_consumer(broker.namesrv, group, topic, received.callback("B")):
            clients.await_consumers_ready(p, topic, received, ["A", "B"], timeout=90)
            t0 = time.monotonic()
            threads = [threading.Thread(target=worker, args=(p, t), daemon=True) for t in range(THREADS)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=120)
            wait_until(lambda: len(acked) + len(errors) == THREADS * PER_THREAD, 60,
                       lambda: "all sends to finish (%d acked, %d errors)" % (len(acked), len(errors)))
            send_s = time.monotonic() - t0
            # The C++ client occasionally fails a send locally under thread contention ("GetTransport ...
            # get timed_mutex timeout" in its log: the request never leaves the client). Those are simply not
            # acknowledged; the broker's part is that every acknowledged message arrives.
            assert len(errors) <= THREADS * PER_THREAD // 100, "%d sends failed: %s" % (len(errors), errors[:5])
            want = set(acked)
            wait_until(lambda: want <= received.keys("t"), 90,
                       lambda: "every acknowledged message; %d missing, e.g. %s" % (
                           len(want - received.keys("t")), sorted(want - received.keys("t"))[:10]))
            total_s = time.monotonic() - t0
            time.sleep(0.5)
    msgs = [m for m in received.snapshot() if m["keys"].startswith("t")]
    wrong = [m["keys"] for m in msgs if m["body"] != body_of(m["keys"])]
    assert not wrong, "messages delivered with another message's body: %s" % wrong[:10]
    by_queue = {}
    for m in msgs:
        by_queue.setdefault(m["queue_id"], {}).setdefault(m["queue_offset"], set()).add(m["keys"])
    clashes = {q: {o: ks for o, ks in offs.items() if len(ks) > 1} for q, offs in by_queue.items()}
    clashes = {q: c for q, c in clashes.items() if c}
    assert not clashes, "different messages delivered at one queue offset: %s" % {q: list(c.items())[:3] for q, c in clashes.items()}
    holes = {}
    for q, offs in by_queue.items():
        lo, hi = min(offs), max(offs)
        missing = sorted(set(range(lo, hi + 1)) - set(offs))
        if missing:
            holes[q] = missing[:10]
    assert not holes, "queue offsets with no delivered message inside the consumed range: %s" % holes
    dups = len(msgs) - len({m["keys"] for m in msgs})
    if errors:
        print("sends not acknowledged (client-side failures): %s" % errors[:10])
    print("%d messages: sends took %.1f s, all consumed after %.1f s, %d duplicate deliveries, per queue %s" % (
        len(want), send_s, total_s, dups, {q: len(o) for q, o in sorted(by_queue.items())}))
