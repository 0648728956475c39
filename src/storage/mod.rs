//! Per-shard message storage: an O_DIRECT commit log of fixed-size segments holding records in the
//! RocketMQ stored-message layout ([`crate::message`]), consume queues per (topic, queue), a key/id index,
//! a bounded cache of recent data, group commit, crash recovery and retention.
//!
//! One [`MessageStore`] per shard, used only from that shard's executor (it is `!Send`: `Rc`/`RefCell`
//! inside). Storage never sees a request code: the broker hands it encoded records and gets offsets back.
//! This file is the facade: the public contract and [`MessageStore`]'s methods, each a short delegation.
//!
//! CONTRACT (the broker codes against this; the storage work fills in the bodies and may add to it):
//! - `append` resolves = the record is written and visible to readers (`queue_entries`, `read`);
//!   in [`FlushMode::Sync`] it additionally waits until the record is durable (group commit),
//!   and reports [`AppendStatus::FlushTimeout`] if that took longer than `flush_timeout_ms` (the record is
//!   still stored and will become durable).
//! - `flush` resolves = every earlier append is durable.
//! - Physical offsets of shard k start at `k << 48`, so they are unique across shards.
//! - Queue offsets of a (topic, queue) are dense, starting at 0, in append order.
//!
//! Map: [`types`] and [`error`] (the boundary's data), [`offsets`] (the offset types), `state` (what the
//! store shares with its tasks), `append` and `read` (the two paths), [`commitlog`] (segments, appender
//! chunks, cache), `flusher` (writes, group commit, pre-allocation), [`recovery`] (open, scan,
//! decision table), [`housekeeping`] (checkpoint, retention), [`consume_queue`] and [`index`] (on
//! disk, bounded memory), [`checkpoint`], [`deletions`] (queues emptied by deleting their topic),
//! [`io`] (the file I/O the store is generic over)
//! and `sim` (its simulation for tests, behind the `sim` feature).
//!
//! Offsets are typed ([`PhysicalOffset`], [`QueueOffset`]). The commit log's offsets are in order,
//! `min <= durable <= written <= tail`, held by [`offsets::LogOffsets`], whose one setter asserts the
//! order (and that none moves back) on every change, in release builds too.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytes::Bytes;

mod append;
pub mod checkpoint;
pub mod commitlog;
pub mod consume_queue;
pub mod datadir;
pub mod deletions;
pub mod error;
mod flusher;
pub mod housekeeping;
pub mod index;
pub mod io;
pub mod offsets;
pub mod prefault;
mod read;
pub mod recovery;
mod replica;
#[cfg(feature = "sim")]
pub mod sim;
mod state;
pub mod types;
pub mod waiter;

pub use error::StorageError;
pub use flusher::{FILL_MARGIN_BYTES, WRITES_IN_FLIGHT_MAX};
pub use offsets::{PhysicalOffset, QueueOffset, SHARD_OFFSET_SHIFT};
pub use types::{
    AppendMessage, AppendResult, AppendStatus, FlushMode, QueueEntry, RecoveryReport, StoreConfig,
    StoreOptions,
};

use state::StoreState;

/// See [`MessageStore::derived_memory`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DerivedMemory {
    pub consume_queues: consume_queue::CqMemory,
    pub index: index::IndexMemory,
}
use waiter::OffsetWatch;

/// One shard's store. See the module contract.
pub struct MessageStore {
    shared: Rc<StoreState>,
    tasks: Vec<glommio::task::JoinHandle<()>>,
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        // Without close(): background tasks stop (a crash in tests); nothing more is written.
        self.shared.closing.set(true);
        self.shared.dropped.set(true);
        for t in self.tasks.drain(..) {
            t.cancel();
        }
    }
}

impl MessageStore {
    /// Opens (creating if needed) and recovers the store in `cfg.dir`.
    pub async fn open(cfg: StoreConfig) -> Result<(MessageStore, RecoveryReport), StorageError> {
        MessageStore::open_with(cfg, StoreOptions::default()).await
    }

