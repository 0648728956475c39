"""SQL92 filters, QUERY_MESSAGE and the trace topic, in raw frames (remoting-protocol.md §6.4, §12, §18, §19).

The C++ client has no SQL92 support and no query API, so these speak frames (remoting.py); the Java suite
(tests/java SqlFilterTest, QueryTest) covers the same features through the Java client.
"""
import json
import threading
import time

import pytest

import remoting
from clients import unique
from remoting import Conn

SUBSCRIPTION_PARSE_FAILED = 23
CHECK_CLIENT_CONFIG = 46


def send(c, topic, queue_id, props, body=b"x"):
    props = dict(props)
    props.setdefault("UNIQ_KEY", unique("U").upper())
    props.setdefault("WAIT", "true")
    r = c.request(remoting.SEND_MESSAGE_V2, remoting.send_v2_ext("SqlPG", topic, props, queue_id), body)
    assert r.code == remoting.SUCCESS, "send: %r" % r
    return r


def sql_pull(c, group, topic, queue, offset, expr, sys_flag=remoting.PULL_SUBSCRIPTION, suspend_ms=15000,
             timeout=None):
    ext = {"consumerGroup": group, "topic": topic, "queueId": queue, "queueOffset": str(offset),
           "maxMsgNums": 32, "sysFlag": sys_flag, "commitOffset": "-1",
           "suspendTimeoutMillis": str(suspend_ms), "subVersion": "0", "expressionType": "SQL92"}
    if sys_flag & remoting.PULL_SUBSCRIPTION:
        ext["subscription"] = expr
    return c.request(remoting.PULL_MESSAGE, ext, timeout=timeout)


def props_of(frame):
    return [r["properties"] for r in remoting.decode_records(frame.body)]


def test_sql92_pull_filters_on_properties(broker):
    """§19.2: the broker evaluates the expression on each message's properties (TAGS included); a
    missing property never matches, not even a negated condition; nextBeginOffset counts every entry
    scanned; nothing matching answers PULL_RETRY_IMMEDIATELY (20) past the scanned entries."""
    topic = unique("Sql")
    with Conn(broker.host, broker.broker_port) as c:
        for i in range(10):
            props = {"TAGS": "TagA" if i % 2 else "TagB", "KEYS": "k%d" % i}
            if i < 8:
                props["n"] = str(i)
            send(c, topic, 0, props, body=b"m%d" % i)
        g = unique("SqlCG")
        r = sql_pull(c, g, topic, 0, 0, "n >= 3 AND n < 7 AND TAGS = 'TagA'")
        assert r.code == remoting.SUCCESS, "%r" % r
        assert [p["n"] for p in props_of(r)] == ["3", "5"]
        assert r.ext["nextBeginOffset"] == "10"
        r = sql_pull(c, g, topic, 0, 0, "n <> 3")  # messages 8 and 9 lack n: not delivered
        assert [p.get("n") for p in props_of(r)] == [str(i) for i in range(8) if i != 3]
        r = sql_pull(c, g, topic, 0, 0, "n IS NULL")
        assert [p["KEYS"] for p in props_of(r)] == ["k8", "k9"]
        r = sql_pull(c, g, topic, 0, 0, "n IN ('1', '2') OR KEYS = 'k9'")
        assert [p["KEYS"] for p in props_of(r)] == ["k1", "k2", "k9"]
        r = sql_pull(c, g, topic, 0, 0, "n > 100")
        assert r.code == remoting.PULL_RETRY_IMMEDIATELY, "%r" % r
        assert r.ext["nextBeginOffset"] == "10"


