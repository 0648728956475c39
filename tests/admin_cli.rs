//! `bolide admin` against a running Bolide: the binary started as a child process on loopback
//! (ports 23800/23811, data under the target directory), a client (on a glommio thread) that stores
//! messages, registers a consumer group and keeps its connection open, and then every admin command
//! run as a process, once for its table and once with `--json`, checking what it reports against what
//! was stored.
//!
//! Commands whose broker side another branch brings (QUERY_MESSAGE 12: queryMsgByKey,
//! queryMsgByUniqueKey, queryMsgTraceById; subscription groups 200/207 and reset offset 222:
//! updateSubGroup, deleteSubGroup, resetOffsetByTime) are run too; while the broker answers them with
//! REQUEST_CODE_NOT_SUPPORTED the test prints that it skipped their checks, and once it serves them
//! their output is checked like the others'.

use std::process::{Command, Output};
use std::time::Duration;

use bolide::client::{Conn, SendRequest};
use bolide::remoting::body::{
    ConsumerData, HeartbeatData, QueryConsumeTimeSpanBody, SubscriptionData, TopicList,
};
use bolide::remoting::codes::request;
use bolide::remoting::RemotingCommand;
use serde_json::Value;

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{strings, test_dir, BrokerProcess};

const NAMESRV_PORT: u16 = 23800;
const BROKER_PORT: u16 = 23811;
const TOPIC: &str = "AdminCliT";
const GROUP: &str = "AdminCliG";
const MESSAGES: usize = 12;

/// The broker, with data under the target directory; killed and removed on drop.
fn start_broker() -> BrokerProcess {
    let dir = test_dir("admin-cli");
    let extra = strings(&["--broker-ip", "127.0.0.1", "--shards", "2"]);
    BrokerProcess::start(
        &dir,
        &dir.with_extension("log"),
        NAMESRV_PORT,
        BROKER_PORT,
        &extra,
        &[],
    )
}

fn ns() -> String {
    format!("127.0.0.1:{NAMESRV_PORT}")
}

fn broker_addr() -> String {
    format!("127.0.0.1:{BROKER_PORT}")
}

