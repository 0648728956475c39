//! The checkpoint: the commit-log offset C up to which the derived files (consume queues, key index)
//! are complete and durable, whether the store was closed cleanly, every queue's `(min, next)` at C
//! (the consume-queue files hold entries `[min, next)`; a queue whose messages all expired keeps its
//! offsets across a restart), each segment's newest store time (retention by age without reading the
//! segment), and the key index's open file with its entry count at C.
//!
//! Written atomically: temp file, fdatasync, rename, fsync of the directory. A missing or corrupt
//! checkpoint (or one of an older version) means "nothing derived is trusted": recovery deletes the
//! derived files and rescans the log from its first segment.
//!
//! Format: `magic u32 ‖ version u32 ‖ durable_offset u64 ‖ clean u8 ‖ queue_count u32 ‖
//! (topic_len u8 ‖ topic ‖ queue_id u32 ‖ min u64 ‖ next u64)… ‖ segment_count u32 ‖
//! (base u64 ‖ newest_store_ts i64)… ‖ index_open_base u64 ‖ index_open_count u64 ‖ crc32 u32`.
//! Its size grows with the number of queues and segments, never with the number of messages.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::{Buf, BufMut};

use super::io::{FileKind, OpenMode, StorageIo};
use super::offsets::{PhysicalOffset, QueueOffset};
use super::StorageError;

pub const CHECKPOINT_FILE: &str = "checkpoint";
const MAGIC: u32 = 0x424C_4350; // "BLCP"
const VERSION: u32 = 2;

/// One queue of the checkpoint's table: (topic, queue id, min queue offset, next queue offset).
pub type QueueRow = (String, u32, QueueOffset, QueueOffset);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Dispatch data for every record below this offset is durable.
    pub durable_offset: PhysicalOffset,
    /// Written by `close()`: the log ends exactly at `durable_offset`.
    pub clean: bool,
    /// (topic, queue id, min queue offset, next queue offset).
    pub queues: Vec<QueueRow>,
    /// (segment base, newest store time in it) for the segments below C.
    pub segments: Vec<(PhysicalOffset, i64)>,
    /// The key index's open file (its first entry's physical offset) and its entries below C.
    pub index_open: (PhysicalOffset, u64),
}

impl Checkpoint {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = frame_start(MAGIC, VERSION, 64 + self.queues.len() * 32);
        out.put_u64(self.durable_offset.get());
        out.put_u8(u8::from(self.clean));
        out.put_u32(self.queues.len() as u32);
        for (t, q, min, next) in &self.queues {
            put_name(&mut out, t);
            out.put_u32(*q);
            out.put_u64(min.get());
            out.put_u64(next.get());
        }
        out.put_u32(self.segments.len() as u32);
        for (b, ts) in &self.segments {
            out.put_u64(b.get());
            out.put_i64(*ts);
        }
        out.put_u64(self.index_open.0.get());
        out.put_u64(self.index_open.1);
        frame_end(out)
    }

    pub fn decode(buf: &[u8]) -> Option<Checkpoint> {
        let mut b = frame_body(buf, MAGIC, VERSION, 13)?;
        let durable_offset = PhysicalOffset(b.get_u64());
        let clean = b.get_u8() != 0;
        let n = b.get_u32() as usize;
        let mut queues = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let t = get_name(&mut b, 20)?;
            queues.push((
                t,
                b.get_u32(),
                QueueOffset(b.get_u64()),
                QueueOffset(b.get_u64()),
            ));
        }
        if b.len() < 4 {
            return None;
        }
        let n = b.get_u32() as usize;
        if b.len() != n * 16 + 16 {
            return None;
        }
        let segments = (0..n)
            .map(|_| (PhysicalOffset(b.get_u64()), b.get_i64()))
            .collect();
        let index_open = (PhysicalOffset(b.get_u64()), b.get_u64());
        b.is_empty().then_some(Checkpoint {
            durable_offset,
            clean,
            queues,
            segments,
            index_open,
        })
    }
}

/// Small files (the checkpoint, the deletion marks) are framed as `magic u32 ‖ version u32 ‖ body ‖
/// crc32 u32`, the CRC over everything before it. A frame's start, with room for `capacity` bytes.
pub(super) fn frame_start(magic: u32, version: u32, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.put_u32(magic);
    out.put_u32(version);
    out
}

/// Ends a frame: appends its CRC.
pub(super) fn frame_end(mut out: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out
}

