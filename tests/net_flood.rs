//! The network edge under a flood: a real broker (the `bolide` binary, 2 shards, loopback ports
//! 28100/28111, data under /work/scratch-net or the target directory) takes about 1,300 hostile
//! connections at once while one well-behaved client (`bolide::client::Conn`) keeps sending and
//! pulling, small and 1 MiB messages. Hostile peers (from 127.0.0.2; the client is on 127.0.0.1),
//! reconnecting when closed:
//! - partial frames: a valid prefix declaring 8 to 16 MiB, then 4 MiB of it, then nothing;
//! - slow readers: 100 (or 3) pipelined pulls (about 37 KiB of answer each), a 4 KiB receive
//!   buffer, never read;
//! - garbage: HTTP, random bytes, a whole frame with a broken JSON header;
//! - half-closed: pipelined requests (or half a frame), then FIN, never read;
//! - idle: connect and say nothing (they hold slots, so later peers meet the connection cap).
//!
//! What must hold: the client sees no error and reads back every message the broker acknowledged;
//! the broker's RSS (VmRSS, sampled every 50 ms) stays within its RSS before the flood plus the
//! frame budget plus a stated allowance (`allowance_bytes`); and every defence fired (its counter,
//! from the broker's final "network edge" log lines, is non-zero). A memory bound, not a timing.
//! Without the frame budget the partial frames alone would hold 400 × 4 MiB = 1.6 GB.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bolide::client::{self, Conn, PullStatus, SendRequest, SendStatus};

#[path = "common/broker_process.rs"]
mod broker_process;
use bolide::clock::now_ms;
use bolide::remoting::codes::request;
use bolide::remoting::headers::PullMessageHeader;
use bolide::remoting::{encode_frame, RemotingCommand};
use broker_process::{topic_conn, BrokerProcess};
use bytes::BytesMut;

const NAMESRV_PORT: u16 = 28100;
const BROKER_PORT: u16 = 28111;
const SHARDS: usize = 2;
const SHARD_BUDGET_BYTES: usize = 32 << 20;
const CONNECTIONS_MAX: usize = 1200;
const OUTBOUND_MAX_BYTES: usize = 64 << 10;
const SHARD_OUTBOUND_BYTES: usize = 8 << 20;
const TIMEOUT_MS: u64 = 2_000;

const PARTIAL: usize = 400;
const PARTIAL_SENT_BYTES: usize = 4 << 20;
const SLOW: usize = 100;
const SLOW_PULLS: usize = 100;
const GARBAGE: usize = 150;
const HALF_CLOSED: usize = 100;
const IDLE: usize = 550;

const TOPIC: &str = "FloodIT";
const QUEUES: i32 = 4;
const BODY_BYTES: usize = 1024;
/// Large messages (frames over 64 KiB: they go through the frame budget), sent before, during and
/// after the flood, to a queue the slow readers do not pull. The hostile peers connect from
/// 127.0.0.2 and the client from 127.0.0.1: the per-address share of the budget
/// (`peer_frame_buffer_bytes_max`, half the shard's here) keeps the flood from starving them.
const BIG_BODY_BYTES: usize = 1 << 20;
const BIG: u64 = 1 << 62;
const BIG_QUEUE: i32 = 3;
const PREFILL: usize = 1_500;
const FLOOD: Duration = Duration::from_secs(15);
/// A pull of 32 records of a 1 KiB body: records, headers and frame, rounded up.
const PULL_RESPONSE_MAX_BYTES: usize = 40 << 10;

/// What the broker may hold beyond its RSS before the flood and its frame budget (`net::edge`
/// states the sum):
/// - every connection's own buffers: read chunk (16 KiB), the unbudgeted frame buffer (64 KiB plus
///   one chunk) and the writer's kept buffer (64 KiB): 160 KiB each, for the cap of connections;
/// - each shard's queued answers: `shard_outbound_bytes_max` plus one answer, plus what a burst
///   answers before the next sweep sees it stuck: at most every pipelined pull of the slow readers;
/// - 64 MiB for everything else (the client's traffic, tasks, allocator slack).
///
/// `connection_inflight_max` stays at its default (4096): slow readers' pipelined pulls are all
/// taken, and the shard's outbound limit closes them (`closed_outbound_overflow`).
fn allowance_bytes() -> usize {
    CONNECTIONS_MAX * (160 << 10)
        + SHARDS * (SHARD_OUTBOUND_BYTES + PULL_RESPONSE_MAX_BYTES)
        + SLOW.div_ceil(2) * SLOW_PULLS * PULL_RESPONSE_MAX_BYTES
        + (64 << 20)
}

