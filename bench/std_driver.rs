//! `bolide-bench-std`: an open-loop send driver on plain OS threads and blocking sockets, no glommio
//! and no io_uring. It exists to rule out the main load generator's own scheduling when a latency
//! stall is seen: if both drivers see the same stall at the same time, the broker owns it.
//!
//! Shape: per connection, a writer that sends SEND_MESSAGE_V2 frames at fixed intended times
//! (`--rate` spread evenly over the connections; what fell due since the last wake-up goes in one
//! write, wake-ups at least `--tick-us` apart; a thread each, or `--writer-threads N` threads that
//! each write for several connections; a late writer sends at once and never skips, so a
//! stall shows as latency measured from the intended time, with no coordinated omission), and a
//! reader thread that matches responses by opaque. The intended time of each opaque sits in a ring of
//! atomics (the writer stores it, the reader takes it), so the two threads share no lock on the hot
//! path. Readers record into HDR histograms behind one mutex per connection; the main thread merges
//! them every `--interval` for the progress line and the timeline, and at the end for the report.
//!
//! Consumers (`--consumers N`, default none): plain threads too, each tailing its share of the
//! topic's `--read-queues` with long-polling pulls (`std_consumer.rs`). Every body carries its
//! intended send time (`stamp.rs`), so the end-to-end latency, like the send latency, counts from
//! when the message should have left.
//!
//! The broker address is given directly (no route lookup). By default the broker picks the queue
//! (queueId -1): Bolide keeps each message on the shard that serves its connection, so there is no
//! cross-shard hop (the broker spreads connections evenly over its shards). `--queues N` takes turns
//! over N queues as a RocketMQ producer does (about half the messages then hop, as they do from a
//! real producer); the driver first creates the topic with N queues (UPDATE_AND_CREATE_TOPIC), since
//! a topic auto-created by a send gets 4 and the sends to the others would fail. Without
//! `--queues` the topic must exist or the broker must auto-create it. The JSON report has the
//! fields `perf/plot.py` reads (`send.latency_us`, `intervals`) with `tool: "bolide-bench-std"`.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use clap::Parser;
use hdrhistogram::Histogram;
use serde::Serialize;

use bolide::client::{send_status, SendRequest};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::CreateTopicHeader;
use bolide::remoting::{decode_frame, encode_frame, RemotingCommand};

mod stamp;
mod std_consumer;

