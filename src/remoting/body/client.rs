//! Client bodies: HEART_BEAT (34) and the consumer list (§6).

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::lenient::{
    lenient_bool, lenient_enum, lenient_i64, null_as_empty, null_as_empty_string, EnumToken,
};
use super::{parse_json, to_json, BodyError};

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
        let codes: Vec<i32> = self
            .tags
            .iter()
            .map(|t| crate::message::java_hash(t))
            .collect();
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
