//! Per-shard message storage: an O_DIRECT commit log of fixed-size segments holding records in the
//! RocketMQ stored-message layout ([`crate::message`]), consume queues per (topic, queue), a key/id index,
//! a bounded cache of recent data, group commit, crash recovery and retention.
//!
//! One [`MessageStore`] per shard, used only from that shard's executor (it is `!Send`: `Rc`/`RefCell`
//! inside). Storage never sees a request code: the broker hands it encoded records and gets offsets back.
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
//! Map: [`commitlog`] (segments, appender chunks, cache), [`flusher`] (writes, group commit,
//! pre-allocation), [`recovery`] (open, scan, decision table), [`housekeeping`] (checkpoint, retention),
//! [`consume_queue`], [`index`], [`dispatch`] (their persisted form), [`checkpoint`], [`io`] (the file
//! I/O the store is generic over) and [`sim`] (its simulation for tests).
//!
//! Offsets, in order (asserted on every change): `min_offset <= durable <= written <= tail`.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_lite::future;

pub mod checkpoint;
pub mod commitlog;
pub mod consume_queue;
pub mod dispatch;
mod flusher;
pub mod housekeeping;
pub mod index;
pub mod io;
pub mod recovery;
pub mod sim;
mod waiter;

use commitlog::LogState;
use consume_queue::ConsumeQueues;
use dispatch::{DispatchEntry, DispatchFiles, DispatchRecordRef};
use index::KeyIndex;
use io::StorageIo;
use waiter::{Notify, OffsetWatch};

/// Byte position in the commit logs of all shards (shard k's log starts at `k << 48`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysicalOffset(pub u64);

/// Index of a message in a consume queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct QueueOffset(pub u64);

/// Shift that places shard k's commit log at `k << SHARD_OFFSET_SHIFT`.
pub const SHARD_OFFSET_SHIFT: u32 = 48;

impl PhysicalOffset {
    /// The shard whose commit log holds this offset.
    pub fn shard(self) -> u16 {
        (self.0 >> SHARD_OFFSET_SHIFT) as u16
    }
}

/// RocketMQ's flush modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// ASYNC_FLUSH: acknowledge once written; flush on an interval and when a buffer fills.
    Async,
    /// SYNC_FLUSH: acknowledge once durable (group commit).
    Sync,
}

/// Settings of one shard's store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// This shard's directory (commit log, consume queues, index, checkpoint live below it).
    pub dir: PathBuf,
    pub shard_id: u16,
    pub segment_size_bytes: u64,
    pub flush_mode: FlushMode,
    pub flush_interval_ms: u64,
    pub flush_timeout_ms: u64,
    /// Bytes of recently written data kept in memory for tail readers.
    pub cache_bytes_max: usize,
    /// Whole segments older than this are deleted (RocketMQ `fileReservedTime`).
    pub retention_hours: u64,
    /// Segments are deleted oldest-first while the data disk is fuller than this.
    pub disk_usage_max_percent: u8,
    /// Largest single record accepted.
    pub record_size_max_bytes: usize,
}

impl StoreConfig {
    /// Defaults suitable for production, rooted at `dir`.
    pub fn new(dir: PathBuf, shard_id: u16) -> StoreConfig {
        StoreConfig {
            dir,
            shard_id,
            segment_size_bytes: 1 << 30,
            flush_mode: FlushMode::Async,
            flush_interval_ms: 500,
            flush_timeout_ms: 5_000,
            cache_bytes_max: 256 << 20,
            retention_hours: 72,
            disk_usage_max_percent: 90,
            record_size_max_bytes: 4 << 20 | 64 << 10,
        }
    }
}

/// One message to append: an encoded record (see [`crate::message::encode_record`]) plus the facts the
/// store indexes it by, which the broker already knows (recovery re-derives them from the record).
#[derive(Debug, Clone)]
pub struct AppendMessage {
    pub record: BytesMut,
    pub topic: String,
    pub queue_id: u32,
    pub tags_code: i64,
    /// Index tokens: the KEYS tokens and the UNIQ_KEY.
    pub keys: Vec<String>,
}

