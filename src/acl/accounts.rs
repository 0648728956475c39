//! The ACL accounts file: RocketMQ's `plain_acl.yml` format, so operators bring the file they run
//! today (`globalWhiteRemoteAddresses`, `accounts` with `accessKey`, `secretKey`,
//! `whiteRemoteAddress`, `admin`, `defaultTopicPerm`, `defaultGroupPerm`, `topicPerms`, `groupPerms`).
//!
//! Parsing is strict where a mistake would open the broker (an account without a key or with a
//! secret shorter than 6 characters, a duplicate access key, an unreadable permission or address
//! pattern are errors: the file is refused and the previous one stays in force) and lenient where
//! YAML is (a secret written as a number is its text). Secrets never reach `Debug` or logs.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde_yaml_ng::Value;

/// A permission set: RocketMQ's bits (DENY 1, PUB 4, SUB 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm(u8);

impl Perm {
    pub const DENY: Perm = Perm(1);
    pub const PUB: Perm = Perm(4);
    pub const SUB: Perm = Perm(8);
    pub const PUB_SUB: Perm = Perm(12);

    /// `DENY`, `PUB`, `SUB`, `PUB|SUB` or `SUB|PUB` (case as written by RocketMQ; anything else is an error).
    pub fn parse(s: &str) -> Result<Perm, String> {
        match s.trim() {
            "DENY" => Ok(Perm::DENY),
            "PUB" => Ok(Perm::PUB),
            "SUB" => Ok(Perm::SUB),
            "PUB|SUB" | "SUB|PUB" => Ok(Perm::PUB_SUB),
            other => Err(format!(
                "unknown permission `{other}` (DENY, PUB, SUB, PUB|SUB)"
            )),
        }
    }

    /// Whether holding `self` grants `need` (DENY grants nothing).
    pub fn grants(self, need: Perm) -> bool {
        self.0 & Perm::DENY.0 == 0 && self.0 & need.0 == need.0
    }
}

/// One address pattern of RocketMQ's `RemoteAddressStrategyFactory`: `*` (or `*.*.*.*`), an exact
/// IPv4 address, or four parts each a number, `*`, a range `a-b` or a set `{a,b,c}`; a comma list of
/// such patterns matches when any does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrPattern(Vec<[Part; 4]>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Any,
    Range(u8, u8),
    Set(Vec<u8>),
}

impl AddrPattern {
    pub fn parse(s: &str) -> Result<AddrPattern, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty address pattern".into());
        }
        // A comma list, except inside braces.
        let mut alternatives = Vec::new();
        let (mut depth, mut start) = (0, 0);
        for (i, c) in s.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    alternatives.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        alternatives.push(&s[start..]);
        let mut out = Vec::new();
        for alt in alternatives {
            out.push(
                Self::parse_one(alt.trim()).map_err(|e| format!("address pattern `{s}`: {e}"))?,
            );
        }
        Ok(AddrPattern(out))
    }

    fn parse_one(s: &str) -> Result<[Part; 4], String> {
        if s == "*" {
            return Ok([Part::Any, Part::Any, Part::Any, Part::Any]);
        }
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 4 {
            return Err(format!("`{s}` is not four dot-separated parts"));
        }
        let num = |p: &str| {
            p.trim()
                .parse::<u8>()
                .map_err(|_| format!("`{p}` is not 0..255"))
        };
        let mut out = [Part::Any, Part::Any, Part::Any, Part::Any];
        for (i, p) in parts.iter().enumerate() {
            out[i] = if *p == "*" {
                Part::Any
            } else if let Some(set) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Part::Set(set.split(',').map(num).collect::<Result<_, _>>()?)
            } else if let Some((a, b)) = p.split_once('-') {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("range `{p}` is empty"));
                }
                Part::Range(a, b)
            } else {
                let n = num(p)?;
                Part::Range(n, n)
            };
        }
        Ok(out)
    }

    pub fn matches(&self, ip: Ipv4Addr) -> bool {
        let octets = ip.octets();
        self.0.iter().any(|parts| {
            parts.iter().zip(octets).all(|(p, o)| match p {
                Part::Any => true,
                Part::Range(a, b) => (*a..=*b).contains(&o),
                Part::Set(v) => v.contains(&o),
            })
        })
    }
}

