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
//! - [`stats::BrokerStats`] keeps a minute, an hour and a day of snapshots of those counters (taken
//!   by `metrics_publish`), RocketMQ's broker statistics: VIEW_BROKER_STATS_DATA and a group's
//!   `consumeTps` ask every shard for its part through the router (`Control::StatsItem`,
//!   `Control::ConsumeRate`).
//! - [`prometheus`] renders snapshots in the Prometheus text format (pure; names follow RocketMQ 5's
//!   `BrokerMetricsConstant` where one exists, `bolide_*` for what only Bolide has).

pub mod histogram;
pub mod hub;
pub mod prometheus;
pub mod stats;

pub use histogram::Histogram;
pub use hub::{
    GroupFigures, MetricsHub, QueueFigures, ShardSnapshot, StoreFigures, StoreMemoryFigures,
    TopicFigures,
};

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Per-topic inbound counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub messages: u64,
    pub bytes: u64,
    /// Requests that added to the counts (sends, or pulls that returned messages).
    pub requests: u64,
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
    /// RocketMQ's minute, hour and day statistics of the counters above (sampled, never updated
    /// on the request path).
    pub stats: RefCell<stats::BrokerStats>,
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
                f.requests += 1;
            }
            None => {
                m.insert(
                    topic.to_owned(),
                    Flow {
                        messages,
                        bytes,
                        requests: 1,
                    },
                );
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
                f.requests += 1;
            }
            None => {
                groups.insert(
                    group.to_owned(),
                    Flow {
                        messages,
                        bytes,
                        requests: 1,
                    },
                );
            }
        }
    }

    /// Samples the counters into [`Self::stats`] (at most once per 10 s; see [`stats`]).
    pub fn sample_stats(&self, now_ms: i64) {
        let (topics_in, topics_out) = (self.topics_in.borrow(), self.topics_out.borrow());
        self.stats.borrow_mut().sample(
            now_ms,
            &stats::Counters {
                topics_in: &topics_in,
                topics_out: &topics_out,
                messages_in: self.messages_in.get(),
                messages_out: self.messages_out.get(),
            },
        );
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
                bytes: 250,
                requests: 2
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
