//! The key index: `topic#key` (each KEYS token and the UNIQ_KEY) -> (physical offset, store time),
//! for QUERY_MESSAGE and lookups by key and time range. On disk, in files shaped like RocketMQ's
//! IndexFile (hash slots heading chains of entries), with a fixed memory footprint.
//!
//! Keys are a stable 64-bit FNV-1a hash of `topic#key`; entries keep the whole hash (Java keeps 32
//! bits), so a lookup returns a colliding message only on a 64-bit collision, and clients re-check the
//! key and topic of what they get anyway (remoting-protocol.md §12.1).
//!
//! File `index/<physical offset of its first entry, 20 digits>`:
//!
//! ```text
//!   0       header (4 KiB): magic, version, slots, entries_max, count, first/last physical
//!           offset, min/max store time, check; written last, when the file is sealed
//!   4096    slots × u32: entry number + 1 of the newest entry whose hash falls in the slot (0: none)
//!   …       entries_max × 28 B: hash u64 ‖ physical offset u64 ‖ store time i64 ‖ prev u32 (entry
//!           number + 1 of the previous entry of the same slot, 0: none)
//! ```
//!
//! The open (newest) file keeps its slot table in memory (`slots × 4` bytes) and its entries not yet
//! written; checkpoints append the entries below their offset to the file (never beyond: the count a
//! checkpoint records is then every entry on disk). When it is full (`entries_max`), a new
//! one starts; the full one is sealed by the first checkpoint whose offset lies past its last entry:
//! slot table written, fsynced, header written, fsynced. Sealed files cost only their header fields in
//! memory (one per `entries_max` keys).
//!
//! Recovery: the checkpoint names the open file and its entry count at the checkpoint (every one of
//! those entries is durable). Files before it must be sealed (a header that fails its check is logged
//! and the file dropped: the index is derived data); files after it are deleted; the open file's slot
//! table is rebuilt from its first `count` entries (at most `entries_max × 28` bytes read, whatever the
//! backlog); then the log scan past the checkpoint inserts the rest.
//!
//! Invariants: entries are in append order (increasing physical offset and store time, which the
//! append path keeps monotone), so a chain walks newest to oldest and stops at the first entry below
//! the log's minimum or before the time range. Retention deletes sealed files wholly below the minimum.
//!
//! Lookups read synchronously ([`super::io::IoFile::read_now`]; one 4-byte slot read per sealed file
//! in the time range and one 28-byte read per chain entry): QUERY_MESSAGE is rare and the broker's
//! lookup is synchronous. Rejected: the in-memory hash map of the first version (~40 B per key: RSS
//! grew with the backlog); writing the open file's slot table at every checkpoint (its pages are all
//! dirty after a second of traffic: megabytes a second for nothing, as recovery rebuilds it from the
//! entries in one sequential read).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::{Buf, BufMut};

use super::commitlog::{parse_segment_name, segment_name};
use super::io::{IoFile, OpenMode, StorageIo};
use super::{PhysicalOffset, StorageError};

/// Stable 64-bit FNV-1a of `topic#key` (stable across builds: it is persisted).
pub fn key_hash(topic: &str, key: &str) -> u64 {
    crate::message::fnv1a_64(&[topic.as_bytes(), b"#", key.as_bytes()])
}

/// Directory of the index files, below the store's directory.
pub const INDEX_DIR: &str = "index";
const HEADER_BYTES: u64 = 4096;
const ENTRY_BYTES: usize = 28;
const MAGIC: u32 = 0x424C_4958; // "BLIX"
const VERSION: u32 = 1;
const HEADER_USED_BYTES: usize = 4 * 5 + 8 * 4 + 4;

/// Size of the index files (a knob of [`super::StoreOptions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexShape {
    pub slots: u32,
    pub entries_max: u32,
}

