//! Typed custom headers (the `extFields` of a command) for the codes the broker serves
//! (remoting-protocol.md §3, §5, §6, §7, §8, §11, §12, §13).
//!
//! Each request header has `parse(&RemotingCommand)` (lenient where real clients differ, strict
//! about required fields) and `write_to(&mut RemotingCommand)` (what a Java 4.9.8 client sends; used
//! by our load generator and tests). Response headers the broker emits have `write_to` and `parse`.
//!
//! Number parsing follows Java `Integer.parseInt`/`Long.parseLong` (surrounding whitespace is
//! tolerated); booleans follow `Boolean.parseBoolean`: `"true"` in any case is true, anything else
//! (including C++'s `"0"`/`"1"`) is false. Errors name the extFields key as sent (`b`, not `topic`,
//! for a V2 send header).

use super::RemotingCommand;

/// Why a command's custom header is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("required header field `{field}` is missing")]
    Missing { field: &'static str },
    #[error("header field `{field}` has invalid value {value:?}")]
    Invalid { field: &'static str, value: String },
}

/// Required text field.
pub fn ext_str<'a>(cmd: &'a RemotingCommand, key: &'static str) -> Result<&'a str, HeaderError> {
    cmd.ext(key).ok_or(HeaderError::Missing { field: key })
}

/// Required i32 field.
pub fn ext_i32(cmd: &RemotingCommand, key: &'static str) -> Result<i32, HeaderError> {
    parse_num(key, ext_str(cmd, key)?)
}

/// Required i64 field.
pub fn ext_i64(cmd: &RemotingCommand, key: &'static str) -> Result<i64, HeaderError> {
    parse_num(key, ext_str(cmd, key)?)
}

/// Boolean field with Java `Boolean.parseBoolean` semantics; absent is false.
pub fn ext_bool(cmd: &RemotingCommand, key: &'static str) -> bool {
    cmd.ext(key).is_some_and(parse_bool)
}

/// Optional text field (absent -> `None`).
pub fn opt_str<'a>(cmd: &'a RemotingCommand, key: &'static str) -> Option<&'a str> {
    cmd.ext(key)
}

/// Optional i32 field: absent -> `None`, present but not a number -> error.
pub fn opt_i32(cmd: &RemotingCommand, key: &'static str) -> Result<Option<i32>, HeaderError> {
    cmd.ext(key).map(|v| parse_num(key, v)).transpose()
}

/// Optional i64 field: absent -> `None`, present but not a number -> error.
pub fn opt_i64(cmd: &RemotingCommand, key: &'static str) -> Result<Option<i64>, HeaderError> {
    cmd.ext(key).map(|v| parse_num(key, v)).transpose()
}

/// Java `Boolean.parseBoolean`.
pub fn parse_bool(v: &str) -> bool {
    v.eq_ignore_ascii_case("true")
}

fn parse_num<T: std::str::FromStr>(field: &'static str, v: &str) -> Result<T, HeaderError> {
    v.trim().parse::<T>().map_err(|_| HeaderError::Invalid {
        field,
        value: v.to_string(),
    })
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_string)
}

/// PullSysFlag bits (§7.1).
pub mod pull_sys_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const CLASS_FILTER: i32 = 0x8;
    pub const LITE_PULL: i32 = 0x10;
}

/// The auto-create template topic (§3.1).
pub const DEFAULT_TOPIC: &str = "TBW102";

mod admin;
mod broker_admin;
mod client;
mod groups;
mod kv;
mod offsets;
mod pop;
mod pull;
mod query;
mod retry;
mod route;
mod send;
mod transaction;

pub use admin::{CreateTopicHeader, CREATE_TOPIC_DEFAULT_QUEUES};
pub use broker_admin::{
    BrokerConsumeStatsHeader, ClusterHeader, ConsumeStatsHeader, DeleteTopicFromNamesrvHeader,
    TopicHeader, ViewBrokerStatsDataHeader,
};
pub use client::{ConsumerGroupHeader, ProducerGroupHeader, UnregisterClientHeader};
pub use groups::{
    CloneGroupOffsetHeader, DeleteSubscriptionGroupHeader, GroupHeader, ResetOffsetHeader,
};
pub use kv::KvConfigHeader;
pub use offsets::{
    parse_offset, write_offset, BoundaryType, GetEarliestMsgStoreTimeHeader, GetMaxOffsetHeader,
    GetMinOffsetHeader, QueryConsumeQueueHeader, QueryConsumerOffsetHeader, QueueHeader,
    SearchOffsetHeader, UpdateConsumerOffsetHeader,
};
pub use pop::{
    AckMessageHeader, ChangeInvisibleTimeResultHeader, PopMessageHeader, PopReceipt,
    PopResultHeader,
};
pub use pull::{PullMessageHeader, PullResultHeader};
pub use query::{QueryMessageHeader, ViewMessageByIdHeader};
pub use retry::ConsumerSendMsgBackHeader;
pub use route::{
    body_crc32, wants_standard_json, BrokerNoticeHeader, GetRouteInfoHeader, RegisterBrokerHeader,
    RegisterBrokerResponseHeader, UnregisterBrokerHeader, STANDARD_JSON_VERSION,
};
pub use send::{send_dialect, SendDialect, SendMessageHeader, SendResultHeader};
pub use transaction::{CheckTransactionStateHeader, EndTransactionHeader};

#[cfg(test)]
mod tests;