/// The broker process; its log is removed with it (the flood makes it large).
struct Broker(BrokerProcess);

fn data_root() -> PathBuf {
    let scratch = PathBuf::from("/work/scratch-net");
    if scratch.is_dir() {
        scratch
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
    }
}

impl Broker {
    fn start() -> Broker {
        let dir = data_root().join(format!("flood-it-{}", std::process::id()));
        let log = dir.with_extension("log");
        let mut extra: Vec<String> = vec!["--shards".into(), SHARDS.to_string()];
        for s in [
            format!("connections_max={CONNECTIONS_MAX}"),
            format!("shard_frame_buffer_bytes_max={SHARD_BUDGET_BYTES}"),
            format!("peer_frame_buffer_bytes_max={}", SHARD_BUDGET_BYTES / 2),
            format!("frame_timeout_ms={TIMEOUT_MS}"),
            format!("outbound_stall_timeout_ms={TIMEOUT_MS}"),
            format!("writeBufferHighWaterMark={OUTBOUND_MAX_BYTES}"),
            format!("shard_outbound_bytes_max={SHARD_OUTBOUND_BYTES}"),
            format!("cache_bytes_max={}", 16 << 20),
        ] {
            extra.push("--set".into());
            extra.push(s);
        }
        Broker(BrokerProcess::start(
            &dir,
            &log,
            NAMESRV_PORT,
            BROKER_PORT,
            &extra,
            &[("RUST_LOG", "info")],
        ))
    }

    fn rss_bytes(&self) -> usize {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.child.id())).unwrap();
        let kb: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kb << 10
    }

    /// SIGTERM, wait, and the sum over shards of each counter of the final "network edge" lines.
    fn stop_and_count(&mut self) -> HashMap<String, u64> {
        self.0.signal(libc::SIGTERM);
        self.0.wait_exit();
        let log = self.0.log_text();
        // The last line per shard is the one logged at shutdown.
        let mut last: HashMap<String, &str> = HashMap::new();
        for line in log.lines().filter(|l| l.contains("network edge")) {
            let shard = field(line, "shard").unwrap_or_default().to_string();
            last.insert(shard, line);
        }
        assert_eq!(last.len(), SHARDS, "one final edge line per shard:\n{log}");
        let mut sum = HashMap::new();
        for line in last.values() {
            for kv in line.split_whitespace() {
                if let Some((k, v)) = kv.split_once('=') {
                    if let Ok(n) = v.parse::<u64>() {
                        *sum.entry(k.to_string()).or_default() += n;
                    }
                }
            }
        }
        sum
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0.log);
    }
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    assert!(
        lim.rlim_cur as usize > 2 * (PARTIAL + SLOW + GARBAGE + HALF_CLOSED + IDLE),
        "RLIMIT_NOFILE {} is too low for the flood",
        lim.rlim_cur
    );
}

fn pull_header(queue_id: i32, offset: i64) -> PullMessageHeader {
    PullMessageHeader::all_tags("flood-it-cg", TOPIC, queue_id, offset, 32)
}

/// Message `n`'s body: 1 KiB, or 1 MiB when `n` has the `BIG` bit.
fn body_of(n: u64) -> Vec<u8> {
    let mut b = format!("msg-{n}-").into_bytes();
    let size = if n & BIG != 0 {
        BIG_BODY_BYTES
    } else {
        BODY_BYTES
    };
    b.resize(size, b'x');
    b
}

/// `n` pipelined pulls of queue 0 from offset 0, encoded.
fn pulls(n: usize) -> Vec<u8> {
    let mut out = BytesMut::new();
    for i in 0..n {
        let mut cmd = RemotingCommand::request(request::PULL_MESSAGE).with_opaque(i as i32 + 1);
        pull_header(0, 0).write_to(&mut cmd);
        encode_frame(&cmd, &mut out);
    }
    out.to_vec()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Partial,
    Slow,
    Garbage,
    HalfClosed,
    Idle,
}