impl Default for IndexShape {
    /// 2 MiB of slots in memory for the open file, 2M keys (56 MiB) a file.
    fn default() -> IndexShape {
        IndexShape {
            slots: 1 << 19,
            entries_max: 1 << 21,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IxEntry {
    hash: u64,
    phys: PhysicalOffset,
    ts: i64,
    prev: u32,
}

impl IxEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.hash);
        out.put_u64(self.phys.get());
        out.put_i64(self.ts);
        out.put_u32(self.prev);
    }

    fn decode(mut b: &[u8]) -> IxEntry {
        IxEntry {
            hash: b.get_u64(),
            phys: PhysicalOffset(b.get_u64()),
            ts: b.get_i64(),
            prev: b.get_u32(),
        }
    }
}

/// Header facts of a file (all of them for a sealed one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    base: PhysicalOffset,
    count: u32,
    last_phys: PhysicalOffset,
    min_ts: i64,
    max_ts: i64,
}

impl Meta {
    fn encode_header(&self, shape: IndexShape) -> Vec<u8> {
        let mut h = Vec::with_capacity(HEADER_BYTES as usize);
        h.put_u32(MAGIC);
        h.put_u32(VERSION);
        h.put_u32(shape.slots);
        h.put_u32(shape.entries_max);
        h.put_u32(self.count);
        h.put_u64(self.base.get());
        h.put_u64(self.last_phys.get());
        h.put_i64(self.min_ts);
        h.put_i64(self.max_ts);
        let c = crc32fast::hash(&h);
        h.put_u32(c);
        debug_assert_eq!(h.len(), HEADER_USED_BYTES);
        h
    }

    fn decode_header(b: &[u8], shape: IndexShape) -> Option<Meta> {
        if b.len() < HEADER_USED_BYTES {
            return None;
        }
        let (body, c) = b[..HEADER_USED_BYTES].split_at(HEADER_USED_BYTES - 4);
        if crc32fast::hash(body) != u32::from_be_bytes([c[0], c[1], c[2], c[3]]) {
            return None;
        }
        let mut r = body;
        if r.get_u32() != MAGIC
            || r.get_u32() != VERSION
            || r.get_u32() != shape.slots
            || r.get_u32() != shape.entries_max
        {
            return None;
        }
        Some(Meta {
            count: r.get_u32(),
            base: PhysicalOffset(r.get_u64()),
            last_phys: PhysicalOffset(r.get_u64()),
            min_ts: r.get_i64(),
            max_ts: r.get_i64(),
        })
    }

    fn overlaps(&self, begin_ms: i64, end_ms: i64, log_min: PhysicalOffset) -> bool {
        self.count > 0
            && self.max_ts >= begin_ms
            && self.min_ts <= end_ms
            && self.last_phys >= log_min
    }
}

/// The file being filled (or full and waiting to be sealed).
struct OpenFile {
    meta: Meta,
    slots: Vec<u32>,
    /// Entries below are in the file.
    written: u32,
    /// Entries `[written, meta.count)`.
    pending: Vec<IxEntry>,
    file: Option<Rc<dyn IoFile>>,
}

/// One write of a checkpoint to an index file.
pub struct IndexWrite {
    pub base: PhysicalOffset,
    pub path: PathBuf,
    pub file: Option<Rc<dyn IoFile>>,
    /// Entries `[from, to)` at `pos`.
    pub pos: u64,
    pub data: Vec<u8>,
    pub from: u32,
    pub to: u32,
    /// Sealing: the slot table, then (after a sync) the header.
    pub seal: Option<(Vec<u8>, Vec<u8>)>,
}

/// What the index holds in memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexMemory {
    pub sealed_files: usize,
    pub open_files: usize,
    pub slot_bytes: usize,
    pub pending_entries: usize,
}

/// The shard's key index.
pub struct KeyIndex {
    dir: PathBuf,
    io: Rc<dyn StorageIo>,
    shape: IndexShape,
    sealed: Vec<Meta>,
    open: Vec<OpenFile>,
}

fn slots_pos(slot: u32) -> u64 {
    HEADER_BYTES + u64::from(slot) * 4
}

