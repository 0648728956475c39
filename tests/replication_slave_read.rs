//! Reads from the slave (`slaveReadEnable`) with real processes on loopback (ports 25000-25099,
//! data under the target directory): a master whose log cache is tiny answers a pull of old (cold)
//! data with `suggestWhichBrokerId = 1` and a pull at the tail with 0; a slave whose master is up
//! sends a consumer at the tail back to it (PULL_RETRY_IMMEDIATELY, suggestion 0); after the master
//! is killed with SIGKILL the consumer goes on from the slave: it finds there the offset it had
//! committed on the master, commits and queries offsets on the slave, and reads every message of
//! the queue exactly once across both brokers.
//!
//! Waits have generous deadlines and assert on content, not speed.

#[path = "common/broker_process.rs"]
mod broker_process;
#[path = "common/replication_helpers.rs"]
mod replication_helpers;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bolide::client::{Conn, PullResult, PullStatus, SendRequest, SendStatus};
use bolide::clock::now_ms;
use bolide::remoting::headers::{pull_sys_flag, PullMessageHeader};
use broker_process::{on_glommio, BrokerProcess};

const TIMEOUT: Duration = Duration::from_secs(10);
const DEADLINE: Duration = Duration::from_secs(90);
const TOPIC: &str = "SlaveRead";
const GROUP: &str = "slave-read-cg";
/// Messages sent to queue 1, each with a 4 KiB body: ~4 MiB, four times a shard's log memory.
const SENT: usize = 1000;
const BODY_BYTES: usize = 4096;

fn dir(name: &str) -> (PathBuf, PathBuf) {
    replication_helpers::dir("slave-read", name)
}

/// Two shards, `slaveReadEnable`, and 1 MiB of log memory per shard (one appender chunk), so that
/// whatever is behind the chunk being filled is read from disk.
fn args(list: &[&str]) -> Vec<String> {
    let mut v = vec!["--shards".to_string(), "2".to_string()];
    for a in ["slaveReadEnable=true", "cache_bytes_max=2097152"]
        .iter()
        .chain(list)
    {
        v.push("--set".into());
        v.push(a.to_string());
    }
    v
}

fn body(i: usize) -> String {
    let head = format!("sr-{i:05}-");
    format!("{head}{}", "x".repeat(BODY_BYTES - head.len()))
}

fn index_of(body: &[u8]) -> usize {
    std::str::from_utf8(&body[3..8]).unwrap().parse().unwrap()
}

async fn try_pull(conn: &Conn, offset: i64, max: i32) -> Option<PullResult> {
    let h = PullMessageHeader {
        consumer_group: GROUP.into(),
        topic: TOPIC.into(),
        queue_id: 1,
        queue_offset: offset,
        max_msg_nums: max,
        sys_flag: pull_sys_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_ms: 0,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
    };
    conn.pull(&h).await.ok()
}

async fn pull(conn: &Conn, offset: i64, max: i32) -> PullResult {
    try_pull(conn, offset, max).await.expect("pull answered")
}

/// Pulls queue 1 from `from` up to `to` (exclusive); the message indices read, in order.
async fn consume(conn: &Conn, from: i64, to: i64) -> Vec<usize> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < to {
        let r = pull(conn, offset, ((to - offset) as i32).min(32)).await;
        assert_eq!(
            r.status,
            PullStatus::Found,
            "pull at {offset}: {:?} {:?}",
            r.status,
            r.header
        );
        for rec in r.records() {
            out.push(index_of(rec.unwrap().body));
        }
        offset = r.header.next_begin_offset;
    }
    out
}

