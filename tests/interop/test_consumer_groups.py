"""(b) Clustering consumers share a group's queues; broadcasting consumers each get everything.

Clustering: two push consumers in one group (distinct instance names) must split the topic's queues
between them (GET_CONSUMER_LIST_BY_GROUP must list both, so each client's averaging allocation takes
half) and together receive every message at least once. Duplicates are reported, not failed.
Broadcasting: two consumers of one group each receive every message.
"""
import time

import clients
from clients import MessageModel, SendStatus, make_message, unique, wait_until

N = 200


def send_numbered(p, topic, n, prefix):
    keys = []
    for i in range(n):
        k = "%s-%d" % (prefix, i)
        r = p.send_sync(make_message(topic, "body of %s" % k, keys=k, tags="T"))
        assert r.status == SendStatus.OK, "send %s: %r" % (k, r)
        keys.append(k)
    return keys


def test_clustering_two_consumers_split_queues(broker):
    topic = unique("Cluster")
    group = unique("CG")
    with clients.ready_consumers(broker.namesrv, group, topic, ("A", "B"), timeout=90) as (p, received):
        keys = send_numbered(p, topic, N, "m")
        wait_until(lambda: set(keys) <= received.keys("m-"), 60,
                   lambda: "all %d messages; missing %s" % (N, sorted(set(keys) - received.keys("m-"))[:20]))
        time.sleep(0.5)
    msgs = [m for m in received.snapshot() if m["keys"].startswith("m-")]
    by_consumer = {c: [m for m in msgs if m["consumer"] == c] for c in ("A", "B")}
    queues = {c: sorted({m["queue_id"] for m in ms}) for c, ms in by_consumer.items()}
    counts = {}
    for m in msgs:
        counts[m["keys"]] = counts.get(m["keys"], 0) + 1
    dups = {k: v for k, v in counts.items() if v > 1}
    summary = "A got %d msgs from queues %s, B got %d from queues %s, %d duplicates" % (
        len(by_consumer["A"]), queues["A"], len(by_consumer["B"]), queues["B"], len(dups))
    print(summary)
    assert by_consumer["A"] and by_consumer["B"], "one consumer got nothing: " + summary
    assert not set(queues["A"]) & set(queues["B"]), "both consumers consumed the same queue: " + summary
    assert len(queues["A"]) + len(queues["B"]) == clients.QUEUES, "queues not all consumed: " + summary
    assert len(queues["A"]) == len(queues["B"]) == clients.QUEUES // 2, "uneven split: " + summary


def test_broadcasting_each_consumer_gets_everything(broker):
    topic = unique("Bcast")
    group = unique("CG")
    with clients.ready_consumers(broker.namesrv, group, topic, ("A", "B"), timeout=90, mode="each",
                                 model=MessageModel.BROADCASTING) as (p, received):
        keys = send_numbered(p, topic, N, "m")

        def per_consumer():
            snap = received.snapshot()
            return {c: {m["keys"] for m in snap if m["consumer"] == c and m["keys"].startswith("m-")}
                    for c in ("A", "B")}

        wait_until(lambda: all(set(keys) <= s for s in per_consumer().values()), 60,
                   lambda: "each consumer to get all %d; missing A=%s B=%s" % (
                       N, sorted(set(keys) - per_consumer()["A"])[:10],
                       sorted(set(keys) - per_consumer()["B"])[:10]))


def test_survivor_takes_over_the_queues_of_a_consumer_that_left(broker):
    """§6.2, §6.3, §7.9: when one of two consumers of a group shuts down (UNREGISTER_CLIENT, connection
    closed), the consumer list shrinks and the survivor rebalances to all queues (at once if the broker
    sends NOTIFY_CONSUMER_IDS_CHANGED, else within the client's 20 s rebalance period); it then receives
    every message, including those in the queues the other one had."""
    topic = unique("Leave")
    group = unique("CG")
    received = clients.Received()
    with clients.producer(broker.namesrv) as p:
        clients.create_topic(p, topic)
        with clients.push_consumer(broker.namesrv, group, topic, received.callback("A")):
            with clients.push_consumer(broker.namesrv, group, topic, received.callback("B")):
                clients.await_consumers_ready(p, topic, received, ["A", "B"], timeout=90)
            t0 = time.monotonic()
            clients.await_consumers_ready(p, topic, received, ["A"], timeout=60)
            print("survivor owned every queue %.1f s after the other consumer left" % (time.monotonic() - t0))
            keys = send_numbered(p, topic, 100, "after")
            wait_until(lambda: set(keys) <= received.keys("after-"), 60,
                       lambda: "survivor to get all 100; missing %s" % sorted(set(keys) - received.keys("after-"))[:10])
    assert {m["consumer"] for m in received.snapshot() if m["keys"].startswith("after-")} == {"A"}
