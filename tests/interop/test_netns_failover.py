"""Automatic failover on separate hosts (network namespaces, `netns.py`; issue #13).

Hosts: `ns` (NameServer), `ctl` (`bolide controller`, one node), `a` and `b` (brokers of one
brokerName `fo`, SYNC_MASTER, `enableControllerMode`), `cli` (the C++ producer and reader).
A (brokerId 0) is elected, B follows it. While the producer sends, A is killed with SIGKILL: the
controller promotes B, which registers as brokerId 0, and the producer's sends reach it (answered
SLAVE_NOT_AVAILABLE while it has no slave: stored, not counted as acknowledged). A restarted on its
data becomes B's slave: B's sends are acknowledged again and A ends holding what B holds. Every
acknowledged message is readable. Needs root (skipped otherwise).
"""
import json
from pathlib import Path

import pytest

import remoting
from netns import (GET_ROUTEINFO_BY_TOPIC, Cluster, NetServer, check_every_ack_readable, create_topic,  # noqa: F401
                   net, stored, wait_for)

CONTROLLER_PORT = 9878
ACKS_BEFORE = 40
QUEUES = 2


def group_addrs(c, topic, name):
    """brokerId -> address of group `name` in the route of `topic` ({} when absent)."""
    def go():
        h, p = c.namesrv.addr.rsplit(":", 1)
        with remoting.Conn(h, int(p), timeout=5.0) as conn:
            r = conn.request(GET_ROUTEINFO_BY_TOPIC, {"topic": topic}, version=500)
            if r.code != remoting.SUCCESS:
                return {}
            for b in json.loads(r.body)["brokerDatas"]:
                if b["brokerName"] == name:
                    return {int(k): v for k, v in b["brokerAddrs"].items()}
            return {}
    try:
        return c.cli.call(go)
    except Exception:  # noqa: BLE001 - unreachable or not yet routed: polled again
        return {}


@pytest.mark.timeout(400)
def test_master_killed_mid_stream_is_replaced_by_its_slave(workdir, net):
    c = Cluster(net, workdir, [])
    ctl = c.hosts["ctl"] = net.host("ctl")
    from conftest import bolide_binary
    argv = [str(bolide_binary()), "controller", "--id", "1", "--listen-ip", ctl.addr,
            "--peers", "1=%s:%d" % (ctl.addr, CONTROLLER_PORT), "--data-dir", str(Path(workdir) / "ctl-data"),
            "--broker-timeout-ms", "4000"]
    controller = NetServer(ctl, workdir, "ctl", argv, "bolide controller ready", [CONTROLLER_PORT])
    net.servers.append(controller)
    controller.start()

    sets = ["enableControllerMode=true", "controllerAddr=%s:%d" % (ctl.addr, CONTROLLER_PORT),
            "controllerHeartbeatInterval=500", "brokerRole=SYNC_MASTER", "haSendHeartbeatInterval=500",
            "slaveTimeout=3000"]
    a = c.add("a", broker_name="fo", sets=sets + ["brokerId=0"])
    topic = "NetFailover"
    # A alone is elected; it takes the topic once it is master.
    wait_for(lambda: create_ok(c, a, topic), 60, "A elected master, topic created")
    wait_for(lambda: group_addrs(c, topic, "fo").get(0) == a.broker_addr, 60,
             lambda: "A as brokerId 0 in the route (have %s)" % group_addrs(c, topic, "fo"))
    b = c.add("b", broker_name="fo", sets=sets + ["brokerId=1"])
    wait_for(lambda: group_addrs(c, topic, "fo") == {0: a.broker_addr, 1: b.broker_addr}, 60,
             lambda: "A master and B slave in the route (have %s)" % group_addrs(c, topic, "fo"))

    p = c.producer(topic)
    wait_for(lambda: len(p.acks()) >= ACKS_BEFORE, 120, lambda: "%d acks before the kill" % len(p.acks()))
    a.kill()
    at_kill = len(p.records())
    # B is promoted and registers as the master; the producer's sends reach it.
    wait_for(lambda: group_addrs(c, topic, "fo").get(0) == b.broker_addr, 90,
             lambda: "B as brokerId 0 in the route (have %s)" % group_addrs(c, topic, "fo"))
    # Answered but not SEND_OK: SLAVE_NOT_AVAILABLE (the client's own enum numbers it).
    wait_for(lambda: any("status" in r and not r["ok"] for r in p.records()[at_kill:]), 120,
             "a send stored on B, the master without a slave (SLAVE_NOT_AVAILABLE)")

    # A comes back on its data as B's slave: sends are acknowledged again, A catches up.
    a.start(retry_in_use_s=10.0)
    wait_for(lambda: group_addrs(c, topic, "fo") == {0: b.broker_addr, 1: a.broker_addr}, 90,
             lambda: "B master and A slave in the route (have %s)" % group_addrs(c, topic, "fo"))
    at_back = len(p.acks())
    wait_for(lambda: len(p.acks()) >= at_back + ACKS_BEFORE, 180,
             lambda: "%d acks with A following B" % (len(p.acks()) - at_back))
    assert p.stop() == 0
    wait_for(lambda: stored(c.cli, a.broker_addr, topic, QUEUES) == stored(c.cli, b.broker_addr, topic, QUEUES),
             120, lambda: "A holds what B holds (A %s, B %s)" % (stored(c.cli, a.broker_addr, topic, QUEUES),
                                                                stored(c.cli, b.broker_addr, topic, QUEUES)))
    acked, _ = check_every_ack_readable(p, c.read_all(topic))
    assert len(acked) >= 2 * ACKS_BEFORE


def create_ok(c, broker, topic):
    try:
        create_topic(c.cli, broker.broker_addr, topic, QUEUES)
    except Exception:  # noqa: BLE001 - not master yet
        return False
    return stored(c.cli, broker.broker_addr, topic, QUEUES) is not None