struct Peer {
    kind: Kind,
    n: usize,
    sock: Option<TcpStream>,
    out: Vec<u8>,
    sent: usize,
    /// Remaining filler bytes (partial frames).
    filler: usize,
    retry_at: Instant,
}

fn connect(kind: Kind) -> std::io::Result<TcpStream> {
    let addr: SocketAddr = ([127, 0, 0, 1], BROKER_PORT).into();
    let sk = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sk.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())?;
    if kind == Kind::Slow {
        sk.set_recv_buffer_size(4096)?;
    }
    sk.connect(&addr.into())?;
    sk.set_nonblocking(true)?;
    Ok(sk.into())
}

impl Peer {
    fn new(kind: Kind, n: usize, pulls: &[u8]) -> Peer {
        let mut p = Peer {
            kind,
            n,
            sock: None,
            out: Vec::new(),
            sent: 0,
            filler: 0,
            retry_at: Instant::now(),
        };
        p.reset(pulls);
        p
    }

    /// What this peer sends on its next connection.
    fn reset(&mut self, pulls: &[u8]) {
        self.sent = 0;
        self.filler = 0;
        self.out = match self.kind {
            Kind::Partial => {
                // Declared 8 to 16 MiB (length word + 4), a 20-byte JSON header promised.
                let frame_len = (8 << 20) + (self.n % 9) * (1 << 20) - 4 * (self.n % 2);
                let mut out = ((frame_len - 4) as u32).to_be_bytes().to_vec();
                out.extend_from_slice(&20u32.to_be_bytes());
                self.filler = PARTIAL_SENT_BYTES;
                out
            }
            // Half pipeline 100 pulls; half ask 3 questions and then wait, over their cap, idle.
            Kind::Slow if self.n.is_multiple_of(2) => pulls.to_vec(),
            Kind::Slow => pulls[..pulls.len() / SLOW_PULLS * 3].to_vec(),
            Kind::Garbage => match self.n % 3 {
                0 => b"GET / HTTP/1.1\r\nHost: broker\r\n\r\n".to_vec(),
                1 => {
                    let mut x = (self.n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    (0..4096)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x as u8
                        })
                        .collect()
                }
                _ => {
                    let mut out = 60u32.to_be_bytes().to_vec();
                    out.extend_from_slice(&50u32.to_be_bytes());
                    out.extend_from_slice(&[b'{'; 56]);
                    out
                }
            },
            Kind::HalfClosed => {
                let mut out = pulls[..pulls.len() / SLOW_PULLS * 3].to_vec();
                if self.n % 2 == 1 {
                    // And half of another frame.
                    out.extend_from_slice(&pulls[..pulls.len() / SLOW_PULLS / 2]);
                }
                out
            }
            Kind::Idle => Vec::new(),
        };
    }

    /// One step: connect if due, write what is left, notice a closed connection. Never blocks.
    fn step(&mut self, pulls: &[u8], filler: &[u8], stats: &Stats) {
        let now = Instant::now();
        let Some(sock) = self.sock.as_mut() else {
            if now < self.retry_at {
                return;
            }
            match connect(self.kind) {
                Ok(s) => {
                    stats.connects.fetch_add(1, Ordering::Relaxed);
                    self.sock = Some(s);
                    self.reset(pulls);
                }
                Err(_) => self.retry_at = now + Duration::from_millis(500),
            }
            return;
        };
        let mut closed = false;
        while self.sent < self.out.len() {
            match sock.write(&self.out[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        while !closed && self.sent == self.out.len() && self.filler > 0 {
            match sock.write(&filler[..self.filler.min(filler.len())]) {
                Ok(n) => self.filler -= n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => closed = true,
            }
        }
        if !closed && self.kind == Kind::HalfClosed && self.sent == self.out.len() {
            let _ = sock.shutdown(Shutdown::Write);
        }
        // Slow, half-closed and idle peers never read; the others look for the broker's close.
        if !closed && matches!(self.kind, Kind::Garbage | Kind::Partial) {
            let mut b = [0u8; 4096];
            match sock.read(&mut b) {
                Ok(0) => closed = true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => closed = true,
            }
        }
        if closed {
            stats.closed_by_broker.fetch_add(1, Ordering::Relaxed);
            self.sock = None;
            self.retry_at = now + Duration::from_millis(500);
        }
    }
}

#[derive(Default)]
struct Stats {
    connects: AtomicU64,
    closed_by_broker: AtomicU64,
}

/// Runs every hostile peer until `stop`.
fn flood(stop: Arc<AtomicBool>, stats: Arc<Stats>) {
    let pulls = pulls(SLOW_PULLS);
    let filler = vec![b'z'; 64 << 10];
    let mut peers = Vec::new();
    for (kind, count) in [
        (Kind::Idle, IDLE),
        (Kind::Partial, PARTIAL),
        (Kind::Slow, SLOW),
        (Kind::Garbage, GARBAGE),
        (Kind::HalfClosed, HALF_CLOSED),
    ] {
        for n in 0..count {
            peers.push(Peer::new(kind, n, &pulls));
        }
    }
    while !stop.load(Ordering::Relaxed) {
        for p in &mut peers {
            p.step(&pulls, &filler, &stats);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The well-behaved client: sends and pulls until `stop`, then reads back everything acknowledged.
/// Returns (messages acknowledged, slowest request in ms); panics on any error.
async fn client_run(stop: Arc<AtomicBool>, started: Arc<AtomicBool>) -> (u64, u128) {
    let timeout = Duration::from_secs(10);
    let conn = topic_conn(NAMESRV_PORT, BROKER_PORT, TOPIC, QUEUES, timeout).await;
    // acked[queue][offset] = message number
    let mut acked: Vec<HashMap<i64, u64>> = vec![HashMap::new(); QUEUES as usize];
    let mut next_read = vec![0i64; QUEUES as usize];
    let mut n = 0u64;
    let mut slowest = 0u128;
    let send_window = |conn: &Conn, n: &mut u64, queue: i32, count: usize| {
        let bodies: Vec<(u64, Vec<u8>)> = (0..count)
            .map(|_| {
                *n += 1;
                let num = if queue == BIG_QUEUE && n.is_multiple_of(2) {
                    *n | BIG
                } else {
                    *n
                };
                (num, body_of(num))
            })
            .collect();
        let futs: Vec<_> = bodies
            .iter()
            .map(|(_, b)| {
                conn.send(&SendRequest {
                    producer_group: "flood-it-pg",
                    topic: TOPIC,
                    queue_id: queue,
                    born_timestamp_ms: now_ms(),
                    properties: "",
                    body: b,
                    batch: false,
                })
            })
            .collect();
        (bodies, futs)
    };
    // Prefill queue 0 for the slow readers' pulls.
    while n < PREFILL as u64 {
        let (bodies, futs) = send_window(&conn, &mut n, 0, 50);
        for ((num, _), f) in bodies.iter().zip(futs) {
            let r = f.await.unwrap();
            assert_eq!(r.status, SendStatus::Ok);
            acked[0].insert(r.header.queue_offset, *num);
        }
    }
    for _ in 0..2 {
        let (bodies, futs) = send_window(&conn, &mut n, BIG_QUEUE, 4);
        for ((num, _), f) in bodies.iter().zip(futs) {
            let r = f.await.unwrap();
            assert_eq!(r.status, SendStatus::Ok);
            acked[BIG_QUEUE as usize].insert(r.header.queue_offset, *num);
        }
    }
    started.store(true, Ordering::SeqCst);
    let mut round = 0;
    while !stop.load(Ordering::SeqCst) {
        let queue = round % QUEUES;
        round += 1;
        let t = Instant::now();
        let (bodies, futs) = send_window(&conn, &mut n, queue, 8);
        for ((num, _), f) in bodies.iter().zip(futs) {
            let r = f.await.expect("send during the flood");
            assert_eq!(r.status, SendStatus::Ok);
            acked[queue as usize].insert(r.header.queue_offset, *num);
        }
        slowest = slowest.max(t.elapsed().as_millis());
        let q = (round % QUEUES) as usize;
        let t = Instant::now();
        let pulled = conn
            .pull(&pull_header(q as i32, next_read[q]))
            .await
            .expect("pull during the flood");
        slowest = slowest.max(t.elapsed().as_millis());
        check_pulled(&pulled, &acked[q], &mut next_read[q]);
    }
    // After the flood: large messages go through again.
    for _ in 0..2 {
        let (bodies, futs) = send_window(&conn, &mut n, BIG_QUEUE, 4);
        for ((num, _), f) in bodies.iter().zip(futs) {
            let r = f.await.expect("large send after the flood");
            assert_eq!(r.status, SendStatus::Ok);
            acked[BIG_QUEUE as usize].insert(r.header.queue_offset, *num);
        }
    }
    // Every acknowledged message reads back.
    for q in 0..QUEUES as usize {
        let end = acked[q].keys().max().map_or(0, |o| o + 1);
        while next_read[q] < end {
            let pulled = conn
                .pull(&pull_header(q as i32, next_read[q]))
                .await
                .unwrap();
            assert_eq!(
                pulled.status,
                PullStatus::Found,
                "queue {q} at {}",
                next_read[q]
            );
            check_pulled(&pulled, &acked[q], &mut next_read[q]);
        }
    }
    (n, slowest)
}

fn check_pulled(pulled: &client::PullResult, acked: &HashMap<i64, u64>, next: &mut i64) {
    match pulled.status {
        PullStatus::Found => {
            for r in pulled.records() {
                let r = r.unwrap();
                let off = r.queue_offset as i64;
                assert_eq!(off, *next, "records in order, no hole");
                let num = acked
                    .get(&off)
                    .expect("only acknowledged messages are stored");
                assert_eq!(r.body, &body_of(*num)[..], "offset {off}");
                *next += 1;
            }
        }
        PullStatus::NoNewMessage => {}
        other => panic!("pull: {other:?}"),
    }
}

#[test]
fn flood_of_hostile_connections_leaves_a_real_client_alone_within_the_memory_bound() {
    raise_fd_limit();
    let mut broker = Broker::start();
    let stop_client = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let client = {
        let (stop, started) = (stop_client.clone(), started.clone());
        glommio::LocalExecutorBuilder::default()
            .spawn(move || client_run(stop, started))
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "prefill did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let base = broker.rss_bytes();
    let bound = base + SHARDS * SHARD_BUDGET_BYTES + allowance_bytes();

    let stop_flood = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Stats::default());
    let flooder = {
        let (stop, stats) = (stop_flood.clone(), stats.clone());
        std::thread::spawn(move || flood(stop, stats))
    };
    let t0 = Instant::now();
    let mut peak = base;
    while t0.elapsed() < FLOOD {
        peak = peak.max(broker.rss_bytes());
        assert!(
            peak <= bound,
            "broker RSS {} MiB over the bound {} MiB (base {} MiB)",
            peak >> 20,
            bound >> 20,
            base >> 20
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop_flood.store(true, Ordering::SeqCst);
    flooder.join().expect("flood thread");
    stop_client.store(true, Ordering::SeqCst);
    let (sent, slowest_ms) = client.join().expect("client thread");
    let counters = broker.stop_and_count();
    eprintln!(
        "flood: base RSS {} MiB, peak {} MiB, bound {} MiB; client sent {sent} (slowest request {slowest_ms} ms); \
         flood connects {}, closes seen {}; broker counters {counters:?}",
        base >> 20,
        peak >> 20,
        bound >> 20,
        stats.connects.load(Ordering::Relaxed),
        stats.closed_by_broker.load(Ordering::Relaxed),
    );
    assert!(
        sent > PREFILL as u64,
        "the client kept sending during the flood"
    );
    let c = |k: &str| counters.get(k).copied().unwrap_or(0);
    for k in [
        "refused_conn_cap",
        "closed_bad_frame",
        "closed_frame_timeout",
        "closed_budget_timeout",
        "closed_outbound_stalled",
        "closed_outbound_overflow",
        "closed_by_peer",
        "budget_waits",
        "outbound_pauses",
    ] {
        assert!(c(k) > 0, "{k} never counted: {counters:?}");
    }
    assert!(
        c("budget_peak_bytes") <= (SHARDS * SHARD_BUDGET_BYTES) as u64,
        "{counters:?}"
    );
}