fn admin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bolide"))
        .arg("admin")
        .args(["-n", &ns()])
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a command that must succeed; returns its table output.
fn table(args: &[&str]) -> String {
    let o = admin(args);
    assert!(o.status.success(), "{args:?} failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a command with `--json` that must succeed; returns the document.
fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = admin(&a);
    assert!(o.status.success(), "{a:?} failed: {}", text(&o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{a:?}: not JSON ({e}): {}", text(&o)))
}

/// Runs a command that must fail; returns its message.
fn fails(args: &[&str]) -> String {
    let o = admin(args);
    assert!(!o.status.success(), "{args:?} should fail: {}", text(&o));
    text(&o)
}

/// For commands served by another branch: `None` (and a note) while the broker refuses the code.
fn served_elsewhere(args: &[&str], branch: &str) -> Option<Output> {
    let o = admin(args);
    if !o.status.success() && text(&o).contains("response code 3 ") {
        eprintln!("SKIP {args:?}: the broker does not serve it yet (branch {branch})");
        return None;
    }
    Some(o)
}

/// The client side of the scene, on its own glommio thread: sends, a consumer group's heartbeat
/// and committed offsets; keeps the connection (the group's live member) open until told to stop.
struct Scene {
    stop: flume::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// (offset msg id, unique key) of each message sent to TOPIC, in order.
    sent: Vec<(String, String)>,
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn props(kv: &[(&str, &str)]) -> String {
    kv.iter()
        .map(|(k, v)| format!("{k}\u{1}{v}\u{2}"))
        .collect()
}

fn scene() -> Scene {
    let (stop_tx, stop_rx) = flume::bounded::<()>(1);
    let (sent_tx, sent_rx) = flume::bounded(1);
    let thread = std::thread::spawn(move || {
        glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let t = Duration::from_secs(20);
                let conn = Conn::connect(&broker_addr(), t).await.unwrap();
                let mut sent = Vec::new();
                for i in 0..MESSAGES {
                    let uniq = format!("UNIQ{i:04}");
                    let p = props(&[
                        ("KEYS", &format!("key-{i}")),
                        ("TAGS", "TagA"),
                        ("UNIQ_KEY", &uniq),
                    ]);
                    let r = conn
                        .send(&SendRequest {
                            producer_group: "AdminCliP",
                            topic: TOPIC,
                            queue_id: (i % 4) as i32,
                            born_timestamp_ms: 1,
                            properties: &p,
                            body: format!("body-{i}").as_bytes(),
                            batch: false,
                        })
                        .await
                        .unwrap();
                    sent.push((r.header.msg_id.clone(), uniq));
                }
                // Two dead-letter messages as the broker's retry path leaves them (with the trace
                // record below, MESSAGES + 3 stored in all).
                for (i, origin) in ["ORIG-A", "ORIG-B"].iter().enumerate() {
                    let p = props(&[
                        ("KEYS", &format!("dlq-{i}")),
                        ("UNIQ_KEY", &format!("DLQUNIQ{i}")),
                        ("RETRY_TOPIC", TOPIC),
                        ("ORIGIN_MESSAGE_ID", origin),
                        ("REAL_TOPIC", &format!("%RETRY%{GROUP}")),
                    ]);
                    conn.send(&SendRequest {
                        producer_group: "AdminCliP",
                        topic: &format!("%DLQ%{GROUP}"),
                        queue_id: 0,
                        born_timestamp_ms: 1,
                        properties: &p,
                        body: format!("dead-{i}").as_bytes(),
                        batch: false,
                    })
                    .await
                    .unwrap();
                }
                // A trace record of message 2, as a traced Java producer writes it (keyed by its id).
                let trace = format!(
                    "Pub\u{1}1700000000123\u{1}DefaultRegion\u{1}AdminCliP\u{1}{TOPIC}\u{1}UNIQ0002\u{1}TagA\u{1}key-2\u{1}127.0.0.1:{BROKER_PORT}\u{1}6\u{1}3\u{1}0\u{1}X\u{1}true\u{2}"
                );
                conn.send(&SendRequest {
                    producer_group: "AdminCliP",
                    topic: "RMQ_SYS_TRACE_TOPIC",
                    queue_id: 0,
                    born_timestamp_ms: 1,
                    properties: &props(&[("KEYS", "UNIQ0002 key-2")]),
                    body: trace.as_bytes(),
                    batch: false,
                })
                .await
                .unwrap();
                let hb = HeartbeatData {
                    client_id: "127.0.0.1@admin-cli".into(),
                    consumer_data_set: vec![ConsumerData {
                        group_name: GROUP.into(),
                        subscription_data_set: vec![SubscriptionData::from_expression(
                            TOPIC,
                            "*",
                            Default::default(),
                        )],
                        ..Default::default()
                    }],
                    producer_data_set: vec![],
                };
                conn.heartbeat(&hb).await.unwrap();
                // The group consumed 2 of the 3 messages of queue 0 and all of queue 1.
                conn.update_consumer_offset(GROUP, TOPIC, 0, 2)
                    .await
                    .unwrap();
                conn.update_consumer_offset(GROUP, TOPIC, 1, 3)
                    .await
                    .unwrap();
                sent_tx.send(sent).unwrap();
                let _ = stop_rx.recv_async().await;
                conn.close();
            })
            .unwrap()
            .join()
            .unwrap();
    });
    let sent = sent_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the scene was set");
    Scene {
        stop: stop_tx,
        thread: Some(thread),
        sent,
    }
}

/// QUERY_CONSUME_TIME_SPAN, GET_SYSTEM_TOPIC_LIST_FROM_NS and GET_TOPICS_BY_CLUSTER, raw.
fn raw_codes() -> (QueryConsumeTimeSpanBody, Vec<String>, Vec<String>) {
    glommio::LocalExecutorBuilder::default()
        .spawn(|| async move {
            let t = Duration::from_secs(20);
            let b = Conn::connect(&broker_addr(), t).await.unwrap();
            let mut c = RemotingCommand::request(request::QUERY_CONSUME_TIME_SPAN);
            c.set_ext("topic", TOPIC);
            c.set_ext("group", GROUP);
            let r = b.call(c).await.unwrap();
            assert_eq!(r.code, 0, "{:?}", r.remark);
            let span = QueryConsumeTimeSpanBody::parse(&r.body).unwrap();
            let n = Conn::connect(&ns(), t).await.unwrap();
            let r = n
                .call(RemotingCommand::request(
                    request::GET_SYSTEM_TOPIC_LIST_FROM_NS,
                ))
                .await
                .unwrap();
            let system = TopicList::parse(&r.body).unwrap().topic_list;
            let mut c = RemotingCommand::request(request::GET_TOPICS_BY_CLUSTER);
            c.set_ext("cluster", "DefaultCluster");
            let r = n.call(c).await.unwrap();
            let by_cluster = TopicList::parse(&r.body).unwrap().topic_list;
            b.close();
            n.close();
            (span, system, by_cluster)
        })
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn every_admin_command_against_bolide() {
    let broker = start_broker();
    let data_dir = broker.data_dir.clone();
    // Topics first, as an operator would.
    let out = table(&[
        "updateTopic",
        "-t",
        TOPIC,
        "-c",
        "DefaultCluster",
        "-r",
        "4",
        "-w",
        "4",
    ]);
    assert!(out.contains("success at 127.0.0.1:23811"), "{out}");
    let j = json(&[
        "updateTopic",
        "-t",
        "AdminCliGone",
        "-b",
        &broker_addr(),
        "-r",
        "2",
        "-w",
        "2",
    ]);
    assert_eq!(j["brokers"][0], broker_addr());
    assert!(fails(&["updateTopic", "-t", "X"]).contains("needs -b"));
    // RocketMQ 5 attributes go in the header, and a refusal is the broker's reason.
    let typed = [
        "updateTopic",
        "-t",
        "AdminCliFifo",
        "-b",
        &broker_addr(),
        "-a",
    ];
    let j = json(&[&typed[..], &["+message.type=FIFO"]].concat());
    assert_eq!(j["brokers"][0], broker_addr());
    let compact = [
        "updateTopic",
        "-t",
        "AdminCliCompact",
        "-b",
        &broker_addr(),
        "-a",
    ];
    let refused = fails(&[&compact[..], &["+cleanup.policy=COMPACTION"]].concat());
    assert!(
        refused.contains("Bolide does not compact topics"),
        "{refused}"
    );
    let scene = scene();

    // clusterList
    let out = table(&["clusterList"]);
    assert!(
        out.contains("DefaultCluster") && out.contains("broker-a"),
        "{out}"
    );
    let j = json(&["clusterList"]);
    assert_eq!(j[0]["addr"], broker_addr());
    assert_eq!(j[0]["inTotalToday"], (MESSAGES + 3).to_string());

    // topicList (plain and -c with the consuming group)
    let j = json(&["topicList"]);
    let topics: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        topics.contains(&TOPIC) && topics.contains(&"AdminCliGone"),
        "{topics:?}"
    );
    assert!(table(&["topicList"]).contains(TOPIC));
    let j = json(&["topicList", "-c"]);
    let t = j
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == TOPIC)
        .unwrap();
    assert_eq!(t["consumerGroups"], serde_json::json!([GROUP]));
    assert!(table(&["topicList", "-c"]).contains(GROUP));

    // topicRoute
    let j = json(&["topicRoute", "-t", TOPIC]);
    assert_eq!(j["queueDatas"][0]["writeQueueNums"], 4);
    assert!(table(&["topicRoute", "-t", TOPIC]).contains("6 (RW)"));

    // topicStatus: 12 messages over 4 queues
    let j = json(&["topicStatus", "-t", TOPIC]);
    let qs = j["queues"].as_array().unwrap();
    assert_eq!(qs.len(), 4);
    let total: i64 = qs.iter().map(|q| q["maxOffset"].as_i64().unwrap()).sum();
    assert_eq!(total, MESSAGES as i64);
    assert!(qs
        .iter()
        .all(|q| q["lastUpdateTimestamp"].as_i64().unwrap() > 0));
    assert!(table(&["topicStatus", "-t", TOPIC]).contains("#Max Offset"));

    // consumerProgress: lag per queue (3 per queue; the group committed 2 on q0 and 3 on q1)
    let j = json(&["consumerProgress", "-g", GROUP]);
    let diff = |qid: i64| {
        j["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["topic"] == TOPIC && q["queueId"] == qid)
            .map(|q| q["diff"].as_i64().unwrap())
    };
    assert_eq!(
        (diff(0), diff(1), diff(2), diff(3)),
        (Some(1), Some(0), Some(3), Some(3))
    );
    assert_eq!(j["diffTotal"], 7);
    let out = table(&["consumerProgress", "-g", GROUP]);
    assert!(out.contains("Consume Diff Total: 7"), "{out}");
    let j = json(&["consumerProgress"]);
    let g = j
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == GROUP)
        .unwrap();
    assert_eq!(
        (g["count"].as_i64(), g["diffTotal"].as_i64()),
        (Some(1), Some(7))
    );
    assert!(table(&["consumerProgress"]).contains(GROUP));
    assert!(fails(&["consumerProgress", "-g", "NoSuchGroup"]).contains("NoSuchGroup is not known"));

    // Codes no command of ours sends: consume time span (303), system topics (304), topics by
    // cluster (224).
    let (span, system, by_cluster) = raw_codes();
    assert_eq!(span.consume_time_span_set.len(), 4);
    let q0 = span
        .consume_time_span_set
        .iter()
        .find(|s| s.message_queue.queue_id == 0)
        .unwrap();
    assert!(q0.min_time_stamp > 0 && q0.max_time_stamp >= q0.min_time_stamp);
    assert!(q0.consume_time_stamp >= q0.min_time_stamp, "{q0:?}");
    assert!(
        system.contains(&"TBW102".to_string()) && system.contains(&"DefaultCluster".to_string())
    );
    assert!(!system.contains(&TOPIC.to_string()));
    assert!(by_cluster.contains(&TOPIC.to_string()));

    // consumerConnection
    let j = json(&["consumerConnection", "-g", GROUP]);
    assert_eq!(j["connections"][0]["clientId"], "127.0.0.1@admin-cli");
    assert_eq!(j["messageModel"], "CLUSTERING");
    assert_eq!(j["subscriptions"][0]["topic"], TOPIC);
    assert!(table(&["consumerConnection", "-g", GROUP]).contains("127.0.0.1@admin-cli"));
    assert!(fails(&["consumerConnection", "-g", "NoSuchGroup"]).contains("not known"));

    // consumerStatus: relayed to the client, which must answer; this one (our Rust client) does not.
    let e = fails(&["consumerStatus", "-g", GROUP]);
    assert!(e.contains("did not answer within 5000 ms"), "{e}");
    assert!(fails(&["consumerStatus", "-g", GROUP, "-i", "nobody"]).contains("not a consumer"));

    // queryMsgById (offset id)
    let (offset_id, uniq) = &scene.sent[5];
    let j = json(&["queryMsgById", "-i", offset_id]);
    assert_eq!(
        (j["keys"].as_str(), j["body"].as_str()),
        (Some("key-5"), Some("body-5"))
    );
    assert_eq!(j["msgId"], uniq.as_str());
    assert!(table(&["queryMsgById", "-i", offset_id]).contains("body-5"));
    let nothing_there = format!("7F000001{BROKER_PORT:08X}{:016X}", 0xFFFF_FFFF_0000u64);
    assert!(fails(&["queryMsgById", "-i", &nothing_there]).contains("-t"));

    // Served by the `sql` branch: QUERY_MESSAGE.
    if let Some(o) = served_elsewhere(
        &["queryMsgByKey", "-t", TOPIC, "-k", "key-7", "--json"],
        "sql",
    ) {
        assert!(o.status.success(), "{}", text(&o));
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(j["messages"][0]["body"], "body-7");
        assert!(table(&["queryMsgByKey", "-t", TOPIC, "-k", "key-7"]).contains("UNIQ0007"));
        let j = json(&["queryMsgByUniqueKey", "-t", TOPIC, "-i", "UNIQ0008"]);
        assert_eq!(j["body"], "body-8");
        assert!(table(&["queryMsgByUniqueKey", "-t", TOPIC, "-i", "UNIQ0008"]).contains("body-8"));
        // queryMsgById falls back to the unique key with -t.
        assert_eq!(
            json(&["queryMsgById", "-t", TOPIC, "-i", "UNIQ0009"])["body"],
            "body-9"
        );
    }

    // brokerStatus, getBrokerConfig, updateBrokerConfig (and that the change takes effect)
    let j = json(&["brokerStatus", "-b", &broker_addr()]);
    assert_eq!(
        j[broker_addr()]["msgPutTotalTodayNow"],
        (MESSAGES + 3).to_string()
    );
    assert!(table(&["brokerStatus", "-c", "DefaultCluster"]).contains("putTps"));
    // The oldest stored message's time (mqadmin clusterList's hours of messages kept).
    let earliest: i64 = j[broker_addr()]["earliestMessageTimeStamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no earliestMessageTimeStamp in {j}"));
    assert!(
        earliest > 0 && earliest <= bolide::clock::now_ms(),
        "earliestMessageTimeStamp {earliest}"
    );
    let j = json(&["getBrokerConfig", "-b", &broker_addr()]);
    assert_eq!(j[broker_addr()]["brokerName"], "broker-a");
    assert_eq!(j[broker_addr()]["maxMessageSize"], (4 << 20).to_string());
    assert!(table(&["getBrokerConfig", "-c", "DefaultCluster"]).contains("autoCreateTopicEnable"));
    let j = json(&[
        "updateBrokerConfig",
        "-b",
        &broker_addr(),
        "-k",
        "maxMessageSize",
        "-v",
        "2048",
    ]);
    assert_eq!(j["key"], "maxMessageSize");
    let j = json(&["getBrokerConfig", "-b", &broker_addr()]);
    assert_eq!(j[broker_addr()]["maxMessageSize"], "2048");
    assert!(table(&[
        "updateBrokerConfig",
        "-c",
        "DefaultCluster",
        "-k",
        "autoCreateTopicEnable",
        "-v",
        "true"
    ])
    .contains("success"));
    let e = fails(&[
        "updateBrokerConfig",
        "-b",
        &broker_addr(),
        "-k",
        "listenPort",
        "-v",
        "1",
    ]);
    assert!(e.contains("cannot change while the broker runs"), "{e}");
    assert!(
        fails(&["getBrokerConfig", "-c", "NoCluster"]).contains("cluster NoCluster does not exist")
    );

    // Dead letters: list, resend one by its original id, then all.
    let j = json(&["dlqList", "-g", GROUP]);
    let msgs = j["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["properties"]["ORIGIN_MESSAGE_ID"], "ORIG-A");
    assert!(table(&["dlqList", "-g", GROUP]).contains("ORIG-B"));
    let before = json(&["topicStatus", "-t", TOPIC])["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["maxOffset"].as_i64().unwrap())
        .sum::<i64>();
    let j = json(&["dlqResend", "-g", GROUP, "-i", "ORIG-B"]);
    assert_eq!(j["results"].as_array().unwrap().len(), 1);
    assert_eq!(j["results"][0]["topic"], TOPIC);
    let resent = j["results"][0]["newOffsetMsgId"]
        .as_str()
        .unwrap()
        .to_string();
    let m = json(&["queryMsgById", "-i", &resent]);
    assert_eq!(m["topic"], TOPIC);
    assert_eq!(m["body"], "dead-1");
    assert_eq!(m["properties"]["ORIGIN_MESSAGE_ID"], "ORIG-B");
    assert!(m["properties"].get("RETRY_TOPIC").is_none(), "{m}");
    assert!(table(&["dlqResend", "-g", GROUP, "--all"]).contains("sent as"));
    let after = json(&["topicStatus", "-t", TOPIC])["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["maxOffset"].as_i64().unwrap())
        .sum::<i64>();
    assert_eq!(after, before + 3);
    assert!(fails(&["dlqResend", "-g", GROUP, "-i", "NOPE"]).contains("not among"));
    assert!(fails(&["dlqResend", "-g", GROUP]).contains("--all"));
    assert!(fails(&["dlqList", "-g", "NoDeadGroup"]).contains("no dead-letter topic"));

    // Served by the `retry` branch: subscription groups and reset offset.
    if let Some(o) = served_elsewhere(
        &[
            "resetOffsetByTime",
            "-g",
            GROUP,
            "-t",
            TOPIC,
            "-s",
            "0",
            "--json",
        ],
        "retry",
    ) {
        assert!(o.status.success(), "{}", text(&o));
        let j: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            j["queues"]
                .as_array()
                .unwrap()
                .iter()
                .all(|q| q["offset"] == 0),
            "{j}"
        );
        let j = json(&["consumerProgress", "-g", GROUP]);
        assert_eq!(j["diffTotal"], (MESSAGES + 3) as i64);
        assert!(
            table(&["resetOffsetByTime", "-g", GROUP, "-t", TOPIC, "-s", "now"])
                .contains("#Offset")
        );
    }
    if let Some(o) = served_elsewhere(
        &[
            "updateSubGroup",
            "-g",
            "AdminCliSub",
            "-c",
            "DefaultCluster",
        ],
        "retry",
    ) {
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            json(&[
                "updateSubGroup",
                "-g",
                "AdminCliSub",
                "-b",
                &broker_addr(),
                "-r",
                "3"
            ])["config"]["retryMaxTimes"]
                == 3
        );
        assert!(table(&[
            "deleteSubGroup",
            "-g",
            "AdminCliSub",
            "-c",
            "DefaultCluster"
        ])
        .contains("success"));
        assert_eq!(
            json(&["deleteSubGroup", "-g", "AdminCliSub2", "-b", &broker_addr()])["group"],
            "AdminCliSub2"
        );
    }

    // setConsumeMode: the mode is set on the broker (SET_MESSAGE_REQUEST_MODE 401) and refused for a
    // retry topic; `tests/pop.rs` shows what the broker does with it.
    let j = json(&[
        "setConsumeMode",
        "-t",
        TOPIC,
        "-g",
        "AdminCliPop",
        "-c",
        "DefaultCluster",
        "-m",
        "POP",
        "-q",
        "1",
    ]);
    assert_eq!(j["mode"], "POP", "{j}");
    assert_eq!(j["popShareQueueNum"], 1, "{j}");
    let modes = std::fs::read_to_string(data_dir.join("messageRequestMode.json")).unwrap();
    assert!(
        modes.contains(r#""consumerGroup":"AdminCliPop","mode":"POP","popShareQueueNum":1"#),
        "{modes}"
    );
    let e = fails(&[
        "setConsumeMode",
        "-t",
        "%RETRY%AdminCliPop",
        "-g",
        "AdminCliPop",
        "-b",
        &broker_addr(),
        "-m",
        "POP",
    ]);
    assert!(e.contains("retry topic is not allowed"), "{e}");

    // queryMsgTraceById (trace records are messages keyed by the traced id; needs QUERY_MESSAGE)
    if served_elsewhere(&["queryMsgByKey", "-t", TOPIC, "-k", "key-1"], "sql").is_some() {
        let e = fails(&["queryMsgTraceById", "-i", "NoTracedId"]);
        assert!(
            e.contains("no trace") || e.contains("does not exist"),
            "{e}"
        );
    }

    // deleteTopic, then its route is gone and commands say so.
    assert!(
        table(&["deleteTopic", "-t", "AdminCliGone", "-c", "DefaultCluster"]).contains("success")
    );
    assert!(
        fails(&["topicRoute", "-t", "AdminCliGone"]).contains("topic AdminCliGone does not exist")
    );
    assert!(fails(&["deleteTopic", "-t", "AdminCliGone"]).contains("does not exist"));
    assert!(
        fails(&["topicStatus", "-t", "NoSuchTopic"]).contains("topic NoSuchTopic does not exist")
    );
    let e = fails(&["deleteTopic", "-t", "TBW102", "-c", "DefaultCluster"]);
    assert!(e.contains("conflict with system topic"), "{e}");

    drop(scene);
}
