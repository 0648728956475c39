"""(g) Raw remoting frames for what the C++ client cannot express.

Each test speaks the frame format directly (remoting.py) and checks the broker's answer against the
Java broker's behaviour as described in remoting-protocol.md (section numbers in the docstrings).
Requests are shaped like the C++ client's (JSON header, numbers in some extFields).
"""
import json
import socket
import struct
import time
import zlib

import pytest

import remoting
from clients import unique
from remoting import Conn


def send_v2(c, topic, body, props=None, queue_id=-1, group="RawPG"):
    props = dict(props or {})
    props.setdefault("UNIQ_KEY", unique("U").upper())
    props.setdefault("WAIT", "true")
    return c.request(remoting.SEND_MESSAGE_V2, remoting.send_v2_ext(group, topic, props, queue_id), body)


def assert_send_ok(r, what="send"):
    assert r.code == remoting.SUCCESS, "%s: code %s remark %r" % (what, r.code, r.remark)
    missing = [k for k in ("msgId", "queueId", "queueOffset") if k not in r.ext]
    assert not missing, "%s response lacks %s (C++ dereferences them): %r" % (what, missing, r.header)
    bad = remoting.non_string_ext_values(r)
    assert not bad, "%s response extFields not JSON strings (C++ reads them as 0): %r" % (what, bad)
    assert r.serialize_type == 0, "%s: response to a JSON request has serialize type %d" % (what, r.serialize_type)


# ---- unknown codes, oneway, pipelining -----------------------------------------------------------

@pytest.mark.parametrize("port_attr", ["broker_port", "namesrv_port", "vip_port"])
def test_unknown_request_code_answers_3_with_same_opaque(broker, port_attr):
    """§1.5: an unknown code gets REQUEST_CODE_NOT_SUPPORTED (3), same opaque, response flag set."""
    with Conn(broker.host, getattr(broker, port_attr)) as c:
        for opaque in (7, 123456, 2 ** 31 - 1):
            c.send_raw(remoting.encode_request(9999, opaque, {"x": "y"}))
            f = c.read_frame()
            assert f.code == remoting.REQUEST_CODE_NOT_SUPPORTED, "code 9999 answered %r" % f
            assert f.opaque == opaque, "sent opaque %d, response has %r" % (opaque, f.opaque)
            assert f.flag & remoting.FLAG_RESPONSE, "response flag bit not set: %r" % f.header
            assert f.serialize_type == 0, "JSON request answered with serialize type %d" % f.serialize_type


def test_oneway_requests_get_no_response(broker):
    """§1.5: a request with flag bit 1 is never answered, not even with an error."""
    topic = unique("Oneway")
    with Conn(broker.host, broker.broker_port) as c:
        assert_send_ok(send_v2(c, topic, b"x", queue_id=0), "create topic")
        c.oneway(9999)  # unknown code
        c.oneway(remoting.GET_MAX_OFFSET, {"topic": topic, "queueId": 0})
        c.oneway(remoting.UPDATE_CONSUMER_OFFSET, {"consumerGroup": unique("G"), "topic": topic,
                                                   "queueId": 0, "commitOffset": "1"})
        c.oneway(remoting.SEND_MESSAGE_V2, remoting.send_v2_ext("PG", topic, {"UNIQ_KEY": "X1"}, 0), b"oneway")
        opaque = c.next_opaque()
        c.send_raw(remoting.encode_request(remoting.GET_MAX_OFFSET, opaque, {"topic": topic, "queueId": 0}))
        f = c.read_frame()
        assert f.opaque == opaque, "first frame after 4 oneway requests is not the answer to the normal one: %r" % f
        assert f.code == remoting.SUCCESS
        # the oneway send is stored (2 messages in queue 0) even though it is not answered
        deadline = time.monotonic() + 5
        while f.ext.get("offset") != "2" and time.monotonic() < deadline:
            time.sleep(0.05)
            f = c.request(remoting.GET_MAX_OFFSET, {"topic": topic, "queueId": 0})
        assert f.ext.get("offset") == "2", "GET_MAX_OFFSET after one normal and one oneway send: %r" % f
        assert not c.stray, "frames answering oneway requests: %r" % c.stray
        with pytest.raises(socket.timeout):
            extra = c.read_frame(timeout=1.0)
            pytest.fail("unexpected frame after the oneway requests: %r" % extra)


