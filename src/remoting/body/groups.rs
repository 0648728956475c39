//! Subscription-group and offset-reset bodies (§20): UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200),
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), INVOKE_BROKER_TO_RESET_OFFSET (222) and
//! RESET_CONSUMER_CLIENT_OFFSET (220).
//!
//! A group config keeps every key it was given: the fields the broker acts on are typed, the rest
//! (J5's `groupRetryPolicy`, `subscriptionDataSet`, `attributes`, ...) ride along in `extra`, so an
//! admin tool reads back what it wrote.
//!
//! The reset-offset table is keyed by message queue, which fastjson writes as an object used as a
//! key (`{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:5}}`, not JSON). Java and Go
//! clients parse exactly that; the C++ client wants the array form ([`ResetOffsetBody::to_cpp_json`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lenient::{lenient_bool, lenient_i32, lenient_i64};
use super::{parse_json, to_json, BodyError, DataVersion, MessageQueue};

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}
fn one_i64() -> i64 {
    1
}
fn sixteen() -> i32 {
    16
}
fn fifteen() -> i32 {
    15
}

/// Retries before a message goes to the dead-letter queue when neither the request nor the group says.
pub const RETRY_MAX_TIMES_DEFAULT: i32 = 16;

/// A consumer group's configuration (J4/J5 `SubscriptionGroupConfig`); defaults are Java's.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionGroupConfig {
    pub group_name: String,
    #[serde(default = "yes", deserialize_with = "lenient_bool")]
    pub consume_enable: bool,
    #[serde(default = "yes", deserialize_with = "lenient_bool")]
    pub consume_from_min_enable: bool,
    #[serde(default = "yes", deserialize_with = "lenient_bool")]
    pub consume_broadcast_enable: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub consume_message_orderly: bool,
    #[serde(default = "one", deserialize_with = "lenient_i32")]
    pub retry_queue_nums: i32,
    #[serde(default = "sixteen", deserialize_with = "lenient_i32")]
    pub retry_max_times: i32,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub broker_id: i64,
    #[serde(default = "one_i64", deserialize_with = "lenient_i64")]
    pub which_broker_when_consume_slowly: i64,
    #[serde(default = "yes", deserialize_with = "lenient_bool")]
    pub notify_consumer_ids_changed_enable: bool,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub group_sys_flag: i32,
    #[serde(default = "fifteen", deserialize_with = "lenient_i32")]
    pub consume_timeout_minute: i32,
    /// Keys the broker does not act on, kept as given.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl SubscriptionGroupConfig {
    /// The config the Java broker auto-creates for a group it has not seen.
    pub fn new(group: &str) -> SubscriptionGroupConfig {
        SubscriptionGroupConfig {
            group_name: group.to_string(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: RETRY_MAX_TIMES_DEFAULT,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: 0,
            consume_timeout_minute: 15,
            extra: BTreeMap::new(),
        }
    }

    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<SubscriptionGroupConfig, BodyError> {
        parse_json("subscription group config", body)
    }
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) response body (J4 `SubscriptionGroupWrapper`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionGroupWrapper {
    pub data_version: DataVersion,
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

impl SubscriptionGroupWrapper {
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    pub fn parse(body: &[u8]) -> Result<SubscriptionGroupWrapper, BodyError> {
        parse_json("subscription group table", body)
    }
}

/// INVOKE_BROKER_TO_RESET_OFFSET (222) response and RESET_CONSUMER_CLIENT_OFFSET (220) body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResetOffsetBody {
    pub offset_table: Vec<(MessageQueue, i64)>,
}

/// One entry of the C++ form (`ResetOffsetBodyForC`).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CppEntry {
    #[serde(default)]
    broker_name: String,
    #[serde(deserialize_with = "lenient_i64")]
    offset: i64,
    #[serde(deserialize_with = "lenient_i32")]
    queue_id: i32,
    #[serde(default)]
    topic: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CppBody {
    offset_table: Vec<CppEntry>,
}

impl ResetOffsetBody {
    /// fastjson's form, message queues as object keys (what Java and Go clients parse).
    pub fn to_json(&self) -> String {
        let mut s = String::from("{\"offsetTable\":{");
        for (i, (mq, off)) in self.offset_table.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&to_json(mq));
            s.push(':');
            s.push_str(&off.to_string());
        }
        s.push_str("}}");
        s
    }

    /// The array form the C++ client understands (`ResetOffsetBodyForC`).
    pub fn to_cpp_json(&self) -> String {
        to_json(&CppBody {
            offset_table: self
                .offset_table
                .iter()
                .map(|(mq, off)| CppEntry {
                    broker_name: mq.broker_name.clone(),
                    offset: *off,
                    queue_id: mq.queue_id,
                    topic: mq.topic.clone(),
                })
                .collect(),
        })
    }

    /// Parses either form (tests and the admin tool read the broker's answer with it).
    pub fn parse(body: &[u8]) -> Result<ResetOffsetBody, BodyError> {
        if let Ok(c) = parse_json::<CppBody>("reset offset", body) {
            return Ok(ResetOffsetBody {
                offset_table: c
                    .offset_table
                    .into_iter()
                    .map(|e| {
                        (
                            MessageQueue {
                                broker_name: e.broker_name,
                                queue_id: e.queue_id,
                                topic: e.topic,
                            },
                            e.offset,
                        )
                    })
                    .collect(),
            });
        }
        // fastjson form: `{"offsetTable":{{mq}:n,{mq}:n}}`; each key is a flat object.
        let text = std::str::from_utf8(body).unwrap_or("");
        let bad = |why: &str| BodyError::Json {
            body: "reset offset",
            source: <serde_json::Error as serde::de::Error>::custom(why),
        };
        let start = text
            .find("\"offsetTable\":{")
            .ok_or_else(|| bad("no offsetTable"))?
            + "\"offsetTable\":{".len();
        let mut rest = &text[start..];
        let mut out = Vec::new();
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if rest.starts_with('}') || rest.is_empty() {
                break;
            }
            let end = rest.find('}').ok_or_else(|| bad("unterminated key"))? + 1;
            let mq: MessageQueue = parse_json("reset offset key", &rest.as_bytes()[..end])?;
            rest = rest[end..]
                .strip_prefix(':')
                .ok_or_else(|| bad("no ':' after key"))?;
            let n_end = rest
                .find(|c: char| c != '-' && !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let off = rest[..n_end]
                .parse::<i64>()
                .map_err(|_| bad("offset is not a number"))?;
            out.push((mq, off));
            rest = &rest[n_end..];
        }
        Ok(ResetOffsetBody { offset_table: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_config_defaults_and_unknown_keys_round_trip() {
        let c = SubscriptionGroupConfig::parse(
            br#"{"groupName":"g","retryMaxTimes":"3","attributes":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(c.retry_max_times, 3);
        assert!(c.consume_enable && c.consume_broadcast_enable);
        assert_eq!(c.retry_queue_nums, 1);
        let back = SubscriptionGroupConfig::parse(c.to_json().as_bytes()).unwrap();
        assert_eq!(back, c);
        assert!(c.to_json().contains(r#""attributes":{"a":"b"}"#));
        assert_eq!(
            SubscriptionGroupConfig::parse(b"{\"groupName\":\"g\"}").unwrap(),
            SubscriptionGroupConfig::new("g")
        );
    }

    #[test]
    fn reset_body_both_forms_round_trip() {
        let mq = |q| MessageQueue {
            broker_name: "broker-a".into(),
            queue_id: q,
            topic: "T".into(),
        };
        let b = ResetOffsetBody {
            offset_table: vec![(mq(0), 5), (mq(1), 0)],
        };
        assert_eq!(
            b.to_json(),
            r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:5,{"brokerName":"broker-a","queueId":1,"topic":"T"}:0}}"#
        );
        assert_eq!(ResetOffsetBody::parse(b.to_json().as_bytes()).unwrap(), b);
        assert_eq!(
            b.to_cpp_json(),
            r#"{"offsetTable":[{"brokerName":"broker-a","offset":5,"queueId":0,"topic":"T"},{"brokerName":"broker-a","offset":0,"queueId":1,"topic":"T"}]}"#
        );
        assert_eq!(
            ResetOffsetBody::parse(b.to_cpp_json().as_bytes()).unwrap(),
            b
        );
        assert_eq!(
            ResetOffsetBody::parse(br#"{"offsetTable":{}}"#).unwrap(),
            ResetOffsetBody::default()
        );
    }
}
