//! The NameServer's KV config and runtime settings (Java's `KVConfigManager` and `NamesrvConfig`):
//! what PUT_KV_CONFIG (100), GET_KV_CONFIG (101), DELETE_KV_CONFIG (102), GET_KVLIST_BY_NAMESPACE
//! (219), UPDATE_NAMESRV_CONFIG (318) and GET_NAMESRV_CONFIG (319) read and change.
//!
//! Why a NameServer keeps a KV table: operators store per-topic settings in it that clients read
//! with the route. The one RocketMQ itself reads is the namespace `ORDER_TOPIC_CONFIG`
//! (`mqadmin updateOrderConf`): with `orderMessageEnable` on, a topic's entry (`broker-a:4;broker-b:4`)
//! goes into its route as `orderTopicConf`, and Java producers then send only to those queues (the
//! first 4 of each named broker), which is how a globally ordered topic is pinned to one queue. (The
//! Go client 2.1.2 decodes only `queueDatas` and `brokerDatas` of a route, so it ignores the field.) Brokers get the namespace's table in each REGISTER_BROKER answer.
//!
//! | `orderMessageEnable` | `ORDER_TOPIC_CONFIG` holds the topic | route's `orderTopicConf` |
//! |---|---|---|
//! | off (the default) | either | absent |
//! | on | yes | the entry |
//! | on | no | absent |
//!
//! Shape: everything here is pure. A write request becomes a list of [`Change`]s
//! ([`changes_of`]); [`Settings::after`] gives the settings they lead to and, when the table
//! changed, the KV file to persist first (Java's `kvConfig.json` format, so a Java NameServer's file
//! can be used as it is); only then does the caller make them current. `bolide namesrv` holds one [`Settings`];
//! inside `bolide serve` shard 0 commits a change and every shard applies it to its replica.
//! `orderMessageEnable` changed at run time is not persisted (Java writes it to a file it never
//! reads back at start): a restart goes back to the config file's value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::remoting::body::KvTable;
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::headers::KvConfigHeader;
use crate::remoting::RemotingCommand;

/// The namespace whose entries become routes' `orderTopicConf` (Java `NamesrvUtil`).
pub const ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

/// The settings UPDATE_NAMESRV_CONFIG may change, by the names it accepts.
const RUNTIME_KEYS: &[&str] = &["orderMessageEnable", "order_message_enable"];

/// A NameServer's KV table and settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    kv: BTreeMap<String, BTreeMap<String, String>>,
    pub order_message_enable: bool,
    /// Where the KV table is persisted.
    pub kv_config_path: PathBuf,
    /// The port clients reach the NameServer on (reported by GET_NAMESRV_CONFIG).
    pub listen_port: u16,
}

/// One change a write request makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put {
        namespace: String,
        key: String,
        value: String,
    },
    Delete {
        namespace: String,
        key: String,
    },
    OrderMessageEnable(bool),
}

/// `kvConfig.json`: Java's `KVConfigSerializeWrapper`.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct KvFile {
    #[serde(rename = "configTable", default)]
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

impl Settings {
    /// Settings with an empty KV table.
    pub fn new(kv_config_path: PathBuf, listen_port: u16, order_message_enable: bool) -> Settings {
        Settings {
            kv: BTreeMap::new(),
            order_message_enable,
            kv_config_path,
            listen_port,
        }
    }

