//! Topic administration bodies (§3.3, §13).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lenient::{lenient_bool, lenient_i32, lenient_i64, null_as_empty};
use super::{parse_json, to_json, BodyError};

/// A topic's configuration: what GET_ALL_TOPIC_CONFIG reports, and what the broker keeps in its
/// topic table and `topics.json` (the one definition of a topic config; permissions are [`super::perm`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    /// RocketMQ 5 attributes (`message.type`, ...; `broker::state::topic_attributes`); absent in
    /// RocketMQ 4 bodies and older `topics.json` files.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub order: bool,
    #[serde(deserialize_with = "lenient_i32")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient_i32")]
    pub read_queue_nums: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`; absent (older `topics.json` files) means `SINGLE_TAG`.
    #[serde(default = "single_tag")]
    pub topic_filter_type: String,
    pub topic_name: String,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient_i32")]
    pub write_queue_nums: i32,
}

fn single_tag() -> String {
    "SINGLE_TAG".to_string()
}

impl TopicConfig {
    /// A `SINGLE_TAG` topic with `queues` read and write queues.
    pub fn new(name: &str, queues: i32, perm: i32) -> TopicConfig {
        TopicConfig {
            topic_name: name.to_string(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm,
            topic_filter_type: single_tag(),
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
        }
    }
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
