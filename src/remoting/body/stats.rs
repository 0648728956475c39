//! Operator bodies (§20): topic statistics (202), consume statistics (208), consumer connections
//! (203), broker runtime info (28), group lists (300), consume time spans (303).
//!
//! Maps keyed by a message queue are written the way fastjson writes them, with the queue object as
//! the key (`{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}}`, not JSON): Java
//! clients read exactly that. Reading goes through [`fastjson_to_json`], which turns such object keys
//! (and fastjson's unquoted integer keys) into JSON strings, so the same parser reads a Java broker's
//! answer and ours.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::lenient::{lenient_i32, lenient_i64, null_as_empty, null_as_empty_string};
use super::locks::MessageQueue;
use super::SubscriptionData;
use super::{parse_json, to_json, BodyError, ConsumeFromWhere, ConsumeType, MessageModel};

/// Rewrites fastjson's non-standard map keys into JSON strings: an object or array in key position
/// becomes the string of its text, an unquoted number key becomes a quoted one. Everything else is
/// copied as is (strings are skipped over whole, escapes included).
pub fn fastjson_to_json(text: &str) -> String {
    #[derive(PartialEq)]
    enum Ctx {
        /// In an object, the next token is a key.
        Key,
        /// In an object, after the key's `:`.
        Value,
        Array,
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    let mut stack: Vec<Ctx> = Vec::new();
    let mut i = 0;
    // Index just past the string starting at `i` (a `"`).
    let skip_string = |mut j: usize| -> usize {
        j += 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return j + 1,
                _ => j += 1,
            }
        }
        b.len()
    };
    while i < b.len() {
        let c = b[i];
        if stack.last() == Some(&Ctx::Key) && !c.is_ascii_whitespace() && c != b'}' {
            // A key: a string, an object/array (fastjson object keys), or a bare token.
            let end = match c {
                b'"' => skip_string(i),
                b'{' | b'[' => {
                    let mut depth = 0usize;
                    let mut j = i;
                    while j < b.len() {
                        match b[j] {
                            b'"' => {
                                j = skip_string(j);
                                continue;
                            }
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    j += 1;
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    j
                }
                _ => {
                    let mut j = i;
                    while j < b.len() && b[j] != b':' {
                        j += 1;
                    }
                    j
                }
            };
            let key = &text[i..end];
            if c == b'"' {
                out.push_str(key);
            } else {
                out.push_str(&serde_json::to_string(key.trim()).unwrap_or_default());
            }
            *stack.last_mut().expect("in an object") = Ctx::Value;
            i = end;
            continue;
        }
        match c {
            b'"' => {
                let end = skip_string(i);
                out.push_str(&text[i..end]);
                i = end;
                continue;
            }
            b'{' => stack.push(Ctx::Key),
            b'[' => stack.push(Ctx::Array),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    if *top == Ctx::Value {
                        *top = Ctx::Key;
                    }
                }
            }
            _ => {}
        }
        out.push(c as char);
        i += 1;
    }
    out
}

fn parse_fastjson<T: DeserializeOwned>(body: &'static str, bytes: &[u8]) -> Result<T, BodyError> {
    let text = String::from_utf8_lossy(bytes);
    parse_json(body, fastjson_to_json(&text).as_bytes())
}

/// A map keyed by queue, read from either form (object keys, or keys that are JSON strings of the
/// queue object).
fn mq_keys<V>(m: BTreeMap<String, V>) -> Result<BTreeMap<MessageQueue, V>, serde_json::Error> {
    m.into_iter()
        .map(|(k, v)| Ok((serde_json::from_str::<MessageQueue>(&k)?, v)))
        .collect()
}

/// Writes `"name":{MQ:V,...}` with fastjson's object keys.
fn write_mq_map<V: Serialize>(out: &mut String, name: &str, m: &BTreeMap<MessageQueue, V>) {
    out.push('"');
    out.push_str(name);
    out.push_str("\":{");
    for (i, (mq, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&to_json(mq));
        out.push(':');
        out.push_str(&to_json(v));
    }
    out.push('}');
}

/// One queue of GET_TOPIC_STATS_INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicOffset {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub last_update_timestamp: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub max_offset: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub min_offset: i64,
}

