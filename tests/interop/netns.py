"""Test hosts on one machine: network namespaces joined by veth links to a bridge (issue #13).

A `Net` is one private network made for one test: a switch namespace holding a bridge, and one
namespace per host, each joined to the bridge by a veth pair (`eth0` in the host, `p<n>` on the
switch). Hosts get 198.18.0.<n>/24 (RFC 2544's benchmarking range: never routed, no machine of
ours lives there) and their own loopback; nothing is added to the machine's own namespace, so no
packet of a test leaves its Net, and two runs at once (or two tests of one run) cannot collide:
every namespace name carries the pytest pid and a random tag, and interface names live inside
the namespaces.

    def test_x(workdir, net):                  # the `net` fixture: skips unless root with `ip`
        a, b = net.host("ns"), net.host("b1")
        ns = NetServer.namesrv(a, workdir)
        b1 = NetServer.broker(b, workdir, "b1", namesrv=ns.addr)
        net.servers += [ns, b1]                 # stopped first, log tails shown on failure
        ns.start(); b1.start()
        p = net.host("cli").popen([sys.executable, CLIENT, ...], log=workdir / "p.log")
        b.cut(); ...; b.restore()               # `ip link set p<n> down/up` on the switch side
        n = b.call(fn, *args)                   # socket work from pytest, inside b's namespace

`Cluster` builds the usual topology (NameServer host, one host per broker, a client host) on top.

Cleanup: `Net.close()` (the fixture calls it, pass or fail; so do SIGTERM, e.g. scripts/test.sh's
per-file timeout, and interpreter exit) kills every process started through a host (SIGKILL, then
waits) and deletes the namespaces, which takes their veths and the bridge with them. Processes also
carry PR_SET_PDEATHSIG=KILL (`setpriv`), so they die with pytest even when pytest is SIGKILLed;
namespaces such a run left behind are deleted by the next run (`sweep_stale`, names whose pid is
gone).

Skips (never failures) when the machine cannot: not root, no `ip` (iproute2) or `setpriv`
(util-linux), or creating a namespace, bridge or veth is refused (a container without
CAP_SYS_ADMIN / CAP_NET_ADMIN); the reason names which.
"""
import atexit
import collections
import ctypes
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

PREFIX = "bolide-t"  # every namespace of this harness: bolide-t<pid>-<tag>-<host>
SUBNET = "198.18.0"  # hosts are SUBNET.1, .2, ... /24
CLONE_NEWNET = 0x40000000
IP_TIMEOUT_S = 30
_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_unavailable = None  # cached reason, "" when available
_open_nets = []  # closed on SIGTERM (scripts/test.sh's per-file timeout) and at exit


def _close_open_nets():
    for n in list(_open_nets):
        n.close()


def _on_sigterm(signum, frame):
    _close_open_nets()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


atexit.register(_close_open_nets)
if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _on_sigterm)


def ip(*args, check=True):
    """Runs `ip ARGS`; raises RuntimeError with its stderr when it fails and `check`."""
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def unavailable_reason():
    """Why this machine cannot run netns tests ("" when it can). Probed once per process."""
    global _unavailable
    if _unavailable is not None:
        return _unavailable
    if os.geteuid() != 0:
        _unavailable = "network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN); running as uid %d" % os.geteuid()
    elif not shutil.which("ip"):
        _unavailable = "`ip` not found: install iproute2 (Debian: apt-get install iproute2)"
    elif not shutil.which("setpriv"):
        _unavailable = "`setpriv` not found: install util-linux"
    else:
        sweep_stale()
        try:
            with Net() as probe:
                probe.host("probe")
            _unavailable = ""
        except RuntimeError as e:
            _unavailable = "network namespaces, bridges or veth links not permitted here: %s" % e
    return _unavailable


def sweep_stale():
    """Deletes namespaces of this harness whose pytest process is gone (a run killed hard)."""
    r = ip("netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^%s(\d+)-" % re.escape(PREFIX), name)
        if m and not Path("/proc/%s" % m.group(1)).exists():
            ip("netns", "del", name, check=False)