    /// [`MessageStore::open`] with other I/O (simulation) or knobs.
    pub async fn open_with(
        cfg: StoreConfig,
        opts: StoreOptions,
    ) -> Result<(MessageStore, RecoveryReport), StorageError> {
        let seg = cfg.segment_size_bytes;
        if seg < 64 << 10 || !seg.is_multiple_of(io::IO_ALIGN_BYTES) || seg > 1 << 40 {
            return Err(StorageError::Config(format!(
                "segment_size_bytes {seg} must be a multiple of 4096 between 64 KiB and 1 TiB"
            )));
        }
        // The pool's thread starts with the first store, so it is there when the first chunk fills.
        prefault::start();
        let record_size_max = cfg
            .record_size_max_bytes
            .min((seg - commitlog::BLANK_MIN_BYTES) as usize);
        let io = opts.io.clone();
        let mut rec = recovery::recover(
            &cfg,
            &opts,
            &io,
            record_size_max as u64,
            cfg.cache_bytes_max,
        )
        .await?;
        // Queues emptied by deleting their topic stay empty whatever the scan rebuilt.
        let mut deleted = deletions::read(&io, &cfg.dir).await?;
        let (changed, gone) = deleted.apply(&mut rec.queues);
        if changed {
            deletions::write(&io, &cfg.dir, &deleted).await?;
        }
        deletions::remove_paths(&io, gone).await?;
        let end = rec.log.offsets.tail();
        tracing::info!(
            dir = %cfg.dir.display(),
            end = end.get(),
            segments = rec.report.segments,
            records_scanned = rec.report.records_scanned,
            truncated_bytes = rec.report.truncated_bytes,
            corrupted = rec.report.corrupted.len(),
            scanned_bytes = end - rec.report.scan_start,
            log_bytes_read = rec.report.log_bytes_read,
            dispatch_bytes_read = rec.report.dispatch_bytes_read,
            "store recovered"
        );
        let unwritten_bytes_max = state::unwritten_bytes_max(
            cfg.write_behind_bytes_max
                .unwrap_or(opts.unwritten_bytes_max),
            cfg.cache_bytes_max,
        );
        let shared = Rc::new(StoreState {
            cfg,
            opts,
            io,
            record_size_max,
            unwritten_bytes_max,
            write_copy_bytes: Cell::new(0),
            checkpoint_lock: glommio::sync::Semaphore::new(1),
            retention_lock: glommio::sync::Semaphore::new(1),
            log: RefCell::new(rec.log),
            queues: RefCell::new(rec.queues),
            deletions: RefCell::new(deleted),
            deletions_ahead: Cell::new(false),
            index: RefCell::new(rec.index),
            pending_entries: Cell::new(0),
            early_checkpoint_running: Cell::new(false),
            early_checkpoints: OffsetWatch::new(0),
            early_checkpoint_wanted: Cell::new(false),
            last_checkpoint: Cell::new(rec.report.scan_start),
            written: OffsetWatch::new(end),
            durable: OffsetWatch::new(end),
            segment_ready: OffsetWatch::new(0),
            flush_notify: Rc::default(),
            prealloc_notify: Rc::default(),
            housekeeping_notify: Rc::default(),
            sync_requested: Cell::new(false),
            closing: Cell::new(false),
            dropped: Cell::new(false),
            flusher_done: Cell::new(false),
            failure: RefCell::new(None),
            prealloc_error: RefCell::new(None),
            writes_in_flight: Cell::new(0),
            write_error: RefCell::new(None),
            consumed_floors: RefCell::default(),
            writes_refused_at: Cell::new(None),
            forced_unconsumed_deleted: Cell::new(0),
            stats: Default::default(),
            replica: Cell::new(false),
            appended: OffsetWatch::new(end),
        });
        housekeeping::update_write_refusal(&shared);
        shared.recount_pending();
        let w = Rc::downgrade(&shared);
        let tasks = vec![
            glommio::spawn_local(flusher::flusher(w.clone())).detach(),
            glommio::spawn_local(flusher::preallocator(w.clone())).detach(),
            glommio::spawn_local(housekeeping::housekeeper(w)).detach(),
        ];
        Ok((MessageStore { shared, tasks }, rec.report))
    }

    /// Appends one message. See the module contract for what resolution means.
    pub async fn append(&self, msg: AppendMessage) -> Result<AppendResult, StorageError> {
        let mut msg = msg;
        let mut out = None;
        self.shared
            .append_into(std::slice::from_mut(&mut msg), &mut out)
            .await?;
        Ok(out.expect("one result per message"))
    }

