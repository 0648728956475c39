"""(e) Restart mid-stream in SYNC_FLUSH: nothing acknowledged is lost, committed offsets survive.

1. A consumer group consumes a first batch A completely and shuts down (the C++ client commits its
   offsets with UPDATE_CONSUMER_OFFSET); the committed offsets are read back with raw
   QUERY_CONSUMER_OFFSET requests.
2. A producer sends batch B with send_sync, recording which sends were acknowledged SEND_OK. About a third
   of the way in, the broker is stopped (SIGTERM: graceful; SIGKILL: crash) and restarted on the same data
   dir and ports; the producer keeps going (sends fail while it is down).
3. After the restart the committed offsets must be the ones read before, and the same group, started
   again, must receive every acknowledged B message and re-deliver at most a small window of A (it resumes
   from its offsets instead of re-reading from 0 or skipping to the end).
"""
import os
import signal
import threading
import time

import pytest

import clients
import remoting
from clients import SendStatus, make_message, unique, wait_until

N_A = 200
A_BYTES = 128 * 1024
N_B = 300
KILL_AFTER_ACKS = 100
REDELIVERY_WINDOW = 10  # of A, after offsets were committed and read back before the restart


def committed_offsets(broker, group, topic):
    out = {}
    with remoting.Conn(broker.host, broker.broker_port) as c:
        for q in range(clients.QUEUES):
            r = c.request(remoting.QUERY_CONSUMER_OFFSET, {"consumerGroup": group, "topic": topic, "queueId": q})
            out[q] = int(r.ext["offset"]) if r.code == remoting.SUCCESS else ("code %s" % r.code)
    return out


def max_offsets(broker, topic):
    out = {}
    with remoting.Conn(broker.host, broker.broker_port) as c:
        for q in range(clients.QUEUES):
            r = c.request(remoting.GET_MAX_OFFSET, {"topic": topic, "queueId": q})
            out[q] = int(r.ext["offset"]) if r.code == remoting.SUCCESS else ("code %s" % r.code)
    return out


class SendLoop(threading.Thread):
    """send_sync N_B messages; remembers which were acknowledged SEND_OK."""

    def __init__(self, p, topic):
        super().__init__(daemon=True)
        self.p, self.topic = p, topic
        self.acked, self.failed, self.not_ok = [], [], []
        self.progress = 0

    def run(self):
        for i in range(N_B):
            k = "b-%d" % i
            try:
                r = self.p.send_sync(make_message(self.topic, "payload %d" % i, keys=k, tags="B"))
                (self.acked if r.status == SendStatus.OK else self.not_ok).append(k)
            except Exception as e:  # broker down: the C++ client raises ProducerSendSyncFailed
                self.failed.append((k, str(e)[:120]))
                time.sleep(0.2)  # spread the remaining sends over the downtime and past the restart
            self.progress = i + 1
            time.sleep(0.005)  # paced, so that the stop lands mid-stream


SEGMENT = 5 << 20  # the smallest bolide accepts (4 MiB max message + 64 KiB): batch A spans several