    /// Settings with the KV table persisted at `kv_config_path` (none yet: empty). A file that
    /// cannot be read or parsed is an error: starting without the operators' entries would serve
    /// routes without their order configuration.
    pub fn load(
        kv_config_path: PathBuf,
        listen_port: u16,
        order_message_enable: bool,
    ) -> Result<Settings, String> {
        let mut s = Settings::new(kv_config_path, listen_port, order_message_enable);
        match std::fs::read(&s.kv_config_path) {
            Ok(bytes) => {
                s.kv = parse_kv_file(&bytes).map_err(|e| {
                    format!("{}: not a KV config file: {e}", s.kv_config_path.display())
                })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", s.kv_config_path.display())),
        }
        Ok(s)
    }

    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::Put {
                namespace,
                key,
                value,
            } => {
                self.kv
                    .entry(namespace.clone())
                    .or_default()
                    .insert(key.clone(), value.clone());
            }
            // As Java: the namespace stays, empty, after its last key goes.
            Change::Delete { namespace, key } => {
                if let Some(t) = self.kv.get_mut(namespace) {
                    t.remove(key);
                }
            }
            Change::OrderMessageEnable(on) => self.order_message_enable = *on,
        }
    }

    /// The settings after `changes`, with the KV file to write before they become current when the
    /// table changed; `None` when nothing changed (a delete of an absent key, a setting set to
    /// what it was), so nothing is written or replicated.
    pub fn after(&self, changes: &[Change]) -> Option<(Settings, Option<Vec<u8>>)> {
        let mut next = self.clone();
        for c in changes {
            next.apply(c);
        }
        if next == *self {
            return None;
        }
        let file = (next.kv != self.kv).then(|| next.kv_file());
        Some((next, file))
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.kv.get(namespace)?.get(key).map(String::as_str)
    }

    /// A namespace's entries as GET_KVLIST_BY_NAMESPACE's body (`{"table":{...}}`); `None` when the
    /// namespace was never written.
    pub fn namespace_body(&self, namespace: &str) -> Option<Vec<u8>> {
        let table = self.kv.get(namespace)?.clone();
        Some(KvTable { table }.to_json().into_bytes())
    }

    /// The route's `orderTopicConf` for `topic` (the module comment's table).
    pub fn order_topic_conf(&self, topic: &str) -> Option<String> {
        if !self.order_message_enable {
            return None;
        }
        self.get(ORDER_TOPIC_CONFIG, topic)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// The KV table as persisted (`kvConfig.json`).
    pub fn kv_file(&self) -> Vec<u8> {
        let f = KvFile {
            config_table: self.kv.clone(),
        };
        serde_json::to_vec_pretty(&f).expect("string maps serialize")
    }

    /// GET_NAMESRV_CONFIG's body: `key=value` lines, Java's names.
    pub fn properties(&self) -> String {
        format!(
            "kvConfigPath={}\nlistenPort={}\norderMessageEnable={}\nscanNotActiveBrokerInterval={}\n",
            self.kv_config_path.display(),
            self.listen_port,
            self.order_message_enable,
            super::server::EXPIRY_SCAN_INTERVAL_MS,
        )
    }
}

fn parse_kv_file(bytes: &[u8]) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    serde_json::from_slice::<KvFile>(bytes)
        .map(|f| f.config_table)
        .map_err(|e| e.to_string())
}

/// The changes a write request makes (PUT_KV_CONFIG, DELETE_KV_CONFIG, UPDATE_NAMESRV_CONFIG); the
/// error is the response to send. UPDATE_NAMESRV_CONFIG refuses a key it cannot change (Java
/// accepts any key and ignores those it has no field for; a refusal tells the operator the
/// setting did not take).
pub fn changes_of(cmd: &RemotingCommand) -> Result<Vec<Change>, RemotingCommand> {
    let bad_header = |e: crate::remoting::headers::HeaderError| {
        cmd.error_response(rs::SYSTEM_ERROR, e.to_string())
    };
    match cmd.code {
        rq::PUT_KV_CONFIG => {
            let h = KvConfigHeader::parse_put(cmd).map_err(bad_header)?;
            Ok(vec![Change::Put {
                namespace: h.namespace,
                key: h.key.unwrap_or_default(),
                value: h.value.unwrap_or_default(),
            }])
        }
        rq::DELETE_KV_CONFIG => {
            let h = KvConfigHeader::parse_key(cmd).map_err(bad_header)?;
            Ok(vec![Change::Delete {
                namespace: h.namespace,
                key: h.key.unwrap_or_default(),
            }])
        }
        rq::UPDATE_NAMESRV_CONFIG => {
            let text = std::str::from_utf8(&cmd.body)
                .map_err(|_| cmd.error_response(rs::SYSTEM_ERROR, "string2Properties error"))?;
            let mut out = Vec::new();
            for (k, v) in parse_properties(text) {
                if !RUNTIME_KEYS.contains(&k) {
                    return Err(cmd.error_response(
                        rs::SYSTEM_ERROR,
                        format!(
                            "cannot change `{k}` at run time: this NameServer's runtime setting is orderMessageEnable"
                        ),
                    ));
                }
                out.push(Change::OrderMessageEnable(
                    crate::remoting::headers::parse_bool(v),
                ));
            }
            Ok(out)
        }
        c => Err(cmd.error_response(
            rs::REQUEST_CODE_NOT_SUPPORTED,
            format!(" request type {c} not supported"),
        )),
    }
}

/// `key=value` (or `key:value`) lines as Java `Properties.load` reads the simple cases: blank
/// lines and `#`/`!` comments skipped, whitespace around key and value trimmed.
fn parse_properties(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|l| match l.find(['=', ':']) {
            Some(i) => (l[..i].trim(), l[i + 1..].trim()),
            None => (l, ""),
        })
        .collect()
}

