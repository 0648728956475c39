//! SEND_REPLY_MESSAGE (324) and SEND_REPLY_MESSAGE_V2 (325): the answer to a request-reply message
//! (RocketMQ 4.6+: `DefaultMQProducer.request`, client-go's `Request`).
//!
//! The requester sends an ordinary message carrying `REPLY_TO_CLIENT` (its client id) and
//! `CORRELATION_ID`; every stored message carries `CLUSTER`, from which the consumer addresses its
//! reply to `<cluster>_REPLY_TOPIC` ([`reply_topic`], created at start-up). The reply arrives here
//! with a send header. As in the Java broker's ReplyMessageProcessor, in this order:
//!
//! 1. the checks of a send (`Broker::place_send`: topic, permission, queue);
//! 2. the push: PUSH_REPLY_MESSAGE_TO_CLIENT (326) to the connection the requester last heartbeated
//!    on as a producer, through the shard that holds it, waiting for the client's answer. The
//!    requester gets its reply before the copy is written, so a sync flush does not delay it;
//! 3. the stored copy, a send to the queue's owner, which QUERY_MESSAGE and consumers of the reply
//!    topic can read.
//!
//! The answer to the replier is [`reply_answer`]'s table.

use std::net::SocketAddr;
use std::rc::Rc;

use crate::broker::routing::OwnedRequest;
use crate::broker::status::header_error;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::message::properties::{keys, Properties};
use crate::net::RequestCtx;
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::headers::{SendMessageHeader, SendResultHeader};
use crate::remoting::RemotingCommand;

use super::send::born_host;

/// How long the broker waits for the requester to take a reply (the Java broker's `callClient`).
const PUSH_TIMEOUT_MS: u64 = 10_000;

/// The topic replies of a cluster go to (RocketMQ's `MixAll.getReplyTopic`).
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_REPLY_TOPIC")
}

/// The answer to the replier, from the push to the requester and the stored copy's answer
/// (`None`: the broker is shutting down). As the Java broker:
///
/// | pushed to the requester | stored copy answered | answer |
/// |---|---|---|
/// | no | anything | SYSTEM_ERROR, why it was not pushed |
/// | yes | SUCCESS, FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE | SUCCESS, the stored copy's msgId, queue and offset |
/// | yes | another code, or nothing | SUCCESS, msgId `0`, the queue, offset 0 (the requester has its reply) |
pub fn reply_answer(
    cmd: &RemotingCommand,
    pushed: Result<(), String>,
    stored: Option<RemotingCommand>,
    queue_id: i32,
) -> RemotingCommand {
    if let Err(why) = pushed {
        return cmd.error_response(rs::SYSTEM_ERROR, why);
    }
    let stored = stored.filter(|s| {
        matches!(
            s.code,
            rs::SUCCESS
                | rs::FLUSH_DISK_TIMEOUT
                | rs::FLUSH_SLAVE_TIMEOUT
                | rs::SLAVE_NOT_AVAILABLE
        )
    });
    let header = stored
        .and_then(|s| SendResultHeader::parse(&s).ok())
        .unwrap_or(SendResultHeader {
            msg_id: "0".into(),
            queue_id,
            queue_offset: 0,
            transaction_id: None,
        });
    let mut resp = cmd.response(rs::SUCCESS);
    header.write_to(&mut resp);
    resp
}

impl Broker {
    /// SEND_REPLY_MESSAGE(_V2). See the module comment.
    pub(crate) async fn reply_message(
        self: &Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        let mut h = match SendMessageHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        if !self.accepts_writes() {
            let remark = crate::broker::status::SLAVE_REMARK;
            return cmd.error_response(rs::SERVICE_NOT_AVAILABLE, remark);
        }
        // The Java broker stores a reply as one message whatever the header says.
        h.batch = false;
        let to = match self.place_send(&mut h, &cmd).await {
            Ok(to) => to,
            Err(refused) => return refused,
        };
        let pushed = self.push_reply(&h, &cmd, ctx.peer).await;
        if let Err(why) = &pushed {
            tracing::warn!(topic = %h.topic, %why, "reply not pushed");
        }
        let queue_id = h.queue_id;
        let stored = self
            .forward(to, OwnedRequest::Send(h), cmd.clone(), ctx)
            .await;
        reply_answer(&cmd, pushed, stored, queue_id)
    }