/// GET_TOPIC_STATS_INFO (202) response body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicStatsTable {
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
    /// RocketMQ 5's `topicPutTps`.
    pub topic_put_tps: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TopicStatsWire {
    #[serde(default)]
    offset_table: BTreeMap<String, TopicOffset>,
    #[serde(default)]
    topic_put_tps: Option<f64>,
}

impl TopicStatsTable {
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        write_mq_map(&mut s, "offsetTable", &self.offset_table);
        s.push_str(&format!(",\"topicPutTps\":{:?}}}", self.topic_put_tps));
        s
    }

    pub fn parse(body: &[u8]) -> Result<TopicStatsTable, BodyError> {
        let w: TopicStatsWire = parse_fastjson("topic stats", body)?;
        Ok(TopicStatsTable {
            offset_table: mq_keys(w.offset_table).map_err(|source| BodyError::Json {
                body: "topic stats",
                source,
            })?,
            topic_put_tps: w.topic_put_tps.unwrap_or(0.0),
        })
    }
}

/// One queue of GET_CONSUME_STATS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetWrapper {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub broker_offset: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub consumer_offset: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub last_timestamp: i64,
    /// RocketMQ 5: the next offset a pull would fetch (we report the committed offset).
    #[serde(default, deserialize_with = "lenient_i64")]
    pub pull_offset: i64,
}

/// GET_CONSUME_STATS (208) response body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStats {
    pub consume_tps: f64,
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsumeStatsWire {
    #[serde(default)]
    consume_tps: Option<f64>,
    #[serde(default)]
    offset_table: BTreeMap<String, OffsetWrapper>,
}

impl ConsumeStats {
    pub fn to_json(&self) -> String {
        let mut s = format!("{{\"consumeTps\":{:?},", self.consume_tps);
        write_mq_map(&mut s, "offsetTable", &self.offset_table);
        s.push('}');
        s
    }

    pub fn parse(body: &[u8]) -> Result<ConsumeStats, BodyError> {
        let w: ConsumeStatsWire = parse_fastjson("consume stats", body)?;
        Ok(ConsumeStats {
            consume_tps: w.consume_tps.unwrap_or(0.0),
            offset_table: mq_keys(w.offset_table).map_err(|source| BodyError::Json {
                body: "consume stats",
                source,
            })?,
        })
    }

    /// Messages not yet consumed, summed over the queues.
    pub fn diff_total(&self) -> i64 {
        self.offset_table
            .values()
            .map(|o| (o.broker_offset - o.consumer_offset).max(0))
            .sum()
    }
}

/// GET_CONSUMER_STATUS_FROM_CLIENT (221, a client's answer: its offsets per queue of one topic) and
/// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223, the broker's: each client's, by client id); Java's
/// `GetConsumerStatusBody`, one shape for both.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerStatusBody {
    pub message_queue_table: BTreeMap<MessageQueue, i64>,
    pub consumer_table: BTreeMap<String, BTreeMap<MessageQueue, i64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsumerStatusWire {
    #[serde(default)]
    message_queue_table: Option<BTreeMap<String, i64>>,
    #[serde(default)]
    consumer_table: Option<BTreeMap<String, BTreeMap<String, i64>>>,
}

impl ConsumerStatusBody {
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"consumerTable\":{");
        for (i, (client, table)) in self.consumer_table.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&to_json(client));
            s.push(':');
            // write_mq_map writes `"name":{...}`: keep only the map.
            let mut m = String::new();
            write_mq_map(&mut m, "", table);
            s.push_str(&m[3..]);
        }
        s.push_str("},");
        write_mq_map(&mut s, "messageQueueTable", &self.message_queue_table);
        s.push('}');
        s
    }

    pub fn parse(body: &[u8]) -> Result<ConsumerStatusBody, BodyError> {
        let w: ConsumerStatusWire = parse_fastjson("consumer status", body)?;
        let err = |source| BodyError::Json {
            body: "consumer status",
            source,
        };
        Ok(ConsumerStatusBody {
            message_queue_table: mq_keys(w.message_queue_table.unwrap_or_default()).map_err(err)?,
            consumer_table: w
                .consumer_table
                .unwrap_or_default()
                .into_iter()
                .map(|(c, t)| Ok((c, mq_keys(t).map_err(err)?)))
                .collect::<Result<_, BodyError>>()?,
        })
    }
}

/// One client connection of GET_CONSUMER_CONNECTION_LIST.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub client_addr: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub client_id: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub language: String,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub version: i32,
}

