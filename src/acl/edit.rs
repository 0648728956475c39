//! Changes to the accounts file asked for over the wire: RocketMQ 4.x's ACL admin codes, which
//! `mqadmin updateAclConfig`, `deleteAclConfig` and `updateGlobalWhiteAddr` send (50, 51, 53).
//!
//! Pure functions on the file's YAML tree, so that an edit keeps everything it does not touch (the
//! other accounts, their order, keys we do not read), and each rule is tested without a file. The
//! caller ([`super::Acl::edit`]) reads the file, applies one edit, bumps the version, checks the
//! result parses as accounts ([`super::AclConfig::parse`]: an edit that would make the file
//! unreadable is refused and nothing is written), and replaces the file.
//!
//! An account update follows RocketMQ's `PlainPermissionManager.createAclAccessConfigMap`:
//!
//! | field of the request | absent | present |
//! |---|---|---|
//! | `accessKey` | refused | the account to change, created at the end of the list if new |
//! | `secretKey` | kept (a new account without one is refused) | replaced |
//! | `whiteRemoteAddress` | kept | replaced (empty: no address pattern) |
//! | `admin` | set to false, as RocketMQ's tool always sends it | set |
//! | `defaultTopicPerm`, `defaultGroupPerm` | kept | replaced |
//! | `topicPerms`, `groupPerms` (comma-separated) | kept | replaced (empty: no entries) |
//!
//! The version is RocketMQ's `dataVersion: [{counter, timestamp}]` entry of the file, which
//! GET_BROKER_CLUSTER_ACL_INFO (52, `mqadmin clusterAclConfigVersion`) reports. YAML comments do not
//! survive an edit (the tree does not hold them), as with RocketMQ's own rewrite of the file.

use serde_yaml_ng::{Mapping, Value};

/// One account's change, as UPDATE_AND_CREATE_ACL_CONFIG (50) carries it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct AccountChange {
    pub access_key: String,
    pub secret_key: Option<String>,
    pub white_remote_address: Option<String>,
    pub admin: bool,
    pub default_topic_perm: Option<String>,
    pub default_group_perm: Option<String>,
    pub topic_perms: Option<Vec<String>>,
    pub group_perms: Option<Vec<String>>,
}

impl std::fmt::Debug for AccountChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountChange")
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("white_remote_address", &self.white_remote_address)
            .field("admin", &self.admin)
            .field("default_topic_perm", &self.default_topic_perm)
            .field("default_group_perm", &self.default_group_perm)
            .field("topic_perms", &self.topic_perms)
            .field("group_perms", &self.group_perms)
            .finish()
    }
}

/// A comma-separated list as RocketMQ's tool joins it; empty entries are dropped.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

fn key(k: &str) -> Value {
    Value::String(k.to_string())
}

/// The file's top-level mapping; an empty file is an empty mapping.
fn root_mapping(root: &mut Value) -> Result<&mut Mapping, String> {
    if root.is_null() {
        *root = Value::Mapping(Mapping::new());
    }
    root.as_mapping_mut()
        .ok_or_else(|| "the accounts file's top level is not a mapping".to_string())
}

/// The `accounts` list, created when absent.
fn accounts(root: &mut Value) -> Result<&mut Vec<Value>, String> {
    let map = root_mapping(root)?;
    let slot = map
        .entry(key("accounts"))
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if slot.is_null() {
        *slot = Value::Sequence(Vec::new());
    }
    slot.as_sequence_mut()
        .ok_or_else(|| "`accounts` in the accounts file is not a list".to_string())
}

fn is_account(v: &Value, access_key: &str) -> bool {
    v.get("accessKey")
        .and_then(super::accounts::scalar)
        .as_deref()
        == Some(access_key)
}

