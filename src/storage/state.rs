//! [`StoreState`]: everything one shard's store shares with its background tasks (flusher,
//! pre-allocator, housekeeper), and the failure state they all consult.
//!
//! Lives in an `Rc` on the shard's executor; the tasks hold a `Weak` between rounds so that dropping the
//! store ends them. No `RefCell` borrow of it is held across an `.await`. The append path is in
//! [`super::append`], the read path in [`super::read`], the background tasks in [`super::flusher`] and
//! [`super::housekeeping`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::commitlog::LogState;
use super::consume_queue::ConsumeQueues;
use super::index::KeyIndex;
use super::io::StorageIo;
use super::waiter::{Notify, OffsetWatch};
use super::PhysicalOffset;
use super::{StorageError, StoreConfig, StoreOptions};

/// Everything one shard's store shares with its background tasks.
pub(crate) struct StoreState {
    pub(super) cfg: StoreConfig,
    pub(super) opts: StoreOptions,
    pub(super) io: Rc<dyn StorageIo>,
    pub(super) record_size_max: usize,
    /// Appends wait once this many bytes are not yet written: `opts.unwritten_bytes_max`, at most
    /// half the log's memory budget (`cfg.cache_bytes_max`) but at least
    /// [`UNWRITTEN_BYTES_MIN`] (see [`unwritten_bytes_max`]).
    pub(super) unwritten_bytes_max: u64,
    /// Bytes copied for commit-log writes in flight (each write copies its chunk into an aligned
    /// I/O buffer until it completes): at most [`super::flusher::WRITES_IN_FLIGHT_MAX`] chunks.
    pub(super) write_copy_bytes: Cell<usize>,
    pub(super) log: RefCell<LogState>,
    /// One checkpoint at a time: the background one and an explicit `checkpoint()` share the
    /// derived files' pending entries and `checkpoint.tmp`, so a second must wait for the first.
    pub(super) checkpoint_lock: glommio::sync::Semaphore,
    /// One retention run at a time (the housekeeper's and one asked for by an operator).
    pub(super) retention_lock: glommio::sync::Semaphore,
    pub(super) queues: RefCell<ConsumeQueues>,
    /// Queues emptied by deleting their topic ([`super::deletions`]).
    pub(super) deletions: RefCell<super::deletions::DeletedQueues>,
    /// A replica holds a master's mark beyond its queue's entries: appends apply it as they come.
    pub(super) deletions_ahead: Cell<bool>,
    pub(super) index: RefCell<KeyIndex>,
    /// Consume-queue plus index entries not yet checkpointed: raised at each placement, set to the
    /// exact figure after each checkpoint and retention round (never below the true figure, so the
    /// cap holds on it). Bounded by `opts.pending_entries_max` (see `append`).
    pub(super) pending_entries: Cell<usize>,
    /// An appender is running an early checkpoint (others wait for it: `early_checkpoints`).
    pub(super) early_checkpoint_running: Cell<bool>,
    /// Counts early checkpoints ended (done, failed or dropped): appenders at the cap wait on it.
    pub(super) early_checkpoints: OffsetWatch<u64>,
    /// Pending entries passed half the cap: the housekeeper's next round flushes the log first, so
    /// that its checkpoint covers every pending entry, and is asked for now.
    pub(super) early_checkpoint_wanted: Cell<bool>,
    /// Commit-log offset of the last checkpoint written (retention deletes only segments below it,
    /// so a checkpoint never lies below the first segment).
    pub(super) last_checkpoint: std::cell::Cell<PhysicalOffset>,
    /// Waiters on `log.offsets.written()` and `durable()`: each mirrors the tracker's value, advanced
    /// right after the tracker moved it (the tracker is the one that asserts; read it, not these).
    pub(super) written: OffsetWatch<PhysicalOffset>,
    pub(super) durable: OffsetWatch<PhysicalOffset>,
    /// Counts segments made ready by the pre-allocator.
    pub(super) segment_ready: OffsetWatch<u64>,
    pub(super) flush_notify: Rc<Notify>,
    pub(super) prealloc_notify: Rc<Notify>,
    pub(super) housekeeping_notify: Rc<Notify>,
    pub(super) sync_requested: Cell<bool>,
    pub(super) closing: Cell<bool>,
    /// The store was dropped without `close` (a crash in tests): writes not yet started are skipped.
    pub(super) dropped: Cell<bool>,
    pub(super) flusher_done: Cell<bool>,
    pub(super) failure: RefCell<Option<StorageError>>,
    pub(super) prealloc_error: RefCell<Option<StorageError>>,
    /// Commit-log writes started and not yet completed ([`flusher::WRITES_IN_FLIGHT_MAX`] at most).
    pub(super) writes_in_flight: Cell<usize>,
    /// A write failed; the flusher takes it, marks the store failed and retries.
    pub(super) write_error: RefCell<Option<StorageError>>,
    /// Per (topic, queue): the lowest queue offset a consumer still needs (set by the broker).
    pub(super) consumed_floors:
        RefCell<std::collections::HashMap<(String, u32), super::QueueOffset>>,
    /// Disk usage (percent) while appends are refused for it.
    pub(super) writes_refused_at: Cell<Option<u8>>,
    /// Messages not yet consumed that forced deletion removed (since open).
    pub(super) forced_unconsumed_deleted: Cell<u64>,
    /// Read-path and flush figures for the metrics (plain counters: this shard only).
    pub(super) stats: ReadFlushStats,
    /// A replica (slave) store: appends are refused, the log grows only by `append_replica`.
    pub(super) replica: Cell<bool>,
    /// Mirrors the log's tail after each append call (the replication master waits on it).
    pub(super) appended: OffsetWatch<PhysicalOffset>,
}

