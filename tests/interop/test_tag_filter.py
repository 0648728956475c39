"""(c) A tag expression delivers exactly the matching messages.

The consumer subscribes with "TagA || TagC". Messages tagged TagA, TagB, TagC, TagD and untagged are
interleaved. The C++ client sends garbage in the heartbeat codeSet (atoi of the tag) but the expression
in every pull, so the broker must filter with Java String.hashCode of the tags (§6.1, §7.2). The C++
client re-filters by tag string too, so this test proves "all TagA/TagC arrive" end to end; that the
broker itself filters is checked with raw pulls in test_raw_frames.py.
"""
import time

import clients
from clients import SendStatus, make_message, unique, wait_until

TAGS = ["TagA", "TagB", "TagC", "TagD", None]


def test_tag_expression_delivers_only_and_all_matching(broker):
    topic = unique("Tags")
    group = unique("CG")
    received = clients.Received()
    with clients.producer(broker.namesrv) as p:
        clients.create_topic(p, topic, tags="TagA")
        with clients.push_consumer(broker.namesrv, group, topic, received.callback("c"),
                                   expression="TagA || TagC", threads=1):
            # probes carry TagC so the subscription lets them through
            clients.await_consumers_ready(p, topic, received, ["c"], tags="TagC")
            want = set()
            sent = {}
            for i in range(200):
                tag = TAGS[i % len(TAGS)]
                k = "m-%d" % i
                r = p.send_sync(make_message(topic, "body %d" % i, keys=k, tags=tag))
                assert r.status == SendStatus.OK, "send %s: %r" % (k, r)
                sent[k] = tag
                if tag in ("TagA", "TagC"):
                    want.add(k)
            # a TagC end marker per queue: once each is in, everything before it in that queue was pulled
            for q in range(clients.QUEUES):
                p.send_orderly(make_message(topic, "end", keys="end-%d" % q, tags="TagC"), q)
            wait_until(lambda: want <= received.keys("m-") and len(received.keys("end-")) == clients.QUEUES, 60,
                       lambda: "all %d TagA/TagC messages and end markers; missing %s" % (
                           len(want), sorted(want - received.keys("m-"))[:20]))
            time.sleep(0.5)
    got = received.by_key("m-")
    unexpected = {k: sent[k] for k in got if k not in want}
    assert not unexpected, "delivered although the subscription is 'TagA || TagC': %s" % unexpected
    wrong_tag = {k: recs[0]["tags"] for k, recs in got.items() if recs[0]["tags"] != sent[k]}
    assert not wrong_tag, "tags changed in transit: %s" % wrong_tag
