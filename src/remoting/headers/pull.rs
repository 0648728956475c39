//! PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361) request header and the pull response header
//! (§7.1, §7.3).

use super::{ext_i32, ext_i64, ext_str, non_empty, opt_i64, opt_str, pull_sys_flag, HeaderError};
use crate::remoting::RemotingCommand;

/// PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullMessageHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub max_msg_nums: i32,
    /// [`pull_sys_flag`] bits.
    pub sys_flag: i32,
    /// Valid when `sys_flag` has [`pull_sys_flag::COMMIT_OFFSET`].
    pub commit_offset: i64,
    pub suspend_timeout_ms: i64,
    /// Valid when `sys_flag` has [`pull_sys_flag::SUBSCRIPTION`].
    pub subscription: Option<String>,
    pub sub_version: i64,
    /// `None` means TAG.
    pub expression_type: Option<String>,
}

impl PullMessageHeader {
    /// A pull of every tag (`*`, TAG) of one queue from `queue_offset`: no long polling, no
    /// committed offset. What tools send (admin, console, tests), not a push consumer.
    pub fn all_tags(
        consumer_group: &str,
        topic: &str,
        queue_id: i32,
        queue_offset: i64,
        max_msg_nums: i32,
    ) -> PullMessageHeader {
        PullMessageHeader {
            consumer_group: consumer_group.to_string(),
            topic: topic.to_string(),
            queue_id,
            queue_offset,
            max_msg_nums,
            sys_flag: pull_sys_flag::SUBSCRIPTION,
            commit_offset: 0,
            suspend_timeout_ms: 0,
            subscription: Some("*".to_string()),
            sub_version: 0,
            expression_type: Some("TAG".to_string()),
        }
    }

    pub fn parse(cmd: &RemotingCommand) -> Result<PullMessageHeader, HeaderError> {
        Ok(PullMessageHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            queue_offset: ext_i64(cmd, "queueOffset")?,
            max_msg_nums: ext_i32(cmd, "maxMsgNums")?,
            sys_flag: ext_i32(cmd, "sysFlag")?,
            commit_offset: opt_i64(cmd, "commitOffset")?.unwrap_or(0),
            suspend_timeout_ms: opt_i64(cmd, "suspendTimeoutMillis")?.unwrap_or(0),
            subscription: opt_str(cmd, "subscription").map(str::to_string),
            sub_version: opt_i64(cmd, "subVersion")?.unwrap_or(0),
            expression_type: non_empty(cmd.ext("expressionType")),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("consumerGroup", &self.consumer_group);
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
        cmd.set_ext("queueOffset", self.queue_offset);
        cmd.set_ext("maxMsgNums", self.max_msg_nums);
        cmd.set_ext("sysFlag", self.sys_flag);
        cmd.set_ext("commitOffset", self.commit_offset);
        cmd.set_ext("suspendTimeoutMillis", self.suspend_timeout_ms);
        if let Some(s) = &self.subscription {
            cmd.set_ext("subscription", s);
        }
        cmd.set_ext("subVersion", self.sub_version);
        if let Some(e) = &self.expression_type {
            cmd.set_ext("expressionType", e);
        }
    }

    pub fn has_commit_offset(&self) -> bool {
        self.sys_flag & pull_sys_flag::COMMIT_OFFSET != 0
    }

    pub fn suspend(&self) -> bool {
        self.sys_flag & pull_sys_flag::SUSPEND != 0
    }

    pub fn has_subscription(&self) -> bool {
        self.sys_flag & pull_sys_flag::SUBSCRIPTION != 0
    }
}

/// Pull response header (§7.3): all four mandatory for SUCCESS, PULL_NOT_FOUND,
/// PULL_RETRY_IMMEDIATELY and PULL_OFFSET_MOVED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullResultHeader {
    pub suggest_which_broker_id: i64,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
}

impl PullResultHeader {
    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("suggestWhichBrokerId", self.suggest_which_broker_id);
        cmd.set_ext("nextBeginOffset", self.next_begin_offset);
        cmd.set_ext("minOffset", self.min_offset);
        cmd.set_ext("maxOffset", self.max_offset);
    }

    pub fn parse(cmd: &RemotingCommand) -> Result<PullResultHeader, HeaderError> {
        Ok(PullResultHeader {
            suggest_which_broker_id: opt_i64(cmd, "suggestWhichBrokerId")?.unwrap_or(0),
            next_begin_offset: ext_i64(cmd, "nextBeginOffset")?,
            min_offset: ext_i64(cmd, "minOffset")?,
            max_offset: ext_i64(cmd, "maxOffset")?,
        })
    }
}