/// GET_PRODUCER_CONNECTION_LIST (204) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerConnection {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub connection_set: Vec<Connection>,
}

impl ProducerConnection {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<ProducerConnection, BodyError> {
        parse_fastjson("producer connection", body)
    }
}

/// GET_CONSUMER_CONNECTION_LIST (203) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerConnection {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub connection_set: Vec<Connection>,
    #[serde(default)]
    pub consume_from_where: ConsumeFromWhere,
    #[serde(default)]
    pub consume_type: ConsumeType,
    #[serde(default)]
    pub message_model: MessageModel,
    #[serde(default)]
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

impl ConsumerConnection {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<ConsumerConnection, BodyError> {
        parse_fastjson("consumer connection", body)
    }
}

/// GET_BROKER_RUNTIME_INFO (28) response body: every value a string.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct KvTable {
    #[serde(default)]
    pub table: BTreeMap<String, String>,
}

impl KvTable {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<KvTable, BodyError> {
        parse_fastjson("kv table", body)
    }
}

/// QUERY_TOPIC_CONSUME_BY_WHO (300) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupList {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub group_list: Vec<String>,
}

impl GroupList {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<GroupList, BodyError> {
        parse_fastjson("group list", body)
    }
}

/// One queue of QUERY_CONSUME_TIME_SPAN (303).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueTimeSpan {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub consume_time_stamp: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub delay_time: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub max_time_stamp: i64,
    pub message_queue: MessageQueue,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub min_time_stamp: i64,
}

/// QUERY_CONSUME_TIME_SPAN (303) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryConsumeTimeSpanBody {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub consume_time_span_set: Vec<QueueTimeSpan>,
}

impl QueryConsumeTimeSpanBody {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<QueryConsumeTimeSpanBody, BodyError> {
        parse_fastjson("consume time span", body)
    }
}

/// Java properties text (`key=value` lines) of GET/UPDATE_BROKER_CONFIG (25, 26), in order.
/// Blank lines and `#` comments are skipped; `\` escapes are not interpreted (broker keys and values
/// have none).
pub fn parse_properties(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .map(|l| match l.split_once(['=', ':']) {
            Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// The inverse of [`parse_properties`].
pub fn write_properties<'a>(kv: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = String::new();
    for (k, v) in kv {
        s.push_str(k);
        s.push('=');
        s.push_str(v);
        s.push('\n');
    }
    s
}

/// One window of VIEW_BROKER_STATS_DATA (Java's `BrokerStatsItem`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
pub struct BrokerStatsItem {
    #[serde(default)]
    pub avgpt: f64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub sum: i64,
    #[serde(default)]
    pub tps: f64,
}

/// VIEW_BROKER_STATS_DATA (315) response body: one item's last minute, hour and day.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerStatsData {
    #[serde(default)]
    pub stats_day: BrokerStatsItem,
    #[serde(default)]
    pub stats_hour: BrokerStatsItem,
    #[serde(default)]
    pub stats_minute: BrokerStatsItem,
}

impl BrokerStatsData {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<BrokerStatsData, BodyError> {
        parse_json("broker stats data", body)
    }
}

/// GET_BROKER_CONSUME_STATS (317) response body: per subscription group, the consume statistics
/// of each topic it has offsets for (`consumeStatsList` is a list of one-entry maps, as Java's).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStatsList {
    pub broker_addr: String,
    pub consume_stats_list: Vec<(String, Vec<ConsumeStats>)>,
    pub total_diff: i64,
}

impl ConsumeStatsList {
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"brokerAddr\":");
        s.push_str(&to_json(&self.broker_addr));
        s.push_str(",\"consumeStatsList\":[");
        for (i, (group, stats)) in self.consume_stats_list.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('{');
            s.push_str(&to_json(group));
            s.push_str(":[");
            for (j, st) in stats.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                s.push_str(&st.to_json());
            }
            s.push_str("]}");
        }
        s.push_str(&format!(
            "],\"totalDiff\":{},\"totalInflightDiff\":0}}",
            self.total_diff
        ));
        s
    }
}

/// One producer of GET_ALL_PRODUCER_INFO.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProducerInfo {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub client_id: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub language: String,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub last_update_timestamp: i64,
    #[serde(
        rename = "remoteIP",
        default,
        deserialize_with = "null_as_empty_string"
    )]
    pub remote_ip: String,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub version: i32,
}

