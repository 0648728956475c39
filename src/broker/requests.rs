//! Request classification and the small processors: where each request code is answered, and the
//! handlers that are a few lines each (registry, locks, offsets, topic admin). Sends and pulls have
//! their own modules.
//!
//! Routing table (decided once, on the accepting shard):
//!
//! | codes | answered on |
//! |---|---|
//! | NameServer codes (101, 105, 106, 206, ...) | accepting shard, from its topic replica |
//! | SEND_MESSAGE(_V2), SEND_BATCH_MESSAGE | owner of (topic, queue); queue chosen here when the client lets the broker pick |
//! | PULL, offsets (14, 15, 29, 30, 31, 32) | owner of (topic, queue) |
//! | VIEW_MESSAGE_BY_ID | shard whose log holds the offset (`offset >> 48`) |
//! | HEART_BEAT, UNREGISTER_CLIENT | every shard (registry replicas), then answered |
//! | LOCK/UNLOCK_BATCH_MQ | split by owner, merged |
//! | UPDATE_AND_CREATE_TOPIC | shard 0 (authoritative topic table) |
//! | consumer list, topic list, client config | accepting shard |
//! | anything else | accepting shard: REQUEST_CODE_NOT_SUPPORTED |

use std::collections::BTreeMap;
use std::rc::Rc;

use super::clients::{ConsumerData, Heartbeat, MessageModel, Subscription};
use super::topics::{perm, validate_topic_name, TopicConfig, AUTO_CREATE_TOPIC, RETRY_PREFIX};
use super::{error_response, Broker, Control, ControlReply, ShardMsg};
use crate::net::{ConnId, Handler, LocalFuture, Outbox, RequestCtx};
use crate::remoting::body;
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::RemotingCommand;
use crate::shard::placement::owner;
use crate::shard::ShardId;
use crate::storage::{PhysicalOffset, QueueOffset};

/// A required extFields value, or the error response RocketMQ gives for a missing one.
pub(crate) fn ext_req<'a>(cmd: &'a RemotingCommand, key: &str) -> Result<&'a str, RemotingCommand> {
    cmd.ext(key).ok_or_else(|| {
        error_response(
            cmd,
            rs::SYSTEM_ERROR,
            format!("the custom field <{key}> is null"),
        )
    })
}

/// A required numeric extFields value.
pub(crate) fn ext_num<T: std::str::FromStr>(
    cmd: &RemotingCommand,
    key: &str,
) -> Result<T, RemotingCommand> {
    let v = ext_req(cmd, key)?;
    v.trim().parse().map_err(|_| {
        error_response(
            cmd,
            rs::SYSTEM_ERROR,
            format!("the custom field <{key}> is not a number: {v}"),
        )
    })
}

/// The (topic, queue id) a queue-addressed request names, under V1 or V2 (single letter) keys.
pub(crate) fn queue_of(cmd: &RemotingCommand) -> Result<(String, u32), RemotingCommand> {
    let v2 =
        matches!(cmd.code, rq::SEND_MESSAGE_V2 | rq::SEND_BATCH_MESSAGE) && cmd.ext("b").is_some();
    let (tk, qk) = if v2 { ("b", "e") } else { ("topic", "queueId") };
    let topic = ext_req(cmd, tk)?.to_string();
    let qid: i64 = ext_num(cmd, qk)?;
    if qid < 0 || qid > u32::MAX as i64 {
        return Err(error_response(
            cmd,
            rs::SYSTEM_ERROR,
            format!("queueId[{qid}] is illegal"),
        ));
    }
    Ok((topic, qid as u32))
}

