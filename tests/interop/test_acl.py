"""ACL (aclEnable + a plain_acl.yml, remoting-protocol.md §17) with the official C++ client's
set_session_credentials, and raw frames signed by this file's own HMAC-SHA1 (a third, independent
implementation of the signature: sorted extField values, then the body).

Checks: signed producer and consumer work; unsigned and wrongly signed sends are refused with
NO_PERMISSION and store nothing; a topic the account may not publish to is refused."""
import base64
import hashlib
import hmac
import time

import pytest

import clients
import conftest
import remoting
from clients import unique

NO_PERMISSION = 16
GOOD = ("interopAK", "interopSecret")
ACCOUNTS = """
accounts:
  - accessKey: interopAK
    secretKey: interopSecret
    defaultTopicPerm: PUB|SUB
    defaultGroupPerm: SUB
    topicPerms:
      - AclDenied=DENY
  - accessKey: adminAK01
    secretKey: adminSecret01
    admin: true
"""


def signed(ext, body, ak, sk):
    """extFields plus AccessKey and Signature, as Java's AclClientRPCHook makes them. Numbers stay
    JSON numbers on the wire (as the C++ client sends them) and are signed as their decimal text."""
    ext = dict(ext, AccessKey=ak)
    content = "".join(str(v) for _, v in sorted(ext.items())).encode() + body
    sig = base64.b64encode(hmac.new(sk.encode(), content, hashlib.sha1).digest()).decode()
    return dict(ext, Signature=sig)


def max_offset(b, topic, queue):
    with remoting.Conn(b.host, b.broker_port) as c:
        r = c.request(remoting.GET_MAX_OFFSET, signed({"topic": topic, "queueId": str(queue)}, b"", "adminAK01", "adminSecret01"))
        assert r.code == remoting.SUCCESS, r
        return int(r.ext["offset"])


@pytest.fixture
def acl_broker(bolide_bin, workdir):
    acl_file = workdir / "plain_acl.yml"
    acl_file.write_text(ACCOUNTS)
    b = conftest.Broker(workdir, sets=["aclEnable=true", "aclFile=%s" % acl_file])
    b.start()
    yield b
    b.stop()


def test_signed_cpp_clients_work_and_unsigned_ones_are_refused(acl_broker):
    b = acl_broker
    topic = unique("AclCpp")
    # Signed producer: auto-creates the topic and sends.
    p = clients.Producer(unique("PG"))
    p.set_namesrv_addr(b.namesrv)
    p.set_session_credentials(GOOD[0], GOOD[1], "ALIYUN")
    p.start()
    try:
        r = p.send_sync(clients.make_message(topic, "signed-0", keys="k0"))
        assert r.status == clients.SendStatus.OK, r
        for i in range(1, 5):
            assert p.send_sync(clients.make_message(topic, "signed-%d" % i, keys="k%d" % i)).status == clients.SendStatus.OK
        # Refused with 16 on each of its tries; the C++ client then reports "No route info" (its log
        # has the broker's remark "No permission for topic:AclDenied").
        with pytest.raises(Exception):
            p.send_sync(clients.make_message("AclDenied", "no"))
    finally:
        p.shutdown()
    stored = sum(max_offset(b, topic, q) for q in range(8))
    assert stored == 5

    # Unsigned producer (the C++ client still signs, with an empty key): refused, nothing stored.
    with clients.producer(b.namesrv) as anon:
        with pytest.raises(Exception):
            anon.send_sync(clients.make_message(topic, "anonymous"))
    # Wrong secret: refused, nothing stored.
    bad = clients.Producer(unique("PG"))
    bad.set_namesrv_addr(b.namesrv)
    bad.set_session_credentials(GOOD[0], "notTheSecret", "ALIYUN")
    bad.start()
    try:
        with pytest.raises(Exception):
            bad.send_sync(clients.make_message(topic, "forged"))
    finally:
        bad.shutdown()
    assert sum(max_offset(b, topic, q) for q in range(8)) == 5

    # A signed push consumer receives everything.
    got = clients.Received()
    c = clients.PushConsumer(unique("CG"))
    c.set_instance_name(unique("cons"))
    c.set_namesrv_addr(b.namesrv)
    c.set_session_credentials(GOOD[0], GOOD[1], "ALIYUN")
    c.subscribe(topic, got.callback("c"))
    c.start()
    try:
        clients.wait_until(lambda: len(got.keys("k")) >= 5, 90, "signed consumer receives the 5 messages")
    finally:
        c.shutdown()
    assert sorted(got.keys("k")) == ["k0", "k1", "k2", "k3", "k4"]