@pytest.mark.parametrize("sig", [
    pytest.param(signal.SIGTERM, id="sync-sigterm", marks=pytest.mark.broker(flush="sync", segment_size=SEGMENT)),
    pytest.param(signal.SIGKILL, id="sync-sigkill", marks=pytest.mark.broker(flush="sync", segment_size=SEGMENT)),
    pytest.param(signal.SIGTERM, id="async-sigterm", marks=pytest.mark.broker(flush="async", segment_size=SEGMENT)),
])
def test_restart_mid_stream_loses_no_acknowledged_message(broker, sig):
    """ASYNC_FLUSH may lose acknowledged messages on a crash, but not on a graceful stop: SIGTERM flushes."""
    topic = unique("Restart")
    group = unique("CG")
    received = clients.Received()
    with clients.producer(broker.namesrv) as p:
        clients.create_topic(p, topic)
        # 1. batch A, consumed and committed
        with clients.push_consumer(broker.namesrv, group, topic, received.callback("before")):
            clients.await_consumers_ready(p, topic, received, ["before"])
            for i in range(N_A):  # ~64 KiB stored each (the client zlib-compresses the hex): > 1 segment per shard
                r = p.send_sync(make_message(topic, os.urandom(A_BYTES // 2).hex(), keys="a-%d" % i, tags="A"))
                assert r.status == SendStatus.OK
            wait_until(lambda: len(received.keys("a-")) == N_A, 60,
                       lambda: "batch A consumed (%d/%d)" % (len(received.keys("a-")), N_A))
        maxo = max_offsets(broker, topic)
        wait_until(lambda: committed_offsets(broker, group, topic) == maxo, 15,
                   lambda: "committed offsets %s to reach the max offsets %s after the consumer shut down"
                   % (committed_offsets(broker, group, topic), maxo))
        before = committed_offsets(broker, group, topic)
        time.sleep(1.5)  # more than the broker's offset persist interval (1 s): committed means on disk

        # 2. batch B with a restart in the middle
        loop = SendLoop(p, topic)
        loop.start()
        wait_until(lambda: len(loop.acked) >= KILL_AFTER_ACKS or not loop.is_alive(), 60,
                   lambda: "%d acknowledged sends before stopping the broker" % KILL_AFTER_ACKS)
        at_stop = loop.progress
        t_stop = time.monotonic()
        rc, took = broker.restart(sig)
        assert at_stop < N_B - 50, "the producer had sent %d of %d when the broker was stopped: not mid-stream" % (at_stop, N_B)
        print("broker stopped after %d of %d sends (exit %s in %.2f s), serving again %.2f s after the signal" % (
            at_stop, N_B, rc, took, time.monotonic() - t_stop))
        if broker.in_use_retries:
            print("restart needed %d retries: ports still held by the killed process" % broker.in_use_retries)
        if sig == signal.SIGTERM:
            assert rc == 0, "SIGTERM: broker exited with %s after %.1f s (want a graceful exit 0)" % (rc, took)
        loop.join(timeout=180)
        assert not loop.is_alive(), "producer loop stuck after restart (progress %d/%d)" % (loop.progress, N_B)
        assert loop.acked, "no send was acknowledged"
        after_restart_acks = [k for k in loop.acked if int(k[2:]) > KILL_AFTER_ACKS + 20]
        assert after_restart_acks, "no send was acknowledged after the restart: failures %s" % loop.failed[-5:]
        print("B: %d acknowledged, %d failed (broker down), %d not SEND_OK" % (
            len(loop.acked), len(loop.failed), len(loop.not_ok)))

        # 3. offsets survived; the group resumes from them and gets every acknowledged message
        after = committed_offsets(broker, group, topic)
        assert after == before, "committed offsets changed across the restart: before %s, after %s" % (before, after)
        with clients.push_consumer(broker.namesrv, group, topic, received.callback("after")):
            acked = set(loop.acked)

            def got_after():
                return {m["keys"] for m in received.snapshot() if m["consumer"] == "after"}

            wait_until(lambda: acked <= got_after(), 90,
                       lambda: "every acknowledged message after the restart; %d of %d missing, e.g. %s" % (
                           len(acked - got_after()), len(acked), sorted(acked - got_after())[:10]))
            time.sleep(1.0)
    bodies = {m["keys"]: m["body"] for m in received.snapshot() if m["consumer"] == "after"}
    wrong = [k for k in loop.acked if bodies.get(k) != ("payload %s" % k[2:]).encode()]
    assert not wrong, "acknowledged messages delivered with another body after the restart: %s" % wrong[:10]
    redelivered_a = sorted({m["keys"] for m in received.snapshot()
                            if m["consumer"] == "after" and m["keys"].startswith("a-")})
    print("re-delivered from batch A after the restart: %d" % len(redelivered_a))
    assert len(redelivered_a) <= REDELIVERY_WINDOW, (
        "the group re-read %d of %d already committed messages after the restart (offsets before %s): %s"
        % (len(redelivered_a), N_A, before, redelivered_a[:20]))


@pytest.mark.broker(flush="sync", segment_size=SEGMENT)
def test_running_consumer_resumes_after_kill_and_restart(broker):
    """A push consumer that stays up while the broker is killed (-9) and restarted reconnects and
    receives every acknowledged message, sent before, during and after the outage (duplicates allowed)."""
    topic = unique("Live")
    group = unique("CG")
    with clients.ready_consumers(broker.namesrv, group, topic) as (p, received):
        loop = SendLoop(p, topic)
        loop.start()
        wait_until(lambda: len(loop.acked) >= KILL_AFTER_ACKS or not loop.is_alive(), 60,
                   "acknowledged sends before the kill")
        at_stop = loop.progress
        broker.restart(signal.SIGKILL)
        t_back = time.monotonic()
        assert at_stop < N_B - 50, "stopped after %d of %d sends: not mid-stream" % (at_stop, N_B)
        loop.join(timeout=180)
        assert not loop.is_alive(), "producer loop stuck (progress %d/%d)" % (loop.progress, N_B)
        acked = set(loop.acked)
        wait_until(lambda: acked <= received.keys("b-"), 90,
                   lambda: "the running consumer to get every acknowledged message; %d of %d missing, e.g. %s" % (
                       len(acked - received.keys("b-")), len(acked), sorted(acked - received.keys("b-"))[:10]))
        print("all acknowledged messages delivered %.1f s after the restart" % (time.monotonic() - t_back))
    dups = sum(len(v) - 1 for v in received.by_key("b-").values())
    print("B: %d acknowledged, %d failed while down, %d duplicate deliveries" % (len(acked), len(loop.failed), dups))