#[derive(Debug, Clone, Parser, Serialize)]
#[command(
    name = "bolide-bench-std",
    about = "Open-loop send driver on OS threads and blocking sockets (a second opinion on latency)"
)]
struct Args {
    /// Broker address (not the NameServer: no route lookup).
    #[arg(long, default_value = "127.0.0.1:10911")]
    broker: String,
    #[arg(long, default_value = "BenchStd")]
    topic: String,
    /// Total intended sends per second, spread evenly over the connections.
    #[arg(long)]
    rate: f64,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Queues of the topic the connections take turns on (as a RocketMQ producer does); 0 (the
    /// default) lets the broker pick (queueId -1: Bolide then keeps the message on the accepting
    /// shard, no cross-shard hop).
    #[arg(long, default_value_t = 0)]
    queues: i32,
    /// Shortest sleep of a writer between wake-ups (µs); what fell due meanwhile goes in one write.
    #[arg(long, default_value_t = 50)]
    tick_us: u64,
    /// Writer threads (0, the default: one per connection); connection c is written by thread
    /// c mod N. Fewer threads wake less often, so the driver's own CPU decides less of a tail.
    #[arg(long, default_value_t = 0)]
    writer_threads: usize,
    /// Body size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Seconds measured after the warm-up.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds between progress lines (and timeline points).
    #[arg(long, default_value_t = 0.5)]
    interval: f64,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<String>,
    #[arg(long, default_value = "")]
    label: String,
    /// Consumer threads tailing the topic (one connection each); 0 = send only.
    #[arg(long, default_value_t = 0)]
    consumers: usize,
    /// Read queues of the topic the consumers share. Default: `--queues` when given, else 4, what a
    /// topic auto-created by this driver's sends gets (they declare defaultTopicQueueNums 4, as
    /// RocketMQ producers do).
    #[arg(long)]
    read_queues: Option<i32>,
    /// Messages per pull.
    #[arg(long, default_value_t = 32)]
    pull_batch: i32,
}

/// Opaques in flight per connection that the ring can tell apart; a connection with more requests
/// outstanding than this is reported as overrun (its oldest intended times were overwritten).
const RING: usize = 1 << 16;

/// Highest latency recorded (µs): one minute; anything slower is clamped to it.
const LATENCY_MAX_US: u64 = 60_000_000;

/// One side's latencies: the current interval and the measured total.
struct Windows {
    interval: Histogram<u64>,
    total: Histogram<u64>,
    interval_failed: u64,
    total_failed: u64,
}

impl Windows {
    fn new() -> Windows {
        let h = || Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("histogram bounds");
        Windows {
            interval: h(),
            total: h(),
            interval_failed: 0,
            total_failed: 0,
        }
    }
}

struct ConnShared {
    /// Intended send time (ns since `start`) + 1 per opaque slot; 0 = empty.
    intended: Vec<AtomicU64>,
    windows: Mutex<Windows>,
    overrun: AtomicU64,
}

#[derive(Debug, Clone, Serialize, Default)]
struct LatencySummary {
    count: u64,
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p99_9: f64,
    p99_99: f64,
    max: f64,
}

fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: h.len(),
        mean: h.mean(),
        p50: h.value_at_quantile(0.50) as f64,
        p90: h.value_at_quantile(0.90) as f64,
        p99: h.value_at_quantile(0.99) as f64,
        p99_9: h.value_at_quantile(0.999) as f64,
        p99_99: h.value_at_quantile(0.9999) as f64,
        max: h.max() as f64,
    }
}

#[derive(Debug, Serialize)]
struct SendSide {
    messages: u64,
    msgs_per_sec: f64,
    mb_per_sec: f64,
    send_failed: u64,
    response_failed: u64,
    latency_us: LatencySummary,
}

#[derive(Debug, Serialize)]
struct ConsumeSide {
    messages: u64,
    msgs_per_sec: f64,
    response_failed: u64,
    /// From each message's intended send time to its receipt.
    latency_us: LatencySummary,
}

#[derive(Debug, Serialize)]
struct IntervalPoint {
    t_s: f64,
    send_msgs_per_sec: f64,
    send_p50_us: f64,
    send_p99_us: f64,
    send_max_us: f64,
    recv_msgs_per_sec: f64,
    e2e_p99_us: f64,
}

#[derive(Debug, Serialize)]
struct Settings {
    scenario: &'static str,
    /// "pipelined, N queues" (turns over N queues) or "pipelined, broker picks the queue"
    /// (queueId -1).
    mode: String,
    clients: usize,
    /// Threads writing the connections' sends.
    writer_threads: usize,
    size: usize,
    rate: f64,
    broker: String,
    topic: String,
}

#[derive(Debug, Serialize)]
struct Report {
    tool: &'static str,
    label: String,
    started_unix_s: u64,
    /// CLOCK_MONOTONIC (s) at the instant the intervals' `t_s` count from, as `perf record -k mono`.
    clock_monotonic_start_s: f64,
    load_avg_start: String,
    load_avg_end: String,
    settings: Settings,
    measured_s: f64,
    send: SendSide,
    consume: Option<ConsumeSide>,
    intervals: Vec<IntervalPoint>,
    notes: Vec<String>,
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One connection's send schedule: request `i` is due `offset_ns + i * period_ns` after the start.
struct ConnWriter {
    conn: usize,
    sock: TcpStream,
    shared: Arc<ConnShared>,
    period_ns: f64,
    offset_ns: f64,
    /// The next request to send.
    i: u64,
    body: Vec<u8>,
    out: BytesMut,
}

impl ConnWriter {
    fn due_ns(&self, i: u64) -> u64 {
        (self.offset_ns + i as f64 * self.period_ns) as u64
    }

