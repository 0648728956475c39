//! Shard snapshots in the Prometheus text exposition format (version 0.0.4). Pure: snapshots and a
//! few process figures in, text out.
//!
//! Names follow RocketMQ 5's broker metrics (`BrokerMetricsConstant`, `RemotingMetricsConstant`)
//! where Bolide has the same figure, so existing dashboards and alerts keep working:
//! `rocketmq_messages_in_total`, `rocketmq_messages_out_total`, `rocketmq_throughput_in_total`,
//! `rocketmq_throughput_out_total` (bytes), `rocketmq_message_size`, `rocketmq_rpc_latency` (ms,
//! labelled `protocol_type` and `request_code`, `unsupported` for every code the broker does not
//! know), `rocketmq_consumer_lag_messages`,
//! `rocketmq_consumer_connections`, `rocketmq_producer_connections`, `rocketmq_topic_number`,
//! `rocketmq_consumer_group_number`, `rocketmq_storage_size`, `rocketmq_storage_flush_behind_bytes`.
//! Figures only Bolide has are `bolide_*`, labelled `shard`: storage append and flush latency
//! histograms, cache hits and misses, segment bytes, the store's memory (RocketMQ 5 has no such
//! figures: the budget, recent-data cache, spare buffers, unwritten chunks, consume-queue and index
//! entries not yet checkpointed and their cap), inbox depth and waits, and every network-edge
//! counter of [`NetMetrics`](super::NetMetrics).
//!
//! Counters summed over shards are exact: each shard counts disjoint events (a message is stored
//! by one owner; a request is accepted by one shard).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::{Flow, Histogram, NetMetrics, ShardSnapshot};

/// What the reader adds: figures of the process, not of one shard's state.
#[derive(Debug, Clone, Default)]
pub struct ProcessFigures {
    /// Wall clock now (ms), for snapshot ages.
    pub now_ms: i64,
    /// Per shard: (messages waiting in its inbox, sent, sends that waited for room).
    pub inboxes: Vec<(u16, u64, u64, u64)>,
    /// Used fraction (0..=1) of the data directory's filesystem, if known.
    pub disk_usage_ratio: Option<f64>,
}

/// Escapes a label value: backslash, double quote and line feed, as the format requires.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn fmt_value(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

struct Writer {
    out: String,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", fmt_value(v));
    }

    /// A whole family: HELP and TYPE, then one sample per (labels, value).
    fn family_of<'a, L: AsRef<[(&'a str, &'a str)]>>(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: impl IntoIterator<Item = (L, f64)>,
    ) {
        self.family(name, kind, help);
        for (labels, v) in samples {
            self.sample(name, labels.as_ref(), v);
        }
    }

    /// A gauge family of one unlabelled sample.
    fn single(&mut self, name: &str, help: &str, v: f64) {
        self.family_of(name, "gauge", help, [([], v)]);
    }

    /// A family with one sample per shard, labelled `shard`.
    fn per_shard(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        samples: impl IntoIterator<Item = (u16, f64)>,
    ) {
        self.family(name, kind, help);
        for (shard, v) in samples {
            self.sample(name, &[("shard", &shard.to_string())], v);
        }
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let bucket = format!("{name}_bucket");
        for (le, c) in h.cumulative() {
            let le = fmt_value(le);
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("le", &le));
            self.sample(&bucket, &l, c as f64);
        }
        self.sample(&format!("{name}_sum"), labels, h.sum());
        self.sample(&format!("{name}_count"), labels, h.count() as f64);
    }
}