impl KeyIndex {
    pub fn new(store_dir: &Path, io: Rc<dyn StorageIo>, shape: IndexShape) -> KeyIndex {
        assert!(
            shape.slots > 0 && shape.entries_max > 0,
            "empty index shape"
        );
        KeyIndex {
            dir: store_dir.join(INDEX_DIR),
            io,
            shape,
            sealed: Vec::new(),
            open: Vec::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, base: PhysicalOffset) -> PathBuf {
        self.dir.join(segment_name(base))
    }

    fn entry_pos(&self, n: u32) -> u64 {
        slots_pos(self.shape.slots) + u64::from(n) * ENTRY_BYTES as u64
    }

    pub fn insert(&mut self, hash: u64, phys: PhysicalOffset, store_ts_ms: i64) {
        let full = self
            .open
            .last()
            .is_none_or(|f| f.meta.count >= self.shape.entries_max);
        if full {
            self.open.push(OpenFile {
                meta: Meta {
                    base: phys,
                    count: 0,
                    last_phys: phys,
                    min_ts: store_ts_ms,
                    max_ts: store_ts_ms,
                },
                slots: vec![0; self.shape.slots as usize],
                written: 0,
                pending: Vec::new(),
                file: None,
            });
        }
        let slots = self.shape.slots;
        let f = self.open.last_mut().expect("an open index file");
        let slot = (hash % u64::from(slots)) as usize;
        let e = IxEntry {
            hash,
            phys,
            ts: store_ts_ms,
            prev: f.slots[slot],
        };
        f.meta.count += 1;
        f.slots[slot] = f.meta.count;
        f.meta.last_phys = phys;
        f.meta.min_ts = f.meta.min_ts.min(store_ts_ms);
        f.meta.max_ts = f.meta.max_ts.max(store_ts_ms);
        f.pending.push(e);
    }

    /// Newest first, at most `max`, store time within `[begin_ms, end_ms]`, at or above `log_min`.
    /// Unreadable files are logged and skipped.
    pub fn lookup(
        &self,
        hash: u64,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
        log_min: PhysicalOffset,
    ) -> Vec<PhysicalOffset> {
        let slot = (hash % u64::from(self.shape.slots)) as u32;
        let mut out = Vec::new();
        for f in self.open.iter().rev() {
            if out.len() >= max {
                return out;
            }
            if !f.meta.overlaps(begin_ms, end_ms, log_min) {
                continue;
            }
            let mut file = f.file.clone();
            let head = f.slots[slot as usize];
            let r = self.walk(
                f.meta.base,
                head,
                &mut file,
                hash,
                begin_ms,
                end_ms,
                max,
                log_min,
                &mut out,
                |n| {
                    n.checked_sub(f.written)
                        .and_then(|i| f.pending.get(i as usize))
                        .copied()
                },
            );
            if let Err(e) = r {
                tracing::error!(file = %self.path(f.meta.base).display(), error = %e, "index read failed");
            }
        }
        for m in self.sealed.iter().rev() {
            if out.len() >= max {
                break;
            }
            if !m.overlaps(begin_ms, end_ms, log_min) {
                continue;
            }
            let r = self.walk_sealed(m, slot, hash, begin_ms, end_ms, max, log_min, &mut out);
            if let Err(e) = r {
                tracing::error!(file = %self.path(m.base).display(), error = %e, "index read failed");
            }
        }
        out
    }

    /// Walks the chain of `slot` in the sealed file `m`.
    #[allow(clippy::too_many_arguments)]
    fn walk_sealed(
        &self,
        m: &Meta,
        slot: u32,
        hash: u64,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
        log_min: PhysicalOffset,
        out: &mut Vec<PhysicalOffset>,
    ) -> std::io::Result<()> {
        let h = self.io.open_now(&self.path(m.base), OpenMode::Existing)?;
        let b = h.read_now(slots_pos(slot), 4)?;
        if b.len() < 4 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
        }
        let head = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let mut file = Some(h);
        self.walk(
            m.base,
            head,
            &mut file,
            hash,
            begin_ms,
            end_ms,
            max,
            log_min,
            out,
            |_| None,
        )
    }

