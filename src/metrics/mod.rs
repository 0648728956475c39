//! What a shard counts, and how the figures leave the shard without touching its hot path.
//!
//! - [`ShardMetrics`] (per-topic and per-group counters, latency histograms) and [`NetMetrics`] (the
//!   network edge) are plain `Cell`/`RefCell` data a shard alone updates: no atomics, no locks on the
//!   request path. Updating one is a hash lookup and an add.
//! - Once a second each shard's `broker::services::metrics_publish` copies its figures into a
//!   [`ShardSnapshot`] (plain `Send` data) and stores it in the process-wide [`MetricsHub`]: one
//!   `Mutex` held for a pointer swap. Readers (the HTTP thread, `crate::http`) take the latest
//!   snapshots and never reach into a shard, so a scrape adds no latency to any shard and no
//!   cross-shard message: shards only write, readers only read. Figures are at most one publish
//!   interval old.
//! - [`ConsumeSamples`] keeps a minute of a shard's per-group consumed counters (a sample every 10 s,
//!   taken by `metrics_publish`); GET_CONSUME_STATS asks every shard for its rate through the router
//!   (`Control::ConsumeRate`), as RocketMQ reports a group's `consumeTps`.
//! - [`prometheus`] renders snapshots in the Prometheus text format (pure; names follow RocketMQ 5's
//!   `BrokerMetricsConstant` where one exists, `bolide_*` for what only Bolide has).

pub mod histogram;
pub mod hub;
pub mod prometheus;

pub use histogram::Histogram;
pub use hub::{
    GroupFigures, MetricsHub, QueueFigures, ShardSnapshot, StoreFigures, StoreMemoryFigures,
    TopicFigures,
};

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

/// Per-topic inbound counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub messages: u64,
    pub bytes: u64,
}

/// The `rpc_latency` key of every request whose code the broker does not know (rendered as
/// `request_code="unsupported"`). Keyed by the code itself, a client sending made-up codes would add
/// a histogram per code, to memory and to every scrape, without bound.
pub const UNSUPPORTED_CODE: i32 = i32::MIN;

/// What one shard counts on its request path. Touched by its shard only.
#[derive(Debug, Default)]
pub struct ShardMetrics {
    pub requests: Cell<u64>,
    pub messages_in: Cell<u64>,
    /// Messages returned by pulls (not pull responses).
    pub messages_out: Cell<u64>,
    /// Per topic: messages and bytes stored by this shard.
    pub topics_in: RefCell<HashMap<String, Flow>>,
    /// Per topic, per consumer group: messages and bytes returned by pulls.
    pub topics_out: RefCell<HashMap<String, HashMap<String, Flow>>>,
    /// Per request code: time from the request's arrival on this shard to its answer (ms).
    pub rpc_latency: RefCell<HashMap<i32, Histogram>>,
    /// Time the store took to accept an append (ms; includes the flush wait under SYNC_FLUSH).
    pub append_latency: RefCell<Histogram>,
    /// Sizes of stored message bodies (bytes).
    pub message_size: RefCell<Histogram>,
    /// Samples of `topics_out` over the last minute, for a group's consume rate.
    pub consumed_samples: RefCell<ConsumeSamples>,
}

/// How often [`ConsumeSamples`] samples, and how many samples it keeps: a rate over the last
/// minute, as RocketMQ's per-minute stats that its broker reports as a group's `consumeTps`
/// (GROUP_GET_NUMS, sampled every 10 s).
pub const CONSUME_SAMPLE_MS: i64 = 10_000;
const CONSUME_SAMPLES_KEPT: usize = 7;

/// Messages returned by pulls per (topic, group), as `topics_out` counted them at one time.
type ConsumedCounts = HashMap<(String, String), u64>;

/// Samples of [`ConsumedCounts`], oldest first, each with its time (ms).
#[derive(Debug, Default)]
pub struct ConsumeSamples {
    ring: VecDeque<(i64, ConsumedCounts)>,
}

impl ConsumeSamples {
    /// Samples `out` at `now_ms` unless the newest sample is younger than [`CONSUME_SAMPLE_MS`].
    pub fn maybe_sample(&mut self, now_ms: i64, out: &HashMap<String, HashMap<String, Flow>>) {
        if let Some((at, _)) = self.ring.back() {
            if now_ms - at < CONSUME_SAMPLE_MS {
                return;
            }
        }
        let counts = out
            .iter()
            .flat_map(|(t, gs)| {
                gs.iter()
                    .map(move |(g, f)| ((t.clone(), g.clone()), f.messages))
            })
            .collect();
        if self.ring.len() == CONSUME_SAMPLES_KEPT {
            self.ring.pop_front();
        }
        self.ring.push_back((now_ms, counts));
    }

