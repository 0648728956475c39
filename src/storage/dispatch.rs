//! Dispatch files: the persisted form of the consume queues and the key index. One file per commit-log
//! segment, `dispatch/<segment base, 20 digits>`, holding one entry per record of that segment in log
//! order, and a seal entry once the segment is full.
//!
//! Entry: `len u16 ‖ kind u8 ‖ payload ‖ check u32` ([`check32`] of everything before it). Record payload:
//! `topic_len u8 ‖ topic ‖ queue_id u32 ‖ queue_offset u64 ‖ physical_offset u64 ‖ size u32 ‖
//! tags_code i64 ‖ store_timestamp_ms i64 ‖ key_count u8 ‖ key hashes u64…`. Seal payload: `end u64`.
//!
//! Appends buffer entries without their check ([`fill_checks`] computes them just before the bytes are
//! written: hashing bytes right after writing them with narrow stores stalls on store forwarding).
//! Written in the background (buffered file, appended at the end) and fsynced before each checkpoint;
//! the checkpoint's offset says up to where they are complete. Loading stops at the first entry that
//! fails its CRC or lies at or past the checkpoint: the log is rescanned from there.
//!
//! Rejected: per-queue files (see [`super::consume_queue`]); replaying the commit log itself on every
//! start (a 1 KiB record costs ~60 bytes here); crc32 per entry (the first format): on ~60-byte inputs
//! crc32fast takes its table path, which the profile showed at ~6% of the append path's CPU. The
//! check only detects torn and garbled entries (the records themselves carry their CRC), so a
//! word-at-a-time multiply hash does; files written with crc32 fail it and are rebuilt by a rescan.

use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::{Buf, BufMut};

use super::io::IoFile;
use super::offsets::{PhysicalOffset, QueueOffset};

/// The dispatch file of one segment: bytes not yet written, and how long the file is.
/// Entries in `pending` may still lack their check: [`fill_checks`] before writing them.
#[derive(Default)]
pub struct DispatchFile {
    pub pending: Vec<u8>,
    pub len_on_disk: u64,
    pub file: Option<Rc<dyn IoFile>>,
}

/// Dispatch files by segment base.
#[derive(Default)]
pub struct DispatchFiles {
    pub files: BTreeMap<PhysicalOffset, DispatchFile>,
}

impl DispatchFiles {
    pub fn push(&mut self, seg_base: PhysicalOffset, e: &DispatchEntry) {
        encode(e, self.pending_of(seg_base));
    }

    /// [`DispatchFiles::push`] of a record entry from borrowed facts (the append path: no copies),
    /// its check left for [`fill_checks`]: hashing bytes just written with narrow stores stalls on
    /// store forwarding, which the profile showed as ~10% of the append path.
    pub fn push_record(&mut self, seg_base: PhysicalOffset, r: &DispatchRecordRef<'_>) {
        let out = self.pending_of(seg_base);
        let start = out.len();
        encode_record_fields(r, out);
        finish_unchecked(out, start);
    }

    fn pending_of(&mut self, seg_base: PhysicalOffset) -> &mut Vec<u8> {
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
    pub queue_offset: QueueOffset,
    pub physical_offset: PhysicalOffset,
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
    pub queue_offset: QueueOffset,
    pub physical_offset: PhysicalOffset,
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
        end: PhysicalOffset,
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
            out.put_u64(end.get());
            finish(out, start);
        }
    }
}

/// Appends the encoding of a record entry to `out`.
pub fn encode_record(r: &DispatchRecordRef<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    encode_record_fields(r, out);
    finish(out, start);
}

/// Everything of a record entry but its check.
fn encode_record_fields(r: &DispatchRecordRef<'_>, out: &mut Vec<u8>) {
    out.put_u16(0); // patched in finish
    out.put_u8(KIND_RECORD);
    let topic = &r.topic.as_bytes()[..r.topic.len().min(255)];
    out.put_u8(topic.len() as u8);
    out.put_slice(topic);
    out.put_u32(r.queue_id);
    out.put_u64(r.queue_offset.get());
    out.put_u64(r.physical_offset.get());
    out.put_u32(r.size_bytes);
    out.put_i64(r.tags_code);
    out.put_i64(r.store_timestamp_ms);
    let n = r.key_hashes.len().min(255);
    out.put_u8(n as u8);
    for h in &r.key_hashes[..n] {
        out.put_u64(*h);
    }
}