def _setns(netns):
    """Moves the calling thread into namespace `netns` (network only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/" + netns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(%s): %s" % (netns, os.strerror(err)))
    finally:
        os.close(fd)


class Net:
    """One private test network. Use as a context manager, or call `close()` (idempotent)."""

    def __init__(self):
        self.tag = "%s%d-%04x" % (PREFIX, os.getpid(), random.randrange(1 << 16))
        self.switch = self.tag + "-sw"
        self.hosts = {}
        self.closed = False
        self._created = []  # namespaces, in creation order
        _open_nets.append(self)
        try:
            ip("netns", "add", self.switch)
            self._created.append(self.switch)
            ip("-n", self.switch, "link", "set", "lo", "up")
            ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            ip("-n", self.switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def host(self, name):
        """A new host `name` ([a-z][a-z0-9]{0,11}, unique in this Net) on the bridge, up."""
        assert _NAME.match(name), "host name %r: lowercase letters and digits, at most 12" % name
        assert name not in self.hosts, "host %s exists" % name
        assert len(self.hosts) < 250
        n = len(self.hosts) + 1
        h = Host(self, name, n)
        ip("netns", "add", h.netns)
        self._created.append(h.netns)  # deleted by close() even if the rest fails
        ip("-n", self.switch, "link", "add", h.port, "type", "veth", "peer", "name", "eth0", "netns", h.netns)
        ip("-n", self.switch, "link", "set", h.port, "master", "br0")
        ip("-n", self.switch, "link", "set", h.port, "up")
        ip("-n", h.netns, "link", "set", "lo", "up")
        ip("-n", h.netns, "addr", "add", h.addr + "/24", "dev", "eth0")
        ip("-n", h.netns, "link", "set", "eth0", "up")
        self.hosts[name] = h
        return h

    def close(self):
        """Kills every process started through a host, then deletes every namespace. Never raises;
        returns the list of problems (empty when all went)."""
        if self.closed:
            return []
        self.closed = True
        if self in _open_nets:
            _open_nets.remove(self)
        problems = []
        for h in self.hosts.values():
            problems += h.kill_all()
        for ns in reversed(self._created):
            r = ip("netns", "del", ns, check=False)
            if r.returncode != 0:
                problems.append("ip netns del %s: %s" % (ns, r.stderr.strip()))
        return problems


class Host:
    """One host of a `Net`: a namespace with `eth0` at `addr`."""

    def __init__(self, net, name, n):
        self.net = net
        self.name = name
        self.netns = "%s-%s" % (net.tag, name)
        self.addr = "%s.%d" % (SUBNET, n)
        self.port = "p%d" % n  # its end on the switch: the one `cut` takes down
        self.procs = []

    def __repr__(self):
        return "Host(%s %s)" % (self.name, self.addr)

    def cmd(self, argv):
        """`argv` run inside this host."""
        return ["ip", "netns", "exec", self.netns] + [str(a) for a in argv]

    def popen(self, argv, log=None, env=None):
        """Starts `argv` in this host: stdout and stderr to `log` (a path; DEVNULL without), stdin
        closed, killed by `Net.close()` and when pytest dies. Returns the `subprocess.Popen`."""
        cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + self.cmd(argv)
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            if log:
                out.write(("$ " + " ".join(str(a) for a in argv) + "   # on " + self.name + "\n").encode())
                out.flush()
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 env=env if env is not None else dict(os.environ, NO_COLOR="1"))
        finally:
            if log:
                out.close()
        self.procs.append(p)
        return p

    def run(self, argv, timeout=120, check=True):
        """Runs `argv` in this host to completion (bounded by `timeout`); returns CompletedProcess
        (text stdout/stderr). Raises on a non-zero exit when `check`."""
        r = subprocess.run(self.cmd(argv), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError("%s on %s: exit %d\n%s\n%s" % (argv, self.name, r.returncode, r.stdout[-2000:],
                                                               r.stderr[-2000:]))
        return r

    def call(self, fn, *args, **kwargs):
        """Runs `fn(*args, **kwargs)` in a thread of this process that joined this host's network
        namespace, and returns its result (or raises its exception). Sockets opened by `fn` belong
        to the host: it is how a test talks to its servers (e.g. `remoting.Conn`)."""
        box = {}

        def body():
            try:
                _setns(self.netns)
                box["value"] = fn(*args, **kwargs)
            except BaseException as e:  # noqa: B902 - handed to the caller
                box["error"] = e

        t = threading.Thread(target=body, name="netns-" + self.name, daemon=True)
        t.start()
        t.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    def accepts(self, addr, timeout=1.0):
        """True when a TCP connection to `addr` ("ip:port") opens from this host."""
        host, port = addr.rsplit(":", 1)

        def probe():
            try:
                socket.create_connection((host, int(port)), timeout=timeout).close()
                return True
            except OSError:
                return False
        return self.call(probe)

    def cut(self):
        """Cuts this host off the network: its port on the switch goes down (`ip link set p<n>
        down`); its eth0 loses carrier, packets either way are dropped, connections stay open."""
        ip("-n", self.net.switch, "link", "set", self.port, "down")

    def restore(self):
        """Puts this host back on the network (`ip link set p<n> up`)."""
        ip("-n", self.net.switch, "link", "set", self.port, "up")

    def kill_all(self):
        problems = []
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                problems.append("pid %d on %s did not die after SIGKILL" % (p.pid, self.name))
        return problems


class NetServer:
    """A bolide process (`serve` or `namesrv`) on a host, restartable on the same data dir.
    Its log per start is `workdir/<label>-<n>.log`.

    Build with `NetServer.namesrv(host, workdir)` or `NetServer.broker(host, workdir, name, ...)`;
    ports are fixed (each host is its own machine): NameServer 9876, broker 10911 (VIP 10909).
    `start()` returns when the process printed its ready line, its ports accept and (a broker with
    `namesrv`) it registered; `stop(sig)`, `kill()` (SIGKILL), `restart(sig)`; `log_tail()`."""

    NAMESRV_PORT = 9876
    BROKER_PORT = 10911
    START_TIMEOUT_S = 60
    STOP_TIMEOUT_S = 20

    def __init__(self, host, workdir, label, argv, ready_line, ports, registered=False):
        self.host = host
        self.workdir = Path(workdir)
        self.label = label
        self.argv = argv
        self.ready_line = ready_line
        self.ports = ports
        self.registered = registered
        self.proc = None
        self.logs = []

    @classmethod
    def namesrv(cls, host, workdir, label="namesrv", sets=()):
        from conftest import bolide_binary
        argv = [str(bolide_binary()), "namesrv", "--listen-ip", host.addr, "--port", str(cls.NAMESRV_PORT)]
        for kv in sets:
            argv += ["--set", kv]
        s = cls(host, workdir, label, argv, "bolide namesrv ready", [cls.NAMESRV_PORT])
        s.addr = "%s:%d" % (host.addr, cls.NAMESRV_PORT)
        return s

    @classmethod
    def broker(cls, host, workdir, name, namesrv=None, sets=(), flush="sync", shards=2,
               segment_size=16 << 20, extra_args=(), label=None):
        """A broker `name` (brokerName) on `host`; with `namesrv` ("ip:port;..."), the NameServer
        role off and registering there; without, serving the role itself on 9876. Data in
        `workdir/<label>-data` (label defaults to `name`)."""
        from conftest import bolide_binary
        label = label or name
        argv = [str(bolide_binary()), "serve", "--data-dir", str(Path(workdir) / (label + "-data")),
                "--broker-port", str(cls.BROKER_PORT), "--listen-ip", host.addr, "--broker-ip", host.addr,
                "--flush", flush, "--shards", str(shards), "--segment-size", str(segment_size),
                "--set", "brokerName=" + name]
        ports = [cls.BROKER_PORT]
        if namesrv:
            argv += ["--namesrv-role", "off", "--namesrv-addr", namesrv]
        else:
            argv += ["--namesrv-port", str(cls.NAMESRV_PORT)]
            ports.append(cls.NAMESRV_PORT)
        for kv in sets:
            argv += ["--set", kv]
        s = cls(host, workdir, label, argv + list(extra_args), "bolide ready", ports, registered=bool(namesrv))
        s.name = name
        s.broker_addr = "%s:%d" % (host.addr, cls.BROKER_PORT)
        s.addr = s.broker_addr if namesrv else "%s:%d" % (host.addr, cls.NAMESRV_PORT)
        return s

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, retry_in_use_s=0.0):
        """Starts and waits until ready. A start refused with "already in use" (sockets of a
        process just killed, torn down asynchronously) is retried for `retry_in_use_s`."""
        deadline = time.monotonic() + retry_in_use_s
        while True:
            try:
                return self._start_once()
            except RuntimeError as e:
                if "already in use" not in str(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _start_once(self):
        assert not self.alive(), "already running"
        if not Path(self.argv[0]).is_file():
            pytest.fail("broker binary %s not found: run `cargo build --release` first (or set BOLIDE_BIN)"
                        % self.argv[0])
        # Logs are files directly in the work dir: the `workdir` fixture keeps those of a failing
        # test and deletes its subdirectories (the data).
        log = self.workdir / ("%s-%d.log" % (self.label, len(self.logs) + 1))
        self.logs.append(log)
        self.proc = self.host.popen(self.argv, log=log)
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("bolide on %s exited with code %s during start-up:\n%s"
                                   % (self.host.name, self.proc.returncode, self.log_tail()))
            text = self.current_log()
            if (self.ready_line in text
                    and (not self.registered or "registered with the NameServer" in text)
                    and all(self.host.accepts("%s:%d" % (self.host.addr, p)) for p in self.ports)):
                return self
            time.sleep(0.1)
        raise RuntimeError("bolide on %s not ready within %d s:\n%s"
                           % (self.host.name, self.START_TIMEOUT_S, self.log_tail()))

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Sends `sig` and waits (SIGKILL after `timeout`). Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout or self.STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        return self.start(retry_in_use_s=10.0 if sig == signal.SIGKILL else 0.0)

    def current_log(self):
        try:
            return self.logs[-1].read_text(errors="replace")
        except (IndexError, FileNotFoundError):
            return ""

    def log_tail(self, lines=40):
        out = []
        for log in self.logs[-2:]:
            try:
                text = log.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                continue
            out.append("---- %s on %s (last %d of %d lines) ----" % (log.name, self.host.name,
                                                                    min(lines, len(text)), len(text)))
            out.extend(text[-lines:])
        return "\n".join(out)


@pytest.fixture
def net(request):
    """A fresh `Net` for one test, closed afterwards whatever happened; skips when unavailable.
    Servers listed in `net.servers` are stopped with SIGTERM first, and their log tails printed
    (shown in the report) when the test failed. Request `workdir` before `net` in a test's
    arguments, so that the processes are gone before the work dir is cleaned."""
    reason = unavailable_reason()
    if reason:
        pytest.skip("netns tests skipped: " + reason)
    n = Net()
    n.servers = []
    try:
        yield n
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            for s in n.servers:
                print(s.log_tail())
        for s in n.servers:
            if s.alive():
                s.stop(signal.SIGTERM)
        problems = n.close()
    assert not problems, "netns cleanup: %s" % problems


# ---- RocketMQ helpers for tests on a Net --------------------------------------------------------

CLIENT = Path(__file__).resolve().parent / "netns_client.py"
UPDATE_AND_CREATE_TOPIC = 17
GET_ROUTEINFO_BY_TOPIC = 105


def create_topic(host, broker_addr, topic, queues=2):
    """UPDATE_AND_CREATE_TOPIC on the broker at `broker_addr`, sent from `host`."""
    import remoting

    def go():
        h, p = broker_addr.rsplit(":", 1)
        with remoting.Conn(h, int(p)) as c:
            r = c.request(UPDATE_AND_CREATE_TOPIC, {
                "topic": topic, "defaultTopic": "TBW102", "readQueueNums": queues,
                "writeQueueNums": queues, "perm": 6, "topicFilterType": "SINGLE_TAG",
                "topicSysFlag": 0, "order": "false"})
            assert r.code == remoting.SUCCESS, r
    host.call(go)


def stored(host, broker_addr, topic, queues=2):
    """Messages the broker at `broker_addr` holds for `topic` (sum of its queues' max offsets),
    asked from `host`; None when it cannot be reached."""
    import remoting

    def go():
        h, p = broker_addr.rsplit(":", 1)
        with remoting.Conn(h, int(p), timeout=5.0) as c:
            total = 0
            for q in range(queues):
                r = c.request(remoting.GET_MAX_OFFSET, {"topic": topic, "queueId": q})
                assert r.code == remoting.SUCCESS, r
                total += int(r.ext["offset"])
            return total
    try:
        return host.call(go)
    except (OSError, remoting_errors()):
        return None


def route_brokers(host, namesrv_addr, topic):
    """Sorted brokerNames the NameServer at `namesrv_addr` routes `topic` to ([] when none or
    unreachable), asked from `host`."""
    import remoting

    def go():
        h, p = namesrv_addr.rsplit(":", 1)
        with remoting.Conn(h, int(p), timeout=5.0) as c:
            r = c.request(GET_ROUTEINFO_BY_TOPIC, {"topic": topic}, version=500)
            if r.code != remoting.SUCCESS:
                return []
            return sorted(b["brokerName"] for b in json.loads(r.body)["brokerDatas"])
    try:
        return host.call(go)
    except (OSError, remoting_errors()):
        return []


def remoting_errors():
    import remoting
    return remoting.ConnectionClosed


class Producer:
    """The C++ producer (`netns_client.py produce`) running on a host: sends continuously until
    `stop()`; `acks()` / `failures()` read its log of sends (dicts, see netns_client.py)."""

    def __init__(self, host, workdir, namesrv, topic, label="producer", **opts):
        self.out = Path(workdir) / (label + ".jsonl")
        self.stop_file = Path(workdir) / (label + ".stop")
        argv = [sys.executable, CLIENT, "produce", "--namesrv", namesrv, "--topic", topic,
                "--out", self.out, "--stop-file", self.stop_file]
        for k, v in opts.items():
            argv += ["--" + k.replace("_", "-"), v]
        self.proc = host.popen(argv, log=Path(workdir) / (label + ".log"))

    def records(self):
        try:
            lines = self.out.read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:  # a line being written
                pass
        return out

    def acks(self):
        return [r for r in self.records() if r["ok"]]

    def failures(self):
        return [r for r in self.records() if not r["ok"]]

    def stop(self, timeout=60):
        """Asks it to stop after its current send and waits; returns its exit code."""
        self.stop_file.touch()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("producer did not stop within %d s" % timeout)


def read_all(host, workdir, namesrv, topic, label="reader", timeout=180):
    """Every message of `topic` on every broker of its route, read from offset 0 by the C++ pull
    consumer running on `host` (`netns_client.py read`): a list of dicts with key, broker,
    queue_id, offset, body. Fails when the reader does not finish."""
    out = Path(workdir) / (label + ".jsonl")
    out.unlink(missing_ok=True)
    p = host.popen([sys.executable, CLIENT, "read", "--namesrv", namesrv, "--topic", topic, "--out", out,
                    "--max-seconds", timeout], log=Path(workdir) / (label + ".log"))
    try:
        rc = p.wait(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = "killed"
    recs = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    assert rc == 0 and recs and recs[-1].get("done"), "reader on %s: exit %s, %d lines; log:\n%s" % (
        host.name, rc, len(recs), (Path(workdir) / (label + ".log")).read_text(errors="replace")[-3000:])
    return recs[:-1]


# Registration settings that make a cluster react in seconds, not minutes: register every second,
# give up on a registration after 3 s, and ask the NameServer to drop a broker not heard from for
# 8 s (its expiry scan runs every 5 s), instead of 30 s, 24 s and 120 s.
FAST_REGISTRATION = ("registerNameServerPeriod=1000", "registerBrokerTimeoutMills=3000",
                     "brokerNotActiveTimeoutMillis=8000")


class Cluster:
    """A NameServer host `ns` (`bolide namesrv`), one host per broker, and a client host `cli`:

        c = Cluster(net, workdir, ["b1", "b2"])       # masters b1, b2, each on its own host
        c.add("s1", broker_name="b1", sets=["brokerId=1", ...])   # e.g. a slave of b1, host s1
        c.topic("T")                                  # created on every master; routed over all
        c.brokers["b1"].kill(); c.hosts["b1"].cut()
        c.stored("b1", "T"); c.route("T"); c.producer("T"); c.read_all("T")

    Brokers get FAST_REGISTRATION, autoCreateTopicEnable=false, `sets`, and `broker_sets[label]`.
    `brokers`, `hosts` and `stored` are keyed by label (the host's name)."""

    def __init__(self, net, workdir, names, sets=(), broker_sets=None, queues=2):
        self.net = net
        self.workdir = Path(workdir)
        self.queues = queues
        self.sets = list(FAST_REGISTRATION) + ["autoCreateTopicEnable=false"] + list(sets)
        self.hosts = {"ns": net.host("ns")}
        self.namesrv = NetServer.namesrv(self.hosts["ns"], workdir)
        net.servers.append(self.namesrv)
        self.namesrv.start()
        self.brokers = {}
        self.masters = []
        for name in names:
            self.add(name, sets=(broker_sets or {}).get(name, ()))
        self.cli = self.hosts["cli"] = net.host("cli")

    def add(self, label, broker_name=None, sets=(), start=True):
        """A broker on a new host `label` (brokerName `broker_name`, default `label`), started
        unless `start` is false. Brokers added with a `broker_name` of their own are not masters
        for `topic()` (a slave takes its master's topics)."""
        self.hosts[label] = self.net.host(label)
        b = NetServer.broker(self.hosts[label], self.workdir, broker_name or label, namesrv=self.namesrv.addr,
                             sets=self.sets + list(sets), label=label)
        self.net.servers.append(b)
        self.brokers[label] = b
        if broker_name is None or broker_name == label:
            self.masters.append(label)
        if start:
            b.start()
        return b

    def topic(self, topic, timeout=60):
        for label in self.masters:
            create_topic(self.cli, self.brokers[label].broker_addr, topic, self.queues)
        want = sorted(self.brokers[label].name for label in self.masters)
        wait_for(lambda: self.route(topic) == want, timeout,
                 lambda: "route of %s over %s (have %s)" % (topic, want, self.route(topic)))
        return topic

    def stored(self, name, topic):
        return stored(self.cli, self.brokers[name].broker_addr, topic, self.queues)

    def route(self, topic):
        return route_brokers(self.cli, self.namesrv.addr, topic)

    def producer(self, topic, label="producer", **opts):
        return Producer(self.cli, self.workdir, self.namesrv.addr, topic, label=label, **opts)

    def read_all(self, topic, label="reader", timeout=180):
        return read_all(self.cli, self.workdir, self.namesrv.addr, topic, label=label, timeout=timeout)


def wait_for(predicate, timeout, what, interval=0.2):
    """Polls `predicate` until truthy (returned) or `timeout` s pass (AssertionError naming `what`,
    a string or a function giving one)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what() if callable(what) else what))
        time.sleep(interval)


def check_every_ack_readable(producer, read):
    """Every acknowledged key is read back at least once; nothing is read that was not sent."""
    acked = {r["key"] for r in producer.acks()}
    sent = {r["key"] for r in producer.records()}
    counts = collections.Counter(m["key"] for m in read)
    missing = sorted(acked - set(counts))
    assert not missing, "%d acknowledged messages not readable, e.g. %s" % (len(missing), missing[:10])
    stray = sorted(set(counts) - sent)
    assert not stray, "read messages never sent: %s" % stray[:10]
    bad = [m for m in read if m["body"] != "body-" + m["key"]]
    assert not bad, "bodies changed: %s" % bad[:3]
    return acked, counts