/// How an append ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendStatus {
    Ok,
    /// SYNC_FLUSH only: stored, but not durable within `flush_timeout_ms`.
    FlushTimeout,
}

/// Where an appended message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    pub physical_offset: PhysicalOffset,
    pub queue_offset: QueueOffset,
    pub size_bytes: u32,
    pub store_timestamp_ms: i64,
    pub status: AppendStatus,
}

/// One consume-queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEntry {
    pub queue_offset: QueueOffset,
    pub physical_offset: PhysicalOffset,
    pub size_bytes: u32,
    pub tags_code: i64,
}

/// What recovery found and did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub segments: usize,
    pub records_scanned: u64,
    /// Bytes cut from the tail (torn or padded write).
    pub truncated_bytes: u64,
    /// Records found corrupted in the middle of the log (offset, reason), kept out of the queues.
    pub corrupted: Vec<(PhysicalOffset, String)>,
}

/// Errors at the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("disk full while {op} {path}")]
    DiskFull { op: &'static str, path: PathBuf },
    #[error("record of {size} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge { size: usize, max: usize },
    #[error("corrupted record at physical offset {offset}: {reason}")]
    Corrupted { offset: u64, reason: String },
    #[error("no message at physical offset {offset}")]
    NotFound { offset: u64 },
    #[error("{0}")]
    Config(String),
}

impl StorageError {
    /// Maps an I/O error: ENOSPC/EDQUOT become [`StorageError::DiskFull`].
    pub fn from_io(op: &'static str, path: PathBuf, source: std::io::Error) -> StorageError {
        if io::is_disk_full(&source) {
            StorageError::DiskFull { op, path }
        } else {
            StorageError::Io { op, path, source }
        }
    }

    /// A copy of this error (the store keeps a failure and hands it to every caller).
    pub fn duplicate(&self) -> StorageError {
        match self {
            StorageError::Io { op, path, source } => StorageError::Io {
                op,
                path: path.clone(),
                source: match source.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(source.kind(), source.to_string()),
                },
            },
            StorageError::DiskFull { op, path } => StorageError::DiskFull {
                op,
                path: path.clone(),
            },
            StorageError::RecordTooLarge { size, max } => StorageError::RecordTooLarge {
                size: *size,
                max: *max,
            },
            StorageError::Corrupted { offset, reason } => StorageError::Corrupted {
                offset: *offset,
                reason: reason.clone(),
            },
            StorageError::NotFound { offset } => StorageError::NotFound { offset: *offset },
            StorageError::Config(s) => StorageError::Config(s.clone()),
        }
    }
}

/// Knobs beyond [`StoreConfig`], and the file I/O to use. `Default` is production: real O_DIRECT files.
#[derive(Clone)]
pub struct StoreOptions {
    pub io: Rc<dyn StorageIo>,
    /// Overwrite new segments with zeros ahead of need (synced writes over existing blocks are ~2x
    /// faster). `None`: only in SYNC_FLUSH, where it pays; in ASYNC_FLUSH it would halve bandwidth.
    pub prewrite_segments: Option<bool>,
    pub checkpoint_interval_ms: u64,
    pub retention_interval_ms: u64,
    /// Appends wait once this many bytes are not yet written to disk.
    pub unwritten_bytes_max: u64,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            io: Rc::new(io::DmaIo),
            prewrite_segments: None,
            checkpoint_interval_ms: 1_000,
            retention_interval_ms: 10_000,
            unwritten_bytes_max: 64 << 20,
        }
    }
}

