"""The web console end to end in headless Chromium, driven by playwright-core (console/console_e2e.js).

Needs Debian's `chromium` (apt-get install chromium) and playwright-core from npm; both are installed
when missing (apt-get only as root; npm into target/interop/node), else the tests skip with the reason.

The key search and the trace use QUERY_MESSAGE (12): they skip while the broker answers it
REQUEST_CODE_NOT_SUPPORTED (before branch `sql` is merged) and must pass once it serves it; the dead-letter test makes its dead letter by sending to %DLQ%<group> directly with the
properties the broker's retry path sets (RETRY_TOPIC), so it runs before that path exists.
"""
import json
import os
import shutil
import subprocess

import pytest

import remoting
from clients import unique, wait_until
from conftest import ROOT, apt_tool, work_root
from httpbroker import commit_offset, get_json, http_broker, send  # noqa: F401 (fixture)

SCRIPT = ROOT / "tests" / "interop" / "console" / "console_e2e.js"
PLAYWRIGHT_VERSION = "1.65.1"


def _install_chromium():
    return apt_tool("chromium", ("chromium", "chromium-browser"))


def _install_playwright():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not installed: needed to drive Chromium with playwright-core")
    prefix = work_root() / "node"
    if not (prefix / "node_modules" / "playwright-core").is_dir():
        prefix.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(prefix),
                            "playwright-core@%s" % PLAYWRIGHT_VERSION], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            pytest.skip("npm install playwright-core failed (exit %d): %s" % (r.returncode, r.stderr[-500:]))
    return prefix / "node_modules"


@pytest.fixture(scope="module")
def browser_env():
    return {"chromium": _install_chromium(), "node_path": str(_install_playwright())}


def drive(env, scenario, **kw):
    kw["chromium"] = env["chromium"]
    r = subprocess.run(["node", str(SCRIPT), scenario, json.dumps(kw)], capture_output=True, text=True,
                       timeout=180, env=dict(os.environ, NODE_PATH=env["node_path"]))
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert lines, "console_e2e.js printed no result (exit %d):\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
    out = json.loads(lines[-1])
    assert out["ok"], "browser scenario %s failed: %s" % (scenario, out.get("error"))
    assert not out.get("pageErrors"), "JavaScript errors on the page: %r" % out["pageErrors"]
    return out


def test_console_shows_a_new_topic_and_finds_a_message_by_id(http_broker, browser_env):
    b = http_broker
    topic = unique("ConsoleT")
    group = unique("ConsoleLagG")
    r = send(b, topic, b"hello console", {"KEYS": "k1", "TAGS": "tagA"}, queue_id=0)
    send(b, topic, b"second", queue_id=0)
    commit_offset(b, group, topic, 0, 0)  # both unconsumed: lag 2
    msg_id = r.ext["msgId"]
    out = drive(browser_env, "topic_and_id", url=b.http, topic=topic, msgId=msg_id, group=group)
    assert topic in out["rowText"]
    assert out["body"] == "hello console"
    assert "VIEW_MESSAGE_BY_ID" in out["via"]
    assert "lag 2" in out["groupText"], out["groupText"]
    assert out["chartPoints"] >= 1


def test_console_escapes_bodies_and_properties(http_broker, browser_env):
    b = http_broker
    topic = unique("ConsoleX")
    evil = '<img src=x onerror="window.__injected=1"><script>window.__injected=1</script>'
    r = send(b, topic, evil.encode(), {"KEYS": evil.replace(" ", "_")})
    out = drive(browser_env, "escaping", url=b.http, msgId=r.ext["msgId"])
    assert out["body"] == evil, "the body must be shown as text"
    assert "<img" in out["props"], "the property must be shown as text"
    assert out["injected"] is False, "markup from a message reached the page"


def test_console_finds_a_message_by_key(http_broker, browser_env):
    """Needs QUERY_MESSAGE (12) in the broker (branch `sql`): skipped while the broker answers it
    REQUEST_CODE_NOT_SUPPORTED, run (and must pass) as soon as it serves it."""
    b = http_broker
    topic = unique("ConsoleK")
    key = unique("order")
    r = send(b, topic, b"keyed", {"KEYS": key})
    _skip_without_query_message(b, topic, key)
    out = drive(browser_env, "key", url=b.http, topic=topic, key=key)
    assert r.ext["msgId"] in out["ids"], "key search answered: %s" % out["status"]


def _skip_without_query_message(b, topic, key):
    with remoting.Conn(b.host, b.broker_port) as c:
        probe = c.request(12, {"topic": topic, "key": key, "maxNum": "1", "beginTimestamp": "0",
                               "endTimestamp": str(2 ** 62)})
    if probe.code == remoting.REQUEST_CODE_NOT_SUPPORTED:
        pytest.skip("the broker does not serve QUERY_MESSAGE (12) yet (branch `sql`)")


def test_console_shows_a_messages_trace(http_broker, browser_env):
    """A trace record as RocketMQ clients write it (RMQ_SYS_TRACE_TOPIC, keyed by the message id, fields
    joined by 0x01, records ended by 0x02) is found from the message's card. Needs QUERY_MESSAGE (12)."""
    b = http_broker
    topic = unique("ConsoleTr")
    uniq = unique("U").upper()
    r = send(b, topic, b"traced", {"UNIQ_KEY": uniq})
    _skip_without_query_message(b, topic, uniq)
    fields = ["Pub", "1700000000000", "DefaultRegion", "TracePG", topic, uniq, "", "", b.broker_addr, "6", "3",
              "0", r.ext["msgId"], "true"]
    send(b, "RMQ_SYS_TRACE_TOPIC", ("\x01".join(fields) + "\x02").encode(), {"KEYS": "%s %s" % (uniq, r.ext["msgId"])})
    out = drive(browser_env, "trace", url=b.http, msgId=r.ext["msgId"])
    assert "Pub" in out["trace"] and "TracePG" in out["trace"], out["trace"]


def test_console_resends_a_dead_letter(http_broker, browser_env):
    b = http_broker
    group = unique("ConsoleG")
    original = unique("ConsoleOrig")
    send(b, original, b"first")  # the original topic exists
    dead = send(b, "%DLQ%" + group, b"dead body",
                {"RETRY_TOPIC": original, "KEYS": "dk", "RECONSUME_TIME": "16", "ORIGIN_MESSAGE_ID": "X"})
    out = drive(browser_env, "dlq_resend", url=b.http, group=group, msgId=dead.ext["msgId"])
    assert ("to %s" % original) in out["result"], out["result"]
    # The resent message is in the original topic with its body, without the retry bookkeeping.
    new_id = out["result"].split("new msgId ")[1].split(",")[0]
    status, found = get_json(b, "/api/message?id=" + new_id)
    assert status == 200, found
    m = found["messages"][0]
    assert m["topic"] == original and m["body"] == "dead body"
    assert "RETRY_TOPIC" not in m["properties"] and "RECONSUME_TIME" not in m["properties"]
    assert m["properties"].get("KEYS") == "dk"
