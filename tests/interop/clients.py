"""Helpers around the PyPI `rocketmq` 0.4.4 client (the official C++ client behind ctypes).

Rules learnt from captures/README.md, enforced here so tests cannot forget them:
- every client gets a unique instance name (several push consumers in one process need distinct ones;
  unique names also keep the C++ client from reusing a client factory bound to an earlier broker);
- every client is shut down (use the context managers), or its C++ threads keep the interpreter alive;
- the C++ client logs to $HOME/logs/rocketmq-cpp/<pid>_rocketmq-cpp.log.0 (its log-path setters are
  no-ops in 0.4.4); conftest points HOME into the build tree and attaches that log's warnings to failures.
"""
import contextlib
import ctypes
import threading
import time
import uuid

from rocketmq.client import Message, Producer, PushConsumer, SendStatus  # noqa: F401
from rocketmq.client import RecvMessage
from rocketmq.ffi import MSG_CALLBACK_FUNC, MessageModel, dll

dll.SetProducerInstanceName.argtypes = [ctypes.c_void_p, ctypes.c_char_p]

QUEUES = 4  # the C++ producer asks for defaultTopicQueueNums=4 when a topic is auto-created


def unique(prefix):
    return "%s_%s" % (prefix, uuid.uuid4().hex[:10])


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls `predicate` until it returns a truthy value or `timeout` seconds pass; then fails with `what`."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what() if callable(what) else what))
        time.sleep(interval)


class Received:
    """Thread-safe record of what one or more push consumers delivered."""

    def __init__(self):
        self.lock = threading.Lock()
        self.msgs = []  # list of dicts, in delivery order

    def callback(self, consumer_name, props=()):
        def on_message(msg):
            rec = {
                "consumer": consumer_name,
                "topic": msg.topic,
                "tags": (msg.tags or b"").decode("utf-8", "replace"),
                "keys": (msg.keys or b"").decode("utf-8", "replace"),
                "body": msg.body or b"",
                "id": msg.id,
                "queue_id": msg.queue_id,
                "queue_offset": msg.queue_offset,
                "reconsume_times": msg.reconsume_times,
                "props": {p: (msg.get_property(p) or b"").decode("utf-8", "replace") for p in props},
                "t": time.monotonic(),
            }
            with self.lock:
                self.msgs.append(rec)
        return on_message

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def by_key(self, prefix=""):
        """keys -> list of records (several when delivered more than once)."""
        out = {}
        for m in self.snapshot():
            if m["keys"].startswith(prefix):
                out.setdefault(m["keys"], []).append(m)
        return out

    def keys(self, prefix=""):
        return {m["keys"] for m in self.snapshot() if m["keys"].startswith(prefix)}


def make_message(topic, body, keys=None, tags=None, props=None):
    m = Message(topic)
    if keys is not None:
        m.set_keys(keys)
    if tags is not None:
        m.set_tags(tags)
    m.set_body(body)
    for k, v in (props or {}).items():
        m.set_property(k, v)
    return m


@contextlib.contextmanager
def producer(namesrv, group=None, timeout_ms=None):
    p = Producer(group or unique("PG"), timeout=timeout_ms)
    dll.SetProducerInstanceName(p._handle, unique("prod").encode())
    p.set_namesrv_addr(namesrv)
    p.start()
    try:
        yield p
    finally:
        p.shutdown()


@contextlib.contextmanager
def push_consumer(namesrv, group, topic, callback, expression="*", orderly=False,
                  model=MessageModel.CLUSTERING, threads=None, instance=None):
    c = PushConsumer(group, orderly=orderly, message_model=model)
    name = instance or unique("cons")
    c.set_instance_name(name)
    c.set_namesrv_addr(namesrv)
    if threads:
        c.set_thread_count(threads)
    c.subscribe(topic, callback, expression)
    c.start()
    try:
        yield c
    finally:
        c.shutdown()


def create_topic(p, topic, tags="init"):
    """Auto-creates `topic` (QUEUES queues) with one message, so consumers find its route at start."""
    r = p.send_sync(make_message(topic, "topic-init", keys="init-" + topic, tags=tags))
    assert r.status == SendStatus.OK, "creating topic %s: send returned %r" % (topic, r)
    return r


def send_probe_round(p, topic, prefix, tags="probe", queues=QUEUES):
    """One probe message to every queue (send_orderly with an int arg picks queue arg % n)."""
    for q in range(queues):
        m = make_message(topic, "probe", keys="%s%d" % (prefix, q), tags=tags)
        r = p.send_orderly(m, q)
        assert r.status == SendStatus.OK, "probe to queue %d: %r" % (q, r)


