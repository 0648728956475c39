//! Retry and dead letters (remoting-protocol.md §8): CONSUMER_SEND_MSG_BACK (36), and the rule that
//! turns a send to `%RETRY%<group>` (the client's fallback, an orderly consumer's give-up) into a
//! dead letter.
//!
//! CONSUMER_SEND_MSG_BACK runs on the shard whose commit log holds the consumed message (its physical
//! offset names the shard, as for VIEW_MESSAGE_BY_ID): it reads the record there, decides where the
//! copy goes, makes sure that topic exists (through shard 0), and sends the copy through the normal
//! send path to the owner of the destination queue ([`Broker::forward`] with an
//! `OwnedRequest::Send`). So a retry message is appended exactly like a producer's message, with its
//! `DELAY` property: the delay machinery of that path schedules it.
//!
//! Where a message goes, one table per entry point (`max` = the request's maxReconsumeTimes, else the
//! group's retryMaxTimes, 16 by default; `r` = reconsume times):
//!
//! | entry | condition | destination | DELAY |
//! |---|---|---|---|
//! | send-back | `r >= max` or `delayLevel < 0` | `%DLQ%<group>` queue 0 | none |
//! | send-back | otherwise, `delayLevel > 0` | `%RETRY%<group>`, a random queue | `delayLevel` |
//! | send-back | otherwise | `%RETRY%<group>`, a random queue | `3 + r` |
//! | send to `%RETRY%<group>` | `r > max` (the header's `r` is already the next attempt's) | `%DLQ%<group>` queue 0 | removed |
//! | send to `%RETRY%<group>` | the group holds unexpired queue locks (an orderly consumer gave up) | `%DLQ%<group>` queue 0 | removed |
//! | send to `%RETRY%<group>` | otherwise | unchanged | unchanged |
//!
//! The send-back rules are the Java broker's `consumerSendMsgBack`, the send rules RocketMQ 5's
//! `handleRetryAndDLQ` (4.x used `r >= max` there and had no lock rule; both put an orderly
//! consumer's message in the DLQ once it gives up). Dead-letter topics are read-write (perm 6, as
//! RocketMQ 4.9+/5 create them), so tools can read them; no consumer subscribes to them by itself.

use std::net::SocketAddr;
use std::rc::Rc;

use crate::broker::routing::OwnedRequest;
use crate::broker::state::topics::{perm, TopicConfig, TopicView, DLQ_PREFIX, RETRY_PREFIX};
use crate::broker::status::storage_error;
use crate::broker::{Broker, Control, ControlReply};
use crate::message::properties::{keys, Properties};
use crate::message::{self, decode_record};
use crate::net::RequestCtx;
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::headers::{ConsumerSendMsgBackHeader, SendMessageHeader, DEFAULT_TOPIC};
use crate::remoting::RemotingCommand;
use crate::shard::placement::owner;
use crate::shard::ShardId;
use crate::storage::PhysicalOffset;

/// Queues of a dead-letter topic (RocketMQ's `DLQ_NUMS_PER_GROUP`).
pub const DLQ_QUEUES: i32 = 1;
/// First retry's delay level offset: retry `k` waits level `3 + k - 1`.
pub const RETRY_DELAY_LEVEL_BASE: i32 = 3;

/// Properties RocketMQ 5 adds to a dead letter.
pub const DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
pub const DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";

/// Where a sent-back message goes (first table rows of the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendBackTarget {
    DeadLetter,
    Retry { delay_level: i32 },
}

/// The send-back rows of the module table.
pub fn send_back_target(reconsume_times: i32, max: i32, delay_level: i32) -> SendBackTarget {
    if reconsume_times >= max || delay_level < 0 {
        SendBackTarget::DeadLetter
    } else if delay_level > 0 {
        SendBackTarget::Retry { delay_level }
    } else {
        SendBackTarget::Retry {
            delay_level: RETRY_DELAY_LEVEL_BASE + reconsume_times,
        }
    }
}

/// The send-to-`%RETRY%` rows of the module table: whether the message becomes a dead letter.
pub fn retry_send_is_dead_letter(reconsume_times: i32, max: i32, group_locked: bool) -> bool {
    reconsume_times > max || group_locked
}

