"""(d) Orderly: messages sent with send_orderly and one sharding key arrive in send order.

send_orderly(msg, arg) with an int arg picks queue arg % queueCount on the client, so the broker must
honour the requested queueId exactly and keep per-queue order; the orderly push consumer must lock the
queue (LOCK_BATCH_MQ) and is handed messages one queue at a time, in queue order. Two sharding keys are
interleaved to show that each key's sequence is kept independently.
"""
import clients
from clients import SendStatus, make_message, unique, wait_until

N = 150
SHARDING_KEYS = (1, 2)


def test_orderly_one_key_arrives_in_send_order(broker):
    topic = unique("Orderly")
    group = unique("CG")
    with clients.ready_consumers(broker.namesrv, group, topic, orderly=True) as (p, received):
        send_offsets = {k: [] for k in SHARDING_KEYS}
        for i in range(N):
            for key in SHARDING_KEYS:
                msg = make_message(topic, "%d:%d" % (key, i), keys="k%d-%d" % (key, i), tags="O")
                r = p.send_orderly(msg, key)
                assert r.status == SendStatus.OK, "orderly send key %d #%d: %r" % (key, i, r)
                send_offsets[key].append(r.offset)
        for key, offs in send_offsets.items():
            assert offs == sorted(offs) and len(set(offs)) == len(offs), \
                "queue offsets returned for key %d are not strictly increasing: %s" % (key, offs)
        wait_until(lambda: all(len(received.keys("k%d-" % k)) == N for k in SHARDING_KEYS), 60,
                   lambda: "all %d messages per key; have %s" % (
                       N, {k: len(received.keys("k%d-" % k)) for k in SHARDING_KEYS}))
    for key in SHARDING_KEYS:
        recs = [m for m in received.snapshot() if m["keys"].startswith("k%d-" % key)]
        seq = [int(m["body"].split(b":")[1]) for m in recs]
        queues = {m["queue_id"] for m in recs}
        assert queues == {key % clients.QUEUES}, "key %d: expected queue %d, delivered from %s" % (
            key, key % clients.QUEUES, queues)
        assert seq == list(range(N)), "key %d: delivery order differs from send order (first differences: %s)" % (
            key, [(i, s) for i, s in enumerate(seq) if s != i][:10])
        offs = [m["queue_offset"] for m in recs]
        assert offs == sorted(offs), "key %d: queue offsets delivered out of order: %s" % (key, offs[:40])
