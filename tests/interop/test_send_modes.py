"""(a) Every send mode of the C++ client delivers messages intact to a push consumer.

sync (SEND_MESSAGE, code 10), oneway (flag bit 1) and async (callback) sends, each with
distinct keys, tags, user properties and bodies (ASCII, multi-byte UTF-8, and bodies over 4 KiB that the
C++ producer zlib-compresses, setting sysFlag bit 0, which the consumer must inflate). The consumer must
see exactly the same topic, body, keys, tags and user properties; for sync sends also the same message
id (UNIQ_KEY) and queue offset the send result reported.
"""
import struct
import threading
import time
import zlib

import pytest

import clients
import remoting
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


def test_sync_oneway_async_arrive_intact(broker):
    topic = unique("SendModes")
    group = unique("CG")
    n = 20
    with clients.ready_consumers(broker.namesrv, group, topic, ("c1",), USER_PROPS) as (p, received):
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

        wait_until(lambda: set(expected) <= set(received.by_key()), 60,
                   lambda: "all %d messages; missing %s" % (
                       len(expected), sorted(set(expected) - set(received.by_key()))[:20]))
        time.sleep(0.5)  # let any duplicate show up before judging
        missing, dups, problems = check_delivery(expected, received, "")
    assert not missing, "never delivered: %s" % missing
    assert not problems, "delivered with different content:\n" + "\n".join(problems[:40])
    if dups:
        print("duplicates (at-least-once, allowed): %s" % dups)


def pull_all(broker, topic):
    """Every stored record of `topic`, by raw PULL_MESSAGE over all queues."""
    out = []
    with remoting.Conn(broker.host, broker.broker_port) as c:
        for q in range(clients.QUEUES):
            offset = 0
            for _ in range(100):
                r = c.request(remoting.PULL_MESSAGE, {
                    "consumerGroup": "inspect", "topic": topic, "queueId": q, "queueOffset": str(offset),
                    "maxMsgNums": 32, "sysFlag": remoting.PULL_SUBSCRIPTION, "commitOffset": "-1",
                    "suspendTimeoutMillis": "1000", "subscription": "*", "subVersion": "0"})
                if r.code != remoting.SUCCESS:
                    break
                out += remoting.decode_records(r.body)
                offset = int(r.ext["nextBeginOffset"])
    return out


def decode_client_batch(body):
    """The client-side batch encoding (§5.3): totalSize, magic, crc, flag, body, properties per message."""
    msgs, pos = [], 0
    while pos < len(body):
        total, _magic, _crc, flag, blen = struct.unpack_from(">iiiii", body, pos)
        b = body[pos + 20:pos + 20 + blen]
        (plen,) = struct.unpack_from(">h", body, pos + 20 + blen)
        props = remoting.parse_properties(body[pos + 22 + blen:pos + 22 + blen + plen].decode())
        msgs.append({"body": b, "properties": props, "flag": flag})
        pos += total
    return msgs


@pytest.mark.parametrize("size", ["small", "compressed"])
def test_batch_send_arrives_intact_or_as_java_stores_it(broker, size):
    """send_batch of the C++ client 0.4.4 goes out as SEND_MESSAGE (10) with extField batch="1" (not
    SEND_BATCH_MESSAGE 320: client bug apache/rocketmq-client-cpp#189, #363). A Java broker parses the
    batch flag with Boolean.parseBoolean("1") == false and stores ONE message whose body is the batch
    encoding (what #363 reports). Either outcome is accepted here, anything else (lost or garbled
    messages) fails: (1) the messages stored individually and intact, or (2) exactly one stored message
    whose body decodes to exactly the messages sent. Batches as Java/Go clients send them (320) are
    checked strictly in test_raw_frames.py.
    "small": 10 short messages (< 4 KiB in all). "compressed": bodies up to 7 KiB, so the C++ client
    zlib-compresses the whole batch body and sets sysFlag COMPRESSED on the request (client bug, fixed
    upstream in apache/rocketmq-client-cpp#186)."""
    topic = unique("Batch")
    n = 10
    with clients.producer(broker.namesrv) as p:
        clients.create_topic(p, topic)
        specs, msgs = [], []
        for i in range(n):
            spec, msg = sent_message(topic, "batch", i)
            if size == "small":
                spec["body"] = ("small batch body %d" % i).encode()
                msg = make_message(topic, spec["body"].decode(), keys=spec["keys"], tags=spec["tags"],
                                   props=spec["props"])
            specs.append(spec)
            msgs.append(msg)
        r = p.send_batch(msgs)
        assert r.status == SendStatus.OK, "batch send: %r" % (r,)
    recs = [rec for rec in pull_all(broker, topic) if rec["body"] != b"topic-init"]

    def matches(got_body, got_props, spec):
        return (got_body == spec["body"] and got_props.get("KEYS") == spec["keys"]
                and got_props.get("TAGS") == spec["tags"]
                and all(got_props.get(k) == v for k, v in spec["props"].items()))

    if len(recs) == n:
        by_key = {rec["properties"].get("KEYS"): rec for rec in recs}
        bad = [s["keys"] for s in specs if s["keys"] not in by_key
               or not matches(by_key[s["keys"]]["body"], by_key[s["keys"]]["properties"], s)]
        assert not bad, "batch stored as %d messages but these differ from what was sent: %s" % (n, bad)
        print("batch stored as %d individual messages" % n)
        return
    assert len(recs) == 1, "batch of %d stored as %d messages: %s" % (
        n, len(recs), [(x["properties"], x["body"][:60]) for x in recs][:12])
    body = recs[0]["body"]
    if recs[0]["sys_flag"] & 0x1:  # the C++ client zlib-compresses a batch body over 4 KiB as a whole
        body = zlib.decompress(body)
    inner = decode_client_batch(body)
    assert len(inner) == n and all(matches(m["body"], m["properties"], s) for m, s in zip(inner, specs)), \
        "batch stored as one message, but its body is not the client's batch encoding of the messages sent"
    print("batch stored as ONE message holding the client's batch encoding (Java-broker behaviour for batch=\"1\")")
