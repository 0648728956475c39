//! Offset reset by time: INVOKE_BROKER_TO_RESET_OFFSET (222), from an admin tool.
//!
//! The accepting shard asks the owner of each queue of the topic (`0..writeQueueNums`, or the one
//! queue a RocketMQ 5 request names) to reset that queue ([`Broker::reset_queue_offset`], an
//! owner-routed step with no request code of its own); each owner computes the target and rewrites
//! the group's committed offset there. Then the accepting shard tells every live consumer of the
//! group with a oneway RESET_CONSUMER_CLIENT_OFFSET (220) carrying the table (fastjson form, or the
//! array form when the admin request came from a C++ client, as the Java broker does), and answers
//! with the table.
//!
//! Per queue (`committed` = the group's committed offset, `target` = the queue's max offset when
//! `timestamp == -1`, else the first offset stored at or after `timestamp`; RocketMQ 5's explicit
//! `offset` for one queue replaces the lookup):
//!
//! | committed | isForce | result |
//! |---|---|---|
//! | none | any | target |
//! | c | true | target |
//! | c | false, target < c | target |
//! | c | false, target >= c | c (kept) |
//!
//! Differences from the Java broker, on purpose: a group with no live consumer gets its committed
//! offsets rewritten and a SUCCESS (Java answers CONSUMER_NOT_ONLINE, and `mqadmin` then rewrites
//! them itself); a queue the group never committed is set to the target (Java refuses the whole
//! request with "THe consumer group <g> not exist").

use std::rc::Rc;

use crate::broker::routing::OwnedRequest;
use crate::broker::status::{header_error, storage_error};
use crate::broker::Broker;
use crate::net::RequestCtx;
use crate::remoting::body::{MessageQueue, ResetOffsetBody};
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::headers::{parse_offset, write_offset, ResetOffsetHeader};
use crate::remoting::{RemotingCommand, FLAG_ONEWAY};
use crate::shard::placement::owner;

/// The per-queue decision of the module table.
pub fn reset_decision(committed: Option<i64>, target: i64, is_force: bool) -> i64 {
    match committed {
        Some(c) if !is_force && target >= c => c,
        _ => target,
    }
}

impl Broker {
    /// Accepting shard: INVOKE_BROKER_TO_RESET_OFFSET. See the module comment.
    pub(crate) async fn reset_offset(
        self: &Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        let h = match ResetOffsetHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        let Some(view) = self.topic_view(&h.topic) else {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("[reset-offset] topic[{}] not exist", h.topic),
            );
        };
        let queues: Vec<u32> = match (h.queue_id, h.offset) {
            (Some(q), Some(_)) if q >= 0 => {
                if q as u32 >= view.queue_count() {
                    return cmd.error_response(
                        rs::SYSTEM_ERROR,
                        format!("queueId[{q}] is illegal for topic {}", h.topic),
                    );
                }
                vec![q as u32]
            }
            _ => (0..view.write_queue_nums).collect(),
        };
        let mut table = Vec::with_capacity(queues.len());
        for q in queues {
            let mut per_queue = h.clone();
            per_queue.queue_id = Some(q as i32);
            let mut step = RemotingCommand::request(rq::INVOKE_BROKER_TO_RESET_OFFSET);
            per_queue.write_to(&mut step);
            let to = owner(&h.topic, q, self.router.shard_count());
            let answer = self
                .forward(to, OwnedRequest::ResetQueueOffset(per_queue), step, ctx)
                .await;
            match answer {
                Some(r) if r.code == rs::SUCCESS => {
                    let off = parse_offset(&r).unwrap_or(0);
                    table.push((
                        MessageQueue {
                            broker_name: self.cfg.broker_name.clone(),
                            queue_id: q as i32,
                            topic: h.topic.clone(),
                        },
                        off,
                    ));
                }
                Some(r) => {
                    return cmd.error_response(r.code, r.remark.unwrap_or_default());
                }
                None => return cmd.error_response(rs::SYSTEM_ERROR, "the broker is shutting down"),
            }
        }
        let body = ResetOffsetBody {
            offset_table: table,
        };
        let to_consumers = if cmd.language.eq_ignore_ascii_case("CPP") {
            body.to_cpp_json()
        } else {
            body.to_json()
        };
        let conns = self.clients.borrow().consumer_conns(&h.group);
        for conn in &conns {
            let mut push = RemotingCommand::request(rq::RESET_CONSUMER_CLIENT_OFFSET);
            push.flag |= FLAG_ONEWAY;
            push.set_ext("topic", &h.topic);
            push.set_ext("group", &h.group);
            push.set_ext("timestamp", h.timestamp_ms);
            push.set_ext("isForce", h.is_force);
            self.push(*conn, push.with_body(to_consumers.clone()));
        }
        tracing::info!(topic = %h.topic, group = %h.group, timestamp = h.timestamp_ms, consumers = conns.len(), "consumer offsets reset");
        cmd.response(rs::SUCCESS).with_body(body.to_json())
    }

    /// Owner of one queue: computes its reset target and rewrites the group's committed offset.
    pub(crate) async fn reset_queue_offset(
        &self,
        h: ResetOffsetHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let qid = h.queue_id.unwrap_or(0).max(0) as u32;
        let target = match h.offset {
            Some(off) => off.max(0),
            None if h.timestamp_ms == -1 => self.store.max_offset(&h.topic, qid).0 as i64,
            None => match self
                .store
                .offset_by_time(&h.topic, qid, h.timestamp_ms)
                .await
            {
                Ok(off) => off.0 as i64,
                Err(e) => return storage_error(cmd, "", &e),
            },
        };
        let committed = self.offsets.borrow().query(&h.group, &h.topic, qid);
        let new = reset_decision(committed, target, h.is_force || h.offset.is_some());
        self.offsets
            .borrow_mut()
            .commit(&h.group, &h.topic, qid, new);
        let mut resp = cmd.response(rs::SUCCESS);
        write_offset(&mut resp, new);
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_table_row_by_row() {
        assert_eq!(reset_decision(None, 7, false), 7);
        assert_eq!(reset_decision(None, 7, true), 7);
        assert_eq!(reset_decision(Some(3), 7, true), 7);
        assert_eq!(reset_decision(Some(9), 7, false), 7);
        assert_eq!(reset_decision(Some(3), 7, false), 3);
        assert_eq!(reset_decision(Some(7), 7, false), 7);
    }
}