impl StoreOptions {
    pub fn with_io(mut self, io: Rc<dyn StorageIo>) -> StoreOptions {
        self.io = io;
        self
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Everything one shard's store shares with its background tasks.
pub(crate) struct Shared {
    cfg: StoreConfig,
    opts: StoreOptions,
    io: Rc<dyn StorageIo>,
    record_size_max: usize,
    log: RefCell<LogState>,
    queues: RefCell<ConsumeQueues>,
    index: RefCell<KeyIndex>,
    dispatch: RefCell<DispatchFiles>,
    written: OffsetWatch,
    durable: OffsetWatch,
    /// Counts segments made ready by the pre-allocator.
    segment_ready: OffsetWatch,
    flush_notify: Rc<Notify>,
    prealloc_notify: Rc<Notify>,
    housekeeping_notify: Rc<Notify>,
    sync_requested: Cell<bool>,
    closing: Cell<bool>,
    /// The store was dropped without `close` (a crash in tests): writes not yet started are skipped.
    dropped: Cell<bool>,
    flusher_done: Cell<bool>,
    failure: RefCell<Option<StorageError>>,
    prealloc_error: RefCell<Option<StorageError>>,
    /// Commit-log writes started and not yet completed ([`flusher::WRITES_IN_FLIGHT_MAX`] at most).
    writes_in_flight: Cell<usize>,
    /// A write failed; the flusher takes it, marks the store failed and retries.
    write_error: RefCell<Option<StorageError>>,
    /// ASYNC_FLUSH: appends wait while a sealing append lets the reactor submit its chunk's write.
    gate_closed: Cell<bool>,
    /// Counts gate openings (appends waiting at the gate wait for the next one).
    gate: OffsetWatch,
}

enum Placed {
    /// Placed (the results went to the sink): the end of the last record, and whether a chunk was
    /// sealed (became due for writing).
    Done {
        end: u64,
        sealed: bool,
    },
    NeedSegment,
}

/// Where `append` results go: a `Vec` for a batch, one slot for a single append (no allocation).
trait ResultSink {
    fn push(&mut self, r: AppendResult);
    fn set_status(&mut self, s: AppendStatus);
}

impl ResultSink for Vec<AppendResult> {
    fn push(&mut self, r: AppendResult) {
        Vec::push(self, r);
    }

    fn set_status(&mut self, s: AppendStatus) {
        for r in self.iter_mut() {
            r.status = s;
        }
    }
}

impl ResultSink for Option<AppendResult> {
    fn push(&mut self, r: AppendResult) {
        assert!(self.replace(r).is_none(), "one result for a single append");
    }

    fn set_status(&mut self, s: AppendStatus) {
        if let Some(r) = self {
            r.status = s;
        }
    }
}

/// Reopens the append gate when the sealing append is done or dropped.
struct GateGuard<'a>(&'a Shared);

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        self.0.gate_closed.set(false);
        self.0.gate.advance(self.0.gate.get() + 1);
    }
}

/// How long the sealing append sleeps so that the executor goes round its reactor (which submits the
/// queued writes to io_uring) before appends go on; glommio submits only between task-queue runs.
const REACTOR_PASS: Duration = Duration::from_micros(5);

impl Shared {
    fn set_failure(&self, e: StorageError) {
        tracing::error!(error = %e, "commit log write failed; appends refused until it succeeds");
        *self.failure.borrow_mut() = Some(e);
        self.durable.break_all();
        self.written.break_all();
    }

    fn clear_failure(&self) {
        if self.failure.borrow_mut().take().is_some() {
            tracing::info!("commit log writes succeed again");
        }
        self.durable.repair();
        self.written.repair();
    }

    fn check_failure(&self) -> Result<(), StorageError> {
        if let Some(e) = self.failure.borrow().as_ref() {
            return Err(e.duplicate());
        }
        if self.closing.get() {
            return Err(self.closed_error());
        }
        Ok(())
    }

    fn closed_error(&self) -> StorageError {
        StorageError::Io {
            op: "append",
            path: self.cfg.dir.clone(),
            source: std::io::Error::other("store is closed"),
        }
    }