/// The body of a frame whose CRC, magic and version are right and whose body holds at least
/// `body_min` bytes; `None` otherwise.
pub(super) fn frame_body(buf: &[u8], magic: u32, version: u32, body_min: usize) -> Option<&[u8]> {
    if buf.len() < 12 + body_min {
        return None;
    }
    let (framed, crc) = buf.split_at(buf.len() - 4);
    if crc32fast::hash(framed) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return None;
    }
    let mut b = framed;
    (b.get_u32() == magic && b.get_u32() == version).then_some(b)
}

/// A topic name: `len u8 ‖ bytes` (names are at most 127 bytes, checked when a topic is created).
pub(super) fn put_name(out: &mut Vec<u8>, name: &str) {
    let n = &name.as_bytes()[..name.len().min(255)];
    out.put_u8(n.len() as u8);
    out.put_slice(n);
}

/// Reads a [`put_name`] name that at least `then` more bytes follow; `None` if short or not UTF-8.
pub(super) fn get_name(b: &mut &[u8], then: usize) -> Option<String> {
    let len = *b.first()? as usize;
    b.advance(1);
    if b.len() < len + then {
        return None;
    }
    let name = std::str::from_utf8(&b[..len]).ok()?.to_owned();
    b.advance(len);
    Some(name)
}

fn io_err(op: &'static str, path: &Path, e: std::io::Error) -> StorageError {
    StorageError::from_io(op, path.to_path_buf(), e)
}

/// Reads the checkpoint in `dir`; `Ok(None)` if absent or corrupt.
pub async fn read(io: &Rc<dyn StorageIo>, dir: &Path) -> Result<Option<Checkpoint>, StorageError> {
    Ok(read_file(io, dir, CHECKPOINT_FILE)
        .await?
        .and_then(|buf| Checkpoint::decode(&buf)))
}

/// Writes the checkpoint atomically.
pub async fn write(
    io: &Rc<dyn StorageIo>,
    dir: &Path,
    cp: &Checkpoint,
) -> Result<(), StorageError> {
    write_file(io, dir, CHECKPOINT_FILE, &cp.encode()).await
}

/// The whole of the small file `dir/name`; `Ok(None)` if it does not exist.
pub async fn read_file(
    io: &Rc<dyn StorageIo>,
    dir: &Path,
    name: &str,
) -> Result<Option<Vec<u8>>, StorageError> {
    let path = dir.join(name);
    let f = match io.open(&path, FileKind::Buffered, OpenMode::Existing).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", &path, e)),
    };
    let size = f.size().await.map_err(|e| io_err("stat", &path, e))?;
    let buf = f
        .read_at(0, size as usize)
        .await
        .map_err(|e| io_err("read", &path, e))?;
    Ok(Some(buf))
}

/// Replaces the small file `dir/name` atomically: `name.tmp`, fdatasync, rename, fsync of `dir`.
pub async fn write_file(
    io: &Rc<dyn StorageIo>,
    dir: &Path,
    name: &str,
    data: &[u8],
) -> Result<(), StorageError> {
    let tmp: PathBuf = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let f = io
        .open(&tmp, FileKind::Buffered, OpenMode::Create)
        .await
        .map_err(|e| io_err("create", &tmp, e))?;
    f.truncate(0)
        .await
        .map_err(|e| io_err("truncate", &tmp, e))?;
    f.write_at(data, 0)
        .await
        .map_err(|e| io_err("write", &tmp, e))?;
    f.sync().await.map_err(|e| io_err("fdatasync", &tmp, e))?;
    drop(f);
    io.rename_durable(&tmp, &path)
        .await
        .map_err(|e| io_err("rename", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let cp = Checkpoint {
            durable_offset: PhysicalOffset(123_456),
            clean: true,
            queues: vec![
                ("T".into(), 0, QueueOffset(2), QueueOffset(5)),
                ("%RETRY%g".into(), 1, QueueOffset(0), QueueOffset(0)),
            ],
            segments: vec![(PhysicalOffset(0), 17), (PhysicalOffset(1 << 30), 18)],
            index_open: (PhysicalOffset(77), 3),
        };
        let b = cp.encode();
        assert_eq!(Checkpoint::decode(&b), Some(cp));
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x40;
            assert_eq!(Checkpoint::decode(&bad), None, "flip at {i}");
        }
        assert_eq!(Checkpoint::decode(&b[..b.len() - 1]), None);
    }
}
