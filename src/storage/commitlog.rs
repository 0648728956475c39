//! The in-memory side of one shard's commit log: the segment table, the appender's chunks of
//! not-yet-written data, the recent-data cache, and the offsets that order them.
//!
//! Layout on disk: `commitlog/<base physical offset, 20 digits>`, each exactly `segment_size_bytes`
//! (pre-allocated), holding records back to back from offset 0; a segment ends with a blank marker
//! (`total_size u32 ‖ 0xCBD43194`, total_size covering the rest of the segment) when the next record
//! does not fit, so records never straddle segments. Shard k's first segment is at `k << 48`.
//!
//! The appender copies each record into a chunk (up to `CHUNK_BYTES`, 4 KiB-aligned in the file, never
//! crossing a segment). The flusher ([`super::flusher`]) writes whole sealed chunks, and the dirty
//! aligned tail of the active chunk (rewriting its partial last page next time), several chunks in
//! flight at once but never two writes of one chunk (they could overlap a page and land out of order).
//! Fully written sealed chunks move to the cache, which serves tail readers without touching the disk
//! (O_DIRECT has no page cache). A chunk's buffer is allocated 4 KiB-aligned and frozen when the chunk
//! is sealed ([`ChunkBuf`]), so the write of a sealed chunk hands that memory to the kernel, readers
//! slice it, and the cache takes it over, all without a copy; only the write of the open chunk's
//! tail (still appended to) copies its bytes. Buffers of chunks evicted from the cache are reused for new chunks
//! when no reader holds them: a fresh 1 MiB allocation costs 256 page faults on first touch, which
//! the first profile showed as a quarter of the append path's CPU.
//!
//! Memory: the cache, the spare buffers and the appender's chunks share one budget, the shard's
//! `cache_bytes_max` ([`LogState::fit_budget`]); the chunks are bounded by the append back-pressure
//! (at most half the budget), and the cache gives way to them while the disk is behind. Outside the
//! budget: the copies of the open chunk's tail in flight (at most one chunk) and buffers readers
//! still hold after eviction (a pull's answer until it is sent).
//!
//! Invariants (asserted): `min <= durable <= written <= tail` (in [`LogOffsets`]); chunks are contiguous and in
//! order, the last one is the active segment's; every byte in `[written, tail)` is in a chunk;
//! `written` only covers chunks written without a gap (writes may complete out of order).
//!
//! Rejected: glommio's `DmaStreamWriter` (its `sync` rewrites its whole buffer); mmap (page faults
//! stall the executor thread, which serves every other connection of the shard).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};

use super::io::{IoFile, IO_ALIGN_BYTES};
use super::offsets::{LogOffsets, PhysicalOffset};

/// RocketMQ's blank magic: the rest of the segment is padding.
pub const BLANK_MAGIC: u32 = 0xCBD4_3194;
/// Room always left at a segment's end for the blank marker.
pub const BLANK_MIN_BYTES: u64 = 8;
/// Largest piece the appender keeps and writes at once.
pub const CHUNK_BYTES: usize = 1 << 20;

/// How far ahead of the tail `copy_in` asks for chunk memory to be fetched for writing. A reused
/// chunk buffer was last touched a whole cache ago (256 MiB by default) and is cold: without the
/// prefetch, every 64-byte line of every record stalled the copy on a read-for-ownership (the
/// profile charged it to the first store after `copy_in`; a store with an 8 MiB cache ran ~25%
/// faster).
const PREFETCH_AHEAD_BYTES: usize = 8 << 10;