/// One account.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub access_key: String,
    pub secret_key: String,
    pub white_remote_address: Option<AddrPattern>,
    pub admin: bool,
    pub default_topic_perm: Perm,
    pub default_group_perm: Perm,
    pub topic_perms: HashMap<String, Perm>,
    /// Keyed by the plain group name.
    pub group_perms: HashMap<String, Perm>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("white_remote_address", &self.white_remote_address)
            .field("admin", &self.admin)
            .field("default_topic_perm", &self.default_topic_perm)
            .field("default_group_perm", &self.default_group_perm)
            .field("topic_perms", &self.topic_perms)
            .field("group_perms", &self.group_perms)
            .finish()
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclConfig {
    pub global_white: Vec<AddrPattern>,
    pub accounts: HashMap<String, Account>,
}

/// A YAML scalar as text (a secret written `12345678` is a number to YAML, text to RocketMQ).
pub(super) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn field<'a>(map: &'a serde_yaml_ng::Mapping, key: &str) -> Option<&'a Value> {
    map.get(Value::String(key.to_string()))
        .filter(|v| !v.is_null())
}

/// `topic=PERM` entries.
fn perm_list(v: Option<&Value>, what: &str) -> Result<HashMap<String, Perm>, String> {
    let mut out = HashMap::new();
    let Some(v) = v else { return Ok(out) };
    let seq = v
        .as_sequence()
        .ok_or_else(|| format!("{what} must be a list of `name=PERM`"))?;
    for item in seq {
        let s = scalar(item).ok_or_else(|| format!("{what}: entries are `name=PERM` strings"))?;
        let (name, perm) = s
            .split_once('=')
            .ok_or_else(|| format!("{what}: `{s}` is not `name=PERM`"))?;
        out.insert(
            name.trim().to_string(),
            Perm::parse(perm).map_err(|e| format!("{what} `{s}`: {e}"))?,
        );
    }
    Ok(out)
}

impl AclConfig {
    /// Parses a `plain_acl.yml`. The error names the account (by access key, never the secret).
    pub fn parse(text: &str) -> Result<AclConfig, String> {
        let root: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
        let Some(root) = root.as_mapping() else {
            return if root.is_null() {
                Ok(AclConfig::default())
            } else {
                Err("the top level must be a mapping".into())
            };
        };
        let mut cfg = AclConfig::default();
        if let Some(v) = field(root, "globalWhiteRemoteAddresses") {
            let seq = v
                .as_sequence()
                .ok_or("globalWhiteRemoteAddresses must be a list")?;
            for item in seq {
                let s = scalar(item).ok_or("globalWhiteRemoteAddresses: entries are strings")?;
                cfg.global_white.push(AddrPattern::parse(&s)?);
            }
        }
        let accounts = match field(root, "accounts") {
            None => return Ok(cfg),
            Some(v) => v.as_sequence().ok_or("accounts must be a list")?,
        };
        for (i, a) in accounts.iter().enumerate() {
            let m = a
                .as_mapping()
                .ok_or_else(|| format!("accounts[{i}] must be a mapping"))?;
            let access_key = field(m, "accessKey")
                .and_then(scalar)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("accounts[{i}]: accessKey is missing"))?;
            let who = format!("account `{access_key}`");
            let secret_key = field(m, "secretKey")
                .and_then(scalar)
                .ok_or_else(|| format!("{who}: secretKey is missing"))?;
            if access_key.len() < 6 || secret_key.len() < 6 {
                return Err(format!(
                    "{who}: accessKey and secretKey must have at least 6 characters"
                ));
            }
            let white_remote_address = match field(m, "whiteRemoteAddress").and_then(scalar) {
                Some(s) if !s.trim().is_empty() => {
                    Some(AddrPattern::parse(&s).map_err(|e| format!("{who}: {e}"))?)
                }
                _ => None,
            };
            let admin = match field(m, "admin") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => scalar(v)
                    .map(|s| s.eq_ignore_ascii_case("true"))
                    .unwrap_or(false),
            };
            let perm_or = |key: &str| -> Result<Perm, String> {
                match field(m, key).and_then(scalar) {
                    None => Ok(Perm::DENY),
                    Some(s) => Perm::parse(&s).map_err(|e| format!("{who} {key}: {e}")),
                }
            };
            let account = Account {
                default_topic_perm: perm_or("defaultTopicPerm")?,
                default_group_perm: perm_or("defaultGroupPerm")?,
                topic_perms: perm_list(field(m, "topicPerms"), &format!("{who} topicPerms"))?,
                group_perms: perm_list(field(m, "groupPerms"), &format!("{who} groupPerms"))?,
                access_key: access_key.clone(),
                secret_key,
                white_remote_address,
                admin,
            };
            if cfg.accounts.insert(access_key, account).is_some() {
                return Err(format!("{who} appears twice"));
            }
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.{1,2}
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      - groupA=DENY
      - groupB=PUB|SUB
  - accessKey: rocketmq2
    secretKey: "12345678"
    whiteRemoteAddress: 192.168.1.*
    admin: true
"#;

