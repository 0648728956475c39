//! Transactional messages against a real broker process, in raw frames (issue #11): half messages
//! stay invisible, END_TRANSACTION commits exactly once and rolls back for good, the corners answer
//! as the Java broker does and change nothing (unknown offsets, double commits, wrong group or
//! offsets), the broker checks back with a live producer and applies its answer, a silent producer
//! gets at most `transactionCheckMax` checks before the half moves to TRANS_CHECK_MAX_TIME_TOPIC,
//! kill -9 between half and commit loses nothing and duplicates nothing, and a commit whose op record
//! a crash lost is not applied a second time.
//!
//! Each test runs its own `bolide` child (2 shards, SYNC_FLUSH so an acknowledged half is durable)
//! on its own ports (24450-24485; the broker port - 2 is the VIP channel), data under the target directory (a real filesystem). Timeouts are generous;
//! assertions are on content.

use std::time::{Duration, Instant};

use bolide::clock::now_ms;
use bolide::config::BrokerConfig;
use bolide::message::properties::Properties;
use bolide::message::{decode_record, encode_record, properties, sys_flag, tags_code, NewRecord};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{
    CheckTransactionStateHeader, EndTransactionHeader, PullMessageHeader, SendResultHeader,
};
use bolide::remoting::RemotingCommand;
use bolide::storage::{AppendMessage, FlushMode, MessageStore, PhysicalOffset};
use bytes::BytesMut;

#[path = "common/broker_process.rs"]
mod broker_process;
#[path = "common/raw_conn.rs"]
mod raw_conn;
use broker_process::{on_glommio, sets, strings, test_dir, BrokerProcess};
use raw_conn::Raw;

/// A broker child process on (namesrv, broker) ports with a data directory, answering requests;
/// killed on drop.
struct Broker {
    process: BrokerProcess,
    port: u16,
}

impl Broker {
    fn start(name: &str, namesrv: u16, port: u16, settings: &[&str]) -> Broker {
        let dir = test_dir(&format!("txn-{name}"));
        let mut extra = strings(&["--shards", "2", "--flush", "sync"]);
        extra.extend(sets(settings));
        let process =
            BrokerProcess::start_answering(&dir, &dir.with_extension("log"), namesrv, port, &extra);
        Broker { process, port }
    }

    fn connect(&self) -> Raw {
        Raw::connect(self.port)
    }
}

impl std::ops::Deref for Broker {
    type Target = BrokerProcess;
    fn deref(&self) -> &BrokerProcess {
        &self.process
    }
}

impl std::ops::DerefMut for Broker {
    fn deref_mut(&mut self) -> &mut BrokerProcess {
        &mut self.process
    }
}

impl Raw {
    /// Sends a half message (TRAN_MSG, PREPARED) and returns the send result.
    fn send_half(
        &mut self,
        group: &str,
        topic: &str,
        queue: i32,
        uniq: &str,
        body: &str,
    ) -> SendResultHeader {
        self.send_half_props(group, topic, queue, uniq, body, "")
    }

    fn send_half_props(
        &mut self,
        group: &str,
        topic: &str,
        queue: i32,
        uniq: &str,
        body: &str,
        extra: &str,
    ) -> SendResultHeader {
        let props = format!(
            "TRAN_MSG\u{1}true\u{2}PGROUP\u{1}{group}\u{2}UNIQ_KEY\u{1}{uniq}\u{2}TAGS\u{1}tx{extra}"
        );
        let cmd = RemotingCommand::request(request::SEND_MESSAGE)
            .with_ext("producerGroup", group)
            .with_ext("topic", topic)
            .with_ext("defaultTopic", "TBW102")
            .with_ext("defaultTopicQueueNums", 4)
            .with_ext("queueId", queue)
            .with_ext("sysFlag", sys_flag::TRANSACTION_PREPARED)
            .with_ext("bornTimestamp", now_ms())
            .with_ext("flag", 0)
            .with_ext("properties", props)
            .with_ext("reconsumeTimes", 0)
            .with_ext("unitMode", false)
            .with_body(body.as_bytes().to_vec());
        let r = self.call(cmd);
        assert_eq!(r.code, response::SUCCESS, "half send: {:?}", r.remark);
        let h = SendResultHeader::parse(&r).unwrap();
        assert_eq!(h.queue_id, queue, "the answer names the real queue");
        assert_eq!(h.transaction_id.as_deref(), Some(uniq));
        h
    }

