//! The console's way to data that lives behind the broker's own protocol: messages by id or key,
//! traces, dead letters and their resend. It asks this process's broker over its remoting port with
//! [`crate::client`], sending the same standard RocketMQ requests an admin tool would
//! (VIEW_MESSAGE_BY_ID 33, QUERY_MESSAGE 12, GET_ROUTEINFO_BY_TOPIC 105, PULL_MESSAGE 11 from
//! `%DLQ%<group>`, SEND_MESSAGE_V2 310), so the console needs nothing from the shards but what any
//! client gets, and works with whatever the broker answers (a request code the broker does not serve
//! yet shows as the broker's refusal).
//!
//! The client runs on glommio, the HTTP server on tokio: requests cross from the HTTP thread to a
//! dedicated `bolide-console` thread (started on the first request, never on a shard) through a
//! flume channel, each with a one-shot reply channel. One connection per peer is kept and reopened
//! when it failed.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::client::{ClientError, Conn, SendRequest};
use crate::message::properties::{self, keys};
use crate::message::{decode_record, RecordView};
use crate::remoting::codes::{request, response};
use crate::remoting::headers::PullMessageHeader;
use crate::remoting::RemotingCommand;

/// Group the console pulls dead letters with and produces resends under.
pub const CONSOLE_GROUP: &str = "bolide-console";
/// Topic RocketMQ clients write message traces to (`TopicValidator.RMQ_SYS_TRACE_TOPIC`).
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
/// Most messages one search or dead-letter page returns.
pub const RESULTS_MAX: usize = 64;
/// Longest a console request waits for the broker.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Message bodies shown are cut at this many bytes.
const BODY_SHOWN_MAX_BYTES: usize = 16 << 10;

/// What the console asks the broker.
#[derive(Debug, Clone)]
pub enum Ask {
    /// A message by its offset msgId (or, with a topic, by its unique key).
    ById { id: String, topic: Option<String> },
    /// Messages of `topic` indexed under `key`.
    ByKey { topic: String, key: String },
    /// Trace records of a message (by its unique key or msgId).
    Trace { id: String },
    /// The newest dead letters of `group`.
    DeadLetters { group: String },
    /// Send the dead letter `id` of `group` back to its original topic.
    Resend { group: String, id: String },
}

/// Where the broker and NameServer listen.
#[derive(Debug, Clone)]
pub struct Peers {
    pub broker: String,
    pub namesrv: String,
    /// ACL account the console signs with (`console_access_key` / `console_secret_key`).
    pub credentials: Option<crate::acl::sign::Credentials>,
}

type Job = (Ask, flume::Sender<Result<Value, String>>);

/// Handle to the console client thread (`Send + Sync`; the thread starts on first use).
pub struct Remote {
    peers: Peers,
    tx: OnceLock<Result<flume::Sender<Job>, String>>,
}

impl Remote {
    pub fn new(peers: Peers) -> Remote {
        Remote {
            peers,
            tx: OnceLock::new(),
        }
    }

    /// Asks and waits for the answer (JSON for the page, or a sentence saying what failed).
    pub async fn ask(&self, ask: Ask) -> Result<Value, String> {
        let tx = self
            .tx
            .get_or_init(|| start(self.peers.clone()))
            .as_ref()
            .map_err(Clone::clone)?;
        let (rtx, rrx) = flume::bounded(1);
        tx.send_async((ask, rtx))
            .await
            .map_err(|_| "the console client thread stopped".to_string())?;
        rrx.recv_async()
            .await
            .map_err(|_| "the console client thread stopped".to_string())?
    }
}

fn start(peers: Peers) -> Result<flume::Sender<Job>, String> {
    let (tx, rx) = flume::unbounded::<Job>();
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("bolide-console")
        .spawn(move || async move {
            let client = Rc::new(Client {
                peers,
                broker: RefCell::new(None),
                namesrv: RefCell::new(None),
            });
            while let Ok((ask, reply)) = rx.recv_async().await {
                let c = client.clone();
                glommio::spawn_local(async move {
                    let _ = reply.send(c.serve(ask).await);
                })
                .detach();
            }
        })
        .map_err(|e| format!("cannot start the console client thread: {e}"))?;
    Ok(tx)
}

struct Client {
    peers: Peers,
    broker: RefCell<Option<Rc<Conn>>>,
    namesrv: RefCell<Option<Rc<Conn>>>,
}