    fn failure_or_closed(&self) -> StorageError {
        match self.failure.borrow().as_ref() {
            Some(e) => e.duplicate(),
            None => self.closed_error(),
        }
    }

    /// Places every message in the log, queues and index, synchronously (no await: atomic for a batch).
    /// One clock read per call.
    fn try_place(
        &self,
        msgs: &mut [AppendMessage],
        total: u64,
        out: &mut impl ResultSink,
    ) -> Placed {
        let mut log = self.log.borrow_mut();
        let mut sealed = false;
        if total > log.room() {
            let Some(next) = log.next_segment.take() else {
                log.stalled = true;
                self.prealloc_notify.notify();
                return Placed::NeedSegment;
            };
            let old = log.active_base;
            log.roll(next);
            sealed = true;
            self.dispatch.borrow_mut().push(
                old,
                &DispatchEntry::Seal {
                    end: log.active_base,
                },
            );
            self.prealloc_notify.notify();
            assert!(total <= log.room(), "batch larger than a segment");
        }
        let ts = now_ms().max(log.last_store_ts_ms);
        log.last_store_ts_ms = ts;
        let seg_base = log.active_base;
        if let Some(s) = log.segments.get_mut(&seg_base) {
            s.last_store_ts_ms = ts;
        }
        let mut queues = self.queues.borrow_mut();
        let mut index = self.index.borrow_mut();
        let mut dispatch = self.dispatch.borrow_mut();
        let mut end = log.tail;
        let mut key_hashes: Vec<u64> = Vec::new();
        for m in msgs.iter_mut() {
            let q = queues.get_mut_or_create(&m.topic, m.queue_id);
            let qoff = q.max_offset();
            let phys = log.tail;
            let size = m.record.len() as u32;
            crate::message::patch_record(&mut m.record, qoff, phys, ts);
            sealed |= log.copy_in(&m.record);
            q.push(qoff, phys, size, m.tags_code);
            key_hashes.clear();
            key_hashes.extend(
                m.keys
                    .iter()
                    .filter(|k| !k.is_empty())
                    .map(|k| index::key_hash(&m.topic, k)),
            );
            for h in &key_hashes {
                index.insert(*h, phys, ts);
            }
            dispatch.push_record(
                seg_base,
                &DispatchRecordRef {
                    topic: &m.topic,
                    queue_id: m.queue_id,
                    queue_offset: qoff,
                    physical_offset: phys,
                    size_bytes: size,
                    tags_code: m.tags_code,
                    store_timestamp_ms: ts,
                    key_hashes: &key_hashes,
                },
            );
            end = phys + u64::from(size);
            out.push(AppendResult {
                physical_offset: PhysicalOffset(phys),
                queue_offset: QueueOffset(qoff),
                size_bytes: size,
                store_timestamp_ms: ts,
                status: AppendStatus::Ok,
            });
        }
        Placed::Done { end, sealed }
    }

    fn validate(&self, msgs: &[AppendMessage]) -> Result<u64, StorageError> {
        let mut total = 0u64;
        for m in msgs {
            let n = m.record.len();
            if n > self.record_size_max {
                return Err(StorageError::RecordTooLarge {
                    size: n,
                    max: self.record_size_max,
                });
            }
            match crate::message::peek_header(&m.record) {
                Some((size, crate::message::MAGIC_V1))
                    if size as usize == n && n >= crate::message::RECORD_FIXED_BYTES => {}
                _ => {
                    return Err(StorageError::Config(format!(
                        "append of a buffer that is not one encoded record ({n} bytes)"
                    )))
                }
            }
            total += n as u64;
        }
        if total > self.record_size_max as u64 {
            return Err(StorageError::RecordTooLarge {
                size: total as usize,
                max: self.record_size_max,
            });
        }
        Ok(total)
    }

    async fn append_msgs(
        self: &Rc<Self>,
        mut msgs: Vec<AppendMessage>,
    ) -> Result<Vec<AppendResult>, StorageError> {
        let mut out = Vec::with_capacity(msgs.len());
        if !msgs.is_empty() {
            self.append_into(&mut msgs, &mut out).await?;
        }
        Ok(out)
    }

