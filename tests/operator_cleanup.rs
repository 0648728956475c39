//! Operator cleanups, each asked of every shard:
//!
//! - Retention on request: DELETE_EXPIRED_COMMITLOG (329, mqadmin deleteExpiredCommitLog) and
//!   CLEAN_EXPIRED_CONSUMEQUEUE (306, mqadmin cleanExpiredCQ) make every shard run retention at once,
//!   by its usual rules, instead of at its next round. The broker (2 shards, 1 MiB segments,
//!   `retention_hours=0` so every full segment has expired) runs retention by itself only once an
//!   hour (`cleanResourceInterval`, the Java key): its queues keep their messages until asked, then
//!   each shard's queues lose the ones in deleted segments. Ports 24520-24529.
//! - CLEAN_UNUSED_TOPIC (316, mqadmin cleanUnusedTopic): a topic whose config is gone (here: taken
//!   out of `topics.json` while the broker was stopped) loses its stored messages on every shard,
//!   through a restart; a topic with a config, a dead-letter topic and the system topics keep theirs.
//!   Ports 24530-24539.

use std::time::{Duration, Instant};

use bolide::broker::state::topics::TopicTable;
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::SendMessageHeader;
use bolide::remoting::RemotingCommand;
use bolide::shard::placement::owner;

#[path = "common/broker_process.rs"]
mod broker_process;
#[path = "common/raw_conn.rs"]
mod raw_conn;
use broker_process::{sets, strings, test_dir, BrokerProcess};
use raw_conn::Raw;

const TOPIC: &str = "RetentionNow";
const QUEUES: u32 = 4;

fn send(c: &mut Raw, topic: &str, queue_id: u32, body: &[u8]) {
    let h = SendMessageHeader {
        producer_group: "operator-cleanup-pg".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: QUEUES as i32,
        queue_id: queue_id as i32,
        sys_flag: 0,
        born_timestamp_ms: 1_700_000_000_000,
        flag: 0,
        properties: String::new(),
        reconsume_times: 0,
        unit_mode: false,
        max_reconsume_times: None,
        batch: false,
    };
    let mut cmd = RemotingCommand::request(request::SEND_MESSAGE);
    h.write_v1(&mut cmd);
    let r = c.call(cmd.with_body(body.to_vec()));
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
}

fn offsets(c: &mut Raw, code: i32, topic: &str, queues: u32) -> Vec<i64> {
    (0..queues)
        .map(|q| {
            let r = c.call(
                RemotingCommand::request(code)
                    .with_ext("topic", topic)
                    .with_ext("queueId", q),
            );
            assert_eq!(r.code, response::SUCCESS, "{topic} {q}: {:?}", r.remark);
            r.ext("offset").unwrap().parse().unwrap()
        })
        .collect()
}

fn min_offsets(c: &mut Raw) -> Vec<i64> {
    offsets(c, request::GET_MIN_OFFSET, TOPIC, QUEUES)
}

/// Whether some queue of every shard has lost its first messages.
fn every_shard_trimmed(mins: &[i64]) -> bool {
    (0..2u16).all(|s| (0..QUEUES).any(|q| owner(TOPIC, q, 2).0 == s && mins[q as usize] > 0))
}