    fn end(
        &mut self,
        group: &str,
        half: &SendResultHeader,
        decision: i32,
        from_check: bool,
    ) -> RemotingCommand {
        self.end_raw(
            group,
            half.queue_offset,
            offset_of(&half.msg_id),
            decision,
            from_check,
        )
    }

    fn end_raw(
        &mut self,
        group: &str,
        half_offset: i64,
        phys: i64,
        decision: i32,
        from_check: bool,
    ) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(request::END_TRANSACTION);
        EndTransactionHeader {
            producer_group: group.into(),
            tran_state_table_offset: half_offset,
            commit_log_offset: phys,
            commit_or_rollback: decision,
            from_transaction_check: from_check,
            msg_id: None,
            transaction_id: None,
        }
        .write_to(&mut cmd);
        self.call(cmd)
    }

    fn max_offset(&mut self, topic: &str, queue: i32) -> i64 {
        let r = self.call(
            RemotingCommand::request(request::GET_MAX_OFFSET)
                .with_ext("topic", topic)
                .with_ext("queueId", queue),
        );
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        r.ext("offset").unwrap().parse().unwrap()
    }

    /// Every stored record of a queue: (body, properties, sysFlag, prepared offset).
    fn pull_all(&mut self, topic: &str, queue: i32) -> Vec<(String, String, i32, i64)> {
        let mut cmd = RemotingCommand::request(request::PULL_MESSAGE);
        PullMessageHeader::all_tags("txn-it-cg", topic, queue, 0, 32).write_to(&mut cmd);
        let r = self.call(cmd);
        if r.code != response::SUCCESS {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut b = &r.body[..];
        while !b.is_empty() {
            let size = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            let v = decode_record(&b[..size], true).unwrap();
            out.push((
                String::from_utf8(v.body.to_vec()).unwrap(),
                v.properties.to_string(),
                v.sys_flag,
                v.prepared_tx_offset,
            ));
            b = &b[size..];
        }
        out
    }
}

fn offset_of(msg_id: &str) -> i64 {
    bolide::message::decode_offset_msg_id(msg_id).unwrap().1 as i64
}

const COMMIT: i32 = 8;
const ROLLBACK: i32 = 12;

/// No checks during this test: the timeout is far away.
const QUIET: &[&str] = &["transactionTimeOut=600000"];

