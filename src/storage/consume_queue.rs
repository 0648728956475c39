//! Consume queues: per (topic, queue), the dense sequence of 20-byte entries (physical offset i64,
//! size i32, tags code i64, big-endian: Java's ConsumeQueue unit) that maps a queue offset to a record
//! in the commit log. They live on disk; memory holds a fixed amount per queue, the entries not yet
//! written (the tail) and a bounded cache of recently read blocks.
//!
//! Files: `consumequeue/<topic>@<queue id>@<first queue offset, 20 digits>`, each holding
//! `file_entries` entries (entry q at byte `(q - first) * 20`; the first offset is a multiple of
//! `file_entries`, so the file of an offset is computed, not looked up: no per-file table in memory).
//! Topic bytes outside `[A-Za-z0-9_%|-]` are written `~XX`.
//!
//! ```text
//!   min            written                     max
//!    |── on disk ────|── pending (memory) ──────|
//!    reads: block cache (256 entries a block,   reads: straight from memory
//!           bounded bytes, FIFO) or pread
//! ```
//!
//! Durability: a checkpoint at commit-log offset C writes, per queue, the pending entries whose
//! record lies below C (never beyond: every entry on disk below the table's `next` is durable and
//! belongs to the log below C), fsyncs the files, then the checkpoint records `(min, next)` per queue
//! ([`super::checkpoint`]). Recovery trusts files up to `next` and rebuilds the rest from the log scan,
//! so its work is bounded by what was written since the checkpoint. Files of unknown queues, beyond
//! `next`, or wholly below `min` are deleted.
//!
//! Invariants:
//! - Queue offsets are dense: `min <= written <= max`, `max = written + pending.len()`.
//! - Physical offsets increase with queue offset (records are appended in order).
//! - A "hole" (size 0) stands for a record lost to mid-log corruption; readers skip it. Its physical
//!   offset is the next record's, so binary searches by physical offset stay monotone.
//! - Retention only moves `min` up; files wholly below it are deleted.
//! - Entries below `written` never change on disk while the store is open, so cached blocks stay true.
//!
//! Reads are synchronous (`pread` through the page cache, [`super::io::IoFile::read_now`]): the
//! broker's lookups are synchronous. A cold read blocks the shard for one disk read, as a page fault on
//! RocketMQ's mmapped ConsumeQueue blocks its thread. Rejected: async lookups (a facade change for
//! every caller); one file per segment holding every queue's entries in log order (the first format
//! here): a queue's entries are scattered, so it had to be loaded whole into memory at start, which
//! made RSS and start-up grow with the backlog; mmap (pages count as RSS, faults unbounded).

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::{Buf, BufMut};

use super::io::{IoFile, OpenMode, StorageIo};
use super::{PhysicalOffset, QueueEntry, QueueOffset};

/// Size of one entry on disk (Java's consume-queue unit).
pub const CQ_ENTRY_BYTES: usize = 20;
/// Entries per read (and cache) block: 5 KiB.
pub const CQ_BLOCK_ENTRIES: u64 = 256;
/// Directory of the consume-queue files, below the store's directory.
pub const CQ_DIR: &str = "consumequeue";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    phys: PhysicalOffset,
    size: u32,
    tags: i64,
}

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.phys.get());
        out.put_u32(self.size);
        out.put_i64(self.tags);
    }

    fn decode(mut b: &[u8]) -> Entry {
        Entry {
            phys: PhysicalOffset(b.get_u64()),
            size: b.get_u32(),
            tags: b.get_i64(),
        }
    }
}

/// File name of the consume-queue file of `(topic, queue_id)` starting at queue offset `first`.
pub fn cq_file_name(topic: &str, queue_id: u32, first: u64) -> String {
    let mut s = String::with_capacity(topic.len() + 32);
    for b in topic.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'%' | b'|') {
            s.push(b as char);
        } else {
            s.push_str(&format!("~{b:02X}"));
        }
    }
    s.push_str(&format!("@{queue_id}@{first:020}"));
    s
}