fn err(e: ClientError) -> String {
    e.to_string()
}

impl Client {
    async fn conn(&self, namesrv: bool) -> Result<Rc<Conn>, String> {
        let (slot, addr) = if namesrv {
            (&self.namesrv, &self.peers.namesrv)
        } else {
            (&self.broker, &self.peers.broker)
        };
        let cached = slot.borrow().clone();
        if let Some(c) = cached.filter(|c| !c.is_closed()) {
            return Ok(c);
        }
        let c = Conn::connect(addr, TIMEOUT).await.map_err(err)?;
        c.set_credentials(self.peers.credentials.clone());
        *slot.borrow_mut() = Some(c.clone());
        Ok(c)
    }

    async fn call(&self, cmd: RemotingCommand) -> Result<RemotingCommand, String> {
        let c = self.conn(false).await?;
        c.call(cmd).await.map_err(err)
    }

    async fn serve(&self, ask: Ask) -> Result<Value, String> {
        match ask {
            Ask::ById { id, topic } => self.by_id(&id, topic.as_deref()).await,
            Ask::ByKey { topic, key } => {
                let msgs = self.query(&topic, &key, false).await?;
                Ok(json!({ "via": "QUERY_MESSAGE", "messages": msgs }))
            }
            Ask::Trace { id } => self.trace(&id).await,
            Ask::DeadLetters { group } => self.dead_letters(&group).await,
            Ask::Resend { group, id } => self.resend(&group, &id).await,
        }
    }

    /// VIEW_MESSAGE_BY_ID for an offset msgId; else (or when that finds nothing) a unique-key
    /// QUERY_MESSAGE when a topic is given.
    async fn by_id(&self, id: &str, topic: Option<&str>) -> Result<Value, String> {
        let mut first_error = None;
        if let Some((_, offset)) = crate::message::decode_offset_msg_id(id) {
            match self.view(offset).await {
                Ok(m) => return Ok(json!({ "via": "VIEW_MESSAGE_BY_ID", "messages": [m] })),
                Err(e) => first_error = Some(e),
            }
        }
        match topic {
            Some(t) if !t.is_empty() => {
                let msgs = self.query(t, id, true).await?;
                Ok(json!({ "via": "QUERY_MESSAGE (unique key)", "messages": msgs }))
            }
            _ => Err(first_error.unwrap_or_else(|| {
                format!("{id} is not an offset msgId; give the topic to search it as a unique key")
            })),
        }
    }

    async fn view_record(&self, offset: u64) -> Result<bytes::Bytes, String> {
        let mut cmd = RemotingCommand::request(request::VIEW_MESSAGE_BY_ID);
        cmd.set_ext("offset", offset);
        let resp = self.call(cmd).await?;
        if resp.code != response::SUCCESS {
            return Err(refusal("VIEW_MESSAGE_BY_ID", &resp));
        }
        Ok(resp.body)
    }

    async fn view(&self, offset: u64) -> Result<Value, String> {
        let body = self.view_record(offset).await?;
        let rec = decode_record(&body, false).map_err(|e| format!("bad record: {e}"))?;
        Ok(message_json(&rec))
    }

    async fn query(&self, topic: &str, key: &str, unique: bool) -> Result<Vec<Value>, String> {
        let mut cmd = RemotingCommand::request(request::QUERY_MESSAGE);
        cmd.set_ext("topic", topic);
        cmd.set_ext("key", key);
        cmd.set_ext("maxNum", RESULTS_MAX);
        cmd.set_ext("beginTimestamp", 0);
        cmd.set_ext("endTimestamp", i64::MAX);
        if unique {
            cmd.set_ext("_UNIQUE_KEY_QUERY", "true");
        }
        let resp = self.call(cmd).await?;
        match resp.code {
            response::SUCCESS => Ok(records_json(&resp.body)),
            response::QUERY_NOT_FOUND => Ok(Vec::new()),
            _ => Err(refusal("QUERY_MESSAGE", &resp)),
        }
    }

