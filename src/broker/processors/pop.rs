//! POP consumption (RocketMQ 5): POP_MESSAGE (200050), ACK_MESSAGE (200051),
//! CHANGE_MESSAGE_INVISIBLETIME (200053) and BATCH_ACK_MESSAGE (200151). What is in flight and why
//! it is kept this way: [`crate::broker::state::pop`].
//!
//! A pop names one queue or, with queue id -1 (what a 5.x push consumer in POP mode sends), every
//! queue of the topic on this broker, and those are owned by several shards. So the accepting shard
//! runs the pop in rounds:
//!
//! 1. it asks each owning shard in turn (`Owned::PopShard`, the start rotating between pops) for
//!    at most what is still wanted: the owner takes due redeliveries first, then new messages,
//!    marks them in flight before reading them (so two pops never take the same message), and
//!    answers with the records, each with its reconsume count;
//! 2. if nothing was found and the pop may wait (`pollTime`, at most `LONG_POLL_MAX_MS`, long
//!    polling on), it asks every owning shard to watch (`Owned::PopWatch`): an owner answers as
//!    soon as one of its queues has something for the group (a message appended, one in flight
//!    visible again), or at the deadline. The first answer starts the next round; the others
//!    answer into nothing.
//!
//! Answers:
//!
//! | situation | code | body |
//! |---|---|---|
//! | messages found | SUCCESS | the stored records, reconsume count set |
//! | none, no poll | PULL_NOT_FOUND | - |
//! | none by the poll's deadline (or shutdown) | POLLING_TIMEOUT | - |
//! | maxMsgNums over 32 | MESSAGE_ILLEGAL | - |
//! | unknown topic / topic not readable / group may not consume | TOPIC_NOT_EXIST / NO_PERMISSION | - |
//! | queue id not -1 and not below the topic's read queues | SYSTEM_ERROR | - |
//! | SQL92 with property filters off / an expression that does not compile | SYSTEM_ERROR / SUBSCRIPTION_PARSE_FAILED | - |
//! | on a slave | SERVICE_NOT_AVAILABLE | - |
//!
//! An answer holds at most `maxMsgNums` (at most 32) messages and at most 4 MiB of records (a pull's
//! bound), or one larger message alone, so its frame stays far below 16 MiB.
//!
//! Every answer carries `popTime`, `invisibleTime`, `reviveQid` (always 0: nothing is revived from
//! a queue of ours) and `restNum`. `startOffsetInfo` and `msgOffsetInfo` are not sent: the Java
//! client then builds each message's receipt from the message itself (its queue offset as the
//! checkpoint offset), which is all an ack here needs.
//!
//! Ack and change of invisible time go to the queue's owner; the decision is the table in
//! `state::pop`. An offset outside the queue (`< min` or `> max`, Java's test) is NO_MESSAGE.
//! A batch ack (RocketMQ's proxy with `enableBatchAck`) names several queues, each with a bit set
//! of offsets: the accepting shard sends each queue's part to its owner (`Owned::AckBatch`), which
//! settles every offset as an ack would; what the broker does not have is skipped, and the answer
//! is SUCCESS, as Java's.

use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::broker::processors::client::SQL92_DISABLED;
use crate::broker::processors::pull::PULL_BODY_MAX_BYTES;
use crate::broker::routing::OwnedRequest;
use crate::broker::state::clients::{SqlFilter, Subscription};
use crate::broker::state::pop::{PopTable, QueueBounds, Settle, Settled, INFLIGHT_MAX};
use crate::broker::status::header_error;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::config::LONG_POLL_MAX_MS;
use crate::net::RequestCtx;
use crate::remoting::body::{set_bits, BatchAckMessageRequestBody};
use crate::remoting::codes::response as rs;
use crate::remoting::headers::{
    AckMessageHeader, ChangeInvisibleTimeResultHeader, PopMessageHeader, PopResultHeader,
};
use crate::remoting::RemotingCommand;
use crate::shard::placement::owner;
use crate::shard::ShardId;
use crate::storage::{QueueEntry, QueueOffset};