/// Parses [`cq_file_name`]: (topic, queue id, first offset).
pub fn parse_cq_file_name(name: &str) -> Option<(String, u32, u64)> {
    let mut parts = name.rsplitn(3, '@');
    let first = parts.next()?;
    let qid = parts.next()?.parse().ok()?;
    let enc = parts.next()?;
    if first.len() != 20 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut topic = Vec::with_capacity(enc.len());
    let b = enc.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'~' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            topic.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            topic.push(b[i]);
            i += 1;
        }
    }
    Some((String::from_utf8(topic).ok()?, qid, first.parse().ok()?))
}

/// One (topic, queue): offsets and the unwritten tail. Its open files are in the shard's
/// [`OpenFiles`], not here, so that thousands of queues do not hold thousands of descriptors.
#[derive(Default)]
pub struct ConsumeQueue {
    /// Cache key of this queue (unique per store).
    id: u32,
    min: QueueOffset,
    /// Entries below are in the files.
    written: QueueOffset,
    /// Entries `[written, max)`.
    pending: VecDeque<Entry>,
    /// Lowest file start that may still exist on disk.
    first_file: u64,
}

impl ConsumeQueue {
    pub fn min_offset(&self) -> QueueOffset {
        self.min
    }

    pub fn max_offset(&self) -> QueueOffset {
        self.written + self.pending.len() as u64
    }

    /// Entries held in memory (not yet written).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.min == self.max_offset()
    }

    /// Appends the entry for queue offset `q`, which must be `max_offset()` or beyond it (the gap is
    /// filled with holes: records lost to corruption).
    pub fn push(&mut self, q: QueueOffset, phys: PhysicalOffset, size: u32, tags: i64) {
        let max = self.max_offset();
        assert!(q >= max, "consume queue offset {q} below max {max}");
        if self.is_empty() && q > max {
            // Nothing readable (all expired or a fresh queue): start at q. Pending entries below min
            // are expired; they need not be written.
            self.pending.clear();
            self.written = q;
            self.min = q;
        }
        if let Some(last) = self.pending.back() {
            assert!(
                phys >= last.phys,
                "consume queue physical offsets out of order"
            );
        }
        while self.max_offset() < q {
            self.pending.push_back(Entry {
                phys,
                size: 0,
                tags: 0,
            });
        }
        self.pending.push_back(Entry { phys, size, tags });
    }
}

/// A (topic, queue) key that can be borrowed from the owned `(String, u32)` map key, so lookups by
/// `(&str, u32)` allocate nothing (the append path looks a queue up for every message).
trait QueueKey {
    fn parts(&self) -> (&str, u32);
}

impl QueueKey for (String, u32) {
    fn parts(&self) -> (&str, u32) {
        (&self.0, self.1)
    }
}

impl QueueKey for (&str, u32) {
    fn parts(&self) -> (&str, u32) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn QueueKey + 'a> for (String, u32) {
    fn borrow(&self) -> &(dyn QueueKey + 'a) {
        self
    }
}

// Hashes exactly like `(String, u32)` does (a `String` hashes as its `str`), as `Borrow` requires.
impl Hash for dyn QueueKey + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.parts().hash(h);
    }
}

impl PartialEq for dyn QueueKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn QueueKey + '_ {}

/// FxHash (rustc's): a multiply per word. The keys are the shard's own topic names (no hash
/// flooding from clients: a topic must exist before it is written), and SipHash showed in the profile.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            self.add(u64::from_le_bytes(a));
        }
        for &b in words.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Recently read blocks of every queue, at most `bytes_max` bytes, evicted oldest-inserted first.
#[derive(Default)]
struct BlockCache {
    map: HashMap<(u32, u64), Rc<Vec<u8>>>,
    order: VecDeque<(u32, u64)>,
    bytes: usize,
    bytes_max: usize,
}

