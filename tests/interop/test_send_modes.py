"""(a) Every send mode of the C++ client delivers messages intact to a push consumer.

sync (SEND_MESSAGE), oneway (flag bit 1), async (callback) and batch (SEND_BATCH_MESSAGE) sends, each with
distinct keys, tags, user properties and bodies (ASCII, multi-byte UTF-8, and bodies over 4 KiB that the
C++ producer zlib-compresses, setting sysFlag bit 0, which the consumer must inflate). The consumer must
see exactly the same topic, body, keys, tags and user properties; for sync sends also the same message
id (UNIQ_KEY) and queue offset the send result reported.
"""
import threading
import time

import clients
from clients import SendStatus, make_message, unique, wait_until

USER_PROPS = ("color", "n", "empty-ish")


def body_for(mode, i):
    if i % 5 == 3:  # over compressMsgBodyOverHowmuch (4 KiB): sent zlib-compressed with sysFlag 0x1
        return ("%s-%d:" % (mode, i)) + "ünïcødé-€-" * 700
    if i % 5 == 4:
        return "%s-%d: 日本語のメッセージ 🚀" % (mode, i)
    return "%s body %d" % (mode, i)


def sent_message(topic, mode, i):
    key = "%s-%d" % (mode, i)
    spec = {
        "topic": topic,
        "keys": key,
        "tags": "Tag%s%d" % (mode.capitalize(), i % 3),
        "body": body_for(mode, i).encode(),
        "props": {"color": ["red", "green", "blue"][i % 3], "n": str(i), "empty-ish": "x" * (1 + i % 4)},
    }
    msg = make_message(topic, spec["body"].decode(), keys=key, tags=spec["tags"], props=spec["props"])
    return spec, msg


def check_delivery(expected, received, prefix):
    got = received.by_key(prefix)
    missing = sorted(set(expected) - set(got))
    dups = {k: len(v) for k, v in got.items() if len(v) > 1}
    problems = []
    for k, spec in expected.items():
        for rec in got.get(k, []):
            for field in ("topic", "tags", "keys", "body"):
                if rec[field] != spec[field]:
                    problems.append("%s: %s sent %r received %r" % (k, field, spec[field][:80], rec[field][:80]))
            for p, v in spec["props"].items():
                if rec["props"].get(p) != v:
                    problems.append("%s: property %s sent %r received %r" % (k, p, v, rec["props"].get(p)))
            if "id" in spec and rec["id"] != spec["id"]:
                problems.append("%s: send result msgId %s but consumer saw id %s" % (k, spec["id"], rec["id"]))
            if "queue_offset" in spec and rec["queue_offset"] != spec["queue_offset"]:
                problems.append("%s: send result offset %s but consumer saw queue offset %s"
                                % (k, spec["queue_offset"], rec["queue_offset"]))
    return missing, dups, problems


def test_sync_oneway_async_batch_arrive_intact(broker):
    topic = unique("SendModes")
    group = unique("CG")
    received = clients.Received()
    n = 20
    with clients.producer(broker.namesrv) as p:
        clients.create_topic(p, topic)
        with clients.push_consumer(broker.namesrv, group, topic,
                                   received.callback("c1", USER_PROPS)):
            clients.await_consumers_ready(p, topic, received, ["c1"])
            expected = {}

            # sync
            for i in range(n):
                spec, msg = sent_message(topic, "sync", i)
                r = p.send_sync(msg)
                assert r.status == SendStatus.OK, "sync send %d: %r" % (i, r)
                spec["id"], spec["queue_offset"] = r.msg_id, r.offset
                expected[spec["keys"]] = spec

            # oneway: no acknowledgement, but the broker must store them all
            for i in range(n):
                spec, msg = sent_message(topic, "oneway", i)
                p.send_oneway(msg)
                expected[spec["keys"]] = spec

            # async: every callback must report success
            results, errors = {}, {}
            lock = threading.Lock()
            keep = []
            for i in range(n):
                spec, msg = sent_message(topic, "async", i)
                k = spec["keys"]

                def ok(res, k=k):
                    with lock:
                        results[k] = res

                def err(exc, k=k):
                    with lock:
                        errors[k] = exc

                keep.append(msg)  # the C++ client reads the message after send_async returns
                p.send_async(msg, ok, err)
                expected[k] = spec
            wait_until(lambda: len(results) + len(errors) == n, 30,
                       lambda: "async callbacks (%d ok, %d errors of %d)" % (len(results), len(errors), n))
            assert not errors, "async sends failed: %r" % errors
            bad = {k: r for k, r in results.items() if r.status != SendStatus.OK}
            assert not bad, "async send results not OK: %r" % bad
            for k, r in results.items():
                expected[k]["id"], expected[k]["queue_offset"] = r.msg_id, r.offset

            # batch: two batches of n/2
            for half in range(2):
                msgs = []
                for i in range(half * n // 2, (half + 1) * n // 2):
                    spec, msg = sent_message(topic, "batch", i)
                    msgs.append(msg)
                    expected[spec["keys"]] = spec
                r = p.send_batch(msgs)
                assert r.status == SendStatus.OK, "batch send %d: %r" % (half, r)

            wait_until(lambda: set(expected) <= set(received.by_key()), 60,
                       lambda: "all %d messages; missing %s" % (
                           len(expected), sorted(set(expected) - set(received.by_key()))[:20]))
            time.sleep(0.5)  # let any duplicate show up before judging
            missing, dups, problems = check_delivery(expected, received, "")
    assert not missing, "never delivered: %s" % missing
    assert not problems, "delivered with different content:\n" + "\n".join(problems[:40])
    if dups:
        print("duplicates (at-least-once, allowed): %s" % dups)
