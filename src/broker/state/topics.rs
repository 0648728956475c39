//! Topic configurations: the table every shard holds a replica of, its validation rules and its file.
//!
//! Shard 0 owns the authoritative table: every change (auto-create on send, `%RETRY%` topics on
//! heartbeat, UPDATE_AND_CREATE_TOPIC) is made there, written to `topics.json` (write-temp, fsync,
//! rename), then applied to every other shard's replica before the change is acknowledged. Readers
//! (routes, sends, pulls) use their own shard's replica without crossing cores.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::remoting::body::{perm, TopicConfig};
pub use crate::remoting::headers::DEFAULT_TOPIC;

pub const RETRY_PREFIX: &str = "%RETRY%";
pub const DLQ_PREFIX: &str = "%DLQ%";
/// System topics clients may not send to (RocketMQ `TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`):
/// the broker parks delayed and transactional messages in them itself.
pub const SEND_FORBIDDEN_TOPICS: &[&str] = &[
    "SCHEDULE_TOPIC_XXXX",
    "RMQ_SYS_TRANS_HALF_TOPIC",
    "RMQ_SYS_TRANS_OP_HALF_TOPIC",
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];
/// Prefix of system topics of RocketMQ 5 (the timer wheel topic among them): sends refused too.
pub const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";

/// Whether clients are refused sending to this topic.
pub fn is_send_forbidden(topic: &str) -> bool {
    SEND_FORBIDDEN_TOPICS.contains(&topic) || topic.starts_with(SYSTEM_TOPIC_PREFIX)
}

/// Longest topic name a V1 record can carry.
pub const TOPIC_NAME_MAX_BYTES: usize = 127;

/// The part of a topic's config the request path needs, cheap to copy (no strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicView {
    pub read_queue_nums: u32,
    pub write_queue_nums: u32,
    /// [`perm`] bits.
    pub perm: i32,
}

impl TopicView {
    /// Queue ids that exist (readable or writable).
    pub fn queue_count(&self) -> u32 {
        self.read_queue_nums.max(self.write_queue_nums)
    }

    pub fn writable(&self) -> bool {
        self.perm & perm::WRITE != 0
    }

    pub fn readable(&self) -> bool {
        self.perm & perm::READ != 0
    }
}

impl From<&TopicConfig> for TopicView {
    fn from(c: &TopicConfig) -> TopicView {
        TopicView {
            read_queue_nums: c.read_queue_nums.max(0) as u32,
            write_queue_nums: c.write_queue_nums.max(0) as u32,
            perm: c.perm,
        }
    }
}

/// Why a topic name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicNameError {
    #[error("The specified topic is blank.")]
    Empty,
    #[error(
        "The specified topic is longer than topic max length {TOPIC_NAME_MAX_BYTES} ({len} bytes)."
    )]
    TooLong { len: usize },
    #[error("The specified topic: {name}, contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$")]
    IllegalChars { name: String },
}

/// RocketMQ's rule: `[%|a-zA-Z0-9_-]+`, at most 127 bytes.
pub fn validate_topic_name(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if name.len() > TOPIC_NAME_MAX_BYTES {
        return Err(TopicNameError::TooLong { len: name.len() });
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
    {
        return Err(TopicNameError::IllegalChars { name: name.into() });
    }
    Ok(())
}

/// The table of topics (one replica per shard).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicTable {
    #[serde(rename = "topicConfigTable")]
    pub topics: BTreeMap<String, TopicConfig>,
    /// Bumped on every change.
    #[serde(default)]
    pub version: u64,
}

impl TopicTable {
    /// The built-in topics: `TBW102` (8 queues, read/write/inherit) when auto-creation is on.
    pub fn with_defaults(auto_create: bool, default_queues: u32) -> TopicTable {
        let mut t = TopicTable::default();
        if auto_create {
            t.upsert(TopicConfig::new(
                DEFAULT_TOPIC,
                i32::try_from(default_queues).unwrap_or(i32::MAX),
                perm::READ_WRITE | perm::INHERIT,
            ));
        }
        t
    }

    pub fn get(&self, name: &str) -> Option<&TopicConfig> {
        self.topics.get(name)
    }

    pub fn upsert(&mut self, cfg: TopicConfig) {
        self.topics.insert(cfg.topic_name.clone(), cfg);
        self.version += 1;
    }

    /// Removes a topic; whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let had = self.topics.remove(name).is_some();
        if had {
            self.version += 1;
        }
        had
    }

    /// Loads the table; a missing file is an empty table.
    pub fn load(path: &Path) -> std::io::Result<Option<TopicTable>> {
        crate::storage::datadir::read_json(path)
    }

    /// Writes the table atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::storage::datadir::write_json(path, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("TopicTest").is_ok());
        assert!(validate_topic_name("%RETRY%group_1-a").is_ok());
        assert_eq!(validate_topic_name(""), Err(TopicNameError::Empty));
        assert!(matches!(
            validate_topic_name("a b"),
            Err(TopicNameError::IllegalChars { .. })
        ));
        assert!(matches!(
            validate_topic_name(&"x".repeat(128)),
            Err(TopicNameError::TooLong { len: 128 })
        ));
    }

    #[test]
    fn system_topics_refuse_sends() {
        assert!(is_send_forbidden("SCHEDULE_TOPIC_XXXX"));
        assert!(is_send_forbidden("RMQ_SYS_TRANS_HALF_TOPIC"));
        assert!(is_send_forbidden("rmq_sys_wheel_timer"));
        assert!(!is_send_forbidden("TopicTest"));
        assert!(
            !is_send_forbidden("%RETRY%g"),
            "retry topics take the client's fallback sends"
        );
    }

    #[test]
    fn table_round_trips_through_its_file() {
        let dir = std::env::temp_dir().join(format!("bolide-topics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("topics.json");
        assert_eq!(TopicTable::load(&path).unwrap(), None);
        let mut t = TopicTable::with_defaults(true, 8);
        t.upsert(TopicConfig::new("T1", 4, perm::READ_WRITE));
        t.save(&path).unwrap();
        assert_eq!(TopicTable::load(&path).unwrap(), Some(t));
        std::fs::remove_dir_all(&dir).ok();
    }
}