impl BlockCache {
    /// The cached block if it holds at least `need` bytes.
    fn get(&self, key: (u32, u64), need: usize) -> Option<Rc<Vec<u8>>> {
        self.map.get(&key).filter(|b| b.len() >= need).cloned()
    }

    fn insert(&mut self, key: (u32, u64), b: Rc<Vec<u8>>) {
        if b.len() > self.bytes_max {
            return;
        }
        if let Some(old) = self.map.remove(&key) {
            self.bytes -= old.len();
        }
        while self.bytes + b.len() > self.bytes_max {
            let Some(k) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.map.remove(&k) {
                self.bytes -= old.len();
            }
        }
        self.bytes += b.len();
        self.map.insert(key, b);
        self.order.push_back(key);
        // Keys re-inserted leave stale order entries; keep the deque bounded by the map.
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }
}

/// The shard's open consume-queue files, keyed by (queue id, first offset of the file): at most
/// `max`, the least recently used closed first.
///
/// Why a bound: each queue used to keep its tail file (and the file it was last read from) open, so
/// descriptors grew with the queues. A broker with 3,000 topics of 8 queues reached a 20,000
/// descriptor limit: every checkpoint failed ("Too many open files"), the pending entries reached
/// their cap and every send to the shard waited or failed, for good. Java's broker keeps a channel
/// per mapped file open too and asks operators for `ulimit -n 655350`; here the count is bounded
/// whatever the queues. A file closed here is opened again when next needed (one `open` call); a
/// checkpoint holds the files of the batch it writes, so a batch larger than `max` still writes
/// and syncs each file through the descriptor it wrote with.
struct OpenFiles {
    lru: lru::LruCache<(u32, u64), Rc<dyn IoFile>>,
    /// Files opened since the store opened (reopens after eviction included).
    opened: u64,
}

impl OpenFiles {
    fn new(max: usize) -> OpenFiles {
        OpenFiles {
            lru: lru::LruCache::new(std::num::NonZeroUsize::new(max.max(1)).expect("max >= 1")),
            opened: 0,
        }
    }

    /// The open file, or opens it (and may close the least recently used one).
    fn get_or_open(
        &mut self,
        io: &dyn StorageIo,
        key: (u32, u64),
        path: &Path,
        mode: OpenMode,
    ) -> std::io::Result<Rc<dyn IoFile>> {
        if let Some(f) = self.lru.get(&key) {
            return Ok(f.clone());
        }
        let f = io.open_now(path, mode)?;
        self.opened += 1;
        self.lru.put(key, f.clone());
        Ok(f)
    }
}

/// What the consume queues hold in memory (for the memory bound and its test), and their open files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CqMemory {
    pub queues: usize,
    /// Entries not yet written, all queues.
    pub pending_entries: usize,
    pub cache_bytes: usize,
    pub cache_bytes_max: usize,
    /// Consume-queue files open now (at most `open_files_max`).
    pub open_files: usize,
    pub open_files_max: usize,
    /// Files opened since the store opened (reopens after eviction included).
    pub files_opened: u64,
}

/// One file write of a checkpoint: entries `[from, to)` of a queue, all in the file at `file_first`.
pub struct CqWrite {
    pub key: (String, u32),
    /// The queue's cache key (its open files are kept under it).
    id: u32,
    pub from: QueueOffset,
    pub to: QueueOffset,
    pub file_first: u64,
    pub path: PathBuf,
    pub pos: u64,
    pub data: Vec<u8>,
    pub file: Option<Rc<dyn IoFile>>,
}

/// All queues of a shard.
pub struct ConsumeQueues {
    dir: PathBuf,
    io: Rc<dyn StorageIo>,
    file_entries: u64,
    queues: HashMap<(String, u32), ConsumeQueue, BuildHasherDefault<FxHasher>>,
    cache: BlockCache,
    files: OpenFiles,
    next_id: u32,
}