/// Least back-pressure bound, whatever the budget: the writes in flight at once, so that a small
/// cache setting does not starve the disk of queued writes.
pub(crate) const UNWRITTEN_BYTES_MIN: u64 =
    (super::flusher::WRITES_IN_FLIGHT_MAX * super::commitlog::CHUNK_BYTES) as u64;

/// The back-pressure bound of a store whose log may hold `budget` bytes in memory (cache, spare
/// buffers and the appender's chunks together): the configured bound, at most half the budget, so
/// that a full write buffer leaves the recent-data cache half of it; never under
/// [`UNWRITTEN_BYTES_MIN`].
pub(crate) fn unwritten_bytes_max(configured: u64, budget: usize) -> u64 {
    configured.min(budget as u64 / 2).max(UNWRITTEN_BYTES_MIN)
}

/// Reads served from memory vs from disk, and how long the commit log's sync rounds take.
#[derive(Debug, Default)]
pub(crate) struct ReadFlushStats {
    pub(super) cache_hits: Cell<u64>,
    pub(super) cache_misses: Cell<u64>,
    /// Appends that found the pending-entries cap reached and waited for an early checkpoint.
    pub(super) pending_waits: Cell<u64>,
    pub(super) flush_latency: RefCell<crate::metrics::Histogram>,
}

impl StoreState {
    pub(super) fn set_failure(&self, e: StorageError) {
        tracing::error!(error = %e, "commit log write failed; appends refused until it succeeds");
        *self.failure.borrow_mut() = Some(e);
        self.durable.break_all();
        self.written.break_all();
    }

    pub(super) fn clear_failure(&self) {
        if self.failure.borrow_mut().take().is_some() {
            tracing::info!("commit log writes succeed again");
        }
        self.durable.repair();
        self.written.repair();
    }

    /// Sets the pending-entries count to the exact figure (O(queues): after a checkpoint or retention,
    /// not per append).
    pub(super) fn recount_pending(&self) {
        let n = self.queues.borrow().memory().pending_entries
            + self.index.borrow().memory().pending_entries;
        self.pending_entries.set(n);
    }

    pub(super) fn check_failure(&self) -> Result<(), StorageError> {
        if let Some(e) = self.failure.borrow().as_ref() {
            return Err(e.duplicate());
        }
        if self.closing.get() {
            return Err(self.closed_error());
        }
        if self.replica.get() {
            return Err(StorageError::Replica);
        }
        if let Some(usage_percent) = self.writes_refused_at.get() {
            return Err(StorageError::DiskUsageHigh {
                usage_percent,
                refuse_percent: self.cfg.disk_refuse_writes_percent,
            });
        }
        Ok(())
    }

    pub(super) fn closed_error(&self) -> StorageError {
        StorageError::Io {
            op: "append",
            path: self.cfg.dir.clone(),
            source: std::io::Error::other("store is closed"),
        }
    }

    pub(super) fn failure_or_closed(&self) -> StorageError {
        match self.failure.borrow().as_ref() {
            Some(e) => e.duplicate(),
            None => self.closed_error(),
        }
    }

    /// Places every message in the log, queues and index, synchronously (no await: atomic for a batch).
    /// One clock read per call.
    pub(super) async fn flush(&self) -> Result<(), StorageError> {
        let offsets = self.log.borrow().offsets;
        let tail = offsets.tail();
        if offsets.durable() >= tail {
            return Ok(());
        }
        self.sync_requested.set(true);
        self.flush_notify.notify();
        if self.durable.wait(tail).await {
            Ok(())
        } else {
            Err(self.failure_or_closed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_bound_rows() {
        let mib = 1u64 << 20;
        let min = UNWRITTEN_BYTES_MIN;
        // (configured, budget) -> bound
        let rows = [
            // Defaults (64 MiB; 256 MiB over 2 shards): the configured bound, half the budget.
            ((64 * mib, 128 << 20), 64 * mib),
            // A smaller budget: half of it.
            ((64 * mib, 32 << 20), 16 * mib),
            // A larger budget: the configured bound.
            ((64 * mib, 1 << 30), 64 * mib),
            // A tiny or no cache: the floor (the writes in flight at once).
            ((64 * mib, 0), min),
            ((64 * mib, 4 << 20), min),
            // A configured bound under the floor is raised to it.
            ((mib, 1 << 30), min),
        ];
        for (i, ((configured, budget), want)) in rows.into_iter().enumerate() {
            assert_eq!(unwritten_bytes_max(configured, budget), want, "row {i}");
        }
    }
}
