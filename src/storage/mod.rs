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

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};

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

/// One shard's store. See the module contract.
pub struct MessageStore {
    _private: (),
}

impl MessageStore {
    /// Opens (creating if needed) and recovers the store in `cfg.dir`.
    pub async fn open(cfg: StoreConfig) -> Result<(MessageStore, RecoveryReport), StorageError> {
        let _ = cfg;
        todo!("storage work")
    }

    /// Appends one message. See the module contract for what resolution means.
    pub async fn append(&self, msg: AppendMessage) -> Result<AppendResult, StorageError> {
        let _ = msg;
        todo!("storage work")
    }

    /// Appends messages that all go to one (topic, queue) at consecutive queue offsets, in order.
    pub async fn append_batch(
        &self,
        msgs: Vec<AppendMessage>,
    ) -> Result<Vec<AppendResult>, StorageError> {
        let _ = msgs;
        todo!("storage work")
    }

    /// Up to `max` consume-queue entries starting at `from`.
    pub fn queue_entries(
        &self,
        topic: &str,
        queue_id: u32,
        from: QueueOffset,
        max: usize,
    ) -> Vec<QueueEntry> {
        let _ = (topic, queue_id, from, max);
        todo!("storage work")
    }

    /// Lowest queue offset still readable (0 for an unknown queue).
    pub fn min_offset(&self, topic: &str, queue_id: u32) -> QueueOffset {
        let _ = (topic, queue_id);
        todo!("storage work")
    }

    /// Next queue offset to be written (0 for an unknown queue).
    pub fn max_offset(&self, topic: &str, queue_id: u32) -> QueueOffset {
        let _ = (topic, queue_id);
        todo!("storage work")
    }

    /// Reads `size` bytes at `offset` (one or more whole records), from the cache when recent.
    pub async fn read(&self, offset: PhysicalOffset, size: u32) -> Result<Bytes, StorageError> {
        let _ = (offset, size);
        todo!("storage work")
    }

    /// Reads the whole record at `offset` (size unknown to the caller).
    pub async fn read_record(&self, offset: PhysicalOffset) -> Result<Bytes, StorageError> {
        let _ = offset;
        todo!("storage work")
    }

    /// First queue offset whose store time is at or after `timestamp_ms` (max offset if none).
    pub async fn offset_by_time(
        &self,
        topic: &str,
        queue_id: u32,
        timestamp_ms: i64,
    ) -> Result<QueueOffset, StorageError> {
        let _ = (topic, queue_id, timestamp_ms);
        todo!("storage work")
    }

    /// Store time of the oldest readable message of a queue, if any.
    pub async fn earliest_store_time(
        &self,
        topic: &str,
        queue_id: u32,
    ) -> Result<Option<i64>, StorageError> {
        let _ = (topic, queue_id);
        todo!("storage work")
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
        let _ = (topic, key, begin_ms, end_ms, max);
        todo!("storage work")
    }

    /// Every (topic, queue) this store has entries for.
    pub fn queues(&self) -> Vec<(String, u32)> {
        todo!("storage work")
    }

    /// Resolves once every earlier append is durable.
    pub async fn flush(&self) -> Result<(), StorageError> {
        todo!("storage work")
    }

    /// Flushes, writes a checkpoint and stops background tasks.
    pub async fn close(self) -> Result<(), StorageError> {
        todo!("storage work")
    }
}
