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

use bytes::{BufMut, BytesMut};

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

impl<'a> NewRecord<'a> {
    /// Stored record `v` written again on `topic`/`queue_id` with `properties`: its flags, birth,
    /// store host, reconsume times, transaction offset and body as stored. A caller that changes
    /// more overrides it (`NewRecord { prepared_tx_offset: 0, ..NewRecord::copy_of(..) }`).
    pub fn copy_of(
        v: &RecordView<'a>,
        topic: &'a str,
        queue_id: u32,
        properties: &'a str,
    ) -> NewRecord<'a> {
        NewRecord {
            queue_id,
            flag: v.flag,
            sys_flag: v.sys_flag,
            born_timestamp_ms: v.born_timestamp_ms,
            born_host: v.born_host,
            store_host: v.store_host,
            reconsume_times: v.reconsume_times,
            prepared_tx_offset: v.prepared_tx_offset,
            body: v.body,
            topic,
            properties,
        }
    }
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

/// Largest topic a V1 record can carry (1-byte signed length in Java).
pub const TOPIC_LEN_MAX: usize = 127;
/// Largest properties string (signed int16 length).
pub const PROPERTIES_LEN_MAX: usize = i16::MAX as usize;

/// Java's `UtilAll.crc32`: CRC32 of the body, masked to a non-negative int.
pub fn body_crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

fn put_host(out: &mut BytesMut, host: SocketAddrV4) {
    out.put_slice(&host.ip().octets());
    out.put_i32(i32::from(host.port()));
}

/// Appends one record to `out`, with zero QUEUEOFFSET, PHYSICALOFFSET and STORETIMESTAMP.
pub fn encode_record(rec: &NewRecord<'_>, out: &mut BytesMut) -> Result<(), RecordError> {
    if rec.topic.len() > TOPIC_LEN_MAX {
        return Err(RecordError::TopicTooLong {
            len: rec.topic.len(),
        });
    }
    if rec.properties.len() > PROPERTIES_LEN_MAX {
        return Err(RecordError::PropertiesTooLong {
            len: rec.properties.len(),
        });
    }
    let size = record_size(rec.body.len(), rec.topic.len(), rec.properties.len());
    let total_size = u32::try_from(size).map_err(|_| RecordError::BadSize { size: u32::MAX })?;
    // IPv4 hosts only: clear the V6 flags whatever the caller passed, the layout below is IPv4.
    let sys_flag = rec.sys_flag & !(sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6);
    out.reserve(size);
    let start = out.len();
    out.put_u32(total_size);
    out.put_u32(MAGIC_V1);
    out.put_u32(body_crc(rec.body));
    out.put_u32(rec.queue_id);
    out.put_i32(rec.flag);
    out.put_u64(0); // QUEUEOFFSET
    out.put_u64(0); // PHYSICALOFFSET
    out.put_i32(sys_flag);
    out.put_i64(rec.born_timestamp_ms);
    put_host(out, rec.born_host);
    out.put_i64(0); // STORETIMESTAMP
    put_host(out, rec.store_host);
    out.put_i32(rec.reconsume_times);
    out.put_i64(rec.prepared_tx_offset);
    out.put_u32(rec.body.len() as u32);
    out.put_slice(rec.body);
    out.put_u8(rec.topic.len() as u8);
    out.put_slice(rec.topic.as_bytes());
    out.put_u16(rec.properties.len() as u16);
    out.put_slice(rec.properties.as_bytes());
    assert_eq!(
        out.len() - start,
        size,
        "record size formula disagrees with encoder"
    );
    Ok(())
}

/// Fills the fields the store assigns, in a buffer that starts with one encoded record.
pub fn patch_record(
    record: &mut [u8],
    queue_offset: u64,
    physical_offset: u64,
    store_timestamp_ms: i64,
) {
    assert!(
        record.len() >= RECORD_FIXED_BYTES,
        "patch_record on a short buffer"
    );
    record[pos::QUEUE_OFFSET..pos::QUEUE_OFFSET + 8].copy_from_slice(&queue_offset.to_be_bytes());
    record[pos::PHYSICAL_OFFSET..pos::PHYSICAL_OFFSET + 8]
        .copy_from_slice(&physical_offset.to_be_bytes());
    record[pos::STORE_TIMESTAMP..pos::STORE_TIMESTAMP + 8]
        .copy_from_slice(&store_timestamp_ms.to_be_bytes());
}

/// Big-endian reads at fixed positions of a buffer already checked to be long enough.
fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn be_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_be_bytes(b)
}

fn host_at(buf: &[u8], at: usize) -> SocketAddrV4 {
    let ip = std::net::Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
    SocketAddrV4::new(ip, be_u32(buf, at + 4) as u16)
}

/// Reads TOTALSIZE and MAGIC at the start of `buf`, if 8 bytes are there.
pub fn peek_header(buf: &[u8]) -> Option<(u32, u32)> {
    (buf.len() >= 8).then(|| (be_u32(buf, pos::TOTAL_SIZE), be_u32(buf, pos::MAGIC)))
}