/// Hints the CPU to fetch `buf[from..to]` (clipped to `buf`) for writing.
fn prefetch_for_write(buf: &[u8], from: usize, to: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
        let to = to.min(buf.len());
        let mut at = from & !63;
        while at < to {
            // SAFETY: a prefetch is only a hint and never faults; the address is inside `buf`.
            unsafe { _mm_prefetch::<_MM_HINT_ET0>(buf.as_ptr().add(at).cast()) };
            at += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (buf, from, to);
}

pub fn align_down(v: u64) -> u64 {
    v & !(IO_ALIGN_BYTES - 1)
}

pub fn align_up(v: u64) -> u64 {
    align_down(v + IO_ALIGN_BYTES - 1)
}

/// File name of the segment at `base`.
pub fn segment_name(base: PhysicalOffset) -> String {
    format!("{:020}", base.get())
}

/// Parses a segment (or dispatch) file name.
pub fn parse_segment_name(name: &str) -> Option<PhysicalOffset> {
    (name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok().map(PhysicalOffset))
        .flatten()
}

pub struct Segment {
    pub base: PhysicalOffset,
    pub path: PathBuf,
    pub file: Rc<dyn IoFile>,
    /// Newest store time of a record in it (0: none known), for retention by age.
    pub last_store_ts_ms: i64,
}

/// A chunk's bytes. Open while the appender fills it (the appender's is the only reference); sealed
/// (frozen) once full, so its writes and readers share the buffer instead of copying it: a write
/// of a sealed chunk hands this very memory to the kernel (it is 4 KiB-aligned, see
/// [`aligned_zeroed`]), and a reader gets a slice of it.
pub enum ChunkBuf {
    Open(BytesMut),
    Sealed(Bytes),
}

impl std::ops::Deref for ChunkBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ChunkBuf::Open(b) => b,
            ChunkBuf::Sealed(b) => b,
        }
    }
}

impl ChunkBuf {
    /// The open buffer, to append to. A sealed chunk takes no more bytes: asking is a bug.
    fn open_mut(&mut self) -> &mut BytesMut {
        match self {
            ChunkBuf::Open(b) => b,
            ChunkBuf::Sealed(_) => panic!("a sealed chunk is not appended to"),
        }
    }

    /// The sealed buffer, shared.
    pub fn sealed(&self) -> Option<&Bytes> {
        match self {
            ChunkBuf::Open(_) => None,
            ChunkBuf::Sealed(b) => Some(b),
        }
    }

    fn freeze(&mut self) {
        if let ChunkBuf::Open(b) = self {
            *self = ChunkBuf::Sealed(std::mem::take(b).freeze());
        }
    }
}

/// A zeroed buffer of `cap` bytes whose first byte is 4 KiB-aligned, so that an O_DIRECT write can
/// take it as it is. 4 KiB more is allocated and the start skipped to the boundary (zeroed pages
/// fault in only when touched, so the spare page costs address space, not memory).
pub fn aligned_zeroed(cap: usize) -> BytesMut {
    let align = IO_ALIGN_BYTES as usize;
    let v = vec![0u8; cap + align];
    let off = v.as_ptr().align_offset(align);
    // Unique, so the conversion keeps the allocation (no copy).
    let mut b = BytesMut::from(Bytes::from(v));
    b.advance(off);
    b.truncate(cap);
    b
}

/// Whether `b` starts on a 4 KiB boundary (an O_DIRECT write can take it without a copy).
pub fn is_aligned(b: &[u8]) -> bool {
    (b.as_ptr() as usize).is_multiple_of(IO_ALIGN_BYTES as usize)
}

/// A piece of the log held in memory until written.
pub struct Chunk {
    /// Absolute physical offset of `data[0]`; 4 KiB-aligned in its file.
    pub start: PhysicalOffset,
    /// Its capacity (a multiple of 4 KiB). Bytes past `len` are undefined (a reused buffer keeps old
    /// data): [`Chunk::zero_padding`] zeroes them up to the next 4 KiB before each write of an open
    /// chunk, and [`Chunk::seal`] once for good.
    pub data: ChunkBuf,
    /// Memory its buffer holds (counted against the budget).
    pub mem: usize,
    /// Bytes in use.
    pub len: usize,
    /// Bytes of `data` known to be on disk.
    pub written: usize,
    pub seg_base: PhysicalOffset,
    /// No more bytes will be added.
    pub sealed: bool,
    /// Log offset after this chunk once sealed: `start + len`, or the segment end for a segment's last.
    pub end: PhysicalOffset,
    /// A write of this chunk is in flight (at most one at a time).
    pub in_flight: bool,
}

impl Chunk {
    fn new(
        start: PhysicalOffset,
        seg_base: PhysicalOffset,
        cap: usize,
        reuse: Option<BytesMut>,
    ) -> Chunk {
        assert!(cap > 0 && (cap as u64).is_multiple_of(IO_ALIGN_BYTES));
        // A reused buffer is not cleared (a 1 MiB memset per chunk showed in the profile).
        let data = match reuse {
            Some(mut v) => {
                v.truncate(cap);
                v.resize(cap, 0);
                v
            }
            // A buffer faulted in by the prefault thread, else a fresh one (faults in as it fills).
            None => match super::prefault::take() {
                Some(mut v) if cap <= v.len() => {
                    v.truncate(cap);
                    v
                }
                _ => aligned_zeroed(cap),
            },
        };
        Chunk {
            start,
            mem: data.capacity(),
            data: ChunkBuf::Open(data),
            len: 0,
            written: 0,
            seg_base,
            sealed: false,
            end: start,
            in_flight: false,
        }
    }

