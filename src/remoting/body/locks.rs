//! Message queues and their locks (§7.8, §7.10).

use serde::{Deserialize, Serialize};

use super::lenient::{lenient_bool, lenient_i32, null_as_empty, null_as_empty_string};
use super::{parse_json, to_json, BodyError};

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
