//! The load itself: producer and consumer tasks running on one glommio executor thread.
//!
//! Producers (one logical client = one closed-loop sender, or one paced sender in open loop):
//! - `sync`: one request in flight per client; latency from the actual send.
//! - `async`: `--inflight` requests in flight per client (each slot a closed loop).
//! - `oneway`: no responses; the writer's high-water mark is the only brake. No latency.
//! - `batch`: SEND_BATCH_MESSAGE with `--batch` messages per request; latency per request.
//! - open loop (`--rate`): requests are due at fixed intended times; latency is measured from the
//!   intended time, so a stalled broker shows up as latency, not as a lower send rate
//!   (no coordinated omission). Overdue requests are sent as soon as the in-flight cap allows.
//!
//! Consumers: one pull loop per read queue, spread over `--consumers` connections; PULL_MESSAGE
//! with SUSPEND (long polling) and subscription `*`. Each message body starts with the send time
//! (ns since the Unix epoch) and a magic tag, so receipts give an end-to-end latency.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::fmt::Write as _;

use bytes::BytesMut;

use crate::stamp::{body_age, body_template, now_unix_ns, stamp_at};
use crate::stats::{lock, SharedRecorder};
use bolide::client::{ClientError, Conn, PullStatus, QueueRef, SendRequest};
use bolide::remoting::batch::{encode_batch_entry, BatchEntry};
use bolide::remoting::codes::response;
use bolide::remoting::headers::{pull_sys_flag, PullMessageHeader};
use bolide::remoting::RemotingCommand;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SendMode {
    Sync,
    Async,
    Oneway,
    Batch,
}

/// Everything a load thread needs (plain data, `Send`).
#[derive(Clone)]
pub struct LoadPlan {
    pub thread: usize,
    pub threads: usize,
    pub producer_group: String,
    pub consumer_group: String,
    pub size: usize,
    pub mode: SendMode,
    pub clients: usize,
    pub inflight: usize,
    pub batch: usize,
    pub connections: usize,
    /// Total target rate in messages per second; 0 = closed loop.
    pub rate: f64,
    /// Timer messages: each single send is due this many ms after it is sent (TIMER_DELIVER_MS)
    /// and its body carries the due time, so the end-to-end latency is the lateness. 0 = off.
    pub timer_delay_ms: u64,
    pub max_inflight: usize,
    /// Open loop: the shortest sleep of a connection's pacer (see `open_loop`).
    pub tick: Duration,
    pub write_queues: Vec<QueueRef>,
    /// Read queues with their start offsets (consumers); empty = no consumers.
    pub read_queues: Vec<(QueueRef, i64)>,
    pub consumers: usize,
    pub pull_batch: i32,
    pub timeout: Duration,
    /// Shared budget of messages to send (fixed-count runs); `None` = until stopped.
    pub send_budget: Option<Arc<AtomicI64>>,
    pub stop: Arc<AtomicBool>,
    pub received: Arc<AtomicU64>,
    pub recorder: SharedRecorder,
}

/// Makes Java-like client message ids: 32 upper-case hex characters, unique per process run.
struct UniqKeys {
    prefix: u64,
    counter: u64,
}

impl UniqKeys {
    fn new(thread: usize, client: usize) -> UniqKeys {
        let pid = std::process::id() as u64;
        UniqKeys {
            prefix: (0x7F00_0001u64 << 32)
                | (pid & 0xFFFF) << 16
                | ((thread as u64 & 0xFF) << 8)
                | (client as u64 & 0xFF),
            counter: now_unix_ns() & 0xFFFF_FFFF_0000_0000,
        }
    }

    /// Appends the next id to `out`.
    fn write_next(&mut self, out: &mut String) {
        self.counter += 1;
        let _ = write!(out, "{:016X}{:016X}", self.prefix, self.counter);
    }
}

/// One logical producer. Encodes each request straight into the connection's output buffer from
/// reused scratch buffers: no allocation per message on the send path.
struct Sender {
    plan: Rc<LoadPlan>,
    conn: Rc<Conn>,
    queues: Vec<QueueRef>,
    next_queue: usize,
    keys: UniqKeys,
    /// Message body, stamped in place before each use.
    body: Vec<u8>,
    /// Batch body, rebuilt per request.
    batch_body: BytesMut,
    /// Properties of the current message (or batch).
    props: String,
}

/// Stamps the send time into a body made by [`body_template`].
fn stamp(body: &mut [u8]) {
    stamp_at(body, now_unix_ns());
}