impl ConsumeQueues {
    /// Queues whose files live in `store_dir/consumequeue`, `file_entries` entries a file (a multiple
    /// of [`CQ_BLOCK_ENTRIES`]), reading through a cache of at most `cache_bytes_max`, with at most
    /// `open_files_max` files open (besides those a checkpoint batch holds).
    pub fn new(
        store_dir: &Path,
        io: Rc<dyn StorageIo>,
        file_entries: u64,
        cache_bytes_max: usize,
        open_files_max: usize,
    ) -> ConsumeQueues {
        assert!(
            file_entries > 0 && file_entries.is_multiple_of(CQ_BLOCK_ENTRIES),
            "consume-queue file entries {file_entries} must be a multiple of {CQ_BLOCK_ENTRIES}"
        );
        ConsumeQueues {
            dir: store_dir.join(CQ_DIR),
            io,
            file_entries,
            queues: HashMap::default(),
            cache: BlockCache {
                bytes_max: cache_bytes_max,
                ..Default::default()
            },
            files: OpenFiles::new(open_files_max),
            next_id: 0,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn get(&self, topic: &str, queue_id: u32) -> Option<&ConsumeQueue> {
        self.queues.get(&(topic, queue_id) as &dyn QueueKey)
    }

    pub fn get_mut_or_create(&mut self, topic: &str, queue_id: u32) -> &mut ConsumeQueue {
        // Two lookups on a miss (the first message of a queue) keep the hit allocation-free.
        if !self
            .queues
            .contains_key(&(topic, queue_id) as &dyn QueueKey)
        {
            self.next_id += 1;
            let q = ConsumeQueue {
                id: self.next_id,
                ..Default::default()
            };
            self.queues.insert((topic.to_owned(), queue_id), q);
        }
        self.queues
            .get_mut(&(topic, queue_id) as &dyn QueueKey)
            .expect("queue just ensured")
    }

    /// Recreates a queue from the checkpoint's table: entries `[min, next)` are in its files.
    pub fn restore(&mut self, topic: &str, queue_id: u32, min: QueueOffset, next: QueueOffset) {
        let e = self.file_entries;
        let q = self.get_mut_or_create(topic, queue_id);
        q.min = min.min(next);
        q.written = next;
        q.pending.clear();
        q.first_file = q.min.get() / e * e;
    }

    pub fn next_offset(&self, topic: &str, queue_id: u32) -> QueueOffset {
        self.get(topic, queue_id)
            .map_or(QueueOffset(0), ConsumeQueue::max_offset)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&(String, u32), &ConsumeQueue)> {
        self.queues.iter()
    }

    pub fn memory(&self) -> CqMemory {
        CqMemory {
            queues: self.queues.len(),
            pending_entries: self.queues.values().map(|q| q.pending.len()).sum(),
            cache_bytes: self.cache.bytes,
            cache_bytes_max: self.cache.bytes_max,
            open_files: self.files.lru.len(),
            open_files_max: self.files.lru.cap().get(),
            files_opened: self.files.opened,
        }
    }

    fn file_path(&self, topic: &str, queue_id: u32, first: u64) -> PathBuf {
        self.dir.join(cq_file_name(topic, queue_id, first))
    }

    /// The entry at `o` (`min <= o < max`), from memory, the cache or the file. `None` when the file
    /// cannot be read (logged).
    fn entry(&mut self, topic: &str, queue_id: u32, o: QueueOffset) -> Option<Entry> {
        let e = self.file_entries;
        let path_of = |first| self.dir.join(cq_file_name(topic, queue_id, first));
        let q = self.queues.get(&(topic, queue_id) as &dyn QueueKey)?;
        if o >= q.written {
            return q.pending.get((o - q.written) as usize).copied();
        }
        let block = o.get() / CQ_BLOCK_ENTRIES;
        let block_start = block * CQ_BLOCK_ENTRIES;
        let valid = (q.written.get() - block_start).min(CQ_BLOCK_ENTRIES);
        let at = ((o.get() - block_start) as usize) * CQ_ENTRY_BYTES;
        let need = at + CQ_ENTRY_BYTES;
        let data = match self.cache.get((q.id, block), need) {
            Some(d) => d,
            None => {
                let first = block_start / e * e;
                let path = path_of(first);
                let file = match self.files.get_or_open(
                    &*self.io,
                    (q.id, first),
                    &path,
                    OpenMode::Existing,
                ) {
                    Ok(h) => h,
                    Err(err) => {
                        tracing::error!(path = %path.display(), error = %err, "consume-queue file cannot be opened");
                        return None;
                    }
                };
                let pos = (block_start - first) * CQ_ENTRY_BYTES as u64;
                match file.read_now(pos, valid as usize * CQ_ENTRY_BYTES) {
                    Ok(b) if b.len() >= need => {
                        let b = Rc::new(b);
                        self.cache.insert((q.id, block), b.clone());
                        b
                    }
                    Ok(b) => {
                        tracing::error!(
                            topic,
                            queue_id,
                            offset = o.get(),
                            got = b.len(),
                            "consume-queue file shorter than its entries"
                        );
                        return None;
                    }
                    Err(err) => {
                        tracing::error!(topic, queue_id, offset = o.get(), error = %err, "consume-queue read failed");
                        return None;
                    }
                }
            }
        };
        Some(Entry::decode(&data[at..need]))
    }

    /// Up to `max` non-hole entries from `from`.
    pub fn entries(
        &mut self,
        topic: &str,
        queue_id: u32,
        from: QueueOffset,
        max: usize,
    ) -> Vec<QueueEntry> {
        let Some(q) = self.get(topic, queue_id) else {
            return Vec::new();
        };
        let (mut o, end) = (from.max(q.min), q.max_offset());
        let mut out = Vec::new();
        while o < end && out.len() < max {
            let Some(e) = self.entry(topic, queue_id, o) else {
                break;
            };
            if e.size != 0 {
                out.push(QueueEntry {
                    queue_offset: o,
                    physical_offset: e.phys,
                    size_bytes: e.size,
                    tags_code: e.tags,
                });
            }
            o += 1;
        }
        out
    }

    /// Physical offset and size of the entry at queue offset `q` (for binary searches by store time).
    pub fn entry_at(
        &mut self,
        topic: &str,
        queue_id: u32,
        o: QueueOffset,
    ) -> Option<(PhysicalOffset, u32)> {
        let q = self.get(topic, queue_id)?;
        if o < q.min || o >= q.max_offset() {
            return None;
        }
        self.entry(topic, queue_id, o).map(|e| (e.phys, e.size))
    }

    /// The first queue offset in `[min, max)` whose record is at or above `phys` (`max` if none).
    pub fn offset_at(&mut self, topic: &str, queue_id: u32, phys: PhysicalOffset) -> QueueOffset {
        let Some(q) = self.get(topic, queue_id) else {
            return QueueOffset(0);
        };
        let (mut lo, mut hi) = (q.min, q.max_offset());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(topic, queue_id, mid) {
                Some(e) if e.phys < phys => lo = mid + 1,
                Some(_) => hi = mid,
                // Unreadable: treat as below (retention keeps nothing it cannot see).
                None => lo = mid + 1,
            }
        }
        lo
    }

    /// Moves every queue's minimum past entries whose record is below `log_min` (deleted segments);
    /// returns the files now wholly below their queue's minimum, to delete.
    pub fn trim_below(&mut self, log_min: PhysicalOffset) -> Vec<PathBuf> {
        let keys: Vec<(String, u32)> = self.queues.keys().cloned().collect();
        let mut gone = Vec::new();
        for (t, qid) in keys {
            let new_min = self.offset_at(&t, qid, log_min);
            gone.extend(self.raise_min(&t, qid, new_min));
        }
        gone
    }

    /// Raises a queue's minimum to `to` (at most its maximum; never lowers it): entries below are no
    /// longer readable. Returns the files wholly below both the minimum and the entries not yet
    /// written (a checkpoint still writes those, into their file), to delete.
    pub fn raise_min(&mut self, topic: &str, queue_id: u32, to: QueueOffset) -> Vec<PathBuf> {
        let e = self.file_entries;
        let Some(q) = self.queues.get_mut(&(topic, queue_id) as &dyn QueueKey) else {
            return Vec::new();
        };
        q.min = q.min.max(to.min(q.max_offset()));
        let keep_from = q.min.min(q.written).get() / e * e;
        let files: Vec<u64> = (q.first_file..keep_from).step_by(e as usize).collect();
        q.first_file = q.first_file.max(keep_from);
        // Closed before they are deleted: an open descriptor would keep the space in use.
        for f in &files {
            self.files.lru.pop(&(q.id, *f));
        }
        files
            .into_iter()
            .map(|f| self.file_path(topic, queue_id, f))
            .collect()
    }

    /// The checkpoint's writes at commit-log offset `c`: per queue, the pending entries whose record
    /// is below `c`, split at file boundaries; and the queue table `(topic, queue, min, next)` that
    /// holds once they are written.
    pub fn checkpoint_writes(
        &self,
        c: PhysicalOffset,
    ) -> (Vec<CqWrite>, Vec<super::checkpoint::QueueRow>) {
        let e = self.file_entries;
        let mut writes = Vec::new();
        let mut table = Vec::with_capacity(self.queues.len());
        for ((t, qid), q) in &self.queues {
            let n = q.pending.partition_point(|x| x.phys < c) as u64;
            let next = q.written + n;
            table.push((t.clone(), *qid, q.min.min(next), next));
            let mut o = q.written;
            while o < next {
                let first = o.get() / e * e;
                let to = next.min(QueueOffset(first + e));
                let mut data = Vec::with_capacity(((to - o) as usize) * CQ_ENTRY_BYTES);
                let skip = (o - q.written) as usize;
                for x in q.pending.range(skip..skip + (to - o) as usize) {
                    x.encode(&mut data);
                }
                writes.push(CqWrite {
                    key: (t.clone(), *qid),
                    id: q.id,
                    from: o,
                    to,
                    file_first: first,
                    path: self.file_path(t, *qid, first),
                    pos: (o.get() - first) * CQ_ENTRY_BYTES as u64,
                    data,
                    file: self.files.lru.peek(&(q.id, first)).cloned(),
                });
                o = to;
            }
        }
        (writes, table)
    }

    /// The file a checkpoint writes `w` to: open already, or opened (created if new) now.
    pub fn open_for_write(&mut self, w: &CqWrite) -> std::io::Result<Rc<dyn IoFile>> {
        match &w.file {
            Some(f) => Ok(f.clone()),
            None => {
                self.files
                    .get_or_open(&*self.io, (w.id, w.file_first), &w.path, OpenMode::Create)
            }
        }
    }

    /// A checkpoint wrote entries `[from, to)` of a queue (durably) through `file`: they leave memory.
    /// Ignored if the queue moved on meanwhile (it restarted at a higher offset).
    pub fn written(&mut self, w: &CqWrite, file: Rc<dyn IoFile>) {
        let Some(q) = self.queues.get_mut(&w.key) else {
            return;
        };
        self.files.lru.put((q.id, w.file_first), file);
        if q.written != w.from {
            return;
        }
        let n = (w.to - w.from) as usize;
        q.pending.drain(..n.min(q.pending.len()));
        q.written = w.to;
    }

    /// At recovery, after [`ConsumeQueues::restore`] of the checkpoint's table: deletes the files of
    /// queues not in it, past a queue's `next` and wholly below its `min`.
    pub async fn remove_stale_files(&self) -> Result<(), super::StorageError> {
        let names = self
            .io
            .list_dir(&self.dir)
            .map_err(|e| super::StorageError::from_io("list", self.dir.clone(), e))?;
        let e = self.file_entries;
        for n in names {
            let keep = parse_cq_file_name(&n).is_some_and(|(t, qid, first)| {
                self.get(&t, qid).is_some_and(|q| {
                    first.is_multiple_of(e)
                        && first >= q.first_file
                        && (first < q.written.get() || first == q.written.get() / e * e)
                })
            });
            if !keep {
                let p = self.dir.join(&n);
                match self.io.remove_file(&p).await {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(super::StorageError::from_io("remove", p, err)),
                }
            }
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "sim"))]
mod tests {
    use super::*;
    use crate::storage::sim::SimIo;

