//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320).
//!
//! On the accepting shard ([`Broker::route_send`]): validate the topic name, auto-create the topic from
//! its template (`TBW102`) through shard 0 if needed, pick a queue when the client lets the broker
//! choose (preferring one this shard owns: no hop), and forward to the queue's owner.
//! On the owner ([`Broker::process_send`], [`Broker::process_batch`]): check limits, build the stored
//! record (properties re-serialised canonically with `CLUSTER`), append, answer with RocketMQ's send
//! response header, wake long-polling pulls of that queue. A transactional half message is the one
//! exception, handed to `transaction::put_half_message` before it is built.
//!
//! The send header is parsed once, on the accepting shard (its dialect rule is
//! `SendMessageHeader::parse`), and travels to the owner parsed; a queue the broker picks is written
//! into the parsed header, not back into the command.
//!
//! Every message goes into the store through one path, [`Broker::encode_put`] / [`Broker::put_message`],
//! whose schedule step parks delayed and timer messages ([`crate::broker::delay`]).
//!
//! Append outcome → response code: appended (durable, or async flush mode) → SUCCESS; appended but the
//! sync flush was slower than the timeout → FLUSH_DISK_TIMEOUT; a storage error → the table of
//! [`crate::broker::status`]; SYNC_MASTER, the slave's acknowledgement missing → SLAVE_NOT_AVAILABLE
//! or FLUSH_SLAVE_TIMEOUT ([`crate::broker::replication`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;

use bytes::BytesMut;

use crate::broker::delay::Schedule;
use crate::broker::routing::OwnedRequest;
use crate::broker::state::topics::{
    is_send_forbidden, perm, validate_topic_name, TopicConfig, TopicView, DLQ_PREFIX, RETRY_PREFIX,
};
use crate::broker::status::storage_error;
use crate::broker::{Broker, Control, ControlReply};
use crate::clock::now_ms;
use crate::message::properties::{keys, Properties};
use crate::message::{self, NewRecord};
use crate::net::RequestCtx;
use crate::remoting::batch::decode_batch;
use crate::remoting::codes::response as rs;
use crate::remoting::headers::SendMessageHeader;
use crate::remoting::RemotingCommand;
use crate::shard::placement::owner;
use crate::shard::ShardId;
use crate::storage::{AppendMessage, AppendResult, AppendStatus};

/// Largest properties string a record can hold (signed 16-bit length).
pub const PROPERTIES_MAX_BYTES: usize = 32_767;

/// Largest batch body accepted after decompression (a zip bomb stops here).
pub const BATCH_INFLATED_MAX_BYTES: usize = 64 << 20;

/// Inflates zlib data, refusing output larger than `max` bytes.
pub fn inflate_bounded(data: &[u8], max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(max));
    flate2::read::ZlibDecoder::new(data)
        .take(max as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > max {
        return Err(std::io::Error::other(format!(
            "inflates to more than {max} bytes"
        )));
    }
    Ok(out)
}

/// The client's address as a record stores it (IPv4; IPv4-mapped IPv6 converted; else 0.0.0.0).
pub fn born_host(peer: SocketAddr) -> SocketAddrV4 {
    let ip = match peer.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    SocketAddrV4::new(ip, peer.port())
}

/// One message on its way into this shard's store, before the put path's steps
/// ([`Broker::encode_put`]): where the sender wants it, and the record's fields.
#[derive(Debug, Clone)]
pub(crate) struct PutMessage<'a> {
    pub topic: &'a str,
    pub queue_id: u32,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp_ms: i64,
    pub born_host: SocketAddrV4,
    pub store_host: SocketAddrV4,
    pub reconsume_times: i32,
    pub prepared_tx_offset: i64,
    pub body: &'a [u8],
    /// The scheduler's re-put of a due message: the schedule step is skipped, so the message
    /// keeps its DELAY as Java's re-put keeps it (its `messageTimeUp` clears the property after
    /// writing the stored properties) and is not parked again.
    pub due: bool,
}

/// An encoded put: the record to append and where the schedule step sent it.
pub(crate) struct Encoded {
    pub msg: AppendMessage,
    pub schedule: Schedule,
}

/// Why a put did not happen: refused (response code, remark), or the store failed.
#[derive(Debug)]
pub(crate) enum PutError {
    Refused((i32, String)),
    Storage(crate::storage::StorageError),
}