def await_consumers_ready(p, topic, received, consumers, timeout=60, tags="probe", queues=QUEUES,
                          mode="split"):
    """Barrier before the real traffic of a test.

    The C++ push consumer has no consume-from-where setting: a new group starts at the queue's max
    offset (CONSUME_FROM_LAST_OFFSET), so messages sent before it starts pulling are skipped by design.
    Probe rounds (one message per queue, keys "probe-...") are sent until rounds are seen in full:
      mode="split": each probe exactly once and every consumer in `consumers` got at least one, for two
                    rounds in a row (a clustering group that has finished rebalancing);
      mode="each":  every consumer got every probe of the round (broadcasting).
    Returns the number of rounds sent.
    """
    token = uuid.uuid4().hex[:6]
    needed = 2 if mode == "split" else 1
    deadline = time.monotonic() + timeout
    rnd = 0
    in_a_row = 0
    while True:
        rnd += 1
        prefix = "probe-%s-%d-" % (token, rnd)
        send_probe_round(p, topic, prefix, tags=tags, queues=queues)
        round_deadline = min(deadline, time.monotonic() + 3.0)
        ok = False
        while time.monotonic() < round_deadline:
            got = [m for m in received.snapshot() if m["keys"].startswith(prefix)]
            if _round_ok(got, consumers, queues, mode):
                ok = True
                break
            time.sleep(0.05)
        in_a_row = in_a_row + 1 if ok else 0
        if in_a_row >= needed:
            return rnd
        if time.monotonic() >= deadline:
            got = [(m["consumer"], m["keys"], m["queue_id"]) for m in received.snapshot()
                   if m["keys"].startswith("probe-" + token)]
            raise AssertionError("consumers %s not ready after %.0f s (%d probe rounds); probes seen: %s"
                                 % (consumers, timeout, rnd, got[-40:]))


def _round_ok(got, consumers, queues, mode):
    if mode == "split":
        keys = [m["keys"] for m in got]
        return (len(keys) == queues and len(set(keys)) == queues
                and all(any(m["consumer"] == c for m in got) for c in consumers))
    for c in consumers:
        if len({m["keys"] for m in got if m["consumer"] == c}) != queues:
            return False
    return True


@contextlib.contextmanager
def push_consumer_with_status(namesrv, group, topic, on_message, expression="*", instance=None):
    """A push consumer whose callback returns the consume status itself: 0 = CONSUME_SUCCESS,
    1 = RECONSUME_LATER (the wrapper's subscribe() cannot return 1; captures/README.md)."""
    c = PushConsumer(group)
    c.set_instance_name(instance or unique("cons"))
    c.set_namesrv_addr(namesrv)

    def raw(consumer, msg):
        try:
            return int(on_message(RecvMessage(msg)))
        except Exception:  # never let an exception cross into C++
            import traceback
            traceback.print_exc()
            return 1

    func = MSG_CALLBACK_FUNC(raw)
    c._callback_refs.append(func)
    dll.Subscribe(c._handle, topic.encode(), expression.encode())
    dll.RegisterMessageCallback(c._handle, func)
    c.start()
    try:
        yield c
    finally:
        c.shutdown()


class Deliveries:
    """Thread-safe record of what a status-returning push consumer was handed, in delivery order:
    (keys, reconsume_times, topic, body, monotonic time) per delivery."""

    def __init__(self):
        self.lock = threading.Lock()
        self.all = []

    def record(self, msg):
        """Records `msg`; returns (its keys, whether this is the first delivery of those keys)."""
        keys = (msg.keys or b"").decode()
        with self.lock:
            self.all.append((keys, msg.reconsume_times, msg.topic, msg.body, time.monotonic()))
            first = sum(1 for d in self.all if d[0] == keys) == 1
        return keys, first

    def of(self, keys):
        """The deliveries of the message with `keys`, in order."""
        with self.lock:
            return [d for d in self.all if d[0] == keys]

    def snapshot(self):
        """The probes seen, as Received.snapshot lists them (for await_consumers_ready)."""
        with self.lock:
            return [{"keys": d[0], "consumer": "c", "queue_id": 0} for d in self.all if d[0].startswith("probe-")]


@contextlib.contextmanager
def failing_consumer(namesrv, group, topic, fail):
    """A producer and, on `topic` (created), a push consumer of `group` that records every delivery
    and answers RECONSUME_LATER when `fail(keys, first_delivery)` is true, else CONSUME_SUCCESS.
    Yields (producer, Deliveries) once the consumer takes messages (await_consumers_ready)."""
    deliveries = Deliveries()

    def on_message(msg):
        keys, first = deliveries.record(msg)
        return 1 if fail(keys, first) else 0

    with producer(namesrv) as p:
        create_topic(p, topic)
        with push_consumer_with_status(namesrv, group, topic, on_message):
            await_consumers_ready(p, topic, deliveries, ["c"])
            yield p, deliveries


@contextlib.contextmanager
def ready_consumers(namesrv, group, topic, names=("c",), props=(), timeout=60, mode="split", **consumer_options):
    """A producer and, on `topic` (created), one push consumer of `group` per name in `names` (started
    in that order), whose deliveries go to one Received (with the user properties `props`), past the
    probe barrier (await_consumers_ready with `timeout` and `mode`). Yields (producer, Received).
    `consumer_options` go to push_consumer (orderly=True, model=..., ...)."""
    received = Received()
    with producer(namesrv) as p, contextlib.ExitStack() as consumers:
        create_topic(p, topic)
        for name in names:
            consumers.enter_context(
                push_consumer(namesrv, group, topic, received.callback(name, props), **consumer_options))
        await_consumers_ready(p, topic, received, list(names), timeout=timeout, mode=mode)
        yield p, received
