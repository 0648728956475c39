//! Broker-side load balancing (RocketMQ 5): QUERY_ASSIGNMENT (400) and SET_MESSAGE_REQUEST_MODE
//! (401) bodies, and the request-mode table as the Java broker persists it
//! (`config/messageRequestMode.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::MessageModel;
use super::lenient::{lenient_enum, lenient_i32, null_as_empty_string, EnumToken};
use super::locks::MessageQueue;
use super::{parse_json, to_json, BodyError};
use serde::de::{self, Deserializer};

lenient_enum!(
    /// How a consumer reads its assigned queues: PULL (offsets, one consumer per queue) or POP
    /// (the broker tracks what is in flight; consumers may share queues).
    MessageRequestMode, what = "mode", default = Pull, unknown_is_default = false, {
        Pull = 0, "PULL";
        Pop = 1, "POP";
    }
);

/// A map that may be null.
fn null_as_empty_map<'de, D: Deserializer<'de>, V: Deserialize<'de>>(
    d: D,
) -> Result<BTreeMap<String, V>, D::Error> {
    Ok(Option::<BTreeMap<String, V>>::deserialize(d)?.unwrap_or_default())
}

/// QUERY_ASSIGNMENT (400) request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryAssignmentRequestBody {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub client_id: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub consumer_group: String,
    #[serde(default)]
    pub message_model: MessageModel,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub strategy_name: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub topic: String,
}

impl QueryAssignmentRequestBody {
    pub fn parse(body: &[u8]) -> Result<QueryAssignmentRequestBody, BodyError> {
        parse_json("query assignment", body)
    }

    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

/// One assigned queue and how to read it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueueAssignment {
    #[serde(default, deserialize_with = "null_as_empty_map")]
    pub attachments: BTreeMap<String, String>,
    pub message_queue: MessageQueue,
    #[serde(default)]
    pub mode: MessageRequestMode,
}

/// QUERY_ASSIGNMENT (400) response body. `None` (JSON null) tells the client the broker could not
/// decide (unknown strategy, no consumer list), so it keeps what it has.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryAssignmentResponseBody {
    pub message_queue_assignments: Option<Vec<MessageQueueAssignment>>,
}

impl QueryAssignmentResponseBody {
    pub fn parse(body: &[u8]) -> Result<QueryAssignmentResponseBody, BodyError> {
        parse_json("query assignment response", body)
    }

    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

/// SET_MESSAGE_REQUEST_MODE (401) request body, also one entry of the persisted table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetMessageRequestModeBody {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub consumer_group: String,
    #[serde(default)]
    pub mode: MessageRequestMode,
    /// POP: how many following consumers' queues each consumer also pops; 0 or less, or at
    /// least the group's size less one: every consumer pops every queue.
    #[serde(default, deserialize_with = "lenient_i32")]
    pub pop_share_queue_num: i32,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub topic: String,
}

impl SetMessageRequestModeBody {
    pub fn parse(body: &[u8]) -> Result<SetMessageRequestModeBody, BodyError> {
        parse_json("set message request mode", body)
    }

    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

/// The persisted request modes: topic -> group -> mode (Java's `MessageRequestModeManager` file).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRequestModeTable {
    #[serde(default, deserialize_with = "null_as_empty_map")]
    pub message_request_mode_map: BTreeMap<String, BTreeMap<String, SetMessageRequestModeBody>>,
}

impl MessageRequestModeTable {
    pub fn parse(body: &[u8]) -> Result<MessageRequestModeTable, BodyError> {
        parse_json("message request modes", body)
    }

    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_java_clients_query_parses() {
        let b = br#"{"clientId":"10.0.0.1@1#1","consumerGroup":"G","messageModel":"CLUSTERING","strategyName":"AVG","topic":"T"}"#;
        let q = QueryAssignmentRequestBody::parse(b).unwrap();
        assert_eq!(q.message_model, MessageModel::Clustering);
        assert_eq!(q.strategy_name, "AVG");
    }

    #[test]
    fn an_assignment_serializes_as_java_reads_it() {
        let body = QueryAssignmentResponseBody {
            message_queue_assignments: Some(vec![MessageQueueAssignment {
                attachments: BTreeMap::new(),
                message_queue: MessageQueue {
                    broker_name: "b".into(),
                    queue_id: -1,
                    topic: "T".into(),
                },
                mode: MessageRequestMode::Pop,
            }]),
        };
        assert_eq!(
            body.to_json(),
            r#"{"messageQueueAssignments":[{"attachments":{},"messageQueue":{"brokerName":"b","queueId":-1,"topic":"T"},"mode":"POP"}]}"#
        );
        assert_eq!(
            QueryAssignmentResponseBody::default().to_json(),
            r#"{"messageQueueAssignments":null}"#
        );
    }

    #[test]
    fn modes_read_by_name_or_ordinal() {
        let b = br#"{"consumerGroup":"G","mode":1,"popShareQueueNum":"2","topic":"T"}"#;
        let m = SetMessageRequestModeBody::parse(b).unwrap();
        assert_eq!(m.mode, MessageRequestMode::Pop);
        assert_eq!(m.pop_share_queue_num, 2);
        let b = br#"{"consumerGroup":"G","mode":"PULL","topic":"T"}"#;
        assert_eq!(
            SetMessageRequestModeBody::parse(b).unwrap().mode,
            MessageRequestMode::Pull
        );
    }
}