    /// Messages a second `group` consumed from `topic` between the oldest and the newest sample;
    /// 0 before there are two.
    pub fn rate(&self, topic: &str, group: &str) -> f64 {
        let (Some((t0, first)), Some((t1, last))) = (self.ring.front(), self.ring.back()) else {
            return 0.0;
        };
        if t1 <= t0 {
            return 0.0;
        }
        let key = (topic.to_owned(), group.to_owned());
        let n = |m: &ConsumedCounts| m.get(&key).copied().unwrap_or(0);
        n(last).saturating_sub(n(first)) as f64 * 1000.0 / (t1 - t0) as f64
    }
}

impl ShardMetrics {
    pub fn new() -> ShardMetrics {
        ShardMetrics {
            append_latency: RefCell::new(Histogram::new(histogram::LATENCY_MS)),
            message_size: RefCell::new(Histogram::new(histogram::MESSAGE_SIZE_BYTES)),
            ..Default::default()
        }
    }

    /// `messages` messages of `bytes` body bytes stored for `topic`, the append took `append_ms`.
    pub fn record_in(&self, topic: &str, messages: u64, bytes: u64, append_ms: f64) {
        self.messages_in.set(self.messages_in.get() + messages);
        let mut m = self.topics_in.borrow_mut();
        match m.get_mut(topic) {
            Some(f) => {
                f.messages += messages;
                f.bytes += bytes;
            }
            None => {
                m.insert(topic.to_owned(), Flow { messages, bytes });
            }
        }
        self.append_latency.borrow_mut().observe(append_ms);
        if messages > 0 {
            self.message_size
                .borrow_mut()
                .observe_n(bytes as f64 / messages as f64, messages);
        }
    }

    /// `messages` messages of `bytes` stored bytes returned to `group` from `topic`.
    pub fn record_out(&self, topic: &str, group: &str, messages: u64, bytes: u64) {
        self.messages_out.set(self.messages_out.get() + messages);
        let mut m = self.topics_out.borrow_mut();
        let groups = match m.get_mut(topic) {
            Some(g) => g,
            None => m.entry(topic.to_owned()).or_default(),
        };
        match groups.get_mut(group) {
            Some(f) => {
                f.messages += messages;
                f.bytes += bytes;
            }
            None => {
                groups.insert(group.to_owned(), Flow { messages, bytes });
            }
        }
    }

    /// One request of `code` answered after `ms`. The caller passes [`UNSUPPORTED_CODE`] for a code
    /// the broker does not know, so that made-up codes share one histogram.
    pub fn record_rpc(&self, code: i32, ms: f64) {
        self.rpc_latency
            .borrow_mut()
            .entry(code)
            .or_insert_with(|| Histogram::new(histogram::LATENCY_MS))
            .observe(ms);
    }
}

/// The network edge of one shard (`net`): connections, refusals and closes by reason, budget use.
/// Each close reason has its own counter so an operator can tell a flood from a bug.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NetMetrics {
    pub accepted: u64,
    /// Connections open now (gauge).
    pub open: u64,
    /// Accepted past `connections_max` and reset at once.
    pub refused_conn_cap: u64,
    /// The peer closed (or reset) its side.
    pub closed_by_peer: u64,
    /// A frame the codec refused (too large, bad prefix, bad header): garbage.
    pub closed_bad_frame: u64,
    /// A frame that did not arrive whole within `frame_timeout_ms`.
    pub closed_frame_timeout: u64,
    /// A frame that waited longer than `frame_timeout_ms` for frame budget.
    pub closed_budget_timeout: u64,
    /// Over `connection_outbound_bytes_max` with no byte written for `outbound_stall_timeout_ms`.
    pub closed_outbound_stalled: u64,
    /// Over its own outbound cap, no progress, while the shard is over `shard_outbound_bytes_max`.
    pub closed_outbound_overflow: u64,
    /// Nothing read or written for `connection_idle_timeout_ms`.
    pub closed_idle: u64,
    /// Closed when the process stopped.
    pub closed_shutdown: u64,
    /// Frames that had to wait for frame budget (backpressure, not an error).
    pub budget_waits: u64,
    /// Times reading a connection paused because its responses were not read (backpressure).
    pub outbound_pauses: u64,
    /// Response bytes queued on the shard now, and the most ever queued.
    pub outbound_queued_bytes: u64,
    pub outbound_peak_bytes: u64,
    /// Frame budget in use now, and the most ever in use (bytes).
    pub budget_in_use_bytes: u64,
    pub budget_peak_bytes: u64,
}

