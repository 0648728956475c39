"""(h) Bad start-up gives a one-line error and a non-zero exit; good shutdown is graceful.

"One-line error": the process exits non-zero within a few seconds, never reports ready, does not panic,
and states the problem on exactly one line that names the culprit (the port, the flag, the filesystem).
Other output (log lines, a usage hint) is tolerated around it.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import conftest
import remoting

ERROR_LINE = re.compile(r"\berror\b", re.IGNORECASE)


def run_bolide(args, timeout=20):
    """Runs bolide expecting it to fail fast. Returns (exit code, output, seconds). If it reports ready
    instead, it is stopped and the test fails with its output."""
    cmd = [str(conftest.bolide_binary())] + args
    t0 = time.monotonic()
    # The child appends through its own open file description and we read through another. Sharing one
    # (a TemporaryFile passed as stdout) shares its offset: our seek(0) while polling moved the child's
    # next write to offset 0, and clap's message overwrote its own "error:" prefix (seen once in CI).
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out")
        with open(path, "ab") as child_out:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=child_out, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, NO_COLOR="1"))

        def output():
            with open(path, "rb") as f:
                return conftest.strip_ansi(f.read().decode(errors="replace"))

        while p.poll() is None:
            started = conftest.READY_LINE in output()
            if started or time.monotonic() - t0 > timeout:
                p.kill()
                p.wait()
                pytest.fail("`bolide %s` %s instead of refusing to start; output:\n%s" % (
                    " ".join(args), "reported ready" if started else "still running after %d s" % timeout,
                    output()[-3000:]))
            time.sleep(0.05)
        return p.returncode, output(), time.monotonic() - t0


def assert_one_line_error(rc, out, culprit, what):
    lines = [l for l in out.splitlines() if l.strip()]
    errors = [l for l in lines if ERROR_LINE.search(l)]
    report = "%s: exit %s, output:\n%s" % (what, rc, out[-3000:])
    assert rc not in (0, None), "exit code 0 — " + report
    assert rc > 0, "killed by signal %d (crash?) — %s" % (-rc, report)
    assert "panicked" not in out, "panic — " + report
    assert conftest.READY_LINE not in out, "reported ready — " + report
    assert len(errors) == 1, "want exactly one error line, got %d — %s" % (len(errors), report)
    assert re.search(culprit, errors[0], re.IGNORECASE), \
        "the error line does not name the culprit (/%s/): %r — %s" % (culprit, errors[0], report)


def base_args(data_dir, ns, bp):
    return ["serve", "--data-dir", str(data_dir), "--namesrv-port", str(ns), "--broker-port", str(bp),
            "--listen-ip", "127.0.0.1", "--broker-ip", "127.0.0.1", "--flush", "sync", "--shards", "1",
            "--segment-size", str(conftest.Broker.DEFAULT_SEGMENT)]


@pytest.mark.parametrize("which", ["namesrv", "broker", "vip"])
def test_busy_port_is_a_one_line_error(bolide_bin, workdir, which):
    ns, bp = conftest.free_ports()
    port = {"namesrv": ns, "broker": bp, "vip": bp - 2}[which]
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen(1)
    try:
        rc, out, took = run_bolide(base_args(workdir / "data", ns, bp))
    finally:
        blocker.close()
    assert_one_line_error(rc, out, str(port), "busy %s port %d" % (which, port))


BAD_FLAGS = {
    "unknown-flag": (["--no-such-flag"], r"no-such-flag"),
    "bad-flush": (["--flush", "sometimes"], r"flush|sometimes"),
    "zero-shards": (["--shards", "0"], r"shards"),
    "bad-port": (["--broker-port", "99999"], r"99999|broker-port"),
    "bad-ip": (["--listen-ip", "not.an.ip"], r"listen-ip|not\.an\.ip"),
    "unknown-set-key": (["--set", "noSuchKey=1"], r"noSuchKey"),
    "same-ports": (None, r"port"),
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_bad_flag_is_a_one_line_error(bolide_bin, workdir, case):
    ns, bp = conftest.free_ports()
    extra, culprit = BAD_FLAGS[case]
    args = base_args(workdir / "data", ns, bp)
    if case == "same-ports":
        args[args.index("--broker-port") + 1] = str(ns)
    else:
        # later flags win with clap only for repeatable options: replace instead of appending
        flag = extra[0]
        if flag in args and flag != "--set":
            i = args.index(flag)
            del args[i:i + 2]
        args += extra
    rc, out, took = run_bolide(args)
    assert_one_line_error(rc, out, culprit, "bad flag %s" % case)


def test_tmpfs_data_dir_is_a_one_line_error(bolide_bin, workdir):
    """README: tmpfs is refused with a clear error (data there is not durable; before Linux 6.6 tmpfs
    also refused O_DIRECT). Small segments so that a broker that does not refuse it cannot fail for
    lack of space instead."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; this run is uid %d" % os.geteuid())
    mnt = tempfile.mkdtemp(prefix="bolide-mnt-")
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", mnt], capture_output=True, text=True)
    if m.returncode != 0:
        os.rmdir(mnt)
        pytest.skip("cannot mount a tmpfs here (%s): %s" % (m.returncode, m.stderr.strip()))
    try:
        assert conftest.fs_type(mnt) == "tmpfs"
        ns, bp = conftest.free_ports()
        args = base_args(os.path.join(mnt, "data"), ns, bp)
        args[args.index("--segment-size") + 1] = str(8 << 20)
        rc, out, took = run_bolide(args)
        assert_one_line_error(rc, out, r"O_DIRECT|tmpfs", "tmpfs data dir")
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        os.rmdir(mnt)


