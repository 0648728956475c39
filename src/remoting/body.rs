//! JSON request and response bodies (remoting-protocol.md §3, §6, §7, §13).
//!
//! Parsing is lenient across the Java, C++ and Go clients (§6.1): enums arrive as names or as
//! ordinals, `subVersion` as a number or a string, set-valued keys may be absent or null, numbers
//! may be quoted, unknown keys (`codeSet`, `classFilterMode`, J5's `heartbeatFingerprint`, ...) are
//! ignored. Serialization is compact with keys in fastjson's alphabetical order.
//!
//! Route and cluster bodies come in two dialects (§3.1): standard JSON (quoted `brokerAddrs` keys)
//! and fastjson's default with unquoted integer keys (`{0:"ip:port"}`, not valid JSON, what clients
//! older than 4.9.4 and every Go client get). The caller picks with
//! [`super::headers::wants_standard_json`]. The Go client splits `brokerAddrs` text on `,` and `:`,
//! so those bodies never contain whitespace.
//!
//! `codeSet` from clients is never trusted (the C++ client fills it with `atoi(tag)`); tag hashes are
//! recomputed from `tags` by whoever filters (§6.1, §9.6).

use std::collections::BTreeMap;
use std::fmt;

use bytes::BytesMut;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::json::put_json_str;

