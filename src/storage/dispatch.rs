//! Dispatch files: the persisted form of the consume queues and the key index. One file per commit-log
//! segment, `dispatch/<segment base, 20 digits>`, holding one entry per record of that segment in log
//! order, and a seal entry once the segment is full.
//!
//! Entry: `len u16 ‖ kind u8 ‖ payload ‖ crc32 u32` (crc over everything before it). Record payload:
//! `topic_len u8 ‖ topic ‖ queue_id u32 ‖ queue_offset u64 ‖ physical_offset u64 ‖ size u32 ‖
//! tags_code i64 ‖ store_timestamp_ms i64 ‖ key_count u8 ‖ key hashes u64…`. Seal payload: `end u64`.
//!
//! Written in the background (buffered file, appended at the end) and fsynced before each checkpoint;
//! the checkpoint's offset says up to where they are complete. Loading stops at the first entry that
//! fails its CRC or lies at or past the checkpoint: the log is rescanned from there.
//!
//! Rejected: per-queue files (see [`super::consume_queue`]); replaying the commit log itself on every
//! start (a 1 KiB record costs ~60 bytes here).

use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::{Buf, BufMut};

use super::io::IoFile;

/// The dispatch file of one segment: bytes not yet written, and how long the file is.
#[derive(Default)]
pub struct DispatchFile {
    pub pending: Vec<u8>,
    pub len_on_disk: u64,
    pub file: Option<Rc<dyn IoFile>>,
}

/// Dispatch files by segment base.
#[derive(Default)]
pub struct DispatchFiles {
    pub files: BTreeMap<u64, DispatchFile>,
}

impl DispatchFiles {
    pub fn push(&mut self, seg_base: u64, e: &DispatchEntry) {
        encode(e, self.pending_of(seg_base));
    }

    /// [`DispatchFiles::push`] of a record entry from borrowed facts (the append path: no copies).
    pub fn push_record(&mut self, seg_base: u64, r: &DispatchRecordRef<'_>) {
        encode_record(r, self.pending_of(seg_base));
    }

    fn pending_of(&mut self, seg_base: u64) -> &mut Vec<u8> {
        &mut self.files.entry(seg_base).or_default().pending
    }

    pub fn pending_bytes(&self) -> usize {
        self.files.values().map(|f| f.pending.len()).sum()
    }
}

pub const KIND_RECORD: u8 = 1;
pub const KIND_SEAL: u8 = 2;

/// One record's dispatch facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchRecord {
    pub topic: String,
    pub queue_id: u32,
    pub queue_offset: u64,
    pub physical_offset: u64,
    pub size_bytes: u32,
    pub tags_code: i64,
    pub store_timestamp_ms: i64,
    pub key_hashes: Vec<u64>,
}

/// [`DispatchRecord`] borrowing its topic and key hashes.
#[derive(Debug, Clone, Copy)]
pub struct DispatchRecordRef<'a> {
    pub topic: &'a str,
    pub queue_id: u32,
    pub queue_offset: u64,
    pub physical_offset: u64,
    pub size_bytes: u32,
    pub tags_code: i64,
    pub store_timestamp_ms: i64,
    pub key_hashes: &'a [u64],
}