/// Writes a KV file's bytes atomically, creating its directory.
pub fn persist_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    crate::storage::datadir::write_atomically(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(ns: &str, k: &str, v: &str) -> Change {
        Change::Put {
            namespace: ns.into(),
            key: k.into(),
            value: v.into(),
        }
    }

    /// The module comment's table, row by row.
    #[test]
    fn order_topic_conf_rows() {
        let mut s = Settings::default();
        s.apply(&put(ORDER_TOPIC_CONFIG, "T", "broker-a:2"));
        assert_eq!(s.order_topic_conf("T"), None, "off: absent");
        s.apply(&Change::OrderMessageEnable(true));
        assert_eq!(s.order_topic_conf("T").as_deref(), Some("broker-a:2"));
        assert_eq!(s.order_topic_conf("U"), None, "on, no entry: absent");
        s.apply(&put("OTHER", "U", "broker-a:2"));
        assert_eq!(
            s.order_topic_conf("U"),
            None,
            "another namespace is not read"
        );
    }

    #[test]
    fn put_get_delete_and_list() {
        let mut s = Settings::default();
        assert_eq!(s.namespace_body("N"), None);
        s.apply(&put("N", "a", "1"));
        s.apply(&put("N", "a", "2"));
        s.apply(&put("N", "b", "3"));
        assert_eq!(s.get("N", "a"), Some("2"));
        assert_eq!(
            s.namespace_body("N").unwrap(),
            br#"{"table":{"a":"2","b":"3"}}"#
        );
        s.apply(&Change::Delete {
            namespace: "N".into(),
            key: "a".into(),
        });
        s.apply(&Change::Delete {
            namespace: "None".into(),
            key: "a".into(),
        });
        assert_eq!(s.get("N", "a"), None);
        s.apply(&Change::Delete {
            namespace: "N".into(),
            key: "b".into(),
        });
        assert_eq!(s.namespace_body("N").unwrap(), br#"{"table":{}}"#);
    }

    #[test]
    fn the_kv_file_round_trips_and_reads_a_java_file() {
        let dir = std::env::temp_dir().join(format!("bolide-kv-{}", std::process::id()));
        let path = dir.join("sub").join("kvConfig.json");
        let mut s = Settings::load(path.clone(), 9876, false).unwrap();
        assert_eq!(s.get("N", "a"), None, "no file yet: empty");
        s.apply(&put("N", "a", "x=y;z"));
        s.apply(&put(ORDER_TOPIC_CONFIG, "T", "broker-a:4"));
        persist_bytes(&s.kv_config_path, &s.kv_file()).unwrap();
        let back = Settings::load(path.clone(), 9876, false).unwrap();
        assert_eq!(back, s);
        // What a Java NameServer writes (fastjson, its order).
        std::fs::write(
            &path,
            br#"{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"broker-a:4;broker-b:4"}}}"#,
        )
        .unwrap();
        let java = Settings::load(path.clone(), 9876, true).unwrap();
        assert_eq!(
            java.order_topic_conf("T").as_deref(),
            Some("broker-a:4;broker-b:4")
        );
        std::fs::write(&path, b"{not json").unwrap();
        let err = Settings::load(path.clone(), 9876, false).unwrap_err();
        assert!(err.contains("not a KV config file"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn write_requests_become_changes() {
        let mut c = RemotingCommand::request(rq::PUT_KV_CONFIG);
        KvConfigHeader {
            namespace: "N".into(),
            key: Some("k".into()),
            value: Some("v".into()),
        }
        .write_to(&mut c);
        assert_eq!(changes_of(&c).unwrap(), vec![put("N", "k", "v")]);
        let mut d = RemotingCommand::request(rq::DELETE_KV_CONFIG);
        d.set_ext("namespace", "N");
        assert_eq!(changes_of(&d).unwrap_err().code, rs::SYSTEM_ERROR, "no key");
        d.set_ext("key", "k");
        let mut held = Settings::default();
        held.apply(&put("N", "k", "v"));
        let (_, file) = held.after(&changes_of(&d).unwrap()).unwrap();
        assert!(file.is_some(), "a delete of a held key rewrites the file");
        assert_eq!(
            Settings::default().after(&changes_of(&d).unwrap()),
            None,
            "a delete of an absent key changes nothing"
        );
        let u = RemotingCommand::request(rq::UPDATE_NAMESRV_CONFIG)
            .with_body(&b"# comment\n orderMessageEnable = TRUE\n"[..]);
        assert_eq!(
            changes_of(&u).unwrap(),
            vec![Change::OrderMessageEnable(true)]
        );
        let bad = RemotingCommand::request(rq::UPDATE_NAMESRV_CONFIG)
            .with_body(&b"orderMessageEnable=false\nlistenPort=1\n"[..]);
        let e = changes_of(&bad).unwrap_err();
        assert_eq!(e.code, rs::SYSTEM_ERROR);
        assert!(e.remark.as_deref().unwrap_or("").contains("listenPort"));
        let empty = RemotingCommand::request(rq::UPDATE_NAMESRV_CONFIG);
        assert_eq!(changes_of(&empty).unwrap(), vec![]);
    }

    #[test]
    fn properties_name_the_settings() {
        let s = Settings::new("/x/kvConfig.json".into(), 9876, true);
        let p = s.properties();
        assert!(p.contains("orderMessageEnable=true\n"), "{p}");
        assert!(p.contains("kvConfigPath=/x/kvConfig.json\n"), "{p}");
        assert!(p.contains("listenPort=9876\n"), "{p}");
    }
}