/// Why a body is not usable.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("bad {body} JSON body: {source}")]
    Json {
        body: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("batch record at byte {offset} truncated: needs {need} bytes, {have} left")]
    BatchTruncated {
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error("batch record at byte {offset} is malformed: {reason}")]
    BatchBadRecord { offset: usize, reason: &'static str },
    #[error("batch record at byte {offset} has properties that are not UTF-8")]
    BatchNotUtf8 { offset: usize },
    #[error("batch has more than {max} records")]
    BatchTooManyEntries { max: usize },
    #[error("batch record field {field} is {len} bytes, more than its length prefix can carry")]
    BatchFieldTooLong { field: &'static str, len: usize },
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'static str, bytes: &'a [u8]) -> Result<T, BodyError> {
    serde_json::from_slice(bytes).map_err(|source| BodyError::Json { body, source })
}

fn to_json<T: Serialize>(v: &T) -> String {
    // Serializing these plain structs into a String cannot fail (no maps with non-string keys).
    serde_json::to_string(v).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Lenient scalar helpers

/// Accepts a JSON number, a numeric string, or null (-> 0).
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer or numeric string")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("integer out of range"))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            Ok(v as i64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            let v = v.trim();
            if v.is_empty() {
                return Ok(0);
            }
            v.parse()
                .map_err(|_| E::custom(format!("not an integer: {v:?}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

fn lenient_i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let v = lenient_i64(d)?;
    i32::try_from(v).map_err(|_| de::Error::custom(format!("out of range for i32: {v}")))
}

/// Accepts a boolean, `"true"`/`"false"` (Java parseBoolean), a number (non-zero = true) or null.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
            Ok(v.eq_ignore_ascii_case("true"))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V)
}

/// A list that may be absent or null.
fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A string that may be null.
fn null_as_empty_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// An enum given by name (case-insensitive, with aliases) or by ordinal.
enum EnumToken {
    Name(String),
    Ordinal(i64),
    Null,
}

impl<'de> Deserialize<'de> for EnumToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EnumToken, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EnumToken;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an enum name or ordinal")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnumToken, E> {
                match v.trim().parse::<i64>() {
                    Ok(n) => Ok(EnumToken::Ordinal(n)),
                    Err(_) => Ok(EnumToken::Name(v.trim().to_ascii_uppercase())),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnumToken, E> {
                Ok(EnumToken::Ordinal(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnumToken, E> {
                Ok(EnumToken::Ordinal(v.min(i64::MAX as u64) as i64))
            }
            fn visit_unit<E: de::Error>(self) -> Result<EnumToken, E> {
                Ok(EnumToken::Null)
            }
        }
        d.deserialize_any(V)
    }
}

macro_rules! lenient_enum {
    (
        $(#[$meta:meta])*
        $name:ident, what = $what:literal, default = $default:ident,
        unknown_is_default = $lenient:literal,
        { $( $variant:ident = $ord:literal, $java:literal $(| $alias:literal)* ; )+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(clippy::enum_variant_names)]
        pub enum $name {
            $( #[doc = $java] $variant, )+
        }

        impl $name {
            /// What an absent or null value means.
            pub const DEFAULT: $name = $name::$default;

            /// The Java enum constant name.
            pub fn as_java_name(self) -> &'static str {
                match self { $( $name::$variant => $java, )+ }
            }

            /// The Java enum ordinal.
            pub fn ordinal(self) -> i32 {
                match self { $( $name::$variant => $ord, )+ }
            }

            pub fn from_ordinal(n: i64) -> Option<$name> {
                match n { $( $ord => Some($name::$variant), )+ _ => None }
            }

            /// By Java name (case-insensitive) or known alias.
            pub fn from_java_name(s: &str) -> Option<$name> {
                let up = s.trim().to_ascii_uppercase();
                match up.as_str() {
                    $( $java $(| $alias)* => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::DEFAULT
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_java_name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let found = match EnumToken::deserialize(d)? {
                    EnumToken::Null => return Ok($name::DEFAULT),
                    EnumToken::Ordinal(n) => $name::from_ordinal(n).ok_or_else(|| n.to_string()),
                    EnumToken::Name(s) => $name::from_java_name(&s).ok_or(s),
                };
                match found {
                    Ok(v) => Ok(v),
                    Err(_) if $lenient => Ok($name::DEFAULT),
                    Err(v) => Err(de::Error::custom(format!("unknown {} {:?}", $what, v))),
                }
            }
        }
    };
}

lenient_enum!(
    /// Clustering (one consumer per queue) or broadcasting (every consumer gets everything).
    MessageModel, what = "messageModel", default = Clustering, unknown_is_default = false, {
        Broadcasting = 0, "BROADCASTING";
        Clustering = 1, "CLUSTERING";
    }
);

lenient_enum!(
    /// Pull (`CONSUME_ACTIVELY`) or push (`CONSUME_PASSIVELY`) consumer.
    ConsumeType, what = "consumeType", default = ConsumePassively, unknown_is_default = false, {
        ConsumeActively = 0, "CONSUME_ACTIVELY" | "PULL";
        ConsumePassively = 1, "CONSUME_PASSIVELY" | "PUSH";
    }
);

lenient_enum!(
    /// Where a new group starts. Only consulted by the client; an unknown value is read as the
    /// default rather than failing the whole heartbeat.
    ConsumeFromWhere, what = "consumeFromWhere", default = ConsumeFromLastOffset,
    unknown_is_default = true, {
        ConsumeFromLastOffset = 0, "CONSUME_FROM_LAST_OFFSET";
        ConsumeFromLastOffsetAndFromMinWhenBootFirst = 1,
            "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST";
        ConsumeFromMinOffset = 2, "CONSUME_FROM_MIN_OFFSET";
        ConsumeFromMaxOffset = 3, "CONSUME_FROM_MAX_OFFSET";
        ConsumeFromFirstOffset = 4, "CONSUME_FROM_FIRST_OFFSET";
        ConsumeFromTimestamp = 5, "CONSUME_FROM_TIMESTAMP";
    }
);

lenient_enum!(
    /// Subscription expression language; absent means TAG.
    ExpressionType, what = "expressionType", default = Tag, unknown_is_default = false, {
        Tag = 0, "TAG";
        Sql92 = 1, "SQL92";
    }
);

// ---------------------------------------------------------------------------------------------
// Heartbeat (§6.1)

/// HEART_BEAT (34) body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct HeartbeatData {
    #[serde(
        rename = "clientID",
        default,
        deserialize_with = "null_as_empty_string"
    )]
    pub client_id: String,
    #[serde(
        rename = "consumerDataSet",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub consumer_data_set: Vec<ConsumerData>,
    #[serde(
        rename = "producerDataSet",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub producer_data_set: Vec<ProducerData>,
}

impl HeartbeatData {
    pub fn parse(body: &[u8]) -> Result<HeartbeatData, BodyError> {
        parse_json("heartbeat", body)
    }

    /// Java-style JSON (for clients such as our load generator).
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

/// One consumer group's registration in a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerData {
    #[serde(default)]
    pub consume_from_where: ConsumeFromWhere,
    #[serde(default)]
    pub consume_type: ConsumeType,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub group_name: String,
    #[serde(default)]
    pub message_model: MessageModel,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub subscription_data_set: Vec<SubscriptionData>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub unit_mode: bool,
}

/// One producer group's registration in a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerData {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub group_name: String,
}

/// A subscription: topic plus filter expression (§6.1, §7.2).
///
/// Invariant after parsing or [`SubscriptionData::from_expression`]: for TAG subscriptions `tags` is
/// the trimmed, non-empty `||`-separated tags of `sub_string`, and is empty for `*` (match all).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionData {
    pub topic: String,
    pub sub_string: String,
    pub tags: Vec<String>,
    pub expression_type: ExpressionType,
    pub sub_version: i64,
}

/// The expression meaning "every message".
pub const SUB_ALL: &str = "*";

impl SubscriptionData {
    /// Builds a subscription like Java `FilterAPI.buildSubscriptionData`: an empty expression or `*`
    /// matches everything; otherwise TAG expressions split on `||`, trimmed, empties dropped.
    /// `sub_version` is 0; set it from the request or heartbeat.
    pub fn from_expression(
        topic: &str,
        expr: &str,
        expression_type: ExpressionType,
    ) -> SubscriptionData {
        let trimmed = expr.trim();
        let (sub_string, tags) = match expression_type {
            ExpressionType::Tag if trimmed.is_empty() || trimmed == SUB_ALL => {
                (SUB_ALL.to_string(), Vec::new())
            }
            ExpressionType::Tag => (expr.to_string(), split_tags(expr)),
            ExpressionType::Sql92 => (expr.to_string(), Vec::new()),
        };
        SubscriptionData {
            topic: topic.to_string(),
            sub_string,
            tags,
            expression_type,
            sub_version: 0,
        }
    }

    /// True for a TAG subscription to every message.
    pub fn is_match_all(&self) -> bool {
        self.expression_type == ExpressionType::Tag && self.tags.is_empty()
    }
}

/// Splits a TAG expression: `"TagA || TagC"` -> `["TagA", "TagC"]` (§7.2).
pub fn split_tags(expr: &str) -> Vec<String> {
    if expr.trim() == SUB_ALL {
        return Vec::new();
    }
    expr.split("||")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionWire {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    topic: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    sub_string: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    tags_set: Vec<String>,
    #[serde(default)]
    expression_type: ExpressionType,
    #[serde(default, deserialize_with = "lenient_i64")]
    sub_version: i64,
}

impl<'de> Deserialize<'de> for SubscriptionData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SubscriptionData, D::Error> {
        let w = SubscriptionWire::deserialize(d)?;
        let mut s = SubscriptionData::from_expression(&w.topic, &w.sub_string, w.expression_type);
        if s.expression_type == ExpressionType::Tag && !s.tags.is_empty() {
            // Prefer the client's own set when it sent one (identical for well-behaved clients).
            let sent: Vec<String> = w
                .tags_set
                .iter()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            if !sent.is_empty() {
                s.tags = sent;
            }
        }
        s.sub_version = w.sub_version;
        Ok(s)
    }
}

impl Serialize for SubscriptionData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let codes: Vec<i32> = self.tags.iter().map(|t| java_string_hash(t)).collect();
        let mut st = s.serialize_struct("SubscriptionData", 7)?;
        st.serialize_field("classFilterMode", &false)?;
        st.serialize_field("codeSet", &codes)?;
        st.serialize_field("expressionType", &self.expression_type)?;
        st.serialize_field("subString", &self.sub_string)?;
        st.serialize_field("subVersion", &self.sub_version)?;
        st.serialize_field("tagsSet", &self.tags)?;
        st.serialize_field("topic", &self.topic)?;
        st.end()
    }
}

