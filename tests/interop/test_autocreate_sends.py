"""Sends to a topic that does not exist yet (auto-creation on) are all stored, in every send mode and
with any number of shards (issue 10: 300 oneway C++ sends to a new topic stored about 230).

The first sends race the topic's creation: shard 0 creates it, persists it and replicates it to the
other shards one by one, while the client's sends keep arriving on every shard and are forwarded to
the owners of the queues they name. An owner whose replica did not have the topic yet refused the
send (TOPIC_NOT_EXIST), which a oneway send never reports. Counted here with raw GET_MAX_OFFSET
over the topic's queues, after the producer is shut down (it flushes its async sends first).
"""
import threading

import pytest

import clients
import remoting
from clients import SendStatus, make_message, unique, wait_until

N = 300


def stored_count(broker, topic):
    total = 0
    with remoting.Conn(broker.host, broker.broker_port) as c:
        for q in range(16):
            r = c.request(remoting.GET_MAX_OFFSET, {"topic": topic, "queueId": q})
            if r.code != remoting.SUCCESS:
                continue
            total += int(r.ext.get("offset", "0"))
    return total


def send_all(p, topic, mode):
    keep, errors, done = [], [], []
    lock = threading.Lock()
    for i in range(N):
        msg = make_message(topic, "auto-create %s %d" % (mode, i), keys="k%d" % i, tags="A")
        if mode == "oneway":
            p.send_oneway(msg)
        elif mode == "sync":
            r = p.send_sync(msg)
            assert r.status == SendStatus.OK, "sync send %d: %r" % (i, r)
        else:
            def ok(res):
                with lock:
                    done.append(res)

            def err(exc):
                with lock:
                    errors.append(exc)
            keep.append(msg)
            p.send_async(msg, ok, err)
    if mode == "async":
        wait_until(lambda: len(done) + len(errors) == N, 60, lambda: "async callbacks (%d ok, %d errors)" % (
            len(done), len(errors)))
        assert not errors, errors[:5]


def case(mode, shards):
    return pytest.param(mode, marks=pytest.mark.broker(shards=shards), id="%s-%dshards" % (mode, shards))


@pytest.mark.parametrize("mode", [
    case("oneway", 1), case("oneway", 2), case("oneway", 4), case("async", 4), case("sync", 3),
])
def test_no_send_to_a_new_topic_is_lost(broker, mode):
    topic = unique("Auto")
    with clients.producer(broker.namesrv) as p:
        send_all(p, topic, mode)
    wait_until(lambda: stored_count(broker, topic) >= N, 30,
               lambda: "%d %s sends to a new topic stored (have %d)" % (N, mode, stored_count(broker, topic)))
    assert stored_count(broker, topic) == N