impl Broker {
    /// Makes sure `topic` exists (created through shard 0 with `queues` read-write queues).
    pub(crate) async fn ensure_system_topic(
        self: &Rc<Self>,
        topic: &str,
        queues: i32,
    ) -> Result<TopicView, String> {
        if let Some(v) = self.topic_view(topic) {
            return Ok(v);
        }
        let cfg = TopicConfig::new(topic, queues.max(1), perm::READ_WRITE);
        match self
            .control(
                ShardId(0),
                Control::EnsureTopic {
                    topic: cfg,
                    template: None,
                },
            )
            .await
        {
            ControlReply::Topic(Ok(c)) => Ok(TopicView::from(&c)),
            ControlReply::Topic(Err(e)) => Err(e),
            _ => Err("unexpected reply to topic creation".into()),
        }
    }

    /// Whether any shard holds an unexpired queue lock of `group` (an orderly consumer).
    async fn group_holds_locks(self: &Rc<Self>, group: &str) -> bool {
        self.control_all(Control::GroupLocked(group.to_string()))
            .await
            .iter()
            .any(|r| matches!(r, ControlReply::Held(true)))
    }

    /// Accepting shard, for a send to `%RETRY%<group>`: redirects it to `%DLQ%<group>` when the
    /// module table says so. The error is the response to send.
    pub(crate) async fn redirect_retry_send(
        self: &Rc<Self>,
        h: &mut SendMessageHeader,
        cmd: &RemotingCommand,
    ) -> Result<(), RemotingCommand> {
        let Some(group) = h.topic.strip_prefix(RETRY_PREFIX) else {
            return Ok(());
        };
        let group = group.to_string();
        let cfg = self.group(&group);
        let max = h.max_reconsume_times.unwrap_or(cfg.retry_max_times);
        let locked = h.reconsume_times <= max && self.group_holds_locks(&group).await;
        if !retry_send_is_dead_letter(h.reconsume_times, max, locked) {
            return Ok(());
        }
        let dlq = format!("{DLQ_PREFIX}{group}");
        if let Err(e) = self.ensure_system_topic(&dlq, DLQ_QUEUES).await {
            return Err(
                cmd.error_response(rs::SYSTEM_ERROR, format!("topic[{dlq}] not exist: {e}"))
            );
        }
        let mut props = Properties::parse(&h.properties);
        props.remove(keys::DELAY);
        h.properties = props.to_wire();
        h.topic = dlq;
        h.queue_id = 0;
        Ok(())
    }