/// Per (topic, group): committed-offset lag summed over the queues, from every shard's queues.
/// A group that committed nothing on a queue (offset < 0) lags by the queue's stored messages.
pub fn consumer_lag(snaps: &[Arc<ShardSnapshot>]) -> BTreeMap<(String, String), u64> {
    let mut lag = BTreeMap::new();
    for s in snaps {
        let queues: BTreeMap<(&str, u32), (u64, u64)> = s
            .queues
            .iter()
            .map(|q| ((q.topic.as_str(), q.queue_id), (q.min_offset, q.max_offset)))
            .collect();
        for (group, topic, qid, committed) in &s.offsets {
            let (min, max) = queues
                .get(&(topic.as_str(), *qid))
                .copied()
                .unwrap_or((0, 0));
            let from = u64::try_from(*committed).unwrap_or(min).max(min);
            *lag.entry((topic.clone(), group.clone())).or_insert(0) += max.saturating_sub(from);
        }
    }
    lag
}

/// Renders every family. Shard 0's snapshot (or the first) supplies the topic table and registry.
pub fn render(snaps: &[Arc<ShardSnapshot>], process: &ProcessFigures) -> String {
    let mut w = Writer {
        out: String::with_capacity(16 << 10),
    };
    let mut topics_in: BTreeMap<&str, Flow> = BTreeMap::new();
    let mut topics_out: BTreeMap<(&str, &str), Flow> = BTreeMap::new();
    let mut rpc: BTreeMap<i32, Histogram> = BTreeMap::new();
    let mut sizes: Option<Histogram> = None;
    for s in snaps {
        for (t, f) in &s.topics_in {
            let e = topics_in.entry(t).or_default();
            e.messages += f.messages;
            e.bytes += f.bytes;
        }
        for (t, g, f) in &s.topics_out {
            let e = topics_out.entry((t, g)).or_default();
            e.messages += f.messages;
            e.bytes += f.bytes;
        }
        for (code, h) in &s.rpc_latency {
            rpc.entry(*code)
                .and_modify(|x| x.merge(h))
                .or_insert_with(|| h.clone());
        }
        match &mut sizes {
            Some(x) => x.merge(&s.message_size),
            None => sizes = Some(s.message_size.clone()),
        }
    }

    // The four flow counters: one series per topic (in) or per (topic, group) (out).
    type Series<'a> = Vec<(Vec<(&'a str, &'a str)>, Flow)>;
    let by_topic: Series = topics_in
        .iter()
        .map(|(t, f)| (vec![("topic", *t)], *f))
        .collect();
    let by_group: Series = topics_out
        .iter()
        .map(|((t, g), f)| (vec![("topic", *t), ("consumer_group", *g)], *f))
        .collect();
    type FlowGet = fn(&Flow) -> u64;
    let flows: [(&str, &str, &Series, FlowGet); 4] = [
        (
            "rocketmq_messages_in_total",
            "Messages stored, by topic.",
            &by_topic,
            |f| f.messages,
        ),
        (
            "rocketmq_throughput_in_total",
            "Message body bytes stored, by topic.",
            &by_topic,
            |f| f.bytes,
        ),
        (
            "rocketmq_messages_out_total",
            "Messages returned by pulls, by topic and consumer group.",
            &by_group,
            |f| f.messages,
        ),
        (
            "rocketmq_throughput_out_total",
            "Stored bytes returned by pulls, by topic and consumer group.",
            &by_group,
            |f| f.bytes,
        ),
    ];
    for (name, help, series, get) in flows {
        let samples = series.iter().map(|(labels, f)| (labels, get(f) as f64));
        w.family_of(name, "counter", help, samples);
    }
    if let Some(h) = &sizes {
        w.family(
            "rocketmq_message_size",
            "histogram",
            "Sizes of stored message bodies (bytes).",
        );
        w.histogram("rocketmq_message_size", &[], h);
    }
    w.family(
        "rocketmq_rpc_latency",
        "histogram",
        "Time from a request's arrival to its answer (ms), by request code.",
    );
    for (code, h) in &rpc {
        let c = match *code {
            super::UNSUPPORTED_CODE => "unsupported".to_string(),
            code => code.to_string(),
        };
        w.histogram(
            "rocketmq_rpc_latency",
            &[("protocol_type", "remoting"), ("request_code", &c)],
            h,
        );
    }
    let lag = consumer_lag(snaps);
    w.family_of(
        "rocketmq_consumer_lag_messages",
        "gauge",
        "Messages stored but not yet committed by the group, by topic and consumer group.",
        lag.iter().map(|((t, g), n)| {
            (
                [("topic", t.as_str()), ("consumer_group", g.as_str())],
                *n as f64,
            )
        }),
    );
    if let Some(first) = snaps.first() {
        w.family_of(
            "rocketmq_consumer_connections",
            "gauge",
            "Consumer clients connected, by group.",
            first
                .groups
                .iter()
                .map(|g| ([("consumer_group", g.group.as_str())], g.clients as f64)),
        );
        w.family_of(
            "rocketmq_producer_connections",
            "gauge",
            "Producer clients connected, by group.",
            first
                .producers
                .iter()
                .map(|(g, n)| ([("producer_group", g.as_str())], *n as f64)),
        );
        w.single(
            "rocketmq_topic_number",
            "Topics.",
            first.topics.len() as f64,
        );
        w.single(
            "rocketmq_consumer_group_number",
            "Consumer groups with connected clients.",
            first.groups.len() as f64,
        );
    }
    w.single(
        "rocketmq_storage_size",
        "Bytes of commit-log segment files.",
        snaps.iter().map(|s| s.store.segment_bytes).sum::<u64>() as f64,
    );
    w.single(
        "rocketmq_storage_flush_behind_bytes",
        "Bytes appended but not yet durable.",
        snaps
            .iter()
            .map(|s| s.store.flush_behind_bytes)
            .sum::<u64>() as f64,
    );
    if let Some(r) = process.disk_usage_ratio {
        w.single(
            "bolide_disk_usage_ratio",
            "Used fraction of the data directory's filesystem.",
            r,
        );
    }
    render_shards(&mut w, snaps, process);
    w.out
}

