//! The ACL decision for one request: pure (the request's code, extFields, body and peer address
//! against an [`AclConfig`]), so every rule is tested row by row without a broker.
//!
//! Order of checks (RocketMQ's `PlainPermissionManager.validate`):
//!
//! | step | condition | outcome |
//! |---|---|---|
//! | 1 | peer matches a `globalWhiteRemoteAddresses` pattern | allowed |
//! | 2 | no `AccessKey` extField / unknown key (empty counts as unknown) | denied: no access key / no account |
//! | 3 | peer matches the account's `whiteRemoteAddress` | allowed |
//! | 4 | signature differs, with and without `_UNIQUE_KEY_QUERY` | denied: signature |
//! | 5 | a send to the trace topic `RMQ_SYS_TRACE_TOPIC` | allowed |
//! | 6 | an admin code ([`ADMIN_CODES`]: 4.x's, and the ACL admin codes that change accounts), account not `admin` | denied: admin |
//! | 7 | any needed resource whose permission (listed, else the default) does not grant it | denied: resource |
//! | - | otherwise | allowed |
//!
//! What a request needs ([`needs`]): one table below. Two places where we are stricter than the
//! Java broker 4.x, which lets them through on a signature alone: SEND_BATCH_MESSAGE needs PUB on its
//! topic like a single send, and LITE_PULL_MESSAGE needs SUB like a pull (otherwise an account denied
//! a topic could still write or read it in batches).

use std::net::IpAddr;

use super::accounts::{Account, AclConfig, Perm};
use super::sign;
use crate::remoting::body::{BatchAckMessageRequestBody, HeartbeatData};
use crate::remoting::ExtFields;

/// The trace topic: trace data is accepted from any signed account (step 5).
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
const RETRY_PREFIX: &str = "%RETRY%";

/// Codes only an admin account may call: UPDATE_AND_CREATE_TOPIC 17, UPDATE_BROKER_CONFIG 25,
/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP 200, DELETE_SUBSCRIPTIONGROUP 207, DELETE_TOPIC_IN_BROKER 215,
/// as RocketMQ 4.x; and, stricter than 4.x, which lets any signed account through, the codes that
/// change the accounts themselves: UPDATE_AND_CREATE_ACL_CONFIG 50, DELETE_ACL_CONFIG 51,
/// UPDATE_GLOBAL_WHITE_ADDRS_CONFIG 53 (otherwise any account could make itself admin), and
/// SET_MESSAGE_REQUEST_MODE 401 (otherwise any account could switch another team's group to POP).
/// Reading the versions (GET_BROKER_CLUSTER_ACL_INFO 52) needs a signature only.
pub const ADMIN_CODES: &[i32] = &[17, 25, 50, 51, 53, 200, 207, 215, 401];

/// Why a request was refused. `Display` is the remark the client sees (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    NoAccessKey,
    UnknownAccount(String),
    Signature(String),
    NeedAdmin { code: i32, access_key: String },
    Topic { topic: String, access_key: String },
    Group { group: String, access_key: String },
    BadRequest(String),
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::NoAccessKey => write!(f, "ACL: No accessKey is configured (the request is not signed)"),
            Denial::UnknownAccount(ak) => write!(f, "ACL: No acl config for {ak}"),
            Denial::Signature(ak) => write!(f, "ACL: Check signature failed for accessKey={ak}"),
            Denial::NeedAdmin { code, access_key } => write!(
                f,
                "ACL: Need admin permission for request code={code}, but accessKey={access_key} is not"
            ),
            Denial::Topic { topic, access_key } => {
                write!(f, "ACL: No permission for topic:{topic} (accessKey={access_key})")
            }
            Denial::Group { group, access_key } => {
                write!(f, "ACL: No permission for group:{group} (accessKey={access_key})")
            }
            Denial::BadRequest(why) => write!(f, "ACL: cannot tell what the request needs: {why}"),
        }
    }
}

/// A resource a request touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Topic(String),
    Group(String),
}

fn ext<'a>(fields: &'a ExtFields, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| fields.get(n))
}