    /// Owner of the consumed message's commit log: CONSUMER_SEND_MSG_BACK. See the module comment.
    pub(crate) async fn consumer_send_msg_back(
        self: &Rc<Self>,
        h: ConsumerSendMsgBackHeader,
        cmd: &RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        let group = self.group(&h.group);
        if group.retry_queue_nums <= 0 {
            return cmd.response(rs::SUCCESS);
        }
        let record = match self
            .store
            .read_record(PhysicalOffset(h.offset as u64))
            .await
        {
            Ok(b) => b,
            Err(e) => {
                return storage_error(
                    cmd,
                    &format!("look message by offset failed, {}: ", h.offset),
                    &e,
                )
            }
        };
        let rec = match decode_record(&record, false) {
            Ok(r) => r,
            Err(e) => {
                return cmd.error_response(
                    rs::SYSTEM_ERROR,
                    format!("look message by offset failed, {}: {e}", h.offset),
                )
            }
        };
        let mut props = Properties::parse(rec.properties);
        if props.get(keys::RETRY_TOPIC).is_none() {
            props.set(keys::RETRY_TOPIC, rec.topic);
        }
        let origin_id = props
            .get(keys::ORIGIN_MESSAGE_ID)
            .map(str::to_string)
            .unwrap_or_else(|| message::offset_msg_id(rec.store_host, rec.physical_offset));
        props.set(keys::ORIGIN_MESSAGE_ID, &origin_id);
        let reconsume_times = rec.reconsume_times.saturating_add(1);
        props.set(keys::RECONSUME_TIME, &reconsume_times.to_string());
        let max = h.max_reconsume_times.unwrap_or(group.retry_max_times);
        let (topic, queues) = match send_back_target(rec.reconsume_times, max, h.delay_level) {
            SendBackTarget::DeadLetter => {
                props.remove(keys::DELAY);
                let origin_topic = props
                    .get(keys::RETRY_TOPIC)
                    .unwrap_or(rec.topic)
                    .to_string();
                props.set(DLQ_ORIGIN_TOPIC, &origin_topic);
                props.set(
                    DLQ_ORIGIN_MESSAGE_ID,
                    h.origin_msg_id.as_deref().unwrap_or(&origin_id),
                );
                (format!("{DLQ_PREFIX}{}", h.group), DLQ_QUEUES)
            }
            SendBackTarget::Retry { delay_level } => {
                props.set(keys::DELAY, &delay_level.to_string());
                (format!("{RETRY_PREFIX}{}", h.group), group.retry_queue_nums)
            }
        };
        let view = match self.ensure_system_topic(&topic, queues).await {
            Ok(v) => v,
            Err(e) => {
                return cmd
                    .error_response(rs::SYSTEM_ERROR, format!("topic[{topic}] not exist: {e}"))
            }
        };
        if !view.writable() {
            return cmd.error_response(
                rs::NO_PERMISSION,
                format!("the topic[{topic}] sending message is forbidden"),
            );
        }
        let qid = self.pick_queue(&topic, &view);
        let send = SendMessageHeader {
            producer_group: h.group.clone(),
            topic: topic.clone(),
            default_topic: DEFAULT_TOPIC.to_string(),
            default_topic_queue_nums: queues,
            queue_id: qid as i32,
            sys_flag: rec.sys_flag,
            born_timestamp_ms: rec.born_timestamp_ms,
            flag: rec.flag,
            properties: props.to_wire(),
            reconsume_times,
            unit_mode: false,
            max_reconsume_times: None,
            batch: false,
        };
        let mut copy = RemotingCommand::request(rq::SEND_MESSAGE);
        copy.body = bytes::Bytes::copy_from_slice(rec.body);
        // The copy keeps the original's born host, as the Java broker's does.
        let copy_ctx = RequestCtx {
            peer: SocketAddr::V4(rec.born_host),
            ..ctx
        };
        let to = owner(&topic, qid, self.router.shard_count());
        match self
            .forward(to, OwnedRequest::Send(send), copy, copy_ctx)
            .await
        {
            // A flush timeout still stored the copy: answering an error would make the client
            // send it a second time.
            Some(r) if r.code == rs::SUCCESS || r.code == rs::FLUSH_DISK_TIMEOUT => {
                tracing::debug!(group = %h.group, %topic, reconsume_times, "message sent back");
                cmd.response(rs::SUCCESS)
            }
            Some(r) => cmd.error_response(rs::SYSTEM_ERROR, r.remark.unwrap_or_default()),
            None => cmd.error_response(rs::SYSTEM_ERROR, "putMessageResult is null"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_back_table_row_by_row() {
        // r >= max → DLQ
        assert_eq!(send_back_target(16, 16, 0), SendBackTarget::DeadLetter);
        assert_eq!(send_back_target(3, 2, 5), SendBackTarget::DeadLetter);
        // delayLevel < 0 → DLQ at once
        assert_eq!(send_back_target(0, 16, -1), SendBackTarget::DeadLetter);
        // explicit level
        assert_eq!(
            send_back_target(0, 16, 7),
            SendBackTarget::Retry { delay_level: 7 }
        );
        // broker decides: 3 + r
        assert_eq!(
            send_back_target(0, 16, 0),
            SendBackTarget::Retry { delay_level: 3 }
        );
        assert_eq!(
            send_back_target(15, 16, 0),
            SendBackTarget::Retry { delay_level: 18 }
        );
    }

    #[test]
    fn retry_send_table_row_by_row() {
        assert!(retry_send_is_dead_letter(17, 16, false));
        assert!(!retry_send_is_dead_letter(16, 16, false));
        assert!(retry_send_is_dead_letter(1, 16, true));
        assert!(!retry_send_is_dead_letter(0, 16, false));
    }
}