/// GET_ALL_PRODUCER_INFO (328) response body: every producer group's connected producers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct ProducerTableInfo {
    #[serde(default)]
    pub data: BTreeMap<String, Vec<ProducerInfo>>,
}

impl ProducerTableInfo {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<ProducerTableInfo, BodyError> {
        parse_fastjson("producer table", body)
    }
}

/// One slave link of GET_BROKER_HA_STATUS (Java's `HAConnectionRuntimeInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HaConnectionInfo {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub addr: String,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub diff: i64,
    #[serde(default)]
    pub in_sync: bool,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub slave_ack_offset: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub transfer_from_where: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub transferred_byte_in_second: i64,
}

/// A slave's link to its master in GET_BROKER_HA_STATUS (Java's `HAClientRuntimeInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HaClientInfo {
    #[serde(default)]
    pub activated: bool,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub last_read_timestamp: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub last_write_timestamp: i64,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub master_addr: String,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub master_flush_offset: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub max_offset: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub transferred_byte_in_second: i64,
}

/// GET_BROKER_HA_STATUS (907) response body (Java's `HARuntimeInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HaRuntimeInfo {
    #[serde(default)]
    pub ha_client_runtime_info: HaClientInfo,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ha_connection_info: Vec<HaConnectionInfo>,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub in_sync_slave_nums: i32,
    #[serde(default)]
    pub master: bool,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub master_commit_log_max_offset: i64,
}

impl HaRuntimeInfo {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<HaRuntimeInfo, BodyError> {
        parse_fastjson("HA runtime info", body)
    }
}

/// One consume-queue entry of QUERY_CONSUME_QUEUE (Java's `ConsumeQueueData`; Bolide has no
/// consume-queue extension, so `extendDataJson`, `bitMap` and `msg` stay null).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeQueueData {
    #[serde(default)]
    pub bit_map: Option<String>,
    #[serde(default)]
    pub eval: bool,
    #[serde(default)]
    pub extend_data_json: Option<String>,
    #[serde(default)]
    pub msg: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub physic_offset: i64,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub physic_size: i32,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub tags_code: i64,
}

/// QUERY_CONSUME_QUEUE (321) response body.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryConsumeQueueBody {
    #[serde(default)]
    pub filter_data: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub max_queue_index: i64,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub min_queue_index: i64,
    #[serde(default)]
    pub queue_data: Option<Vec<ConsumeQueueData>>,
    #[serde(default)]
    pub subscription_data: Option<SubscriptionData>,
}