    /// Appends a non-empty run of messages; one result per message goes to `out`.
    async fn append_into(
        self: &Rc<Self>,
        msgs: &mut [AppendMessage],
        out: &mut impl ResultSink,
    ) -> Result<(), StorageError> {
        let total = self.validate(msgs)?;
        self.check_failure()?;
        // ASYNC_FLUSH: while a sealing append lets the reactor submit its write, wait (see kick_writes).
        while self.gate_closed.get() {
            let g = self.gate.get();
            self.gate.wait(g + 1).await;
        }
        // Back-pressure: bounded memory for bytes not yet written. Past the bound, wait until half of
        // it is written (not just one byte under it): waiters wake once per many chunks, in order.
        let (tail, written) = {
            let log = self.log.borrow();
            (log.tail, log.written)
        };
        let max = self.opts.unwritten_bytes_max;
        if tail - written > max {
            self.flush_notify.notify();
            if !self.written.wait(tail - max / 2).await {
                return Err(self.failure_or_closed());
            }
        }
        let (end, sealed) = loop {
            self.check_failure()?;
            match self.try_place(msgs, total, out) {
                Placed::Done { end, sealed } => break (end, sealed),
                Placed::NeedSegment => {
                    if let Some(e) = self.prealloc_error.borrow().as_ref() {
                        return Err(e.duplicate());
                    }
                    let v = self.segment_ready.get();
                    self.prealloc_notify.notify();
                    if !self.segment_ready.wait(v + 1).await {
                        if let Some(e) = self.prealloc_error.borrow().as_ref() {
                            return Err(e.duplicate());
                        }
                    }
                }
            }
        };
        match self.cfg.flush_mode {
            FlushMode::Async => {
                if sealed {
                    self.kick_writes().await;
                }
            }
            FlushMode::Sync => {
                self.sync_requested.set(true);
                self.flush_notify.notify();
                let timeout = Duration::from_millis(self.cfg.flush_timeout_ms);
                let r = future::or(async { Some(self.durable.wait(end).await) }, async {
                    glommio::timer::sleep(timeout).await;
                    None
                })
                .await;
                match r {
                    Some(true) => {}
                    Some(false) => {
                        if self.durable.get() < end {
                            return Err(self.failure_or_closed());
                        }
                    }
                    None => {
                        out.set_status(AppendStatus::FlushTimeout);
                    }
                }
            }
        }
        Ok(())
    }

    /// ASYNC_FLUSH, after an append sealed a chunk: starts the writes that are due, then sleeps for one
    /// pass of the executor round its reactor while other appends wait at the gate. Without it, callers
    /// whose appends never wait (an append that only copies resolves at once) would run until the
    /// back-pressure bound before io_uring saw a single write, and the disk would idle meanwhile.
    /// Costs one timer and one wake-up per waiting appender per chunk (1 MiB), not per append.
    /// Fairness is per chunk: with N such callers, one may wait while the others fill a chunk each.
    async fn kick_writes(self: &Rc<Self>) {
        flusher::start_writes(self, false);
        if self.gate_closed.replace(true) {
            return;
        }
        {
            let _open = GateGuard(self);
            glommio::timer::sleep(REACTOR_PASS).await;
        }
        // The appends that waited at the gate go first: a caller that appends in a loop without ever
        // waiting would otherwise run on, seal the next chunk and starve them indefinitely.
        futures_lite::future::yield_now().await;
    }