/// The `bolide_*` families, one series per shard.
fn render_shards(w: &mut Writer, snaps: &[Arc<ShardSnapshot>], process: &ProcessFigures) {
    type Get = fn(&ShardSnapshot) -> f64;
    let simple: &[(&str, &str, &str, Get)] = &[
        (
            "bolide_requests_total",
            "counter",
            "Requests accepted.",
            |s| s.requests as f64,
        ),
        (
            "bolide_snapshot_age_seconds",
            "gauge",
            "Age of the shard's published figures.",
            |_| 0.0,
        ),
        (
            "bolide_storage_cache_hits_total",
            "counter",
            "Reads served from memory (recent-data cache).",
            |s| s.store.cache_hits as f64,
        ),
        (
            "bolide_storage_cache_misses_total",
            "counter",
            "Reads that went to disk.",
            |s| s.store.cache_misses as f64,
        ),
        (
            "bolide_storage_cache_hit_ratio",
            "gauge",
            "Cache hits over reads since start (0 with no reads).",
            |s| {
                let n = s.store.cache_hits + s.store.cache_misses;
                if n == 0 {
                    0.0
                } else {
                    s.store.cache_hits as f64 / n as f64
                }
            },
        ),
        (
            "bolide_storage_disk_bytes",
            "gauge",
            "Bytes of the shard's commit-log segment files.",
            |s| s.store.segment_bytes as f64,
        ),
        (
            "bolide_storage_segments",
            "gauge",
            "Commit-log segments.",
            |s| s.store.segments as f64,
        ),
        (
            "bolide_storage_flush_behind_bytes",
            "gauge",
            "Bytes appended but not yet durable.",
            |s| s.store.flush_behind_bytes as f64,
        ),
        (
            "bolide_storage_writes_refused",
            "gauge",
            "1 while appends are refused for disk usage.",
            |s| f64::from(u8::from(s.store.writes_refused_at.is_some())),
        ),
        (
            "bolide_storage_memory_budget_bytes",
            "gauge",
            "The commit log's memory budget (its share of cache_bytes_max): cache, spare buffers and unwritten chunks share it.",
            |s| s.store.memory.budget_bytes as f64,
        ),
        (
            "bolide_storage_cache_bytes",
            "gauge",
            "Recent-data cache.",
            |s| s.store.memory.cache_bytes as f64,
        ),
        (
            "bolide_storage_spare_buffer_bytes",
            "gauge",
            "Spare chunk buffers kept for reuse.",
            |s| s.store.memory.spare_bytes as f64,
        ),
        (
            "bolide_storage_unwritten_chunk_bytes",
            "gauge",
            "The appender's chunks: data not yet written to disk and the chunk being filled.",
            |s| s.store.memory.unwritten_chunk_bytes as f64,
        ),
        (
            "bolide_storage_pending_cq_entries",
            "gauge",
            "Consume-queue entries in memory, not yet checkpointed to their files.",
            |s| s.store.memory.pending_cq_entries as f64,
        ),
        (
            "bolide_storage_pending_index_entries",
            "gauge",
            "Key-index entries in memory, not yet checkpointed to their files.",
            |s| s.store.memory.pending_index_entries as f64,
        ),
        (
            "bolide_storage_pending_entries_max",
            "gauge",
            "Cap on consume-queue plus index entries not yet checkpointed (appends wait at it).",
            |s| s.store.memory.pending_entries_max as f64,
        ),
        (
            "bolide_storage_pending_waits_total",
            "counter",
            "Appends that found the pending-entries cap reached and waited for an early checkpoint.",
            |s| s.store.memory.pending_waits as f64,
        ),
        (
            "bolide_storage_cq_open_files",
            "gauge",
            "Consume-queue files open now (least recently used closed past cq_open_files_max).",
            |s| s.store.memory.cq_open_files as f64,
        ),
        (
            "bolide_storage_cq_open_files_max",
            "gauge",
            "The shard's bound on open consume-queue files (cq_open_files_max split over the shards).",
            |s| s.store.memory.cq_open_files_max as f64,
        ),
        (
            "bolide_storage_cq_files_opened_total",
            "counter",
            "Consume-queue files opened since start, reopens after the bound closed them included.",
            |s| s.store.memory.cq_files_opened as f64,
        ),
    ];
    for (name, kind, help, get) in simple {
        let samples = snaps.iter().map(|s| {
            let v = if *name == "bolide_snapshot_age_seconds" {
                ((process.now_ms - s.taken_ms).max(0) as f64) / 1000.0
            } else {
                get(s)
            };
            (s.shard, v)
        });
        w.per_shard(name, kind, help, samples);
    }
    type Hist = fn(&ShardSnapshot) -> &Histogram;
    let hists: &[(&str, &str, Hist)] = &[
        ("bolide_storage_append_latency_ms", "Time the store took to accept an append (ms; includes the flush wait under SYNC_FLUSH).", |s| &s.append_latency),
        ("bolide_storage_flush_latency_ms", "Commit-log sync rounds: their writes and fdatasyncs (ms).", |s| &s.store.flush_latency),
    ];
    for (name, help, get) in hists {
        w.family(name, "histogram", help);
        for s in snaps {
            let shard = s.shard.to_string();
            w.histogram(name, &[("shard", &shard)], get(s));
        }
    }
    type InboxGet = fn(&(u16, u64, u64, u64)) -> u64;
    let inbox: &[(&str, &str, &str, InboxGet)] = &[
        (
            "bolide_shard_inbox_depth",
            "gauge",
            "Messages waiting in the shard's inbox (cross-shard router).",
            |i| i.1,
        ),
        (
            "bolide_shard_inbox_sent_total",
            "counter",
            "Messages delivered into the shard's inbox.",
            |i| i.2,
        ),
        (
            "bolide_shard_inbox_waited_full_total",
            "counter",
            "Sends that found the shard's inbox full and waited (backpressure).",
            |i| i.3,
        ),
    ];
    for (name, kind, help, get) in inbox {
        let samples = process.inboxes.iter().map(|i| (i.0, get(i) as f64));
        w.per_shard(name, kind, help, samples);
    }
    for (name, kind, help, get) in NET_FAMILIES {
        let samples = snaps.iter().map(|s| (s.shard, get(&s.net) as f64));
        w.per_shard(name, kind, help, samples);
    }
}