impl Sender {
    fn new(
        plan: Rc<LoadPlan>,
        conn: Rc<Conn>,
        queues: Vec<QueueRef>,
        client: usize,
        slot: usize,
    ) -> Sender {
        let size = plan.size;
        Sender {
            keys: UniqKeys::new(plan.thread, client * 64 + slot),
            body: body_template(size),
            batch_body: BytesMut::with_capacity(plan.batch.max(1) * (size + 80)),
            props: String::with_capacity(128),
            next_queue: client + slot * 7,
            plan,
            conn,
            queues,
        }
    }

    /// Messages and payload bytes of each request.
    fn per_request(&self) -> (u64, u64) {
        match self.plan.mode {
            SendMode::Batch => {
                let n = self.plan.batch.max(1) as u64;
                (n, n * self.plan.size as u64)
            }
            _ => (1, self.plan.size as u64),
        }
    }

    /// Encodes the next send request (SEND_MESSAGE_V2, or SEND_BATCH_MESSAGE in batch mode) with
    /// the given opaque and flag, exactly as a Java 4.9.8 producer would send it.
    fn encode_next(&mut self, opaque: i32, flag: i32, out: &mut BytesMut) {
        let slot = self.next_queue % self.queues.len();
        let queue_id = self.queues[slot].queue_id;
        self.next_queue = self.next_queue.wrapping_add(1);
        let batch = self.plan.mode == SendMode::Batch;
        let born_timestamp_ms = (now_unix_ns() / 1_000_000) as i64;
        self.props.clear();
        if batch {
            self.batch_body.clear();
            for _ in 0..self.plan.batch.max(1) {
                self.props.clear();
                self.props.push_str("UNIQ_KEY\u{1}");
                self.keys.write_next(&mut self.props);
                stamp(&mut self.body);
                // Properties of ~45 bytes always fit; the body size is bounded by --size.
                let _ = encode_batch_entry(
                    &BatchEntry {
                        flag: 0,
                        body: &self.body,
                        properties: &self.props,
                    },
                    &mut self.batch_body,
                );
            }
            self.props.clear();
            self.props.push_str("WAIT\u{1}true");
        } else {
            self.props.push_str("UNIQ_KEY\u{1}");
            self.keys.write_next(&mut self.props);
            self.props.push_str("\u{2}WAIT\u{1}true");
            if self.plan.timer_delay_ms > 0 {
                let due_ms = now_unix_ns() / 1_000_000 + self.plan.timer_delay_ms;
                let _ = write!(self.props, "\u{2}TIMER_DELIVER_MS\u{1}{due_ms}");
                stamp_at(&mut self.body, due_ms * 1_000_000);
            } else {
                stamp(&mut self.body);
            }
        }
        SendRequest {
            producer_group: &self.plan.producer_group,
            topic: &self.queues[slot].topic,
            queue_id,
            born_timestamp_ms,
            properties: &self.props,
            body: if batch { &self.batch_body } else { &self.body },
            batch,
        }
        .encode(opaque, flag, out);
    }

    /// Takes `msgs` from the fixed-count budget; false when the run should end.
    fn take_budget(&self, msgs: u64) -> bool {
        if self.plan.stop.load(Ordering::Relaxed) {
            return false;
        }
        match &self.plan.send_budget {
            None => true,
            Some(b) => b.fetch_sub(msgs as i64, Ordering::Relaxed) > 0,
        }
    }
}

fn record_send(
    plan: &LoadPlan,
    r: Result<RemotingCommand, ClientError>,
    started: Instant,
    msgs: u64,
    bytes: u64,
) {
    let mut rec = lock(&plan.recorder);
    match r {
        Ok(resp) if resp.code == response::SUCCESS => rec.send_ok(started.elapsed(), msgs, bytes),
        Ok(resp) => rec.send_error_code(resp.code),
        Err(_) => rec.send_failed(),
    }
}

/// Closed loop: one request in flight, again and again.
async fn closed_loop(mut s: Sender) {
    let (msgs, bytes) = s.per_request();
    let conn = s.conn.clone();
    loop {
        if !s.take_budget(msgs) {
            break;
        }
        let started = Instant::now();
        let r = conn
            .call_with(|opaque, out| s.encode_next(opaque, 0, out))
            .await;
        let failed = r.is_err();
        record_send(&s.plan, r, started, msgs, bytes);
        if failed && s.conn.is_closed() {
            break;
        }
    }
}