impl Handler for Broker {
    fn handle(
        self: Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> LocalFuture<Option<RemotingCommand>> {
        Box::pin(async move {
            let oneway = cmd.is_oneway();
            tracing::trace!(shard = %self.shard, code = cmd.code, opaque = cmd.opaque, flag = cmd.flag, ext = ?cmd.ext_fields, body_bytes = cmd.body.len(), peer = %ctx.peer, "request");
            self.metrics.requests.set(self.metrics.requests.get() + 1);
            let answer = self.dispatch(cmd, ctx).await;
            if oneway {
                None
            } else {
                answer
            }
        })
    }

    fn opened(&self, conn: ConnId, outbox: Outbox) {
        self.conns.borrow_mut().insert(conn.id, outbox);
    }

    fn closed(&self, conn: ConnId) {
        self.conns.borrow_mut().remove(&conn.id);
        // Every shard drops the clients bound to this connection (and their locks).
        for s in self.router.shards() {
            let (tx, _rx) = flume::bounded(1);
            let _ = self.router.send(
                s,
                ShardMsg::Control {
                    op: Control::ConnectionClosed(conn),
                    reply: tx,
                },
            );
        }
    }
}

impl Broker {
    async fn dispatch(
        self: Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> Option<RemotingCommand> {
        match cmd.code {
            rq::SEND_MESSAGE | rq::SEND_MESSAGE_V2 | rq::SEND_BATCH_MESSAGE => {
                self.route_send(cmd, ctx).await
            }
            rq::PULL_MESSAGE
            | rq::LITE_PULL_MESSAGE
            | rq::QUERY_CONSUMER_OFFSET
            | rq::UPDATE_CONSUMER_OFFSET
            | rq::GET_MAX_OFFSET
            | rq::GET_MIN_OFFSET
            | rq::SEARCH_OFFSET_BY_TIMESTAMP
            | rq::GET_EARLIEST_MSG_STORETIME => match queue_of(&cmd) {
                Ok((topic, qid)) => {
                    let to = owner(&topic, qid, self.router.shard_count());
                    self.forward(to, cmd, ctx).await
                }
                Err(resp) => Some(resp),
            },
            rq::VIEW_MESSAGE_BY_ID => match ext_num::<u64>(&cmd, "offset") {
                Ok(off) => {
                    let shard = PhysicalOffset(off).shard();
                    if (shard as usize) < self.router.shard_count() {
                        self.forward(ShardId(shard), cmd, ctx).await
                    } else {
                        Some(error_response(
                            &cmd,
                            rs::SYSTEM_ERROR,
                            format!("can not find message by the offset, {off}"),
                        ))
                    }
                }
                Err(resp) => Some(resp),
            },
            rq::HEART_BEAT => Some(self.heartbeat(cmd, ctx).await),
            rq::UNREGISTER_CLIENT => {
                let op = Control::Unregister {
                    client_id: cmd.ext("clientID").unwrap_or_default().to_string(),
                    producer_group: cmd.ext("producerGroup").unwrap_or_default().to_string(),
                    consumer_group: cmd.ext("consumerGroup").unwrap_or_default().to_string(),
                };
                self.control_all(op).await;
                Some(cmd.response(rs::SUCCESS))
            }
            rq::GET_CONSUMER_LIST_BY_GROUP => Some(self.consumer_list(&cmd)),
            rq::LOCK_BATCH_MQ | rq::UNLOCK_BATCH_MQ => Some(self.lock_batch(cmd).await),
            rq::CHECK_CLIENT_CONFIG => Some(check_client_config(&cmd)),
            rq::UPDATE_AND_CREATE_TOPIC => Some(self.create_topic(cmd).await),
            rq::GET_ALL_TOPIC_CONFIG => Some(self.all_topic_config(&cmd)),
            code if crate::nameserver::handles(code) => {
                Some(crate::nameserver::handle(&self, &cmd))
            }
            code => Some(error_response(
                &cmd,
                rs::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {code} not supported"),
            )),
        }
    }

    /// Processes a request whose queue this shard owns.
    pub(crate) fn process_owned(
        self: Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> LocalFuture<Option<RemotingCommand>> {
        Box::pin(async move {
            let oneway = cmd.is_oneway();
            let answer = match cmd.code {
                rq::SEND_MESSAGE | rq::SEND_MESSAGE_V2 | rq::SEND_BATCH_MESSAGE => {
                    self.process_send(cmd, ctx).await
                }
                rq::PULL_MESSAGE | rq::LITE_PULL_MESSAGE => self.process_pull(cmd).await,
                rq::VIEW_MESSAGE_BY_ID => self.view_message(cmd).await,
                _ => self.offset_request(cmd).await,
            };
            if oneway {
                None
            } else {
                Some(answer)
            }
        })
    }

    /// QUERY/UPDATE_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME.
    async fn offset_request(&self, cmd: RemotingCommand) -> RemotingCommand {
        let (topic, qid) = match queue_of(&cmd) {
            Ok(q) => q,
            Err(resp) => return resp,
        };
        let mut resp = cmd.response(rs::SUCCESS);
        match cmd.code {
            rq::QUERY_CONSUMER_OFFSET => {
                let group = match ext_req(&cmd, "consumerGroup") {
                    Ok(g) => g,
                    Err(r) => return r,
                };
                let stored = self.offsets.borrow().query(group, &topic, qid);
                match stored {
                    Some(off) => resp.set_ext("offset", off),
                    // As the Java broker: a group that never committed reads a queue that still
                    // starts at 0 from the beginning (a new group on a fresh topic sees everything).
                    None if self.store.min_offset(&topic, qid) == QueueOffset(0) => {
                        resp.set_ext("offset", 0)
                    }
                    None => {
                        return error_response(
                            &cmd,
                            rs::QUERY_NOT_FOUND,
                            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
                        )
                    }
                }
            }
            rq::UPDATE_CONSUMER_OFFSET => {
                let (group, offset) = match (
                    ext_req(&cmd, "consumerGroup"),
                    ext_num::<i64>(&cmd, "commitOffset"),
                ) {
                    (Ok(g), Ok(o)) => (g, o),
                    (Err(r), _) | (_, Err(r)) => return r,
                };
                self.offsets.borrow_mut().commit(group, &topic, qid, offset);
            }
            rq::GET_MAX_OFFSET => resp.set_ext("offset", self.store.max_offset(&topic, qid).0),
            rq::GET_MIN_OFFSET => resp.set_ext("offset", self.store.min_offset(&topic, qid).0),
            rq::SEARCH_OFFSET_BY_TIMESTAMP => {
                let ts = match ext_num::<i64>(&cmd, "timestamp") {
                    Ok(t) => t,
                    Err(r) => return r,
                };
                match self.store.offset_by_time(&topic, qid, ts).await {
                    Ok(off) => resp.set_ext("offset", off.0),
                    Err(e) => return error_response(&cmd, rs::SYSTEM_ERROR, e.to_string()),
                }
            }
            _ => match self.store.earliest_store_time(&topic, qid).await {
                Ok(ts) => resp.set_ext("timestamp", ts.unwrap_or(-1)),
                Err(e) => return error_response(&cmd, rs::SYSTEM_ERROR, e.to_string()),
            },
        }
        resp
    }

    async fn view_message(&self, cmd: RemotingCommand) -> RemotingCommand {
        let off = match ext_num::<u64>(&cmd, "offset") {
            Ok(o) => o,
            Err(r) => return r,
        };
        match self.store.read_record(PhysicalOffset(off)).await {
            Ok(bytes) => cmd.response(rs::SUCCESS).with_body(bytes),
            Err(e) => error_response(
                &cmd,
                rs::SYSTEM_ERROR,
                format!("can not find message by the offset, {off}: {e}"),
            ),
        }
    }

    async fn heartbeat(self: &Rc<Self>, cmd: RemotingCommand, ctx: RequestCtx) -> RemotingCommand {
        let data = match body::HeartbeatData::parse(&cmd.body) {
            Ok(d) => d,
            Err(e) => {
                return error_response(&cmd, rs::SYSTEM_ERROR, format!("bad heartbeat body: {e}"))
            }
        };
        let hb = heartbeat_from_wire(&data);
        for c in &hb.consumers {
            let retry = format!("{RETRY_PREFIX}{}", c.group);
            if self.topic(&retry).is_none() {
                let cfg = TopicConfig::new(&retry, 1, perm::READ_WRITE);
                if let ControlReply::Topic(Err(e)) = self
                    .control(
                        ShardId(0),
                        Control::EnsureTopic {
                            topic: cfg,
                            template: None,
                        },
                    )
                    .await
                {
                    return error_response(&cmd, rs::SYSTEM_ERROR, e);
                }
            }
        }
        self.control_all(Control::Heartbeat { hb, conn: ctx.conn })
            .await;
        cmd.response(rs::SUCCESS)
    }

    fn consumer_list(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let group = match ext_req(cmd, "consumerGroup") {
            Ok(g) => g,
            Err(r) => return r,
        };
        let ids = self.clients.borrow().consumer_ids(group);
        if ids.is_empty() {
            return error_response(
                cmd,
                rs::SYSTEM_ERROR,
                format!("no consumer for this group, {group}"),
            );
        }
        cmd.response(rs::SUCCESS).with_body(
            body::ConsumerListBody {
                consumer_id_list: ids,
            }
            .to_json(),
        )
    }

    async fn lock_batch(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        let req = match body::LockBatchRequestBody::parse(&cmd.body) {
            Ok(r) => r,
            Err(e) => return error_response(&cmd, rs::SYSTEM_ERROR, format!("bad lock body: {e}")),
        };
        let mut by_owner: BTreeMap<ShardId, Vec<(String, u32)>> = BTreeMap::new();
        for mq in &req.mq_set {
            let qid = mq.queue_id.max(0) as u32;
            by_owner
                .entry(owner(&mq.topic, qid, self.router.shard_count()))
                .or_default()
                .push((mq.topic.clone(), qid));
        }
        let mut locked = Vec::new();
        for (shard, queues) in by_owner {
            let op = if cmd.code == rq::LOCK_BATCH_MQ {
                Control::Lock {
                    group: req.consumer_group.clone(),
                    client_id: req.client_id.clone(),
                    queues,
                }
            } else {
                Control::Unlock {
                    group: req.consumer_group.clone(),
                    client_id: req.client_id.clone(),
                    queues,
                }
            };
            if let ControlReply::Locked(q) = self.control(shard, op).await {
                locked.extend(q);
            }
        }
        let resp = cmd.response(rs::SUCCESS);
        if cmd.code == rq::UNLOCK_BATCH_MQ {
            return resp;
        }
        let mq_set = locked
            .into_iter()
            .map(|(topic, queue_id)| body::MessageQueue {
                topic,
                broker_name: self.cfg.broker_name.clone(),
                queue_id: queue_id as i32,
            })
            .collect();
        resp.with_body(
            body::LockBatchResponseBody {
                lock_ok_mq_set: mq_set,
            }
            .to_json(),
        )
    }

    async fn create_topic(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        let topic = match ext_req(&cmd, "topic") {
            Ok(t) => t.to_string(),
            Err(r) => return r,
        };
        if let Err(e) = validate_topic_name(&topic) {
            return error_response(&cmd, rs::SYSTEM_ERROR, e.to_string());
        }
        if topic == AUTO_CREATE_TOPIC {
            return error_response(
                &cmd,
                rs::SYSTEM_ERROR,
                format!("The topic[{topic}] is conflict with system topic."),
            );
        }
        let num = |k: &str, d: u32| {
            cmd.ext(k)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(d)
        };
        let read = num("readQueueNums", 8);
        let write = num("writeQueueNums", 8);
        if read == 0 || write == 0 || read.max(write) > 1024 {
            return error_response(
                &cmd,
                rs::SYSTEM_ERROR,
                "queue numbers must be between 1 and 1024",
            );
        }
        let cfg = TopicConfig {
            topic_name: topic,
            read_queue_nums: read,
            write_queue_nums: write,
            perm: num("perm", perm::READ_WRITE) & 0xF,
            topic_filter_type: cmd
                .ext("topicFilterType")
                .unwrap_or("SINGLE_TAG")
                .to_string(),
            topic_sys_flag: num("topicSysFlag", 0),
            order: cmd
                .ext("order")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        };
        match self.control(ShardId(0), Control::UpsertTopic(cfg)).await {
            ControlReply::Topic(Err(e)) => error_response(&cmd, rs::SYSTEM_ERROR, e),
            _ => cmd.response(rs::SUCCESS),
        }
    }

    fn all_topic_config(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let t = self.topics.borrow();
        let json = serde_json::json!({
            "dataVersion": {"counter": t.version, "timestamp": crate::clock::now_ms()},
            "topicConfigTable": t.topics,
        });
        cmd.response(rs::SUCCESS)
            .with_body(json.to_string().into_bytes())
    }
}

/// Answers SUCCESS for TAG subscriptions; SQL92 is refused until property filters exist.
fn check_client_config(cmd: &RemotingCommand) -> RemotingCommand {
    let is_sql = serde_json::from_slice::<serde_json::Value>(&cmd.body)
        .ok()
        .and_then(|v| {
            v.pointer("/subscriptionData/expressionType")
                .and_then(|t| t.as_str())
                .map(|t| t.eq_ignore_ascii_case("SQL92"))
        })
        .unwrap_or(false);
    if is_sql {
        error_response(
            cmd,
            rs::SYSTEM_ERROR,
            "The broker does not support consumer to filter message by SQL92",
        )
    } else {
        cmd.response(rs::SUCCESS)
    }
}

/// The broker's view of a wire heartbeat: tag codes recomputed from the tags (clients' codeSets differ).
fn heartbeat_from_wire(data: &body::HeartbeatData) -> Heartbeat {
    Heartbeat {
        client_id: data.client_id.clone(),
        consumers: data
            .consumer_data_set
            .iter()
            .map(|c| ConsumerData {
                group: c.group_name.clone(),
                message_model: match c.message_model {
                    body::MessageModel::Broadcasting => MessageModel::Broadcasting,
                    body::MessageModel::Clustering => MessageModel::Clustering,
                },
                subscriptions: c
                    .subscription_data_set
                    .iter()
                    .map(|s| Subscription::from_expression(&s.topic, &s.sub_string, s.sub_version))
                    .collect(),
            })
            .collect(),
        producer_groups: data
            .producer_data_set
            .iter()
            .map(|p| p.group_name.clone())
            .collect(),
    }
}
