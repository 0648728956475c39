"""Master/slave replication on separate hosts (network namespaces, `netns.py`), with the C++ client
(issue #13).

Hosts: `ns` runs `bolide namesrv`; `m1` a SYNC_MASTER broker (brokerName m1, brokerId 0); `s1` its
slave (brokerName m1, brokerId 1, brokerRole=SLAVE, finding the master's HA address through the
NameServer); `cli` the C++ producer and consumers as processes of their own. The topic has 2
queues, which the two shards of each broker own: every shard has its own peer link and they
connect independently, so a test first sends to every queue until the master answers SEND_OK there
(`wait_slave_attached`) before it counts on the slave.

- kill -9 of the master mid-stream of sync sends: every message acknowledged SEND_OK is readable
  from the slave (the C++ pull reader, which finds only the slave in the route, and raw pulls from
  the slave), a consumer that ran throughout carries on from the slave and ends with every
  acknowledged message, and a consumer of a group that committed on the master before the kill
  resumes on the slave from that committed offset (the offsets reached the slave), losing nothing.
- the master-slave link cut (the slave's host off the network, `ip link set ... down`): the master
  answers sends FLUSH_SLAVE_TIMEOUT, then SLAVE_NOT_AVAILABLE once it closed the silent link (raw
  sends, every queue); the C++ producer, sending on, gets no SEND_OK (its client reports those
  answers as its own error after its retries); every SEND_OK is on the slave (its own content, read
  on the slave's host while it is cut off) and nothing sent during the cut is; after the link is
  restored the producer is acknowledged again and the slave catches up: it holds, queue by queue,
  offset by offset, what the master stored.

Needs root (skipped otherwise, with the reason).
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import remoting
from netns import Cluster, check_every_ack_readable, net, wait_for  # noqa: F401 - `net` is the fixture

CONSUMER = Path(__file__).resolve().parent / "netns_consumer.py"
QUEUES = 2
SEND_OK, FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE = 0, 2, 3  # the C++ client's SendStatus
CODE_SLAVE_NOT_AVAILABLE, CODE_FLUSH_SLAVE_TIMEOUT = 11, 12  # response codes (Java's ResponseCode)
PROBE = "probe-"  # keys of the raw sends that check the links; not the producer's


def replicated_pair(net, workdir, master_sets=()):
    """NameServer, SYNC_MASTER m1 and its slave s1, each on its own host, plus `cli`."""
    c = Cluster(net, workdir, ["m1"], broker_sets={"m1": ["brokerRole=SYNC_MASTER"] + list(master_sets)},
                queues=QUEUES)
    c.add("s1", broker_name="m1", sets=["brokerId=1", "brokerRole=SLAVE"])
    return c


def send_raw(host, addr, topic, queue, key, timeout=30.0):
    """One SEND_MESSAGE_V2 to `queue` of the broker at `addr`, from `host`; the response code."""
    def go():
        h, p = addr.rsplit(":", 1)
        with remoting.Conn(h, int(p), timeout=timeout) as conn:
            r = conn.request(remoting.SEND_MESSAGE_V2,
                             remoting.send_v2_ext("ProbePG", topic, {"KEYS": key}, queue), b"body-" + key.encode())
            return r.code
    return host.call(go)


def wait_slave_attached(c, topic, timeout=180):
    """Sends to every queue of `topic` on the master until each answers SEND_OK (its shard's slave
    is connected and caught up). Every shard's link connects on its own."""
    addr = c.brokers["m1"].broker_addr
    for q in range(QUEUES):
        last = []

        def ok():
            code = send_raw(c.cli, addr, topic, q, "%sq%d-%d" % (PROBE, q, len(last)))
            last.append(code)
            return code == remoting.SUCCESS
        wait_for(ok, timeout, lambda: "SEND_OK on queue %d of the SYNC_MASTER (codes so far %s)" % (q, last[-5:]),
                 interval=0.5)


