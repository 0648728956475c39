//! Consumer offsets and queue offsets (§7.6, §7.7).

use super::{ext_i32, ext_i64, ext_str, parse_bool, HeaderError};
use crate::remoting::RemotingCommand;

/// QUERY_CONSUMER_OFFSET (14) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConsumerOffsetHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    /// J5 `setZeroIfNotFound` (absent in 4.x).
    pub set_zero_if_not_found: Option<bool>,
}

impl QueryConsumerOffsetHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<QueryConsumerOffsetHeader, HeaderError> {
        Ok(QueryConsumerOffsetHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            set_zero_if_not_found: cmd.ext("setZeroIfNotFound").map(parse_bool),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("consumerGroup", &self.consumer_group);
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
        if let Some(z) = self.set_zero_if_not_found {
            cmd.set_ext("setZeroIfNotFound", z);
        }
    }
}

/// UPDATE_CONSUMER_OFFSET (15) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateConsumerOffsetHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    /// Next offset to consume.
    pub commit_offset: i64,
}

impl UpdateConsumerOffsetHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<UpdateConsumerOffsetHeader, HeaderError> {
        Ok(UpdateConsumerOffsetHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            commit_offset: ext_i64(cmd, "commitOffset")?,
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("consumerGroup", &self.consumer_group);
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
        cmd.set_ext("commitOffset", self.commit_offset);
    }
}

/// `topic` + `queueId`: GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueHeader {
    pub topic: String,
    pub queue_id: i32,
}

pub type GetMaxOffsetHeader = QueueHeader;
pub type GetMinOffsetHeader = QueueHeader;
pub type GetEarliestMsgStoreTimeHeader = QueueHeader;

impl QueueHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<QueueHeader, HeaderError> {
        Ok(QueueHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
    }
}

/// Which end SEARCH_OFFSET_BY_TIMESTAMP resolves to (J5 `boundaryType`, default LOWER).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoundaryType {
    /// First message with store time >= timestamp.
    #[default]
    Lower,
    /// Last message with store time <= timestamp.
    Upper,
}

/// SEARCH_OFFSET_BY_TIMESTAMP (29) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOffsetHeader {
    pub topic: String,
    pub queue_id: i32,
    pub timestamp_ms: i64,
    pub boundary_type: BoundaryType,
}

impl SearchOffsetHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<SearchOffsetHeader, HeaderError> {
        let boundary_type = match cmd.ext("boundaryType") {
            Some(b) if b.eq_ignore_ascii_case("upper") => BoundaryType::Upper,
            _ => BoundaryType::Lower,
        };
        Ok(SearchOffsetHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            timestamp_ms: ext_i64(cmd, "timestamp")?,
            boundary_type,
        })
    }
}

/// Response header with a single `offset` (QUERY_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET, SEARCH_OFFSET).
pub fn write_offset(cmd: &mut RemotingCommand, offset: i64) {
    cmd.set_ext("offset", offset);
}

/// Reads the `offset` of a response.
pub fn parse_offset(cmd: &RemotingCommand) -> Result<i64, HeaderError> {
    ext_i64(cmd, "offset")
}

/// QUERY_CONSUME_QUEUE (321, mqadmin queryCq): `count` consume-queue entries of a queue from
/// `index`; with `consumerGroup`, that group's subscription too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConsumeQueueHeader {
    pub topic: String,
    pub queue_id: i32,
    pub index: i64,
    pub count: i32,
    pub consumer_group: Option<String>,
}

impl QueryConsumeQueueHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<QueryConsumeQueueHeader, HeaderError> {
        Ok(QueryConsumeQueueHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            index: ext_i64(cmd, "index")?,
            count: ext_i32(cmd, "count")?,
            consumer_group: super::non_empty(super::opt_str(cmd, "consumerGroup")),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
        cmd.set_ext("index", self.index);
        cmd.set_ext("count", self.count);
        if let Some(g) = &self.consumer_group {
            cmd.set_ext("consumerGroup", g);
        }
    }
}