    /// Writes every request due by `now_ns` (at most 64) in one write.
    fn write_due(&mut self, now_ns: u64, start_unix_ns: u64, args: &Args) -> std::io::Result<()> {
        self.out.clear();
        let born_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        for _ in 0..64 {
            let due_ns = self.due_ns(self.i);
            if due_ns > now_ns {
                break;
            }
            let opaque = (self.i % i32::MAX as u64) as i32;
            let slot = &self.shared.intended[opaque as usize % RING];
            if slot.swap(due_ns + 1, Ordering::AcqRel) != 0 {
                self.shared.overrun.fetch_add(1, Ordering::Relaxed);
            }
            stamp::stamp_at(&mut self.body, start_unix_ns + due_ns);
            SendRequest {
                producer_group: "bolide_bench_std",
                topic: &args.topic,
                queue_id: queue_of(self.conn, self.i, args.queues),
                born_timestamp_ms: born_ms,
                properties: "",
                body: &self.body,
                batch: false,
            }
            .encode(opaque, 0, &mut self.out);
            self.i += 1;
        }
        self.sock.write_all(&self.out)
    }
}

/// Sends the requests of some connections at their intended times until `stop`. Sleeps until the
/// next request of any of them is due (at least `--tick-us`), then writes, per connection, every
/// request that fell due, in one write each: no spinning, so the driver takes CPU only for what it
/// sends (an earlier version spun the last 50 µs of every wait, and 16 spinning writers took more of
/// a 2-core machine than the broker). A late writer sends at once and never skips; latency counts
/// from each request's intended time. A connection whose socket fails is dropped.
fn writer(
    mut conns: Vec<ConnWriter>,
    (start, start_unix_ns): (Instant, u64),
    args: Arc<Args>,
    stop: Arc<AtomicBool>,
) {
    let tick_ns = args.tick_us * 1_000;
    while !stop.load(Ordering::Relaxed) && !conns.is_empty() {
        let now_ns = start.elapsed().as_nanos() as u64;
        let next_ns = conns.iter().map(|c| c.due_ns(c.i)).min().unwrap_or(now_ns);
        if next_ns > now_ns {
            thread::sleep(Duration::from_nanos((next_ns - now_ns).max(tick_ns)));
            continue;
        }
        conns.retain_mut(|c| {
            c.due_ns(c.i) > now_ns || c.write_due(now_ns, start_unix_ns, &args).is_ok()
        });
    }
}

/// The queue of request `i` on connection `conn`: round robin, each connection starting elsewhere.
fn queue_of(conn: usize, i: u64, queues: i32) -> i32 {
    if queues <= 0 {
        return -1;
    }
    ((conn as u64 + i) % queues as u64) as i32
}

/// Reads responses and records their latency from the intended time.
fn reader(sock: TcpStream, shared: Arc<ConnShared>, start: Instant, measuring: Arc<AtomicBool>) {
    let mut r = BufReader::with_capacity(64 * 1024, sock);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        loop {
            match decode_frame(&mut buf, 16 << 20) {
                Ok(Some(cmd)) => {
                    let now_ns = start.elapsed().as_nanos() as u64;
                    let slot = &shared.intended[cmd.opaque as usize % RING];
                    let intended = slot.swap(0, Ordering::AcqRel);
                    if intended == 0 {
                        continue;
                    }
                    let lat_us =
                        (now_ns.saturating_sub(intended - 1) / 1000).clamp(1, LATENCY_MAX_US);
                    let ok = send_status(cmd.code).is_some();
                    let mut w = shared.windows.lock().unwrap_or_else(|e| e.into_inner());
                    let measuring = measuring.load(Ordering::Relaxed);
                    if ok {
                        let _ = w.interval.record(lat_us);
                        if measuring {
                            let _ = w.total.record(lat_us);
                        }
                    } else {
                        w.interval_failed += 1;
                        if measuring {
                            w.total_failed += 1;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("bolide-bench-std: bad frame from the broker: {e:?}");
                    return;
                }
            }
        }
        match r.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Merges and resets the current interval of some windows (the connections' or the consumers'):
/// (their latencies, failures).
fn take_interval<'a>(windows: impl Iterator<Item = &'a Mutex<Windows>>) -> (LatencySummary, u64) {
    let mut merged = Histogram::<u64>::new_with_bounds(1, LATENCY_MAX_US, 3).expect("bounds");
    let mut failed = 0;
    for c in windows {
        let mut w = c.lock().unwrap_or_else(|e| e.into_inner());
        let _ = merged.add(&w.interval);
        w.interval.reset();
        failed += w.interval_failed;
        w.interval_failed = 0;
    }
    (summarize(&merged), failed)
}

/// The measured totals of some windows: (their latencies, failures).
fn totals<'a>(windows: impl Iterator<Item = &'a Mutex<Windows>>) -> (LatencySummary, u64) {
    let mut total = Histogram::<u64>::new_with_bounds(1, LATENCY_MAX_US, 3).expect("bounds");
    let mut failed = 0;
    for c in windows {
        let w = c.lock().unwrap_or_else(|e| e.into_inner());
        let _ = total.add(&w.total);
        failed += w.total_failed;
    }
    (summarize(&total), failed)
}

/// UPDATE_AND_CREATE_TOPIC on the broker, over a blocking socket of its own: the topic with
/// `queues` read and write queues (so that `--queues N` sends never name a missing queue).
fn create_topic(broker: &str, topic: &str, queues: i32) -> Result<(), String> {
    let mut sock = TcpStream::connect(broker).map_err(|e| format!("connect {broker}: {e}"))?;
    let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
    let mut cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC).with_opaque(1);
    CreateTopicHeader {
        topic: topic.to_string(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: bolide::remoting::body::perm::READ_WRITE,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: 0,
        order: false,
        attributes: None,
    }
    .write_to(&mut cmd);
    let mut out = BytesMut::new();
    encode_frame(&cmd, &mut out);
    sock.write_all(&out).map_err(|e| e.to_string())?;
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(resp) = decode_frame(&mut buf, 16 << 20).map_err(|e| format!("{e:?}"))? {
            return match resp.code {
                response::SUCCESS => Ok(()),
                code => Err(format!("code {code}, {}", resp.remark.unwrap_or_default())),
            };
        }
        match sock.read(&mut chunk) {
            Ok(0) => return Err("the broker closed the connection".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn main() -> ExitCode {
    let args = Arc::new(Args::parse());
    if args.rate <= 0.0 || args.connections == 0 {
        eprintln!("bolide-bench-std: --rate and --connections must be positive");
        return ExitCode::from(2);
    }
    let start = Instant::now();
    let start_unix_ns = stamp::now_unix_ns();
    let clock_monotonic_start_s = bolide::clock::monotonic_s();
    let started_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let load_avg_start = load_avg();
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    if args.queues > 0 {
        if let Err(e) = create_topic(&args.broker, &args.topic, args.queues) {
            eprintln!(
                "bolide-bench-std: cannot create {} with {} queues: {e}",
                args.topic, args.queues
            );
            return ExitCode::from(1);
        }
    }
    let per_conn_rate = args.rate / args.connections as f64;
    let period_ns = 1e9 / per_conn_rate;
    let writer_threads = match args.writer_threads {
        0 => args.connections,
        n => n.min(args.connections),
    };
    let mut conns = Vec::new();
    let mut schedules: Vec<Vec<ConnWriter>> = (0..writer_threads).map(|_| Vec::new()).collect();
    for c in 0..args.connections {
        let sock = match TcpStream::connect(&args.broker) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bolide-bench-std: connect {}: {e}", args.broker);
                return ExitCode::from(1);
            }
        };
        let _ = sock.set_nodelay(true);
        let shared = Arc::new(ConnShared {
            intended: (0..RING).map(|_| AtomicU64::new(0)).collect(),
            windows: Mutex::new(Windows::new()),
            overrun: AtomicU64::new(0),
        });
        conns.push(shared.clone());
        let read_sock = sock.try_clone().expect("clone socket");
        // Connections start staggered over one period, so the sends of all connections interleave.
        schedules[c % writer_threads].push(ConnWriter {
            conn: c,
            sock,
            shared: shared.clone(),
            period_ns,
            offset_ns: period_ns * c as f64 / args.connections as f64,
            i: 0,
            body: stamp::body_template(args.size),
            out: BytesMut::with_capacity(64 * (args.size + 512)),
        });
        let m = measuring.clone();
        thread::spawn(move || reader(read_sock, shared, start, m));
    }
    for schedule in schedules {
        let (a, st) = (args.clone(), stop.clone());
        thread::spawn(move || writer(schedule, (start, start_unix_ns), a, st));
    }
    let read_queues = args
        .read_queues
        .unwrap_or(if args.queues > 0 { args.queues } else { 4 });
    let consumed: Vec<Arc<Mutex<Windows>>> = (0..args.consumers)
        .map(|_| Arc::new(Mutex::new(Windows::new())))
        .collect();
    for (c, windows) in consumed.iter().enumerate() {
        let plan = std_consumer::PullPlan {
            broker: args.broker.clone(),
            topic: args.topic.clone(),
            group: "bolide_bench_std".to_string(),
            queues: std_consumer::queues_of(c, args.consumers, read_queues),
            batch: args.pull_batch,
        };
        let (w, m, st) = (windows.clone(), measuring.clone(), stop.clone());
        thread::spawn(move || {
            if let Err(e) = std_consumer::run(plan, w, m, st) {
                eprintln!("bolide-bench-std: consumer {c}: {e}");
            }
        });
    }
    println!(
        "bolide-bench-std: {} at {} msgs/s open loop over {} connections (OS threads, blocking sockets), {} B",
        args.broker, args.rate, args.connections, args.size
    );
    let mut intervals = Vec::new();
    let mut last = Instant::now();
    let end = args.warmup + args.duration;
    let mut measure_start = None;
    // Wakes at each interval tick, and also at the end of the warm-up and of the run, so that the
    // measured window is the one asked for whatever the interval (an interval longer than the run
    // used to measure nothing).
    let tick = args.interval.max(0.05);
    let mut next_tick = tick;
    loop {
        let now = start.elapsed().as_secs_f64();
        let mut wake = next_tick.min(end);
        if measure_start.is_none() {
            wake = wake.min(args.warmup);
        }
        if wake > now {
            thread::sleep(Duration::from_secs_f64(wake - now));
        }
        let t = start.elapsed().as_secs_f64();
        if measure_start.is_none() && t >= args.warmup {
            measuring.store(true, Ordering::Relaxed);
            measure_start = Some(Instant::now());
        }
        if t < next_tick && t < end {
            continue;
        }
        while next_tick <= t {
            next_tick += tick;
        }
        let dt = last.elapsed().as_secs_f64();
        last = Instant::now();
        let (l, failed) = take_interval(conns.iter().map(|c| &c.windows));
        let (e2e, pull_failed) = take_interval(consumed.iter().map(|c| &**c));
        let consume_line = if consumed.is_empty() {
            String::new()
        } else {
            format!(
                " | Consume TPS: {:.0} | e2e p99(ms): {:.3} | e2e max(ms): {:.3} | pull failed: {pull_failed}",
                e2e.count as f64 / dt,
                e2e.p99 / 1e3,
                e2e.max / 1e3
            )
        };
        println!(
            "[{t:7.1}s]{} Send TPS: {:.0} | p50(ms): {:.3} | p99(ms): {:.3} | Max RT(ms): {:.3} | failed: {failed}{consume_line}",
            if t < args.warmup { " (warm-up)" } else { "" },
            l.count as f64 / dt,
            l.p50 / 1e3,
            l.p99 / 1e3,
            l.max / 1e3,
        );
        intervals.push(IntervalPoint {
            t_s: (t * 1000.0).round() / 1000.0,
            send_msgs_per_sec: l.count as f64 / dt,
            send_p50_us: l.p50,
            send_p99_us: l.p99,
            send_max_us: l.max,
            recv_msgs_per_sec: e2e.count as f64 / dt,
            e2e_p99_us: e2e.p99,
        });
        if t >= end {
            break;
        }
    }
    let measured_s = measure_start
        .map(|m| m.elapsed().as_secs_f64())
        .unwrap_or(0.0);
    stop.store(true, Ordering::Relaxed);
    measuring.store(false, Ordering::Relaxed);
    let (lat, failed) = totals(conns.iter().map(|c| &c.windows));
    let overrun: u64 = conns
        .iter()
        .map(|c| c.overrun.load(Ordering::Relaxed))
        .sum();
    let msgs_per_sec = if measured_s > 0.0 {
        lat.count as f64 / measured_s
    } else {
        0.0
    };
    println!("---- result over {measured_s:.1} s (after warm-up) ----");
    println!(
        "send: {msgs_per_sec:.0} msgs/s | {} msgs | failed {failed} | latency from intended time: p50 {:.1} | p90 {:.1} | p99 {:.1} | p99.9 {:.1} | p99.99 {:.1} | max {:.1} (µs)",
        lat.count, lat.p50, lat.p90, lat.p99, lat.p99_9, lat.p99_99, lat.max
    );
    let consume = (!consumed.is_empty()).then(|| {
        let (lat, failed) = totals(consumed.iter().map(|c| &**c));
        ConsumeSide {
            messages: lat.count,
            msgs_per_sec: if measured_s > 0.0 {
                lat.count as f64 / measured_s
            } else {
                0.0
            },
            response_failed: failed,
            latency_us: lat,
        }
    });
    if let Some(c) = &consume {
        println!(
            "consume: {:.0} msgs/s | {} msgs | pull failed {} | e2e from intended send time: p50 {:.1} | p90 {:.1} | p99 {:.1} | p99.9 {:.1} | p99.99 {:.1} | max {:.1} (µs)",
            c.msgs_per_sec,
            c.messages,
            c.response_failed,
            c.latency_us.p50,
            c.latency_us.p90,
            c.latency_us.p99,
            c.latency_us.p99_9,
            c.latency_us.p99_99,
            c.latency_us.max
        );
    }
    let mut notes = Vec::new();
    if overrun > 0 {
        notes.push(format!("{overrun} sends overran the opaque ring ({RING} in flight per connection): the broker fell far behind"));
        println!("note: {}", notes[0]);
    }
    if let Some(path) = &args.json {
        let report = Report {
            tool: "bolide-bench-std",
            label: args.label.clone(),
            started_unix_s,
            clock_monotonic_start_s,
            load_avg_start,
            load_avg_end: load_avg(),
            settings: Settings {
                scenario: if args.consumers > 0 { "e2e" } else { "produce" },
                mode: if args.queues > 0 {
                    format!("pipelined, {} queues", args.queues)
                } else {
                    "pipelined, broker picks the queue".to_string()
                },
                clients: args.connections,
                writer_threads,
                size: args.size,
                rate: args.rate,
                broker: args.broker.clone(),
                topic: args.topic.clone(),
            },
            measured_s,
            send: SendSide {
                messages: lat.count,
                msgs_per_sec,
                mb_per_sec: msgs_per_sec * args.size as f64 / 1e6,
                send_failed: 0,
                response_failed: failed,
                latency_us: lat,
            },
            consume,
            intervals,
            notes,
        };
        match serde_json::to_string_pretty(&report) {
            Ok(s) => {
                if let Err(e) = std::fs::write(path, s) {
                    eprintln!("bolide-bench-std: write {path}: {e}");
                }
            }
            Err(e) => eprintln!("bolide-bench-std: json: {e}"),
        }
    }
    // The threads block on their sockets; the process exit closes them.
    ExitCode::SUCCESS
}