async fn oneway_loop(mut s: Sender) {
    let mut n = 0u64;
    let (msgs, bytes) = s.per_request();
    let conn = s.conn.clone();
    loop {
        conn.writable().await;
        if !s.take_budget(msgs) {
            break;
        }
        if conn
            .send_oneway_with(|opaque, flag, out| s.encode_next(opaque, flag, out))
            .is_err()
        {
            lock(&s.plan.recorder).send_failed();
            break;
        }
        lock(&s.plan.recorder).send_unmeasured(msgs, bytes);
        n += 1;
        if n.is_multiple_of(64) {
            glommio::yield_if_needed().await;
        }
    }
    // What was counted as sent must reach the socket before the executor ends.
    s.conn.flush().await;
}

/// Open loop, one pacer per connection: the requests of every client on the connection are due
/// on one merged schedule (one every `interval`), and latency counts from each request's own
/// intended time. On each wake-up the pacer sends everything that is due, then sleeps until the
/// next request is due but at least `tick`: with a `tick` of 0 every request gets its own timer
/// wake-up (and, mostly, its own write); with 50-100 µs a wake-up sends several requests in one
/// write, as a broker sees traffic from many producers arriving together. The tick's delay is
/// part of the measured latency. Clients take turns, so each keeps its own queue rotation.
async fn open_loop(mut senders: Vec<Sender>, interval: Duration, tick: Duration) {
    let Some(conn) = senders.first().map(|s| s.conn.clone()) else {
        return;
    };
    let plan = senders[0].plan.clone();
    let oneway = plan.mode == SendMode::Oneway;
    let (msgs, bytes) = senders[0].per_request();
    let start = Instant::now();
    let mut k: u64 = 0;
    let mut sent_since_yield = 0u32;
    'run: loop {
        if plan.stop.load(Ordering::Relaxed) {
            break;
        }
        let now = Instant::now();
        let mut due = start + interval.mul_f64(k as f64);
        if due > now {
            let most = Duration::from_millis(1);
            glommio::timer::sleep((due - now).clamp(tick.min(most), most)).await;
            continue;
        }
        while due <= now {
            if conn.in_flight() >= plan.max_inflight {
                glommio::timer::sleep(Duration::from_micros(100)).await;
                continue 'run;
            }
            let n = senders.len();
            let s = &mut senders[(k % n as u64) as usize];
            if !s.take_budget(msgs) {
                break 'run;
            }
            k += 1;
            if oneway {
                if conn
                    .send_oneway_with(|opaque, flag, out| s.encode_next(opaque, flag, out))
                    .is_err()
                {
                    lock(&plan.recorder).send_failed();
                    break 'run;
                }
                lock(&plan.recorder).send_unmeasured(msgs, bytes);
            } else {
                let p = plan.clone();
                conn.send_with(
                    |opaque, out| s.encode_next(opaque, 0, out),
                    Box::new(move |r| record_send(&p, r, due, msgs, bytes)),
                );
            }
            due = start + interval.mul_f64(k as f64);
            sent_since_yield += 1;
            if sent_since_yield >= 64 {
                sent_since_yield = 0;
                glommio::yield_if_needed().await;
            }
        }
    }
    conn.flush().await;
}