    #[test]
    fn parses_rocketmq_sample() {
        let cfg = AclConfig::parse(SAMPLE).unwrap();
        assert_eq!(cfg.global_white.len(), 2);
        let a = &cfg.accounts["RocketMQ"];
        assert_eq!(a.secret_key, "12345678");
        assert!(!a.admin);
        assert_eq!(a.default_topic_perm, Perm::DENY);
        assert_eq!(a.default_group_perm, Perm::SUB);
        assert_eq!(a.topic_perms["topicB"], Perm::PUB_SUB);
        assert_eq!(a.group_perms["groupA"], Perm::DENY);
        assert!(a.white_remote_address.is_none());
        let b = &cfg.accounts["rocketmq2"];
        assert!(b.admin);
        assert!(b
            .white_remote_address
            .as_ref()
            .unwrap()
            .matches("192.168.1.77".parse().unwrap()));
        // Missing default perms are DENY.
        assert_eq!(b.default_topic_perm, Perm::DENY);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let cfg = AclConfig::parse(SAMPLE).unwrap();
        let text = format!("{cfg:?}");
        assert!(!text.contains("12345678"), "{text}");
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn refuses_what_would_open_the_broker() {
        for (bad, why) in [
            ("accounts:\n  - secretKey: 12345678\n", "accessKey is missing"),
            ("accounts:\n  - accessKey: abcdefg\n", "secretKey is missing"),
            ("accounts:\n  - accessKey: abcdefg\n    secretKey: 123\n", "at least 6"),
            ("accounts:\n  - {accessKey: abcdefg, secretKey: 1234567}\n  - {accessKey: abcdefg, secretKey: 1234567}\n", "twice"),
            ("accounts:\n  - {accessKey: abcdefg, secretKey: 1234567, defaultTopicPerm: ALL}\n", "unknown permission"),
            ("accounts:\n  - {accessKey: abcdefg, secretKey: 1234567, topicPerms: [topicA]}\n", "not `name=PERM`"),
            ("globalWhiteRemoteAddresses: [10.10.300.1]\n", "0..255"),
            ("accounts: [1, 2\n", "not YAML"),
        ] {
            let err = AclConfig::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.contains("1234567"), "secret in error: {err}");
        }
    }

    /// | pattern | address | matches |
    #[test]
    fn address_patterns_row_by_row() {
        let rows: &[(&str, &str, bool)] = &[
            ("*", "1.2.3.4", true),
            ("*.*.*.*", "1.2.3.4", true),
            ("192.168.0.1", "192.168.0.1", true),
            ("192.168.0.1", "192.168.0.2", false),
            ("192.168.0.*", "192.168.0.200", true),
            ("192.168.0.*", "192.168.1.1", false),
            ("192.168.0.10-20", "192.168.0.15", true),
            ("192.168.0.10-20", "192.168.0.21", false),
            ("192.168.0.{1,2,3}", "192.168.0.3", true),
            ("192.168.0.{1,2,3}", "192.168.0.4", false),
            ("10.0.0.1,192.168.0.*", "192.168.0.9", true),
            ("10.0.0.1,192.168.0.*", "10.0.0.2", false),
        ];
        for (pattern, addr, want) in rows {
            let p = AddrPattern::parse(pattern).unwrap();
            assert_eq!(
                p.matches(addr.parse().unwrap()),
                *want,
                "{pattern} vs {addr}"
            );
        }
    }

    /// | held | needed | granted |
    #[test]
    fn perm_grants_row_by_row() {
        let rows = [
            (Perm::PUB, Perm::PUB, true),
            (Perm::PUB, Perm::SUB, false),
            (Perm::SUB, Perm::SUB, true),
            (Perm::PUB_SUB, Perm::PUB, true),
            (Perm::PUB_SUB, Perm::SUB, true),
            (Perm::DENY, Perm::PUB, false),
            (Perm::DENY, Perm::SUB, false),
        ];
        for (held, need, want) in rows {
            assert_eq!(held.grants(need), want, "{held:?} grants {need:?}");
        }
    }
}