impl Broker {
    /// Accepting-shard half of a send. See the module comment.
    pub(crate) async fn route_send(
        self: Rc<Self>,
        mut h: SendMessageHeader,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> Option<RemotingCommand> {
        match self.place_send(&mut h, &cmd).await {
            Ok(to) => self.forward(to, OwnedRequest::Send(h), cmd, ctx).await,
            Err(refused) => Some(refused),
        }
    }

    /// The checks a send passes on the accepting shard (dead-letter redirect, topic name,
    /// auto-creation, permission, queue id) and the shard that owns its queue; a queue the broker
    /// picks is written into `h`. The error is the answer to the sender.
    pub(crate) async fn place_send(
        self: &Rc<Self>,
        h: &mut SendMessageHeader,
        cmd: &RemotingCommand,
    ) -> Result<ShardId, RemotingCommand> {
        // A send to `%RETRY%<group>` past its retries is a dead letter (processors/retry.rs).
        // Rare branches are boxed: see `process_send`.
        if h.topic.starts_with(RETRY_PREFIX) {
            Box::pin(self.redirect_retry_send(h, cmd)).await?;
        }
        let topic = h.topic.as_str();
        if let Err(e) = validate_topic_name(topic) {
            return Err(cmd.error_response(rs::INVALID_PARAMETER, e.to_string()));
        }
        if is_send_forbidden(topic) {
            return Err(cmd.error_response(
                rs::NO_PERMISSION,
                format!("Sending message to topic[{topic}] is forbidden."),
            ));
        }
        let cfg = match self.topic_view(topic) {
            Some(c) => c,
            None => {
                let queues = h.default_topic_queue_nums.clamp(1, 1024);
                match Box::pin(self.auto_create(topic, &h.default_topic, queues)).await {
                    Ok(c) => TopicView::from(&c),
                    Err(e) => return Err(cmd.error_response(rs::TOPIC_NOT_EXIST, e)),
                }
            }
        };
        if !cfg.writable() {
            return Err(cmd.error_response(
                rs::NO_PERMISSION,
                format!("the topic[{topic}] sending message is forbidden"),
            ));
        }
        let requested = h.queue_id;
        if requested >= 0 && requested as u32 >= cfg.queue_count() {
            return Err(cmd.error_response(
                rs::INVALID_PARAMETER,
                format!(
                    "request queueId[{requested}] is illegal, {topic} has {} queues",
                    cfg.queue_count()
                ),
            ));
        }
        let qid = if requested < 0 {
            self.pick_queue(topic, &cfg)
        } else {
            requested as u32
        };
        h.queue_id = qid as i32;
        Ok(owner(topic, qid, self.router.shard_count()))
    }

    /// Creates a topic on first send: `%RETRY%` topics with the group's retryQueueNums, `%DLQ%`
    /// topics with one queue, others from the template.
    async fn auto_create(
        self: &Rc<Self>,
        topic: &str,
        template: &str,
        queues: i32,
    ) -> Result<TopicConfig, String> {
        let (cfg, template) = if let Some(group) = topic.strip_prefix(RETRY_PREFIX) {
            let queues = self.group(group).retry_queue_nums.max(1);
            (TopicConfig::new(topic, queues, perm::READ_WRITE), None)
        } else if topic.starts_with(DLQ_PREFIX) {
            (TopicConfig::new(topic, 1, perm::READ_WRITE), None)
        } else if self.runtime.get().auto_create_topic {
            (
                TopicConfig::new(topic, queues, perm::READ_WRITE),
                Some(template.to_string()),
            )
        } else {
            return Err(format!("topic[{topic}] not exist, apply first please!"));
        };
        match self
            .control(
                ShardId(0),
                Control::EnsureTopic {
                    topic: cfg,
                    template,
                },
            )
            .await
        {
            ControlReply::Topic(r) => r,
            _ => Err("unexpected reply to topic creation".into()),
        }
    }

    /// A random writable queue, preferring the ones this shard owns.
    pub(crate) fn pick_queue(&self, topic: &str, cfg: &TopicView) -> u32 {
        let n = cfg.write_queue_nums.max(1);
        let seed = self.next_opaque.get() as u32 ^ (now_ms() as u32).rotate_left(7);
        self.next_opaque.set(self.next_opaque.get().wrapping_add(1));
        let local: Vec<u32> = (0..n)
            .filter(|q| owner(topic, *q, self.router.shard_count()) == self.shard)
            .collect();
        if local.is_empty() {
            seed % n
        } else {
            local[seed as usize % local.len()]
        }
    }

    /// Checks, encodes and indexes one message for the header's topic and (validated) queue.
    pub(super) fn build_message(
        &self,
        h: &SendMessageHeader,
        flag: i32,
        sys_flag: i32,
        body: &[u8],
        props: &mut Properties,
        ctx: &RequestCtx,
    ) -> Result<Encoded, (i32, String)> {
        let put = PutMessage {
            topic: &h.topic,
            queue_id: h.queue_id as u32,
            flag,
            sys_flag,
            born_timestamp_ms: h.born_timestamp_ms,
            born_host: born_host(ctx.peer),
            store_host: self.store_host,
            reconsume_times: h.reconsume_times,
            prepared_tx_offset: 0,
            body,
            due: false,
        };
        self.encode_put(&put, props)
    }

    /// The owner-side put path every message takes into this shard's store (client sends, the
    /// scheduler's re-puts, send-back): limits, broker properties, the schedule step
    /// ([`crate::broker::delay`]: a delayed message is parked), the record, its index keys.
    pub(crate) fn encode_put(
        &self,
        m: &PutMessage<'_>,
        props: &mut Properties,
    ) -> Result<Encoded, (i32, String)> {
        let size_max = self.runtime.get().message_size_max_bytes;
        if m.body.len() > size_max {
            return Err((
                rs::MESSAGE_ILLEGAL,
                format!("the message body size over max value, MAX: {size_max}"),
            ));
        }
        props.remove(keys::WAIT);
        props.set(keys::CLUSTER, &self.cfg.cluster_name);
        // The Java broker stores these in every sent message (`buildMsgContext`): consumers' trace
        // records take their region from the message, and the 5.x client drops those without one.
        props.set(keys::MSG_REGION, "DefaultRegion");
        props.set(keys::TRACE_ON, "true");
        let schedule = if m.due {
            Schedule::Now
        } else {
            self.schedule_step(m.topic, m.queue_id, m.sys_flag, props)
                .map_err(|e| (rs::MESSAGE_ILLEGAL, e.to_string()))?
        };
        let properties = props.to_wire();
        if properties.len() > PROPERTIES_MAX_BYTES {
            return Err((
                rs::MESSAGE_ILLEGAL,
                format!(
                    "the message properties length is {}, over {PROPERTIES_MAX_BYTES}",
                    properties.len()
                ),
            ));
        }
        let (topic, queue_id, tags_code) = match schedule {
            Schedule::Now => (
                m.topic,
                m.queue_id,
                message::tags_code(m.topic, props.get(keys::TAGS)),
            ),
            // A parking queue's tags-code slot holds the delivery time (as in Java).
            Schedule::Park {
                topic,
                queue_id,
                due_ms,
            } => (topic, queue_id, due_ms),
        };
        // Parked records are not indexed: no client queries the parking topics, and 10M pending
        // timers would cost ~40 B each there; the delivered copy is indexed under its real topic.
        let index = match schedule {
            Schedule::Now => props.index_keys().into_iter().map(String::from).collect(),
            Schedule::Park { .. } => Vec::new(),
        };
        let rec = NewRecord {
            queue_id,
            flag: m.flag,
            sys_flag: m.sys_flag,
            born_timestamp_ms: m.born_timestamp_ms,
            born_host: m.born_host,
            store_host: m.store_host,
            reconsume_times: m.reconsume_times,
            prepared_tx_offset: m.prepared_tx_offset,
            body: m.body,
            topic,
            properties: &properties,
        };
        let mut record = BytesMut::with_capacity(message::record_size(
            m.body.len(),
            topic.len(),
            properties.len(),
        ));
        message::encode_record(&rec, &mut record)
            .map_err(|e| (rs::MESSAGE_ILLEGAL, e.to_string()))?;
        Ok(Encoded {
            msg: AppendMessage {
                record,
                topic: topic.to_string(),
                queue_id,
                tags_code,
                keys: index,
            },
            schedule,
        })
    }

    /// [`Broker::encode_put`], append, then what follows an append: long-polling pulls of the queue
    /// are woken, or the scheduler is told of a parked message.
    pub(crate) async fn put_message(
        &self,
        m: &PutMessage<'_>,
        props: &mut Properties,
    ) -> Result<(AppendResult, Schedule), PutError> {
        let enc = self.encode_put(m, props).map_err(PutError::Refused)?;
        let schedule = enc.schedule;
        let started = std::time::Instant::now();
        let r = self
            .store
            .append(enc.msg)
            .await
            .map_err(PutError::Storage)?;
        self.after_put(m.topic, m.queue_id, schedule);
        self.metrics.record_in(
            m.topic,
            1,
            m.body.len() as u64,
            started.elapsed().as_secs_f64() * 1000.0,
        );
        Ok((r, schedule))
    }

    /// What follows an append (counting is the caller's: `metrics.record_in`).
    fn after_put(&self, topic: &str, queue_id: u32, schedule: Schedule) {
        match schedule {
            Schedule::Now => self.wake_pulls(topic, queue_id),
            Schedule::Park { due_ms, .. } => self.scheduler.parked(due_ms),
        }
    }

    /// Validates the header against this shard's topic replica; the queue id it names.
    fn send_target(
        &self,
        cmd: &RemotingCommand,
        h: &SendMessageHeader,
    ) -> Result<u32, RemotingCommand> {
        let cfg = self.topic_view(&h.topic).ok_or_else(|| {
            cmd.error_response(
                rs::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please!", h.topic),
            )
        })?;
        if h.queue_id < 0 || h.queue_id as u32 >= cfg.queue_count() {
            return Err(cmd.error_response(
                rs::INVALID_PARAMETER,
                format!("request queueId[{}] is illegal", h.queue_id),
            ));
        }
        Ok(h.queue_id as u32)
    }

    pub(super) fn send_response(
        &self,
        cmd: &RemotingCommand,
        results: &[AppendResult],
    ) -> RemotingCommand {
        let timed_out = results
            .iter()
            .any(|r| r.status == AppendStatus::FlushTimeout);
        let mut resp = cmd.response(if timed_out {
            rs::FLUSH_DISK_TIMEOUT
        } else {
            rs::SUCCESS
        });
        // One id per stored message, comma-joined for batches; a single send builds one string.
        let mut ids = String::with_capacity(results.len() * 33);
        for r in results {
            if !ids.is_empty() {
                ids.push(',');
            }
            ids.push_str(&message::offset_msg_id(
                self.store_host,
                r.physical_offset.0,
            ));
        }
        resp.set_ext("msgId", ids);
        resp.set_ext(
            "queueOffset",
            results.first().map(|r| r.queue_offset.0).unwrap_or(0),
        );
        resp.set_ext("MSG_REGION", "DefaultRegion");
        resp.set_ext("TRACE_ON", "true");
        resp
    }

    pub(super) fn append_failed(
        &self,
        cmd: &RemotingCommand,
        e: &crate::storage::StorageError,
    ) -> RemotingCommand {
        tracing::warn!(shard = %self.shard, error = %e, "append failed");
        storage_error(cmd, "[STORE] ", e)
    }

    /// Owner: a send for a topic this shard's replica does not have yet. The accepting shard saw
    /// the topic (or just had it created), so a change is being replicated: wait for shard 0 to
    /// finish it ([`Control::SyncTopic`]) rather than refuse the send (a refused oneway send is a
    /// lost message).
    async fn await_new_topic(self: &Rc<Self>, topic: &str) {
        let _ = self
            .control(ShardId(0), Control::SyncTopic(topic.to_string()))
            .await;
    }

    /// Owner half of a send (single or batch).
    ///
    /// Every send moves this future (and the routing futures around it) into a task or a box, so
    /// the size of its state machine is copied per message: a branch that is not a plain send
    /// (a new topic, a batch, a transactional half message) is boxed where it is awaited, keeping
    /// its state out of the common path's. Measured: 2,976 bytes before, see the commit.
    pub(crate) async fn process_send(
        self: &Rc<Self>,
        h: SendMessageHeader,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        let qid = match self.send_target(&cmd, &h) {
            Ok(q) => q,
            Err(_) if self.topic_view(&h.topic).is_none() => {
                Box::pin(self.await_new_topic(&h.topic)).await;
                match self.send_target(&cmd, &h) {
                    Ok(q) => q,
                    Err(r) => return r,
                }
            }
            Err(r) => return r,
        };
        if h.batch {
            return Box::pin(self.process_batch(cmd, h, qid, ctx)).await;
        }
        // Transactional half message: parked on the half topic until END_TRANSACTION (transaction.rs).
        if super::transaction::is_half_message(&h) {
            return Box::pin(self.put_half_message(h, cmd, ctx)).await;
        }
        let mut props = Properties::parse(&h.properties);
        let enc = match self.build_message(&h, h.flag, h.sys_flag, &cmd.body, &mut props, &ctx) {
            Ok(m) => m,
            Err((code, remark)) => return cmd.error_response(code, remark),
        };
        let schedule = enc.schedule;
        let started = std::time::Instant::now();
        let result = self.store.append(enc.msg).await;
        match result {
            Ok(r) => {
                self.after_put(&h.topic, qid, schedule);
                self.metrics.record_in(
                    &h.topic,
                    1,
                    cmd.body.len() as u64,
                    started.elapsed().as_secs_f64() * 1000.0,
                );
                let mut resp = self.send_response(&cmd, &[r]);
                self.await_slave(&[r], &mut resp).await; // SYNC_MASTER (broker/replication.rs)
                                                         // A parked message answers with the queue asked for (as Java), its offset in the parking queue.
                resp.set_ext("queueId", qid);
                // The Java broker answers a single send with transactionId = the message's
                // UNIQ_KEY (SendResult.getTransactionId()); a batch has no single id.
                // (From the parsed list: its value is the string's last one, as `find` would give.)
                if let Some(id) = props.get(keys::UNIQ_KEY) {
                    resp.set_ext("transactionId", id);
                }
                resp
            }
            Err(e) => self.append_failed(&cmd, &e),
        }
    }

    /// Owner half of a batch send: every message to one queue, consecutive offsets.
    async fn process_batch(
        &self,
        cmd: RemotingCommand,
        h: SendMessageHeader,
        qid: u32,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        // The C++ client zlib-compresses a whole batch body over 4 KiB and sets COMPRESSED on the
        // request; the entries inside are plain, so they are stored without the flag.
        let inflated;
        let raw: &[u8] = if h.sys_flag & message::sys_flag::COMPRESSED != 0 {
            match inflate_bounded(&cmd.body, BATCH_INFLATED_MAX_BYTES) {
                Ok(b) => {
                    inflated = b;
                    &inflated
                }
                Err(e) => {
                    return cmd.error_response(
                        rs::MESSAGE_ILLEGAL,
                        format!("bad compressed batch body: {e}"),
                    )
                }
            }
        } else {
            &cmd.body
        };
        let entry_sys_flag = h.sys_flag & !message::sys_flag::COMPRESSED;
        let entries = match decode_batch(raw) {
            Ok(e) if !e.is_empty() => e,
            Ok(_) => return cmd.error_response(rs::MESSAGE_ILLEGAL, "the batch is empty"),
            Err(e) => {
                return cmd.error_response(rs::MESSAGE_ILLEGAL, format!("bad batch body: {e}"))
            }
        };
        let batch_props = Properties::parse(&h.properties);
        let mut msgs = Vec::with_capacity(entries.len());
        for entry in &entries {
            let mut props = Properties::parse(entry.properties);
            for (k, v) in &batch_props.entries {
                if props.get(k).is_none() {
                    props.set(k, v);
                }
            }
            match self.build_message(&h, entry.flag, entry_sys_flag, entry.body, &mut props, &ctx) {
                // All entries of a batch go to one queue at consecutive offsets: none can be parked
                // (Java refuses delayed batches too; clients check it first).
                Ok(m) if m.schedule != Schedule::Now => {
                    return cmd.error_response(
                        rs::MESSAGE_ILLEGAL,
                        "a batch message cannot be delayed (DELAY or timer property)",
                    )
                }
                Ok(m) => msgs.push(m.msg),
                Err((code, remark)) => return cmd.error_response(code, remark),
            }
        }
        let count = msgs.len() as u64;
        let body_bytes: u64 = entries.iter().map(|e| e.body.len() as u64).sum();
        let started = std::time::Instant::now();
        match self.store.append_batch(msgs).await {
            Ok(results) => {
                self.after_put(&h.topic, qid, Schedule::Now);
                self.metrics.record_in(
                    &h.topic,
                    count,
                    body_bytes,
                    started.elapsed().as_secs_f64() * 1000.0,
                );
                let mut resp = self.send_response(&cmd, &results);
                self.await_slave(&results, &mut resp).await; // SYNC_MASTER (broker/replication.rs)
                resp.set_ext("queueId", qid);
                resp
            }
            Err(e) => self.append_failed(&cmd, &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflate_is_bounded() {
        let data = vec![7u8; 10_000];
        assert_eq!(inflate_bounded(&zlib(&data), 10_000).unwrap(), data);
        assert!(
            inflate_bounded(&zlib(&data), 9_999).is_err(),
            "over the bound"
        );
        assert!(inflate_bounded(b"not zlib at all", 1 << 20).is_err());
    }

    #[test]
    fn born_host_is_ipv4() {
        let v6mapped: SocketAddr = "[::ffff:10.1.2.3]:4567".parse().unwrap();
        assert_eq!(born_host(v6mapped), "10.1.2.3:4567".parse().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        assert_eq!(born_host(v6).ip(), &Ipv4Addr::UNSPECIFIED);
    }
}
