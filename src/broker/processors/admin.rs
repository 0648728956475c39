//! Topic administration, on the accepting shard: UPDATE_AND_CREATE_TOPIC (17) is applied by shard 0
//! (authoritative table, persisted, replicated to every shard before the answer; its RocketMQ 5
//! attribute modification applied there, `state::topic_attributes`);
//! GET_ALL_TOPIC_CONFIG (21) reads this shard's replica.

use std::rc::Rc;

use crate::broker::state::topic_attributes;
use crate::broker::state::topics::{validate_topic_name, TopicConfig, DEFAULT_TOPIC};
use crate::broker::status::header_error;
use crate::broker::{Broker, Control, ControlReply};
use crate::clock::now_ms;
use crate::remoting::body::{DataVersion, TopicConfigSerializeWrapper};
use crate::remoting::codes::response as rs;
use crate::remoting::headers::CreateTopicHeader;
use crate::remoting::RemotingCommand;
use crate::shard::ShardId;

/// Most queues a topic may have.
pub const TOPIC_QUEUES_MAX: i32 = 1024;

impl Broker {
    pub(crate) async fn create_topic(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        let h = match CreateTopicHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        if let Err(e) = validate_topic_name(&h.topic) {
            return cmd.error_response(rs::SYSTEM_ERROR, e.to_string());
        }
        if h.topic == DEFAULT_TOPIC {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("The topic[{}] is conflict with system topic.", h.topic),
            );
        }
        let (read, write) = (h.read_queue_nums, h.write_queue_nums);
        if read <= 0 || write <= 0 || read.max(write) > TOPIC_QUEUES_MAX {
            return cmd
                .error_response(rs::SYSTEM_ERROR, "queue numbers must be between 1 and 1024");
        }
        let attributes = h.attributes.unwrap_or_default();
        if topic_attributes::asks_mixed(&attributes) {
            return cmd.error_response(
                rs::INVALID_PARAMETER,
                "MIXED message type is not supported.",
            );
        }
        let cfg = TopicConfig {
            topic_name: h.topic,
            read_queue_nums: read,
            write_queue_nums: write,
            perm: h.perm & 0xF,
            topic_filter_type: h.topic_filter_type,
            topic_sys_flag: h.topic_sys_flag,
            order: h.order,
            attributes: Default::default(),
        };
        match self
            .control(ShardId(0), Control::UpdateTopic { cfg, attributes })
            .await
        {
            ControlReply::Topic(Err(e)) => cmd.error_response(rs::SYSTEM_ERROR, e),
            _ => cmd.response(rs::SUCCESS),
        }
    }

    pub(crate) fn all_topic_config(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let t = self.topics.borrow();
        let body = TopicConfigSerializeWrapper {
            data_version: DataVersion {
                counter: t.version as i64,
                timestamp: now_ms(),
            },
            topic_config_table: t.topics.clone(),
        };
        cmd.response(rs::SUCCESS).with_body(body.to_json())
    }
}
