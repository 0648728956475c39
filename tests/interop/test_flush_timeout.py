"""FLUSH_DISK_TIMEOUT (10) in SYNC_FLUSH: stored but not durable in time (§5.5).

With syncFlushTimeout=0 the flush cannot finish in time, so sync sends answer 10. Clients treat 10 as
"stored" (SendStatus FLUSH_DISK_TIMEOUT, not an error) and parse the send header, so the response must
carry msgId, queueId and queueOffset as strings, and the message must be consumable.
"""
import pytest

import clients
import remoting
from clients import make_message, unique
import test_send_modes
from test_raw_frames import pull, send_v2

FLUSH_DISK_TIMEOUT = 10


@pytest.mark.broker(flush="sync", sets=["syncFlushTimeout=0"])
def test_flush_disk_timeout_is_a_stored_send(broker):
    topic = unique("FlushTO")
    with remoting.Conn(broker.host, broker.broker_port) as c:
        codes = []
        for i in range(10):
            r = send_v2(c, topic, b"m%d" % i, {"KEYS": "k%d" % i}, queue_id=0)
            codes.append(r.code)
            if r.code == FLUSH_DISK_TIMEOUT:
                missing = [k for k in ("msgId", "queueId", "queueOffset") if not isinstance(r.ext.get(k), str)]
                assert not missing, "FLUSH_DISK_TIMEOUT without the send header fields %s: %r" % (missing, r.header)
        if FLUSH_DISK_TIMEOUT not in codes:
            pytest.skip("syncFlushTimeout=0 did not provoke FLUSH_DISK_TIMEOUT (codes %s)" % codes)
        assert set(codes) <= {0, FLUSH_DISK_TIMEOUT}, "send codes %s" % codes
        p = pull(c, unique("G"), topic, 0, 0)
        assert p.code == remoting.SUCCESS
        assert [x["body"] for x in remoting.decode_records(p.body)] == [b"m%d" % i for i in range(10)], \
            "messages answered FLUSH_DISK_TIMEOUT must be stored"
    # The C++ client 1.2 treats any status but SEND_OK as "try another queue" (retryTimes 2) and finally
    # raises "No route info" - client behaviour, the same against a Java broker. What the broker owes it:
    # every attempt answered FLUSH_DISK_TIMEOUT was stored.
    with clients.producer(broker.namesrv) as prod:
        try:
            outcome = prod.send_sync(make_message(topic, "via C++", keys="cpp")).status.name
        except Exception as e:
            outcome = "exception: %s" % str(e).splitlines()[0][:120]
    print("C++ client send_sync: %s" % outcome)
    stored = [x for x in test_send_modes.pull_all(broker, topic) if x["body"] == b"via C++"]
    assert stored, "the C++ send answered FLUSH_DISK_TIMEOUT was not stored (client outcome: %s)" % outcome
    print("stored %d time(s) (the client re-sends on FLUSH_DISK_TIMEOUT)" % len(stored))