def test_data_dir_with_other_shard_count_is_refused(bolide_bin, workdir):
    """Queue ownership depends on the shard count recorded in the data dir (ARCHITECTURE.md)."""
    ns, bp = conftest.free_ports()
    b = conftest.Broker(workdir, shards=1)
    b.start()
    b.stop()
    args = base_args(b.data_dir, ns, bp)
    args[args.index("--shards") + 1] = "2"
    rc, out, took = run_bolide(args)
    assert_one_line_error(rc, out, r"shards", "restart with another shard count")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_signal_shuts_down_gracefully(broker, sig):
    """SIGTERM/SIGINT: the process exits 0 promptly, with a client connection open and idle."""
    with remoting.Conn(broker.host, broker.broker_port) as c:
        assert c.request(remoting.GET_MAX_OFFSET, {"topic": "TBW102", "queueId": 0}).code == 0
        rc, took = broker.stop(sig, timeout=15)
    assert rc == 0, "exit code %s after signal %d (%.1f s)" % (rc, sig, took)
    assert took < 10, "graceful shutdown took %.1f s" % took


def test_immediate_restart_after_sigkill(bolide_bin, workdir):
    """A crashed broker (kill -9) restarted at once must bind its ports again: a Java broker can
    (SO_REUSEADDR, the kernel closes a dead process's sockets). 15 crash-restarts with client connections
    open; every start must succeed on the first try."""
    b = conftest.Broker(workdir, shards=2)
    b.start()
    failures = []
    try:
        for i in range(15):
            conns = [remoting.Conn(b.host, port) for port in (b.namesrv_port, b.broker_port)]
            try:
                for c in conns:
                    c.request(remoting.GET_MAX_OFFSET, {"topic": "TBW102", "queueId": 0})
                b.stop(signal.SIGKILL)
                t0 = time.monotonic()
                try:
                    b.start()
                except RuntimeError as e:
                    b.start(retry_in_use_s=10)
                    failures.append("restart %d: %s (a retry started it %.1f s after the kill; %d more attempts failed)" % (
                        i, str(e).strip().splitlines()[-1], time.monotonic() - t0, b.in_use_retries))
                    b.in_use_retries = 0
            finally:
                for c in conns:
                    c.close()
    finally:
        b.stop()
    assert not failures, "%d of 15 immediate restarts after SIGKILL failed:\n%s" % (len(failures), "\n".join(failures))