/// Most messages one pop returns (the Java broker's limit).
pub const POP_MAX_MSGS: i32 = 32;

/// One owner's part of a pop round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopShardRequest {
    pub group: String,
    pub topic: String,
    /// The topic's queues this shard owns that the pop names.
    pub queues: Vec<u32>,
    pub max: u32,
    /// Most record bytes this part may add to the answer; one record larger than this is still
    /// taken when `first` (nothing in the answer yet), so a large message is never stuck.
    pub max_bytes: usize,
    pub first: bool,
    pub invisible_ms: i64,
    /// The round's pop time (what the answer's receipts carry).
    pub pop_time_ms: i64,
    pub init_at_max: bool,
    pub order: bool,
    pub exp_type: Option<String>,
    pub exp: Option<String>,
}

/// An owner's watch over its queues of a pop, between rounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopWatchRequest {
    pub group: String,
    pub topic: String,
    pub queues: Vec<u32>,
    pub init_at_max: bool,
    pub order: bool,
    pub hold_ms: u64,
}

/// One queue's acks of a BATCH_ACK_MESSAGE, sent by the accepting shard to the queue's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckBatchRequest {
    pub group: String,
    /// The topic the messages were popped from (a retry flag already applied).
    pub topic: String,
    pub queue_id: i32,
    /// The queue offset bit 0 of `bits` stands for.
    pub start_offset: i64,
    /// The pop time the receipts carry.
    pub pop_time_ms: i64,
    /// Java `BitSet` bytes: bit `i` acks offset `start_offset + i`.
    pub bits: Vec<u8>,
}

/// Whether an ack or a change of invisible time wakes the pops parked on its queue (parked pulls
/// of the queue wake too, re-read, and park again):
///
/// | settled | queue was at `INFLIGHT_MAX` | invisible left | wake | why |
/// |---|---|---|---|---|
/// | nothing | - | - | no | nothing changed |
/// | acked | yes | - | yes | the queue may hand out new messages again |
/// | acked | no | 0 | yes | an orderly pop, blocked while anything was invisible, may go on |
/// | acked | no | > 0 | no | an orderly pop stays blocked; others were not blocked |
/// | changed | - | - | yes | a parked pop's wait was set by the old visible time |
fn wakes_pops(settled: Settled, was_full: bool, invisible_left: usize) -> bool {
    match settled {
        Settled::Nothing => false,
        Settled::Acked => was_full || invisible_left == 0,
        Settled::Changed { .. } => true,
    }
}

fn is_sql(exp_type: Option<&str>) -> bool {
    exp_type.is_some_and(|t| t.eq_ignore_ascii_case("SQL92"))
}

/// Sets the reconsume count of a stored record (a copy when it must change).
fn with_reconsume_times(rec: Bytes, times: u32) -> Bytes {
    let at = crate::message::pos::RECONSUME_TIMES;
    if times == 0 || rec.len() < at + 4 {
        return rec;
    }
    let mut b = BytesMut::from(&rec[..]);
    b[at..at + 4].copy_from_slice(&(times as i32).to_be_bytes());
    b.freeze()
}

/// `items` rotated to start at `turn` (modulo their count).
fn rotated<T: Clone>(items: &[T], turn: usize) -> Vec<T> {
    if items.is_empty() {
        return Vec::new();
    }
    let k = turn % items.len();
    items[k..].iter().chain(&items[..k]).cloned().collect()
}

impl Broker {
    fn next_pop_turn(&self) -> usize {
        let t = self.pop_turn.get();
        self.pop_turn.set(t.wrapping_add(1));
        t
    }

