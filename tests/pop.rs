//! POP consumption (POP_MESSAGE 200050, ACK_MESSAGE 200051, CHANGE_MESSAGE_INVISIBLETIME 200053)
//! and the request modes (SET_MESSAGE_REQUEST_MODE 401, QUERY_ASSIGNMENT 400) against a real broker
//! process, in raw frames. What this shows beyond the Java suite's `PopConsumeTest` (which runs the
//! 5.x push consumer against Bolide and the Java broker): the pop of queue id -1 gathers the queues
//! of both shards; what is in flight is not popped twice; stale and out-of-range acks; the
//! committed offset stays at the lowest unacked message, so a kill -9 redelivers instead of losing;
//! long polling wakes on a send to a queue of the other shard; tag filters; orderly pops; the
//! request modes survive a restart; BATCH_ACK_MESSAGE (200151) settles each queue on its owner.
//! Ports 24580-24591.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bolide::message::decode_record;
use bolide::message::properties::{keys, Properties};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{
    AckMessageHeader, CreateTopicHeader, PopMessageHeader, SendMessageHeader,
};
use bolide::remoting::RemotingCommand;

#[path = "common/broker_process.rs"]
mod broker_process;
#[path = "common/raw_conn.rs"]
mod raw_conn;
use broker_process::{strings, test_dir, BrokerProcess};
use raw_conn::Raw;

const QUEUES: i32 = 8;

fn create_topic(c: &mut Raw, topic: &str) {
    let mut cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC);
    CreateTopicHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: QUEUES,
        write_queue_nums: QUEUES,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: 0,
        order: false,
        attributes: None,
    }
    .write_to(&mut cmd);
    let r = c.call(cmd);
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
}

fn send(c: &mut Raw, topic: &str, queue_id: i32, tag: &str, body: &str) {
    let mut props = Properties::default();
    props.set(keys::TAGS, tag);
    let h = SendMessageHeader {
        producer_group: "pop-it-pg".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: QUEUES,
        queue_id,
        sys_flag: 0,
        born_timestamp_ms: 1_700_000_000_000,
        flag: 0,
        properties: props.to_wire(),
        reconsume_times: 0,
        unit_mode: false,
        max_reconsume_times: None,
        batch: false,
    };
    let mut cmd = RemotingCommand::request(request::SEND_MESSAGE_V2);
    h.write_v2(&mut cmd);
    let r = c.call(cmd.with_body(body.as_bytes().to_vec()));
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
}

/// One popped message as a client sees it.
#[derive(Debug, Clone)]
struct Popped {
    body: String,
    queue_id: i32,
    offset: i64,
    reconsume: i32,
    /// The receipt the Java client builds (`ExtraInfoUtil`, checkpoint offset = the message's).
    receipt: String,
}

struct PopAnswer {
    code: i32,
    ext: BTreeMap<String, String>,
    msgs: Vec<Popped>,
}

fn pop_cmd(
    group: &str,
    topic: &str,
    queue_id: i32,
    invisible_ms: i64,
    poll_ms: i64,
) -> PopMessageHeader {
    PopMessageHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id,
        max_msg_nums: 32,
        invisible_time_ms: invisible_ms,
        poll_time_ms: poll_ms,
        born_time_ms: bolide::clock::now_ms(),
        init_mode: 0,
        exp_type: Some("TAG".into()),
        exp: Some("*".into()),
        order: false,
    }
}

fn pop(c: &mut Raw, h: &PopMessageHeader) -> PopAnswer {
    let mut cmd = RemotingCommand::request(request::POP_MESSAGE);
    h.write_to(&mut cmd);
    let r = c.call(cmd);
    let answered = [
        response::SUCCESS,
        response::PULL_NOT_FOUND,
        response::POLLING_TIMEOUT,
    ];
    if !answered.contains(&r.code) {
        // A refusal: the Java client throws before it reads any header.
        return PopAnswer {
            code: r.code,
            ext: BTreeMap::new(),
            msgs: Vec::new(),
        };
    }
    let ext: BTreeMap<String, String> = ["popTime", "invisibleTime", "reviveQid", "restNum"]
        .iter()
        .map(|k| {
            let v = r
                .ext(k)
                .unwrap_or_else(|| panic!("no {k} in the pop answer ({})", r.code));
            (k.to_string(), v.to_string())
        })
        .collect();
    let pop_time: i64 = ext["popTime"].parse().unwrap();
    let mut msgs = Vec::new();
    let mut at = 0usize;
    while at + 4 <= r.body.len() {
        let size = u32::from_be_bytes(r.body[at..at + 4].try_into().unwrap()) as usize;
        let v = decode_record(&r.body[at..at + size], true).unwrap();
        let offset = v.queue_offset as i64;
        msgs.push(Popped {
            body: String::from_utf8(v.body.to_vec()).unwrap(),
            queue_id: v.queue_id as i32,
            offset,
            reconsume: v.reconsume_times,
            receipt: format!(
                "{offset} {pop_time} {} 0 0 broker-a {} {offset}",
                h.invisible_time_ms, v.queue_id
            ),
        });
        at += size;
    }
    PopAnswer {
        code: r.code,
        ext,
        msgs,
    }
}