    /// Appends messages that all go to one (topic, queue) at consecutive queue offsets, in order.
    pub async fn append_batch(
        &self,
        msgs: Vec<AppendMessage>,
    ) -> Result<Vec<AppendResult>, StorageError> {
        self.shared.append_msgs(msgs).await
    }

    /// Up to `max` consume-queue entries starting at `from`.
    pub fn queue_entries(
        &self,
        topic: &str,
        queue_id: u32,
        from: QueueOffset,
        max: usize,
    ) -> Vec<QueueEntry> {
        self.shared
            .queues
            .borrow_mut()
            .entries(topic, queue_id, from, max)
    }

    /// Lowest queue offset still readable (0 for an unknown queue).
    pub fn min_offset(&self, topic: &str, queue_id: u32) -> QueueOffset {
        let qs = self.shared.queues.borrow();
        qs.get(topic, queue_id)
            .map_or(QueueOffset(0), |q| q.min_offset())
    }

    /// Next queue offset to be written (0 for an unknown queue).
    pub fn max_offset(&self, topic: &str, queue_id: u32) -> QueueOffset {
        let qs = self.shared.queues.borrow();
        qs.get(topic, queue_id)
            .map_or(QueueOffset(0), |q| q.max_offset())
    }

    /// Reads `size` bytes at `offset` (one or more whole records), from the cache when recent.
    /// Also the raw-log path (replication): any byte range inside one segment below the tail.
    pub async fn read(&self, offset: PhysicalOffset, size: u32) -> Result<Bytes, StorageError> {
        self.shared.read(offset, size).await
    }

    /// Whether memory (the appender's chunks or the recent-data cache) holds the byte at `offset`:
    /// `false` means reading there goes to disk (a cold read). A fact for the broker, which decides
    /// what to make of it (a pull far behind is pointed at the slave, `slaveReadEnable`).
    pub fn in_memory(&self, offset: PhysicalOffset) -> bool {
        let log = self.shared.log.borrow();
        log.mem_piece(offset, offset + 1).is_some()
    }

    /// Reads the whole record at `offset` (size unknown to the caller).
    pub async fn read_record(&self, offset: PhysicalOffset) -> Result<Bytes, StorageError> {
        self.shared.read_record(offset).await
    }

    /// First queue offset whose store time is at or after `timestamp_ms` (max offset if none).
    pub async fn offset_by_time(
        &self,
        topic: &str,
        queue_id: u32,
        timestamp_ms: i64,
    ) -> Result<QueueOffset, StorageError> {
        self.shared
            .offset_by_time(topic, queue_id, timestamp_ms)
            .await
    }

    /// Store time of the oldest readable message of a queue, if any.
    pub async fn earliest_store_time(
        &self,
        topic: &str,
        queue_id: u32,
    ) -> Result<Option<i64>, StorageError> {
        self.shared.earliest_store_time(topic, queue_id).await
    }

    /// Physical offsets of messages of `topic` indexed under `key`, stored within [begin_ms, end_ms], newest first, at most `max`.
    pub fn lookup_key(
        &self,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> Vec<PhysicalOffset> {
        let min = self.shared.log.borrow().offsets.min();
        self.shared
            .index
            .borrow()
            .lookup(index::key_hash(topic, key), begin_ms, end_ms, max, min)
    }

    /// Where a queue (re)starts: the offset its topic's deletion left it at, or 0 (see [`deletions`]).
    /// A queue whose minimum is still there has lost nothing to retention since.
    pub fn queue_start(&self, topic: &str, queue_id: u32) -> QueueOffset {
        self.shared.deletions.borrow().start(topic, queue_id)
    }

    /// Drops every message of `topic` this store holds from its queues, durably (their records leave
    /// the log with their segments); a topic created again under the name reads only what comes
    /// after. Returns how many queues were emptied.
    pub async fn delete_topic(&self, topic: &str) -> Result<usize, StorageError> {
        deletions::delete_topic(&self.shared, topic).await
    }

    /// Every deletion mark: (topic, queue, mark), for a replica ([`MessageStore::adopt_deletions`]).
    pub fn deletion_marks(&self) -> Vec<(String, u32, u64)> {
        self.shared.deletions.borrow().marks()
    }

    /// A replica: takes its master's deletion marks, so that the messages of a topic deleted on the
    /// master are not readable here either, including those that arrive after the marks.
    pub async fn adopt_deletions(
        &self,
        marks: Vec<(String, u32, QueueOffset)>,
    ) -> Result<(), StorageError> {
        deletions::adopt(&self.shared, marks).await
    }

    /// Every (topic, queue) this store has entries for.
    pub fn queues(&self) -> Vec<(String, u32)> {
        let qs = self.shared.queues.borrow();
        let mut v: Vec<(String, u32)> = qs.iter().map(|(k, _)| k.clone()).collect();
        v.sort();
        v
    }

    /// Resolves once every earlier append is durable.
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.shared.flush().await
    }

