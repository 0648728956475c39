//! Subscription-group configurations (retryMaxTimes, retryQueueNums, consumeEnable, ...): the table
//! every shard holds a replica of, and its file `subscriptionGroups.json`.
//!
//! Kept like the topic table: shard 0 owns the authoritative copy; every change
//! (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, DELETE_SUBSCRIPTIONGROUP, the auto-creation of a group the
//! broker first hears of in a heartbeat or a send-back) is made there, written atomically, and applied
//! to every other shard's replica before it is acknowledged. Readers (pull, send-back) use their own
//! shard's replica. A group with no entry behaves as Java's auto-created one
//! ([`SubscriptionGroupConfig::new`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::remoting::body::SubscriptionGroupConfig;

/// File name of the table in the data directory.
pub const GROUPS_FILE: &str = "subscriptionGroups.json";

/// See the module comment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupTable {
    #[serde(rename = "subscriptionGroupTable")]
    pub groups: BTreeMap<String, SubscriptionGroupConfig>,
    /// Bumped on every change.
    #[serde(default)]
    pub version: u64,
}

impl GroupTable {
    pub fn get(&self, name: &str) -> Option<&SubscriptionGroupConfig> {
        self.groups.get(name)
    }

    /// The group's config, or the one Java would auto-create for it.
    pub fn effective(&self, name: &str) -> SubscriptionGroupConfig {
        self.get(name)
            .cloned()
            .unwrap_or_else(|| SubscriptionGroupConfig::new(name))
    }

    pub fn upsert(&mut self, cfg: SubscriptionGroupConfig) {
        self.groups.insert(cfg.group_name.clone(), cfg);
        self.version += 1;
    }

    pub fn remove(&mut self, name: &str) -> bool {
        let had = self.groups.remove(name).is_some();
        if had {
            self.version += 1;
        }
        had
    }

    /// Loads the table; a missing file is an empty table.
    pub fn load(path: &Path) -> std::io::Result<GroupTable> {
        Ok(crate::storage::datadir::read_json(path)?.unwrap_or_default())
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
    fn table_round_trips_through_its_file_and_defaults_unknown_groups() {
        let dir = std::env::temp_dir().join(format!("bolide-groups-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(GROUPS_FILE);
        assert_eq!(GroupTable::load(&path).unwrap(), GroupTable::default());
        let mut t = GroupTable::default();
        let mut g = SubscriptionGroupConfig::new("g1");
        g.retry_max_times = 2;
        g.consume_enable = false;
        t.upsert(g.clone());
        t.save(&path).unwrap();
        let back = GroupTable::load(&path).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.effective("g1"), g);
        assert_eq!(back.effective("other").retry_max_times, 16);
        let mut t = back;
        assert!(t.remove("g1"));
        assert!(!t.remove("g1"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
