//! The RocketMQ stored-message record and the small pieces of message metadata around it:
//! the record layout (remoting-protocol.md §9.1), the properties string (§9.3), offset message ids
//! (§9.5) and tag hash codes (§9.6).
//!
//! Pure: no I/O, no clock. Storage writes records in exactly this layout so that a pull response can
//! ship stored bytes as they are; the broker encodes them; clients (and our load generator) decode them.
//!
//! CONTRACT (filled in by the storage work; signatures are fixed, bodies may change):
//! - Records are always V1 magic (`0xDAA320A7`), 1-byte topic length, IPv4 hosts.
//! - `encode_record` leaves QUEUEOFFSET, PHYSICALOFFSET and STORETIMESTAMP as zero placeholders;
//!   `patch_record` fills them in when the store assigns them. BODYCRC is computed at encode time
//!   (crc32fast, `& 0x7FFFFFFF`).

use std::net::SocketAddrV4;

use bytes::BytesMut;

pub mod properties;

/// V1 stored-message magic code.
pub const MAGIC_V1: u32 = 0xDAA3_20A7;
/// Fixed bytes of a V1 record with IPv4 hosts, excluding body, topic and properties payloads.
pub const RECORD_FIXED_BYTES: usize = 91;

/// Byte positions of the fields inside a record (IPv4 hosts).
pub mod pos {
    pub const TOTAL_SIZE: usize = 0;
    pub const MAGIC: usize = 4;
    pub const BODY_CRC: usize = 8;
    pub const QUEUE_ID: usize = 12;
    pub const FLAG: usize = 16;
    pub const QUEUE_OFFSET: usize = 20;
    pub const PHYSICAL_OFFSET: usize = 28;
    pub const SYS_FLAG: usize = 36;
    pub const BORN_TIMESTAMP: usize = 40;
    pub const BORN_HOST: usize = 48;
    pub const STORE_TIMESTAMP: usize = 56;
    pub const STORE_HOST: usize = 64;
    pub const RECONSUME_TIMES: usize = 72;
    pub const PREPARED_TX_OFFSET: usize = 76;
    pub const BODY_LENGTH: usize = 84;
}

/// sysFlag bits (§9.2).
pub mod sys_flag {
    pub const COMPRESSED: i32 = 0x1;
    pub const MULTI_TAGS: i32 = 0x2;
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
    pub const TRANSACTION_MASK: i32 = 0xC;
    pub const BORN_HOST_V6: i32 = 0x10;
    pub const STORE_HOST_V6: i32 = 0x20;
}

/// Everything needed to encode a new record.
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    pub queue_id: u32,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp_ms: i64,
    pub born_host: SocketAddrV4,
    pub store_host: SocketAddrV4,
    pub reconsume_times: i32,
    pub prepared_tx_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a str,
    /// Canonical properties string (§9.3).
    pub properties: &'a str,
}

/// A decoded view of one record, borrowing from the buffer it was decoded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub total_size: u32,
    pub body_crc: u32,
    pub queue_id: u32,
    pub flag: i32,
    pub queue_offset: u64,
    pub physical_offset: u64,
    pub sys_flag: i32,
    pub born_timestamp_ms: i64,
    pub born_host: SocketAddrV4,
    pub store_timestamp_ms: i64,
    pub store_host: SocketAddrV4,
    pub reconsume_times: i32,
    pub prepared_tx_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a str,
    pub properties: &'a str,
}

/// Why a byte range is not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("bad magic code {found:#010x}")]
    BadMagic { found: u32 },
    #[error("record size {size} is invalid")]
    BadSize { size: u32 },
    #[error("body crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("record field {field} is not valid UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("topic is {len} bytes; at most 127 fit a V1 record")]
    TopicTooLong { len: usize },
    #[error("properties are {len} bytes; at most 32767 fit a record")]
    PropertiesTooLong { len: usize },
}

/// Size in bytes the record for these parts will take.
pub fn record_size(body_len: usize, topic_len: usize, properties_len: usize) -> usize {
    RECORD_FIXED_BYTES + body_len + topic_len + properties_len
}

/// Appends one record to `out`, with zero QUEUEOFFSET, PHYSICALOFFSET and STORETIMESTAMP.
pub fn encode_record(rec: &NewRecord<'_>, out: &mut BytesMut) -> Result<(), RecordError> {
    let _ = (rec, out);
    todo!("storage work fills this in")
}

/// Fills the fields the store assigns, in a buffer that starts with one encoded record.
pub fn patch_record(
    record: &mut [u8],
    queue_offset: u64,
    physical_offset: u64,
    store_timestamp_ms: i64,
) {
    let _ = (record, queue_offset, physical_offset, store_timestamp_ms);
    todo!("storage work fills this in")
}

/// Decodes the record at the start of `buf`. With `verify_crc`, the body CRC is checked.
pub fn decode_record(buf: &[u8], verify_crc: bool) -> Result<RecordView<'_>, RecordError> {
    let _ = (buf, verify_crc);
    todo!("storage work fills this in")
}

/// Java `String.hashCode` over UTF-16 code units, wrapping.
pub fn java_hash(s: &str) -> i32 {
    let _ = s;
    todo!("storage work fills this in")
}

/// Consume-queue tag code of a message: Java hash of its TAGS, sign-extended; 0 when no tag.
/// (Delayed-message topics will store their delivery time here later; this is the one place that decides.)
pub fn tags_code(topic: &str, tags: Option<&str>) -> i64 {
    let _ = (topic, tags);
    todo!("storage work fills this in")
}

/// Offset message id: upper hex of store ip (4) ‖ port (i32) ‖ physical offset (i64), 32 chars.
pub fn offset_msg_id(store_host: SocketAddrV4, physical_offset: u64) -> String {
    let _ = (store_host, physical_offset);
    todo!("storage work fills this in")
}

/// Parses an offset message id (32 hex chars, IPv4 only).
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddrV4, u64)> {
    let _ = id;
    todo!("storage work fills this in")
}
