//! The tailing consumer of `bolide-bench-std`: plain OS threads and blocking sockets, like its
//! senders, so that an end-to-end figure taken with consumers running owes nothing to glommio's
//! scheduling in the load generator.
//!
//! Shape: one thread per consumer, one connection each, and a share of the topic's read queues
//! (queue q goes to consumer q % consumers). The thread first asks GET_MAX_OFFSET of each of its
//! queues (a queue the broker does not know yet starts at 0: the topic is created by the first
//! send), then keeps exactly one long-polling PULL_MESSAGE in flight per queue on the connection, the
//! opaque naming the queue and the ask (`Asks`). Each answer is timed and the queue's next pull
//! written at once; a refused pull is asked again 100 ms later, and a pull unanswered for 5 s (the
//! broker owes an answer after 1 s) is reported and asked again, its late answer ignored. The
//! socket's read timeout (100 ms) is the thread's clock for those and for noticing the end of the
//! run.
//!
//! End-to-end latency is the receipt time minus the stamp in the body (`stamp.rs`); the senders
//! stamp each message's intended send time, so a stall anywhere between the intended send and the
//! receipt shows, as it does in the send latency.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use bolide::client::{PullResult, PullStatus};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{
    parse_offset, pull_sys_flag, PullMessageHeader, PullResultHeader, QueueHeader,
};
use bolide::remoting::{decode_frame, encode_frame, RemotingCommand};

use crate::stamp::{body_age, now_unix_ns};
use crate::{Windows, LATENCY_MAX_US};

/// What a consumer thread pulls and how.
pub struct PullPlan {
    pub broker: String,
    pub topic: String,
    pub group: String,
    pub queues: Vec<i32>,
    pub batch: i32,
}

/// The queues of consumer `c` of `consumers`, over `read_queues` queues.
pub fn queues_of(c: usize, consumers: usize, read_queues: i32) -> Vec<i32> {
    (0..read_queues)
        .filter(|q| *q as usize % consumers == c)
        .collect()
}

/// How long the broker may hold a pull with nothing to return.
const SUSPEND_MS: i64 = 1_000;
/// A refused pull is asked again after this long.
const RETRY_AFTER: Duration = Duration::from_millis(100);
/// How long the thread waits for the start offsets.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A pull unanswered this long is reported (the broker owes an answer after SUSPEND_MS) and asked
/// again, as RocketMQ clients time a suspended pull out.
const PULL_TIMEOUT: Duration = Duration::from_secs(5);
/// Queues one consumer can tell apart in an opaque (`opaque % QUEUE_SLOTS` is the queue's index;
/// the rest counts the asks, so a late answer to a pull that was asked again is ignored).
const QUEUE_SLOTS: i32 = 1024;

fn pull_command(plan: &PullPlan, i: usize, offset: i64, opaque: i32) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(request::PULL_MESSAGE);
    PullMessageHeader {
        consumer_group: plan.group.clone(),
        topic: plan.topic.clone(),
        queue_id: plan.queues[i],
        queue_offset: offset,
        max_msg_nums: plan.batch,
        sys_flag: pull_sys_flag::SUSPEND | pull_sys_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_ms: SUSPEND_MS,
        subscription: Some("*".to_string()),
        sub_version: 0,
        expression_type: Some("TAG".to_string()),
    }
    .write_to(&mut cmd);
    cmd.opaque = opaque;
    cmd
}

/// The opaques of one consumer's pulls: a fresh one per ask.
struct Asks {
    seq: i32,
    /// Per queue: the opaque of the pull in flight and when it was asked; None = none in flight.
    current: Vec<Option<(i32, Instant)>>,
}

impl Asks {
    fn new(queues: usize) -> Asks {
        Asks {
            seq: 0,
            current: vec![None; queues],
        }
    }

    fn ask(&mut self, i: usize) -> i32 {
        self.seq = (self.seq + 1) % (i32::MAX / QUEUE_SLOTS);
        let opaque = self.seq * QUEUE_SLOTS + i as i32;
        self.current[i] = Some((opaque, Instant::now()));
        opaque
    }

