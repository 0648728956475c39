//! Consume queues: per (topic, queue), the dense sequence of 20-byte entries (physical offset i64,
//! size i32, tags code i64) that maps a queue offset to a record in the commit log.
//!
//! Held in memory (struct of arrays, exactly 20 bytes per entry) because the broker's lookups are
//! synchronous; persisted through the per-segment dispatch files ([`super::dispatch`]) and the queue
//! table of the checkpoint, and rebuilt from the commit log past the checkpoint on recovery.
//!
//! Invariants:
//! - Queue offsets are dense: entry i has queue offset `min + i`; `max = min + len` is the next offset.
//! - Physical offsets increase with queue offset (records are appended in order).
//! - A "hole" (size 0) stands for a record lost to mid-log corruption; readers skip it.
//! - Retention only removes a prefix, so `min` only grows.
//!
//! Rejected: one file per queue (Java's layout): thousands of small files to fsync before every
//! checkpoint, and retention per queue directory; the dispatch file per segment costs one fsync and
//! one unlink.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::{PhysicalOffset, QueueEntry, QueueOffset};

/// Size of one entry in Java's consume-queue unit (and in memory here).
pub const CQ_ENTRY_BYTES: usize = 20;

/// One (topic, queue).
#[derive(Debug, Default, Clone)]
pub struct ConsumeQueue {
    min: QueueOffset,
    phys: VecDeque<PhysicalOffset>,
    size: VecDeque<u32>,
    tags: VecDeque<i64>,
}

impl ConsumeQueue {
    pub fn starting_at(min: QueueOffset) -> ConsumeQueue {
        ConsumeQueue {
            min,
            ..Default::default()
        }
    }

    pub fn min_offset(&self) -> QueueOffset {
        self.min
    }

    pub fn max_offset(&self) -> QueueOffset {
        self.min + self.phys.len() as u64
    }

    pub fn len(&self) -> usize {
        self.phys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.phys.is_empty()
    }

    /// Appends the entry for queue offset `q`, which must be `max_offset()` or beyond it (the gap is
    /// filled with holes: records lost to corruption).
    pub fn push(&mut self, q: QueueOffset, phys: PhysicalOffset, size: u32, tags: i64) {
        assert!(
            q >= self.max_offset(),
            "consume queue offset {q} below max {}",
            self.max_offset()
        );
        if self.phys.is_empty() && q > self.min {
            // Nothing held yet (all expired or a fresh queue from the checkpoint table): start at q.
            self.min = q;
        }
        while self.max_offset() < q {
            self.phys.push_back(phys);
            self.size.push_back(0);
            self.tags.push_back(0);
        }
        if let Some(&last) = self.phys.back() {
            assert!(phys >= last, "consume queue physical offsets out of order");
        }
        self.phys.push_back(phys);
        self.size.push_back(size);
        self.tags.push_back(tags);
    }

    /// Raises `max_offset` to `q` without entries (queue table of the checkpoint).
    pub fn ensure_max(&mut self, q: QueueOffset) {
        if self.phys.is_empty() && q > self.min {
            self.min = q;
        }
    }

    /// Up to `max` non-hole entries from `from`.
    pub fn entries(&self, from: QueueOffset, max: usize) -> Vec<QueueEntry> {
        let start = from.max(self.min);
        let mut out = Vec::new();
        let mut i = (start - self.min) as usize;
        while i < self.phys.len() && out.len() < max {
            if self.size[i] != 0 {
                out.push(QueueEntry {
                    queue_offset: self.min + i as u64,
                    physical_offset: self.phys[i],
                    size_bytes: self.size[i],
                    tags_code: self.tags[i],
                });
            }
            i += 1;
        }
        out
    }

    /// Physical offset and size of the entry at queue offset `q` (for binary searches by store time).
    pub fn entry_at(&self, q: QueueOffset) -> Option<(PhysicalOffset, u32)> {
        let i = q.get().checked_sub(self.min.get())? as usize;
        Some((*self.phys.get(i)?, self.size[i]))
    }

    /// The next queue offset counting only records below physical offset `phys` (checkpoint table).
    pub fn offset_at(&self, phys: PhysicalOffset) -> QueueOffset {
        self.min + self.phys.partition_point(|&p| p < phys) as u64
    }

