//! The key index: `topic#key` (each KEYS token and the UNIQ_KEY) -> (physical offset, store time),
//! for QUERY_MESSAGE.
//!
//! Keys are stored as a stable 64-bit FNV-1a hash of `topic#key`, like Java's IndexFile (which also
//! compares hashes only): a lookup may return a colliding message, and clients re-check the key and
//! topic of what they get (remoting-protocol.md §12.1). Persisted through the dispatch files
//! ([`super::dispatch`]), rebuilt past the checkpoint on recovery from each record's properties.
//!
//! Invariants: per key, entries are in append order (increasing physical offset); entries below the
//! log's minimum offset are dropped by retention.
//!
//! Rejected: an on-disk hash like Java's (slot table + linked entries in 400 MB files): more code and
//! random reads, for a lookup the broker makes synchronously; memory is ~40 B per indexed key.

use std::collections::HashMap;

use super::PhysicalOffset;

/// Stable 64-bit FNV-1a of `topic#key` (stable across builds: it is persisted).
pub fn key_hash(topic: &str, key: &str) -> u64 {
    crate::message::fnv1a_64(&[topic.as_bytes(), b"#", key.as_bytes()])
}

#[derive(Debug, Default)]
pub struct KeyIndex {
    map: HashMap<u64, Vec<(PhysicalOffset, i64)>>,
    entries: usize,
}

impl KeyIndex {
    pub fn insert(&mut self, hash: u64, phys: PhysicalOffset, store_ts_ms: i64) {
        let v = self.map.entry(hash).or_default();
        if let Some(&(last, _)) = v.last() {
            if last >= phys {
                // Replayed (already loaded): keep the list in order and without duplicates.
                return;
            }
        }
        v.push((phys, store_ts_ms));
        self.entries += 1;
    }

    /// Newest first, at most `max`, store time within `[begin_ms, end_ms]`, at or above `log_min`.
    pub fn lookup(
        &self,
        hash: u64,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
        log_min: PhysicalOffset,
    ) -> Vec<PhysicalOffset> {
        let Some(v) = self.map.get(&hash) else {
            return Vec::new();
        };
        v.iter()
            .rev()
            .take_while(|(p, _)| *p >= log_min)
            .filter(|(_, ts)| *ts >= begin_ms && *ts <= end_ms)
            .take(max)
            .map(|(p, _)| *p)
            .collect()
    }

    pub fn trim_below(&mut self, log_min: PhysicalOffset) {
        let mut removed = 0;
        self.map.retain(|_, v| {
            let n = v.partition_point(|(p, _)| *p < log_min);
            removed += n;
            v.drain(..n);
            !v.is_empty()
        });
        self.entries -= removed;
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_newest_first_in_window() {
        let mut ix = KeyIndex::default();
        let h = key_hash("T", "k1");
        assert_ne!(h, key_hash("T", "k2"));
        assert_ne!(h, key_hash("U", "k1"));
        let p = PhysicalOffset;
        for (o, ts) in [(10, 100), (20, 200), (30, 300), (40, 400)] {
            ix.insert(h, p(o), ts);
        }
        ix.insert(h, p(30), 300); // replay: ignored
        assert_eq!(ix.len(), 4);
        let got = ix.lookup(h, 150, 350, 10, p(0));
        assert_eq!(got, vec![p(30), p(20)]);
        assert_eq!(ix.lookup(h, 0, i64::MAX, 1, p(0)), vec![p(40)]);
        assert_eq!(ix.lookup(h, 0, i64::MAX, 10, p(25)).len(), 2);
        ix.trim_below(p(25));
        assert_eq!(ix.len(), 2);
        assert!(ix
            .lookup(key_hash("T", "nope"), 0, i64::MAX, 10, p(0))
            .is_empty());
        ix.trim_below(p(1_000));
        assert!(ix.is_empty());
    }
}
