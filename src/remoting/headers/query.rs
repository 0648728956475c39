//! Message queries: by physical offset, by key (§12).

use super::{ext_bool, ext_i32, ext_i64, ext_str, HeaderError};
use crate::remoting::RemotingCommand;

/// VIEW_MESSAGE_BY_ID (33) request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewMessageByIdHeader {
    /// Physical offset from the offset msgId.
    pub offset: i64,
}

impl ViewMessageByIdHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ViewMessageByIdHeader, HeaderError> {
        Ok(ViewMessageByIdHeader {
            offset: ext_i64(cmd, "offset")?,
        })
    }
}

/// QUERY_MESSAGE (12) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryMessageHeader {
    pub topic: String,
    pub key: String,
    pub max_num: i32,
    pub begin_timestamp_ms: i64,
    pub end_timestamp_ms: i64,
    /// `_UNIQUE_KEY_QUERY`.
    pub unique_key_query: bool,
}

impl QueryMessageHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<QueryMessageHeader, HeaderError> {
        Ok(QueryMessageHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            key: ext_str(cmd, "key")?.to_string(),
            max_num: ext_i32(cmd, "maxNum")?,
            begin_timestamp_ms: ext_i64(cmd, "beginTimestamp")?,
            end_timestamp_ms: ext_i64(cmd, "endTimestamp")?,
            unique_key_query: ext_bool(cmd, "_UNIQUE_KEY_QUERY"),
        })
    }
}