def test_route_for_unknown_topic_is_17(broker):
    """§3.1: GET_ROUTEINFO_BY_TOPIC for an unknown topic answers TOPIC_NOT_EXIST (17), no body."""
    with Conn(broker.host, broker.namesrv_port) as c:
        r = c.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": unique("NoSuchTopic")})
        assert r.code == remoting.TOPIC_NOT_EXIST, "unknown topic: %r" % r
        assert r.body == b"", "TOPIC_NOT_EXIST with a body: %r" % r.body[:200]
        ok = c.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": "TBW102"})
        assert ok.code == remoting.SUCCESS and ok.body, "TBW102 (auto-create on): %r" % ok


def test_pipelined_requests_all_answered_with_matching_opaques(broker):
    """§1.5: many requests written at once on one connection, for queues owned by different shards;
    every one is answered exactly once, matched by opaque (order may differ)."""
    topic = unique("Pipe")
    with Conn(broker.host, broker.broker_port) as c:
        for q in range(4):
            assert_send_ok(send_v2(c, topic, b"m", queue_id=q), "create queue %d" % q)
        expect = {}
        data = b""
        for i in range(120):
            opaque = 5000 + i
            kind = i % 4
            if kind == 3:
                data += remoting.encode_request(9999, opaque)
                expect[opaque] = remoting.REQUEST_CODE_NOT_SUPPORTED
            else:
                code = remoting.GET_MAX_OFFSET if kind < 2 else remoting.GET_MIN_OFFSET
                data += remoting.encode_request(code, opaque, {"topic": topic, "queueId": i % 4})
                expect[opaque] = remoting.SUCCESS
        c.send_raw(data)
        got = {}
        deadline = time.monotonic() + 15
        while len(got) < len(expect) and time.monotonic() < deadline:
            f = c.read_frame(timeout=max(0.1, deadline - time.monotonic()))
            assert f.opaque not in got, "opaque %d answered twice" % f.opaque
            got[f.opaque] = f
        missing = sorted(set(expect) - set(got))
        assert not missing, "%d of %d pipelined requests unanswered, e.g. opaques %s" % (
            len(missing), len(expect), missing[:10])
        wrong = {o: (expect[o], f.code) for o, f in got.items() if f.code != expect[o]}
        assert not wrong, "unexpected codes (opaque: (want, got)): %s" % dict(list(wrong.items())[:10])
        bad = {o: f.ext for o, f in got.items() if f.code == 0 and f.ext.get("offset") not in ("0", "1")}
        assert not bad, "GET_MAX/MIN_OFFSET of 1-message queues: %s" % dict(list(bad.items())[:5])


# ---- malformed frames ----------------------------------------------------------------------------