    async fn flush(&self) -> Result<(), StorageError> {
        let tail = self.log.borrow().tail;
        if self.durable.get() >= tail {
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

    async fn read(&self, offset: u64, size: u32) -> Result<Bytes, StorageError> {
        let end = offset + u64::from(size);
        let not_found = StorageError::NotFound { offset };
        {
            let log = self.log.borrow();
            if size == 0 {
                return Ok(Bytes::new());
            }
            if offset < log.min_offset || end > log.tail {
                return Err(not_found);
            }
            let (Some(a), Some(b)) = (log.segment_of(offset), log.segment_of(end - 1)) else {
                return Err(not_found);
            };
            if a.base != b.base {
                return Err(not_found);
            }
            if let Some(b) = log.read_mem(offset, end) {
                return Ok(b);
            }
        }
        let mut out = BytesMut::with_capacity(size as usize);
        let mut pos = offset;
        while pos < end {
            let (piece, disk) = {
                let log = self.log.borrow();
                match log.mem_piece(pos, end) {
                    Some(p) => (Some(p), None),
                    None => {
                        let Some(seg) = log.segment_of(pos) else {
                            return Err(not_found);
                        };
                        let to = log.next_mem_start(pos).min(end);
                        let fut = seg.file.read_at(pos - seg.base, (to - pos) as usize);
                        (None, Some((fut, seg.path.clone(), to)))
                    }
                }
            };
            if let Some(p) = piece {
                pos += p.len() as u64;
                out.extend_from_slice(&p);
                continue;
            }
            let (fut, path, to) = disk.expect("disk read");
            let data = fut
                .await
                .map_err(|e| StorageError::from_io("read segment", path.clone(), e))?;
            if data.len() as u64 != to - pos {
                return Err(StorageError::Corrupted {
                    offset: pos,
                    reason: format!("short read of {}", path.display()),
                });
            }
            out.extend_from_slice(&data);
            pos = to;
        }
        Ok(out.freeze())
    }

    async fn read_record(&self, offset: u64) -> Result<Bytes, StorageError> {
        let head = self.read(offset, 8).await?;
        let Some((size, crate::message::MAGIC_V1)) = crate::message::peek_header(&head) else {
            return Err(StorageError::NotFound { offset });
        };
        if (size as usize) < crate::message::RECORD_FIXED_BYTES
            || size as usize > self.record_size_max
        {
            return Err(StorageError::Corrupted {
                offset,
                reason: format!("record size {size}"),
            });
        }
        let rec = self.read(offset, size).await?;
        if let Err(e) = crate::message::decode_record(&rec, true) {
            return Err(StorageError::Corrupted {
                offset,
                reason: e.to_string(),
            });
        }
        Ok(rec)
    }

    async fn store_ts_at(&self, phys: u64) -> Result<i64, StorageError> {
        let pos = crate::message::pos::STORE_TIMESTAMP as u64;
        let b = self.read(phys + pos, 8).await?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(i64::from_be_bytes(a))
    }
}

/// One shard's store. See the module contract.
pub struct MessageStore {
    shared: Rc<Shared>,
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
        let record_size_max = cfg
            .record_size_max_bytes
            .min((seg - commitlog::BLANK_MIN_BYTES) as usize);
        let io = opts.io.clone();
        let rec = recovery::recover(&cfg, &io, record_size_max as u64, cfg.cache_bytes_max).await?;
        let end = rec.log.tail;
        tracing::info!(
            dir = %cfg.dir.display(),
            end,
            segments = rec.report.segments,
            records_scanned = rec.report.records_scanned,
            truncated_bytes = rec.report.truncated_bytes,
            corrupted = rec.report.corrupted.len(),
            "store recovered"
        );
        let shared = Rc::new(Shared {
            cfg,
            opts,
            io,
            record_size_max,
            log: RefCell::new(rec.log),
            queues: RefCell::new(rec.queues),
            index: RefCell::new(rec.index),
            dispatch: RefCell::new(rec.dispatch),
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
            gate_closed: Cell::new(false),
            gate: OffsetWatch::new(0),
        });
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
        let qs = self.shared.queues.borrow();
        qs.get(topic, queue_id)
            .map_or_else(Vec::new, |q| q.entries(from.0, max))
    }

    /// Lowest queue offset still readable (0 for an unknown queue).
    pub fn min_offset(&self, topic: &str, queue_id: u32) -> QueueOffset {
        let qs = self.shared.queues.borrow();
        QueueOffset(qs.get(topic, queue_id).map_or(0, |q| q.min_offset()))
    }

    /// Next queue offset to be written (0 for an unknown queue).
    pub fn max_offset(&self, topic: &str, queue_id: u32) -> QueueOffset {
        let qs = self.shared.queues.borrow();
        QueueOffset(qs.get(topic, queue_id).map_or(0, |q| q.max_offset()))
    }

    /// Reads `size` bytes at `offset` (one or more whole records), from the cache when recent.
    /// Also the raw-log path (replication): any byte range inside one segment below the tail.
    pub async fn read(&self, offset: PhysicalOffset, size: u32) -> Result<Bytes, StorageError> {
        self.shared.read(offset.0, size).await
    }

    /// Reads the whole record at `offset` (size unknown to the caller).
    pub async fn read_record(&self, offset: PhysicalOffset) -> Result<Bytes, StorageError> {
        self.shared.read_record(offset.0).await
    }

    /// First queue offset whose store time is at or after `timestamp_ms` (max offset if none).
    pub async fn offset_by_time(
        &self,
        topic: &str,
        queue_id: u32,
        timestamp_ms: i64,
    ) -> Result<QueueOffset, StorageError> {
        let (mut lo, mut hi) = {
            let qs = self.shared.queues.borrow();
            match qs.get(topic, queue_id) {
                Some(q) => (q.min_offset(), q.max_offset()),
                None => return Ok(QueueOffset(0)),
            }
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let entry = {
                let qs = self.shared.queues.borrow();
                qs.get(topic, queue_id).and_then(|q| q.entry_at(mid))
            };
            let Some((phys, _)) = entry else {
                // Expired under us: everything below the new minimum is older.
                lo = mid + 1;
                continue;
            };
            let ts = match self.shared.store_ts_at(phys).await {
                Ok(ts) => ts,
                Err(StorageError::NotFound { .. }) => i64::MIN,
                Err(e) => return Err(e),
            };
            if ts < timestamp_ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(QueueOffset(lo))
    }

    /// Store time of the oldest readable message of a queue, if any.
    pub async fn earliest_store_time(
        &self,
        topic: &str,
        queue_id: u32,
    ) -> Result<Option<i64>, StorageError> {
        let first = {
            let qs = self.shared.queues.borrow();
            qs.get(topic, queue_id)
                .and_then(|q| q.entries(q.min_offset(), 1).first().copied())
        };
        match first {
            Some(e) => Ok(Some(self.shared.store_ts_at(e.physical_offset.0).await?)),
            None => Ok(None),
        }
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
        let min = self.shared.log.borrow().min_offset;
        self.shared
            .index
            .borrow()
            .lookup(index::key_hash(topic, key), begin_ms, end_ms, max, min)
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
        PhysicalOffset(self.shared.log.borrow().tail)
    }

    /// Everything below this is durable.
    pub fn durable_offset(&self) -> PhysicalOffset {
        PhysicalOffset(self.shared.durable.get())
    }

    /// Oldest readable physical offset.
    pub fn min_physical_offset(&self) -> PhysicalOffset {
        PhysicalOffset(self.shared.log.borrow().min_offset)
    }

    /// Runs retention now; returns how many segments were deleted.
    pub async fn run_retention(&self) -> Result<usize, StorageError> {
        housekeeping::run_retention(&self.shared).await
    }

    /// Writes the dispatch files and a checkpoint now.
    pub async fn checkpoint(&self) -> Result<(), StorageError> {
        housekeeping::checkpoint(&self.shared, false).await
    }

    /// Base offsets of the commit-log segments (oldest first).
    pub fn segment_bases(&self) -> Vec<PhysicalOffset> {
        let log = self.shared.log.borrow();
        log.segments.keys().map(|b| PhysicalOffset(*b)).collect()
    }
}