type NetGet = fn(&NetMetrics) -> u64;

/// Every [`NetMetrics`] field: (name, type, help, getter).
const NET_FAMILIES: &[(&str, &str, &str, NetGet)] = &[
    (
        "bolide_net_accepted_total",
        "counter",
        "Connections accepted.",
        |m| m.accepted,
    ),
    (
        "bolide_net_open_connections",
        "gauge",
        "Connections open now.",
        |m| m.open,
    ),
    (
        "bolide_net_refused_conn_cap_total",
        "counter",
        "Connections reset past connections_max.",
        |m| m.refused_conn_cap,
    ),
    (
        "bolide_net_closed_by_peer_total",
        "counter",
        "Connections the peer closed.",
        |m| m.closed_by_peer,
    ),
    (
        "bolide_net_closed_bad_frame_total",
        "counter",
        "Connections closed for a frame the codec refused.",
        |m| m.closed_bad_frame,
    ),
    (
        "bolide_net_closed_frame_timeout_total",
        "counter",
        "Connections closed for a frame not arriving whole in time.",
        |m| m.closed_frame_timeout,
    ),
    (
        "bolide_net_closed_budget_timeout_total",
        "counter",
        "Connections closed for a frame waiting too long for frame budget.",
        |m| m.closed_budget_timeout,
    ),
    (
        "bolide_net_closed_outbound_stalled_total",
        "counter",
        "Connections closed for not reading their responses.",
        |m| m.closed_outbound_stalled,
    ),
    (
        "bolide_net_closed_outbound_overflow_total",
        "counter",
        "Connections closed while the shard was over its outbound cap.",
        |m| m.closed_outbound_overflow,
    ),
    (
        "bolide_net_closed_idle_total",
        "counter",
        "Connections closed for idleness.",
        |m| m.closed_idle,
    ),
    (
        "bolide_net_closed_shutdown_total",
        "counter",
        "Connections closed at shutdown.",
        |m| m.closed_shutdown,
    ),
    (
        "bolide_net_budget_waits_total",
        "counter",
        "Frames that waited for frame budget.",
        |m| m.budget_waits,
    ),
    (
        "bolide_net_outbound_pauses_total",
        "counter",
        "Times reading paused for unread responses.",
        |m| m.outbound_pauses,
    ),
    (
        "bolide_net_outbound_queued_bytes",
        "gauge",
        "Response bytes queued now.",
        |m| m.outbound_queued_bytes,
    ),
    (
        "bolide_net_outbound_peak_bytes",
        "gauge",
        "Most response bytes ever queued.",
        |m| m.outbound_peak_bytes,
    ),
    (
        "bolide_net_budget_in_use_bytes",
        "gauge",
        "Frame budget in use now.",
        |m| m.budget_in_use_bytes,
    ),
    (
        "bolide_net_budget_peak_bytes",
        "gauge",
        "Most frame budget ever in use.",
        |m| m.budget_peak_bytes,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{GroupFigures, QueueFigures};

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("plain-topic%DLQ%"), "plain-topic%DLQ%");
    }

    fn snap(shard: u16) -> ShardSnapshot {
        let mut rpc = Histogram::new(crate::metrics::histogram::LATENCY_MS);
        rpc.observe(0.2);
        rpc.observe(4.0);
        ShardSnapshot {
            shard,
            taken_ms: 1_000,
            requests: 3,
            topics_in: vec![(
                "T\"1".into(),
                Flow {
                    messages: 2,
                    bytes: 20,
                    requests: 1,
                },
            )],
            topics_out: vec![(
                "T\"1".into(),
                "g".into(),
                Flow {
                    messages: 1,
                    bytes: 10,
                    requests: 1,
                },
            )],
            rpc_latency: vec![(10, rpc)],
            queues: vec![QueueFigures {
                topic: "T\"1".into(),
                queue_id: shard.into(),
                min_offset: 0,
                max_offset: 5,
            }],
            offsets: vec![("g".into(), "T\"1".into(), shard.into(), 2)],
            groups: vec![GroupFigures {
                group: "g".into(),
                clients: 1,
                topics: vec!["T\"1".into()],
                message_model: None,
            }],
            store: crate::metrics::StoreFigures {
                memory: crate::metrics::StoreMemoryFigures {
                    budget_bytes: 128 << 20,
                    cache_bytes: 1_000 + u64::from(shard),
                    spare_bytes: 2_000,
                    unwritten_chunk_bytes: 3_000,
                    pending_cq_entries: 40 + u64::from(shard),
                    pending_index_entries: 50,
                    pending_entries_max: 1 << 19,
                    pending_waits: 7,
                    cq_open_files: 60,
                    cq_open_files_max: 3_720,
                    cq_files_opened: 80,
                },
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn counters_are_summed_over_shards_with_rocketmq_names() {
        let snaps = vec![Arc::new(snap(0)), Arc::new(snap(1))];
        let text = render(
            &snaps,
            &ProcessFigures {
                now_ms: 3_000,
                inboxes: vec![(0, 4, 10, 1), (1, 0, 2, 0)],
                disk_usage_ratio: Some(0.5),
            },
        );
        for line in [
            r#"rocketmq_messages_in_total{topic="T\"1"} 4"#,
            r#"rocketmq_throughput_in_total{topic="T\"1"} 40"#,
            r#"rocketmq_messages_out_total{topic="T\"1",consumer_group="g"} 2"#,
            r#"rocketmq_consumer_lag_messages{topic="T\"1",consumer_group="g"} 6"#,
            r#"rocketmq_rpc_latency_bucket{protocol_type="remoting",request_code="10",le="0.25"} 2"#,
            r#"rocketmq_rpc_latency_bucket{protocol_type="remoting",request_code="10",le="+Inf"} 4"#,
            r#"rocketmq_rpc_latency_count{protocol_type="remoting",request_code="10"} 4"#,
            r#"rocketmq_consumer_connections{consumer_group="g"} 1"#,
            r#"bolide_shard_inbox_depth{shard="0"} 4"#,
            r#"bolide_snapshot_age_seconds{shard="1"} 2"#,
            "bolide_disk_usage_ratio 0.5",
            r#"bolide_requests_total{shard="1"} 3"#,
            r#"bolide_storage_memory_budget_bytes{shard="0"} 134217728"#,
            r#"bolide_storage_cache_bytes{shard="1"} 1001"#,
            r#"bolide_storage_spare_buffer_bytes{shard="0"} 2000"#,
            r#"bolide_storage_unwritten_chunk_bytes{shard="1"} 3000"#,
            r#"bolide_storage_pending_cq_entries{shard="1"} 41"#,
            r#"bolide_storage_pending_index_entries{shard="0"} 50"#,
            r#"bolide_storage_cq_open_files{shard="1"} 60"#,
            r#"bolide_storage_cq_open_files_max{shard="0"} 3720"#,
            r#"bolide_storage_cq_files_opened_total{shard="0"} 80"#,
            r#"bolide_storage_pending_entries_max{shard="0"} 524288"#,
            r#"bolide_storage_pending_waits_total{shard="1"} 7"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        // Every sample line belongs to a family declared by a TYPE line before it.
        let mut declared = std::collections::HashSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_string());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| declared.contains(*b)))
                    .unwrap_or(name);
                assert!(declared.contains(base), "undeclared {name}");
            }
        }
    }

    #[test]
    fn lag_of_a_group_that_never_committed_counts_from_the_queue_start() {
        let mut s = snap(0);
        s.queues[0].min_offset = 3;
        s.offsets[0].3 = -1;
        let lag = consumer_lag(&[Arc::new(s)]);
        assert_eq!(lag[&("T\"1".to_string(), "g".to_string())], 2);
    }
}