impl DispatchRecord {
    pub fn as_ref(&self) -> DispatchRecordRef<'_> {
        DispatchRecordRef {
            topic: &self.topic,
            queue_id: self.queue_id,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            size_bytes: self.size_bytes,
            tags_code: self.tags_code,
            store_timestamp_ms: self.store_timestamp_ms,
            key_hashes: &self.key_hashes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchEntry {
    Record(DispatchRecord),
    /// The segment is full; the next record is at `end` (the next segment's base).
    Seal {
        end: u64,
    },
}

/// Appends the encoding of `e` to `out`.
pub fn encode(e: &DispatchEntry, out: &mut Vec<u8>) {
    match e {
        DispatchEntry::Record(r) => encode_record(&r.as_ref(), out),
        DispatchEntry::Seal { end } => {
            let start = out.len();
            out.put_u16(0); // patched in finish
            out.put_u8(KIND_SEAL);
            out.put_u64(*end);
            finish(out, start);
        }
    }
}

/// Appends the encoding of a record entry to `out`.
pub fn encode_record(r: &DispatchRecordRef<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u16(0); // patched in finish
    out.put_u8(KIND_RECORD);
    let topic = &r.topic.as_bytes()[..r.topic.len().min(255)];
    out.put_u8(topic.len() as u8);
    out.put_slice(topic);
    out.put_u32(r.queue_id);
    out.put_u64(r.queue_offset);
    out.put_u64(r.physical_offset);
    out.put_u32(r.size_bytes);
    out.put_i64(r.tags_code);
    out.put_i64(r.store_timestamp_ms);
    let n = r.key_hashes.len().min(255);
    out.put_u8(n as u8);
    for h in &r.key_hashes[..n] {
        out.put_u64(*h);
    }
    finish(out, start);
}

/// Patches the length of the entry that starts at `start` and appends its CRC.
fn finish(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start + 4;
    assert!(len <= u16::MAX as usize, "dispatch entry too long");
    out[start..start + 2].copy_from_slice(&(len as u16).to_be_bytes());
    let crc = crc32fast::hash(&out[start..]);
    out.put_u32(crc);
}

/// Decodes the entry at the start of `buf`: `Some((entry, bytes used))`, or `None` if it is torn,
/// corrupt or absent.
pub fn decode(buf: &[u8]) -> Option<(DispatchEntry, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let len = u16::from_be_bytes([buf[0], buf[1]]) as usize;
    if len < 7 || buf.len() < len {
        return None;
    }
    let (body, crc) = buf[..len].split_at(len - 4);
    if crc32fast::hash(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return None;
    }
    let mut b = &body[2..];
    let kind = b.get_u8();
    let e = match kind {
        KIND_RECORD => {
            let tl = *b.first()? as usize;
            b.advance(1);
            if b.len() < tl + 4 + 8 + 8 + 4 + 8 + 8 + 1 {
                return None;
            }
            let topic = std::str::from_utf8(&b[..tl]).ok()?.to_owned();
            b.advance(tl);
            let queue_id = b.get_u32();
            let queue_offset = b.get_u64();
            let physical_offset = b.get_u64();
            let size_bytes = b.get_u32();
            let tags_code = b.get_i64();
            let store_timestamp_ms = b.get_i64();
            let n = b.get_u8() as usize;
            if b.len() != n * 8 {
                return None;
            }
            let key_hashes = (0..n).map(|_| b.get_u64()).collect();
            DispatchEntry::Record(DispatchRecord {
                topic,
                queue_id,
                queue_offset,
                physical_offset,
                size_bytes,
                tags_code,
                store_timestamp_ms,
                key_hashes,
            })
        }
        KIND_SEAL if b.len() == 8 => DispatchEntry::Seal { end: b.get_u64() },
        _ => return None,
    };
    Some((e, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_tail() {
        let r = DispatchEntry::Record(DispatchRecord {
            topic: "TopicTest".into(),
            queue_id: 3,
            queue_offset: 17,
            physical_offset: 1 << 48,
            size_bytes: 1_100,
            tags_code: -5,
            store_timestamp_ms: 1_700_000_000_000,
            key_hashes: vec![1, 2, 3],
        });
        let s = DispatchEntry::Seal { end: 4096 };
        let mut buf = Vec::new();
        encode(&r, &mut buf);
        encode(&s, &mut buf);
        let (e1, n1) = decode(&buf).unwrap();
        assert_eq!(e1, r);
        let (e2, n2) = decode(&buf[n1..]).unwrap();
        assert_eq!(e2, s);
        assert_eq!(n1 + n2, buf.len());
        assert!(decode(&buf[..n1 - 1]).is_none());
        let mut bad = buf.clone();
        bad[10] ^= 0xFF;
        assert!(decode(&bad).is_none());
        assert!(decode(&[0u8; 64]).is_none());
    }
}