MALFORMED = {
    "length-over-16MiB": struct.pack(">II", 16 * 1024 * 1024 + 1, 20) + b"{" * 64,
    "length-2GiB": struct.pack(">II", 0x7FFFFFFF, 20) + b"{" * 64,
    "header-longer-than-frame": struct.pack(">II", 20, 200) + b"{" * 16,
    "non-json-header": remoting.encode_frame(b"\xff\xfenot json at all{{{", b"body"),
    "json-not-an-object": remoting.encode_frame(b"[1,2,3]"),
    "unknown-serialize-type": remoting.encode_frame(remoting.json_header(105, 1), serialize_type=7),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_frame_closes_only_that_connection(broker, kind):
    """§1.2 / ARCHITECTURE: a frame the server cannot decode (Java: NettyDecoder exception, or a length
    over the 16 MiB frameMaxLength) closes that connection; the broker keeps serving the others."""
    with Conn(broker.host, broker.broker_port) as other:
        with Conn(broker.host, broker.broker_port) as bad:
            bad.send_raw(MALFORMED[kind])
            assert bad.expect_closed(timeout=5), "connection still open 5 s after a %s frame" % kind
        r = other.request(remoting.GET_MAX_OFFSET, {"topic": "TBW102", "queueId": 0})
        assert r.code == remoting.SUCCESS, "other connection after a %s frame: %r" % (kind, r)
    with Conn(broker.host, broker.namesrv_port) as c:
        assert c.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": "TBW102"}).code == remoting.SUCCESS
    assert broker.alive()


# ---- send / view by id ---------------------------------------------------------------------------

@pytest.mark.parametrize("send_code", [remoting.SEND_MESSAGE_V2, remoting.SEND_MESSAGE])
def test_view_message_by_offset_msg_id(broker, send_code):
    """§9.5, §12.2: the msgId of a send response is an offset msgId (ip, port, physical offset) that
    VIEW_MESSAGE_BY_ID (33, extField offset) resolves at that address to the same stored record."""
    topic = unique("View")
    sent = []
    with Conn(broker.host, broker.broker_port) as c:
        for q in range(4):  # queues on different shards: offsets must stay unique and resolvable
            body = ("view body %d ✓" % q).encode()
            props = {"KEYS": "k%d" % q, "TAGS": "TagV", "UNIQ_KEY": unique("U").upper(), "WAIT": "true",
                     "color": "c%d" % q}
            born = int(time.time() * 1000) - 5
            if send_code == remoting.SEND_MESSAGE_V2:
                ext = remoting.send_v2_ext("RawPG", topic, props, q, born_ms=born, flag=7)
            else:
                ext = remoting.send_v1_ext("RawPG", topic, props, q, born_ms=born, flag=7)
            r = c.request(send_code, ext, body)
            assert_send_ok(r)
            assert r.ext["queueId"] == str(q), "asked for queue %d, response says %r" % (q, r.ext["queueId"])
            sent.append((body, props, born, r))
    offsets = set()
    for body, props, born, r in sent:
        msg_id = r.ext["msgId"]
        ip, port, offset = remoting.decode_offset_msg_id(msg_id)
        assert (ip, port) == (broker.host, broker.broker_port), \
            "msgId %s embeds %s:%d, not the advertised broker address %s" % (msg_id, ip, port, broker.broker_addr)
        assert offset not in offsets, "two messages with physical offset %d" % offset
        offsets.add(offset)
        with Conn(ip, port) as v:
            f = v.request(remoting.VIEW_MESSAGE_BY_ID, {"offset": str(offset)})
        assert f.code == remoting.SUCCESS, "VIEW_MESSAGE_BY_ID %s (offset %d): %r" % (msg_id, offset, f)
        recs = remoting.decode_records(f.body)
        assert len(recs) == 1, "view returned %d records" % len(recs)
        rec = recs[0]
        assert rec["magic"] == remoting.MAGIC_V1, "magic %#x (C++ and Java 4.x need V1)" % rec["magic"]
        assert rec["topic"] == topic and rec["body"] == body
        assert rec["flag"] == 7, "user flag %r" % rec["flag"]
        assert rec["queue_id"] == int(r.ext["queueId"]) and rec["queue_offset"] == int(r.ext["queueOffset"])
        assert rec["physical_offset"] == offset
        assert remoting.offset_msg_id_of(rec) == msg_id
        assert rec["store_host"] == (broker.host, broker.broker_port)
        assert rec["born_host"][0] == "127.0.0.1"
        assert rec["born_timestamp"] == born
        assert rec["store_timestamp"] >= born
        assert rec["body_crc"] == zlib.crc32(body) & 0x7FFFFFFF, "BODYCRC"
        for k, v in props.items():
            if k != "WAIT":  # Java 4.9.8 strips WAIT before storing; either is fine (§16.5)
                assert rec["properties"].get(k) == v, "property %s: sent %r stored %r" % (k, v, rec["properties"])


def test_view_message_by_unknown_offset_is_an_error(broker):
    """§12.2: an offset that names no message answers SYSTEM_ERROR (1), and the connection stays usable."""
    with Conn(broker.host, broker.broker_port) as c:
        assert_send_ok(send_v2(c, unique("ViewMiss"), b"x", queue_id=0))
        for off in (123456789, (1 << 48) + 999999, 2 ** 63 - 1):
            f = c.request(remoting.VIEW_MESSAGE_BY_ID, {"offset": str(off)})
            assert f.code == remoting.SYSTEM_ERROR, "view of offset %d: %r" % (off, f)
        assert c.request(remoting.GET_MAX_OFFSET, {"topic": "TBW102", "queueId": 0}).code == remoting.SUCCESS


def test_send_body_over_4mib_is_message_illegal(broker):
    """§5.4 step 3: a body over maxMessageSize (4 MiB) answers MESSAGE_ILLEGAL (13); a body just under
    is stored; the connection keeps working."""
    topic = unique("Big")
    with Conn(broker.host, broker.broker_port, timeout=30) as c:
        assert_send_ok(send_v2(c, topic, b"small", queue_id=0), "small send")
        r = send_v2(c, topic, b"x" * (4 * 1024 * 1024 + 1), queue_id=0)
        assert r.code == remoting.MESSAGE_ILLEGAL, "4 MiB + 1 body: %r" % r
        ok = send_v2(c, topic, b"y" * (4 * 1024 * 1024 - 4096), queue_id=0)
        assert_send_ok(ok, "4 MiB - 4 KiB body")
        m = c.request(remoting.GET_MAX_OFFSET, {"topic": topic, "queueId": 0})
        assert m.ext.get("offset") == "2", "after small + illegal + big sends: %r" % m


# ---- pull: broker-side tag filtering and result codes --------------------------------------------

def pull(c, group, topic, queue, offset, subscription="*", max_nums=32, sys_flag=remoting.PULL_SUBSCRIPTION):
    return c.request(remoting.PULL_MESSAGE, {
        "consumerGroup": group, "topic": topic, "queueId": queue, "queueOffset": str(offset),
        "maxMsgNums": max_nums, "sysFlag": sys_flag, "commitOffset": "-1", "suspendTimeoutMillis": "15000",
        "subscription": subscription, "subVersion": "0"})


def test_pull_filters_by_tag_on_the_broker(broker):
    """§7.2, §7.3: a pull with "TagA||TagC" returns only those tags (the broker filters with Java
    String.hashCode; the C++ client would hide over-delivery by re-filtering), the pull response header
    carries the four mandatory fields as strings, and the empty/caught-up/past-the-end cases answer
    20 / 19 / 21."""
    topic = unique("RawTags")
    group = unique("RawCG")
    tags = ["TagA", "TagB", "TagC", "TagD"]
    with Conn(broker.host, broker.broker_port) as c:
        want = []
        for i in range(40):
            t = tags[i % 4]
            assert_send_ok(send_v2(c, topic, b"m%d" % i, {"TAGS": t, "KEYS": "k%d" % i}, queue_id=0))
            if t in ("TagA", "TagC"):
                want.append("k%d" % i)
        for i in range(5):  # queue 1: nothing that matches
            assert_send_ok(send_v2(c, topic, b"b%d" % i, {"TAGS": "TagB"}, queue_id=1))

        got, offset = [], 0
        for _ in range(20):
            r = pull(c, group, topic, 0, offset, "TagA||TagC")
            for k in ("suggestWhichBrokerId", "nextBeginOffset", "minOffset", "maxOffset"):
                assert isinstance(r.ext.get(k), str), "pull response field %s missing or not a string: %r" % (k, r.header)
            if r.code == remoting.PULL_RETRY_IMMEDIATELY:  # scanned only non-matching entries
                assert int(r.ext["nextBeginOffset"]) > offset, "20 without progress: %r" % r
                offset = int(r.ext["nextBeginOffset"])
                continue
            if r.code != remoting.SUCCESS:
                break
            recs = remoting.decode_records(r.body)
            for rec in recs:
                assert rec["topic"] == topic and rec["queue_id"] == 0
            got += [rec["properties"].get("KEYS") for rec in recs]
            bad = [rec["properties"].get("TAGS") for rec in recs if rec["properties"].get("TAGS") not in ("TagA", "TagC")]
            assert not bad, "broker returned tags %s for subscription TagA||TagC" % bad
            assert int(r.ext["nextBeginOffset"]) > offset
            offset = int(r.ext["nextBeginOffset"])
        assert got == want, "pulled %s, want %s" % (got, want)
        assert r.code == remoting.PULL_NOT_FOUND and r.ext["nextBeginOffset"] == "40", \
            "caught-up pull (no suspend) should be 19 with nextBeginOffset 40: %r" % r

        r = pull(c, group, topic, 1, 0, "TagA")
        assert r.code == remoting.PULL_RETRY_IMMEDIATELY, "queue with no matching tag: %r" % r
        assert r.ext["nextBeginOffset"] == "5", "no-match pull must skip the scanned entries: %r" % r

        r = pull(c, group, topic, 0, 1000)
        # Java 4.9 answers min (0) here when minOffset is 0; the protocol reference says max: accept both
        assert r.code == remoting.PULL_OFFSET_MOVED and r.ext["nextBeginOffset"] in ("0", "40"), \
            "pull past the end: want 21 with nextBeginOffset 0 or 40, got %r" % r


# ---- serialization variants ----------------------------------------------------------------------

def test_rocketmq_binary_header_is_answered_in_kind(broker):
    """§1.4: a ROCKETMQ (binary) header request is decoded and answered with the same serialize type."""
    with Conn(broker.host, broker.namesrv_port) as c:
        c.send_raw(remoting.encode_frame(
            remoting.rocketmq_binary_header(remoting.GET_ROUTEINFO_BY_TOPIC, 77, {"topic": "TBW102"}),
            serialize_type=1))
        f = c.read_frame()
        assert f.serialize_type == 1, "binary request answered with serialize type %d" % f.serialize_type
        assert f.opaque == 77 and f.code == remoting.SUCCESS and f.body, "%r" % f
        c.send_raw(remoting.encode_frame(remoting.rocketmq_binary_header(9999, 78), serialize_type=1))
        f = c.read_frame()
        assert (f.serialize_type, f.opaque, f.code) == (1, 78, remoting.REQUEST_CODE_NOT_SUPPORTED), "%r" % f


def test_cpp_heartbeat_body_registers_the_consumer(broker):
    """§6.1: the C++ heartbeat (integer enums, string subVersion, garbage codeSet) is accepted; the
    response version is >= 232 (Java clients refuse SQL92 pulls below it) and the consumer list of the
    group names the client."""
    group = unique("HbCG")
    client_id = "12345-127.0.0.1@" + unique("inst")
    body = json.dumps({
        "clientID": client_id,
        "consumerDataSet": [{"consumeFromWhere": 0, "consumeType": 1, "groupName": group, "messageModel": 1,
                             "subscriptionDataSet": [
                                 {"subString": "*", "subVersion": "1795260997422", "topic": "%RETRY%" + group},
                                 {"codeSet": [0, 0], "subString": "TagA||TagB", "subVersion": "1795260997422",
                                  "tagsSet": ["TagA", "TagB"], "topic": "TBW102"}]}],
        "producerDataSet": [{"groupName": unique("HbPG")}]}, separators=(",", ":")).encode()
    with Conn(broker.host, broker.broker_port) as c:
        r = c.request(remoting.HEART_BEAT, {"AccessKey": "", "OnsChannel": "ALIYUN", "Signature": ""}, body)
        assert r.code == remoting.SUCCESS, "heartbeat: %r" % r
        assert isinstance(r.header.get("version"), int) and r.header["version"] >= 232, \
            "heartbeat response version %r" % r.header.get("version")
        lst = c.request(38, {"consumerGroup": group})
        assert lst.code == remoting.SUCCESS, "GET_CONSUMER_LIST_BY_GROUP: %r" % lst
        assert json.loads(lst.body)["consumerIdList"] == [client_id]
    with Conn(broker.host, broker.namesrv_port) as c:
        rr = c.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": "%RETRY%" + group})
        assert rr.code == remoting.SUCCESS, "route of the retry topic after a heartbeat (§6.1 step 2): %r" % rr


def encode_batch_body(messages):
    """Client-side batch encoding (§5.3) as Java's MessageDecoder.encodeMessages writes it."""
    out = b""
    for body, props, flag in messages:
        p = remoting.properties_string(props).rstrip(remoting.PROPERTY_SEP).encode()
        total = 4 + 4 + 4 + 4 + 4 + len(body) + 2 + len(p)
        out += struct.pack(">iiiii", total, 0, 0, flag, len(body)) + body + struct.pack(">h", len(p)) + p
    return out


def test_send_batch_message_320_stores_each_message(broker):
    """§5.3: SEND_BATCH_MESSAGE (320, V2 header letters, m="true") as Java and Go clients send it: every
    record is stored as its own message in the requested queue with consecutive offsets, properties =
    record properties + batch-level ones; msgId = comma-joined offset msgIds, queueOffset = the first."""
    topic = unique("Batch320")
    with Conn(broker.host, broker.broker_port) as c:
        assert_send_ok(send_v2(c, topic, b"first", queue_id=2), "create topic")
        msgs = []
        for i in range(5):
            props = {"KEYS": "bk%d" % i, "TAGS": "TagB%d" % (i % 2), "UNIQ_KEY": unique("U").upper(), "p": "v%d" % i}
            msgs.append((("batch %d ✓" % i).encode() * (i + 1), props, i))
        ext = remoting.send_v2_ext("RawPG", topic, {"WAIT": "true"}, queue_id=2)
        ext["m"] = "true"
        r = c.request(remoting.SEND_BATCH_MESSAGE, ext, encode_batch_body(msgs))
        assert_send_ok(r, "batch send")
        ids = r.ext["msgId"].split(",")
        assert len(ids) == 5, "msgId of a 5-message batch: %r" % r.ext["msgId"]
        assert r.ext["queueId"] == "2" and r.ext["queueOffset"] == "1", "batch response %r" % r.ext
        p = pull(c, unique("G"), topic, 2, 1)
        assert p.code == remoting.SUCCESS, "pull after batch: %r" % p
        recs = remoting.decode_records(p.body)
        assert len(recs) == 5, "pulled %d records" % len(recs)
        for i, (rec, (body, props, flag), mid) in enumerate(zip(recs, msgs, ids)):
            assert rec["queue_offset"] == 1 + i and rec["queue_id"] == 2
            assert rec["body"] == body and rec["flag"] == flag and rec["topic"] == topic
            for k, v in props.items():
                assert rec["properties"].get(k) == v, "message %d property %s: %r" % (i, k, rec["properties"])
            assert remoting.offset_msg_id_of(rec) == mid, "msgId %d of the response names another record" % i


# ---- long polling, offsets, routes, VIP port -----------------------------------------------------

def test_long_poll_is_held_then_woken_by_a_send(broker):
    """§7.4: a pull with SUSPEND at the end of a queue is not answered at once; a message appended to
    that queue answers it (SUCCESS with the message, well before the suspend timeout); with no message
    it is answered 19 after suspendTimeoutMillis (Java may be up to 5 s late)."""
    topic = unique("LongPoll")
    group = unique("G")
    flags = remoting.PULL_SUSPEND | remoting.PULL_SUBSCRIPTION
    with Conn(broker.host, broker.broker_port, timeout=30) as c, Conn(broker.host, broker.broker_port) as s:
        assert_send_ok(send_v2(s, topic, b"first", queue_id=1), "first")
        opaque = c.next_opaque()
        ext = {"consumerGroup": group, "topic": topic, "queueId": 1, "queueOffset": "1", "maxMsgNums": 32,
               "sysFlag": flags, "commitOffset": "-1", "suspendTimeoutMillis": "15000", "subscription": "*",
               "subVersion": "0"}
        c.send_raw(remoting.encode_request(remoting.PULL_MESSAGE, opaque, ext))
        with pytest.raises(socket.timeout):
            early = c.read_frame(timeout=1.0)
            pytest.fail("long poll answered before any message arrived: %r" % early)
        t0 = time.monotonic()
        assert_send_ok(send_v2(s, topic, b"wake up", {"KEYS": "w"}, queue_id=1), "wake-up send")
        f = c.read_frame(timeout=10)
        took = time.monotonic() - t0
        assert f.opaque == opaque and f.code == remoting.SUCCESS, "woken pull: %r" % f
        assert [r["body"] for r in remoting.decode_records(f.body)] == [b"wake up"]
        assert took < 3, "held pull answered %.1f s after the message arrived" % took

        ext.update(queueOffset="2", suspendTimeoutMillis="1000")
        opaque = c.next_opaque()
        t0 = time.monotonic()
        c.send_raw(remoting.encode_request(remoting.PULL_MESSAGE, opaque, ext))
        f = c.read_frame(timeout=15)
        took = time.monotonic() - t0
        assert f.opaque == opaque and f.code == remoting.PULL_NOT_FOUND, "timed-out long poll: %r" % f
        assert f.ext.get("nextBeginOffset") == "2", "timed-out long poll: %r" % f
        assert 0.8 <= took <= 7, "a 1 s long poll was answered after %.2f s" % took


def test_consumer_offsets_update_query_and_oneway(broker):
    """§7.6: QUERY_CONSUMER_OFFSET is 22 (or 0, the Java young-queue nuance) before any commit;
    UPDATE_CONSUMER_OFFSET (normal and oneway) is read back; offsets are per group and queue."""
    topic = unique("Offsets")
    g1, g2 = unique("G"), unique("G")
    with Conn(broker.host, broker.broker_port) as c:
        for q in range(2):
            for i in range(3):
                assert_send_ok(send_v2(c, topic, b"m", queue_id=q))

        def query(g, q):
            r = c.request(remoting.QUERY_CONSUMER_OFFSET, {"consumerGroup": g, "topic": topic, "queueId": q})
            return r.code, r.ext.get("offset")

        code, off = query(g1, 0)
        assert code == remoting.QUERY_NOT_FOUND or (code == 0 and off == "0"), "never committed: %s %s" % (code, off)
        r = c.request(remoting.UPDATE_CONSUMER_OFFSET, {"consumerGroup": g1, "topic": topic, "queueId": 0,
                                                        "commitOffset": "2"})
        assert r.code == remoting.SUCCESS, "update: %r" % r
        c.oneway(remoting.UPDATE_CONSUMER_OFFSET, {"consumerGroup": g1, "topic": topic, "queueId": 1,
                                                   "commitOffset": "3"})
        deadline = time.monotonic() + 5
        while query(g1, 1) != (0, "3") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert query(g1, 0) == (0, "2")
        assert query(g1, 1) == (0, "3"), "oneway commit not applied: %s" % (query(g1, 1),)
        code, off = query(g2, 0)
        assert code == remoting.QUERY_NOT_FOUND or (code == 0 and off == "0"), "other group sees %s %s" % (code, off)
        assert not c.stray, "frames answering the oneway commit: %r" % c.stray


def test_route_of_an_auto_created_topic(broker):
    """§3.1, §5.4 step 4: a topic auto-created by a send with defaultTopicQueueNums=4 gets 4 read/write
    queues, perm 6, one master (id 0) at the advertised address; compact JSON (the C++ client sends
    version 63, so a Java NameServer would write brokerAddrs keys unquoted; either form is accepted)."""
    topic = unique("Route")
    with Conn(broker.host, broker.broker_port) as c:
        assert_send_ok(send_v2(c, topic, b"m"))
    with Conn(broker.host, broker.namesrv_port) as c:
        r = c.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
    assert r.code == remoting.SUCCESS, "route after auto-create: %r" % r
    text = r.body.decode()
    assert ": " not in text and "\n" not in text, "route JSON is not compact: %s" % text
    import re
    route = json.loads(re.sub(r'([{,])(-?\d+):', r'\1"\2":', text))
    qd = route["queueDatas"]
    assert len(qd) == 1 and qd[0]["readQueueNums"] == 4 and qd[0]["writeQueueNums"] == 4 and qd[0]["perm"] == 6, qd
    bd = route["brokerDatas"]
    assert len(bd) == 1 and bd[0]["brokerName"] == qd[0]["brokerName"], bd
    assert bd[0]["brokerAddrs"] == {"0": broker.broker_addr}, bd


def test_vip_port_serves_send_and_pull(broker):
    """§1.1: the broker also listens on port-2 (old Java clients' VIP channel) and serves every code
    there; messages sent there are the same messages."""
    topic = unique("Vip")
    with Conn(broker.host, broker.vip_port) as v:
        r = send_v2(v, topic, b"via vip", {"KEYS": "vip"}, queue_id=0)
        assert_send_ok(r, "send on the VIP port")
    with Conn(broker.host, broker.broker_port) as c:
        p = pull(c, unique("G"), topic, 0, 0)
        assert p.code == remoting.SUCCESS, "pull on the main port: %r" % p
        assert [x["body"] for x in remoting.decode_records(p.body)] == [b"via vip"]


# ---- limits and refusals -------------------------------------------------------------------------

def test_pull_response_stays_under_16_mib(broker):
    """§1.2, §7.5: peers refuse frames over 16 MiB, so a pull of many large messages must be capped:
    five 3.9 MiB messages in one queue, pulled with maxMsgNums 32, come back over several pulls, every
    response frame under 16 MiB, every message exactly once and intact."""
    topic = unique("BigPull")
    size = 4 * 1024 * 1024 - 100 * 1024
    bodies = [bytes([65 + i]) * size for i in range(5)]
    with Conn(broker.host, broker.broker_port, timeout=60) as c:
        for i, b in enumerate(bodies):
            assert_send_ok(send_v2(c, topic, b, {"KEYS": "big%d" % i}, queue_id=0), "big send %d" % i)
        got, offset = [], 0
        for _ in range(10):
            r = pull(c, unique("G"), topic, 0, offset)  # read_frame raises on a frame over 16 MiB
            if r.code != remoting.SUCCESS:
                break
            got += remoting.decode_records(r.body)
            offset = int(r.ext["nextBeginOffset"])
    assert [x["body"] for x in got] == bodies, "pulled %d messages of sizes %s" % (len(got), [len(x["body"]) for x in got])


@pytest.mark.parametrize("case", ["illegal-chars", "too-long", "system-topic", "queue-out-of-range"])
def test_send_refusals(broker, case):
    """§5.4 steps 2 and 5: an illegal topic name (Java 4.9: SYSTEM_ERROR with a remark; Java 5.x and
    Bolide: INVALID_PARAMETER), a send-forbidden system topic (NO_PERMISSION) and a queueId beyond
    the topic's queues (Java 4.9: SYSTEM_ERROR; Java 5.x and Bolide: INVALID_PARAMETER) are refused and
    nothing is stored."""
    good = unique("Refuse")
    topic, queue, allowed = {
        "illegal-chars": ("bad topic!", 0, (remoting.INVALID_PARAMETER,)),
        "too-long": ("T" * 128, 0, (remoting.INVALID_PARAMETER,)),
        "system-topic": ("SCHEDULE_TOPIC_XXXX", 0, (16,)),
        "queue-out-of-range": (good, 4, (remoting.INVALID_PARAMETER,)),
    }[case]
    with Conn(broker.host, broker.broker_port) as c:
        assert_send_ok(send_v2(c, good, b"ok", queue_id=0), "a good send first")
        r = send_v2(c, topic, b"refused", queue_id=queue)
        assert r.code in allowed, "%s: want one of %s, got %r" % (case, allowed, r)
        if case == "queue-out-of-range":
            assert c.request(remoting.GET_MAX_OFFSET, {"topic": good, "queueId": 4}).ext.get("offset") in (None, "0")
        else:
            with Conn(broker.host, broker.namesrv_port) as n:
                rr = n.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
                assert rr.code == remoting.TOPIC_NOT_EXIST or case == "system-topic", \
                    "refused topic %r has a route: %r" % (topic, rr)


def test_pull_unknown_topic_and_bad_queue(broker):
    """§7.1 step 2: a pull of an unknown topic answers TOPIC_NOT_EXIST (17); a queueId beyond the
    topic's read queues answers SYSTEM_ERROR (1); a pull with COMMIT_OFFSET stores the commit offset."""
    topic = unique("PullErr")
    group = unique("G")
    with Conn(broker.host, broker.broker_port) as c:
        r = pull(c, group, unique("NoSuchTopic"), 0, 0)
        assert r.code == remoting.TOPIC_NOT_EXIST, "pull of an unknown topic: %r" % r
        for i in range(3):
            assert_send_ok(send_v2(c, topic, b"m%d" % i, queue_id=0))
        r = pull(c, group, topic, 7, 0)
        assert r.code == remoting.SYSTEM_ERROR, "pull of queue 7 of a 4-queue topic: %r" % r
        r = c.request(remoting.PULL_MESSAGE, {
            "consumerGroup": group, "topic": topic, "queueId": 0, "queueOffset": "2", "maxMsgNums": 32,
            "sysFlag": remoting.PULL_SUBSCRIPTION | remoting.PULL_COMMIT_OFFSET, "commitOffset": "2",
            "suspendTimeoutMillis": "1000", "subscription": "*", "subVersion": "0"})
        assert r.code == remoting.SUCCESS
        q = c.request(remoting.QUERY_CONSUMER_OFFSET, {"consumerGroup": group, "topic": topic, "queueId": 0})
        assert (q.code, q.ext.get("offset")) == (0, "2"), "commitOffset piggy-backed on a pull not stored: %r" % q


def test_lock_batch_mq_is_exclusive(broker):
    """§7.10: LOCK_BATCH_MQ grants a queue to one client id at a time (re-locking by the holder is
    fine); after UNLOCK_BATCH_MQ another client gets it."""
    topic = unique("Lock")
    group = unique("G")
    mqs = [{"brokerName": "broker-a", "queueId": q, "topic": topic} for q in (0, 1)]

    def body(client):
        return json.dumps({"clientId": client, "consumerGroup": group, "mqSet": mqs}).encode()

    def locked(r):
        assert r.code == remoting.SUCCESS, "LOCK_BATCH_MQ: %r" % r
        return sorted(m["queueId"] for m in json.loads(r.body or b"{}").get("lockOKMQSet", []))

    with Conn(broker.host, broker.broker_port) as c:
        assert_send_ok(send_v2(c, topic, b"m", queue_id=0))
        route = None
        with Conn(broker.host, broker.namesrv_port) as n:
            route = n.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
        name = json.loads(route.body.decode().replace('{0:', '{"0":'))["brokerDatas"][0]["brokerName"]
        for m in mqs:
            m["brokerName"] = name
        assert locked(c.request(41, {}, body("client-A"))) == [0, 1]
        assert locked(c.request(41, {}, body("client-A"))) == [0, 1], "the holder re-locking"
        assert locked(c.request(41, {}, body("client-B"))) == [], "locks granted to a second client"
        r = c.request(42, {}, body("client-A"))
        assert r.code == remoting.SUCCESS, "UNLOCK_BATCH_MQ: %r" % r
        assert locked(c.request(41, {}, body("client-B"))) == [0, 1], "locks not free after unlock"


def test_properties_longer_than_32767_bytes_are_refused(broker):
    """§5.4 step 3, §9.1: the stored PROPERTIESLENGTH is an int16, so a properties string over 32767
    bytes is MESSAGE_ILLEGAL; one of ~30000 bytes is stored and reads back intact."""
    topic = unique("Props")
    with Conn(broker.host, broker.broker_port) as c:
        r = send_v2(c, topic, b"big props", {"KEYS": "k", "huge": "v" * 40000}, queue_id=0)
        assert r.code == remoting.MESSAGE_ILLEGAL, "40 KB of properties: %r" % r
        r = send_v2(c, topic, b"ok props", {"KEYS": "k2", "large": "w" * 30000}, queue_id=0)
        assert_send_ok(r, "30 KB of properties")
        p = pull(c, unique("G"), topic, 0, 0)
        recs = remoting.decode_records(p.body)
        assert [x["body"] for x in recs] == [b"ok props"]
        assert recs[0]["properties"]["large"] == "w" * 30000