    /// Flushes, writes a checkpoint and stops background tasks.
    pub async fn close(mut self) -> Result<(), StorageError> {
        let r = self.shared.flush().await;
        self.shared.closing.set(true);
        self.shared.flush_notify.notify();
        self.shared.prealloc_notify.notify();
        self.shared.housekeeping_notify.notify();
        for t in self.tasks.drain(..) {
            t.cancel();
        }
        r?;
        housekeeping::checkpoint(&self.shared, true).await
    }

    /// Next physical offset to be assigned (end of the log).
    pub fn log_end(&self) -> PhysicalOffset {
        self.shared.log.borrow().offsets.tail()
    }

    /// Everything below this is durable.
    pub fn durable_offset(&self) -> PhysicalOffset {
        self.shared.log.borrow().offsets.durable()
    }

    /// Oldest readable physical offset.
    pub fn min_physical_offset(&self) -> PhysicalOffset {
        self.shared.log.borrow().offsets.min()
    }

    /// Runs retention now; returns how many segments were deleted.
    pub async fn run_retention(&self) -> Result<usize, StorageError> {
        housekeeping::run_retention(&self.shared).await
    }

    /// Writes the consume-queue and index entries below the durable offset and a checkpoint now.
    pub async fn checkpoint(&self) -> Result<(), StorageError> {
        housekeeping::checkpoint(&self.shared, false).await
    }

    /// Sets, per (topic, queue), the lowest queue offset a consumer still needs (the broker computes it
    /// from committed consumer offsets). Retention does not delete a segment holding a message at or
    /// past its queue's floor unless it expired or forced deletion is enabled (see
    /// [`housekeeping::retention_decision`]). Replaces the previous floors; queues absent have none.
    pub fn set_consumed_floors(
        &self,
        floors: impl IntoIterator<Item = (String, u32, QueueOffset)>,
    ) {
        let mut m = self.shared.consumed_floors.borrow_mut();
        m.clear();
        for (t, q, o) in floors {
            m.insert((t, q), o);
        }
    }

    /// Disk usage (percent) while appends are refused for it; `None` while they are taken.
    pub fn writes_refused_at(&self) -> Option<u8> {
        self.shared.writes_refused_at.get()
    }

    /// Checks disk usage now (also done every housekeeping round) and refuses or resumes appends.
    pub fn check_disk_usage(&self) {
        housekeeping::update_write_refusal(&self.shared);
    }

    /// Messages not yet consumed that forced deletion removed since the store was opened.
    pub fn forced_unconsumed_deleted(&self) -> u64 {
        self.shared.forced_unconsumed_deleted.get()
    }

    /// What the consume queues and the key index hold in memory now. Bounded by configuration, not by
    /// the backlog: per queue a fixed part, the entries not yet checkpointed, the block cache
    /// (`cq_cache_bytes_max`); the index's open file's slot table and its unwritten entries.
    pub fn derived_memory(&self) -> DerivedMemory {
        DerivedMemory {
            consume_queues: self.shared.queues.borrow().memory(),
            index: self.shared.index.borrow().memory(),
        }
    }

    /// What the commit log holds in memory now (cache, spare buffers, the appender's chunks: together
    /// within `cache_bytes_max` unless the chunks alone exceed it), and the bytes copied for writes in
    /// flight.
    pub fn log_memory(&self) -> (commitlog::LogMemory, usize) {
        (
            self.shared.log.borrow().memory(),
            self.shared.write_copy_bytes.get(),
        )
    }

