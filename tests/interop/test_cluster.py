"""Two masters under one NameServer, with the C++ client (issue #13).

Broker `a` serves the NameServer role; broker `b` has the role off and registers with `a`'s NameServer.
A topic on both is routed over both; after `b` is killed with SIGKILL the producer's sends that pick `b`'s
queues fail to connect and are retried on `a`: every send succeeds, and `a` stores them. Which broker holds
what is read from the brokers themselves (GET_MAX_OFFSET), not from the client.
"""
import json
import signal

import pytest

import clients
import remoting
from conftest import Broker

UPDATE_AND_CREATE_TOPIC = 17
GET_ROUTEINFO_BY_TOPIC = 105
QUEUES_EACH = 2


class MemberBroker(Broker):
    """A broker with the NameServer role off, registered with `namesrv`: up once it registered."""

    def __init__(self, workdir, namesrv, name):
        super().__init__(workdir, sets=["brokerName=" + name, "autoCreateTopicEnable=false"],
                         extra_args=["--namesrv-role", "off", "--namesrv-addr", namesrv])

    def _accepts(self, port):
        if port == self.namesrv_port:  # not bound with the role off: wait for the registration instead
            return "registered with the NameServer" in self.current_log()
        return super()._accepts(port)


def create_topic(port, topic):
    with remoting.Conn("127.0.0.1", port) as c:
        r = c.request(UPDATE_AND_CREATE_TOPIC, {
            "topic": topic, "defaultTopic": "TBW102", "readQueueNums": QUEUES_EACH,
            "writeQueueNums": QUEUES_EACH, "perm": 6, "topicFilterType": "SINGLE_TAG",
            "topicSysFlag": 0, "order": "false"})
        assert r.code == remoting.SUCCESS, r


def stored(port, topic):
    """Messages the broker on `port` holds for `topic` (sum of its queues' max offsets)."""
    with remoting.Conn("127.0.0.1", port) as c:
        total = 0
        for q in range(QUEUES_EACH):
            r = c.request(remoting.GET_MAX_OFFSET, {"topic": topic, "queueId": q})
            assert r.code == remoting.SUCCESS, r
            total += int(r.ext["offset"])
        return total


def routed_brokers(namesrv_port, topic):
    with remoting.Conn("127.0.0.1", namesrv_port) as c:
        r = c.request(GET_ROUTEINFO_BY_TOPIC, {"topic": topic}, version=500)
        if r.code != remoting.SUCCESS:
            return []
        return sorted(b["brokerName"] for b in json.loads(r.body)["brokerDatas"])


@pytest.mark.broker(sets=["brokerName=a", "autoCreateTopicEnable=false"])
def test_sends_move_to_the_other_master_when_one_dies(broker, workdir):
    (workdir / "b").mkdir()
    b = MemberBroker(workdir / "b", broker.namesrv, "b")
    b.start()
    try:
        topic = clients.unique("CppCluster")
        create_topic(broker.broker_port, topic)
        create_topic(b.broker_port, topic)
        clients.wait_until(lambda: routed_brokers(broker.namesrv_port, topic) == ["a", "b"], 30,
                           "route over both brokers")
        with clients.producer(broker.namesrv) as p:
            for i in range(8):
                r = p.send_sync(clients.make_message(topic, "warm-%d" % i))
                assert r.status == clients.SendStatus.OK, r
            on_a, on_b = stored(broker.broker_port, topic), stored(b.broker_port, topic)
            assert on_a + on_b == 8 and on_a > 0 and on_b > 0, "warm-up reached both: a=%d b=%d" % (on_a, on_b)
            b.stop(signal.SIGKILL)
            for i in range(8):
                r = p.send_sync(clients.make_message(topic, "after-%d" % i))
                assert r.status == clients.SendStatus.OK, r
            assert stored(broker.broker_port, topic) == on_a + 8, "every send after the crash is on a"
        # b's registering connection closed: the NameServer no longer routes it.
        clients.wait_until(lambda: routed_brokers(broker.namesrv_port, topic) == ["a"], 30, "route without b")
    finally:
        b.stop(signal.SIGKILL)