/// A shard's [`NetMetrics`], updated in place (the borrow never spans an `.await`).
#[derive(Debug, Default)]
pub struct NetCounters(RefCell<NetMetrics>);

impl NetCounters {
    /// Applies `f` to the counters.
    pub fn update(&self, f: impl FnOnce(&mut NetMetrics)) {
        f(&mut self.0.borrow_mut());
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> NetMetrics {
        self.0.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_consume_rate_is_over_the_samples_of_the_last_minute() {
        let m = ShardMetrics::new();
        let rate = |m: &ShardMetrics| m.consumed_samples.borrow().rate("T", "g");
        let sample = |m: &ShardMetrics, at: i64| {
            m.consumed_samples
                .borrow_mut()
                .maybe_sample(at, &m.topics_out.borrow())
        };
        assert_eq!(rate(&m), 0.0, "no sample yet");
        sample(&m, 0);
        assert_eq!(rate(&m), 0.0, "one sample: no span");
        m.record_out("T", "g", 100, 100);
        m.record_out("T", "h", 7, 7);
        sample(&m, CONSUME_SAMPLE_MS - 1);
        assert_eq!(rate(&m), 0.0, "too soon: not sampled");
        sample(&m, CONSUME_SAMPLE_MS);
        assert_eq!(
            rate(&m),
            10.0,
            "100 messages in 10 s; a group absent before counts from 0"
        );
        assert_eq!(m.consumed_samples.borrow().rate("T", "x"), 0.0);
        assert_eq!(m.consumed_samples.borrow().rate("U", "g"), 0.0);
        // Six more samples, 60 more messages each: the oldest kept is 60 s before the newest.
        for k in 2..=8 {
            m.record_out("T", "g", 60, 60);
            sample(&m, k * CONSUME_SAMPLE_MS);
        }
        assert_eq!(m.consumed_samples.borrow().ring.len(), CONSUME_SAMPLES_KEPT);
        assert_eq!(rate(&m), 6.0, "360 messages over the last 60 s");
        for k in 9..=15 {
            sample(&m, k * CONSUME_SAMPLE_MS);
        }
        assert_eq!(rate(&m), 0.0, "nothing consumed for a minute");
    }

    #[test]
    fn shard_metrics_count_per_topic_and_group() {
        let m = ShardMetrics::new();
        m.record_in("T", 2, 200, 0.5);
        m.record_in("T", 1, 50, 3.0);
        m.record_in("U", 1, 10, 0.1);
        m.record_out("T", "g1", 2, 300);
        m.record_out("T", "g2", 1, 100);
        m.record_out("T", "g1", 1, 100);
        m.record_rpc(10, 2.0);
        m.record_rpc(10, 20.0);
        assert_eq!(m.messages_in.get(), 4);
        assert_eq!(m.messages_out.get(), 4);
        assert_eq!(
            m.topics_in.borrow()["T"],
            Flow {
                messages: 3,
                bytes: 250
            }
        );
        assert_eq!(m.topics_out.borrow()["T"]["g1"].messages, 3);
        assert_eq!(m.topics_out.borrow()["T"]["g2"].bytes, 100);
        assert_eq!(m.rpc_latency.borrow()[&10].count(), 2);
        assert_eq!(m.append_latency.borrow().count(), 3);
        assert_eq!(m.message_size.borrow().count(), 4);
    }

    #[test]
    fn counters_update_and_snapshot() {
        let c = NetCounters::default();
        assert_eq!(c.snapshot(), NetMetrics::default());
        c.update(|m| m.refused_conn_cap += 1);
        c.update(|m| m.refused_conn_cap += 1);
        c.update(|m| m.closed_idle += 3);
        let s = c.snapshot();
        assert_eq!((s.refused_conn_cap, s.closed_idle), (2, 3));
    }
}