def broker_messages(host, addr, topic, group="ReadPG"):
    """Every message of `topic` the broker at `addr` holds, by raw pulls from offset 0 on each queue,
    asked from `host`: a list of {key, queue_id, offset, body}."""
    def go():
        h, p = addr.rsplit(":", 1)
        out = []
        with remoting.Conn(h, int(p), timeout=30.0) as conn:
            for q in range(QUEUES):
                offset = 0
                while True:
                    r = conn.request(remoting.PULL_MESSAGE, {
                        "consumerGroup": group, "topic": topic, "queueId": q, "queueOffset": str(offset),
                        "maxMsgNums": 32, "sysFlag": remoting.PULL_SUBSCRIPTION, "commitOffset": "-1",
                        "suspendTimeoutMillis": "1000", "subscription": "*", "subVersion": "0"})
                    if r.code == remoting.SUCCESS:
                        for rec in remoting.decode_records(r.body):
                            out.append({"key": rec["properties"].get("KEYS", ""), "queue_id": rec["queue_id"],
                                        "offset": rec["queue_offset"], "body": rec["body"].decode()})
                        nxt = int(r.ext["nextBeginOffset"])
                        assert nxt > offset, "pull at %d of queue %d did not advance: %s" % (offset, q, r)
                        offset = nxt
                    elif r.code in (remoting.PULL_NOT_FOUND, remoting.PULL_OFFSET_MOVED):
                        break
                    else:
                        raise AssertionError("pull at %d of queue %d on %s: %s" % (offset, q, addr, r))
        return out
    return host.call(go)


def max_offsets(host, addr, topic):
    """[max offset of each queue] on the broker at `addr`, or None when it cannot answer."""
    def go():
        h, p = addr.rsplit(":", 1)
        with remoting.Conn(h, int(p), timeout=5.0) as conn:
            out = []
            for q in range(QUEUES):
                r = conn.request(remoting.GET_MAX_OFFSET, {"topic": topic, "queueId": q})
                if r.code != remoting.SUCCESS:
                    return None
                out.append(int(r.ext["offset"]))
            return out
    try:
        return host.call(go)
    except (OSError, remoting.ConnectionClosed):
        return None


def committed(host, addr, group, topic):
    """{queue: committed offset} of `group` on the broker at `addr` (queues it has none for left out),
    or None when it cannot answer."""
    def go():
        h, p = addr.rsplit(":", 1)
        with remoting.Conn(h, int(p), timeout=5.0) as conn:
            out = {}
            for q in range(QUEUES):
                r = conn.request(remoting.QUERY_CONSUMER_OFFSET, {"consumerGroup": group, "topic": topic,
                                                                  "queueId": q})
                if r.code == remoting.SUCCESS:
                    out[q] = int(r.ext["offset"])
            return out
    try:
        return host.call(go)
    except (OSError, remoting.ConnectionClosed):
        return None


def route_broker_ids(c, topic):
    """brokerIds the NameServer routes `topic`'s group m1 to (sorted; [] when unknown)."""
    def go():
        h, p = c.namesrv.addr.rsplit(":", 1)
        with remoting.Conn(h, int(p), timeout=5.0) as conn:
            r = conn.request(remoting.GET_ROUTEINFO_BY_TOPIC, {"topic": topic}, version=500)
            if r.code != remoting.SUCCESS:
                return []
            # Java's route JSON has bare integer map keys; accept both spellings.
            body = re.sub(r'([{,])(\d+):', r'\1"\2":', r.body.decode())
            return sorted(int(i) for b in json.loads(body)["brokerDatas"] if b["brokerName"] == "m1"
                          for i in b["brokerAddrs"])
    try:
        return c.cli.call(go)
    except (OSError, remoting.ConnectionClosed):
        return []


class Consumer:
    """The C++ push consumer (`netns_consumer.py`) of `group` on `host`, until `stop()`."""

    def __init__(self, c, group, topic, label):
        self.out = c.workdir / (label + ".jsonl")
        self.stop_file = c.workdir / (label + ".stop")
        self.proc = c.cli.popen([sys.executable, CONSUMER, "consume", "--namesrv", c.namesrv.addr,
                                 "--group", group, "--topic", topic, "--out", self.out, "--stop-file",
                                 self.stop_file], log=c.workdir / (label + ".log"))

    def records(self):
        try:
            lines = self.out.read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:  # a line being written
                continue
            if "key" in rec and not rec["key"].startswith(PROBE):
                out.append(rec)
        return out

    def keys(self):
        return {r["key"] for r in self.records()}

    def stop(self, timeout=90):
        self.stop_file.touch()
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("consumer %s did not stop within %d s" % (self.out.name, timeout))
        assert rc == 0, "consumer %s exited %s" % (self.out.name, rc)


