//! Counters each shard owns. Plain `Cell`s: a shard's counters are touched by that shard only.
//! (Exposition and latency histograms come with the metrics issue.)

use std::cell::Cell;

#[derive(Debug, Default)]
pub struct ShardMetrics {
    pub requests: Cell<u64>,
    pub messages_in: Cell<u64>,
    /// Messages returned by pulls (not pull responses).
    pub messages_out: Cell<u64>,
}