    /// Zeroes `data[len..]` up to the next 4 KiB boundary (what an aligned write sends past `len`);
    /// returns that boundary.
    pub fn zero_padding(&mut self) -> usize {
        let to = self.padded_len();
        self.data.open_mut()[self.len..to].fill(0);
        to
    }

    /// No more bytes will be added: zeroes the padding and freezes the buffer; `end` is the log
    /// offset after it.
    fn seal(&mut self, end: PhysicalOffset) {
        self.zero_padding();
        self.data.freeze();
        self.sealed = true;
        self.end = end;
    }

    /// Where a write of this chunk ends: its length rounded up to a whole page (within the buffer).
    pub fn padded_len(&self) -> usize {
        (align_up(self.len as u64) as usize).min(self.data.len())
    }

    fn covers(&self, pos: PhysicalOffset) -> bool {
        pos >= self.start && pos < self.start + self.len as u64
    }
}

/// Recently written, fully written chunks, oldest first. Its bound is the log's memory budget
/// (`cache_bytes_max`), shared with the appender's chunks and the spare buffers: see [`LogState::fit_budget`].
#[derive(Default)]
pub struct Cache {
    chunks: VecDeque<(PhysicalOffset, Bytes)>,
    bytes: usize,
    /// The log's memory budget: cache, spare buffers and the appender's chunks together.
    bytes_max: usize,
    /// Buffers of evicted chunks that no reader holds, for new chunks.
    spare: Vec<BytesMut>,
    spare_bytes: usize,
}

/// Spare chunk buffers kept at most.
const SPARE_BUFFERS_MAX: usize = 8;

impl Cache {
    pub fn new(bytes_max: usize) -> Cache {
        Cache {
            bytes_max,
            ..Default::default()
        }
    }

    /// Appends a written chunk. The caller then fits the budget ([`LogState::fit_budget`]).
    pub fn insert(&mut self, start: PhysicalOffset, b: Bytes) {
        if let Some((s, last)) = self.chunks.back() {
            assert!(start >= *s + last.len() as u64, "cache chunks out of order");
        }
        self.bytes += b.len();
        self.chunks.push_back((start, b));
    }

    /// Evicts and drops (spare buffers first, then the oldest chunks) until the cache and the spare
    /// buffers fit in the budget beside `others` bytes (the appender's chunks).
    fn fit(&mut self, others: usize) {
        while self.bytes + self.spare_bytes + others > self.bytes_max {
            if let Some(v) = self.spare.pop() {
                self.spare_bytes -= v.capacity();
            } else if let Some((_, b)) = self.chunks.pop_front() {
                self.bytes -= b.len();
            } else {
                break;
            }
        }
    }

    /// Evicts the oldest chunk; its buffer goes to the spare list when no reader holds it.
    fn evict_front(&mut self) -> bool {
        let Some((_, b)) = self.chunks.pop_front() else {
            return false;
        };
        self.bytes -= b.len();
        self.keep_spare(b);
        true
    }

    fn keep_spare(&mut self, b: Bytes) {
        if self.spare.len() >= SPARE_BUFFERS_MAX {
            return;
        }
        // Kept as a `BytesMut`: a `Vec` would move the data to the allocation's start, off the
        // 4 KiB boundary.
        if let Ok(v) = b.try_into_mut() {
            if v.capacity() >= CHUNK_BYTES && is_aligned(&v) {
                self.spare_bytes += v.capacity();
                self.spare.push(v);
            }
        }
    }

    /// A spare buffer of at least `cap` bytes of capacity, if one is kept.
    fn take_spare(&mut self, cap: usize) -> Option<BytesMut> {
        let i = self.spare.iter().position(|v| v.capacity() >= cap)?;
        let v = self.spare.swap_remove(i);
        self.spare_bytes -= v.capacity();
        Some(v)
    }

