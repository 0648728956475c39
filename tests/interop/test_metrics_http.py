"""The HTTP port: /metrics in the Prometheus text format, scraped by a real Prometheus server, and
refusals of bad HTTP input.

Prometheus is Debian's `prometheus` package: installed with apt-get when missing and we are root,
else the scrape test is skipped with the reason.
"""
import subprocess
import time
import urllib.parse

import remoting
from clients import unique, wait_until
from conftest import apt_tool, free_ports
from httpbroker import (commit_offset, get, get_json, http_broker, pull, raw_http, send,  # noqa: F401 (fixture)
                        status_of)


def metric_lines(text, name):
    return [l for l in text.splitlines() if l.startswith(name + "{") or l.startswith(name + " ")]


def test_metrics_counts_messages_with_rocketmq_names(http_broker):
    b = http_broker
    topic = unique("MetricsT")
    group = unique("MetricsG")
    for i in range(5):
        send(b, topic, b"m%d" % i, queue_id=0)
    commit_offset(b, group, topic, 0, 2)  # 3 of the 5 not consumed yet
    r = pull(b, group, topic, 0, 2, 2)
    assert r.code == remoting.SUCCESS, "pull: code %s remark %r" % (r.code, r.remark)

    def counted():
        status, ctype, body = get(b, "/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
        line = '%s{topic="%s"} 5' % ("rocketmq_messages_in_total", topic)
        return line in body.decode().splitlines()

    wait_until(counted, 15, "rocketmq_messages_in_total for %s to reach 5" % topic)
    text = get(b, "/metrics")[2].decode()
    lines = text.splitlines()
    assert '%s{topic="%s"} 10' % ("rocketmq_throughput_in_total", topic) in lines
    assert 'rocketmq_consumer_lag_messages{topic="%s",consumer_group="%s"} 3' % (topic, group) in lines, \
        metric_lines(text, "rocketmq_consumer_lag_messages")
    assert 'rocketmq_messages_out_total{topic="%s",consumer_group="%s"} 2' % (topic, group) in lines, \
        metric_lines(text, "rocketmq_messages_out_total")
    # A histogram per request code, with RocketMQ's labels; 310 = SEND_MESSAGE_V2.
    assert any(l.startswith('rocketmq_rpc_latency_count{protocol_type="remoting",request_code="310"}')
               for l in text.splitlines()), text[:3000]
    for name in ("bolide_storage_append_latency_ms_bucket", "bolide_storage_flush_latency_ms_count",
                 "bolide_storage_cache_hit_ratio", "bolide_storage_disk_bytes", "bolide_shard_inbox_depth",
                 "bolide_net_accepted_total", "rocketmq_storage_size"):
        assert metric_lines(text, name), "no %s in /metrics" % name
    # The store's memory per shard: the budget and what is under it, pending entries and their cap.
    def per_shard(name):
        return {l.split('"')[1]: float(l.rsplit(" ", 1)[1]) for l in metric_lines(text, name)}
    budget = per_shard("bolide_storage_memory_budget_bytes")
    assert sorted(budget) == ["0", "1"] and all(v > 0 for v in budget.values()), budget
    held = {n: per_shard(n) for n in ("bolide_storage_cache_bytes", "bolide_storage_spare_buffer_bytes",
                                      "bolide_storage_unwritten_chunk_bytes")}
    assert all(sorted(v) == ["0", "1"] for v in held.values()), held
    # The 5 messages sent above are in memory somewhere (a chunk being filled or the cache).
    assert sum(sum(v.values()) for v in held.values()) > 0, held
    cap = per_shard("bolide_storage_pending_entries_max")
    assert sorted(cap) == ["0", "1"] and all(v > 0 for v in cap.values()), cap
    for name in ("bolide_storage_pending_cq_entries", "bolide_storage_pending_index_entries"):
        pending = per_shard(name)
        assert sorted(pending) == ["0", "1"], (name, pending)
        assert all(0 <= pending[s] <= cap[s] for s in pending), (name, pending, cap)
    assert sorted(per_shard("bolide_storage_pending_waits_total")) == ["0", "1"]
    # Every shard reports (the fixture runs 2).
    assert sorted(l.split('"')[1] for l in metric_lines(text, "bolide_requests_total")) == ["0", "1"]


def ensure_prometheus():
    return apt_tool("prometheus")


def test_prometheus_scrapes_the_metrics(http_broker, workdir):
    exe = ensure_prometheus()
    b = http_broker
    topic = unique("PromT")
    for i in range(3):
        send(b, topic, b"p%d" % i)
    prom_port, _ = free_ports()
    cfg = workdir / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                   "scrape_configs:\n  - job_name: bolide\n    static_configs:\n"
                   "      - targets: ['127.0.0.1:%d']\n" % b.http_port)
    log = open(workdir / "prometheus.log", "wb")
    proc = subprocess.Popen([exe, "--config.file=%s" % cfg, "--storage.tsdb.path=%s" % (workdir / "prom"),
                             "--web.listen-address=127.0.0.1:%d" % prom_port],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        import json
        import urllib.request

        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (prom_port, urllib.parse.quote(q))
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    data = json.loads(r.read())
            except OSError:
                return []
            assert data["status"] == "success", data
            return data["data"]["result"]

        q = 'rocketmq_messages_in_total{topic="%s"} > 0' % topic
        wait_until(lambda: query(q), 120, "Prometheus to answer %s" % q, interval=1)
        result = query(q)
        assert float(result[0]["value"][1]) == 3.0, result
        up = query('up{job="bolide"}')
        assert up and up[0]["value"][1] == "1", "scrape not healthy: %r" % up
        # The histogram is usable by PromQL.
        assert query('histogram_quantile(0.99, sum by (le) (rocketmq_rpc_latency_bucket))')
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_bad_http_input_is_refused_clearly(http_broker):
    b = http_broker
    # Malformed request line.
    assert status_of(raw_http(b, b"GARBAGE\r\n\r\n")) == 400
    # Headers over 16 KiB.
    big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (64 << 10) + b"\r\n\r\n"
    assert status_of(raw_http(b, big)) == 431
    # A target over 4 KiB.
    assert status_of(raw_http(b, b"GET /api/overview?x=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")) == 414
    # A body declared over 16 KiB is refused before it is read.
    r = raw_http(b, b"POST /api/dlq/resend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 10000000\r\n\r\n{")
    assert status_of(r) == 413, r[:200]
    # A body over 16 KiB sent chunked (no length) is cut at the limit.
    chunk = b"a" * 20000
    r = raw_http(b, b"POST /api/dlq/resend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
    assert status_of(r) == 413, r[:200]
    # Not JSON content type; not JSON body; missing fields.
    r = raw_http(b, b"POST /api/dlq/resend HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}")
    assert status_of(r) == 415
    r = raw_http(b, b"POST /api/dlq/resend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{x}")
    assert status_of(r) == 400 and b"not valid JSON" in r
    r = raw_http(b, b"POST /api/dlq/resend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    assert status_of(r) == 400 and b"group" in r
    # Wrong method, unknown path, missing parameter.
    assert status_of(raw_http(b, b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == 405
    assert get(b, "/nope")[0] == 404
    status, body = get_json(b, "/api/message")
    assert status == 400 and "id" in body["error"]
    # The port still serves after all that.
    assert get(b, "/metrics")[0] == 200