def without_probes(msgs):
    return [m for m in msgs if not m["key"].startswith(PROBE)]


@pytest.mark.timeout(600)
def test_kill9_of_sync_master_every_ack_on_the_slave_and_consumers_carry_on(workdir, net):
    c = replicated_pair(net, workdir, ["slaveTimeout=10000"])
    topic = c.topic("NetReplKill")
    wait_slave_attached(c, topic)
    m_addr, s_addr = c.brokers["m1"].broker_addr, c.brokers["s1"].broker_addr

    # A consumer that runs throughout (group A), and one of group B that stops (committing on the
    # master) before the kill and comes back after it.
    ca = Consumer(c, "NetReplGA", topic, "consumer-a")
    cb = Consumer(c, "NetReplGB", topic, "consumer-b")
    p = c.producer(topic, timeout_ms=15000)
    wait_for(lambda: len(p.acks()) >= 60 and len(cb.records()) >= 20, 180,
             lambda: "60 acks (have %d) and consumer B at 20 (has %d)" % (len(p.acks()), len(cb.records())))
    cb.stop()

    def offsets_on_both():
        m = committed(c.cli, m_addr, "NetReplGB", topic)
        return m if m and len(m) == QUEUES and m == committed(c.cli, s_addr, "NetReplGB", topic) else None
    on_master = wait_for(offsets_on_both, 60, lambda: "group B's offsets, master %s, on the slave (has %s)" % (
        committed(c.cli, m_addr, "NetReplGB", topic), committed(c.cli, s_addr, "NetReplGB", topic)))

    at = len(p.acks())
    wait_for(lambda: len(p.acks()) >= at + 60, 180, lambda: "60 more acks (have %d)" % (len(p.acks()) - at))
    c.brokers["m1"].kill()  # mid-stream: the producer is sending
    at_kill = len(p.records())
    wait_for(lambda: route_broker_ids(c, topic) == [1], 60,
             lambda: "the route of m1 with the slave only (have %s)" % route_broker_ids(c, topic))
    wait_for(lambda: len(p.records()) >= at_kill + 3, 120, "3 sends after the kill")
    assert p.stop() == 0
    acked = {r["key"] for r in p.acks()}
    assert len(acked) >= 120
    assert all(r["status"] == SEND_OK for r in p.acks())

    # Every acknowledged message is on the slave: raw pulls from the slave, and the C++ reader.
    on_slave = without_probes(broker_messages(c.cli, s_addr, topic))
    check_every_ack_readable(p, on_slave)
    pairs = [(m["queue_id"], m["offset"]) for m in on_slave]
    assert len(pairs) == len(set(pairs)), "one queue offset holds two messages on the slave"
    check_every_ack_readable(p, without_probes(c.read_all(topic)))

    # Consumer A carries on from the slave: it ends with every acknowledged message.
    wait_for(lambda: acked <= ca.keys(), 180,
             lambda: "consumer A to get every ack (misses %d, e.g. %s)" % (
                 len(acked - ca.keys()), sorted(acked - ca.keys())[:5]))
    assert ca.proc.poll() is None, "consumer A still running"
    ca.stop()
    assert not ca.keys() - {r["key"] for r in p.records()}, "consumer A got messages never sent"

    # Group B resumes on the slave from the offsets it committed on the master, and loses nothing.
    before = cb.keys()
    cb2 = Consumer(c, "NetReplGB", topic, "consumer-b2")
    missing = acked - before
    wait_for(lambda: missing <= cb2.keys(), 180,
             lambda: "consumer B (again) to get the %d acks it had not consumed (misses %d, e.g. %s)" % (
                 len(missing), len(missing - cb2.keys()), sorted(missing - cb2.keys())[:5]))
    cb2.stop()
    for q in range(QUEUES):
        first = min((r["offset"] for r in cb2.records() if r["queue_id"] == q), default=None)
        assert first is None or first == on_master[q], (
            "queue %d: group B resumed at %s on the slave, committed %d" % (q, first, on_master[q]))
    assert any(r["queue_id"] == q for r in cb2.records() for q in range(QUEUES)), "group B consumed on the slave"