#[test]
fn commit_rollback_and_the_corners() {
    let broker = Broker::start("corners", 24450, 24455, QUIET);
    let mut c = broker.connect();
    let t = "TxnCorners";
    let a = c.send_half("pg", t, 0, "UA", "body-a");
    let b = c.send_half("pg", t, 1, "UB", "body-b");
    let cc = c.send_half("pg", t, 2, "UC", "body-c");
    for q in 0..4 {
        assert_eq!(
            c.max_offset(t, q),
            0,
            "half messages are invisible (queue {q})"
        );
    }

    // Commit: visible once, as sent, marked committed, naming its half.
    assert_eq!(c.end("pg", &a, COMMIT, false).code, response::SUCCESS);
    let got = c.pull_all(t, 0);
    assert_eq!(got.len(), 1, "{got:?}");
    let (body, props, flags, prepared) = &got[0];
    assert_eq!(body, "body-a");
    assert_eq!(properties::find(props, "UNIQ_KEY"), Some("UA"));
    assert_eq!(properties::find(props, "TAGS"), Some("tx"));
    assert_eq!(properties::find(props, "PGROUP"), Some("pg"));
    for gone in ["TRAN_MSG", "REAL_TOPIC", "REAL_QID"] {
        assert_eq!(properties::find(props, gone), None, "{gone} in {props:?}");
    }
    assert_eq!(
        flags & sys_flag::TRANSACTION_MASK,
        sys_flag::TRANSACTION_COMMIT
    );
    assert_eq!(*prepared, offset_of(&a.msg_id));

    // A second commit, or a rollback after it: SUCCESS, nothing changes.
    assert_eq!(c.end("pg", &a, COMMIT, false).code, response::SUCCESS);
    assert_eq!(c.end("pg", &a, ROLLBACK, true).code, response::SUCCESS);
    assert_eq!(c.max_offset(t, 0), 1, "committed exactly once");

    // Rollback: never visible, not even by a commit afterwards.
    assert_eq!(c.end("pg", &b, ROLLBACK, false).code, response::SUCCESS);
    assert_eq!(c.end("pg", &b, COMMIT, false).code, response::SUCCESS);
    assert_eq!(c.max_offset(t, 1), 0, "rolled back");

    // UNKNOWN leaves it pending.
    assert_eq!(c.end("pg", &cc, 0, false).code, response::SUCCESS);
    assert_eq!(c.max_offset(t, 2), 0);

    // Unknown offsets and mismatches: the Java broker's SYSTEM_ERROR remarks; nothing changes.
    let phys_c = offset_of(&cc.msg_id);
    let cases: [(&str, i64, i64, &str); 5] = [
        ("pg", 0, 12_345, "Find prepared transaction message failed"),
        ("pg", 0, 5 << 48, "Find prepared transaction message failed"),
        (
            "other-pg",
            cc.queue_offset,
            phys_c,
            "The producer group wrong",
        ),
        (
            "pg",
            cc.queue_offset + 7,
            phys_c,
            "The transaction state table offset wrong",
        ),
        (
            "pg",
            0,
            got_offset(&mut c, t),
            "Find prepared transaction message failed",
        ),
    ];
    for (group, half_offset, phys, remark) in cases {
        let r = c.end_raw(group, half_offset, phys, COMMIT, false);
        assert_eq!(
            r.code,
            response::SYSTEM_ERROR,
            "{group} {half_offset} {phys}"
        );
        assert_eq!(
            r.remark.as_deref(),
            Some(remark),
            "{group} {half_offset} {phys}"
        );
    }
    assert_eq!(c.max_offset(t, 2), 0, "C is still pending");
    assert_eq!(c.end("pg", &cc, COMMIT, false).code, response::SUCCESS);
    assert_eq!(c.max_offset(t, 2), 1, "and commits afterwards");

    // Oneway, as clients send it: applied, never answered.
    let d = c.send_half("pg", t, 3, "UD", "body-d");
    let mut cmd = RemotingCommand::request(request::END_TRANSACTION).with_oneway();
    EndTransactionHeader {
        producer_group: "pg".into(),
        tran_state_table_offset: d.queue_offset,
        commit_log_offset: offset_of(&d.msg_id),
        commit_or_rollback: COMMIT,
        from_transaction_check: false,
        msg_id: Some("UD".into()),
        transaction_id: None,
    }
    .write_to(&mut cmd);
    c.write(cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.max_offset(t, 3) < 1 {
        assert!(Instant::now() < deadline, "oneway commit not applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(c.pushed.is_empty(), "no stray frames: {:?}", c.pushed);
}

/// The offset of the committed message of queue 0 (a stored message that is no half).
fn got_offset(c: &mut Raw, topic: &str) -> i64 {
    let mut cmd = RemotingCommand::request(request::PULL_MESSAGE);
    PullMessageHeader::all_tags("txn-it-cg", topic, 0, 0, 1).write_to(&mut cmd);
    let r = c.call(cmd);
    decode_record(&r.body, true).unwrap().physical_offset as i64
}

#[test]
fn check_back_is_answered_and_a_silent_producer_is_checked_at_most_max_times() {
    let broker = Broker::start(
        "check",
        24460,
        24465,
        &[
            "transactionTimeOut=1000",
            "transactionCheckInterval=1000",
            "transactionCheckMax=3",
        ],
    );
    let t = "TxnCheck";
    let mut producer = broker.connect();
    producer.heartbeat_producer("answering@1", "answering-pg");
    let mut silent = broker.connect();
    silent.heartbeat_producer("silent@1", "silent-pg");
    let mut c = broker.connect();

    let h = c.send_half("answering-pg", t, 1, "UCHK", "checked-body");
    let s = c.send_half("silent-pg", t, 2, "USIL", "silent-body");

    // The answering producer is asked about its half, with the half's offsets and the message.
    let check = producer
        .next_push(request::CHECK_TRANSACTION_STATE, Duration::from_secs(60))
        .expect("a check within 60 s");
    let ch = CheckTransactionStateHeader::parse(&check).unwrap();
    assert_eq!(ch.tran_state_table_offset, h.queue_offset);
    assert_eq!(ch.commit_log_offset, offset_of(&h.msg_id));
    assert_eq!(ch.msg_id.as_deref(), Some("UCHK"));
    assert_eq!(ch.transaction_id.as_deref(), Some("UCHK"));
    assert_eq!(ch.offset_msg_id.as_deref(), Some(h.msg_id.as_str()));
    assert!(check.is_oneway());
    let v = decode_record(&check.body, true).unwrap();
    assert_eq!(
        (v.topic, v.queue_id),
        (t, 1),
        "the body names the real queue"
    );
    assert_eq!(v.body, b"checked-body");
    assert_eq!(
        properties::find(v.properties, "PGROUP"),
        Some("answering-pg")
    );
    assert_eq!(
        properties::find(v.properties, "TRANSACTION_CHECK_TIMES"),
        Some("1")
    );
    assert_eq!(v.physical_offset as i64, ch.commit_log_offset);

    // Its answer (oneway, from the check) commits the message, once; no more checks for it.
    let mut answer = RemotingCommand::request(request::END_TRANSACTION).with_oneway();
    EndTransactionHeader {
        producer_group: "answering-pg".into(),
        tran_state_table_offset: ch.tran_state_table_offset,
        commit_log_offset: ch.commit_log_offset,
        commit_or_rollback: COMMIT,
        from_transaction_check: true,
        msg_id: ch.msg_id.clone(),
        transaction_id: ch.transaction_id.clone(),
    }
    .write_to(&mut answer);
    producer.write(answer);
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.max_offset(t, 1) < 1 {
        assert!(Instant::now() < deadline, "check answer not applied");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The silent producer gets exactly transactionCheckMax (3) checks, then the half moves to
    // TRANS_CHECK_MAX_TIME_TOPIC and is never committed.
    let mut counts = Vec::new();
    while let Some(chk) =
        silent.next_push(request::CHECK_TRANSACTION_STATE, Duration::from_secs(15))
    {
        let v = decode_record(&chk.body, true).unwrap();
        counts.push(
            properties::find(v.properties, "TRANSACTION_CHECK_TIMES")
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(counts, vec!["1", "2", "3"], "checks of the silent group");
    let moved: i64 = (0..2)
        .map(|q| c.max_offset("TRANS_CHECK_MAX_TIME_TOPIC", q))
        .sum();
    assert_eq!(moved, 1, "the silent half was moved");
    assert_eq!(c.end("silent-pg", &s, COMMIT, true).code, response::SUCCESS);
    assert_eq!(c.max_offset(t, 2), 0, "a discarded half is not committed");
    assert_eq!(c.max_offset(t, 1), 1, "committed exactly once");
    assert!(
        producer
            .next_push(request::CHECK_TRANSACTION_STATE, Duration::from_secs(3))
            .is_none(),
        "a resolved half is not checked again"
    );
}

#[test]
fn kill_9_between_half_and_commit() {
    let mut broker = Broker::start("kill9", 24470, 24475, QUIET);
    let t = "TxnKill";
    let (f, g, h) = {
        let mut c = broker.connect();
        let f = c.send_half("pg", t, 0, "UF", "body-f");
        let g = c.send_half("pg", t, 1, "UG", "body-g");
        let h = c.send_half("pg", t, 2, "UH", "body-h");
        assert_eq!(c.end("pg", &g, COMMIT, false).code, response::SUCCESS);
        (f, g, h)
    };
    broker.kill_9_and_restart();
    let mut c = broker.connect();
    assert_eq!(c.max_offset(t, 0), 0, "F is still a half after the crash");
    assert_eq!(c.max_offset(t, 1), 1, "G's commit survived");
    assert_eq!(c.end("pg", &f, COMMIT, false).code, response::SUCCESS);
    assert_eq!(c.end("pg", &f, COMMIT, false).code, response::SUCCESS);
    assert_eq!(c.end("pg", &g, COMMIT, false).code, response::SUCCESS);
    assert_eq!(c.end("pg", &h, ROLLBACK, false).code, response::SUCCESS);
    let got = c.pull_all(t, 0);
    assert_eq!(got.len(), 1, "F once: {got:?}");
    assert_eq!(got[0].0, "body-f");
    assert_eq!(properties::find(&got[0].1, "UNIQ_KEY"), Some("UF"));
    assert_eq!(c.pull_all(t, 1).len(), 1, "G once");
    assert_eq!(c.max_offset(t, 2), 0, "H rolled back");

    // And again: the decisions made after the first restart survive a second crash.
    broker.kill_9_and_restart();
    let mut c = broker.connect();
    assert_eq!(c.end("pg", &f, COMMIT, false).code, response::SUCCESS);
    assert_eq!(c.end("pg", &h, COMMIT, false).code, response::SUCCESS);
    assert_eq!(c.max_offset(t, 0), 1);
    assert_eq!(c.max_offset(t, 1), 1);
    assert_eq!(c.max_offset(t, 2), 0);
}

/// The crash window inside a commit: the real message is stored, its op record is not. Played by
/// hand (kill -9 cannot hit that window on purpose): the broker is killed after the half, the real
/// message is appended to the shard's store directly, the broker restarts. Recovery must see the
/// commit (UNIQ_KEY in the key index, PREPARED_TRANSACTION_OFFSET naming the half), so the
/// producer's commit (or the check's) does not store the message a second time.
#[test]
fn a_commit_whose_op_record_was_lost_is_not_applied_twice() {
    let mut broker = Broker::start("repair", 24480, 24485, QUIET);
    let t = "TxnRepair";
    let half = broker.connect().send_half("pg", t, 0, "UREP", "body-r");
    broker.kill_9();

    let phys = offset_of(&half.msg_id) as u64;
    let dir = broker.data_dir.clone();
    on_glommio(move || async move {
        let cfg = BrokerConfig {
            data_dir: dir,
            shards: 2,
            segment_size_bytes: 16 << 20,
            flush_mode: FlushMode::Sync,
            ..Default::default()
        };
        let shard = (phys >> 48) as u16;
        let (store, _) = MessageStore::open(cfg.store_config(shard)).await.unwrap();
        let rec = store.read_record(PhysicalOffset(phys)).await.unwrap();
        let v = decode_record(&rec, true).unwrap();
        let mut props = Properties::parse(v.properties);
        for k in ["REAL_TOPIC", "REAL_QID", "TRAN_MSG"] {
            props.remove(k);
        }
        let props = props.to_wire();
        let real = NewRecord {
            queue_id: 0,
            flag: v.flag,
            sys_flag: sys_flag::TRANSACTION_COMMIT,
            born_timestamp_ms: v.born_timestamp_ms,
            born_host: v.born_host,
            store_host: v.store_host,
            reconsume_times: 0,
            prepared_tx_offset: phys as i64,
            body: v.body,
            topic: t,
            properties: &props,
        };
        let mut record = BytesMut::new();
        encode_record(&real, &mut record).unwrap();
        store
            .append(AppendMessage {
                record,
                topic: t.into(),
                queue_id: 0,
                tags_code: tags_code(t, Some("tx")),
                keys: vec!["UREP".into()],
            })
            .await
            .unwrap();
        store.close().await.unwrap();
    });

    broker.restart();
    let mut c = broker.connect();
    assert_eq!(c.max_offset(t, 0), 1, "the real message is there");
    assert_eq!(c.end("pg", &half, COMMIT, false).code, response::SUCCESS);
    assert_eq!(c.end("pg", &half, COMMIT, true).code, response::SUCCESS);
    let got = c.pull_all(t, 0);
    assert_eq!(got.len(), 1, "committed once, not again: {got:?}");
    assert_eq!(got[0].3, phys as i64);
}