/// Decodes the record at the start of `buf`. With `verify_crc`, the body CRC is checked.
pub fn decode_record(buf: &[u8], verify_crc: bool) -> Result<RecordView<'_>, RecordError> {
    let truncated = |need: usize| RecordError::Truncated {
        need,
        have: buf.len(),
    };
    if buf.len() < 8 {
        return Err(truncated(8));
    }
    let total_size = be_u32(buf, pos::TOTAL_SIZE);
    let magic = be_u32(buf, pos::MAGIC);
    if magic != MAGIC_V1 {
        return Err(RecordError::BadMagic { found: magic });
    }
    let size = total_size as usize;
    if size < RECORD_FIXED_BYTES || total_size > i32::MAX as u32 {
        return Err(RecordError::BadSize { size: total_size });
    }
    if buf.len() < size {
        return Err(truncated(size));
    }
    let rec = &buf[..size];
    let sys_flag = be_u32(rec, pos::SYS_FLAG) as i32;
    if sys_flag & (sys_flag::BORN_HOST_V6 | sys_flag::STORE_HOST_V6) != 0 {
        // We only ever write IPv4 hosts; a V6 flag means this is not one of our records.
        return Err(RecordError::BadSize { size: total_size });
    }
    let body_len = be_u32(rec, pos::BODY_LENGTH) as usize;
    let body_at = pos::BODY_LENGTH + 4;
    let bad_size = RecordError::BadSize { size: total_size };
    let topic_len_at = body_at.checked_add(body_len).ok_or(bad_size.clone())?;
    if topic_len_at + 1 > size {
        return Err(bad_size);
    }
    let topic_len = rec[topic_len_at] as usize;
    let topic_at = topic_len_at + 1;
    let props_len_at = topic_at + topic_len;
    if props_len_at + 2 > size {
        return Err(bad_size);
    }
    let props_len = u16::from_be_bytes([rec[props_len_at], rec[props_len_at + 1]]) as usize;
    let props_at = props_len_at + 2;
    if props_at + props_len != size {
        return Err(bad_size);
    }
    let body = &rec[body_at..body_at + body_len];
    let stored_crc = be_u32(rec, pos::BODY_CRC);
    if verify_crc {
        let computed = body_crc(body);
        if computed != stored_crc {
            return Err(RecordError::ChecksumMismatch {
                stored: stored_crc,
                computed,
            });
        }
    }
    let topic = std::str::from_utf8(&rec[topic_at..props_len_at])
        .map_err(|_| RecordError::NotUtf8 { field: "topic" })?;
    let properties =
        std::str::from_utf8(&rec[props_at..size]).map_err(|_| RecordError::NotUtf8 {
            field: "properties",
        })?;
    Ok(RecordView {
        total_size,
        body_crc: stored_crc,
        queue_id: be_u32(rec, pos::QUEUE_ID),
        flag: be_u32(rec, pos::FLAG) as i32,
        queue_offset: be_u64(rec, pos::QUEUE_OFFSET),
        physical_offset: be_u64(rec, pos::PHYSICAL_OFFSET),
        sys_flag,
        born_timestamp_ms: be_u64(rec, pos::BORN_TIMESTAMP) as i64,
        born_host: host_at(rec, pos::BORN_HOST),
        store_timestamp_ms: be_u64(rec, pos::STORE_TIMESTAMP) as i64,
        store_host: host_at(rec, pos::STORE_HOST),
        reconsume_times: be_u32(rec, pos::RECONSUME_TIMES) as i32,
        prepared_tx_offset: be_u64(rec, pos::PREPARED_TX_OFFSET) as i64,
        body,
        topic,
        properties,
    })
}

/// 64-bit FNV-1a over the concatenation of `parts`. Stable across Rust versions, builds and
/// platforms (unlike `DefaultHasher`), so what it decides may be persisted: queue placement on
/// shards, index keys.
pub fn fnv1a_64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Java `String.hashCode` over UTF-16 code units, wrapping.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Consume-queue tag code of a message: Java hash of its TAGS, sign-extended; 0 when no tag.
/// (Delayed-message topics will store their delivery time here later; this is the one place that decides.)
pub fn tags_code(topic: &str, tags: Option<&str>) -> i64 {
    let _ = topic;
    match tags {
        Some(t) if !t.is_empty() => i64::from(java_hash(t)),
        _ => 0,
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Offset message id: upper hex of store ip (4) ‖ port (i32) ‖ physical offset (i64), 32 chars.
pub fn offset_msg_id(store_host: SocketAddrV4, physical_offset: u64) -> String {
    let mut raw = [0u8; 16];
    raw[..4].copy_from_slice(&store_host.ip().octets());
    raw[4..8].copy_from_slice(&i32::from(store_host.port()).to_be_bytes());
    raw[8..].copy_from_slice(&physical_offset.to_be_bytes());
    let mut s = String::with_capacity(32);
    for b in raw {
        s.push(HEX_UPPER[(b >> 4) as usize] as char);
        s.push(HEX_UPPER[(b & 0xF) as usize] as char);
    }
    s
}

/// Parses an offset message id (32 hex chars, IPv4 only).
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddrV4, u64)> {
    let bytes = id.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let nibble = |c: u8| -> Option<u8> { (c as char).to_digit(16).map(|d| d as u8) };
    let mut raw = [0u8; 16];
    for (i, out) in raw.iter_mut().enumerate() {
        *out = nibble(bytes[2 * i])? << 4 | nibble(bytes[2 * i + 1])?;
    }
    let ip = std::net::Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]);
    let port = i32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
    let port = u16::try_from(port).ok()?;
    Some((SocketAddrV4::new(ip, port), be_u64(&raw, 8)))
}

#[cfg(test)]
mod tests;