    /// Trace records are messages of [`TRACE_TOPIC`] keyed by the traced message's id.
    async fn trace(&self, id: &str) -> Result<Value, String> {
        let mut cmd = RemotingCommand::request(request::QUERY_MESSAGE);
        cmd.set_ext("topic", TRACE_TOPIC);
        cmd.set_ext("key", id);
        cmd.set_ext("maxNum", RESULTS_MAX);
        cmd.set_ext("beginTimestamp", 0);
        cmd.set_ext("endTimestamp", i64::MAX);
        let resp = self.call(cmd).await?;
        let bodies: Vec<Vec<u8>> = match resp.code {
            response::SUCCESS => records(&resp.body)
                .into_iter()
                .map(|r| r.body.to_vec())
                .collect(),
            response::QUERY_NOT_FOUND | response::TOPIC_NOT_EXIST => Vec::new(),
            _ => return Err(refusal("QUERY_MESSAGE", &resp)),
        };
        let mut spans = Vec::new();
        for b in bodies {
            spans.extend(parse_trace(&String::from_utf8_lossy(&b)));
        }
        Ok(json!({ "id": id, "spans": spans }))
    }

    async fn dead_letters(&self, group: &str) -> Result<Value, String> {
        let topic = format!("%DLQ%{group}");
        let ns = self.conn(true).await?;
        let Some(route) = ns.get_route(&topic).await.map_err(err)? else {
            return Ok(
                json!({ "topic": topic, "messages": [], "note": "this group has no dead-letter topic" }),
            );
        };
        let queues = route
            .queue_datas
            .iter()
            .map(|q| q.read_queue_nums.max(0))
            .max()
            .unwrap_or(0);
        let c = self.conn(false).await?;
        let mut out = Vec::new();
        for qid in 0..queues {
            let min = c.min_offset(&topic, qid).await.map_err(err)?;
            let max = c.max_offset(&topic, qid).await.map_err(err)?;
            let from = min.max(max - RESULTS_MAX as i64);
            if from >= max {
                continue;
            }
            let h =
                PullMessageHeader::all_tags(CONSOLE_GROUP, &topic, qid, from, RESULTS_MAX as i32);
            let r = c.pull(&h).await.map_err(err)?;
            for rec in r.records().flatten() {
                out.push(message_json(&rec));
            }
        }
        out.sort_by_key(|m| std::cmp::Reverse(m["storeTimestamp"].as_i64().unwrap_or(0)));
        out.truncate(RESULTS_MAX);
        Ok(json!({ "topic": topic, "messages": out }))
    }

    /// Reads the dead letter, checks it belongs to the group's dead-letter topic, and sends its
    /// body and user properties to the topic it first failed on (`RETRY_TOPIC`).
    async fn resend(&self, group: &str, id: &str) -> Result<Value, String> {
        let Some((_, offset)) = crate::message::decode_offset_msg_id(id) else {
            return Err(format!("{id} is not an offset msgId"));
        };
        let body = self.view_record(offset).await?;
        let rec = decode_record(&body, false).map_err(|e| format!("bad record: {e}"))?;
        let dlq = format!("%DLQ%{group}");
        if rec.topic != dlq {
            return Err(format!(
                "message {id} is in topic {}, not in {dlq}",
                rec.topic
            ));
        }
        let mut props = properties::Properties::parse(rec.properties);
        let Some(original) = props.get(keys::RETRY_TOPIC).map(str::to_string) else {
            return Err(format!(
                "message {id} has no {} property: its original topic is unknown",
                keys::RETRY_TOPIC
            ));
        };
        for k in RESEND_DROPPED_PROPERTIES {
            props.remove(k);
        }
        let wire = props.to_wire();
        let c = self.conn(false).await?;
        let r = c
            .send(&SendRequest {
                producer_group: CONSOLE_GROUP,
                topic: &original,
                queue_id: -1,
                born_timestamp_ms: crate::clock::now_ms(),
                properties: &wire,
                body: rec.body,
                batch: false,
            })
            .await
            .map_err(err)?;
        Ok(json!({
            "topic": original,
            "status": format!("{:?}", r.status),
            "msgId": r.header.msg_id,
            "queueId": r.header.queue_id,
            "queueOffset": r.header.queue_offset,
        }))
    }
}

/// Properties the broker set while the message was retried; a resend starts afresh without them.
const RESEND_DROPPED_PROPERTIES: &[&str] = &[
    keys::RETRY_TOPIC,
    keys::REAL_TOPIC,
    keys::REAL_QID,
    keys::DELAY,
    keys::RECONSUME_TIME,
    keys::MAX_RECONSUME_TIMES,
];