    /// Walks one chain from entry number + 1 `head`, newest to oldest.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        base: PhysicalOffset,
        mut head: u32,
        file: &mut Option<Rc<dyn IoFile>>,
        hash: u64,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
        log_min: PhysicalOffset,
        out: &mut Vec<PhysicalOffset>,
        in_memory: impl Fn(u32) -> Option<IxEntry>,
    ) -> std::io::Result<()> {
        let mut steps = 0u32;
        while head != 0 && out.len() < max {
            let n = head - 1;
            let e = match in_memory(n) {
                Some(e) => e,
                None => {
                    if file.is_none() {
                        *file = Some(self.io.open_now(&self.path(base), OpenMode::Existing)?);
                    }
                    let b = file
                        .as_ref()
                        .expect("opened")
                        .read_now(self.entry_pos(n), ENTRY_BYTES)?;
                    if b.len() < ENTRY_BYTES {
                        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
                    }
                    IxEntry::decode(&b)
                }
            };
            if e.phys < log_min || e.ts < begin_ms {
                break;
            }
            if e.hash == hash && e.ts <= end_ms {
                out.push(e.phys);
            }
            // A chain only goes back; a damaged one could loop.
            steps += 1;
            if e.prev >= head || steps > self.shape.entries_max {
                break;
            }
            head = e.prev;
        }
        Ok(())
    }

    /// Forgets sealed files wholly below `log_min`; returns their paths, to delete.
    pub fn trim_below(&mut self, log_min: PhysicalOffset) -> Vec<PathBuf> {
        let n = self.sealed.partition_point(|m| m.last_phys < log_min);
        let gone: Vec<Meta> = self.sealed.drain(..n).collect();
        gone.iter().map(|m| self.path(m.base)).collect()
    }

    pub fn memory(&self) -> IndexMemory {
        IndexMemory {
            sealed_files: self.sealed.len(),
            open_files: self.open.len(),
            slot_bytes: self.open.iter().map(|f| f.slots.len() * 4).sum(),
            pending_entries: self.open.iter().map(|f| f.pending.len()).sum(),
        }
    }

    /// Entries indexed and still held (sealed and open files).
    pub fn len(&self) -> u64 {
        self.sealed
            .iter()
            .chain(self.open.iter().map(|f| &f.meta))
            .map(|m| u64::from(m.count))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checkpoint's writes at commit-log offset `c`, and the (open file, entries below `c`) the
    /// checkpoint records once they are done: the pending entries below `c` are written; a full file
    /// whose last entry is below `c` is also sealed.
    pub fn checkpoint_writes(&self, c: PhysicalOffset) -> (Vec<IndexWrite>, (PhysicalOffset, u64)) {
        let mut writes = Vec::new();
        let mut mark = None;
        let last = self.open.len().saturating_sub(1);
        for (i, f) in self.open.iter().enumerate() {
            // Only entries below `c` go to the file, so every entry on disk is covered by the
            // checkpoint that counts it (C never moves back).
            let below = f.pending.partition_point(|e| e.phys < c);
            let seal = i < last && f.meta.last_phys < c;
            let mut data = Vec::with_capacity(below * ENTRY_BYTES);
            for e in &f.pending[..below] {
                e.encode(&mut data);
            }
            let seal = seal.then(|| {
                let mut s = Vec::with_capacity(f.slots.len() * 4);
                for v in &f.slots {
                    s.put_u32(*v);
                }
                (s, f.meta.encode_header(self.shape))
            });
            let to = f.written + below as u32;
            if seal.is_none() && mark.is_none() {
                mark = Some((f.meta.base, u64::from(to)));
            }
            writes.push(IndexWrite {
                base: f.meta.base,
                path: self.path(f.meta.base),
                file: f.file.clone(),
                pos: self.entry_pos(f.written),
                data,
                from: f.written,
                to,
                seal,
            });
        }
        // No open file (every file sealed, none started since): the mark is `c` with no entries,
        // so that recovery keeps every sealed file (all lie below `c`). `(0, 0)` here made the next
        // recovery drop every file, and the log scan past `c` could not bring their keys back.
        (writes, mark.unwrap_or((c, 0)))
    }

    /// A checkpoint completed `w` through `file`.
    pub fn written(&mut self, w: &IndexWrite, file: Rc<dyn IoFile>) {
        let Some(i) = self.open.iter().position(|f| f.meta.base == w.base) else {
            return;
        };
        let f = &mut self.open[i];
        f.file = Some(file);
        if f.written == w.from {
            f.pending.drain(..(w.to - w.from) as usize);
            f.written = w.to;
        }
        if w.seal.is_some() && f.written == f.meta.count {
            let f = self.open.remove(i);
            self.sealed.push(f.meta);
        }
    }

    /// Recovery: loads the files as the checkpoint left them (`open` = its open file and entry count;
    /// `None` without a checkpoint: every file goes). Returns the bytes read.
    pub async fn recover(
        &mut self,
        open: Option<(PhysicalOffset, u64)>,
    ) -> Result<u64, StorageError> {
        let names = self
            .io
            .list_dir(&self.dir)
            .map_err(|e| StorageError::from_io("list", self.dir.clone(), e))?;
        let mut bases: Vec<PhysicalOffset> =
            names.iter().filter_map(|n| parse_segment_name(n)).collect();
        bases.sort_unstable();
        let mut read = 0u64;
        for b in bases {
            let path = self.path(b);
            let keep = match open {
                Some((ob, count)) if b == ob && count > 0 => {
                    read += self.load_open(b, count as u32).await?;
                    true
                }
                Some((ob, _)) if b < ob => {
                    let h = self
                        .io
                        .open_now(&path, OpenMode::Existing)
                        .map_err(|e| StorageError::from_io("open index file", path.clone(), e))?;
                    let head = h
                        .read_now(0, HEADER_USED_BYTES)
                        .map_err(|e| StorageError::from_io("read index file", path.clone(), e))?;
                    read += head.len() as u64;
                    match Meta::decode_header(&head, self.shape) {
                        Some(m) if m.base == b => {
                            self.sealed.push(m);
                            true
                        }
                        _ => {
                            tracing::warn!(file = %path.display(), "index file not sealed below the checkpoint: dropped (lookups miss its keys)");
                            false
                        }
                    }
                }
                _ => false,
            };
            if !keep {
                match self.io.remove_file(&path).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StorageError::from_io("remove", path, e)),
                }
            }
        }
        Ok(read)
    }

    /// Rebuilds the open file's slots from its first `count` entries.
    async fn load_open(&mut self, base: PhysicalOffset, count: u32) -> Result<u64, StorageError> {
        let path = self.path(base);
        let h = self
            .io
            .open_now(&path, OpenMode::Existing)
            .map_err(|e| StorageError::from_io("open index file", path.clone(), e))?;
        let mut f = OpenFile {
            meta: Meta {
                base,
                count: 0,
                last_phys: base,
                min_ts: i64::MAX,
                max_ts: i64::MIN,
            },
            slots: vec![0; self.shape.slots as usize],
            written: 0,
            pending: Vec::new(),
            file: Some(h.clone()),
        };
        const PIECE_ENTRIES: u32 = 1 << 16;
        let mut read = 0u64;
        while f.meta.count < count {
            let n = (count - f.meta.count).min(PIECE_ENTRIES);
            let b = h
                .read_at(self.entry_pos(f.meta.count), n as usize * ENTRY_BYTES)
                .await
                .map_err(|e| StorageError::from_io("read index file", path.clone(), e))?;
            read += b.len() as u64;
            if b.len() < n as usize * ENTRY_BYTES {
                return Err(StorageError::Corrupted {
                    offset: base,
                    reason: format!(
                        "index file {} shorter than its checkpointed entries",
                        path.display()
                    ),
                });
            }
            for c in b.chunks_exact(ENTRY_BYTES) {
                let e = IxEntry::decode(c);
                let slot = (e.hash % u64::from(self.shape.slots)) as usize;
                f.meta.count += 1;
                f.slots[slot] = f.meta.count;
                f.meta.last_phys = e.phys;
                f.meta.min_ts = f.meta.min_ts.min(e.ts);
                f.meta.max_ts = f.meta.max_ts.max(e.ts);
            }
        }
        f.written = f.meta.count;
        self.open.push(f);
        Ok(read)
    }
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::storage::sim::SimIo;

    fn run_writes(ix: &mut KeyIndex, c: PhysicalOffset) -> (PhysicalOffset, u64) {
        let (writes, mark) = ix.checkpoint_writes(c);
        for w in writes {
            let f = ix.io.open_now(&w.path, OpenMode::Create).unwrap();
            futures_lite::future::block_on(f.write_at(&w.data, w.pos)).unwrap();
            if let Some((slots, header)) = &w.seal {
                futures_lite::future::block_on(f.write_at(slots, HEADER_BYTES)).unwrap();
                futures_lite::future::block_on(f.write_at(header, 0)).unwrap();
            }
            ix.written(&w, f);
        }
        mark
    }

    #[test]
    fn lookup_newest_first_in_window_across_files_and_restart() {
        let sim = SimIo::new(5);
        let shape = IndexShape {
            slots: 4,
            entries_max: 3,
        };
        let mut ix = KeyIndex::new(Path::new("/s"), Rc::new(sim.clone()), shape);
        let h = key_hash("T", "k1");
        assert_ne!(h, key_hash("T", "k2"));
        assert_ne!(h, key_hash("U", "k1"));
        let p = PhysicalOffset;
        let other = key_hash("T", "other");
        for (o, ts) in [(10, 100), (20, 200), (30, 300), (40, 400)] {
            ix.insert(h, p(o), ts);
            ix.insert(other, p(o + 1), ts);
        }
        assert_eq!(ix.len(), 8);
        let check = |ix: &KeyIndex| {
            assert_eq!(ix.lookup(h, 150, 350, 10, p(0)), vec![p(30), p(20)]);
            assert_eq!(ix.lookup(h, 0, i64::MAX, 1, p(0)), vec![p(40)]);
            assert_eq!(ix.lookup(h, 0, i64::MAX, 10, p(25)).len(), 2);
            assert!(ix
                .lookup(key_hash("T", "nope"), 0, i64::MAX, 10, p(0))
                .is_empty());
        };
        check(&ix);
        // Written: the first two files sealed, the third open with one entry below 42.
        let mark = run_writes(&mut ix, p(41));
        assert_eq!(ix.memory().sealed_files, 2);
        assert_eq!(mark, (p(40), 1));
        check(&ix);
        // Restart from the checkpoint's mark: sealed files by header, the open one rebuilt.
        let mut again = KeyIndex::new(Path::new("/s"), Rc::new(sim.clone()), shape);
        futures_lite::future::block_on(again.recover(Some(mark))).unwrap();
        again.insert(other, p(41), 400);
        check(&again);
        assert_eq!(again.lookup(other, 0, i64::MAX, 10, p(0)).len(), 4);
        let gone = again.trim_below(p(25));
        assert_eq!(gone.len(), 1);
        assert_eq!(again.lookup(h, 0, i64::MAX, 10, p(0)), vec![p(40), p(30)]);
        // Without a checkpoint everything goes.
        let mut fresh = KeyIndex::new(Path::new("/s"), Rc::new(sim.clone()), shape);
        futures_lite::future::block_on(fresh.recover(None)).unwrap();
        assert!(fresh.is_empty());
        assert!(sim.paths().iter().all(|p| !p.starts_with("/s/index")));
    }
}