/// Creates or updates one account (the table in the module comment). Returns true when created.
pub fn upsert_account(root: &mut Value, c: &AccountChange) -> Result<bool, String> {
    if c.access_key.trim().is_empty() {
        return Err("accessKey is missing".into());
    }
    let list = accounts(root)?;
    let found = list.iter().position(|a| is_account(a, &c.access_key));
    let created = found.is_none();
    if created && c.secret_key.as_deref().is_none_or(str::is_empty) {
        return Err(format!(
            "account `{}` is new and needs a secretKey",
            c.access_key
        ));
    }
    let idx = match found {
        Some(i) => i,
        None => {
            list.push(Value::Mapping(Mapping::new()));
            list.len() - 1
        }
    };
    let m = list[idx]
        .as_mapping_mut()
        .ok_or_else(|| format!("account `{}` in the file is not a mapping", c.access_key))?;
    m.insert(key("accessKey"), key(&c.access_key));
    if let Some(s) = c.secret_key.as_deref().filter(|s| !s.is_empty()) {
        m.insert(key("secretKey"), key(s));
    }
    if let Some(w) = &c.white_remote_address {
        m.insert(key("whiteRemoteAddress"), key(w));
    }
    m.insert(key("admin"), Value::Bool(c.admin));
    for (name, v) in [
        ("defaultTopicPerm", &c.default_topic_perm),
        ("defaultGroupPerm", &c.default_group_perm),
    ] {
        if let Some(p) = v.as_deref().filter(|p| !p.is_empty()) {
            m.insert(key(name), key(p));
        }
    }
    for (name, v) in [
        ("topicPerms", &c.topic_perms),
        ("groupPerms", &c.group_perms),
    ] {
        if let Some(entries) = v {
            let seq = entries.iter().map(|e| key(e)).collect();
            m.insert(key(name), Value::Sequence(seq));
        }
    }
    Ok(created)
}

/// Removes one account. Returns false when the file has no account with that key.
pub fn delete_account(root: &mut Value, access_key: &str) -> Result<bool, String> {
    let list = accounts(root)?;
    let before = list.len();
    list.retain(|a| !is_account(a, access_key));
    Ok(list.len() != before)
}

/// Replaces `globalWhiteRemoteAddresses` (an empty list clears it).
pub fn set_global_white(root: &mut Value, addrs: &[String]) -> Result<(), String> {
    let seq = addrs.iter().map(|a| key(a)).collect();
    root_mapping(root)?.insert(key("globalWhiteRemoteAddresses"), Value::Sequence(seq));
    Ok(())
}

/// The file's `dataVersion` as (counter, timestamp); (0, 0) when it has none.
pub fn data_version(root: &Value) -> (i64, i64) {
    let entry = match root.get("dataVersion") {
        Some(Value::Sequence(s)) => s.first(),
        Some(v @ Value::Mapping(_)) => Some(v),
        _ => None,
    };
    let num = |k: &str| {
        entry
            .and_then(|e| e.get(k))
            .and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(0)
    };
    (num("counter"), num("timestamp"))
}