fn settle(
    c: &mut Raw,
    group: &str,
    topic: &str,
    m: &Popped,
    invisible: Option<i64>,
) -> RemotingCommand {
    let h = AckMessageHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: m.queue_id,
        offset: m.offset,
        extra_info: m.receipt.clone(),
        invisible_time_ms: invisible,
    };
    let code = if invisible.is_some() {
        request::CHANGE_MESSAGE_INVISIBLETIME
    } else {
        request::ACK_MESSAGE
    };
    let mut cmd = RemotingCommand::request(code);
    h.write_to(&mut cmd);
    c.call(cmd)
}

fn committed(c: &mut Raw, group: &str, topic: &str, queue_id: i32) -> i64 {
    let r = c.call(
        RemotingCommand::request(request::QUERY_CONSUMER_OFFSET)
            .with_ext("consumerGroup", group)
            .with_ext("topic", topic)
            .with_ext("queueId", queue_id),
    );
    if r.code != response::SUCCESS {
        return -1;
    }
    r.ext("offset").unwrap().parse().unwrap()
}

fn bodies(msgs: &[Popped]) -> BTreeSet<String> {
    msgs.iter().map(|m| m.body.clone()).collect()
}

#[test]
fn pops_ack_and_redeliver_across_shards_and_a_crash() {
    let dir = test_dir("pop");
    let log = dir.with_extension("log");
    let mut broker =
        BrokerProcess::start_answering(&dir, &log, 24580, 24581, &strings(&["--shards", "2"]));
    let mut c = Raw::connect(24581);
    let topic = "PopIt";
    create_topic(&mut c, topic);
    let sent: Vec<String> = (0..24).map(|i| format!("m{i}")).collect();
    for (i, b) in sent.iter().enumerate() {
        send(
            &mut c,
            topic,
            i as i32 % QUEUES,
            if i % 2 == 0 { "A" } else { "B" },
            b,
        );
    }

    // One pop of queue -1 takes from every queue, on both shards; nothing is popped twice.
    let first = pop(&mut c, &pop_cmd("G", topic, -1, 2_000, 0));
    assert_eq!(first.code, response::SUCCESS);
    assert_eq!(first.msgs.len(), 24, "{:?}", first.msgs);
    assert_eq!(bodies(&first.msgs), sent.iter().cloned().collect());
    let queues: BTreeSet<i32> = first.msgs.iter().map(|m| m.queue_id).collect();
    assert_eq!(queues.len(), QUEUES as usize);
    assert!(first.msgs.iter().all(|m| m.reconsume == 0));
    assert_eq!(first.ext["invisibleTime"], "2000");
    assert_eq!(first.ext["restNum"], "0");
    let again = pop(&mut c, &pop_cmd("G", topic, -1, 2_000, 0));
    assert_eq!(again.code, response::PULL_NOT_FOUND, "all 24 are in flight");
    assert!(again.msgs.is_empty());

    // Acks: the current receipt removes it; a receipt of another pop time and one for an offset
    // past the queue's end do nothing (the second is refused).
    let (acked, kept): (Vec<&Popped>, Vec<&Popped>) =
        first.msgs.iter().partition(|m| m.offset == 0);
    for m in &acked {
        let r = settle(&mut c, "G", topic, m, None);
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    }
    let stale = Popped {
        receipt: kept[0].receipt.replacen(&first.ext["popTime"], "1", 1),
        ..kept[0].clone()
    };
    assert_eq!(
        settle(&mut c, "G", topic, &stale, None).code,
        response::SUCCESS
    );
    let beyond = Popped {
        offset: 99,
        ..kept[0].clone()
    };
    assert_eq!(
        settle(&mut c, "G", topic, &beyond, None).code,
        response::NO_MESSAGE
    );
    // The committed offset is the lowest unacked one: offset 1 of every queue.
    for q in 0..QUEUES {
        assert_eq!(committed(&mut c, "G", topic, q), 1, "queue {q}");
    }
    // One message kept invisible for a minute: not among the redeliveries below.
    let long = kept[1];
    let r = settle(&mut c, "G", topic, long, Some(60_000));
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert!(r.ext("popTime").is_some() && r.ext("reviveQid").is_some());
    assert_eq!(r.ext("invisibleTime"), Some("60000"));

    // After the invisible time: the 15 others come again, with their reconsume count raised.
    std::thread::sleep(Duration::from_millis(2_300));
    let back = pop(&mut c, &pop_cmd("G", topic, -1, 30_000, 0));
    assert_eq!(back.code, response::SUCCESS);
    let want: BTreeSet<String> = kept
        .iter()
        .filter(|m| m.body != long.body)
        .map(|m| m.body.clone())
        .collect();
    assert_eq!(bodies(&back.msgs), want);
    assert!(
        back.msgs.iter().all(|m| m.reconsume == 1),
        "{:?}",
        back.msgs
    );

    // kill -9 with 16 in flight: nothing acked is lost, what was in flight comes again.
    std::thread::sleep(Duration::from_millis(1_200)); // past one offset persist
    broker.kill_9_and_restart();
    broker.wait_answering();
    let mut c = Raw::connect(24581);
    let after = pop(&mut c, &pop_cmd("G", topic, -1, 30_000, 0));
    assert_eq!(after.code, response::SUCCESS);
    let in_flight: BTreeSet<String> = kept.iter().map(|m| m.body.clone()).collect();
    assert!(
        bodies(&after.msgs).is_superset(&in_flight),
        "after the crash: {:?}, in flight before: {in_flight:?}",
        bodies(&after.msgs)
    );

    // Long polling: a pop of an empty group waits, and a send to a queue of the other shard wakes it.
    let mut waiter = Raw::connect(24581);
    let mut h = pop_cmd("W", topic, -1, 30_000, 10_000);
    h.init_mode = 1;
    let drained = pop(&mut waiter, &h);
    assert!(drained.code == response::SUCCESS || drained.code == response::POLLING_TIMEOUT);
    let started = Instant::now();
    let mut cmd = RemotingCommand::request(request::POP_MESSAGE);
    h.born_time_ms = bolide::clock::now_ms();
    h.write_to(&mut cmd);
    let opaque = waiter.write(cmd);
    std::thread::sleep(Duration::from_millis(300));
    for q in 0..QUEUES {
        send(&mut c, topic, q, "A", &format!("late{q}"));
    }
    let woke = waiter
        .response_to(opaque, Duration::from_secs(9))
        .expect("the parked pop answered");
    assert_eq!(woke.code, response::SUCCESS, "{:?}", woke.remark);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken after {:?}",
        started.elapsed()
    );

    // A tag filter: group F sees only tag A (every even message and the late ones).
    let mut fh = pop_cmd("F", topic, -1, 30_000, 0);
    fh.exp = Some("A".into());
    let filtered = pop(&mut c, &fh);
    assert_eq!(filtered.code, response::SUCCESS);
    let mut want: BTreeSet<String> = (0..24).step_by(2).map(|i| format!("m{i}")).collect();
    want.extend((0..QUEUES).map(|q| format!("late{q}")));
    assert_eq!(bodies(&filtered.msgs), want);

    // Orderly: while a queue has messages in flight, an orderly pop takes nothing new from it.
    let mut oh = pop_cmd("O", topic, 3, 30_000, 0);
    oh.order = true;
    oh.max_msg_nums = 1;
    let o1 = pop(&mut c, &oh);
    assert_eq!(o1.msgs.len(), 1);
    assert_eq!(pop(&mut c, &oh).code, response::PULL_NOT_FOUND);
    assert_eq!(
        settle(&mut c, "O", topic, &o1.msgs[0], None).code,
        response::SUCCESS
    );
    let o2 = pop(&mut c, &oh);
    assert_eq!(o2.msgs.len(), 1);
    assert_eq!(o2.msgs[0].offset, o1.msgs[0].offset + 1);
    // An orderly pop parked on the blocked queue goes on when the ack unblocks it (not when its
    // poll time runs out): the ack wakes it, as Java's orderly ack notifies its polls.
    let mut parked = Raw::connect(24581);
    let mut ph = oh.clone();
    ph.poll_time_ms = 20_000;
    ph.born_time_ms = bolide::clock::now_ms();
    let mut cmd = RemotingCommand::request(request::POP_MESSAGE);
    ph.write_to(&mut cmd);
    let opaque = parked.write(cmd);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        settle(&mut c, "O", topic, &o2.msgs[0], None).code,
        response::SUCCESS
    );
    let woke = parked
        .response_to(opaque, Duration::from_secs(15))
        .expect("the parked orderly pop answered before its poll time ran out");
    assert_eq!(woke.code, response::SUCCESS, "{:?}", woke.remark);
    assert!(!woke.body.is_empty(), "the next message of the queue");

    // Large messages: an answer holds at most 4 MiB of records (a pull's bound), the rest comes next.
    create_topic(&mut c, "PopBig");
    let big = "x".repeat(1 << 20);
    for _ in 0..6 {
        send(&mut c, "PopBig", 0, "A", &big);
    }
    let mut got = 0;
    for _ in 0..2 {
        let mut cmd = RemotingCommand::request(request::POP_MESSAGE);
        pop_cmd("Big", "PopBig", -1, 30_000, 0).write_to(&mut cmd);
        let r = c.call(cmd);
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        assert!(r.body.len() <= 4 << 20, "{} bytes in one pop", r.body.len());
        got += r.body.len() / (1 << 20);
    }
    assert_eq!(got, 6, "two pops take the six 1 MiB messages");

    // Bad pops are refused with Java's codes.
    let mut too_many = pop_cmd("G", topic, -1, 30_000, 0);
    too_many.max_msg_nums = 33;
    assert_eq!(pop(&mut c, &too_many).code, response::MESSAGE_ILLEGAL);
    assert_eq!(
        pop(&mut c, &pop_cmd("G", "NoSuchTopic", -1, 30_000, 0)).code,
        response::TOPIC_NOT_EXIST
    );
    assert_eq!(
        pop(&mut c, &pop_cmd("G", topic, 8, 30_000, 0)).code,
        response::SYSTEM_ERROR
    );
}