/// What the request with `code` needs, from its extFields (V1 names or V2 letters) and body.
///
/// | code | needs |
/// |---|---|
/// | SEND_MESSAGE 10, SEND_MESSAGE_V2 310, SEND_BATCH_MESSAGE 320 | PUB on `topic`/`b`; to `%RETRY%..`: also SUB on `producerGroup`/`a` |
/// | PULL_MESSAGE 11, LITE_PULL_MESSAGE 361 | SUB on `topic` and on `consumerGroup` |
/// | POP_MESSAGE 200050, ACK_MESSAGE 200051, CHANGE_MESSAGE_INVISIBLETIME 200053 | SUB on `topic` and on `consumerGroup` (RocketMQ 5's rule) |
/// | BATCH_ACK_MESSAGE 200151 | SUB on each ack's topic and group (body) |
/// | QUERY_MESSAGE 12 | SUB on `topic` |
/// | UPDATE_CONSUMER_OFFSET 15 | SUB on `topic` and on `consumerGroup` |
/// | HEART_BEAT 34 | SUB on each consumer group, and on each subscribed topic but retry topics |
/// | UNREGISTER_CLIENT 35 | SUB on `consumerGroup` when there is one |
/// | CONSUMER_SEND_MSG_BACK 36 | SUB on `group` |
/// | GET_CONSUMER_LIST_BY_GROUP 38 | SUB on `consumerGroup` |
/// | anything else | nothing (signature, and admin rights for [`ADMIN_CODES`]) |
pub fn needs(code: i32, fields: &ExtFields, body: &[u8]) -> Result<Vec<(Resource, Perm)>, String> {
    let topic = |names: &[&str]| {
        ext(fields, names)
            .map(|t| Resource::Topic(t.to_string()))
            .ok_or_else(|| format!("request code {code} names no topic"))
    };
    let group = |names: &[&str]| {
        ext(fields, names)
            .map(|g| Resource::Group(g.to_string()))
            .ok_or_else(|| format!("request code {code} names no group"))
    };
    Ok(match code {
        10 | 310 | 320 => {
            let t = topic(&["topic", "b"])?;
            let mut v = vec![(t.clone(), Perm::PUB)];
            if matches!(&t, Resource::Topic(name) if name.starts_with(RETRY_PREFIX)) {
                v.push((group(&["producerGroup", "a"])?, Perm::SUB));
            }
            v
        }
        11 | 361 | 15 | 200050 | 200051 | 200053 => vec![
            (topic(&["topic"])?, Perm::SUB),
            (group(&["consumerGroup"])?, Perm::SUB),
        ],
        12 => vec![(topic(&["topic"])?, Perm::SUB)],
        34 => {
            let hb = HeartbeatData::parse(body).map_err(|e| format!("heartbeat body: {e}"))?;
            let mut v = Vec::new();
            for c in &hb.consumer_data_set {
                v.push((Resource::Group(c.group_name.clone()), Perm::SUB));
                for s in &c.subscription_data_set {
                    if !s.topic.starts_with(RETRY_PREFIX) {
                        v.push((Resource::Topic(s.topic.clone()), Perm::SUB));
                    }
                }
            }
            v
        }
        35 => match ext(fields, &["consumerGroup"]) {
            Some(g) if !g.is_empty() => vec![(Resource::Group(g.to_string()), Perm::SUB)],
            _ => vec![],
        },
        200151 => {
            let b = BatchAckMessageRequestBody::parse(body)
                .map_err(|e| format!("batch ack body: {e}"))?;
            let mut v = Vec::new();
            for a in &b.acks {
                v.push((Resource::Topic(a.topic.clone()), Perm::SUB));
                v.push((Resource::Group(a.consumer_group.clone()), Perm::SUB));
            }
            v
        }
        36 => vec![(group(&["group"])?, Perm::SUB)],
        38 => vec![(group(&["consumerGroup"])?, Perm::SUB)],
        _ => vec![],
    })
}

fn held(account: &Account, r: &Resource) -> Perm {
    match r {
        Resource::Topic(t) => account
            .topic_perms
            .get(t)
            .copied()
            .unwrap_or(account.default_topic_perm),
        Resource::Group(g) => {
            let plain = g.strip_prefix(RETRY_PREFIX).unwrap_or(g);
            account
                .group_perms
                .get(plain)
                .copied()
                .unwrap_or(account.default_group_perm)
        }
    }
}

