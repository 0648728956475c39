"""Delay levels (§10): a message with DELAY=2 (5 s) is delivered no earlier than 5 s after it was
stored, keeps its properties, and arrives within a bounded time. The C++ client sets the DELAY property
with Message.set_delay_time_level."""
import threading
import time

import clients
from clients import SendStatus, make_message, unique, wait_until


def test_delay_level_defers_delivery(broker):
    topic = unique("Delay")
    group = unique("CG")
    with clients.ready_consumers(broker.namesrv, group, topic, props=("color",)) as (p, received):
        m = make_message(topic, "later", keys="delayed", tags="D", props={"color": "red"})
        m.set_delay_time_level(2)
        t0 = time.monotonic()
        r = p.send_sync(m)
        assert r.status == SendStatus.OK, "delayed send: %r" % (r,)
        p.send_sync(make_message(topic, "now", keys="immediate", tags="D"))
        wait_until(lambda: "delayed" in received.keys() and "immediate" in received.keys(), 30,
                   lambda: "both messages (have %s)" % sorted(received.keys() - {""})[-5:])
    recs = received.by_key()
    after = recs["delayed"][0]["t"] - t0
    assert after >= 4.5, "a DELAY=2 (5 s) message was delivered %.2f s after the send" % after
    assert recs["delayed"][0]["body"] == b"later" and recs["delayed"][0]["props"]["color"] == "red"
    assert recs["delayed"][0]["topic"] == topic
