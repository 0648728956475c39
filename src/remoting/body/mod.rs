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

use serde::{Deserialize, Serialize};

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
    #[error("bad compressed {body} body: {reason}")]
    Compressed {
        body: &'static str,
        reason: &'static str,
    },
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'static str, bytes: &'a [u8]) -> Result<T, BodyError> {
    serde_json::from_slice(bytes).map_err(|source| BodyError::Json { body, source })
}

fn to_json<T: Serialize>(v: &T) -> String {
    // Serializing these plain structs into a String cannot fail (no maps with non-string keys).
    serde_json::to_string(v).unwrap_or_default()
}

mod admin;
mod assignment;
mod client;
mod groups;
mod lenient;
mod locks;
mod pop;
mod register;
mod route;
mod stats;

pub use admin::{DataVersion, TopicConfig, TopicConfigSerializeWrapper, TopicList};
pub use assignment::{
    MessageQueueAssignment, MessageRequestMode, MessageRequestModeTable,
    QueryAssignmentRequestBody, QueryAssignmentResponseBody, SetMessageRequestModeBody,
};
pub use client::{
    split_tags, ConsumeFromWhere, ConsumeType, ConsumerData, ConsumerListBody, ExpressionType,
    HeartbeatData, MessageModel, ProducerData, SubscriptionData, SUB_ALL,
};
pub use groups::{
    ResetOffsetBody, SubscriptionGroupConfig, SubscriptionGroupWrapper, RETRY_MAX_TIMES_DEFAULT,
};
pub use locks::{
    LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
pub use pop::{set_bits, BatchAck, BatchAckMessageRequestBody};
pub use register::{
    RegisterBrokerBody, REGISTER_BODY_INFLATED_MAX_BYTES, REGISTER_BODY_VERSION_MIN,
};
pub use route::{perm, BrokerData, ClusterInfo, QueueData, TopicRouteData};
pub use stats::{
    fastjson_to_json, parse_properties, write_properties, BrokerStatsData, BrokerStatsItem,
    Connection, ConsumeQueueData, ConsumeStats, ConsumeStatsList, ConsumerConnection,
    ConsumerStatusBody, GroupList, HaClientInfo, HaConnectionInfo, HaRuntimeInfo, KvTable,
    OffsetWrapper, ProducerConnection, ProducerInfo, ProducerTableInfo, QueryConsumeQueueBody,
    QueryConsumeTimeSpanBody, QueueTimeSpan, TopicOffset, TopicStatsTable,
};

#[cfg(test)]
mod tests;