/// The decision (module table). `peer` is the client's address.
pub fn decide(
    cfg: &AclConfig,
    code: i32,
    fields: &ExtFields,
    body: &[u8],
    peer: IpAddr,
) -> Result<(), Denial> {
    let v4 = match peer {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(a) => a.to_ipv4_mapped(),
    };
    let white = |p: &super::accounts::AddrPattern| v4.is_some_and(|a| p.matches(a));
    if cfg.global_white.iter().any(white) {
        return Ok(());
    }
    let ak = ext(fields, &[sign::ACCESS_KEY]).ok_or(Denial::NoAccessKey)?;
    let account = cfg
        .accounts
        .get(ak)
        .ok_or_else(|| Denial::UnknownAccount(ak.to_string()))?;
    if account.white_remote_address.as_ref().is_some_and(white) {
        return Ok(());
    }
    let given = ext(fields, &[sign::SIGNATURE]).unwrap_or("");
    let pairs = || fields.iter();
    let ok = sign::same(
        given,
        &sign::signature(&account.secret_key, pairs(), None, body),
    ) || (ext(fields, &[sign::UNIQUE_KEY_QUERY]).is_some()
        && sign::same(
            given,
            &sign::signature(
                &account.secret_key,
                pairs(),
                Some(sign::UNIQUE_KEY_QUERY),
                body,
            ),
        ));
    if !ok {
        return Err(Denial::Signature(ak.to_string()));
    }
    if matches!(code, 10 | 310 | 320) && ext(fields, &["topic", "b"]) == Some(TRACE_TOPIC) {
        return Ok(());
    }
    if ADMIN_CODES.contains(&code) && !account.admin {
        return Err(Denial::NeedAdmin {
            code,
            access_key: ak.to_string(),
        });
    }
    if account.admin && account.topic_perms.is_empty() && account.group_perms.is_empty() {
        return Ok(());
    }
    for (r, need) in needs(code, fields, body).map_err(Denial::BadRequest)? {
        if !held(account, &r).grants(need) {
            return Err(match r {
                Resource::Topic(topic) => Denial::Topic {
                    topic,
                    access_key: ak.to_string(),
                },
                Resource::Group(group) => Denial::Group {
                    group,
                    access_key: ak.to_string(),
                },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACL: &str = r#"
globalWhiteRemoteAddresses: ["10.9.9.*"]
accounts:
  - accessKey: producerAK
    secretKey: producerSK
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms: [orders=PUB, audit=PUB|SUB, secret=DENY]
    groupPerms: [banned=DENY]
  - accessKey: consumerAK
    secretKey: consumerSK
    whiteRemoteAddress: 10.1.1.{5,6}
    defaultTopicPerm: SUB
    defaultGroupPerm: SUB
  - accessKey: adminAK
    secretKey: adminSK1
    admin: true
"#;

    fn signed<'a>(
        ak: &'a str,
        sk: &str,
        mut fields: Vec<(&'a str, &'a str)>,
        body: &[u8],
    ) -> Vec<(String, String)> {
        fields.push(("AccessKey", ak));
        let sig = sign::signature(sk, fields.iter().copied(), None, body);
        let mut out: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        out.push(("Signature".into(), sig));
        out
    }

    fn ef(fields: &[(String, String)]) -> ExtFields {
        fields.iter().map(|(k, v)| (k, v)).collect()
    }

    /// A request signed by the producer account, with an empty body.
    fn producer<'a>(fields: Vec<(&'a str, &'a str)>) -> Vec<(String, String)> {
        signed("producerAK", "producerSK", fields, b"")
    }

    const LOCAL: &str = "127.0.0.1";

    /// Row by row through the module table.
    #[test]
    fn decisions_row_by_row() {
        let cfg = AclConfig::parse(ACL).unwrap();
        let hb = br#"{"clientID":"c1","consumerDataSet":[{"groupName":"g1","subscriptionDataSet":[{"topic":"orders","subString":"*"},{"topic":"%RETRY%g1","subString":"*"}]}],"producerDataSet":[]}"#;
        let mut tampered = signed(
            "producerAK",
            "producerSK",
            vec![("b", "orders"), ("a", "pg")],
            b"body",
        );
        tampered[0].1 = "audit".into();
        let batch_ack = br#"{"acks":[{"b":"AQ==","c":"g","q":0,"t":"audit"},{"b":"AQ==","c":"g","q":0,"t":"orders"}]}"#;
        let batch_ack_audit = br#"{"acks":[{"b":"AQ==","c":"g","q":0,"t":"audit"}]}"#;
        type Row<'a> = (
            &'a str,
            i32,
            Vec<(String, String)>,
            &'a [u8],
            &'a str,
            Result<(), &'a str>,
        );
        let rows: Vec<Row> = vec![
            (
                "global white, unsigned",
                310,
                vec![("b".into(), "x".into())],
                b"",
                "10.9.9.1",
                Ok(()),
            ),
            (
                "unsigned",
                310,
                vec![("b".into(), "orders".into())],
                b"",
                LOCAL,
                Err("No accessKey"),
            ),
            (
                "unknown account",
                310,
                signed("nobody", "whatever", vec![("b", "orders")], b""),
                b"",
                LOCAL,
                Err("No acl config for nobody"),
            ),
            (
                "empty access key",
                310,
                signed("", "", vec![("b", "orders")], b""),
                b"",
                LOCAL,
                Err("No acl config for "),
            ),
            (
                "account white, bad signature",
                11,
                signed("consumerAK", "wrong", vec![("topic", "t")], b""),
                b"",
                "10.1.1.6",
                Ok(()),
            ),
            (
                "wrong secret",
                310,
                signed(
                    "producerAK",
                    "wrongSK",
                    vec![("b", "orders"), ("a", "pg")],
                    b"body",
                ),
                b"body",
                LOCAL,
                Err("Check signature failed for accessKey=producerAK"),
            ),
            (
                "body changed",
                310,
                signed(
                    "producerAK",
                    "producerSK",
                    vec![("b", "orders"), ("a", "pg")],
                    b"body",
                ),
                b"other",
                LOCAL,
                Err("Check signature failed"),
            ),
            (
                "field changed",
                310,
                tampered,
                b"body",
                LOCAL,
                Err("Check signature failed"),
            ),
            (
                "send, PUB listed",
                310,
                signed(
                    "producerAK",
                    "producerSK",
                    vec![("b", "orders"), ("a", "pg")],
                    b"m",
                ),
                b"m",
                LOCAL,
                Ok(()),
            ),
            (
                "send V1 names",
                10,
                producer(vec![("topic", "orders"), ("producerGroup", "pg")]),
                b"",
                LOCAL,
                Ok(()),
            ),
            (
                "batch send, default DENY",
                320,
                producer(vec![("b", "other"), ("a", "pg")]),
                b"",
                LOCAL,
                Err("No permission for topic:other"),
            ),
            (
                "send, explicit DENY",
                310,
                producer(vec![("b", "secret"), ("a", "pg")]),
                b"",
                LOCAL,
                Err("topic:secret"),
            ),
            (
                "trace topic always",
                310,
                producer(vec![("b", TRACE_TOPIC), ("a", "pg")]),
                b"",
                LOCAL,
                Ok(()),
            ),
            (
                "send to retry needs group SUB",
                310,
                producer(vec![("b", "%RETRY%banned"), ("a", "banned")]),
                b"",
                LOCAL,
                Err("topic:%RETRY%banned"),
            ),
            (
                "pull, topic PUB only",
                11,
                producer(vec![("topic", "orders"), ("consumerGroup", "g")]),
                b"",
                LOCAL,
                Err("topic:orders"),
            ),
            (
                "pull, PUB|SUB and group default SUB",
                11,
                producer(vec![("topic", "audit"), ("consumerGroup", "g")]),
                b"",
                LOCAL,
                Ok(()),
            ),
            (
                "pull, denied group",
                11,
                producer(vec![("topic", "audit"), ("consumerGroup", "banned")]),
                b"",
                LOCAL,
                Err("group:banned"),
            ),
            (
                "lite pull like pull",
                361,
                producer(vec![("topic", "orders"), ("consumerGroup", "g")]),
                b"",
                LOCAL,
                Err("topic:orders"),
            ),
            (
                "pop like pull: topic not SUB",
                200050,
                producer(vec![("topic", "orders"), ("consumerGroup", "g")]),
                b"",
                LOCAL,
                Err("topic:orders"),
            ),
            (
                "ack like pull: denied group",
                200051,
                producer(vec![("topic", "audit"), ("consumerGroup", "banned")]),
                b"",
                LOCAL,
                Err("group:banned"),
            ),
            (
                "change invisible time like pull",
                200053,
                producer(vec![("topic", "audit"), ("consumerGroup", "g")]),
                b"",
                LOCAL,
                Ok(()),
            ),
            (
                "batch ack: every ack's topic needs SUB",
                200151,
                signed("producerAK", "producerSK", vec![], batch_ack),
                batch_ack,
                LOCAL,
                Err("topic:orders"),
            ),
            (
                "batch ack: topics and groups with SUB",
                200151,
                signed("producerAK", "producerSK", vec![], batch_ack_audit),
                batch_ack_audit,
                LOCAL,
                Ok(()),
            ),
            (
                "heartbeat, topic not SUB",
                34,
                signed("producerAK", "producerSK", vec![], hb),
                hb,
                LOCAL,
                Err("topic:orders"),
            ),
            (
                "heartbeat, consumer account",
                34,
                signed("consumerAK", "consumerSK", vec![], hb),
                hb,
                LOCAL,
                Ok(()),
            ),
            (
                "heartbeat, unreadable body",
                34,
                signed("consumerAK", "consumerSK", vec![], b"{"),
                b"{",
                LOCAL,
                Err("cannot tell"),
            ),
            (
                "send back, denied group",
                36,
                producer(vec![("group", "banned")]),
                b"",
                LOCAL,
                Err("group:banned"),
            ),
            (
                "admin code, not admin",
                17,
                producer(vec![("topic", "x")]),
                b"",
                LOCAL,
                Err("Need admin permission for request code=17"),
            ),
            (
                "account change, not admin",
                50,
                producer(vec![("accessKey", "producer1"), ("admin", "true")]),
                b"",
                LOCAL,
                Err("Need admin permission for request code=50"),
            ),
            (
                "request mode, not admin",
                401,
                producer(vec![]),
                b"",
                LOCAL,
                Err("Need admin permission for request code=401"),
            ),
            (
                "account delete, not admin",
                51,
                producer(vec![("accessKey", "adminAK")]),
                b"",
                LOCAL,
                Err("Need admin permission for request code=51"),
            ),
            (
                "global white list, not admin",
                53,
                producer(vec![("globalWhiteAddrs", "*")]),
                b"",
                LOCAL,
                Err("Need admin permission for request code=53"),
            ),
            (
                "ACL versions, signature only",
                52,
                producer(vec![]),
                b"",
                LOCAL,
                Ok(()),
            ),
            (
                "account change, admin",
                50,
                signed("adminAK", "adminSK1", vec![("accessKey", "someone")], b""),
                b"",
                LOCAL,
                Ok(()),
            ),
            (
                "admin code, admin",
                17,
                signed("adminAK", "adminSK1", vec![("topic", "x")], b""),
                b"",
                LOCAL,
                Ok(()),
            ),
            (
                "admin without lists: everything",
                11,
                signed(
                    "adminAK",
                    "adminSK1",
                    vec![("topic", "x"), ("consumerGroup", "g")],
                    b"",
                ),
                b"",
                LOCAL,
                Ok(()),
            ),
            (
                "other code, signature only",
                105,
                producer(vec![("topic", "secret")]),
                b"",
                LOCAL,
                Ok(()),
            ),
        ];
        for (name, code, fields, body, peer, want) in rows {
            let got = decide(&cfg, code, &ef(&fields), body, peer.parse().unwrap());
            match (want, got) {
                (Ok(()), Ok(())) => {}
                (Err(w), Err(d)) => {
                    assert!(d.to_string().contains(w), "{name}: {d} does not say {w}")
                }
                (w, g) => panic!("{name}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn unique_key_query_signed_with_or_without() {
        let cfg = AclConfig::parse(ACL).unwrap();
        // A Java 4.x client signs with the field; a client that leaves it out of the content also passes.
        let with = signed(
            "consumerAK",
            "consumerSK",
            vec![("topic", "t"), ("_UNIQUE_KEY_QUERY", "false")],
            b"",
        );
        assert_eq!(
            decide(&cfg, 12, &ef(&with), b"", "127.0.0.1".parse().unwrap()),
            Ok(())
        );
        let mut without_in_content = signed("consumerAK", "consumerSK", vec![("topic", "t")], b"");
        without_in_content.push(("_UNIQUE_KEY_QUERY".into(), "false".into()));
        assert_eq!(
            decide(
                &cfg,
                12,
                &ef(&without_in_content),
                b"",
                "127.0.0.1".parse().unwrap()
            ),
            Ok(())
        );
    }

    #[test]
    fn remarks_never_carry_secrets() {
        let cfg = AclConfig::parse(ACL).unwrap();
        let f = signed("producerAK", "bad", vec![("b", "orders")], b"");
        let d = decide(&cfg, 310, &ef(&f), b"", "127.0.0.1".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(!d.contains("producerSK") && !d.contains("bad"), "{d}");
    }
}
