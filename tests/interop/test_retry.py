"""A message the consumer cannot process (RECONSUME_LATER) is delivered again, not lost (§8).

The C++ client answers RECONSUME_LATER with CONSUMER_SEND_MSG_BACK (36): a Java broker stores the
message in %RETRY%<group> with delay level 3 + reconsumeTimes (10 s for the first retry), and the
consumer, subscribed to its retry topic, gets it again with reconsumeTimes 1 under the original topic.
"""
import threading
import time

import pytest

import clients
from clients import SendStatus, make_message, unique, wait_until


@pytest.mark.xfail(strict=True, reason="CONSUMER_SEND_MSG_BACK (36) is not implemented yet (docs/ARCHITECTURE.md: "
                   "retry/DLQ planned): bolide answers 3 and the C++ client drops the message. strict: "
                   "remove this mark when retry lands")
def test_reconsume_later_is_redelivered(broker):
    topic = unique("Retry")
    group = unique("CG")
    deliveries = []
    lock = threading.Lock()

    def on_message(msg):
        keys = (msg.keys or b"").decode()
        with lock:
            deliveries.append((keys, msg.reconsume_times, msg.topic, msg.body, time.monotonic()))
            first = sum(1 for d in deliveries if d[0] == keys) == 1
        return 1 if keys == "retry-me" and first else 0

    received = clients.Received()  # probes only
    with clients.producer(broker.namesrv) as p:
        clients.create_topic(p, topic)
        with clients.push_consumer_with_status(broker.namesrv, group, topic, on_message):
            # probe barrier, recording the probes through the Received helper
            def probe_view():
                with lock:
                    return [{"keys": k, "consumer": "c", "queue_id": 0} for k, *_ in deliveries if k.startswith("probe-")]
            received.snapshot = probe_view
            clients.await_consumers_ready(p, topic, received, ["c"])
            t_sent = time.monotonic()
            for k in ("before", "retry-me", "after"):
                r = p.send_sync(make_message(topic, "body of " + k, keys=k, tags="R"))
                assert r.status == SendStatus.OK

            def seen(k):
                with lock:
                    return [d for d in deliveries if d[0] == k]

            wait_until(lambda: seen("before") and seen("after") and len(seen("retry-me")) >= 2, 40,
                       lambda: "redelivery of the message that asked for RECONSUME_LATER (deliveries so far: %s)"
                       % [(d[0], d[1]) for d in deliveries if not d[0].startswith("probe-")])
    again = seen("retry-me")[1]
    print("redelivered %.1f s after the send, reconsumeTimes %d, topic %s" % (again[4] - t_sent, again[1], again[2]))
    assert again[2] == topic, "redelivered under topic %r (the client renames %%RETRY%% back to RETRY_TOPIC)" % again[2]
    assert again[3] == b"body of retry-me"
    assert again[1] >= 1, "redelivered with reconsumeTimes %d" % again[1]
