//! Consumer-offset persistence: every `offset_persist_interval_ms`, and once more at shutdown
//! ([`super::super::Control::Shutdown`]), this shard's offsets are written to
//! `offsets-shard-<k>.json` if they changed. A crash loses at most one interval of commits.
//! Each round also hands storage the consumed floors that retention keeps: per queue the lowest
//! committed offset, or 0 while a subscribed clustering group has not committed there yet.

use std::rc::Rc;
use std::time::Duration;

use super::tick;
use crate::broker::Broker;
use crate::net::StopSignal;
use crate::storage::datadir::write_atomically;

/// The service loop. See the module comment.
pub async fn run(broker: Rc<Broker>, stop: StopSignal) {
    let period = Duration::from_millis(broker.cfg.offset_persist_interval_ms.max(100));
    while tick(period, &stop).await {
        broker.push_consumed_floors();
        broker.persist_offsets().await;
    }
}

impl Broker {
    /// Hands storage the lowest offset per queue a group still needs (what retention must keep by
    /// default): committed offsets, and everything for a subscribed group that has not committed.
    /// Storage sees queues and offsets only, never groups or request codes.
    pub(crate) fn push_consumed_floors(&self) {
        let subscribed = self.clients.borrow().clustering_subscriptions();
        let queues = self.store.queues();
        let floors = self
            .offsets
            .borrow()
            .consumed_floors_with_subscribers(&queues, &subscribed);
        self.store.set_consumed_floors(
            floors
                .into_iter()
                .map(|(t, q, o)| (t, q, crate::storage::QueueOffset(o))),
        );
    }

    /// Writes this shard's consumer offsets if they changed. The write and its fsyncs run on
    /// glommio's blocking pool: an fsync under write load can take hundreds of milliseconds, and on
    /// the shard thread it would stall every request of the shard.
    pub(crate) async fn persist_offsets(&self) {
        let Some(bytes) = self.offsets.borrow_mut().take_dirty_snapshot() else {
            return;
        };
        let path = self
            .cfg
            .data_dir
            .join(format!("offsets-shard-{}.json", self.shard.0));
        let shown = path.display().to_string();
        let written = glommio::executor()
            .spawn_blocking(move || write_atomically(&path, &bytes))
            .await;
        if let Err(e) = written {
            self.offsets.borrow_mut().mark_dirty();
            tracing::error!(path = %shown, error = %e, "cannot persist consumer offsets");
        }
    }
}