def test_sql92_parse_errors_say_where(broker):
    """§19.3: a pull or CHECK_CLIENT_CONFIG whose expression does not compile answers
    SUBSCRIPTION_PARSE_FAILED (23) with the position; 64 KiB expressions and deep nesting are refused the
    same way (never a crash: the connection and the broker keep working)."""
    topic = unique("SqlBad")
    with Conn(broker.host, broker.broker_port, timeout=30) as c:
        send(c, topic, 0, {"a": "1"})
        g = unique("SqlBadCG")
        r = sql_pull(c, g, topic, 0, 0, "a > 'x'")
        assert r.code == SUBSCRIPTION_PARSE_FAILED, "%r" % r
        assert "column 3" in r.remark, r.remark
        huge = "a IN (%s)" % ",".join(["'v%d'" % i for i in range(12000)])
        assert len(huge) > 64 * 1024
        r = sql_pull(c, g, topic, 0, 0, huge)
        assert r.code == SUBSCRIPTION_PARSE_FAILED and "bytes" in r.remark, "%r" % r
        for deep in ("(" * 5000 + "a = 1" + ")" * 5000, "NOT " * 3000 + "a = 1", "a" + " = a" * 3000):
            r = sql_pull(c, g, topic, 0, 0, deep)
            assert r.code == SUBSCRIPTION_PARSE_FAILED and "nested" in r.remark, "%r" % r.remark
        for expr, code in (("a = 1", remoting.SUCCESS), ("a = = 1", SUBSCRIPTION_PARSE_FAILED),
                           ("(" * 5000, SUBSCRIPTION_PARSE_FAILED)):
            body = json.dumps({"clientId": "c1", "group": g, "subscriptionData": {
                "topic": topic, "subString": expr, "expressionType": "SQL92", "subVersion": 1,
                "tagsSet": [], "codeSet": [], "classFilterMode": False}}).encode()
            r = c.request(CHECK_CLIENT_CONFIG, {}, body)
            assert r.code == code, "CHECK_CLIENT_CONFIG %r: %r" % (expr[:20], r)
        r = sql_pull(c, g, topic, 0, 0, "a = 1")
        assert r.code == remoting.SUCCESS and len(props_of(r)) == 1


def test_sql92_from_heartbeat_and_long_polling(broker):
    """§19.3, §7.4: a pull without the SUBSCRIPTION bit uses the group's heartbeat expression; a parked
    pull is not answered with messages that do not match: it moves past them and answers with the
    matching one; with nothing matching it answers at its deadline with nextBeginOffset past them."""
    topic = unique("SqlHb")
    group = unique("SqlHbCG")
    hb = json.dumps({
        "clientID": "127.0.0.1@" + unique("i"),
        "consumerDataSet": [{"consumeFromWhere": "CONSUME_FROM_FIRST_OFFSET", "consumeType": "CONSUME_PASSIVELY",
                             "groupName": group, "messageModel": "CLUSTERING", "unitMode": False,
                             "subscriptionDataSet": [{"classFilterMode": False, "codeSet": [],
                                                      "expressionType": "SQL92", "subString": "color = 'red'",
                                                      "subVersion": 1, "tagsSet": [], "topic": topic}]}],
        "producerDataSet": []}).encode()
    with Conn(broker.host, broker.broker_port, timeout=40) as c:
        send(c, topic, 0, {"color": "blue"})
        assert c.request(remoting.HEART_BEAT, {}, hb).code == remoting.SUCCESS
        r = sql_pull(c, group, topic, 0, 0, None, sys_flag=0)
        assert r.code == remoting.PULL_RETRY_IMMEDIATELY and r.ext["nextBeginOffset"] == "1", "%r" % r

        def later():
            time.sleep(0.5)
            with Conn(broker.host, broker.broker_port) as p:
                send(p, topic, 0, {"color": "green"})
                send(p, topic, 0, {"color": "red", "KEYS": "wanted"})
        t = threading.Thread(target=later)
        t.start()
        r = sql_pull(c, group, topic, 0, 1, None, sys_flag=remoting.PULL_SUSPEND, suspend_ms=20000, timeout=35)
        t.join()
        assert r.code == remoting.SUCCESS, "%r" % r
        assert [p["color"] for p in props_of(r)] == ["red"]
        assert r.ext["nextBeginOffset"] == "3"
        # Only non-matching messages arrive while parked: answered at the deadline, past them.
        def blue():
            time.sleep(0.3)
            with Conn(broker.host, broker.broker_port) as p:
                send(p, topic, 0, {"color": "blue"})
        t = threading.Thread(target=blue)
        t.start()
        r = sql_pull(c, group, topic, 0, 3, None, sys_flag=remoting.PULL_SUSPEND, suspend_ms=2000, timeout=35)
        t.join()
        assert r.code in (remoting.PULL_NOT_FOUND, remoting.PULL_RETRY_IMMEDIATELY), "%r" % r
        assert r.ext["nextBeginOffset"] == "4", "%r" % r


@pytest.mark.broker(sets=["enablePropertyFilter=false"])
def test_sql92_refused_when_property_filter_is_off(broker):
    """§6.4, §19.3: with enablePropertyFilter=false SQL92 is refused with the Java broker's remark."""
    with Conn(broker.host, broker.broker_port) as c:
        send(c, unique("SqlOff"), 0, {"a": "1"})
        body = json.dumps({"clientId": "c", "group": "g", "subscriptionData": {
            "topic": "T", "subString": "a = 1", "expressionType": "SQL92"}}).encode()
        r = c.request(CHECK_CLIENT_CONFIG, {}, body)
        assert r.code == remoting.SYSTEM_ERROR and "SQL92" in r.remark, "%r" % r


