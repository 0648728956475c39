"""Two masters on separate hosts (network namespaces, `netns.py`), the C++ client on a third:
kill -9 of one master mid-stream (issue #13).

Hosts: `ns` runs `bolide namesrv`; `b1` and `b2` each run a broker (NameServer role off, registered
with `ns`); `cli` runs the C++ producer and reader as processes of their own. A topic has 2 queues
on each master. While the producer sends continuously, b1 is killed with SIGKILL: the NameServer
drops b1 when its registering connection closes, the producer's sends keep being acknowledged (the
client retries a send that picked b1 on b2, then its route refresh leaves b1 out), and b2 holds
them. b1 restarts on its data dir and registers again; then every acknowledged message is read
back from the two masters. Needs root (skipped otherwise, with the reason).
"""
import socket
import subprocess

import pytest

from netns import Cluster, check_every_ack_readable, net, wait_for  # noqa: F401 - `net` is the fixture

ACKS_BEFORE = 30  # acknowledged sends, reaching both masters, before the fault
ACKS_AFTER = 60  # acknowledged sends after it


def test_harness_hosts_talk_cut_restore_and_clean_up(workdir, net):
    """The harness itself: hosts reach each other over the bridge, not while one is cut, again
    once restored; closing the Net removes its namespaces and kills its processes."""
    a, b = net.host("a"), net.host("b")
    srv = b.call(lambda: socket.create_server((b.addr, 7000)))
    try:
        assert a.accepts("%s:7000" % b.addr)
        b.cut()
        assert not a.accepts("%s:7000" % b.addr, timeout=1.0)
        b.restore()
        wait_for(lambda: a.accepts("%s:7000" % b.addr), 30, "b reachable again after restore")
        assert not a.accepts("127.0.0.1:7000"), "a's loopback is a's own, not b's"
    finally:
        srv.close()
    sleeper = a.popen(["sleep", "600"])
    names = [h.netns for h in net.hosts.values()] + [net.switch]
    r = a.run(["ip", "-o", "addr", "show", "dev", "eth0"])
    assert a.addr in r.stdout, r.stdout
    assert net.close() == []
    assert sleeper.poll() is not None, "processes die with their Net"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names), listed


@pytest.mark.timeout(400)
def test_kill9_of_a_master_producer_carries_on_via_the_other(workdir, net):
    c = Cluster(net, workdir, ["b1", "b2"])
    topic = c.topic("NetKill")
    p = c.producer(topic)
    wait_for(lambda: len(p.acks()) >= ACKS_BEFORE and c.stored("b1", topic) and c.stored("b2", topic), 120,
             lambda: "%d acks reaching both masters (b1 %s, b2 %s)" % (len(p.acks()), c.stored("b1", topic),
                                                                     c.stored("b2", topic)))
    c.brokers["b1"].kill()
    at_kill = len(p.records())
    on_b2 = c.stored("b2", topic)
    wait_for(lambda: c.route(topic) == ["b2"], 60, lambda: "route without b1 (have %s)" % c.route(topic))
    wait_for(lambda: len(p.acks()) >= at_kill + ACKS_AFTER, 180,
             lambda: "%d more acks after the kill (have %d of %d sends)" % (ACKS_AFTER, len(p.acks()) - at_kill,
                                                                           len(p.records()) - at_kill))
    assert p.proc.poll() is None, "producer still running"
    assert p.stop() == 0
    failed = p.failures()
    assert not failed, "sends the client gave up on: %d, e.g. %s" % (len(failed), failed[:3])
    after = [r for r in p.records()[at_kill:] if r["ok"]]
    assert c.stored("b2", topic) >= on_b2 + len(after) - 1, "b2 holds what was acknowledged after the kill"

    c.brokers["b1"].start(retry_in_use_s=10)  # on its data dir
    wait_for(lambda: c.route(topic) == ["b1", "b2"], 60, "b1 back in the route")
    acked, counts = check_every_ack_readable(p, c.read_all(topic))
    assert len(acked) >= ACKS_BEFORE + ACKS_AFTER