def test_raw_frames_signed_here_and_refusals(acl_broker):
    b = acl_broker
    topic = unique("AclRaw")
    ext = remoting.send_v2_ext("PG", topic, {"UNIQ_KEY": "A1"}, 0)
    with remoting.Conn(b.host, b.broker_port) as c:
        r = c.request(remoting.SEND_MESSAGE_V2, ext, b"unsigned")
        assert r.code == NO_PERMISSION and "No accessKey" in r.remark, r
        r = c.request(remoting.SEND_MESSAGE_V2, signed(ext, b"body", GOOD[0], "wrongSecret"), b"body")
        assert r.code == NO_PERMISSION and "Check signature failed for accessKey=interopAK" in r.remark, r
        assert "interopSecret" not in r.remark and "wrongSecret" not in r.remark
        # The body is signed: the same fields with another body do not verify.
        r = c.request(remoting.SEND_MESSAGE_V2, signed(ext, b"body", *GOOD), b"other body")
        assert r.code == NO_PERMISSION, r
        r = c.request(remoting.SEND_MESSAGE_V2, signed(ext, b"body", *GOOD), b"body")
        assert r.code == remoting.SUCCESS, r
        # Oneway unsigned: no answer and nothing stored.
        c.oneway(remoting.SEND_MESSAGE_V2, ext, b"oneway-unsigned")
        time.sleep(0.5)
    assert max_offset(b, topic, 0) == 1
    # The NameServer port stays open (RocketMQ's NameServer checks nothing).
    with remoting.Conn(b.host, b.namesrv_port) as n:
        assert n.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": topic}).code == remoting.SUCCESS


def test_console_signs_with_its_account(bolide_bin, workdir):
    """The console reaches the broker through its remoting port: under ACL it signs with
    console_access_key / console_secret_key, and without them it is refused like any client."""
    import json
    import urllib.request
    acl_file = workdir / "plain_acl.yml"
    acl_file.write_text(ACCOUNTS)
    http_port, _ = conftest.free_ports()
    b = conftest.Broker(workdir, sets=["aclEnable=true", "aclFile=%s" % acl_file, "http_port=%d" % http_port,
                                       "console_access_key=adminAK01", "console_secret_key=adminSecret01"])
    b.start()
    try:
        topic = unique("AclConsole")
        ext = remoting.send_v2_ext("PG", topic, {"UNIQ_KEY": "C1"}, 0)
        with remoting.Conn(b.host, b.broker_port) as c:
            r = c.request(remoting.SEND_MESSAGE_V2, signed(ext, b"console-body", *GOOD), b"console-body")
        assert r.code == remoting.SUCCESS, r
        msg_id = r.ext["msgId"]
        with urllib.request.urlopen("http://127.0.0.1:%d/api/message?id=%s" % (http_port, msg_id), timeout=30) as resp:
            got = json.loads(resp.read())
        assert "console-body" in json.dumps(got), got
        # The secret is not in what the broker tells about its config, nor in its log.
        with remoting.Conn(b.host, b.broker_port) as c:
            r = c.request(26, signed({}, b"", "adminAK01", "adminSecret01"))  # GET_BROKER_CONFIG
        assert r.code == remoting.SUCCESS, r
        assert b"adminSecret01" not in r.body
    finally:
        b.stop()
    # (The harness writes the command line, with its --set, as each log's first line: not the broker's.)
    logged = "".join(l for p in b.logs for l in open(p, errors="replace") if not l.startswith("$ "))
    assert "adminSecret01" not in logged