    /// A buffer for a new chunk of `cap` bytes when the appender's chunks hold `others` bytes: a
    /// spare one, or, when a fresh one would not fit in the budget, the oldest chunk's (evicted).
    /// Recycling keeps a full cache from costing a fresh allocation (and its page faults) per chunk.
    fn buffer_for_chunk(&mut self, cap: usize, others: usize) -> Option<BytesMut> {
        if let Some(v) = self.take_spare(cap) {
            return Some(v);
        }
        while self.bytes + self.spare_bytes + others + cap > self.bytes_max && self.evict_front() {
            if let Some(v) = self.take_spare(cap) {
                return Some(v);
            }
        }
        None
    }

    fn find(&self, pos: PhysicalOffset) -> Option<&(PhysicalOffset, Bytes)> {
        let i = self.chunks.partition_point(|(s, _)| *s <= pos);
        let c = self.chunks.get(i.checked_sub(1)?)?;
        (pos < c.0 + c.1.len() as u64).then_some(c)
    }

    fn next_start_after(&self, pos: PhysicalOffset) -> Option<PhysicalOffset> {
        let i = self.chunks.partition_point(|(s, _)| *s <= pos);
        self.chunks.get(i).map(|c| c.0)
    }

    pub fn trim_below(&mut self, min: PhysicalOffset) {
        while let Some((s, b)) = self.chunks.front() {
            if *s + b.len() as u64 > min {
                break;
            }
            self.evict_front();
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// What the commit log holds in memory, in bytes: the recent-data cache, the spare buffers and the
/// appender's chunks (their capacity) share `budget` (`cache_bytes_max`); the chunks alone may
/// exceed it (see [`LogState::fit_budget`]). Writes of an open chunk's tail hold a copy besides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogMemory {
    pub cache_bytes: usize,
    pub spare_bytes: usize,
    pub chunk_bytes: usize,
    pub budget_bytes: usize,
}

impl LogMemory {
    /// Everything counted against the budget.
    pub fn total(&self) -> usize {
        self.cache_bytes + self.spare_bytes + self.chunk_bytes
    }
}

pub struct LogState {
    pub dir: PathBuf,
    pub segment_size_bytes: u64,
    pub segments: BTreeMap<PhysicalOffset, Segment>,
    pub active_base: PhysicalOffset,
    /// `min` (base of the oldest segment) `<= durable <= written` (to its file, not necessarily
    /// synced) `<= tail` (next offset to assign); changed only through its asserting setter.
    pub offsets: LogOffsets,
    pub chunks: VecDeque<Chunk>,
    /// Capacity of the buffers of `chunks` (kept in step by `start_chunk` and `retire_written_chunks`,
    /// the only places that add or remove chunks).
    pub chunk_bytes: usize,
    pub cache: Cache,
    /// The pre-created segment that follows the active one.
    pub next_segment: Option<Segment>,
    /// Appends wait: the active segment is full and the next is not ready.
    pub stalled: bool,
    /// Files written since their last sync.
    pub unsynced: Vec<(PhysicalOffset, Rc<dyn IoFile>)>,
    pub last_store_ts_ms: i64,
    /// The zero fill of the active segment, while it runs (`super::flusher::fill_active`).
    pub fill: Option<Fill>,
}

/// The active segment of a fresh store is created unwritten; where the pre-allocator would prewrite
/// a segment, it also fills this one with zeros above the append position. Zeros go at and above
/// `seg_base + next`, data below it: [`write_allowed`] keeps the flusher's writes under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub seg_base: PhysicalOffset,
    /// File position of the lowest byte the fill may still write.
    pub next: u64,
}

/// Whether a data write to `[.., end)` of the segment at `seg_base` may start while `fill` runs: not
/// when it would reach the fill's range (a zero write landing after the data would erase it).
///
/// | # | fill                    | data write's end          | may start |
/// |---|-------------------------|---------------------------|-----------|
/// | 1 | none                    | -                         | yes       |
/// | 2 | of another segment      | -                         | yes       |
/// | 3 | of this segment         | at or below `base + next` | yes       |
/// | 4 | of this segment         | above `base + next`       | no: wait for the fill's next step |
pub fn write_allowed(fill: Option<Fill>, seg_base: PhysicalOffset, end: PhysicalOffset) -> bool {
    match fill {
        Some(f) if f.seg_base == seg_base => end <= f.seg_base + f.next,
        _ => true,
    }
}

impl LogState {
    pub fn segment_path(dir: &Path, base: PhysicalOffset) -> PathBuf {
        dir.join("commitlog").join(segment_name(base))
    }