fn refusal(what: &str, resp: &RemotingCommand) -> String {
    format!(
        "the broker answered {what} with code {}: {}",
        resp.code,
        resp.remark.as_deref().unwrap_or("")
    )
}

fn records(buf: &[u8]) -> Vec<RecordView<'_>> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        match decode_record(rest, false) {
            Ok(r) => {
                let n = (r.total_size as usize).min(rest.len());
                out.push(r);
                rest = &rest[n..];
            }
            Err(_) => break,
        }
    }
    out
}

fn records_json(buf: &[u8]) -> Vec<Value> {
    records(buf).iter().map(message_json).collect()
}

/// A record as the console shows it. Text only: the page puts every value in as text, never as markup.
pub fn message_json(r: &RecordView<'_>) -> Value {
    let mut props = Map::new();
    for (k, v) in properties::pairs(r.properties) {
        props.insert(k.to_string(), Value::String(v.to_string()));
    }
    let shown = &r.body[..r.body.len().min(BODY_SHOWN_MAX_BYTES)];
    json!({
        "msgId": crate::message::offset_msg_id(r.store_host, r.physical_offset),
        "uniqKey": properties::find(r.properties, keys::UNIQ_KEY),
        "topic": r.topic,
        "queueId": r.queue_id,
        "queueOffset": r.queue_offset,
        "tags": properties::find(r.properties, keys::TAGS),
        "keys": properties::find(r.properties, keys::KEYS),
        "bornTimestamp": r.born_timestamp_ms,
        "storeTimestamp": r.store_timestamp_ms,
        "bornHost": r.born_host.to_string(),
        "storeHost": r.store_host.to_string(),
        "reconsumeTimes": r.reconsume_times,
        "bodySize": r.body.len(),
        "body": String::from_utf8_lossy(shown),
        "bodyTruncated": shown.len() < r.body.len(),
        "properties": props,
    })
}

/// Field names of RocketMQ's trace records by type (`TraceDataEncoder`): fields are separated by
/// `\u{1}`, records by `\u{2}`. Unknown types keep their fields unnamed.
const TRACE_FIELDS: &[(&str, &[&str])] = &[
    (
        "Pub",
        &[
            "type",
            "timestamp",
            "region",
            "group",
            "topic",
            "msgId",
            "tags",
            "keys",
            "storeHost",
            "bodyLength",
            "costTime",
            "msgType",
            "offsetMsgId",
            "success",
            "clientHost",
        ],
    ),
    (
        "SubBefore",
        &[
            "type",
            "timestamp",
            "region",
            "group",
            "requestId",
            "msgId",
            "retryTimes",
            "keys",
            "clientHost",
        ],
    ),
    (
        "SubAfter",
        &[
            "type",
            "requestId",
            "msgId",
            "costTime",
            "success",
            "keys",
            "contextCode",
            "timestamp",
            "group",
        ],
    ),
];

/// Splits trace message bodies into spans (one JSON object per record, fields named by type).
pub fn parse_trace(body: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for rec in body.split('\u{2}') {
        let rec = rec.trim_matches(['\n', '\r']);
        if rec.is_empty() {
            continue;
        }
        let fields: Vec<&str> = rec.split('\u{1}').collect();
        let names = TRACE_FIELDS
            .iter()
            .find(|(t, _)| *t == fields[0])
            .map(|(_, n)| *n)
            .unwrap_or(&[]);
        let mut m = Map::new();
        for (i, f) in fields.iter().enumerate() {
            let key = match names.get(i) {
                Some(n) => n.to_string(),
                None if i == 0 => "type".to_string(),
                None => format!("field{i}"),
            };
            m.insert(key, Value::String(f.to_string()));
        }
        out.push(Value::Object(m));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_records_are_split_and_named_by_type() {
        let body = "Pub\u{1}1700\u{1}R\u{1}PG\u{1}T\u{1}ID1\u{1}tag\u{1}k\u{1}1.2.3.4:10911\u{1}5\u{1}2\u{1}0\u{1}OFF\u{1}true\u{2}Odd\u{1}x\u{2}";
        let spans = parse_trace(body);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0]["type"], "Pub");
        assert_eq!(spans[0]["msgId"], "ID1");
        assert_eq!(spans[0]["success"], "true");
        assert_eq!(spans[1]["type"], "Odd");
        assert_eq!(spans[1]["field1"], "x");
        assert!(parse_trace("").is_empty());
    }
}
