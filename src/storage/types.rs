//! The plain data at the storage boundary: settings ([`StoreConfig`], [`StoreOptions`]), what an append
//! takes and gives back, consume-queue entries and the recovery report. No behaviour beyond defaults.

use std::path::PathBuf;
use std::rc::Rc;

use bytes::BytesMut;

use super::io::{self, StorageIo};
use super::{PhysicalOffset, QueueOffset};
use crate::clock::{Clock, SystemClock};

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
    /// Disk usage (percent) from which appends are refused ([`StorageError::DiskUsageHigh`]) until it
    /// drops again; pulls and reads go on.
    pub disk_refuse_writes_percent: u8,
    /// Whether retention may delete a segment holding messages not yet consumed (past the floor set
    /// by [`crate::storage::MessageStore::set_consumed_floors`]) and younger than `retention_hours`
    /// when the disk is over `disk_usage_max_percent` (RocketMQ's `cleanFileForciblyEnable`). Off by
    /// default: writes are refused instead.
    pub delete_unconsumed_when_full: bool,
    /// Overwrite new segments with zeros ahead of need (RocketMQ's `warmMapedFileEnable`): later log
    /// writes then land on written blocks, so no extent conversion and no journal commit can hold
    /// them (synced writes ~2x faster; an O_DIRECT submission never waits for the journal on the
    /// shard's thread). `None`: only in SYNC_FLUSH; in ASYNC_FLUSH it doubles the bytes written.
    /// See [`super::flusher::prewrite_decision`].
    pub prewrite_segments: Option<bool>,
    /// Appends wait once this many bytes are not yet written (ASYNC_FLUSH's write-behind), at most
    /// half of `cache_bytes_max`; `None`: [`StoreOptions::unwritten_bytes_max`].
    pub write_behind_bytes_max: Option<u64>,
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
            disk_refuse_writes_percent: 95,
            delete_unconsumed_when_full: false,
            prewrite_segments: None,
            write_behind_bytes_max: None,
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
    /// Where the log scan started: the checkpoint (what the consume-queue and index files covered),
    /// or the first segment without one.
    pub scan_start: PhysicalOffset,
    /// Where the log ends after recovery.
    pub end: PhysicalOffset,
    /// Commit-log bytes recovery read (scan, look-ahead past the end, tail page). Bounded by
    /// `end - scan_start` plus [`crate::storage::recovery::LOOKAHEAD_READ_BYTES_MAX`]: not by the backlog.
    pub log_bytes_read: u64,
    /// Derived-data bytes recovery read (the key index's open file and sealed headers; consume-queue
    /// files are not read at start). At most one index file's entries, whatever the backlog.
    pub dispatch_bytes_read: u64,
}

/// Knobs beyond [`StoreConfig`], and the file I/O to use. `Default` is production: real O_DIRECT files.
#[derive(Clone)]
pub struct StoreOptions {
    pub io: Rc<dyn StorageIo>,
    /// The wall clock for store timestamps and retention by age.
    pub clock: Rc<dyn Clock>,
    pub checkpoint_interval_ms: u64,
    pub retention_interval_ms: u64,
    /// Appends wait once this many bytes are not yet written to disk.
    pub unwritten_bytes_max: u64,
    /// Entries per consume-queue file (a multiple of 256; 20 B each).
    pub cq_file_entries: u64,
    /// Bytes of recently read consume-queue blocks kept in memory (all queues of the shard).
    pub cq_cache_bytes_max: usize,
    /// Consume-queue files the shard keeps open (least recently used closed first); a checkpoint
    /// holds up to 256 more while it writes them.
    pub cq_open_files_max: usize,
    /// Slots and entries of a key-index file (the open file's slot table is in memory).
    pub index_shape: super::index::IndexShape,
    /// Consume-queue and key-index entries not yet checkpointed (in memory, not yet in their files)
    /// that the shard may hold: at half of it the housekeeper checkpoints early, at the cap appends
    /// wait for an early checkpoint (see `append`'s pending-room table). 24 B (consume queue) or
    /// 32 B (index) each: the default holds at most 16 MiB per shard.
    pub pending_entries_max: usize,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            io: Rc::new(io::DmaIo),
            clock: Rc::new(SystemClock),
            checkpoint_interval_ms: 1_000,
            retention_interval_ms: 10_000,
            unwritten_bytes_max: 64 << 20,
            cq_file_entries: 1 << 20,
            cq_cache_bytes_max: 8 << 20,
            cq_open_files_max: 1024,
            index_shape: super::index::IndexShape::default(),
            pending_entries_max: 1 << 19,
        }
    }
}

impl StoreOptions {
    pub fn with_io(mut self, io: Rc<dyn StorageIo>) -> StoreOptions {
        self.io = io;
        self
    }

    pub fn with_clock(mut self, clock: Rc<dyn Clock>) -> StoreOptions {
        self.clock = clock;
        self
    }
}