#[test]
fn retention_runs_when_asked_and_not_before() {
    let dir = test_dir("retention-now");
    let log = dir.with_extension("log");
    // 1 MiB segments (BrokerProcess::start fixes 16 MiB).
    broker_process::fresh_dir(&dir);
    let mut args = strings(&["serve", "--data-dir", dir.to_str().unwrap()]);
    args.extend(strings(&[
        "--namesrv-port",
        "24520",
        "--broker-port",
        "24525",
        "--listen-ip",
        "127.0.0.1",
        "--segment-size",
        "1048576",
        "--shards",
        "2",
    ]));
    args.extend(sets(&[
        "retention_hours=0",
        "cleanResourceInterval=3600000",
        "maxMessageSize=262144",
    ]));
    let mut broker = BrokerProcess::spawn(args, &dir, &log, &[24520, 24525], &[]);
    broker.wait_answering();
    let mut c = Raw::connect(24525);
    // About 3 MiB on each shard: full 1 MiB segments on both.
    let body = vec![b'r'; 64 << 10];
    for i in 0..100 {
        send(&mut c, TOPIC, i % QUEUES, &body);
    }
    assert!(
        (0..2u16).all(|s| (0..QUEUES).any(|q| owner(TOPIC, q, 2).0 == s)),
        "the topic's queues are on both shards"
    );
    // Past the checkpoint interval (1 s) and the flusher: nothing goes without the request.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        min_offsets(&mut c),
        vec![0; QUEUES as usize],
        "deleted unasked"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.call(RemotingCommand::request(request::DELETE_EXPIRED_COMMITLOG));
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        let mins = min_offsets(&mut c);
        if every_shard_trimmed(&mins) {
            break;
        }
        if Instant::now() > deadline {
            panic!("still not trimmed: {mins:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The newest messages stay readable: each queue still has its last one.
    let r = c.call(RemotingCommand::request(
        request::CLEAN_EXPIRED_CONSUMEQUEUE,
    ));
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    for (q, min) in min_offsets(&mut c).into_iter().enumerate() {
        assert!(
            min < 25,
            "queue {q}: minimum {min} past its last message (24)"
        );
    }
}

#[test]
fn topics_without_a_config_lose_their_messages_when_asked() {
    let dir = test_dir("clean-unused-topic");
    let log = dir.with_extension("log");
    let mut broker =
        BrokerProcess::start_answering(&dir, &log, 24530, 24535, &strings(&["--shards", "2"]));
    let mut c = Raw::connect(24535);
    let (gone, kept, dlq) = ("UnusedGone", "UnusedKept", "%DLQ%operator-cleanup-cg");
    for i in 0..(5 * QUEUES) {
        send(&mut c, gone, i % QUEUES, b"gone");
        send(&mut c, kept, i % QUEUES, b"kept");
    }
    send(&mut c, dlq, 0, b"dead letter");
    drop(c);
    broker.signal(libc::SIGTERM);
    broker.wait_exit();
    // The config goes, the messages stay: what an operator who edits the table leaves behind.
    let path = dir.join("topics.json");
    let mut table = TopicTable::load(&path).unwrap().unwrap();
    assert!(table.topics.remove(gone).is_some());
    table.save(&path).unwrap();
    broker.restart();

    let mut c = Raw::connect(24535);
    let max = |c: &mut Raw, t: &str, n: u32| offsets(c, request::GET_MAX_OFFSET, t, n);
    let min = |c: &mut Raw, t: &str, n: u32| offsets(c, request::GET_MIN_OFFSET, t, n);
    assert_eq!(max(&mut c, gone, QUEUES), vec![5; QUEUES as usize]);
    assert_eq!(min(&mut c, gone, QUEUES), vec![0; QUEUES as usize]);
    let r = c.call(RemotingCommand::request(request::CLEAN_UNUSED_TOPIC));
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert_eq!(
        min(&mut c, gone, QUEUES),
        vec![5; QUEUES as usize],
        "emptied"
    );
    assert_eq!(min(&mut c, kept, QUEUES), vec![0; QUEUES as usize], "kept");
    assert_eq!(max(&mut c, kept, QUEUES), vec![5; QUEUES as usize]);
    assert_eq!(min(&mut c, dlq, 1), vec![0], "a dead letter stays");
    assert_eq!(max(&mut c, dlq, 1), vec![1]);
    // Durably: still empty after kill -9.
    drop(c);
    broker.kill_9_and_restart();
    let mut c = Raw::connect(24535);
    assert_eq!(
        min(&mut c, gone, QUEUES),
        vec![5; QUEUES as usize],
        "after kill -9"
    );
    assert_eq!(min(&mut c, kept, QUEUES), vec![0; QUEUES as usize]);
}