@pytest.mark.timeout(600)
def test_link_cut_between_master_and_slave_never_acks_what_the_slave_lacks_then_catches_up(workdir, net):
    # The master answers within the client's timeout: slaveTimeout 2 s, the clients wait 15 s and more.
    c = replicated_pair(net, workdir, ["slaveTimeout=2000"])
    topic = c.topic("NetReplCut")
    wait_slave_attached(c, topic)
    m_addr, s_addr = c.brokers["m1"].broker_addr, c.brokers["s1"].broker_addr
    s1 = c.hosts["s1"]

    p = c.producer(topic, timeout_ms=15000)
    wait_for(lambda: len(p.acks()) >= 40, 180, lambda: "40 acks (have %d)" % len(p.acks()))
    s1.cut()
    at_cut = len(p.records())

    # The master's answers, by raw sends to each queue: FLUSH_SLAVE_TIMEOUT while it waits for the ACK
    # of a slave it still counts as connected, SLAVE_NOT_AVAILABLE once it closed the silent link
    # (three heartbeat intervals). Never SUCCESS. These messages are stored on the master only.
    codes = []
    for q in range(QUEUES):
        def answered_not_available():
            code = send_raw(c.cli, m_addr, topic, q, "%scut-q%d-%d" % (PROBE, q, len(codes)))
            codes.append(code)
            assert code in (CODE_FLUSH_SLAVE_TIMEOUT, CODE_SLAVE_NOT_AVAILABLE), (
                "answer to a send with the slave cut off: %d (all so far %s)" % (code, codes))
            return code == CODE_SLAVE_NOT_AVAILABLE
        wait_for(answered_not_available, 180, lambda: "SLAVE_NOT_AVAILABLE on queue %d (codes %s)" % (q, codes[-10:]))
    # The C++ producer sends on: no SEND_OK since the cut (the send in flight at the cut aside). The
    # C++ client 1.2 retries a send answered with a status other than SEND_OK, then gives up with its
    # own error ("No route info of this topic"), so it reports errors here, not the statuses.
    wait_for(lambda: len(p.records()) >= at_cut + 5, 180, lambda: "5 sends after the cut (have %d)" % (
        len(p.records()) - at_cut))
    acks = p.acks()
    after = p.records()[at_cut + 1:]
    assert not [r for r in after if r["ok"]], "SEND_OK while the slave was cut off: %s" % [
        r for r in after if r["ok"]][:3]
    assert all(r.get("status") in (FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE) or "error" in r for r in after), after[:3]

    # The slave's own content, read on its host while it is still cut off: every SEND_OK is there,
    # none of the sends the master answered without it.
    assert not s1.accepts(m_addr), "the slave is cut off"
    held = {m["key"] for m in broker_messages(s1, s_addr, topic)}
    lacking = sorted({r["key"] for r in acks} - held)
    assert not lacking, "SEND_OK for %d messages the slave does not hold, e.g. %s" % (len(lacking), lacking[:5])
    assert not [k for k in held if k.startswith(PROBE + "cut-")], "the slave holds sends made while it was cut off"

    # Restored: the link comes back, the producer's sends are acknowledged again, and the slave catches
    # up with everything the master stored, at the same queue offsets.
    s1.restore()
    at_restore = len(p.records())
    wait_for(lambda: len([r for r in p.records()[at_restore:] if r["ok"]]) >= 20, 240,
             lambda: "20 acks after the restore (records since: %s)" % sorted(
                 {str(r.get("status", r.get("error", "")))[:60] for r in p.records()[at_restore:]}))
    assert p.stop() == 0
    want = max_offsets(c.cli, m_addr, topic)
    wait_for(lambda: max_offsets(c.cli, s_addr, topic) == want, 180,
             lambda: "the slave at the master's %s (has %s)" % (want, max_offsets(c.cli, s_addr, topic)))
    key = lambda m: (m["queue_id"], m["offset"])  # noqa: E731
    on_master = sorted(broker_messages(c.cli, m_addr, topic), key=key)
    on_slave = sorted(broker_messages(c.cli, s_addr, topic), key=key)
    assert on_slave == on_master
    check_every_ack_readable(p, without_probes(on_slave))
    assert {k for k in (m["key"] for m in on_slave) if k.startswith(PROBE + "cut-")}, "the sends made during the cut caught up"