    /// Accepting shard: POP_MESSAGE (see the module comment).
    pub(crate) async fn pop(
        self: &Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        let h = match PopMessageHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        if let Some(refused) = self.pop_refused(&h, &cmd) {
            return refused;
        }
        let read_queues = self.topic_view(&h.topic).map_or(0, |v| v.read_queue_nums);
        let queues: Vec<u32> = if h.queue_id >= 0 {
            vec![h.queue_id as u32]
        } else {
            (0..read_queues).collect()
        };
        let mut by_shard: BTreeMap<ShardId, Vec<u32>> = BTreeMap::new();
        for q in queues {
            by_shard
                .entry(owner(&h.topic, q, self.router.shard_count()))
                .or_default()
                .push(q);
        }
        let shards: Vec<(ShardId, Vec<u32>)> = by_shard.into_iter().collect();
        if shards.is_empty() {
            let mut resp = cmd.response(rs::PULL_NOT_FOUND);
            PopResultHeader {
                pop_time_ms: now_ms(),
                invisible_time_ms: h.invisible_time_ms,
                revive_qid: 0,
                rest_num: 0,
            }
            .write_to(&mut resp);
            return resp;
        }
        let max = h.max_msg_nums.clamp(1, POP_MAX_MSGS) as u32;
        let deadline = (h.poll_time_ms > 0 && self.runtime.get().long_polling).then(|| {
            Instant::now() + Duration::from_millis((h.poll_time_ms as u64).min(LONG_POLL_MAX_MS))
        });
        let answer = |code: i32, pop_time_ms: i64, rest: i64, body: Option<Bytes>| {
            let mut resp = cmd.response(code);
            PopResultHeader {
                pop_time_ms,
                invisible_time_ms: h.invisible_time_ms,
                revive_qid: 0,
                rest_num: rest,
            }
            .write_to(&mut resp);
            if let Some(b) = body {
                resp.body = b;
            }
            resp
        };
        loop {
            let pop_time_ms = now_ms();
            let turn = self.next_pop_turn();
            let (mut found, mut rest) = (0u32, 0i64);
            let mut body = BytesMut::new();
            for (shard, qs) in rotated(&shards, turn) {
                if found >= max || body.len() >= PULL_BODY_MAX_BYTES {
                    break;
                }
                let req = OwnedRequest::PopShard(Box::new(PopShardRequest {
                    group: h.consumer_group.clone(),
                    topic: h.topic.clone(),
                    queues: rotated(&qs, turn),
                    max: max - found,
                    max_bytes: PULL_BODY_MAX_BYTES - body.len(),
                    first: body.is_empty(),
                    invisible_ms: h.invisible_time_ms,
                    pop_time_ms,
                    init_at_max: h.init_mode == 1,
                    order: h.order,
                    exp_type: h.exp_type.clone(),
                    exp: h.exp.clone(),
                }));
                let Some(part) = self.forward(shard, req, cmd.clone(), ctx).await else {
                    continue;
                };
                let num = |k: &str| part.ext(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
                rest += num("restNum");
                if part.code == rs::SUCCESS {
                    found += num("found") as u32;
                    body.extend_from_slice(&part.body);
                }
            }
            if found > 0 {
                self.metrics.record_out(
                    &h.topic,
                    &h.consumer_group,
                    u64::from(found),
                    body.len() as u64,
                );
                return answer(rs::SUCCESS, pop_time_ms, rest, Some(body.freeze()));
            }
            let Some(deadline) = deadline else {
                return answer(rs::PULL_NOT_FOUND, pop_time_ms, rest, None);
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stop.is_disconnected() {
                return answer(rs::POLLING_TIMEOUT, pop_time_ms, rest, None);
            }
            // Watch every owner; the first answer starts the next round.
            let (tx, rx) = flume::bounded::<()>(shards.len().max(1));
            for (shard, qs) in &shards {
                let req = OwnedRequest::PopWatch(PopWatchRequest {
                    group: h.consumer_group.clone(),
                    topic: h.topic.clone(),
                    queues: qs.clone(),
                    init_at_max: h.init_mode == 1,
                    order: h.order,
                    hold_ms: left.as_millis() as u64,
                });
                let watched = self.forward(*shard, req, cmd.clone(), ctx);
                let tx = tx.clone();
                glommio::spawn_local(async move {
                    let _ = watched.await;
                    let _ = tx.try_send(());
                })
                .detach();
            }
            drop(tx);
            let stop = self.stop.clone();
            futures_lite::future::or(
                async {
                    let _ = rx.recv_async().await;
                },
                futures_lite::future::or(glommio::timer::sleep(left), async {
                    let _ = stop.recv_async().await;
                }),
            )
            .await;
        }
    }

    /// The checks of a pop before any queue is looked at (the module comment's table).
    fn pop_refused(&self, h: &PopMessageHeader, cmd: &RemotingCommand) -> Option<RemotingCommand> {
        if !self.accepts_writes() {
            return Some(cmd.error_response(
                rs::SERVICE_NOT_AVAILABLE,
                "the broker is a slave: pop from its master",
            ));
        }
        if h.max_msg_nums > POP_MAX_MSGS {
            return Some(cmd.error_response(
                rs::MESSAGE_ILLEGAL,
                format!("the broker pop message is limited to {POP_MAX_MSGS}"),
            ));
        }
        if let Some(refused) = self.group_refuses_pull(&h.consumer_group, cmd) {
            return Some(refused);
        }
        let Some(cfg) = self.topic_view(&h.topic) else {
            return Some(cmd.error_response(
                rs::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please!", h.topic),
            ));
        };
        if !cfg.readable() {
            return Some(cmd.error_response(
                rs::NO_PERMISSION,
                format!("the topic[{}] peeking message is forbidden", h.topic),
            ));
        }
        if h.queue_id >= 0 && h.queue_id as u32 >= cfg.read_queue_nums || h.queue_id < -1 {
            return Some(cmd.error_response(
                rs::SYSTEM_ERROR,
                format!(
                    "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}]",
                    h.queue_id, h.topic, cfg.read_queue_nums
                ),
            ));
        }
        if is_sql(h.exp_type.as_deref()) {
            if !self.cfg.enable_property_filter {
                return Some(cmd.error_response(rs::SYSTEM_ERROR, SQL92_DISABLED));
            }
            if let SqlFilter::Invalid { error, .. } =
                SqlFilter::compile(h.exp.as_deref().unwrap_or(""))
            {
                return Some(cmd.error_response(rs::SUBSCRIPTION_PARSE_FAILED, error.to_string()));
            }
        }
        None
    }

    /// The subscription a pop filters with (a SQL92 filter the group's heartbeat compiled is reused).
    fn pop_subscription(&self, r: &PopShardRequest) -> Subscription {
        let exp = r.exp.as_deref().unwrap_or("*");
        if is_sql(r.exp_type.as_deref()) {
            let clients = self.clients.borrow();
            let known = clients
                .subscription(&r.group, &r.topic)
                .and_then(|s| s.sql.as_ref());
            Subscription::from_sql(&r.topic, exp, 0, known)
        } else {
            Subscription::from_expression(&r.topic, exp, 0)
        }
    }

    fn pop_bounds(&self, group: &str, topic: &str, qid: u32, init_at_max: bool) -> QueueBounds {
        let stored = self.offsets.borrow().query(group, topic, qid);
        let min = self.store.min_offset(topic, qid).0;
        let max = self.store.max_offset(topic, qid).0;
        QueueBounds {
            stored,
            min,
            max,
            init: match stored {
                Some(_) => min,
                None => self.pop_init_offset(topic, qid, min, max, init_at_max),
            },
        }
    }

    /// Where a group new to a queue starts (Java's `getInitOffset`): `initMode` MIN at the first
    /// message; MAX at the last one, except from 0 while the queue's first message is still in
    /// memory (a topic just created: what was sent before the consumer's first pop is consumed).
    fn pop_init_offset(&self, topic: &str, qid: u32, min: u64, max: u64, at_max: bool) -> u64 {
        if !at_max {
            return min;
        }
        let first_in_memory = min == 0
            && self
                .store
                .queue_entries(topic, qid, QueueOffset(0), 1)
                .first()
                .is_some_and(|e| self.store.in_memory(e.physical_offset));
        if first_in_memory {
            0
        } else {
            max.saturating_sub(1).max(min)
        }
    }

    /// Writes a queue's committed offset to the offset table when it moved.
    fn pop_commit(&self, group: &str, topic: &str, qid: u32) {
        let moved = self
            .pops
            .borrow_mut()
            .get_mut(group, topic, qid)
            .and_then(PopTable::mark_written);
        if let Some(c) = moved {
            self.offsets.borrow_mut().commit(group, topic, qid, c);
        }
    }

    /// Owner: one shard's part of a pop round (see the module comment).
    pub(crate) async fn pop_here(
        &self,
        r: PopShardRequest,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let sub = self.pop_subscription(&r);
        let sql = match &sub.sql {
            Some(SqlFilter::Compiled(expr)) => Some(expr.clone()),
            _ => None,
        };
        let now = now_ms();
        let mut left = r.max as usize;
        let mut rest = 0i64;
        // The answer's frame stays bounded like a pull's: at most `max_bytes` of records, or one
        // record of any size when it is the first of the whole answer.
        let mut bytes = 0usize;
        let fits = |bytes: usize, size: u32| {
            bytes + size as usize <= r.max_bytes || (r.first && bytes == 0)
        };
        // (queue, entry, reconsume count), marked in flight before any read.
        let mut picked: Vec<(u32, QueueEntry, u32)> = Vec::new();
        for &qid in &r.queues {
            let b = self.pop_bounds(&r.group, &r.topic, qid, r.init_at_max);
            {
                let mut pops = self.pops.borrow_mut();
                let q = pops.queue(&r.group, &r.topic, qid, b);
                let blocked = r.order && q.invisible(now) > 0;
                if left > 0 && !blocked {
                    let due = q.due(now, left);
                    let redelivered = !due.is_empty();
                    for off in due {
                        let e = self.store.queue_entries(&r.topic, qid, QueueOffset(off), 1);
                        match e.first() {
                            Some(e) if e.queue_offset.0 == off => {
                                if !fits(bytes, e.size_bytes) {
                                    break;
                                }
                                bytes += e.size_bytes as usize;
                                let times = q.deliver(off, now, r.invisible_ms, r.pop_time_ms);
                                picked.push((qid, *e, times));
                                left -= 1;
                            }
                            _ => q.forget(off),
                        }
                    }
                    let take_new = left > 0
                        && !(r.order && redelivered)
                        && q.inflight.len() < INFLIGHT_MAX
                        && q.next < b.max;
                    if take_new {
                        let scan = crate::broker::processors::pull::PULL_SCAN_MAX_ENTRIES
                            .min(left.max(16) * 4);
                        for e in self
                            .store
                            .queue_entries(&r.topic, qid, QueueOffset(q.next), scan)
                        {
                            if left == 0 || q.inflight.len() >= INFLIGHT_MAX {
                                break;
                            }
                            let off = e.queue_offset.0;
                            if sql.is_none() && !sub.matches(e.tags_code) {
                                q.skip_to(off + 1);
                                continue;
                            }
                            if !fits(bytes, e.size_bytes) {
                                break;
                            }
                            bytes += e.size_bytes as usize;
                            let times = q.deliver(off, now, r.invisible_ms, r.pop_time_ms);
                            picked.push((qid, e, times));
                            left -= 1;
                        }
                    }
                }
                rest += b.max.saturating_sub(q.next) as i64;
            }
            self.pop_commit(&r.group, &r.topic, qid);
        }
        let entries: Vec<QueueEntry> = picked.iter().map(|(_, e, _)| *e).collect();
        let records = self.read_entry_records(&entries).await;
        let mut body = BytesMut::new();
        let mut found = 0u64;
        let mut unmatched: Vec<(u32, u64)> = Vec::new();
        for ((qid, e, times), rec) in picked.into_iter().zip(records) {
            // An unreadable record stays in flight: it is tried again when it comes due.
            let Some(rec) = rec else { continue };
            if let Some(expr) = &sql {
                let hit = crate::message::decode_record(&rec, false)
                    .map(|v| expr.matches_properties(v.properties))
                    .unwrap_or(false);
                if !hit {
                    unmatched.push((qid, e.queue_offset.0));
                    continue;
                }
            }
            body.extend_from_slice(&with_reconsume_times(rec, times));
            found += 1;
        }
        if !unmatched.is_empty() {
            for (qid, off) in &unmatched {
                if let Some(q) = self.pops.borrow_mut().get_mut(&r.group, &r.topic, *qid) {
                    q.forget(*off);
                }
            }
            for (qid, _) in &unmatched {
                self.pop_commit(&r.group, &r.topic, *qid);
            }
        }
        let mut resp = cmd.response(if found > 0 {
            rs::SUCCESS
        } else {
            rs::PULL_NOT_FOUND
        });
        resp.set_ext("found", found);
        resp.set_ext("restNum", rest);
        if found > 0 {
            resp.body = body.freeze();
        }
        resp
    }

    /// Whether one of the queues has something for the group now, and else when the soonest
    /// in-flight message becomes visible again.
    fn pop_ready(&self, r: &PopWatchRequest, now: i64) -> (bool, Option<i64>) {
        let mut soonest: Option<i64> = None;
        for &qid in &r.queues {
            let b = self.pop_bounds(&r.group, &r.topic, qid, r.init_at_max);
            let mut pops = self.pops.borrow_mut();
            let q = pops.queue(&r.group, &r.topic, qid, b);
            let blocked = r.order && q.invisible(now) > 0;
            let new = q.next < b.max && q.inflight.len() < INFLIGHT_MAX;
            if !blocked && (new || !q.due(now, 1).is_empty()) {
                return (true, None);
            }
            if let Some(t) = q.next_visible_ms() {
                soonest = Some(soonest.map_or(t, |s| s.min(t)));
            }
        }
        (false, soonest)
    }

    /// Owner: answers when one of the queues has something for the group, or after `hold_ms`.
    pub(crate) async fn pop_watch(
        &self,
        r: PopWatchRequest,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let now = now_ms();
        let (ready, soonest) = self.pop_ready(&r, now);
        if !ready {
            let mut hold = Duration::from_millis(r.hold_ms);
            if let Some(t) = soonest {
                hold = hold.min(Duration::from_millis((t - now).max(0) as u64));
            }
            let woken: Vec<flume::Receiver<()>> = {
                let mut lp = self.long_polls.borrow_mut();
                r.queues.iter().map(|q| lp.register(&r.topic, *q)).collect()
            };
            let stop = self.stop.clone();
            let mut futs: Vec<_> = woken.iter().map(|rx| rx.recv_async()).collect();
            let any_wake = futures_lite::future::poll_fn(|cx| {
                for f in futs.iter_mut() {
                    if std::pin::Pin::new(f).poll(cx).is_ready() {
                        return std::task::Poll::Ready(());
                    }
                }
                std::task::Poll::Pending
            });
            futures_lite::future::or(
                any_wake,
                futures_lite::future::or(glommio::timer::sleep(hold), async {
                    let _ = stop.recv_async().await;
                }),
            )
            .await;
        }
        cmd.response(rs::SUCCESS)
    }

    /// Accepting shard: BATCH_ACK_MESSAGE. Each ack goes to its queue's owner
    /// ([`Broker::pop_settle_batch`]), one hop per queue named. As on the Java broker, the answer
    /// is SUCCESS whatever the owners found (a topic, queue or offset the broker does not have
    /// acks nothing), and NO_MESSAGE for a body without acks. A body that does not parse, or an
    /// ack whose retry flag is none of Java's, is refused before anything is acked.
    pub(crate) async fn batch_ack(
        self: &Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        let body = match BatchAckMessageRequestBody::parse(&cmd.body) {
            Ok(b) => b,
            Err(e) => return cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        };
        if body.acks.is_empty() {
            return cmd.error_response(rs::NO_MESSAGE, "the batch holds no ack");
        }
        let mut steps = Vec::with_capacity(body.acks.len());
        for a in body.acks {
            let Some(topic) = a.real_topic() else {
                return cmd.error_response(
                    rs::SYSTEM_ERROR,
                    format!(
                        "the ack of {}@{} has retry flag {:?}: none of 0, 1, 2",
                        a.topic, a.queue_id, a.retry
                    ),
                );
            };
            if a.queue_id >= 0 {
                steps.push(AckBatchRequest {
                    group: a.consumer_group,
                    topic,
                    queue_id: a.queue_id,
                    start_offset: a.start_offset,
                    pop_time_ms: a.pop_time_ms,
                    bits: a.bit_set,
                });
            }
        }
        for r in steps {
            let to = owner(&r.topic, r.queue_id as u32, self.router.shard_count());
            let req = OwnedRequest::AckBatch(Box::new(r));
            let _ = self.forward(to, req, cmd.clone(), ctx).await;
        }
        cmd.response(rs::SUCCESS)
    }

    /// Owner: one queue's acks of a BATCH_ACK_MESSAGE, each offset settled as by an ACK_MESSAGE
    /// carrying the batch's pop time. A topic or queue this broker does not have, and offsets
    /// outside the queue, ack nothing (Java skips them the same way).
    pub(crate) fn pop_settle_batch(
        &self,
        r: AckBatchRequest,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let done = cmd.response(rs::SUCCESS);
        let Some(cfg) = self.topic_view(&r.topic) else {
            return done;
        };
        if r.queue_id < 0 || r.queue_id as u32 >= cfg.queue_count() || r.start_offset < 0 {
            return done;
        }
        let qid = r.queue_id as u32;
        let (min, max) = (
            self.store.min_offset(&r.topic, qid).0,
            self.store.max_offset(&r.topic, qid).0,
        );
        let start = r.start_offset as u64;
        if start > max {
            return done;
        }
        let offsets: Vec<u64> = set_bits(&r.bits, max - start + 1)
            .map(|i| start + i)
            .filter(|o| *o >= min)
            .collect();
        self.settle_queue(
            &r.group,
            &r.topic,
            qid,
            &offsets,
            r.pop_time_ms,
            Settle::Ack,
        );
        done
    }

    /// Settles `offsets` of one queue for one group (the table in `state::pop`), writes the
    /// committed offset when it moved, and wakes the pops parked on the queue when [`wakes_pops`]
    /// says so. Returns what settling the last offset that changed anything did.
    fn settle_queue(
        &self,
        group: &str,
        topic: &str,
        qid: u32,
        offsets: &[u64],
        receipt_pop_time: i64,
        what: Settle,
    ) -> Settled {
        let now = now_ms();
        let (settled, wake) = self.pops.borrow_mut().get_mut(group, topic, qid).map_or(
            (Settled::Nothing, false),
            |q| {
                let full = q.inflight.len() >= INFLIGHT_MAX;
                let mut settled = Settled::Nothing;
                for o in offsets {
                    match q.settle(*o, receipt_pop_time, what, now) {
                        Settled::Nothing => {}
                        s => settled = s,
                    }
                }
                (settled, wakes_pops(settled, full, q.invisible(now)))
            },
        );
        self.pop_commit(group, topic, qid);
        if wake {
            // A pop parked on the queue may go on now (as Java's orderly ack notifies its polls).
            self.long_polls.borrow_mut().wake(topic, qid);
        }
        settled
    }

    /// Owner: ACK_MESSAGE and CHANGE_MESSAGE_INVISIBLETIME (the table in `state::pop`).
    pub(crate) fn pop_settle(&self, h: AckMessageHeader, cmd: &RemotingCommand) -> RemotingCommand {
        let Some(cfg) = self.topic_view(&h.topic) else {
            return cmd.error_response(
                rs::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please!", h.topic),
            );
        };
        if h.queue_id < 0 || h.queue_id as u32 >= cfg.queue_count() {
            return cmd.error_response(
                rs::MESSAGE_ILLEGAL,
                format!(
                    "queueId{} is illegal, topic:[{}] topicConfig.readQueueNums:[{}]",
                    h.queue_id, h.topic, cfg.read_queue_nums
                ),
            );
        }
        let receipt_pop_time = match h.pop_time_ms() {
            Ok(t) => t,
            Err(e) => return header_error(cmd, &e),
        };
        let qid = h.queue_id as u32;
        let (min, max) = (
            self.store.min_offset(&h.topic, qid).0 as i64,
            self.store.max_offset(&h.topic, qid).0 as i64,
        );
        if h.offset < min || h.offset > max {
            return cmd.error_response(
                rs::NO_MESSAGE,
                format!(
                    "offset is illegal, key:{}@{}, commit:{}, store:{}",
                    h.topic, qid, h.offset, max
                ),
            );
        }
        let what = match h.invisible_time_ms {
            None => Settle::Ack,
            Some(ms) => Settle::ChangeInvisible(ms),
        };
        let offsets = [h.offset as u64];
        let settled = self.settle_queue(
            &h.consumer_group,
            &h.topic,
            qid,
            &offsets,
            receipt_pop_time,
            what,
        );
        let mut resp = cmd.response(rs::SUCCESS);
        if let Some(ms) = h.invisible_time_ms {
            let pop_time_ms = match settled {
                Settled::Changed { pop_time_ms } => pop_time_ms,
                _ => now_ms(),
            };
            ChangeInvisibleTimeResultHeader {
                pop_time_ms,
                invisible_time_ms: ms,
                revive_qid: 0,
            }
            .write_to(&mut resp);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reconsume_count_is_written_where_clients_read_it() {
        let mut rec = vec![0u8; 100];
        rec[0] = 9;
        let rec = Bytes::from(rec);
        assert_eq!(with_reconsume_times(rec.clone(), 0), rec);
        let out = with_reconsume_times(rec.clone(), 3);
        let at = crate::message::pos::RECONSUME_TIMES;
        assert_eq!(&out[at..at + 4], &[0, 0, 0, 3]);
        assert_eq!(out[0], 9);
        assert_eq!(out.len(), 100);
    }

    #[test]
    fn wakes_follow_the_table() {
        let changed = Settled::Changed { pop_time_ms: 1 };
        let rows = [
            ((Settled::Nothing, true, 0), false),
            ((Settled::Acked, true, 3), true),
            ((Settled::Acked, false, 0), true),
            ((Settled::Acked, false, 2), false),
            ((changed, false, 2), true),
        ];
        for ((s, full, left), want) in rows {
            assert_eq!(wakes_pops(s, full, left), want, "{s:?} {full} {left}");
        }
    }

    #[test]
    fn rotation_starts_at_the_turn() {
        assert_eq!(rotated(&[1, 2, 3], 0), vec![1, 2, 3]);
        assert_eq!(rotated(&[1, 2, 3], 4), vec![2, 3, 1]);
        assert!(rotated::<u8>(&[], 2).is_empty());
    }
}