    pub fn active_end(&self) -> PhysicalOffset {
        self.active_base + self.segment_size_bytes
    }

    /// Whether a data write to `[.., end)` of the segment at `seg_base` may start now
    /// ([`write_allowed`]).
    pub fn write_allowed(&self, seg_base: PhysicalOffset, end: PhysicalOffset) -> bool {
        write_allowed(self.fill, seg_base, end)
    }

    /// Bytes still free for records in the active segment (keeping room for the blank marker).
    pub fn room(&self) -> u64 {
        self.active_end() - self.offsets.tail() - BLANK_MIN_BYTES
    }

    /// Starts the chunk that begins at `start` in the active segment, holding `prefix` (recovery: the
    /// already-written bytes of a partial page).
    pub fn start_chunk(&mut self, start: PhysicalOffset, prefix: &[u8]) {
        assert_eq!(start.get() % IO_ALIGN_BYTES, 0);
        let cap = (self.active_end() - start).min(CHUNK_BYTES as u64) as usize;
        let reuse = self.cache.buffer_for_chunk(cap, self.chunk_bytes);
        let mut c = Chunk::new(start, self.active_base, cap, reuse);
        c.data.open_mut()[..prefix.len()].copy_from_slice(prefix);
        c.len = prefix.len();
        c.written = prefix.len();
        self.chunk_bytes += c.mem;
        self.chunks.push_back(c);
        self.fit_budget();
    }

    /// Keeps `cache + spare buffers + chunks <= budget` by dropping spare buffers, then the oldest
    /// cached chunks: while the disk is behind and the appender's chunks grow, the cache shrinks, and
    /// it grows back as they are written. The chunks themselves are bounded by the back-pressure
    /// bound (`StoreState::unwritten_bytes_max`, at most half the budget unless the budget is tiny),
    /// so the cache keeps at least the other half under any write load.
    pub fn fit_budget(&mut self) {
        self.cache.fit(self.chunk_bytes);
    }

    /// What the log holds in memory now.
    pub fn memory(&self) -> LogMemory {
        LogMemory {
            cache_bytes: self.cache.bytes,
            spare_bytes: self.cache.spare_bytes,
            chunk_bytes: self.chunk_bytes,
            budget_bytes: self.cache.bytes_max,
        }
    }

    /// Copies `bytes` at the tail. Returns whether a chunk was sealed (became due for writing).
    pub fn copy_in(&mut self, mut bytes: &[u8]) -> bool {
        let mut tail = self.offsets.tail();
        assert!(tail + bytes.len() as u64 <= self.active_end());
        let mut sealed = false;
        while !bytes.is_empty() {
            let c = self.chunks.back_mut().expect("active chunk");
            if c.len == c.data.len() {
                let next = c.start + c.len as u64;
                c.seal(next);
                self.start_chunk(next, &[]);
                sealed = true;
                continue;
            }
            let n = bytes.len().min(c.data.len() - c.len);
            let data = c.data.open_mut();
            data[c.len..c.len + n].copy_from_slice(&bytes[..n]);
            prefetch_for_write(
                data,
                c.len + PREFETCH_AHEAD_BYTES,
                c.len + n + PREFETCH_AHEAD_BYTES,
            );
            c.len += n;
            bytes = &bytes[n..];
            tail += n as u64;
        }
        self.offsets.set_tail(tail);
        sealed
    }