    /// Appends wait once this many bytes are not yet written (the configured
    /// `unwritten_bytes_max`, at most half of `cache_bytes_max`, at least the writes in flight at once).
    pub fn unwritten_bytes_max(&self) -> u64 {
        self.shared.unwritten_bytes_max
    }

    /// The store's figures for the metrics: cache hits and misses, flush latency, disk use.
    pub fn figures(&self) -> crate::metrics::StoreFigures {
        let sh = &self.shared;
        let log = sh.log.borrow();
        let segments = log.segments.len() as u64;
        let mem = log.memory();
        let cq = sh.queues.borrow().memory();
        let memory = crate::metrics::StoreMemoryFigures {
            budget_bytes: mem.budget_bytes as u64,
            cache_bytes: mem.cache_bytes as u64,
            spare_bytes: mem.spare_bytes as u64,
            unwritten_chunk_bytes: mem.chunk_bytes as u64,
            pending_cq_entries: cq.pending_entries as u64,
            pending_index_entries: sh.index.borrow().memory().pending_entries as u64,
            pending_entries_max: sh.opts.pending_entries_max as u64,
            pending_waits: sh.stats.pending_waits.get(),
            cq_open_files: cq.open_files as u64,
            cq_open_files_max: cq.open_files_max as u64,
            cq_files_opened: cq.files_opened,
        };
        crate::metrics::StoreFigures {
            cache_hits: sh.stats.cache_hits.get(),
            cache_misses: sh.stats.cache_misses.get(),
            flush_latency: sh.stats.flush_latency.borrow().clone(),
            segment_bytes: segments * sh.cfg.segment_size_bytes,
            segments,
            flush_behind_bytes: log.offsets.tail() - log.offsets.durable(),
            writes_refused_at: sh.writes_refused_at.get(),
            memory,
        }
    }

    /// Makes this store a replica (a slave's): [`MessageStore::append`] and `append_batch` answer
    /// [`StorageError::Replica`]; the log grows only through [`MessageStore::append_replica`].
    pub fn set_replica(&self, on: bool) {
        self.shared.replica.set(on);
    }

    /// Replica path, failover: records durably that this log must be cut at `at` (its tail from an
    /// older epoch that the new master never had), `end` being the log's end now. The cut is made
    /// the next time the store opens ([`replica::CUT_FILE`]: recovery zeroes `[at, end)`, deletes
    /// later segments and rebuilds the consume queues and index from the log), so the caller
    /// restarts the store; until then nothing may be appended.
    pub fn schedule_cut(
        &self,
        at: PhysicalOffset,
        end: PhysicalOffset,
    ) -> Result<(), StorageError> {
        replica::write_cut(&self.shared.cfg.dir, at, end)
    }

    /// Replica path: appends records a master wrote, at the same physical offsets. `bytes` starts at
    /// `at`, which must be this log's end ([`StorageError::ReplicaGap`] otherwise), and holds whole
    /// records or a segment-end blank marker (its 8-byte header); each record is checked (CRC, its
    /// PHYSICALOFFSET field) and dispatched to the consume queues and the index as recovery does.
    /// Returns the new end of the log.
    pub async fn append_replica(
        &self,
        at: PhysicalOffset,
        bytes: &[u8],
    ) -> Result<PhysicalOffset, StorageError> {
        self.shared.append_replica(at, bytes).await
    }

    /// Master side of the replica path: whole records (or a segment's blank marker, 8 bytes) from
    /// `from`, at most `max_bytes` unless the first record is larger; `None` at the end of the log.
    pub async fn read_log(
        &self,
        from: PhysicalOffset,
        max_bytes: usize,
    ) -> Result<Option<Bytes>, StorageError> {
        self.shared.read_log(from, max_bytes).await
    }

    /// Resolves once the log's end is past `pos` (after an append call placed its records), or
    /// `false` if the store closed or failed first.
    pub async fn wait_appended_past(&self, pos: PhysicalOffset) -> bool {
        self.shared.appended.wait(pos + 1).await
    }

    /// Base offsets of the commit-log segments (oldest first).
    pub fn segment_bases(&self) -> Vec<PhysicalOffset> {
        let log = self.shared.log.borrow();
        log.segments.keys().copied().collect()
    }
}