    fn q(v: u64) -> QueueOffset {
        QueueOffset(v)
    }

    fn p(v: u64) -> PhysicalOffset {
        PhysicalOffset(v)
    }

    fn queues(sim: &SimIo, cache: usize) -> ConsumeQueues {
        ConsumeQueues::new(Path::new("/s"), Rc::new(sim.clone()), 512, cache, 4)
    }

    /// Runs a checkpoint's consume-queue writes at `c` synchronously-enough for tests.
    fn write_all(qs: &mut ConsumeQueues, c: PhysicalOffset) {
        let (writes, _) = qs.checkpoint_writes(c);
        for w in writes {
            let f = qs.open_for_write(&w).unwrap();
            futures_lite::future::block_on(f.write_at(&w.data, w.pos)).unwrap();
            qs.written(&w, f);
        }
    }

    #[test]
    fn open_files_stay_within_their_bound_and_reads_survive_eviction() {
        let sim = SimIo::new(3);
        // 4 open files at most (`queues`), 10 queues of 2 files each.
        let mut qs = queues(&sim, 0);
        for t in 0..10u64 {
            for i in 0..600u64 {
                qs.get_mut_or_create(&format!("T{t}"), 0).push(
                    q(i),
                    p(t * 10_000 + i * 10),
                    10,
                    i as i64,
                );
            }
        }
        write_all(&mut qs, p(1 << 40));
        let m = qs.memory();
        assert_eq!(m.pending_entries, 0);
        assert_eq!((m.open_files, m.open_files_max), (4, 4));
        // No cache (0 bytes): every read goes to a file, most of them closed by now.
        for round in 0..2 {
            for t in 0..10u64 {
                for o in [0u64, 511, 512, 599] {
                    let topic = format!("T{t}");
                    assert_eq!(
                        qs.entry_at(&topic, 0, q(o)),
                        Some((p(t * 10_000 + o * 10), 10)),
                        "round {round}, {topic} offset {o}"
                    );
                    assert!(qs.memory().open_files <= 4);
                }
            }
        }
        let opened = qs.memory().files_opened;
        assert!(opened >= 20, "closed files were opened again: {opened}");
        // The same file read again while open: no new open.
        qs.entry_at("T9", 0, q(599));
        qs.entry_at("T9", 0, q(598));
        assert_eq!(qs.memory().files_opened, opened);
        // Files that retention deletes are closed first (an open descriptor keeps the space).
        let open_before = qs.memory().open_files;
        let gone = qs.raise_min("T9", 0, q(599));
        assert_eq!(gone.len(), 1, "the first file of T9 goes");
        assert_eq!(qs.memory().open_files, open_before - 1);
        assert_eq!(qs.entry_at("T9", 0, q(599)), Some((p(95_990), 10)));
    }

