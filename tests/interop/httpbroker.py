"""A broker with its HTTP port on (/metrics and the console), and small HTTP helpers for the tests
of that port (test_metrics_http.py, test_console.py)."""
import json
import signal
import socket
import urllib.error
import urllib.request

import pytest

import remoting
from clients import unique
from conftest import Broker, free_ports


@pytest.fixture
def http_broker(request, bolide_bin, workdir):
    http_port, _ = free_ports()
    b = Broker(workdir, sets=["http_port=%d" % http_port])
    b.http_port = http_port
    b.http = "http://127.0.0.1:%d" % http_port
    request.node._bolide = b
    b.start()
    yield b
    b.stop(signal.SIGTERM)


def get(b, path, timeout=10):
    """(status, content type, body bytes) of GET path, errors included."""
    try:
        with urllib.request.urlopen(b.http + path, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def get_json(b, path):
    status, _, body = get(b, path)
    return status, json.loads(body)


def raw_http(b, data, timeout=10):
    """Sends raw bytes to the HTTP port; returns everything read until the peer closes or goes quiet."""
    s = socket.create_connection(("127.0.0.1", b.http_port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:  # one response is enough: wait briefly for the rest of it
                s.settimeout(0.5)
        return out
    finally:
        s.close()


def status_of(response_bytes):
    line = response_bytes.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = line.split(" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def send(b, topic, body, props=None, queue_id=-1):
    """One SEND_MESSAGE_V2 over raw remoting; returns the response frame (offset msgId in ext)."""
    props = dict(props or {})
    props.setdefault("UNIQ_KEY", unique("U").upper())
    props.setdefault("WAIT", "true")
    with remoting.Conn(b.host, b.broker_port) as c:
        r = c.request(remoting.SEND_MESSAGE_V2, remoting.send_v2_ext("HttpPG", topic, props, queue_id), body)
    assert r.code == remoting.SUCCESS, "send to %s: code %s remark %r" % (topic, r.code, r.remark)
    return r


def commit_offset(b, group, topic, queue_id, offset):
    with remoting.Conn(b.host, b.broker_port) as c:
        r = c.request(remoting.UPDATE_CONSUMER_OFFSET, {"consumerGroup": group, "topic": topic,
                                                        "queueId": str(queue_id), "commitOffset": str(offset)})
    assert r.code == remoting.SUCCESS, "commit offset: code %s remark %r" % (r.code, r.remark)


def pull(b, group, topic, queue_id, offset, max_msgs):
    """One PULL_MESSAGE with an inline `*` subscription; returns the response frame."""
    with remoting.Conn(b.host, b.broker_port) as c:
        return c.request(remoting.PULL_MESSAGE, {
            "consumerGroup": group, "topic": topic, "queueId": str(queue_id), "queueOffset": str(offset),
            "maxMsgNums": str(max_msgs), "sysFlag": str(remoting.PULL_SUBSCRIPTION), "commitOffset": "0",
            "suspendTimeoutMillis": "0", "subscription": "*", "subVersion": "0"})
