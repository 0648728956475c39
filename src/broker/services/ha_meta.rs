//! Replication of metadata to a slave: what a master's link sends as METADATA frames and how a slave
//! applies them ([`crate::replication`]: `what` TOPICS, GROUPS, OFFSETS, DELETED, MODES).
//!
//! | what | sent on | JSON | the slave |
//! |---|---|---|---|
//! | TOPICS | every shard's link | `{name: TopicConfig}` (the whole table) | upserts each topic that differs through its shard 0 (persisted, replicated to its shards); on shard 0's link also deletes each topic the table lacks |
//! | GROUPS | shard 0's link | `{name: SubscriptionGroupConfig}` | upserts each group that differs, the same way |
//! | OFFSETS | every shard's link | `[[group, topic, queue, offset], ...]` this shard's committed offsets | commits each on the same shard (same placement: same owner), persisted by `offset_persist` |
//! | DELETED | every shard's link | `[[topic, queue, mark], ...]` this shard's store's deletion marks | the same shard's store adopts them (`MessageStore::adopt_deletions`) |
//! | MODES | shard 0's link | Java's `messageRequestMode.json` (the table is the process's) | adopts each mode that differs (persisted); keeps its own. An older slave warns of an unknown kind and goes on |
//!
//! A table is sent when its JSON differs from the last one sent on the link (checked at most once a
//! second), so a new link starts with a full copy. The topic table is also checked before every DATA
//! frame when this shard's copy changed ([`Sent::topics_moved`], one integer compare): a slave then
//! knows a new topic before it holds any of its messages. Without that, a master killed within the
//! second after creating a topic left a slave holding acknowledged messages it answered
//! TOPIC_NOT_EXIST for (found by `ReplicationTest`; the Java broker has the same window, 10 s wide).
//! Every shard's link carries the topics for that reason: the messages of shard k travel on link k.
//!
//! Deleting a topic reaches the slave twice. Its config: only shard 0's table is trusted for a
//! deletion (topics change there first; shard k's copy may lag and lack a topic just created, whose
//! messages are already on their way on link 0). Its messages: the deletion marks, which are queue
//! offsets, so records below a mark that reach the slave after it stay hidden (a lagging slave).
//!
//! Groups and offsets are not the master's alone: heartbeats to a slave create groups, and consumers
//! commit offsets on a slave while the master is away. So a slave deletes only what the master
//! deleted: a key (group name; group, topic and queue) that was in the master's previous table of
//! that kind and is not in its new one ([`MasterKeys::left`], kept per shard across links):
//!
//! | key in the master's new table | in its previous table (this process) | on the slave |
//! |---|---|---|
//! | yes | any | upserted (group) or committed (offset) |
//! | no | yes | deleted: the master deleted it (DELETE_SUBSCRIPTIONGROUP, its `cleanOffset`, a clone that replaced a group's offsets) |
//! | no | no, or no table yet | kept: the slave's own, or deleted on the master before this slave process saw it (an operator deletes it here too) |

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use bytes::Bytes;

use crate::broker::processors::operate::is_system_topic;
use crate::broker::state::groups::SubscriptionGroupConfig;
use crate::broker::state::topics::TopicConfig;
use crate::broker::{Broker, Control};
use crate::remoting::body::MessageRequestModeTable;
use crate::replication::{what, Frame};
use crate::shard::ShardId;

/// What a link last sent, per table.
#[derive(Default)]
pub struct Sent {
    last: RefCell<BTreeMap<u8, Bytes>>,
    /// The topic table's version when it was last compared.
    topics_version: std::cell::Cell<Option<u64>>,
}

impl Sent {
    /// Whether this shard's topic table changed since the last [`Sent::changed`].
    pub fn topics_moved(&self, b: &Broker) -> bool {
        self.topics_version.get() != Some(b.topics.borrow().version)
    }

    /// The METADATA frames whose table changed since the last call.
    pub fn changed(&self, b: &Broker) -> Vec<Frame> {
        let topics = {
            let t = b.topics.borrow();
            self.topics_version.set(Some(t.version));
            serde_json::to_vec(&t.topics).unwrap_or_default()
        };
        let deleted = serde_json::to_vec(&b.store.deletion_marks()).unwrap_or_default();
        let mut tables = vec![
            (what::OFFSETS, offsets_json(b)),
            (what::TOPICS, topics),
            (what::DELETED, deleted),
        ];
        if b.shard == ShardId(0) {
            let groups = serde_json::to_vec(&b.groups.borrow().groups).unwrap_or_default();
            tables.push((what::GROUPS, groups));
            tables.push((what::MODES, b.request_modes.to_json().into_bytes()));
        }
        let mut last = self.last.borrow_mut();
        let mut out = Vec::new();
        for (w, json) in tables {
            let json = Bytes::from(json);
            if last.get(&w) != Some(&json) {
                last.insert(w, json.clone());
                out.push(Frame::Metadata { what: w, json });
            }
        }
        out
    }
}

/// Slave: the keys of the master's last tables applied on a shard (see the module comment's table).
#[derive(Debug, Default)]
pub struct MasterKeys {
    groups: Option<BTreeSet<String>>,
    offsets: Option<BTreeSet<(String, String, u32)>>,
}

