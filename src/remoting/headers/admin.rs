//! Topic administration (§13).

use super::{ext_bool, ext_str, opt_i32, opt_str, HeaderError, DEFAULT_TOPIC};
use crate::remoting::body::perm;

/// Queue counts of a topic created without them.
pub const CREATE_TOPIC_DEFAULT_QUEUES: i32 = 8;
use crate::remoting::RemotingCommand;

/// UPDATE_AND_CREATE_TOPIC (17) request header. Absent queue counts are
/// [`CREATE_TOPIC_DEFAULT_QUEUES`], absent `perm` is read-write (admin tools always send them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicHeader {
    pub topic: String,
    pub default_topic: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    pub topic_sys_flag: i32,
    pub order: bool,
    /// RocketMQ 5's attribute modification, `+k=v,-k` (`broker::state::topic_attributes`).
    pub attributes: Option<String>,
}

impl CreateTopicHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<CreateTopicHeader, HeaderError> {
        Ok(CreateTopicHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            default_topic: opt_str(cmd, "defaultTopic")
                .unwrap_or(DEFAULT_TOPIC)
                .to_string(),
            read_queue_nums: opt_i32(cmd, "readQueueNums")?.unwrap_or(CREATE_TOPIC_DEFAULT_QUEUES),
            write_queue_nums: opt_i32(cmd, "writeQueueNums")?
                .unwrap_or(CREATE_TOPIC_DEFAULT_QUEUES),
            perm: opt_i32(cmd, "perm")?.unwrap_or(perm::READ_WRITE),
            topic_filter_type: opt_str(cmd, "topicFilterType")
                .unwrap_or("SINGLE_TAG")
                .to_string(),
            topic_sys_flag: opt_i32(cmd, "topicSysFlag")?.unwrap_or(0),
            order: ext_bool(cmd, "order"),
            attributes: opt_str(cmd, "attributes").map(str::to_string),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("defaultTopic", &self.default_topic);
        cmd.set_ext("readQueueNums", self.read_queue_nums);
        cmd.set_ext("writeQueueNums", self.write_queue_nums);
        cmd.set_ext("perm", self.perm);
        cmd.set_ext("topicFilterType", &self.topic_filter_type);
        cmd.set_ext("topicSysFlag", self.topic_sys_flag);
        cmd.set_ext("order", self.order);
        if let Some(a) = &self.attributes {
            cmd.set_ext("attributes", a);
        }
    }
}
