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

    /// Forgets every committed offset of `group` (DELETE_SUBSCRIPTIONGROUP with cleanOffset).
    pub fn remove_group(&mut self, group: &str) {
        let before = self.table.len();
        // Keys are `topic@group`; topic names cannot hold '@'.
        self.table
            .retain(|k, _| k.split_once('@').map(|(_, g)| g) != Some(group));
        if self.table.len() != before {
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

    /// [`OffsetTable::consumed_floors`], plus floor 0 (keep everything not expired) for each queue of
    /// `queues` whose topic a clustering group subscribed to (`subscribed`: (group, topic), from
    /// heartbeats) without having committed an offset for that queue yet: such a group has consumed
    /// nothing the broker knows of. A RocketMQ user expects a subscribed group's backlog to stay; once
    /// it commits, its floor is its offset. Broadcasting groups keep offsets on the client: not here.
    pub fn consumed_floors_with_subscribers(
        &self,
        queues: &[(String, u32)],
        subscribed: &[(String, String)],
    ) -> Vec<(String, u32, u64)> {
        let mut m: BTreeMap<(String, u32), u64> = self
            .consumed_floors()
            .into_iter()
            .map(|(t, q, o)| ((t, q), o))
            .collect();
        let mut groups_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (g, t) in subscribed {
            groups_of.entry(t.as_str()).or_default().push(g.as_str());
        }
        for (t, q) in queues {
            let Some(groups) = groups_of.get(t.as_str()) else {
                continue;
            };
            if groups.iter().any(|g| self.query(g, t, *q).is_none()) {
                m.insert((t.clone(), *q), 0);
            }
        }
        m.into_iter().map(|((t, q), o)| (t, q, o)).collect()
    }

    /// Topics `group` has committed offsets for, sorted.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        self.table
            .keys()
            .filter_map(|k| k.split_once('@'))
            .filter(|(_, g)| *g == group)
            .map(|(t, _)| t.to_owned())
            .collect()
    }

    /// Groups that committed offsets for `topic`, sorted.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .table
            .keys()
            .filter_map(|k| k.split_once('@'))
            .filter(|(t, _)| *t == topic)
            .map(|(_, g)| g.to_owned())
            .collect();
        v.sort();
        v
    }

    /// CLONE_GROUP_OFFSET: `dest`'s offsets of `topic` become a copy of `src`'s (as the Java
    /// broker: replaced as a whole, and left alone when `src` has none here). Whether it copied.
    pub fn clone_offsets(&mut self, src: &str, dest: &str, topic: &str) -> bool {
        let Some(from) = self.table.get(&key(src, topic)).cloned() else {
            return false;
        };
        let slot = self.table.entry(key(dest, topic)).or_default();
        if *slot != from {
            *slot = from;
            self.dirty = true;
        }
        true
    }

    /// Forgets one committed offset (a slave, after its master dropped it).
    pub fn remove(&mut self, group: &str, topic: &str, queue_id: u32) {
        let k = key(group, topic);
        let Some(qs) = self.table.get_mut(&k) else {
            return;
        };
        if qs.remove(&queue_id).is_some() {
            self.dirty = true;
            if qs.is_empty() {
                self.table.remove(&k);
            }
        }
    }

    /// Forgets every group's offsets of `topic` (the topic was deleted).
    pub fn remove_topic(&mut self, topic: &str) {
        let before = self.table.len();
        self.table
            .retain(|k, _| k.split_once('@').map(|(t, _)| t) != Some(topic));
        if self.table.len() != before {
            self.dirty = true;
        }
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
        Ok(crate::storage::datadir::read_json(path)?.unwrap_or_default())
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
    fn clone_replaces_the_destination_topic_and_leaves_the_rest() {
        let mut t = OffsetTable::default();
        t.commit("src", "T", 0, 5);
        t.commit("src", "T", 1, 7);
        t.commit("src", "U", 0, 1);
        t.commit("dst", "T", 2, 99);
        t.commit("dst", "V", 0, 3);
        t.dirty = false;
        assert!(t.clone_offsets("src", "dst", "T"));
        assert!(t.is_dirty());
        assert_eq!(t.query("dst", "T", 0), Some(5));
        assert_eq!(t.query("dst", "T", 1), Some(7));
        assert_eq!(
            t.query("dst", "T", 2),
            None,
            "replaced as a whole, as in Java"
        );
        assert_eq!(t.query("dst", "U", 0), None, "other topics are not copied");
        assert_eq!(
            t.query("dst", "V", 0),
            Some(3),
            "the destination's other topics stay"
        );
        assert_eq!(t.query("src", "T", 0), Some(5), "the source is unchanged");
        t.dirty = false;
        assert!(t.clone_offsets("src", "dst", "T"), "the same copy again");
        assert!(!t.is_dirty(), "nothing changed, nothing to persist");
        assert!(!t.clone_offsets("nobody", "dst", "T"));
        assert_eq!(
            t.query("dst", "T", 0),
            Some(5),
            "no source here: left alone"
        );
    }

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
    fn topics_and_groups_by_each_other_and_topic_removal() {
        let mut t = OffsetTable::default();
        t.commit("g1", "T", 0, 1);
        t.commit("g1", "U", 0, 1);
        t.commit("g2", "T", 1, 1);
        assert_eq!(t.topics_of_group("g1"), vec!["T", "U"]);
        assert_eq!(t.groups_of_topic("T"), vec!["g1", "g2"]);
        t.save_if_dirty(
            &std::env::temp_dir().join(format!("bolide-off-rm-{}", std::process::id())),
        )
        .unwrap();
        t.remove_topic("T");
        assert!(t.is_dirty());
        assert_eq!(t.groups_of_topic("T"), Vec::<String>::new());
        assert_eq!(t.topics_of_group("g1"), vec!["U"]);
        std::fs::remove_file(
            std::env::temp_dir().join(format!("bolide-off-rm-{}", std::process::id())),
        )
        .ok();
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

    #[test]
    fn a_subscribed_group_without_commits_keeps_its_queues() {
        let mut t = OffsetTable::default();
        t.commit("fast", "T", 0, 90);
        t.commit("new", "T", 1, 40);
        let queues: Vec<(String, u32)> = [("T", 0), ("T", 1), ("T", 2), ("V", 0)]
            .iter()
            .map(|(t, q)| (t.to_string(), *q))
            .collect();
        let subs = vec![
            ("new".to_owned(), "T".to_owned()),
            ("fast".to_owned(), "T".to_owned()),
        ];
        // Rows: T/0 "new" never committed there -> 0; T/1 "new" committed, "fast" not -> 0, as
        // "fast" has no commit on queue 1; T/2 nobody committed, subscribed -> 0; V/0 nobody subscribed,
        // nobody committed -> no floor.
        assert_eq!(
            t.consumed_floors_with_subscribers(&queues, &subs),
            vec![
                ("T".to_owned(), 0, 0),
                ("T".to_owned(), 1, 0),
                ("T".to_owned(), 2, 0),
            ]
        );
        t.commit("fast", "T", 1, 50);
        t.commit("new", "T", 0, 70);
        t.commit("fast", "T", 2, 3);
        t.commit("new", "T", 2, 4);
        assert_eq!(
            t.consumed_floors_with_subscribers(&queues, &subs),
            vec![
                ("T".to_owned(), 0, 70),
                ("T".to_owned(), 1, 40),
                ("T".to_owned(), 2, 3),
            ]
        );
        // Without subscribers, exactly the committed floors.
        assert_eq!(
            t.consumed_floors_with_subscribers(&queues, &[]),
            t.consumed_floors()
        );
    }
}