    /// PUSH_REPLY_MESSAGE_TO_CLIENT to the requester named by `REPLY_TO_CLIENT`, with the
    /// fields of Java's `ReplyMessageRequestHeader`; the error is the replier's remark.
    async fn push_reply(
        self: &Rc<Self>,
        h: &SendMessageHeader,
        cmd: &RemotingCommand,
        peer: SocketAddr,
    ) -> Result<(), String> {
        let mut props = Properties::parse(&h.properties);
        let Some(client) = props.get(keys::REPLY_TO_CLIENT).map(str::to_string) else {
            return Err(format!(
                "reply message properties[{}] is null",
                keys::REPLY_TO_CLIENT
            ));
        };
        let Some(conn) = self.clients.borrow().producer_conn(&client) else {
            return Err(format!(
                "push reply message fail, channel of <{client}> not found."
            ));
        };
        props.set(keys::PUSH_REPLY_TIME, &now_ms().to_string());
        let mut ask = RemotingCommand::request(rq::PUSH_REPLY_MESSAGE_TO_CLIENT);
        ask.set_ext("producerGroup", &h.producer_group);
        ask.set_ext("topic", &h.topic);
        ask.set_ext("defaultTopic", &h.default_topic);
        ask.set_ext("defaultTopicQueueNums", h.default_topic_queue_nums);
        ask.set_ext("queueId", h.queue_id);
        ask.set_ext("sysFlag", h.sys_flag);
        ask.set_ext("bornTimestamp", h.born_timestamp_ms);
        ask.set_ext("flag", h.flag);
        ask.set_ext("properties", props.to_wire());
        ask.set_ext("reconsumeTimes", h.reconsume_times);
        ask.set_ext("unitMode", h.unit_mode);
        ask.set_ext("bornHost", born_host(peer));
        ask.set_ext("storeHost", self.store_host);
        ask.set_ext("storeTimestamp", now_ms());
        let ask = ask.with_body(cmd.body.clone());
        match self.call_client(conn, ask, PUSH_TIMEOUT_MS).await {
            Ok(a) if a.code == rs::SUCCESS => Ok(()),
            Ok(a) => Err(format!(
                "push reply message to {client} fail: the client answered {} {}",
                a.code,
                a.remark.unwrap_or_default()
            )),
            Err(why) => Err(format!("push reply message to {client} fail: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(code: i32) -> RemotingCommand {
        let mut r = RemotingCommand::request(rq::SEND_REPLY_MESSAGE).response(code);
        SendResultHeader {
            msg_id: "7F00000100002A9F0000000000000100".into(),
            queue_id: 0,
            queue_offset: 41,
            transaction_id: None,
        }
        .write_to(&mut r);
        r
    }

    #[test]
    fn reply_answer_row_by_row() {
        let cmd = RemotingCommand::request(rq::SEND_REPLY_MESSAGE_V2);
        let gone = || Err("push reply message fail, channel of <c> not found.".to_string());
        // (pushed, stored answer, code, msgId, offset): the table of `reply_answer`.
        type Row = (
            Result<(), String>,
            Option<RemotingCommand>,
            i32,
            &'static str,
            i64,
        );
        let rows: Vec<Row> = vec![
            (gone(), Some(stored(rs::SUCCESS)), rs::SYSTEM_ERROR, "", 0),
            (gone(), None, rs::SYSTEM_ERROR, "", 0),
            (
                Ok(()),
                Some(stored(rs::SUCCESS)),
                rs::SUCCESS,
                "7F00000100002A9F0000000000000100",
                41,
            ),
            (
                Ok(()),
                Some(stored(rs::FLUSH_DISK_TIMEOUT)),
                rs::SUCCESS,
                "7F00000100002A9F0000000000000100",
                41,
            ),
            (
                Ok(()),
                Some(stored(rs::SLAVE_NOT_AVAILABLE)),
                rs::SUCCESS,
                "7F00000100002A9F0000000000000100",
                41,
            ),
            (
                Ok(()),
                Some(stored(rs::SERVICE_NOT_AVAILABLE)),
                rs::SUCCESS,
                "0",
                0,
            ),
            (Ok(()), None, rs::SUCCESS, "0", 0),
        ];
        for (i, (pushed, st, code, msg_id, offset)) in rows.into_iter().enumerate() {
            let was_pushed = pushed.is_ok();
            let a = reply_answer(&cmd, pushed, st, 3);
            assert_eq!(a.code, code, "row {i}");
            if !was_pushed {
                assert!(
                    a.remark.as_deref().unwrap_or("").contains("not found"),
                    "row {i}"
                );
                continue;
            }
            let h = SendResultHeader::parse(&a).expect("a send result header");
            assert_eq!(
                (h.msg_id.as_str(), h.queue_offset),
                (msg_id, offset),
                "row {i}"
            );
            if msg_id == "0" {
                assert_eq!(h.queue_id, 3, "row {i}");
            }
        }
    }

    #[test]
    fn reply_topic_is_the_clusters() {
        assert_eq!(reply_topic("DefaultCluster"), "DefaultCluster_REPLY_TOPIC");
    }
}
