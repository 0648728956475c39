"""(f) A thousand concurrent connections, many of them hostile, while real clients carry on.

1000 TCP connections to the broker port are held open at once. A fifth send garbage of several kinds
(random bytes, a frame claiming ~2 GiB, a frame whose header is not JSON, a frame cut off by closing the
connection mid-frame), the rest send a valid request and must get its answer. Meanwhile a C++ producer
sends with send_sync and a C++ push consumer must receive every message. Afterwards the broker is still
up, answers a new connection, and has released the file descriptors of the closed connections.
"""
import os
import random
import resource
import selectors
import socket
import struct
import threading
import time

import clients
import remoting
from clients import SendStatus, make_message, unique, wait_until

CONNECTIONS = 1000
MESSAGES = 300


def payload(kind, i, topic):
    if kind == "random":
        return os.urandom(random.randrange(1, 600))
    if kind == "huge":
        return struct.pack(">I", 0x7FFFFFF0) + os.urandom(100)
    if kind == "nonjson":
        return remoting.encode_frame(b"\x00\x01 this is { not json " + os.urandom(20), b"body")
    if kind == "midframe":
        full = remoting.encode_request(remoting.GET_MAX_OFFSET, i, {"topic": topic, "queueId": 0})
        return full[:len(full) // 2]
    return remoting.encode_request(remoting.GET_MAX_OFFSET, i, {"topic": topic, "queueId": i % clients.QUEUES})


KINDS = ["random", "huge", "nonjson", "midframe"] + ["valid"] * 16  # 1/5 hostile


class Storm(threading.Thread):
    def __init__(self, host, port, topic):
        super().__init__(daemon=True)
        self.host, self.port, self.topic = host, port, topic
        self.socks = {}  # i -> (sock, kind)
        self.answers = {}  # i -> response code
        self.closed_by_peer = set()
        self.errors = []
        self.connect_failures = 0
        self.done = threading.Event()

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))
        finally:
            self.done.set()

    def _run(self):
        sel = selectors.DefaultSelector()
        for i in range(CONNECTIONS):
            kind = KINDS[i % len(KINDS)]
            try:
                s = socket.create_connection((self.host, self.port), timeout=10)
            except OSError:
                self.connect_failures += 1
                continue
            s.sendall(payload(kind, i, self.topic))
            if kind == "midframe":
                s.close()
                continue
            s.setblocking(False)
            self.socks[i] = (s, kind)
            sel.register(s, selectors.EVENT_READ, (i, kind, bytearray()))
        deadline = time.monotonic() + 30
        want = {i for i, (_, k) in self.socks.items() if k == "valid"}
        while time.monotonic() < deadline and not (want <= set(self.answers)):
            for key, _ in sel.select(timeout=0.2):
                i, kind, buf = key.data
                chunk = self._recv(sel, key)
                if not chunk:
                    continue
                buf += chunk
                if kind == "valid" and len(buf) >= 4:
                    (total,) = struct.unpack_from(">I", buf, 0)
                    if len(buf) >= 4 + total:
                        f = remoting.decode_frame_bytes(bytes(buf[:4 + total]))
                        if f.opaque == i:
                            self.answers[i] = f.code
        # give the hostile connections a moment longer to be closed by the broker
        end = time.monotonic() + 5
        while time.monotonic() < end:
            for key, _ in sel.select(timeout=0.2):
                self._recv(sel, key)
        sel.close()

    def _recv(self, sel, key):
        """What a readable connection sent: None if nothing after all; b"" when the broker closed
        (or reset) it, which is recorded and the connection unregistered."""
        try:
            chunk = key.fileobj.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        except BlockingIOError:
            return None
        if not chunk:
            self.closed_by_peer.add(key.data[0])
            sel.unregister(key.fileobj)
        return chunk

    def close_all(self):
        for s, _ in self.socks.values():
            s.close()


def test_thousand_connections_with_garbage_while_clients_carry_on(broker):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    topic = unique("Storm")
    group = unique("CG")
    with clients.ready_consumers(broker.namesrv, group, topic) as (p, received):
        fds_before = broker.fd_count()
        storm = Storm(broker.host, broker.broker_port, topic)
        storm.start()
        sent, failed = [], []
        try:
            for i in range(MESSAGES):
                k = "m-%d" % i
                try:
                    r = p.send_sync(make_message(topic, "storm %d" % i, keys=k, tags="S"))
                    (sent if r.status == SendStatus.OK else failed).append((k, r.status))
                except Exception as e:
                    failed.append((k, str(e)[:200]))
                if i % 50 == 0:
                    time.sleep(0.05)  # spread the sends over the storm
            storm.done.wait(90)
            assert storm.done.is_set(), "storm thread did not finish"
            wait_until(lambda: {k for k, _ in sent} <= received.keys("m-"), 60,
                       lambda: "consumer to receive all %d messages sent during the storm; missing %s" % (
                           len(sent), sorted({k for k, _ in sent} - received.keys("m-"))[:10]))
        finally:
            storm.close_all()
    assert not storm.errors, "storm thread: %s" % storm.errors
    assert not failed, "%d sends failed during the storm: %s" % (len(failed), failed[:5])
    kinds = {}
    for i, (_, kind) in storm.socks.items():
        kinds.setdefault(kind, []).append(i)
    valid = kinds.get("valid", [])
    unanswered = [i for i in valid if i not in storm.answers]
    wrong = {i: c for i, c in storm.answers.items() if c != remoting.SUCCESS}
    closed = {k: len([i for i in v if i in storm.closed_by_peer]) for k, v in kinds.items()}
    print("connections: %d opened (%d connect failures), closed by the broker per kind: %s of %s" % (
        len(storm.socks), storm.connect_failures, closed, {k: len(v) for k, v in kinds.items()}))
    assert storm.connect_failures == 0, "%d of %d connections refused" % (storm.connect_failures, CONNECTIONS)
    assert not unanswered, "%d of %d valid requests unanswered during the storm, e.g. %s" % (
        len(unanswered), len(valid), unanswered[:10])
    assert not wrong, "valid GET_MAX_OFFSET answered with error codes: %s" % dict(list(wrong.items())[:10])
    assert closed.get("valid", 0) == 0, "%d well-behaved connections were closed by the broker" % closed["valid"]
    not_closed = {k: len(kinds[k]) - closed.get(k, 0) for k in ("huge", "nonjson") if len(kinds.get(k, [])) != closed.get(k, 0)}
    assert not not_closed, "connections still open 5 s after an undecodable frame (count per kind): %s" % not_closed

    assert broker.alive(), "broker died"
    with remoting.Conn(broker.host, broker.broker_port) as c:
        assert c.request(remoting.GET_MAX_OFFSET, {"topic": topic, "queueId": 0}).code == remoting.SUCCESS
    # the broker must release the sockets of connections the peers closed
    wait_until(lambda: (broker.fd_count() or 0) <= fds_before + 20, 20,
               lambda: "broker fds to drop back near %s after the storm (now %s)" % (fds_before, broker.fd_count()))