    #[test]
    fn names_round_trip() {
        for t in ["TopicTest", "%RETRY%g-1", "a/b c@d~", "中文"] {
            let n = cq_file_name(t, 7, 1024);
            assert!(!n.contains('/'));
            assert_eq!(parse_cq_file_name(&n), Some((t.to_owned(), 7, 1024)));
        }
        assert_eq!(parse_cq_file_name("x@1@12"), None);
    }

    #[test]
    fn dense_offsets_holes_trim_from_memory_and_disk() {
        for on_disk in [false, true] {
            let sim = SimIo::new(1);
            let mut qs = queues(&sim, 1 << 20);
            let cq = qs.get_mut_or_create("T", 0);
            cq.push(q(0), p(100), 10, 7);
            cq.push(q(1), p(110), 10, 8);
            cq.push(q(3), p(130), 10, 9); // offset 2 lost to corruption: a hole
            if on_disk {
                write_all(&mut qs, p(1_000));
                assert_eq!(qs.memory().pending_entries, 0);
            }
            let cq = qs.get("T", 0).unwrap();
            assert_eq!((cq.min_offset(), cq.max_offset()), (q(0), q(4)));
            let e = qs.entries("T", 0, q(0), 10);
            assert_eq!(
                e.iter().map(|e| e.queue_offset.0).collect::<Vec<_>>(),
                vec![0, 1, 3]
            );
            assert_eq!((e[2].physical_offset, e[2].tags_code), (p(130), 9));
            assert_eq!(qs.entries("T", 0, q(1), 1).len(), 1);
            assert_eq!(qs.offset_at("T", 0, p(111)), q(2));
            assert_eq!(qs.entry_at("T", 0, q(1)), Some((p(110), 10)));
            qs.trim_below(p(115));
            let cq = qs.get("T", 0).unwrap();
            assert_eq!((cq.min_offset(), cq.max_offset()), (q(2), q(4)));
            assert_eq!(qs.entries("T", 0, q(0), 10)[0].queue_offset, q(3));
            qs.trim_below(p(1_000));
            let cq = qs.get("T", 0).unwrap();
            assert_eq!((cq.min_offset(), cq.max_offset()), (q(4), q(4)));
            assert!(qs.entries("T", 0, q(0), 10).is_empty());
            qs.get_mut_or_create("T", 0).push(q(4), p(2_000), 5, 0);
            let cq = qs.get("T", 0).unwrap();
            assert_eq!((cq.min_offset(), cq.max_offset()), (q(4), q(5)));
        }
    }