#[test]
fn consumers_are_pointed_at_the_slave_and_go_on_there_when_the_master_dies() {
    let (ns, mport, ha, sns, sport) = (25000, 25001, 25002, 25005, 25006);
    let (mdir, mlog) = dir("master");
    let m = Arc::new(Mutex::new(BrokerProcess::start(
        &mdir,
        &mlog,
        ns,
        mport,
        &args(&[
            "brokerRole=SYNC_MASTER",
            "brokerName=sr",
            &format!("haListenPort={ha}"),
            "haSendHeartbeatInterval=500",
            "slaveTimeout=10000",
            "brokerIP1=127.0.0.1",
            &format!("namesrvAddr=127.0.0.1:{ns}"),
        ]),
        &[],
    )));
    let (sdir, slog) = dir("slave");
    let s = BrokerProcess::start(
        &sdir,
        &slog,
        sns,
        sport,
        &args(&[
            "brokerRole=SLAVE",
            "brokerId=1",
            "brokerName=sr",
            "haSendHeartbeatInterval=500",
            "brokerIP1=127.0.0.1",
            &format!("haMasterAddress=127.0.0.1:{ha}"),
        ]),
        &[],
    );
    let mk = m.clone();
    on_glommio(move || async move {
        let mc = Conn::connect(&format!("127.0.0.1:{mport}"), TIMEOUT)
            .await
            .unwrap();
        let sc = Conn::connect(&format!("127.0.0.1:{sport}"), TIMEOUT)
            .await
            .unwrap();
        replication_helpers::create_topic(&mc, TOPIC).await;

        // SEND_OK under SYNC_MASTER: the slave holds every message once the loop is over.
        let deadline = Instant::now() + DEADLINE;
        let mut i = 0;
        while i < SENT {
            let b = body(i);
            let st = mc
                .send(&SendRequest {
                    producer_group: "slave-read-pg",
                    topic: TOPIC,
                    queue_id: 1,
                    born_timestamp_ms: now_ms(),
                    properties: "",
                    body: b.as_bytes(),
                    batch: false,
                })
                .await
                .unwrap()
                .status;
            if st == SendStatus::Ok {
                i += 1;
                continue;
            }
            // Before the slave connected: stored but not confirmed. Such a message is kept (it is
            // in the queue) only if it was the first; start over with a fresh topic otherwise.
            assert_eq!(i, 0, "send {i} not confirmed: {st:?}");
            assert!(Instant::now() < deadline, "the slave never connected");
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }
        let max = mc.max_offset(TOPIC, 1).await.unwrap();
        // Probes sent before the slave connected sit at the queue's start: the first confirmed
        // message's offset is where `body(0)` is.
        let first = max - SENT as i64;

        // The master: old data is cold → the slave (whichBrokerWhenConsumeSlowly = 1); the
        // newest message is still in memory → the master.
        let r = pull(&mc, first, 8).await;
        assert_eq!(r.status, PullStatus::Found);
        assert_eq!(
            r.header.suggest_which_broker_id, 1,
            "cold pull: {:?}",
            r.header
        );
        let r = pull(&mc, max - 1, 1).await;
        assert_eq!(r.status, PullStatus::Found);
        assert_eq!(
            r.header.suggest_which_broker_id, 0,
            "warm pull: {:?}",
            r.header
        );

        // The consumer reads 300 messages from the master and commits there.
        let mut got = consume(&mc, first, first + 300).await;
        mc.update_consumer_offset(GROUP, TOPIC, 1, first + 300)
            .await
            .unwrap();

        // The slave, master up: a consumer at the tail is sent back (retry now, at the master).
        let deadline = Instant::now() + DEADLINE;
        loop {
            if sc.max_offset(TOPIC, 1).await.unwrap_or(0) == max {
                // Until the topic config reached the slave, the pull is refused (TOPIC_NOT_EXIST).
                if let Some(r) = try_pull(&sc, max, 8).await {
                    assert_eq!(r.status, PullStatus::NoMatchedMessage, "{:?}", r.header);
                    assert_eq!(r.header.suggest_which_broker_id, 0);
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the slave never redirected");
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }
        // The committed offset reaches the slave (metadata sync).
        let deadline = Instant::now() + DEADLINE;
        while sc.query_consumer_offset(GROUP, TOPIC, 1).await.unwrap() != Some(first + 300) {
            assert!(
                Instant::now() < deadline,
                "the offset never reached the slave"
            );
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }

        mk.lock().unwrap().kill_9();

        // Master gone: the slave serves the tail itself once its link is down (no redirect).
        let deadline = Instant::now() + DEADLINE;
        while pull(&sc, max, 8).await.status != PullStatus::NoNewMessage {
            assert!(
                Instant::now() < deadline,
                "the slave kept redirecting to a dead master"
            );
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }
        // The consumer resumes from its committed offset, commits on the slave, and finishes.
        let at = sc
            .query_consumer_offset(GROUP, TOPIC, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(at, first + 300);
        got.extend(consume(&sc, at, at + 300).await);
        sc.update_consumer_offset(GROUP, TOPIC, 1, at + 300)
            .await
            .unwrap();
        let at = sc
            .query_consumer_offset(GROUP, TOPIC, 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(at, first + 600, "an offset committed on the slave");
        got.extend(consume(&sc, at, max).await);
        sc.update_consumer_offset(GROUP, TOPIC, 1, max)
            .await
            .unwrap();
        assert_eq!(
            sc.query_consumer_offset(GROUP, TOPIC, 1).await.unwrap(),
            Some(max)
        );

        // Every message, once, in order.
        assert_eq!(got, (0..SENT).collect::<Vec<_>>());
    });
    drop(s);
    drop(m);
}
