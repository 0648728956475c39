//! The console's JSON endpoints and `/metrics`, computed from the shards' published snapshots
//! (plus the broker's remoting port for messages, see [`super::remote`]).
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /api/overview` | cluster, broker, addresses, shards (requests, disk, inbox, connections), disk usage |
//! | `GET /api/topics` | topics with queues (min/max offsets), messages in, rate over the last seconds |
//! | `GET /api/groups` | consumer groups: clients, subscriptions, committed offsets and lag per queue |
//! | `GET /api/stats` | the last [`HISTORY_POINTS`] seconds: in/out messages per second, rpc latency p50/p99 |
//! | `GET /api/message?id=&topic=` | a message by offset msgId (or unique key with a topic) |
//! | `GET /api/messages?topic=&key=` | messages by key (QUERY_MESSAGE) |
//! | `GET /api/trace?id=` | trace spans of a message |
//! | `GET /api/dlq?group=` | a group's newest dead letters |
//! | `POST /api/dlq/resend` `{"group","id"}` | sends a dead letter back to its original topic |

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::remote::Ask;
use super::{json_reply, HttpContext};
use crate::metrics::{prometheus, Histogram, ShardSnapshot};

/// Seconds of history the live charts show.
pub const HISTORY_POINTS: usize = 300;
/// Longest parameter value accepted.
const PARAM_BYTES_MAX: usize = 512;

/// Query-string parameters (decoded; later duplicates win).
pub struct Query(BTreeMap<String, String>);

impl Query {
    pub fn parse(q: &str) -> Query {
        Query(
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A required, non-empty parameter of bounded length.
    fn need(&self, name: &str) -> Result<String, String> {
        match self.0.get(name).map(|v| v.trim()) {
            None | Some("") => Err(format!("missing parameter `{name}`")),
            Some(v) if v.len() > PARAM_BYTES_MAX => Err(format!(
                "parameter `{name}` longer than {PARAM_BYTES_MAX} bytes"
            )),
            Some(v) => Ok(v.to_string()),
        }
    }

    fn opt(&self, name: &str) -> Option<String> {
        self.need(name).ok()
    }
}

fn bad(msg: String) -> Response<Full<Bytes>> {
    json_reply(StatusCode::BAD_REQUEST, &json!({ "error": msg }))
}

fn process_figures(ctx: &HttpContext) -> prometheus::ProcessFigures {
    prometheus::ProcessFigures {
        now_ms: crate::clock::now_ms(),
        inboxes: (ctx.inboxes)(),
        disk_usage_ratio: disk_usage_ratio(&ctx.cfg.data_dir),
    }
}

pub fn metrics_text(ctx: &HttpContext) -> String {
    prometheus::render(&ctx.hub.snapshots(), &process_figures(ctx))
}

/// Used fraction of the filesystem holding `dir` (statvfs).
fn disk_usage_ratio(dir: &std::path::Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we pass; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 || st.f_blocks == 0 {
        return None;
    }
    let used = st.f_blocks.saturating_sub(st.f_bfree) as f64;
    let usable = used + st.f_bavail as f64;
    (usable > 0.0).then(|| used / usable)
}

/// GET endpoints.
pub async fn get(ctx: &HttpContext, path: &str, q: &Query) -> Response<Full<Bytes>> {
    let snaps = ctx.hub.snapshots();
    let ok = |v: Value| json_reply(StatusCode::OK, &v);
    match path {
        "/api/overview" => ok(overview(ctx, &snaps)),
        "/api/topics" => ok(topics(ctx, &snaps)),
        "/api/groups" => ok(groups(&snaps)),
        "/api/stats" => ok(stats(ctx)),
        "/api/message" => match q.need("id") {
            Ok(id) => {
                remote(
                    ctx,
                    Ask::ById {
                        id,
                        topic: q.opt("topic"),
                    },
                )
                .await
            }
            Err(e) => bad(e),
        },
        "/api/messages" => match (q.need("topic"), q.need("key")) {
            (Ok(topic), Ok(key)) => remote(ctx, Ask::ByKey { topic, key }).await,
            (Err(e), _) | (_, Err(e)) => bad(e),
        },
        "/api/trace" => match q.need("id") {
            Ok(id) => remote(ctx, Ask::Trace { id }).await,
            Err(e) => bad(e),
        },
        "/api/dlq" => match q.need("group") {
            Ok(group) => remote(ctx, Ask::DeadLetters { group }).await,
            Err(e) => bad(e),
        },
        _ => json_reply(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no endpoint {path}") }),
        ),
    }
}

/// POST endpoints (the body is JSON already).
pub async fn post(ctx: &HttpContext, path: &str, body: &Value) -> Response<Full<Bytes>> {
    match path {
        "/api/dlq/resend" => {
            let field = |k: &str| {
                body.get(k)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|v| !v.is_empty() && v.len() <= PARAM_BYTES_MAX)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        format!("body needs a string `{k}` (1..={PARAM_BYTES_MAX} bytes)")
                    })
            };
            match (field("group"), field("id")) {
                (Ok(group), Ok(id)) => remote(ctx, Ask::Resend { group, id }).await,
                (Err(e), _) | (_, Err(e)) => bad(e),
            }
        }
        _ => json_reply(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no endpoint {path}") }),
        ),
    }
}

async fn remote(ctx: &HttpContext, ask: Ask) -> Response<Full<Bytes>> {
    match ctx.remote.ask(ask).await {
        Ok(v) => json_reply(StatusCode::OK, &v),
        Err(e) => json_reply(StatusCode::BAD_GATEWAY, &json!({ "error": e })),
    }
}

fn overview(ctx: &HttpContext, snaps: &[Arc<ShardSnapshot>]) -> Value {
    let cfg = &ctx.cfg;
    let inboxes: BTreeMap<u16, u64> = (ctx.inboxes)()
        .into_iter()
        .map(|(s, d, _, _)| (s, d))
        .collect();
    let shards: Vec<Value> = snaps
        .iter()
        .map(|s| {
            json!({
                "shard": s.shard,
                "requests": s.requests,
                "messagesIn": s.messages_in,
                "messagesOut": s.messages_out,
                "diskBytes": s.store.segment_bytes,
                "segments": s.store.segments,
                "flushBehindBytes": s.store.flush_behind_bytes,
                "cacheHits": s.store.cache_hits,
                "cacheMisses": s.store.cache_misses,
                "writesRefused": s.store.writes_refused_at.is_some(),
                "inboxDepth": inboxes.get(&s.shard).copied().unwrap_or(0),
                "connections": s.net.open,
            })
        })
        .collect();
    json!({
        "cluster": cfg.cluster_name,
        "brokers": [{
            "name": cfg.broker_name,
            "id": 0,
            "addr": format!("{}:{}", cfg.broker_ip, cfg.broker_port),
            "namesrv": format!("{}:{}", cfg.listen_ip, cfg.namesrv_port),
            "version": env!("CARGO_PKG_VERSION"),
            "flush": format!("{:?}", cfg.flush_mode),
            "startedMs": ctx.started_ms,
            "shards": shards,
        }],
        "diskUsageRatio": disk_usage_ratio(&cfg.data_dir),
        "nowMs": crate::clock::now_ms(),
    })
}

fn topics(ctx: &HttpContext, snaps: &[Arc<ShardSnapshot>]) -> Value {
    let Some(first) = snaps.first() else {
        return json!({ "topics": [] });
    };
    let mut queues: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for s in snaps {
        for q in &s.queues {
            queues.entry(&q.topic).or_default().push(json!({
                "queueId": q.queue_id, "minOffset": q.min_offset, "maxOffset": q.max_offset, "shard": s.shard,
            }));
        }
    }
    let mut totals: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for s in snaps {
        for (t, f) in &s.topics_in {
            let e = totals.entry(t).or_default();
            e.0 += f.messages;
            e.1 += f.bytes;
        }
    }
    let rates = ctx
        .history
        .lock()
        .map(|h| h.topic_rates())
        .unwrap_or_default();
    let list: Vec<Value> = first
        .topics
        .iter()
        .map(|t| {
            let mut qs = queues.remove(t.name.as_str()).unwrap_or_default();
            qs.sort_by_key(|q| q["queueId"].as_u64());
            let (msgs, bytes) = totals.get(t.name.as_str()).copied().unwrap_or_default();
            json!({
                "name": t.name,
                "readQueues": t.read_queues,
                "writeQueues": t.write_queues,
                "perm": t.perm,
                "system": is_system_topic(&t.name),
                "messagesIn": msgs,
                "bytesIn": bytes,
                "inPerSecond": rates.get(&t.name).copied().unwrap_or(0.0),
                "queues": qs,
            })
        })
        .collect();
    json!({ "topics": list })
}

fn is_system_topic(name: &str) -> bool {
    name == "TBW102"
        || name.starts_with("%RETRY%")
        || name.starts_with("%DLQ%")
        || name.starts_with("rmq_sys_")
        || name.starts_with("RMQ_SYS_")
        || name == "SCHEDULE_TOPIC_XXXX"
        || name.starts_with("RMQ_SYS_TRANS")
        || name.ends_with("_REPLY_TOPIC")
}

fn groups(snaps: &[Arc<ShardSnapshot>]) -> Value {
    let mut out: BTreeMap<String, (Option<&crate::metrics::GroupFigures>, Vec<Value>, u64)> =
        BTreeMap::new();
    if let Some(first) = snaps.first() {
        for g in &first.groups {
            out.entry(g.group.clone()).or_default().0 = Some(g);
        }
    }
    for s in snaps {
        let max: BTreeMap<(&str, u32), (u64, u64)> = s
            .queues
            .iter()
            .map(|q| ((q.topic.as_str(), q.queue_id), (q.min_offset, q.max_offset)))
            .collect();
        for (group, topic, qid, committed) in &s.offsets {
            let (min, max) = max.get(&(topic.as_str(), *qid)).copied().unwrap_or((0, 0));
            let from = u64::try_from(*committed).unwrap_or(min).max(min);
            let lag = max.saturating_sub(from);
            let e = out.entry(group.clone()).or_default();
            e.2 += lag;
            e.1.push(json!({
                "topic": topic, "queueId": qid, "committed": committed, "maxOffset": max, "lag": lag,
            }));
        }
    }
    let list: Vec<Value> = out
        .into_iter()
        .map(|(group, (fig, mut queues, lag))| {
            queues.sort_by(|a, b| {
                (a["topic"].as_str(), a["queueId"].as_u64())
                    .cmp(&(b["topic"].as_str(), b["queueId"].as_u64()))
            });
            json!({
                "group": group,
                "clients": fig.map_or(0, |g| g.clients),
                "messageModel": fig.and_then(|g| g.message_model.clone()),
                "subscriptions": fig.map(|g| g.topics.clone()).unwrap_or_default(),
                "lag": lag,
                "queues": queues,
            })
        })
        .collect();
    json!({ "groups": list })
}

fn stats(ctx: &HttpContext) -> Value {
    let h = ctx.history.lock().unwrap_or_else(|e| e.into_inner());
    let points: Vec<Value> = h
        .points
        .iter()
        .zip(h.points.iter().skip(1))
        .map(|(a, b)| {
            let dt = ((b.at_ms - a.at_ms).max(1) as f64) / 1000.0;
            let lat = b.rpc.minus(&a.rpc);
            json!({
                "t": b.at_ms,
                "inPerSecond": (b.messages_in.saturating_sub(a.messages_in)) as f64 / dt,
                "outPerSecond": (b.messages_out.saturating_sub(a.messages_out)) as f64 / dt,
                "inBytesPerSecond": (b.bytes_in.saturating_sub(a.bytes_in)) as f64 / dt,
                "requestsPerSecond": (b.requests.saturating_sub(a.requests)) as f64 / dt,
                "latencyP50Ms": lat.quantile_bound(0.5).filter(|v| v.is_finite()),
                "latencyP99Ms": lat.quantile_bound(0.99).filter(|v| v.is_finite()),
            })
        })
        .collect();
    json!({ "points": points })
}

/// Totals sampled once a second for the live charts.
#[derive(Debug, Clone, Default)]
struct Point {
    at_ms: i64,
    messages_in: u64,
    messages_out: u64,
    bytes_in: u64,
    requests: u64,
    /// Every request code's latency merged.
    rpc: Histogram,
    topics_in: BTreeMap<String, u64>,
}

/// The last [`HISTORY_POINTS`] samples.
#[derive(Debug, Default)]
pub struct History {
    points: VecDeque<Point>,
}

impl History {
    /// Messages per second by topic over the last (up to) 10 samples.
    fn topic_rates(&self) -> BTreeMap<String, f64> {
        let (Some(last), n) = (self.points.back(), self.points.len()) else {
            return BTreeMap::new();
        };
        let first = &self.points[n.saturating_sub(11)];
        let dt = ((last.at_ms - first.at_ms).max(1) as f64) / 1000.0;
        last.topics_in
            .iter()
            .map(|(t, v)| {
                let before = first.topics_in.get(t).copied().unwrap_or(0);
                (t.clone(), v.saturating_sub(before) as f64 / dt)
            })
            .collect()
    }
}

/// Samples the hub every second into the history.
pub async fn sample_history(ctx: Arc<HttpContext>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let mut p = Point {
            at_ms: crate::clock::now_ms(),
            ..Default::default()
        };
        for s in ctx.hub.snapshots() {
            p.messages_in += s.messages_in;
            p.messages_out += s.messages_out;
            p.requests += s.requests;
            for (t, f) in &s.topics_in {
                p.bytes_in += f.bytes;
                *p.topics_in.entry(t.clone()).or_default() += f.messages;
            }
            for (_, h) in &s.rpc_latency {
                p.rpc.merge(h);
            }
        }
        let mut h = ctx.history.lock().unwrap_or_else(|e| e.into_inner());
        h.points.push_back(p);
        while h.points.len() > HISTORY_POINTS + 1 {
            h.points.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded_and_bounded() {
        let q = Query::parse("id=AB%20C&topic=a%2Bb&empty=&long=".to_string().as_str());
        assert_eq!(q.need("id").unwrap(), "AB C");
        assert_eq!(q.need("topic").unwrap(), "a+b");
        assert!(q.need("empty").unwrap_err().contains("missing"));
        assert!(q.need("absent").unwrap_err().contains("missing"));
        let long = format!("x={}", "a".repeat(PARAM_BYTES_MAX + 1));
        assert!(Query::parse(&long)
            .need("x")
            .unwrap_err()
            .contains("longer"));
    }

    #[test]
    fn topic_rates_use_the_last_ten_seconds() {
        let mut h = History::default();
        for i in 0..20i64 {
            h.points.push_back(Point {
                at_ms: i * 1000,
                topics_in: [("T".to_string(), (i * 5) as u64)].into(),
                ..Default::default()
            });
        }
        assert_eq!(h.topic_rates()["T"], 5.0);
    }
}
