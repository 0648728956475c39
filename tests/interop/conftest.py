"""Fixtures of the interop suite: a real `bolide serve` process per test, on free ports and a fresh data dir.

    def test_x(broker):
        with clients.producer(broker.namesrv) as p: ...

`broker` options come from a marker: `@pytest.mark.broker(flush="sync", shards=2, segment_size=..., sets=[...])`.
The broker's stderr goes to a file per start (`bolide-<n>.log` in the test's work dir); its tail is added
to the report of a failing test. Work dirs live under target/interop/ (ext4, O_DIRECT capable); they are
removed when the test passes, and only their logs are kept when it fails (INTEROP_KEEP=1 keeps all).
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "bolide ready"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20
_USED_PORTS = set()
_PDEATHSIG = shutil.which("setpriv")


def bolide_binary():
    if os.environ.get("BOLIDE_BIN"):
        return Path(os.environ["BOLIDE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    if not target.is_absolute():
        target = ROOT / target
    return target / "release" / "bolide"


def work_root():
    return Path(os.environ.get("INTEROP_WORK_DIR") or ROOT / "target" / "interop")


def fs_type(path):
    out = subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def check_real_fs(path):
    t = fs_type(path)
    if t in ("tmpfs", "ramfs", "overlayfs", "overlay"):
        pytest.fail("%s is on %s, which refuses O_DIRECT; set INTEROP_WORK_DIR to a directory on ext4/xfs" % (path, t))
    return t


def _bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports():
    """(namesrv_port, broker_port): both free, broker_port-2 free too, outside the ephemeral range."""
    for _ in range(500):
        m = random.randrange(20002, 32000)
        n = random.randrange(20002, 32000)
        cand = {n, m, m - 2}
        if len(cand) < 3 or cand & _USED_PORTS:
            continue
        if all(_bindable(p) for p in cand):
            _USED_PORTS.update(cand)
            return n, m
    raise RuntimeError("no free ports found")


def strip_ansi(s):
    import re
    return re.sub(r"\x1b\[[0-9;]*m", "", s)


class Broker:
    """One bolide process (restartable on the same ports and data dir)."""

    # bolide's default segment is 1 GiB, pre-allocated (and the next one prepared ahead) per shard: a
    # suite of ~60 brokers would need tens of GiB. 16 MiB still holds the largest (4 MiB) message.
    DEFAULT_SEGMENT = 16 << 20

    def __init__(self, workdir, flush="sync", shards=2, segment_size=DEFAULT_SEGMENT, sets=(), extra_args=()):
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.namesrv_port, self.broker_port = free_ports()
        self.vip_port = self.broker_port - 2
        self.host = "127.0.0.1"
        self.namesrv = "%s:%d" % (self.host, self.namesrv_port)
        self.broker_addr = "%s:%d" % (self.host, self.broker_port)
        self.flush = flush
        self.shards = shards
        self.segment_size = segment_size
        self.sets = list(sets)
        self.extra_args = list(extra_args)
        self.proc = None
        self.logs = []
        self.exits = []  # (signal sent or None, return code) per stop
        self.expected_exit = False
        self.in_use_retries = 0

    def command(self):
        cmd = [str(bolide_binary()), "serve",
               "--data-dir", str(self.data_dir),
               "--namesrv-port", str(self.namesrv_port),
               "--broker-port", str(self.broker_port),
               "--listen-ip", self.host, "--broker-ip", self.host,
               "--flush", self.flush, "--shards", str(self.shards)]
        if self.segment_size:
            cmd += ["--segment-size", str(self.segment_size)]
        for kv in self.sets:
            cmd += ["--set", kv]
        return cmd + self.extra_args

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, retry_in_use_s=0.0):
        """Starts bolide and waits until it is ready. With `retry_in_use_s`, a start that fails with
        "already in use" is retried for that long (see restart) and counted in `in_use_retries`."""
        deadline = time.monotonic() + retry_in_use_s
        while True:
            try:
                return self._start_once()
            except RuntimeError as e:
                if "already in use" not in str(e) or time.monotonic() >= deadline:
                    raise
                self.in_use_retries += 1
                time.sleep(0.2)

    def _start_once(self):
        assert not self.alive(), "broker already running"
        log = self.workdir / ("bolide-%d.log" % (len(self.logs) + 1))
        self.logs.append(log)
        cmd = self.command()
        if _PDEATHSIG:  # if pytest dies hard, the broker dies with it
            cmd = [_PDEATHSIG, "--pdeathsig", "KILL", "--"] + cmd
        with open(log, "wb") as f:
            f.write(("$ " + " ".join(self.command()) + "\n").encode())
            f.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                         env=dict(os.environ, NO_COLOR="1"))
        self.expected_exit = False
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("bolide exited with code %s during start-up:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            if READY_LINE in self.current_log() and self._accepts(self.namesrv_port) and self._accepts(self.broker_port):
                return self
            time.sleep(0.05)
        raise RuntimeError("bolide not ready within %d s (no '%s' on stderr or ports closed):\n%s"
                           % (START_TIMEOUT_S, READY_LINE, self.log_tail()))

    def _accepts(self, port):
        try:
            socket.create_connection((self.host, port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S):
        """Sends `sig`; after `timeout` s escalates to SIGKILL. Returns (return code, seconds taken)."""
        if self.proc is None:
            return None, 0.0
        self.expected_exit = True
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with open(self.logs[-1], "ab") as f:
                    f.write(("\n[interop] no exit %d s after signal %d: sending SIGKILL\n" % (timeout, sig)).encode())
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.exits.append((sig, rc))
        return rc, time.monotonic() - t0

    def restart(self, sig=signal.SIGTERM):
        """Stops with `sig` (SIGTERM: graceful, SIGKILL: crash) and starts again on the same dir and ports.

        After SIGKILL the kernel may keep the dead process's listening sockets for a moment (io_uring
        tears its rings down asynchronously), and bolide then refuses to start with "already in use":
        such starts are retried for up to 10 s and counted in `in_use_retries`; that behaviour itself is
        tested by test_startup.py::test_immediate_restart_after_sigkill."""
        rc, took = self.stop(sig)
        self.start(retry_in_use_s=10.0 if sig == signal.SIGKILL else 0.0)
        return rc, took

    def current_log(self):
        try:
            return strip_ansi(self.logs[-1].read_text(errors="replace"))
        except (IndexError, FileNotFoundError):
            return ""

    def log_tail(self, lines=60):
        out = []
        for log in self.logs[-2:]:
            try:
                text = strip_ansi(log.read_text(errors="replace")).splitlines()
            except FileNotFoundError:
                continue
            out.append("---- %s (last %d of %d lines) ----" % (log.name, min(lines, len(text)), len(text)))
            out.extend(text[-lines:])
        return "\n".join(out)

    def fd_count(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.proc.pid))
        except (OSError, AttributeError):
            return None


def pytest_configure(config):
    config.addinivalue_line("markers", "broker(**kw): options for the broker fixture (flush, shards, segment_size, sets)")
    # The C++ client writes logs under $HOME/logs and broadcasting offsets under $HOME/.rocketmq_offsets:
    # keep both inside the build tree instead of the user's home.
    home = work_root() / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(home)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.when == "setup":
        item._cpp_log_pos = _cpp_log_size()
    if rep.failed:
        b = getattr(item, "_bolide", None)
        if b is not None:
            rep.sections.append(("bolide log tail", b.log_tail()))
            rep.sections.append(("bolide work dir", str(b.workdir)))
        cpp = _cpp_log_since(getattr(item, "_cpp_log_pos", 0))
        if cpp:
            rep.sections.append(("C++ client log: warnings and errors during this test (last 40)", cpp))


def _cpp_log_path():
    return Path(os.environ["HOME"]) / "logs" / "rocketmq-cpp" / ("%d_rocketmq-cpp.log.0" % os.getpid())


def _cpp_log_size():
    try:
        return _cpp_log_path().stat().st_size
    except OSError:
        return 0


def _cpp_log_since(pos):
    try:
        with open(_cpp_log_path(), "rb") as f:
            f.seek(pos)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join([l for l in lines if "(warning)" in l or "(error)" in l][-40:])


@pytest.fixture(scope="session")
def bolide_bin():
    b = bolide_binary()
    if not b.is_file():
        pytest.fail("broker binary %s not found: run `cargo build --release` first (or set BOLIDE_BIN)" % b)
    return b


@pytest.fixture
def workdir(request):
    root = work_root()
    root.mkdir(parents=True, exist_ok=True)
    check_real_fs(root)
    name = request.node.name.replace("/", "_").replace("[", "_").replace("]", "")[:80]
    d = root / ("%s-%d-%04d" % (name, os.getpid(), random.randrange(10000)))
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    yield d
    passed = all(getattr(request.node, "rep_" + w, None) is None or getattr(request.node, "rep_" + w).passed
                 or getattr(request.node, "rep_" + w).skipped  # e.g. netns tests when not root
                 for w in ("setup", "call"))
    if os.environ.get("INTEROP_KEEP"):
        return
    if passed:
        shutil.rmtree(d, ignore_errors=True)
    else:  # keep the logs of a failing test, not its (pre-allocated, large) data
        for sub in d.iterdir():
            if sub.is_dir() and sub.name != "client-logs":
                shutil.rmtree(sub, ignore_errors=True)


@pytest.fixture
def broker(request, bolide_bin, workdir):
    opts = {}
    for marker in reversed(list(request.node.iter_markers("broker"))):  # test marks override module marks
        opts.update(marker.kwargs)
    b = Broker(workdir, **opts)
    request.node._bolide = b
    b.start()
    yield b
    crashed = b.proc is not None and b.proc.poll() is not None and not b.expected_exit
    rc, took = b.stop(signal.SIGTERM)
    if crashed:
        pytest.fail("broker exited unexpectedly during the test (code %s):\n%s" % (rc, b.log_tail()))
