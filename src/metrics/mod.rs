//! Counters each shard owns. Plain `Cell`s: a shard's counters are touched by that shard only.
//! (Exposition and latency histograms come with the metrics issue.)

use std::cell::{Cell, RefCell};

#[derive(Debug, Default)]
pub struct ShardMetrics {
    pub requests: Cell<u64>,
    pub messages_in: Cell<u64>,
    /// Messages returned by pulls (not pull responses).
    pub messages_out: Cell<u64>,
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