/// Counts one more change at `now_ms`, written as RocketMQ writes it; returns the new version.
pub fn bump_version(root: &mut Value, now_ms: i64) -> Result<(i64, i64), String> {
    let (counter, _) = data_version(root);
    let mut entry = Mapping::new();
    entry.insert(key("counter"), Value::from(counter + 1));
    entry.insert(key("timestamp"), Value::from(now_ms));
    root_mapping(root)?.insert(
        key("dataVersion"),
        Value::Sequence(vec![Value::Mapping(entry)]),
    );
    Ok((counter + 1, now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::AclConfig;

    const FILE: &str = r#"
globalWhiteRemoteAddresses:
  - 10.10.103.*
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress: 192.168.0.*
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
  - accessKey: rocketmq2
    secretKey: 12345678
    admin: true
"#;

    fn tree() -> Value {
        serde_yaml_ng::from_str(FILE).unwrap()
    }

    fn parsed(v: &Value) -> AclConfig {
        AclConfig::parse(&serde_yaml_ng::to_string(v).unwrap()).unwrap()
    }

    fn change(ak: &str) -> AccountChange {
        AccountChange {
            access_key: ak.into(),
            ..Default::default()
        }
    }

    /// The module table, row by row, on an existing account.
    #[test]
    fn update_follows_the_table() {
        // Nothing but the key: everything kept, admin set to false.
        let mut v = tree();
        assert_eq!(upsert_account(&mut v, &change("rocketmq2")), Ok(false));
        let a = &parsed(&v).accounts["rocketmq2"];
        assert_eq!(a.secret_key, "12345678");
        assert!(!a.admin);

        // Every field present replaces.
        let mut v = tree();
        let c = AccountChange {
            secret_key: Some("newsecret".into()),
            white_remote_address: Some("127.0.0.1".into()),
            admin: true,
            default_topic_perm: Some("PUB".into()),
            default_group_perm: Some("DENY".into()),
            topic_perms: Some(vec!["topicB=PUB|SUB".into()]),
            group_perms: Some(vec!["groupA=SUB".into()]),
            ..change("RocketMQ")
        };
        assert_eq!(upsert_account(&mut v, &c), Ok(false));
        let cfg = parsed(&v);
        let a = &cfg.accounts["RocketMQ"];
        assert_eq!(a.secret_key, "newsecret");
        assert!(a.admin);
        assert_eq!(a.default_topic_perm, crate::acl::Perm::PUB);
        assert_eq!(a.default_group_perm, crate::acl::Perm::DENY);
        assert!(a.topic_perms.contains_key("topicB") && !a.topic_perms.contains_key("topicA"));
        assert!(a.group_perms.contains_key("groupA"));
        assert!(a.white_remote_address.is_some());
        // The other account and the global list are untouched.
        assert!(cfg.accounts["rocketmq2"].admin);
        assert_eq!(cfg.global_white.len(), 1);

        // Empty lists and an empty address clear; empty perms and secret are kept.
        let mut v = tree();
        let c = AccountChange {
            secret_key: Some(String::new()),
            white_remote_address: Some(String::new()),
            default_topic_perm: Some(String::new()),
            topic_perms: Some(vec![]),
            ..change("RocketMQ")
        };
        upsert_account(&mut v, &c).unwrap();
        let a = &parsed(&v).accounts["RocketMQ"];
        assert_eq!(a.secret_key, "12345678");
        assert!(a.white_remote_address.is_none());
        assert_eq!(a.default_topic_perm, crate::acl::Perm::DENY);
        assert!(a.topic_perms.is_empty());
    }

    #[test]
    fn new_accounts_need_a_key_and_a_secret_and_go_last() {
        let mut v = tree();
        assert!(upsert_account(&mut v, &change(" ")).is_err());
        let err = upsert_account(&mut v, &change("newuser1")).unwrap_err();
        assert!(err.contains("needs a secretKey"), "{err}");
        let c = AccountChange {
            secret_key: Some("newsecret1".into()),
            ..change("newuser1")
        };
        assert_eq!(upsert_account(&mut v, &c), Ok(true));
        let list = v["accounts"].as_sequence().unwrap();
        assert!(is_account(&list[2], "newuser1"));
        assert_eq!(parsed(&v).accounts.len(), 3);
        // An empty file takes its first account.
        let mut empty = Value::Null;
        assert_eq!(upsert_account(&mut empty, &c), Ok(true));
        assert_eq!(parsed(&empty).accounts.len(), 1);
    }

    #[test]
    fn delete_removes_only_that_account() {
        let mut v = tree();
        assert_eq!(delete_account(&mut v, "nobody"), Ok(false));
        assert_eq!(delete_account(&mut v, "RocketMQ"), Ok(true));
        let cfg = parsed(&v);
        assert_eq!(cfg.accounts.len(), 1);
        assert!(cfg.accounts.contains_key("rocketmq2"));
    }

    #[test]
    fn global_white_list_is_replaced_or_cleared() {
        let mut v = tree();
        set_global_white(&mut v, &split_list(" 127.0.0.1, 10.0.0.*,,")).unwrap();
        assert_eq!(parsed(&v).global_white.len(), 2);
        set_global_white(&mut v, &split_list("")).unwrap();
        assert!(parsed(&v).global_white.is_empty());
    }

    #[test]
    fn version_counts_changes_in_rocketmqs_shape() {
        let mut v = tree();
        assert_eq!(data_version(&v), (0, 0));
        assert_eq!(bump_version(&mut v, 1000), Ok((1, 1000)));
        assert_eq!(bump_version(&mut v, 2000), Ok((2, 2000)));
        let text = serde_yaml_ng::to_string(&v).unwrap();
        let back: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(data_version(&back), (2, 2000));
        assert!(back["dataVersion"].is_sequence(), "{text}");
        // A file RocketMQ wrote.
        let java: Value =
            serde_yaml_ng::from_str("dataVersion:\n- counter: 7\n  timestamp: 1690000000000\n")
                .unwrap();
        assert_eq!(data_version(&java), (7, 1_690_000_000_000));
        // And the accounts parser reads a file with a version.
        assert_eq!(parsed(&back).accounts.len(), 2);
    }

    #[test]
    fn a_file_that_is_not_a_mapping_is_refused() {
        let mut v = Value::Sequence(vec![]);
        assert!(upsert_account(&mut v, &change("abcdefg")).is_err());
        let mut v: Value = serde_yaml_ng::from_str("accounts: 5\n").unwrap();
        assert!(delete_account(&mut v, "abcdefg").is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = AccountChange {
            secret_key: Some("topsecret9".into()),
            ..change("abcdefg")
        };
        assert!(!format!("{c:?}").contains("topsecret9"));
    }
}