    /// Ends the active segment with a blank marker and makes `next` active. The caller checked that
    /// `next` starts where the active segment ends.
    pub fn roll(&mut self, next: Segment) {
        let end = self.active_end();
        assert_eq!(
            next.base, end,
            "next segment does not follow the active one"
        );
        let pad = end - self.offsets.tail();
        assert!(pad >= BLANK_MIN_BYTES);
        let mut blank = [0u8; 8];
        blank[..4].copy_from_slice(&(pad as u32).to_be_bytes());
        blank[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
        self.copy_in(&blank);
        self.chunks.back_mut().expect("active chunk").seal(end);
        self.offsets.set_tail(end);
        self.active_base = end;
        self.segments.insert(end, next);
        self.stalled = false;
        self.start_chunk(end, &[]);
    }

    /// Pops sealed, fully written chunks off the front into the cache; raises `written` past them,
    /// and to the written prefix of the first chunk still in memory.
    pub fn retire_written_chunks(&mut self) {
        while let Some(c) = self.chunks.front() {
            if !(c.sealed && c.written == c.len) {
                self.offsets.raise_written(c.start + c.written as u64);
                break;
            }
            let c = self.chunks.pop_front().expect("front chunk");
            self.offsets.raise_written(c.end);
            self.chunk_bytes -= c.mem;
            let ChunkBuf::Sealed(mut b) = c.data else {
                unreachable!("a retired chunk is sealed");
            };
            b.truncate(c.len);
            self.cache.insert(c.start, b);
            self.fit_budget();
        }
    }

    /// Whether some sealed chunk waits to be written (and no write of it is in flight).
    pub fn has_sealed_unwritten(&self) -> bool {
        self.chunks
            .iter()
            .any(|c| c.sealed && c.written < c.len && !c.in_flight)
    }

    /// Records that a write of the first `len` bytes of the chunk at `start` completed. `written`
    /// moves only over chunks written without a gap before them.
    pub fn chunk_written(&mut self, start: PhysicalOffset, len: usize) {
        if let Some(c) = self.chunks.iter_mut().find(|c| c.start == start) {
            c.written = c.written.max(len);
            c.in_flight = false;
        }
        self.retire_written_chunks();
    }

    /// Records that the write of the chunk at `start` failed: it is due again.
    pub fn chunk_write_failed(&mut self, start: PhysicalOffset) {
        if let Some(c) = self.chunks.iter_mut().find(|c| c.start == start) {
            c.in_flight = false;
        }
    }

    /// The in-memory bytes at `pos` (at most up to `end`), if memory holds `pos`.
    pub fn mem_piece(&self, pos: PhysicalOffset, end: PhysicalOffset) -> Option<Bytes> {
        let i = self.chunks.partition_point(|c| c.start <= pos);
        if let Some(c) = i.checked_sub(1).and_then(|i| self.chunks.get(i)) {
            if c.covers(pos) {
                let from = (pos - c.start) as usize;
                let to = ((end - c.start) as usize).min(c.len);
                // A sealed chunk's bytes are shared; the open one is still appended to.
                return Some(match c.data.sealed() {
                    Some(b) => b.slice(from..to),
                    None => Bytes::copy_from_slice(&c.data[from..to]),
                });
            }
        }
        let (s, b) = self.cache.find(pos)?;
        let from = (pos - *s) as usize;
        let to = ((end - *s) as usize).min(b.len());
        Some(b.slice(from..to))
    }

    /// Where memory next holds data after `pos` (or `u64::MAX`).
    pub fn next_mem_start(&self, pos: PhysicalOffset) -> PhysicalOffset {
        let c = self
            .chunks
            .iter()
            .map(|c| c.start)
            .find(|&s| s > pos)
            .unwrap_or(PhysicalOffset(u64::MAX));
        c.min(
            self.cache
                .next_start_after(pos)
                .unwrap_or(PhysicalOffset(u64::MAX)),
        )
    }

    /// The segment holding `pos`.
    pub fn segment_of(&self, pos: PhysicalOffset) -> Option<&Segment> {
        let (_, s) = self.segments.range(..=pos).next_back()?;
        (pos < s.base + self.segment_size_bytes).then_some(s)
    }

    /// Assembles `[pos, end)` from memory alone if it is all there (no disk read needed).
    pub fn read_mem(&self, pos: PhysicalOffset, end: PhysicalOffset) -> Option<Bytes> {
        let first = self.mem_piece(pos, end)?;
        if first.len() as u64 == end - pos {
            return Some(first);
        }
        let mut out = BytesMut::with_capacity((end - pos) as usize);
        out.extend_from_slice(&first);
        let mut at = pos + first.len() as u64;
        while at < end {
            let p = self.mem_piece(at, end)?;
            at += p.len() as u64;
            out.extend_from_slice(&p);
        }
        Some(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_allowed_rows() {
        let p = PhysicalOffset;
        let fill = Some(Fill {
            seg_base: p(1 << 30),
            next: 64 << 20,
        });
        let floor = p((1 << 30) + (64 << 20));
        assert!(write_allowed(None, p(1 << 30), floor + 4096), "row 1");
        assert!(write_allowed(fill, p(0), p(1 << 30)), "row 2");
        assert!(write_allowed(fill, p(1 << 30), floor), "row 3");
        assert!(write_allowed(fill, p(1 << 30), p(floor.0 - 4096)), "row 3");
        assert!(!write_allowed(fill, p(1 << 30), floor + 4096), "row 4");
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(
            segment_name(PhysicalOffset(1 << 48)),
            "00000281474976710656"
        );
        assert_eq!(
            parse_segment_name("00000281474976710656"),
            Some(PhysicalOffset(1 << 48))
        );
        assert_eq!(parse_segment_name("0000028147497671065"), None);
        assert_eq!(parse_segment_name("0000028147497671065x"), None);
    }

    #[test]
    fn cache_is_bounded_and_ordered() {
        let p = PhysicalOffset;
        let mut c = Cache::new(10);
        let put = |c: &mut Cache, at, b: &'static [u8]| {
            c.insert(p(at), Bytes::from_static(b));
            c.fit(0);
        };
        put(&mut c, 0, b"abcd");
        put(&mut c, 4, b"efgh");
        put(&mut c, 8, b"ijkl");
        assert_eq!(c.bytes(), 8);
        assert!(c.find(p(1)).is_none());
        assert_eq!(c.find(p(9)).map(|x| x.0), Some(p(8)));
        assert_eq!(c.next_start_after(p(5)), Some(p(8)));
        c.trim_below(p(8));
        assert_eq!(c.bytes(), 4);
        c.insert(p(100), Bytes::from(vec![0; 11])); // larger than the budget: not kept
        c.fit(0);
        assert_eq!(c.bytes(), 0);
    }

    #[test]
    fn the_cache_gives_way_to_the_appenders_chunks_and_recycles_their_buffers() {
        let p = PhysicalOffset;
        let chunk = CHUNK_BYTES as u64;
        let mut c = Cache::new(4 * CHUNK_BYTES);
        for i in 0..4u8 {
            let mut b = aligned_zeroed(CHUNK_BYTES);
            b.fill(i);
            c.insert(p(u64::from(i) * chunk), b.freeze());
            c.fit(0);
        }
        assert_eq!(c.bytes(), 4 * CHUNK_BYTES, "a full budget of cached chunks");

        // A new chunk with the budget full: the oldest cached chunk's buffer, not a fresh one.
        let v = c.buffer_for_chunk(CHUNK_BYTES, 0).expect("recycled");
        assert!(v.capacity() >= CHUNK_BYTES);
        assert!(is_aligned(&v), "still on a 4 KiB boundary");
        assert_eq!(c.bytes(), 3 * CHUNK_BYTES);
        assert!(c.find(p(0)).is_none() && c.find(p(chunk)).is_some());

        // A reader holds the next oldest: it is evicted all the same, but its buffer is not reused.
        let held = c.find(p(chunk)).map(|x| x.1.clone()).unwrap();
        assert!(c.buffer_for_chunk(CHUNK_BYTES, CHUNK_BYTES).is_none());
        assert_eq!(c.bytes() + CHUNK_BYTES + CHUNK_BYTES, 4 * CHUNK_BYTES);
        drop(held);

        // The appender's chunks grew to three: the cache keeps what is left of the budget.
        c.fit(3 * CHUNK_BYTES);
        assert_eq!(c.bytes(), CHUNK_BYTES);
        assert_eq!(
            c.find(p(3 * chunk)).map(|x| x.0),
            Some(p(3 * chunk)),
            "the newest stays"
        );
        // Spare buffers count too, and go first.
        c.trim_below(p(4 * chunk));
        // (A buffer holds up to 4 KiB more than its chunk: the room to align its start.)
        assert_eq!((c.bytes(), c.spare.len()), (0, 1));
        assert!((CHUNK_BYTES..CHUNK_BYTES + 4096).contains(&c.spare_bytes));
        c.fit(4 * CHUNK_BYTES);
        assert_eq!(c.spare_bytes, 0);

        let mut ch = Chunk::new(p(0), p(0), CHUNK_BYTES, Some(v));
        assert_eq!(ch.data.len(), CHUNK_BYTES);
        ch.data.open_mut()[..10].copy_from_slice(&[9; 10]);
        ch.len = 10;
        assert_eq!(ch.zero_padding(), 4096);
        assert!(
            ch.data[10..4096].iter().all(|&b| b == 0),
            "the padding of a reused buffer is zeroed"
        );
    }
}