    /// The queue index an answer belongs to, unless it answers an ask since replaced.
    fn answered(&mut self, opaque: i32) -> Option<usize> {
        let i = (opaque % QUEUE_SLOTS) as usize;
        match self.current.get(i) {
            Some(Some((o, _))) if *o == opaque => {
                self.current[i] = None;
                Some(i)
            }
            _ => None,
        }
    }

    /// Whether queue `i`'s pull has been in flight longer than `limit`.
    fn overdue(&self, i: usize, now: Instant, limit: Duration) -> bool {
        self.current[i].is_some_and(|(_, at)| now - at > limit)
    }
}

/// Reads from `sock` into `buf` until one whole frame is there, or the read times out (None).
fn next_frame(
    sock: &mut TcpStream,
    buf: &mut BytesMut,
    chunk: &mut [u8],
) -> Result<Option<RemotingCommand>, String> {
    loop {
        match decode_frame(buf, 64 << 20) {
            Ok(Some(cmd)) => return Ok(Some(cmd)),
            Ok(None) => {}
            Err(e) => return Err(format!("bad frame from the broker: {e:?}")),
        }
        match sock.read(chunk) {
            Ok(0) => return Err("the broker closed the connection".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Ok(None)
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Pulls the plan's queues until `stop`, recording every stamped message's age in `windows`
/// (into the totals only while `measuring`).
pub fn run(
    plan: PullPlan,
    windows: Arc<Mutex<Windows>>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    let mut sock = TcpStream::connect(&plan.broker).map_err(|e| format!("connect: {e}"))?;
    let _ = sock.set_nodelay(true);
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| format!("read timeout: {e}"))?;
    let n = plan.queues.len();
    let mut out = BytesMut::with_capacity(4096);
    let mut buf = BytesMut::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 << 10];

    // Where each queue starts: its current end, so the run times only what is sent during it.
    for (i, q) in plan.queues.iter().enumerate() {
        let mut cmd = RemotingCommand::request(request::GET_MAX_OFFSET);
        QueueHeader {
            topic: plan.topic.clone(),
            queue_id: *q,
        }
        .write_to(&mut cmd);
        cmd.opaque = i as i32;
        encode_frame(&cmd, &mut out);
    }
    sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
    let mut offsets: Vec<Option<i64>> = vec![None; n];
    let deadline = Instant::now() + START_TIMEOUT;
    while offsets.iter().any(Option::is_none) {
        if Instant::now() > deadline {
            return Err("no answer to GET_MAX_OFFSET".into());
        }
        let Some(cmd) = next_frame(&mut sock, &mut buf, &mut chunk)? else {
            continue;
        };
        if let Some(slot) = offsets.get_mut(cmd.opaque as usize) {
            // A queue the broker does not know yet (the topic is made by the first send) starts at 0.
            let ok = cmd.code == response::SUCCESS;
            *slot = Some(if ok {
                parse_offset(&cmd).unwrap_or(0)
            } else {
                0
            });
        }
    }
    let mut offsets: Vec<i64> = offsets.into_iter().map(|o| o.unwrap_or(0)).collect();

    if n > QUEUE_SLOTS as usize {
        return Err(format!("at most {QUEUE_SLOTS} queues per consumer"));
    }
    let mut asks = Asks::new(n);
    out.clear();
    for (i, &offset) in offsets.iter().enumerate() {
        encode_frame(&pull_command(&plan, i, offset, asks.ask(i)), &mut out);
    }
    sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
    let mut retry_at: Vec<Option<Instant>> = vec![None; n];
    let mut refused_seen = false;
    while !stop.load(Ordering::Relaxed) {
        out.clear();
        if let Some(cmd) = next_frame(&mut sock, &mut buf, &mut chunk)? {
            let Some(i) = asks.answered(cmd.opaque) else {
                continue;
            };
            match PullStatus::from_code(cmd.code).map(|s| (s, PullResultHeader::parse(&cmd))) {
                Some((status, Ok(header))) => {
                    offsets[i] = header.next_begin_offset;
                    if status == PullStatus::Found {
                        let pulled = PullResult {
                            status,
                            header,
                            body: cmd.body,
                        };
                        record(&windows, &pulled, measuring.load(Ordering::Relaxed));
                    }
                    encode_frame(&pull_command(&plan, i, offsets[i], asks.ask(i)), &mut out);
                }
                _ => {
                    if !refused_seen {
                        refused_seen = true;
                        eprintln!(
                            "bolide-bench-std: pull of queue {} refused (code {}: {}); retrying every {RETRY_AFTER:?}",
                            plan.queues[i],
                            cmd.code,
                            cmd.remark.as_deref().unwrap_or("")
                        );
                    }
                    failed(&windows, measuring.load(Ordering::Relaxed));
                    retry_at[i] = Some(Instant::now() + RETRY_AFTER);
                }
            }
        }
        let now = Instant::now();
        for i in 0..n {
            if asks.overdue(i, now, PULL_TIMEOUT) {
                eprintln!(
                    "bolide-bench-std: pull of queue {} at offset {} unanswered for {PULL_TIMEOUT:?}; asking again",
                    plan.queues[i], offsets[i]
                );
                failed(&windows, measuring.load(Ordering::Relaxed));
                retry_at[i] = Some(now);
            }
            if retry_at[i].is_some_and(|t| t <= now) {
                retry_at[i] = None;
                encode_frame(&pull_command(&plan, i, offsets[i], asks.ask(i)), &mut out);
            }
        }
        if !out.is_empty() {
            sock.write_all(&out).map_err(|e| format!("write: {e}"))?;
        }
    }
    Ok(())
}

fn record(windows: &Mutex<Windows>, pulled: &PullResult, measuring: bool) {
    let now = now_unix_ns();
    let mut w = windows.lock().unwrap_or_else(|e| e.into_inner());
    for r in pulled.records() {
        let Ok(r) = r else {
            w.interval_failed += 1;
            if measuring {
                w.total_failed += 1;
            }
            break;
        };
        // A body without our stamp (another writer's message) is not timed.
        let Some(age) = body_age(r.body, now) else {
            continue;
        };
        let us = (age.as_micros() as u64).clamp(1, LATENCY_MAX_US);
        let _ = w.interval.record(us);
        if measuring {
            let _ = w.total.record(us);
        }
    }
}

fn failed(windows: &Mutex<Windows>, measuring: bool) {
    let mut w = windows.lock().unwrap_or_else(|e| e.into_inner());
    w.interval_failed += 1;
    if measuring {
        w.total_failed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_has_one_consumer() {
        let all: Vec<Vec<i32>> = (0..3).map(|c| queues_of(c, 3, 8)).collect();
        assert_eq!(all[0], vec![0, 3, 6]);
        assert_eq!(all[1], vec![1, 4, 7]);
        assert_eq!(all[2], vec![2, 5]);
        assert_eq!(queues_of(0, 1, 4), vec![0, 1, 2, 3]);
    }

    #[test]
    fn only_the_latest_ask_of_a_queue_is_taken() {
        let mut asks = Asks::new(2);
        let first = asks.ask(1);
        let second = asks.ask(1);
        assert_ne!(first, second);
        assert_eq!(asks.answered(first), None, "replaced by the second ask");
        assert_eq!(asks.answered(second), Some(1));
        assert_eq!(asks.answered(second), None, "answered once");
        let a = asks.ask(0);
        let now = Instant::now();
        assert!(!asks.overdue(0, now, Duration::from_secs(5)));
        assert!(asks.overdue(0, now + Duration::from_secs(6), Duration::from_secs(5)));
        assert_eq!(asks.answered(a), Some(0));
        assert!(!asks.overdue(0, now + Duration::from_secs(6), Duration::from_secs(5)));
    }

    #[test]
    fn a_pull_carries_its_queue_and_offset() {
        let plan = PullPlan {
            broker: String::new(),
            topic: "T".into(),
            group: "G".into(),
            queues: vec![5, 7],
            batch: 32,
        };
        let cmd = pull_command(&plan, 1, 42, 7);
        assert_eq!(cmd.opaque, 7);
        let h = PullMessageHeader::parse(&cmd).unwrap();
        assert_eq!((h.queue_id, h.queue_offset, h.max_msg_nums), (7, 42, 32));
        assert_ne!(h.sys_flag & pull_sys_flag::SUSPEND, 0);
    }
}