def query(c, topic, key, max_num="32", begin="0", end=None, unique_key=False):
    return c.request(remoting.QUERY_MESSAGE, {
        "topic": topic, "key": key, "maxNum": max_num, "beginTimestamp": begin,
        "endTimestamp": end or str(int(time.time() * 1000) + 60000),
        "_UNIQUE_KEY_QUERY": "true" if unique_key else "false"}, timeout=30)


def test_query_message_by_key_and_unique_key_across_shards(broker):
    """§12.1: QUERY_MESSAGE finds a key's messages on every shard (queues 0..3 spread over the shards),
    newest first, with indexLastUpdate* fields; a unique-key query finds the UNIQ_KEY; a window that
    excludes the messages, an unknown key or another topic answer QUERY_NOT_FOUND (22); a huge maxNum
    is cut to the broker's limit (64); a maxNum that is not an int is a header error."""
    topic = unique("Query")
    key = unique("order")
    with Conn(broker.host, broker.broker_port, timeout=30) as c:
        sent = []
        t0 = int(time.time() * 1000)
        for q in range(4):
            r = send(c, topic, q, {"KEYS": "%s other%d" % (key, q)}, body=b"q%d" % q)
            sent.append(r)
        r = query(c, topic, key)
        assert r.code == remoting.SUCCESS, "%r" % r
        recs = remoting.decode_records(r.body)
        assert sorted(x["body"] for x in recs) == [b"q0", b"q1", b"q2", b"q3"], "found %r" % recs
        shards = {x["physical_offset"] >> 48 for x in recs}
        assert len(shards) == min(broker.shards, 4), "messages from shards %r" % shards
        stamps = [x["store_timestamp"] for x in recs]
        assert stamps == sorted(stamps, reverse=True), "not newest first: %r" % stamps
        assert int(r.ext["indexLastUpdateTimestamp"]) >= t0 and "indexLastUpdatePhyoffset" in r.ext
        one = query(c, topic, "other2")
        assert [x["body"] for x in remoting.decode_records(one.body)] == [b"q2"]
        msg_uniq = [x["properties"]["UNIQ_KEY"] for x in recs if x["body"] == b"q1"][0]
        u = query(c, topic, msg_uniq, max_num="1", begin=str(t0 - 1000), end=str(2 ** 63 - 1), unique_key=True)
        assert [x["body"] for x in remoting.decode_records(u.body)] == [b"q1"], "%r" % u
        assert query(c, topic, key, begin="0", end=str(t0 - 10000)).code == remoting.QUERY_NOT_FOUND
        assert query(c, topic, unique("nokey")).code == remoting.QUERY_NOT_FOUND
        assert query(c, unique("OtherTopic"), key).code == remoting.QUERY_NOT_FOUND
        assert query(c, topic, key, max_num="2").code == remoting.SUCCESS
        assert len(remoting.decode_records(query(c, topic, key, max_num="2").body)) == 2
        assert query(c, topic, key, max_num="99999999999").code != remoting.SUCCESS
        many = unique("many")
        for i in range(70):
            send(c, topic, i % 4, {"KEYS": many})
        r = query(c, topic, many, max_num=str(2 ** 31 - 1))
        assert r.code == remoting.SUCCESS
        assert len(remoting.decode_records(r.body)) == 64, "maxNum 2^31-1 not bounded to 64"


def test_trace_topic_exists_and_trace_records_are_found_by_msg_id(broker):
    """§18: RMQ_SYS_TRACE_TOPIC is created at start (1 queue); a trace message (KEYS = traced msgId and
    key) is accepted and found by QUERY_MESSAGE with the traced message id, as mqadmin queryMsgTraceById does."""
    with Conn(broker.host, broker.namesrv_port) as n:
        rr = n.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": "RMQ_SYS_TRACE_TOPIC"})
        assert rr.code == remoting.SUCCESS, "trace topic route: %r" % rr
    traced = unique("TRACED").upper()
    with Conn(broker.host, broker.broker_port) as c:
        record = "\x01".join(["Pub", str(int(time.time() * 1000)), "DefaultRegion", "PG", "T", traced, "TagA",
                              "k1", "127.0.0.1:10911", "5", "1", "0", "OFFSETID", "true"]) + "\x02"
        send(c, "RMQ_SYS_TRACE_TOPIC", -1, {"KEYS": "%s k1" % traced}, body=record.encode())
        r = query(c, "RMQ_SYS_TRACE_TOPIC", traced, max_num="64")
        assert r.code == remoting.SUCCESS, "%r" % r
        bodies = [x["body"].decode() for x in remoting.decode_records(r.body)]
        assert any(traced in b for b in bodies)