/// Java `String.hashCode` (UTF-16 code units, wrapping); only to fill `codeSet` in heartbeats we
/// send. The broker's authoritative tag hash is `crate::message::java_hash`.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

// ---------------------------------------------------------------------------------------------
// Routes (§3.1, §3.2)

/// One broker (set) in a route: id 0 is the master.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerData {
    pub cluster: String,
    pub broker_name: String,
    /// brokerId -> `"ip:port"`.
    pub broker_addrs: BTreeMap<i64, String>,
}

impl BrokerData {
    /// The master's address (id 0).
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }

    fn write_json(&self, out: &mut BytesMut, standard: bool) {
        out.extend_from_slice(b"{\"brokerAddrs\":{");
        for (i, (id, addr)) in self.broker_addrs.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            if standard {
                out.extend_from_slice(b"\"");
            }
            out.extend_from_slice(id.to_string().as_bytes());
            if standard {
                out.extend_from_slice(b"\"");
            }
            out.extend_from_slice(b":");
            put_json_str(out, addr);
        }
        out.extend_from_slice(b"},\"brokerName\":");
        put_json_str(out, &self.broker_name);
        out.extend_from_slice(b",\"cluster\":");
        put_json_str(out, &self.cluster);
        out.extend_from_slice(b"}");
    }
}