impl QueryConsumeQueueBody {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<QueryConsumeQueueBody, BodyError> {
        parse_fastjson("consume queue", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(t: &str, q: i32) -> MessageQueue {
        MessageQueue {
            topic: t.into(),
            broker_name: "b".into(),
            queue_id: q,
        }
    }

    #[test]
    fn consumer_status_reads_a_java_clients_answer_and_writes_javas_form() {
        // What a Java client answers GET_CONSUMER_STATUS_FROM_CLIENT with (fastjson object keys).
        let client = br#"{"consumerTable":{},"messageQueueTable":{{"brokerName":"b","queueId":1,"topic":"T"}:7,{"brokerName":"b","queueId":0,"topic":"T"}:5}}"#;
        let c = ConsumerStatusBody::parse(client).unwrap();
        assert_eq!(
            c.message_queue_table,
            [(mq("T", 0), 5), (mq("T", 1), 7)].into_iter().collect()
        );
        let all = ConsumerStatusBody {
            consumer_table: [("10.0.0.1@x".to_string(), c.message_queue_table)]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let text = all.to_json();
        assert_eq!(
            text,
            r#"{"consumerTable":{"10.0.0.1@x":{{"brokerName":"b","queueId":0,"topic":"T"}:5,{"brokerName":"b","queueId":1,"topic":"T"}:7}},"messageQueueTable":{}}"#
        );
        assert_eq!(ConsumerStatusBody::parse(text.as_bytes()).unwrap(), all);
    }

    #[test]
    fn fastjson_keys_become_strings() {
        let rows = [
            ("{}", "{}"),
            (r#"{"a":1}"#, r#"{"a":1}"#),
            (r#"{0:"x",1:"y"}"#, r#"{"0":"x","1":"y"}"#),
            (
                r#"{"t":{{"q":1}:{"v":[1,{"w":2}]}}}"#,
                r#"{"t":{"{\"q\":1}":{"v":[1,{"w":2}]}}}"#,
            ),
            (
                r#"{"s":"a{b:}c","k":[{"x":"}"}]}"#,
                r#"{"s":"a{b:}c","k":[{"x":"}"}]}"#,
            ),
            (r#"{ "a" : { "b":"c\"}" } }"#, r#"{ "a" : { "b":"c\"}" } }"#),
        ];
        for (input, want) in rows {
            assert_eq!(fastjson_to_json(input), want, "{input}");
        }
    }

    #[test]
    fn topic_stats_round_trip_in_fastjson_form() {
        let mut t = TopicStatsTable::default();
        t.offset_table.insert(
            mq("T", 0),
            TopicOffset {
                min_offset: 0,
                max_offset: 5,
                last_update_timestamp: 7,
            },
        );
        t.offset_table.insert(mq("T", 1), TopicOffset::default());
        let json = t.to_json();
        assert!(
            json.starts_with(r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"#),
            "{json}"
        );
        assert_eq!(TopicStatsTable::parse(json.as_bytes()).unwrap(), t);
    }

    #[test]
    fn consume_stats_round_trip_and_java_form() {
        let mut c = ConsumeStats {
            consume_tps: 1.5,
            ..Default::default()
        };
        c.offset_table.insert(
            mq("T", 2),
            OffsetWrapper {
                broker_offset: 10,
                consumer_offset: 4,
                last_timestamp: 9,
                pull_offset: 4,
            },
        );
        assert_eq!(ConsumeStats::parse(c.to_json().as_bytes()).unwrap(), c);
        assert_eq!(c.diff_total(), 6);
        // What a Java 5 broker writes (fastjson, keys sorted, numbers unquoted).
        let java = br#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":2,"topic":"T"}:{"brokerOffset":3,"consumerOffset":1,"lastTimestamp":0,"pullOffset":1}}}"#;
        let p = ConsumeStats::parse(java).unwrap();
        assert_eq!(p.offset_table[&mq("T", 2)].broker_offset, 3);
    }

    #[test]
    fn properties_round_trip() {
        let kv = parse_properties(b"# c\na=1\n\nb = x=y\nc\n");
        assert_eq!(
            kv,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x=y".into()),
                ("c".into(), "".into())
            ]
        );
        assert_eq!(write_properties([("a", "1"), ("b", "2")]), "a=1\nb=2\n");
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterWire {
    #[serde(default)]
    broker_addr_table: BTreeMap<String, ClusterBrokerWire>,
    #[serde(default)]
    cluster_addr_table: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterBrokerWire {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    cluster: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    broker_name: String,
    #[serde(default)]
    broker_addrs: BTreeMap<String, String>,
}

impl super::ClusterInfo {
    /// Reads either dialect (a Java NameServer sends fastjson's unquoted integer keys).
    pub fn parse(body: &[u8]) -> Result<super::ClusterInfo, BodyError> {
        let w: ClusterWire = parse_fastjson("cluster info", body)?;
        Ok(super::ClusterInfo {
            broker_addr_table: w
                .broker_addr_table
                .into_iter()
                .map(|(name, b)| {
                    let data = super::BrokerData {
                        cluster: b.cluster,
                        broker_name: b.broker_name,
                        broker_addrs: b
                            .broker_addrs
                            .into_iter()
                            .filter_map(|(k, v)| k.trim().parse::<i64>().ok().map(|k| (k, v)))
                            .collect(),
                    };
                    (name, data)
                })
                .collect(),
            cluster_addr_table: w.cluster_addr_table,
        })
    }
}

#[cfg(test)]
mod cluster_tests {
    use super::super::{BrokerData, ClusterInfo};

    #[test]
    fn cluster_info_reads_both_dialects() {
        let mut c = ClusterInfo::default();
        c.broker_addr_table.insert(
            "b".into(),
            BrokerData {
                cluster: "C".into(),
                broker_name: "b".into(),
                broker_addrs: [(0, "127.0.0.1:10911".to_string())].into(),
            },
        );
        c.cluster_addr_table.insert("C".into(), vec!["b".into()]);
        for standard in [true, false] {
            assert_eq!(
                ClusterInfo::parse(c.to_json(standard).as_bytes()).unwrap(),
                c
            );
        }
    }
}
