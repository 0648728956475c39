//! Consumer send-back to the retry topic (§8.1).

use super::{ext_bool, ext_i64, ext_str, non_empty, opt_i32, HeaderError};
use crate::remoting::RemotingCommand;

/// CONSUMER_SEND_MSG_BACK (36) request header (§8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSendMsgBackHeader {
    /// Physical offset of the consumed message.
    pub offset: i64,
    pub group: String,
    pub delay_level: i32,
    pub origin_msg_id: Option<String>,
    pub origin_topic: Option<String>,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
}

impl ConsumerSendMsgBackHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ConsumerSendMsgBackHeader, HeaderError> {
        Ok(ConsumerSendMsgBackHeader {
            offset: ext_i64(cmd, "offset")?,
            group: ext_str(cmd, "group")?.to_string(),
            delay_level: opt_i32(cmd, "delayLevel")?.unwrap_or(0),
            origin_msg_id: non_empty(cmd.ext("originMsgId")),
            origin_topic: non_empty(cmd.ext("originTopic")),
            unit_mode: ext_bool(cmd, "unitMode"),
            max_reconsume_times: opt_i32(cmd, "maxReconsumeTimes")?,
        })
    }

    /// What a Java 4.9.8 consumer sends.
    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("offset", self.offset);
        cmd.set_ext("group", &self.group);
        cmd.set_ext("delayLevel", self.delay_level);
        if let Some(id) = &self.origin_msg_id {
            cmd.set_ext("originMsgId", id);
        }
        if let Some(t) = &self.origin_topic {
            cmd.set_ext("originTopic", t);
        }
        cmd.set_ext("unitMode", self.unit_mode);
        if let Some(m) = self.max_reconsume_times {
            cmd.set_ext("maxReconsumeTimes", m);
        }
    }
}
