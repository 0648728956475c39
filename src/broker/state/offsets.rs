//! Consumer offsets: per (group, topic, queue) the next offset to consume, as committed by clustering
//! consumers. Each shard keeps the offsets of the queues it owns, so commits piggy-backed on pulls are
//! local. Persisted to `offsets-shard-<k>.json` (RocketMQ's `consumerOffset.json` shape,
//! `{"offsetTable":{"topic@group":{"0":12}}}`) when dirty, every `offset_persist_interval_ms`, and at
//! shutdown; written atomically. A crash loses at most one interval of commits: consumers then
//! re-consume (at-least-once), never skip.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::storage::datadir::write_atomically;

/// See the module comment.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OffsetTable {
    #[serde(rename = "offsetTable")]
    table: BTreeMap<String, BTreeMap<u32, i64>>,
    #[serde(skip)]
    dirty: bool,
}

fn key(group: &str, topic: &str) -> String {
    format!("{topic}@{group}")
}

impl OffsetTable {
    pub fn query(&self, group: &str, topic: &str, queue_id: u32) -> Option<i64> {
        self.table.get(&key(group, topic))?.get(&queue_id).copied()
    }

    pub fn commit(&mut self, group: &str, topic: &str, queue_id: u32, offset: i64) {
        let slot = self
            .table
            .entry(key(group, topic))
            .or_default()
            .entry(queue_id)
            .or_insert(-1);
        if *slot != offset {
            *slot = offset;
            self.dirty = true;
        }
    }

    /// Per (topic, queue): the lowest offset any group has committed, the consumed floor that
    /// retention keeps (storage's `set_consumed_floors`). Queues no group committed have none.
    pub fn consumed_floors(&self) -> Vec<(String, u32, u64)> {
        let mut m: BTreeMap<(String, u32), u64> = BTreeMap::new();
        for (k, qs) in &self.table {
            let Some((topic, _group)) = k.split_once('@') else {
                continue;
            };
            for (q, off) in qs {
                let off = u64::try_from(*off).unwrap_or(0);
                m.entry((topic.to_owned(), *q))
                    .and_modify(|v| *v = (*v).min(off))
                    .or_insert(off);
            }
        }
        m.into_iter().map(|((t, q), o)| (t, q, o)).collect()
    }

    /// Every committed offset: (group, topic, queue, offset), for the metrics and the console.
    pub fn entries(&self) -> Vec<(String, String, u32, i64)> {
        let mut out = Vec::new();
        for (k, qs) in &self.table {
            let Some((topic, group)) = k.split_once('@') else {
                continue;
            };
            for (q, off) in qs {
                out.push((group.to_owned(), topic.to_owned(), *q, *off));
            }
        }
        out
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn load(path: &Path) -> std::io::Result<OffsetTable> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OffsetTable::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the table if it changed since the last save.
    pub fn save_if_dirty(&mut self, path: &Path) -> std::io::Result<()> {
        if let Some(bytes) = self.take_dirty_snapshot() {
            if let Err(e) = write_atomically(path, &bytes) {
                self.dirty = true;
                return Err(e);
            }
        }
        Ok(())
    }

    /// The serialised table if it changed since the last snapshot (and now counts as clean), so the
    /// caller can write it off the shard thread; call [`OffsetTable::mark_dirty`] if that write fails.
    pub fn take_dirty_snapshot(&mut self) -> Option<Vec<u8>> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        Some(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_persist() {
        let dir = std::env::temp_dir().join(format!("bolide-offsets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("o.json");
        let mut t = OffsetTable::load(&path).unwrap();
        assert_eq!(t.query("g", "T", 0), None);
        t.commit("g", "T", 0, 7);
        t.commit("g", "T", 3, 9);
        assert!(t.is_dirty());
        t.save_if_dirty(&path).unwrap();
        assert!(!t.is_dirty());
        let back = OffsetTable::load(&path).unwrap();
        assert_eq!(back.query("g", "T", 0), Some(7));
        assert_eq!(back.query("g", "T", 3), Some(9));
        assert_eq!(back.query("other", "T", 0), None);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn consumed_floor_is_the_slowest_group_per_queue() {
        let mut t = OffsetTable::default();
        t.commit("fast", "T", 0, 90);
        t.commit("slow", "T", 0, 12);
        t.commit("fast", "T", 1, 5);
        t.commit("g", "U", 0, -1);
        assert_eq!(
            t.consumed_floors(),
            vec![
                ("T".to_owned(), 0, 12),
                ("T".to_owned(), 1, 5),
                ("U".to_owned(), 0, 0),
            ]
        );
    }
}