/// Patches the length of the entry that starts at `start` and appends its check.
fn finish(out: &mut Vec<u8>, start: usize) {
    finish_unchecked(out, start);
    fill_checks(&mut out[start..]);
}

/// Patches the length of the entry that starts at `start` and appends a zero check.
fn finish_unchecked(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start + 4;
    assert!(len <= u16::MAX as usize, "dispatch entry too long");
    out[start..start + 2].copy_from_slice(&(len as u16).to_be_bytes());
    out.put_u32(0);
}

/// Computes the check of every entry in `buf` (whole entries, back to back).
pub fn fill_checks(buf: &mut [u8]) {
    let mut at = 0;
    while at + 2 <= buf.len() {
        let len = u16::from_be_bytes([buf[at], buf[at + 1]]) as usize;
        assert!(
            len >= 7 && at + len <= buf.len(),
            "dispatch buffer holds a partial entry at {at}"
        );
        let check = check32(&buf[at..at + len - 4]);
        buf[at + len - 4..at + len].copy_from_slice(&check.to_be_bytes());
        at += len;
    }
}

/// The entry check: a 64-bit multiply-rotate hash over little-endian words (zero-padded tail, length
/// mixed in), folded to 32 bits. Stable across builds: it is persisted.
pub fn check32(b: &[u8]) -> u32 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    const M: u64 = 0xBF58_476D_1CE4_E5B9;
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(M).rotate_left(31);
    let mut h = (b.len() as u64).wrapping_mul(K) ^ 0x5bd1_e995;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        h = mix(h, u64::from_le_bytes(a));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut a = [0u8; 8];
        a[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(a) ^ K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(K);
    h ^= h >> 29;
    (h ^ (h >> 32)) as u32
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
    let (body, check) = buf[..len].split_at(len - 4);
    if check32(body) != u32::from_be_bytes([check[0], check[1], check[2], check[3]]) {
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
            let queue_offset = QueueOffset(b.get_u64());
            let physical_offset = PhysicalOffset(b.get_u64());
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
        KIND_SEAL if b.len() == 8 => DispatchEntry::Seal {
            end: PhysicalOffset(b.get_u64()),
        },
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
            queue_offset: QueueOffset(17),
            physical_offset: PhysicalOffset(1 << 48),
            size_bytes: 1_100,
            tags_code: -5,
            store_timestamp_ms: 1_700_000_000_000,
            key_hashes: vec![1, 2, 3],
        });
        let s = DispatchEntry::Seal {
            end: PhysicalOffset(4096),
        };
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
        // Every single-bit flip anywhere in an entry is caught.
        for i in 0..n1 * 8 {
            let mut bad = buf[..n1].to_vec();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                decode(&bad).is_none() || bad == buf[..n1],
                "flip of bit {i} not caught"
            );
        }
    }

    #[test]
    fn pushed_entries_are_valid_once_checked() {
        let r = DispatchRecord {
            topic: "T".into(),
            queue_id: 1,
            queue_offset: QueueOffset(2),
            physical_offset: PhysicalOffset(3),
            size_bytes: 4,
            tags_code: 5,
            store_timestamp_ms: 6,
            key_hashes: vec![7],
        };
        let mut files = DispatchFiles::default();
        let base = PhysicalOffset(0);
        files.push_record(base, &r.as_ref());
        files.push(
            base,
            &DispatchEntry::Seal {
                end: PhysicalOffset(9),
            },
        );
        files.push_record(base, &r.as_ref());
        let mut buf = files.files[&base].pending.clone();
        assert!(decode(&buf).is_none(), "no check yet");
        fill_checks(&mut buf);
        let mut at = 0;
        let mut kinds = Vec::new();
        while let Some((e, n)) = decode(&buf[at..]) {
            kinds.push(matches!(e, DispatchEntry::Record(x) if x == r));
            at += n;
        }
        assert_eq!((kinds, at), (vec![true, false, true], buf.len()));
    }

    #[test]
    fn check32_is_stable() {
        // Persisted: a change of these values is a change of the file format.
        assert_eq!(check32(b"bolide dispatch"), 0x8418_8b38);
        assert_ne!(check32(b"a"), check32(b"a\0"));
        assert_ne!(check32(&[0u8; 8]), check32(&[0u8; 16]));
    }
}