impl MasterKeys {
    /// The keys that left the master's table since the previous one (none for the first); `now`
    /// becomes the previous.
    fn left<K: Ord>(prev: &mut Option<BTreeSet<K>>, now: BTreeSet<K>) -> Vec<K> {
        let gone = match prev.take() {
            Some(p) => p.into_iter().filter(|k| !now.contains(k)).collect(),
            None => Vec::new(),
        };
        *prev = Some(now);
        gone
    }
}

fn offsets_json(b: &Broker) -> Vec<u8> {
    let entries = b.offsets.borrow().entries();
    serde_json::to_vec(&entries).unwrap_or_default()
}

/// Slave: applies one METADATA frame; the error says what was wrong with it.
pub async fn apply(b: &Rc<Broker>, w: u8, json: &[u8]) -> Result<(), String> {
    match w {
        what::OFFSETS => {
            let entries: Vec<(String, String, u32, i64)> =
                serde_json::from_slice(json).map_err(|e| format!("offsets: {e}"))?;
            let keys = entries
                .iter()
                .map(|(g, t, q, _)| (g.clone(), t.clone(), *q))
                .collect();
            let gone = MasterKeys::left(&mut b.ha.master_tables.borrow_mut().offsets, keys);
            let mut t = b.offsets.borrow_mut();
            for (group, topic, queue) in gone {
                t.remove(&group, &topic, queue);
            }
            for (group, topic, queue, offset) in entries {
                if t.query(&group, &topic, queue) != Some(offset) {
                    t.commit(&group, &topic, queue, offset);
                }
            }
        }
        what::TOPICS => {
            let topics: BTreeMap<String, TopicConfig> =
                serde_json::from_slice(json).map_err(|e| format!("topics: {e}"))?;
            if b.shard == ShardId(0) {
                let gone: Vec<String> = b
                    .topics
                    .borrow()
                    .topics
                    .keys()
                    .filter(|t| !topics.contains_key(*t))
                    // The broker's own topics are not the master's to delete.
                    .filter(|t| !is_system_topic(t, &b.cfg.cluster_name, &b.cfg.broker_name))
                    .cloned()
                    .collect();
                for name in gone {
                    tracing::info!(topic = %name, "topic deleted on the master: deleting it here");
                    b.control(ShardId(0), Control::DeleteTopic(name)).await;
                }
            }
            for (name, cfg) in topics {
                if b.topic(&name).as_ref() != Some(&cfg) {
                    b.control(ShardId(0), Control::UpsertTopic(cfg)).await;
                }
            }
        }
        what::DELETED => {
            let marks: Vec<(String, u32, u64)> =
                serde_json::from_slice(json).map_err(|e| format!("deletion marks: {e}"))?;
            let marks = marks
                .into_iter()
                .map(|(t, q, m)| (t, q, crate::storage::QueueOffset(m)))
                .collect();
            b.store
                .adopt_deletions(marks)
                .await
                .map_err(|e| format!("deletion marks: {e}"))?;
        }
        what::GROUPS => {
            let groups: BTreeMap<String, SubscriptionGroupConfig> =
                serde_json::from_slice(json).map_err(|e| format!("groups: {e}"))?;
            let names = groups.keys().cloned().collect();
            let gone = MasterKeys::left(&mut b.ha.master_tables.borrow_mut().groups, names);
            for name in gone {
                tracing::info!(group = %name, "group deleted on the master: deleting it here");
                b.control(ShardId(0), Control::DeleteGroup(name)).await;
            }
            for (name, cfg) in groups {
                if b.groups.borrow().groups.get(&name) != Some(&cfg) {
                    b.control(ShardId(0), Control::UpsertGroup(cfg)).await;
                }
            }
        }
        what::MODES => {
            let table = MessageRequestModeTable::parse(json).map_err(|e| format!("modes: {e}"))?;
            let modes: Vec<_> = table
                .message_request_mode_map
                .into_values()
                .flat_map(|by_group| by_group.into_values())
                .collect();
            let to = b.request_modes.clone();
            let changed = glommio::executor()
                .spawn_blocking(move || to.adopt(modes))
                .await
                .map_err(|e| format!("modes: cannot persist: {e}"))?;
            if changed > 0 {
                tracing::info!(changed, "request modes adopted from the master");
            }
        }
        other => return Err(format!("unknown metadata kind {other}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MasterKeys;
    use std::collections::BTreeSet;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_what_leaves_the_masters_table_is_deleted() {
        let mut prev = None;
        // No table yet: nothing is known to be the master's, so nothing goes.
        assert!(MasterKeys::left(&mut prev, set(&["a", "b"])).is_empty());
        // In the previous table and not in this one: deleted on the master.
        assert_eq!(MasterKeys::left(&mut prev, set(&["a", "c"])), vec!["b"]);
        // Never in a master's table (the slave's own): kept, whatever the slave holds.
        assert!(MasterKeys::left(&mut prev, set(&["a", "c"])).is_empty());
        assert_eq!(
            MasterKeys::left(&mut prev, set(&[])),
            vec!["a".to_string(), "c".to_string()]
        );
        assert!(MasterKeys::left(&mut prev, set(&["b"])).is_empty());
    }
}