    /// Drops entries whose record is below `log_min` (deleted segments).
    pub fn trim_below(&mut self, log_min: PhysicalOffset) {
        let n = self.phys.partition_point(|&p| p < log_min);
        self.phys.drain(..n);
        self.size.drain(..n);
        self.tags.drain(..n);
        self.min += n as u64;
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

/// All queues of a shard.
#[derive(Debug, Default)]
pub struct ConsumeQueues {
    queues: HashMap<(String, u32), ConsumeQueue, BuildHasherDefault<FxHasher>>,
}

impl ConsumeQueues {
    pub fn get(&self, topic: &str, queue_id: u32) -> Option<&ConsumeQueue> {
        self.queues.get(&(topic, queue_id) as &dyn QueueKey)
    }

    pub fn get_mut_or_create(&mut self, topic: &str, queue_id: u32) -> &mut ConsumeQueue {
        // Two lookups on a miss (the first message of a queue) keep the hit allocation-free.
        if !self
            .queues
            .contains_key(&(topic, queue_id) as &dyn QueueKey)
        {
            self.queues
                .insert((topic.to_owned(), queue_id), ConsumeQueue::default());
        }
        self.queues
            .get_mut(&(topic, queue_id) as &dyn QueueKey)
            .expect("queue just ensured")
    }

    pub fn next_offset(&self, topic: &str, queue_id: u32) -> QueueOffset {
        self.get(topic, queue_id)
            .map_or(QueueOffset(0), ConsumeQueue::max_offset)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&(String, u32), &ConsumeQueue)> {
        self.queues.iter()
    }

    pub fn trim_below(&mut self, log_min: PhysicalOffset) {
        for q in self.queues.values_mut() {
            q.trim_below(log_min);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(v: u64) -> QueueOffset {
        QueueOffset(v)
    }

    fn p(v: u64) -> PhysicalOffset {
        PhysicalOffset(v)
    }

    #[test]
    fn dense_offsets_holes_and_trim() {
        let mut cq = ConsumeQueue::default();
        cq.push(q(0), p(100), 10, 7);
        cq.push(q(1), p(110), 10, 8);
        cq.push(q(3), p(130), 10, 9); // offset 2 lost to corruption: a hole
        assert_eq!((cq.min_offset(), cq.max_offset()), (q(0), q(4)));
        let e = cq.entries(q(0), 10);
        assert_eq!(
            e.iter().map(|e| e.queue_offset.0).collect::<Vec<_>>(),
            vec![0, 1, 3]
        );
        assert_eq!(e[2].physical_offset, p(130));
        assert_eq!(e[2].tags_code, 9);
        assert_eq!(cq.entries(q(1), 1).len(), 1);
        cq.trim_below(p(115));
        assert_eq!((cq.min_offset(), cq.max_offset()), (q(2), q(4)));
        assert_eq!(cq.entries(q(0), 10)[0].queue_offset, q(3));
        cq.trim_below(p(1_000));
        assert_eq!((cq.min_offset(), cq.max_offset()), (q(4), q(4)));
        assert!(cq.entries(q(0), 10).is_empty());
        cq.push(q(4), p(2_000), 5, 0);
        assert_eq!((cq.min_offset(), cq.max_offset()), (q(4), q(5)));
    }

    #[test]
    fn lookups_by_borrowed_key_find_owned_keys() {
        let mut qs = ConsumeQueues::default();
        for t in [
            "TopicTest",
            "A",
            "a-much-longer-topic-name-than-eight-bytes",
        ] {
            for i in 0..4 {
                qs.get_mut_or_create(t, i).push(q(0), p(u64::from(i)), 1, 0);
            }
        }
        assert_eq!(qs.iter().count(), 12);
        assert_eq!(qs.next_offset("TopicTest", 3), q(1));
        assert_eq!(
            qs.get("A", 2).map(|cq| cq.entry_at(q(0))),
            Some(Some((p(2), 1)))
        );
        assert!(qs.get("A", 4).is_none());
        assert!(qs.get("B", 0).is_none());
        qs.get_mut_or_create("A", 2).push(q(1), p(5), 1, 0);
        assert_eq!(qs.next_offset("A", 2), q(2));
        assert_eq!(qs.iter().count(), 12);
    }

    #[test]
    fn ensure_max_moves_an_empty_queue() {
        let mut cq = ConsumeQueue::default();
        cq.ensure_max(q(42));
        assert_eq!((cq.min_offset(), cq.max_offset()), (q(42), q(42)));
        cq.push(q(42), p(1), 1, 0);
        assert_eq!(cq.max_offset(), q(43));
    }

    #[test]
    #[should_panic]
    fn offsets_never_go_back() {
        let mut cq = ConsumeQueue::default();
        cq.push(q(0), p(1), 1, 0);
        cq.push(q(0), p(2), 1, 0);
    }
}