    #[test]
    fn checkpoint_writes_only_below_c_and_across_files() {
        let sim = SimIo::new(2);
        let mut qs = queues(&sim, 64 << 10);
        for i in 0..1_500u64 {
            qs.get_mut_or_create("T", 1)
                .push(q(i), p(i * 10), 10, i as i64);
        }
        let (writes, table) = qs.checkpoint_writes(p(7_005));
        assert_eq!(table, vec![("T".to_owned(), 1, q(0), q(701))]);
        assert_eq!(writes.len(), 2, "split at the 512-entry file boundary");
        write_all(&mut qs, p(7_005));
        assert_eq!(qs.memory().pending_entries, 1_500 - 701);
        write_all(&mut qs, p(u64::MAX));
        assert_eq!(qs.memory().pending_entries, 0);
        let all = qs.entries("T", 1, q(0), usize::MAX);
        assert_eq!(all.len(), 1_500);
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, e)| e.physical_offset == p(i as u64 * 10) && e.tags_code == i as i64));
        // Deleted below the minimum: whole files only.
        let gone = qs.trim_below(p(6_000));
        assert_eq!(gone.len(), 1);
        assert_eq!(qs.get("T", 1).unwrap().min_offset(), q(600));
        assert!(qs.memory().cache_bytes <= 64 << 10);
    }

    #[test]
    fn ensure_restart_at_higher_offset() {
        let sim = SimIo::new(3);
        let mut qs = queues(&sim, 0);
        qs.restore("T", 0, q(42), q(42));
        let cq = qs.get("T", 0).unwrap();
        assert_eq!((cq.min_offset(), cq.max_offset()), (q(42), q(42)));
        qs.get_mut_or_create("T", 0).push(q(42), p(1), 1, 0);
        assert_eq!(qs.next_offset("T", 0), q(43));
    }

    #[test]
    #[should_panic]
    fn offsets_never_go_back() {
        let mut cq = ConsumeQueue::default();
        cq.push(q(0), p(1), 1, 0);
        cq.push(q(0), p(2), 1, 0);
    }
}