async fn pull_loop(plan: Rc<LoadPlan>, conn: Rc<Conn>, queue: QueueRef, mut offset: i64) {
    while !plan.stop.load(Ordering::Relaxed) {
        let pulled = conn
            .pull(&PullMessageHeader {
                consumer_group: plan.consumer_group.clone(),
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                queue_offset: offset,
                max_msg_nums: plan.pull_batch,
                sys_flag: pull_sys_flag::SUSPEND | pull_sys_flag::SUBSCRIPTION,
                commit_offset: 0,
                suspend_timeout_ms: 1_000,
                subscription: Some("*".to_string()),
                sub_version: 0,
                expression_type: Some("TAG".to_string()),
            })
            .await;
        let result = match pulled {
            Ok(r) => r,
            Err(e) => match e.response_code() {
                Some(code) => {
                    lock(&plan.recorder).recv_error_code(code);
                    glommio::timer::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                None => {
                    lock(&plan.recorder).recv_error_code(-1);
                    if conn.is_closed() {
                        break;
                    }
                    continue;
                }
            },
        };
        if result.status == PullStatus::Found {
            let now = now_unix_ns();
            let mut n = 0u64;
            let mut rec = lock(&plan.recorder);
            for r in result.records() {
                match r {
                    Ok(r) => {
                        rec.recv_msg(body_age(r.body, now), r.body.len() as u64);
                        n += 1;
                    }
                    Err(_) => rec.recv_error_code(-2),
                }
            }
            drop(rec);
            plan.received.fetch_add(n, Ordering::Relaxed);
        }
        offset = result.header.next_begin_offset;
    }
}

/// Runs this thread's share of the load until stopped (or the budget is spent).
pub async fn run_thread(plan: LoadPlan) -> Result<(), String> {
    let plan = Rc::new(plan);
    let mut tasks = Vec::new();

    // Producers: clients i with i % threads == thread, over `connections` connections per broker.
    let my_clients: Vec<usize> = (0..plan.clients)
        .filter(|i| i % plan.threads == plan.thread)
        .collect();
    if !my_clients.is_empty() && !plan.write_queues.is_empty() {
        let mut addrs: Vec<String> = Vec::new();
        for q in &plan.write_queues {
            if !addrs.contains(&q.broker_addr) {
                addrs.push(q.broker_addr.clone());
            }
        }
        let per_broker = plan.connections.clamp(1, my_clients.len());
        let mut conns: Vec<(String, Vec<Rc<Conn>>)> = Vec::new();
        for a in &addrs {
            let mut v = Vec::new();
            for _ in 0..per_broker {
                v.push(
                    Conn::connect(a, plan.timeout)
                        .await
                        .map_err(|e| e.to_string())?,
                );
            }
            conns.push((a.clone(), v));
        }
        let per_client_rate = plan.rate / plan.clients as f64;
        // Open loop: the senders of each connection, paced together (see `open_loop`).
        let mut paced: Vec<(Rc<Conn>, Vec<Sender>)> = Vec::new();
        for (n, &client) in my_clients.iter().enumerate() {
            // A client sticks to one broker's connection and round-robins that broker's queues.
            let (addr, cs) = &conns[client % conns.len()];
            let conn = cs[n % cs.len()].clone();
            let queues: Vec<QueueRef> = plan
                .write_queues
                .iter()
                .filter(|q| &q.broker_addr == addr)
                .cloned()
                .collect();
            if plan.rate > 0.0 {
                let sender = Sender::new(plan.clone(), conn.clone(), queues, client, 0);
                match paced.iter_mut().find(|(c, _)| Rc::ptr_eq(c, &conn)) {
                    Some((_, v)) => v.push(sender),
                    None => paced.push((conn, vec![sender])),
                }
                continue;
            }
            let slots = match plan.mode {
                SendMode::Async => plan.inflight.max(1),
                _ => 1,
            };
            for slot in 0..slots {
                let sender = Sender::new(plan.clone(), conn.clone(), queues.clone(), client, slot);
                let task = if plan.mode == SendMode::Oneway {
                    glommio::spawn_local(oneway_loop(sender))
                } else {
                    glommio::spawn_local(closed_loop(sender))
                };
                tasks.push(task);
            }
        }
        let per_request = match plan.mode {
            SendMode::Batch => plan.batch.max(1) as f64,
            _ => 1.0,
        };
        for (_, senders) in paced {
            let conn_rate = per_client_rate * senders.len() as f64;
            let interval = Duration::from_secs_f64(per_request / conn_rate);
            tasks.push(glommio::spawn_local(open_loop(
                senders, interval, plan.tick,
            )));
        }
    }

    // Consumers: this thread's share of the read queues.
    let my_queues: Vec<(QueueRef, i64)> = plan
        .read_queues
        .iter()
        .enumerate()
        .filter(|(i, _)| i % plan.threads == plan.thread)
        .map(|(_, q)| q.clone())
        .collect();
    if !my_queues.is_empty() {
        let n_conns = plan.consumers.div_ceil(plan.threads).max(1);
        let mut conns: Vec<Rc<Conn>> = Vec::new();
        for (i, (q, offset)) in my_queues.into_iter().enumerate() {
            let conn = match conns
                .iter()
                .filter(|c| c.addr() == q.broker_addr)
                .nth(i % n_conns)
            {
                Some(c) => c.clone(),
                None => {
                    let c = Conn::connect(&q.broker_addr, plan.timeout)
                        .await
                        .map_err(|e| e.to_string())?;
                    conns.push(c.clone());
                    c
                }
            };
            tasks.push(glommio::spawn_local(pull_loop(
                plan.clone(),
                conn,
                q,
                offset,
            )));
        }
    }

    // Producers end by themselves (stop flag or budget); consumers when stopped.
    for t in tasks {
        t.await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniq_keys_are_32_hex_and_distinct() {
        let mut k = UniqKeys::new(1, 2);
        let (mut a, mut b) = (String::new(), String::new());
        k.write_next(&mut a);
        k.write_next(&mut b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