#[test]
fn request_modes_are_checked_and_kept() {
    let dir = test_dir("pop-modes");
    let log = dir.with_extension("log");
    let mut broker = BrokerProcess::start_answering(&dir, &log, 24585, 24586, &[]);
    let mut c = Raw::connect(24586);
    create_topic(&mut c, "ModeIt");
    let set = |c: &mut Raw, topic: &str| {
        let body = format!(
            r#"{{"consumerGroup":"MG","mode":"POP","popShareQueueNum":0,"topic":"{topic}"}}"#
        );
        c.call(
            RemotingCommand::request(request::SET_MESSAGE_REQUEST_MODE)
                .with_body(body.into_bytes()),
        )
    };
    assert_eq!(set(&mut c, "ModeIt").code, response::SUCCESS);
    let r = set(&mut c, "%RETRY%MG");
    assert_eq!(r.code, response::NO_PERMISSION, "{:?}", r.remark);
    assert_eq!(set(&mut c, "NoSuchTopic").code, response::TOPIC_NOT_EXIST);

    let query = |c: &mut Raw, topic: &str| {
        let body = format!(
            r#"{{"clientId":"127.0.0.1@x","consumerGroup":"MG","messageModel":"BROADCASTING","strategyName":"AVG","topic":"{topic}"}}"#
        );
        let r = c
            .call(RemotingCommand::request(request::QUERY_ASSIGNMENT).with_body(body.into_bytes()));
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        String::from_utf8(r.body.to_vec()).unwrap()
    };
    let a = query(&mut c, "ModeIt");
    assert_eq!(a.matches(r#""mode":"POP""#).count(), QUEUES as usize, "{a}");
    // Kept across a restart (SIGTERM, then the same data directory).
    broker.signal(libc::SIGTERM);
    broker.wait_exit();
    broker.restart();
    broker.wait_answering();
    let mut c = Raw::connect(24586);
    let a = query(&mut c, "ModeIt");
    assert_eq!(a.matches(r#""mode":"POP""#).count(), QUEUES as usize, "{a}");
    // No mode set: PULL. Unknown topic: no assignment (null).
    create_topic(&mut c, "PullIt");
    let a = query(&mut c, "PullIt");
    assert_eq!(
        a.matches(r#""mode":"PULL""#).count(),
        QUEUES as usize,
        "{a}"
    );
    assert_eq!(
        query(&mut c, "NoSuchTopic"),
        r#"{"messageQueueAssignments":null}"#
    );
}

/// A BATCH_ACK_MESSAGE body as fastjson writes it (RocketMQ's proxy with `enableBatchAck`): one
/// ack per (queue, checkpoint offset, pop time), the offsets as a Base64 Java `BitSet`.
fn batch_ack_body(group: &str, acks: &[(&str, i32, i64, i64, &str)]) -> Vec<u8> {
    let acks: Vec<String> = acks
        .iter()
        .map(|(topic, q, start, pop_time, bits)| {
            format!(
                r#"{{"b":"{bits}","c":"{group}","it":2000,"pt":{pop_time},"q":{q},"r":"0","rq":0,"so":{start},"t":"{topic}"}}"#
            )
        })
        .collect();
    format!(r#"{{"acks":[{}],"brokerName":"broker-a"}}"#, acks.join(",")).into_bytes()
}

fn batch_ack(c: &mut Raw, body: Vec<u8>) -> RemotingCommand {
    c.call(RemotingCommand::request(request::BATCH_ACK_MESSAGE).with_body(body))
}

#[test]
fn batch_acks_settle_each_queue_on_its_owner() {
    let dir = test_dir("pop-batch-ack");
    let log = dir.with_extension("log");
    let mut broker =
        BrokerProcess::start_answering(&dir, &log, 24590, 24591, &strings(&["--shards", "2"]));
    let mut c = Raw::connect(24591);
    let topic = "PopBatch";
    create_topic(&mut c, topic);
    for i in 0..3 * QUEUES {
        send(&mut c, topic, i % QUEUES, "A", &format!("b{i}"));
    }
    let first = pop(&mut c, &pop_cmd("G", topic, -1, 2_000, 0));
    assert_eq!(first.msgs.len(), 24, "{:?}", first.msgs);
    let pop_time: i64 = first.ext["popTime"].parse().unwrap();

    // Offsets 0 and 2 of every queue (bits 0 and 2: 0x05, "BQ=="), in one request over both
    // shards; an unknown topic, a queue the topic does not have and bits past the queue's end
    // ack nothing and refuse nothing, as on the Java broker.
    let mut acks: Vec<(&str, i32, i64, i64, &str)> = (0..QUEUES)
        .map(|q| (topic, q, 0, pop_time, "BQ=="))
        .collect();
    acks.push(("NoSuchTopic", 0, 0, pop_time, "AQ=="));
    acks.push((topic, 99, 0, pop_time, "AQ=="));
    acks.push((topic, 0, 3, pop_time, "/w=="));
    let r = batch_ack(&mut c, batch_ack_body("G", &acks));
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    for q in 0..QUEUES {
        assert_eq!(committed(&mut c, "G", topic, q), 1, "queue {q}");
    }

    // Only offset 1 of each queue comes back; acked with a stale pop time it stays in flight,
    // with the current one it is gone and every queue's committed offset is past it.
    std::thread::sleep(Duration::from_millis(2_300));
    let again = pop(&mut c, &pop_cmd("G", topic, -1, 2_000, 0));
    assert_eq!(again.msgs.len(), QUEUES as usize, "{:?}", again.msgs);
    assert!(again.msgs.iter().all(|m| m.offset == 1 && m.reconsume == 1));
    let second_time: i64 = again.ext["popTime"].parse().unwrap();
    let stale: Vec<_> = (0..QUEUES)
        .map(|q| (topic, q, 1, pop_time, "AQ=="))
        .collect();
    assert_eq!(
        batch_ack(&mut c, batch_ack_body("G", &stale)).code,
        response::SUCCESS
    );
    assert_eq!(
        committed(&mut c, "G", topic, 0),
        1,
        "a stale receipt acks nothing"
    );
    let current: Vec<_> = (0..QUEUES)
        .map(|q| (topic, q, 1, second_time, "AQ=="))
        .collect();
    assert_eq!(
        batch_ack(&mut c, batch_ack_body("G", &current)).code,
        response::SUCCESS
    );
    for q in 0..QUEUES {
        assert_eq!(committed(&mut c, "G", topic, q), 3, "queue {q}");
    }

    // Bad bodies get a clear refusal and change nothing; the connection keeps serving.
    let empty = batch_ack(&mut c, br#"{"acks":[],"brokerName":"broker-a"}"#.to_vec());
    assert_eq!(empty.code, response::NO_MESSAGE);
    let garbage = batch_ack(&mut c, b"{\"acks\":[{\"b\":".to_vec());
    assert_eq!(garbage.code, response::SYSTEM_ERROR);
    assert!(garbage.remark.unwrap_or_default().contains("batch ack"));
    let bad_retry = br#"{"acks":[{"b":"AQ==","c":"G","q":0,"r":"7","so":0,"t":"PopBatch"}]}"#;
    let r = batch_ack(&mut c, bad_retry.to_vec());
    assert_eq!(r.code, response::SYSTEM_ERROR);
    assert!(r.remark.unwrap_or_default().contains("retry flag"));
    send(&mut c, topic, 0, "A", "after");
    let last = pop(&mut c, &pop_cmd("G", topic, 0, 2_000, 0));
    assert_eq!(bodies(&last.msgs), BTreeSet::from(["after".to_string()]));
    broker.kill_9();
}