/// Queues a broker serves for a topic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    pub broker_name: String,
    #[serde(deserialize_with = "lenient_i32")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient_i32")]
    pub read_queue_nums: i32,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient_i32")]
    pub write_queue_nums: i32,
}

/// Topic permission bits (§3.1).
pub mod perm {
    pub const PRIORITY: i32 = 8;
    pub const READ: i32 = 4;
    pub const WRITE: i32 = 2;
    pub const INHERIT: i32 = 1;
}

/// GET_ROUTEINFO_BY_TOPIC (105) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicRouteData {
    pub broker_datas: Vec<BrokerData>,
    pub queue_datas: Vec<QueueData>,
    /// `"brokerName:queueNum;..."`; omitted when `None` (the normal case).
    pub order_topic_conf: Option<String>,
}

impl TopicRouteData {
    /// Compact JSON in the chosen dialect (see the module docs); `filterServerTable` is always `{}`.
    pub fn to_json(&self, standard: bool) -> String {
        let mut out = BytesMut::with_capacity(256);
        out.extend_from_slice(b"{\"brokerDatas\":[");
        for (i, b) in self.broker_datas.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            b.write_json(&mut out, standard);
        }
        out.extend_from_slice(b"],\"filterServerTable\":{}");
        if let Some(conf) = &self.order_topic_conf {
            out.extend_from_slice(b",\"orderTopicConf\":");
            put_json_str(&mut out, conf);
        }
        out.extend_from_slice(b",\"queueDatas\":[");
        for (i, q) in self.queue_datas.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            out.extend_from_slice(to_json(q).as_bytes());
        }
        out.extend_from_slice(b"]}");
        // Only valid UTF-8 was written.
        String::from_utf8(out.to_vec()).unwrap_or_default()
    }

    /// Parses the standard-JSON dialect (what a 4.9.4+ client receives).
    pub fn parse(body: &[u8]) -> Result<TopicRouteData, BodyError> {
        let w: RouteWire = parse_json("topic route", body)?;
        Ok(TopicRouteData {
            broker_datas: w.broker_datas.into_iter().map(BrokerData::from).collect(),
            queue_datas: w.queue_datas,
            order_topic_conf: w.order_topic_conf.filter(|s| !s.is_empty()),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RouteWire {
    #[serde(default, deserialize_with = "null_as_empty")]
    broker_datas: Vec<BrokerWire>,
    #[serde(default, deserialize_with = "null_as_empty")]
    queue_datas: Vec<QueueData>,
    #[serde(default)]
    order_topic_conf: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BrokerWire {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    cluster: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    broker_name: String,
    #[serde(default)]
    broker_addrs: BTreeMap<String, String>,
}

impl From<BrokerWire> for BrokerData {
    fn from(w: BrokerWire) -> BrokerData {
        BrokerData {
            cluster: w.cluster,
            broker_name: w.broker_name,
            broker_addrs: w
                .broker_addrs
                .into_iter()
                .filter_map(|(k, v)| k.trim().parse::<i64>().ok().map(|k| (k, v)))
                .collect(),
        }
    }
}

/// GET_BROKER_CLUSTER_INFO (106) response body (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterInfo {
    /// brokerName -> broker data.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// cluster name -> broker names.
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

impl ClusterInfo {
    pub fn to_json(&self, standard: bool) -> String {
        let mut out = BytesMut::with_capacity(256);
        out.extend_from_slice(b"{\"brokerAddrTable\":{");
        for (i, (name, b)) in self.broker_addr_table.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            put_json_str(&mut out, name);
            out.extend_from_slice(b":");
            b.write_json(&mut out, standard);
        }
        out.extend_from_slice(b"},\"clusterAddrTable\":");
        out.extend_from_slice(to_json(&self.cluster_addr_table).as_bytes());
        out.extend_from_slice(b"}");
        String::from_utf8(out.to_vec()).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Queues, locks, consumer lists (§7.8, §7.10)

/// A message queue: `(topic, brokerName, queueId)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueue {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub broker_name: String,
    #[serde(deserialize_with = "lenient_i32")]
    pub queue_id: i32,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub topic: String,
}

/// LOCK_BATCH_MQ (41) request body; UNLOCK_BATCH_MQ (42) has the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockBatchRequestBody {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub client_id: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub consumer_group: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub mq_set: Vec<MessageQueue>,
    /// J5 only.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub only_this_broker: bool,
}

/// UNLOCK_BATCH_MQ (42) request body.
pub type UnlockBatchRequestBody = LockBatchRequestBody;

impl LockBatchRequestBody {
    pub fn parse(body: &[u8]) -> Result<LockBatchRequestBody, BodyError> {
        parse_json("lock batch", body)
    }

    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

/// LOCK_BATCH_MQ (41) response body: the queues now held by the requester.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet", default, deserialize_with = "null_as_empty")]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

impl LockBatchResponseBody {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<LockBatchResponseBody, BodyError> {
        parse_json("lock batch response", body)
    }
}

/// GET_CONSUMER_LIST_BY_GROUP (38) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerListBody {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub consumer_id_list: Vec<String>,
}

impl ConsumerListBody {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<ConsumerListBody, BodyError> {
        parse_json("consumer list", body)
    }
}

// ---------------------------------------------------------------------------------------------
// Admin (§3.3, §13)

/// A topic's configuration as GET_ALL_TOPIC_CONFIG reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    #[serde(default, deserialize_with = "lenient_bool")]
    pub order: bool,
    #[serde(deserialize_with = "lenient_i32")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient_i32")]
    pub read_queue_nums: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    pub topic_name: String,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient_i32")]
    pub write_queue_nums: i32,
}

/// Version stamp of the topic table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct DataVersion {
    #[serde(deserialize_with = "lenient_i64")]
    pub counter: i64,
    #[serde(deserialize_with = "lenient_i64")]
    pub timestamp: i64,
}

/// GET_ALL_TOPIC_CONFIG (21) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfigSerializeWrapper {
    pub data_version: DataVersion,
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

impl TopicConfigSerializeWrapper {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<TopicConfigSerializeWrapper, BodyError> {
        parse_json("topic config", body)
    }
}

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206) response body. (`brokerAddr` is always null from a
/// NameServer; fastjson omits nulls, and so do we.)
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicList {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub topic_list: Vec<String>,
}

impl TopicList {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<TopicList, BodyError> {
        parse_json("topic list", body)
    }
}

#[cfg(test)]
mod tests;
