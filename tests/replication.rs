//! Master/slave replication with real processes on loopback (ports 24300-24399, data under the
//! target directory): a SYNC_MASTER acknowledges sends once its slave has them, and everything it
//! acknowledged is readable from the slave, with the consumer offsets, also after the master was
//! killed with SIGKILL mid-stream; with no slave it answers SLAVE_NOT_AVAILABLE; a slave that was
//! down catches up when it comes back; a slave refuses sends and finds its master through the
//! NameServer; a topic deleted on the master is deleted on its slave, config and messages, also on a
//! slave that copies the log only after the deletion; a group and its offsets reach the slave and
//! go with their deletion on the master; request modes (PULL/POP) reach the slave;
//! GET_BROKER_HA_STATUS shows both ends' links.
//!
//! Waits have generous deadlines and assert on content, not speed.

#[path = "common/broker_process.rs"]
mod broker_process;
#[path = "common/replication_helpers.rs"]
mod replication_helpers;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bolide::client::{ClientError, Conn, SendStatus};
use bolide::remoting::body::HaRuntimeInfo;
use bolide::remoting::codes::{request, response};
use bolide::remoting::RemotingCommand;
use broker_process::{on_glommio, BrokerProcess};
use replication_helpers::{create_topic, read_queue, read_queue_from, QUEUES};

/// Per request: generous, a SYNC_MASTER answer waits for the slave's fsync on a loaded CI box.
const TIMEOUT: Duration = Duration::from_secs(30);
const DEADLINE: Duration = Duration::from_secs(90);

fn dir(name: &str) -> (PathBuf, PathBuf) {
    replication_helpers::dir("repl-it", name)
}

fn args(list: &[&str]) -> Vec<String> {
    let mut v = vec!["--shards".to_string(), "2".to_string()];
    for a in list {
        v.push("--set".into());
        v.push(a.to_string());
    }
    v
}

/// A SYNC_MASTER named `name`: NameServer role on `ns`, broker port `port`, replication `ha` (+1).
fn master(name: &str, ns: u16, port: u16, ha: u16) -> BrokerProcess {
    let (d, log) = dir(&format!("{name}-master"));
    BrokerProcess::start(
        &d,
        &log,
        ns,
        port,
        &args(&[
            "brokerRole=SYNC_MASTER",
            &format!("brokerName={name}"),
            &format!("haListenPort={ha}"),
            "haSendHeartbeatInterval=500",
            "slaveTimeout=10000",
            "brokerIP1=127.0.0.1",
            &format!("namesrvAddr=127.0.0.1:{ns}"),
        ]),
        &[],
    )
}

/// Its slave: own (unused) NameServer role on `ns`, broker port `port`; finds the master through
/// `master_ns`'s REGISTER_BROKER answer, or at `ha_master` when given.
fn slave_args(name: &str, master_ns: u16, ha_master: Option<u16>) -> Vec<String> {
    let mut a = args(&[
        "brokerRole=SLAVE",
        "brokerId=1",
        &format!("brokerName={name}"),
        "haSendHeartbeatInterval=500",
        "brokerIP1=127.0.0.1",
        "registerNameServerPeriod=1000",
    ]);
    a.extend(["--namesrv-addr".into(), format!("127.0.0.1:{master_ns}")]);
    if let Some(p) = ha_master {
        a.extend(["--set".into(), format!("haMasterAddress=127.0.0.1:{p}")]);
    }
    a
}

fn slave(name: &str, ns: u16, port: u16, master_ns: u16, ha: Option<u16>) -> BrokerProcess {
    let (d, log) = dir(&format!("{name}-slave"));
    BrokerProcess::start(&d, &log, ns, port, &slave_args(name, master_ns, ha), &[])
}

async fn connect(port: u16) -> std::rc::Rc<Conn> {
    replication_helpers::connect(port, TIMEOUT).await
}

async fn send(
    conn: &Conn,
    topic: &str,
    queue_id: i32,
    body: &str,
) -> Result<SendStatus, ClientError> {
    replication_helpers::send(conn, "repl-it-pg", topic, queue_id, body).await
}

/// Sends to every queue of `topic` until the master answers SEND_OK for each (the slave of every shard is connected and caught up).
async fn wait_slave_ok(conn: &Conn, topic: &str) {
    // Every shard has its own peer link and they connect independently, so one
    // confirmed queue says nothing about the others: probe each queue.
    let deadline = Instant::now() + DEADLINE;
    let mut i = 0;
    for q in 0..QUEUES {
        loop {
            i += 1;
            let s = send(conn, topic, q, &format!("probe-{i}")).await.unwrap();
            if s == SendStatus::Ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the slave never acknowledged queue {q} (last {s:?})"
            );
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Every body stored in `topic` on the broker at `conn`, all queues, read from offset 0 (a
/// refused pull panics).
async fn read_all(conn: &Conn, topic: &str) -> Vec<String> {
    let mut out = Vec::new();
    for q in 0..QUEUES {
        out.extend(read_queue(conn, "repl-it-cg", topic, q).await.unwrap());
    }
    out
}

/// Waits until the slave holds every body of `want`.
async fn wait_slave_has(conn: &Conn, topic: &str, want: &BTreeSet<String>) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let have: BTreeSet<String> = read_all(conn, topic).await.into_iter().collect();
        let missing: Vec<_> = want.difference(&have).take(5).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the slave lacks {} of {} messages, e.g. {missing:?}",
            want.difference(&have).count(),
            want.len()
        );
        glommio::timer::sleep(Duration::from_millis(200)).await;
    }
}

/// GET_BROKER_HA_STATUS (mqadmin haStatus): the master lists one in-sync link per shard, caught up
/// once the slave acknowledged everything; the slave reports its link to the master.
async fn ha_status_shows_the_links(mc: &Conn, sc: &Conn, ha: u16) {
    let status = |c: &Conn| {
        let f = c.call(RemotingCommand::request(request::GET_BROKER_HA_STATUS));
        async move {
            let r = f.await.unwrap();
            assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
            HaRuntimeInfo::parse(&r.body).unwrap()
        }
    };
    let deadline = Instant::now() + DEADLINE;
    let m = loop {
        let m = status(mc).await;
        if m.ha_connection_info.iter().all(|l| l.diff == 0) || Instant::now() > deadline {
            break m;
        }
        glommio::timer::sleep(Duration::from_millis(200)).await;
    };
    assert!(m.master);
    assert!(!m.ha_connection_info.is_empty(), "{m:?}");
    assert_eq!(
        m.in_sync_slave_nums as usize,
        m.ha_connection_info.len(),
        "{m:?}"
    );
    for l in &m.ha_connection_info {
        assert!(l.in_sync && l.diff == 0, "{m:?}");
        assert!(l.addr.starts_with("127.0.0.1:"), "{m:?}");
        assert!(l.slave_ack_offset > 0, "{m:?}");
    }
    let s = status(sc).await;
    assert!(!s.master, "{s:?}");
    let c = &s.ha_client_runtime_info;
    assert!(c.activated, "{s:?}");
    assert_eq!(c.master_addr, format!("127.0.0.1:{ha}"), "shard 0's link");
    assert!(
        c.last_read_timestamp > 0 && c.last_write_timestamp > 0,
        "{s:?}"
    );
    assert!(c.max_offset > 0, "{s:?}");
}

/// Whether the broker at `conn` lists `group` in GET_ALL_SUBSCRIPTIONGROUP_CONFIG.
async fn lists_group(conn: &Conn, group: &str) -> bool {
    let r = conn
        .call(RemotingCommand::request(
            request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        ))
        .await
        .unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    String::from_utf8_lossy(&r.body).contains(&format!("\"{group}\""))
}

/// The modes QUERY_ASSIGNMENT hands a group of ReplA on `conn`'s broker, one per queue.
async fn assigned_modes(conn: &Conn, group: &str) -> Vec<String> {
    let body = format!(
        r#"{{"clientId":"127.0.0.1@repl","consumerGroup":"{group}","messageModel":"BROADCASTING","strategyName":"AVG","topic":"ReplA"}}"#
    );
    let cmd = RemotingCommand::request(request::QUERY_ASSIGNMENT).with_body(body.into_bytes());
    let r = conn.call(cmd).await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let text = String::from_utf8_lossy(&r.body).to_string();
    text.match_indices(r#""mode":""#)
        .map(|(at, m)| {
            let rest = &text[at + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// A request mode set on the master (mqadmin setConsumeMode) is handed out by its slave too, so a
/// promoted slave keeps POP consumers popping (Java's slave syncs `messageRequestMode`).
async fn request_modes_reach_the_slave(mc: &Conn, sc: &Conn) {
    let body =
        br#"{"consumerGroup":"repl-pop-cg","mode":"POP","popShareQueueNum":0,"topic":"ReplA"}"#;
    let cmd = RemotingCommand::request(request::SET_MESSAGE_REQUEST_MODE).with_body(body.to_vec());
    let r = mc.call(cmd).await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    assert!(assigned_modes(mc, "repl-pop-cg")
        .await
        .iter()
        .all(|m| m == "POP"));
    eventually("the request mode never reached the slave", || async {
        let modes = assigned_modes(sc, "repl-pop-cg").await;
        !modes.is_empty() && modes.iter().all(|m| m == "POP")
    })
    .await;
    // Another group of the topic keeps the default.
    let other = assigned_modes(sc, "repl-pull-cg").await;
    assert!(
        !other.is_empty() && other.iter().all(|m| m == "PULL"),
        "{other:?}"
    );
}

/// Polls `cond` until it holds, or fails with `what` after the deadline.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut cond: impl FnMut() -> F,
) {
    let deadline = Instant::now() + DEADLINE;
    while !cond().await {
        assert!(Instant::now() < deadline, "{what}");
        glommio::timer::sleep(Duration::from_millis(200)).await;
    }
}

/// A group created on the master, and its offsets, reach the slave; deleted on the master (with
/// `cleanOffset`), they go on the slave too, while an offset committed on the slave itself stays.
async fn groups_and_their_deletions_reach_the_slave(mc: &Conn, sc: &Conn) {
    let cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
        .with_body(br#"{"groupName":"repl-grp"}"#.to_vec());
    let r = mc.call(cmd).await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    for q in 0..QUEUES {
        mc.update_consumer_offset("repl-grp", "ReplA", q, 7)
            .await
            .unwrap();
    }
    // The slave's own: committed there (consumers do while the master is away).
    sc.update_consumer_offset("repl-slave-cg", "ReplA", 3, 5)
        .await
        .unwrap();
    eventually("the group never reached the slave", || {
        lists_group(sc, "repl-grp")
    })
    .await;
    for q in 0..QUEUES {
        eventually(
            "the group's offsets never reached the slave",
            || async move {
                sc.query_consumer_offset("repl-grp", "ReplA", q)
                    .await
                    .unwrap()
                    == Some(7)
            },
        )
        .await;
    }

    let mut cmd = RemotingCommand::request(request::DELETE_SUBSCRIPTIONGROUP);
    bolide::remoting::headers::DeleteSubscriptionGroupHeader {
        group_name: "repl-grp".into(),
        clean_offset: true,
    }
    .write_to(&mut cmd);
    let r = mc.call(cmd).await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    eventually("the slave kept the deleted group", || async {
        !lists_group(sc, "repl-grp").await
    })
    .await;
    for q in 0..QUEUES {
        eventually(
            "the slave kept the deleted group's offsets",
            || async move {
                sc.query_consumer_offset("repl-grp", "ReplA", q)
                    .await
                    .unwrap()
                    != Some(7)
            },
        )
        .await;
    }
    assert_eq!(
        sc.query_consumer_offset("repl-slave-cg", "ReplA", 3)
            .await
            .unwrap(),
        Some(5),
        "an offset committed on the slave is its own"
    );
}

#[test]
fn sync_master_slave_holds_every_acknowledged_message_and_the_offsets() {
    let (ns, mport, ha, sns, sport) = (24300, 24301, 24302, 24305, 24306);
    let m = master("ra", ns, mport, ha);
    // No haMasterAddress: the slave learns the master's from the NameServer.
    let s = slave("ra", sns, sport, ns, None);
    on_glommio(move || async move {
        let mc = connect(mport).await;
        let sc = connect(sport).await;
        create_topic(&mc, "ReplA").await;
        wait_slave_ok(&mc, "ReplA").await;

        let n = 300;
        let mut want = BTreeSet::new();
        for i in 0..n {
            let body = format!("a-{i}");
            let st = send(&mc, "ReplA", i % QUEUES, &body).await.unwrap();
            assert_eq!(st, SendStatus::Ok, "send {i}");
            want.insert(body);
        }
        wait_slave_has(&sc, "ReplA", &want).await;
        ha_status_shows_the_links(&mc, &sc, ha).await;
        // Nothing the master does not hold either (the probes included).
        let on_master: BTreeSet<String> = read_all(&mc, "ReplA").await.into_iter().collect();
        let on_slave: BTreeSet<String> = read_all(&sc, "ReplA").await.into_iter().collect();
        assert_eq!(on_master, on_slave);

        // Consumer offsets committed on the master reach the slave.
        mc.update_consumer_offset("repl-it-cg", "ReplA", 1, 42)
            .await
            .unwrap();
        let deadline = Instant::now() + DEADLINE;
        while sc
            .query_consumer_offset("repl-it-cg", "ReplA", 1)
            .await
            .unwrap()
            != Some(42)
        {
            assert!(
                Instant::now() < deadline,
                "the offset never reached the slave"
            );
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }
        groups_and_their_deletions_reach_the_slave(&mc, &sc).await;
        request_modes_reach_the_slave(&mc, &sc).await;

        // The topic config reached the slave: its max offset answers for every queue.
        for q in 0..QUEUES {
            assert_eq!(
                sc.max_offset("ReplA", q).await.unwrap(),
                mc.max_offset("ReplA", q).await.unwrap()
            );
        }

        // A topic created now is known to the slave as soon as it holds a message of it: the
        // topic table travels on every shard's link ahead of the data (no waiting here).
        create_topic(&mc, "ReplA2").await;
        let mut want2 = BTreeSet::new();
        for q in 0..QUEUES {
            let body = format!("new-topic-{q}");
            let st = send(&mc, "ReplA2", q, &body).await.unwrap();
            assert_eq!(st, SendStatus::Ok, "ReplA2 queue {q}");
            want2.insert(body);
        }
        // (A pull of a topic the slave does not know is refused: read_all panics.)
        let on_slave: BTreeSet<String> = read_all(&sc, "ReplA2").await.into_iter().collect();
        assert_eq!(on_slave, want2);

        // A slave refuses sends (Java's SLAVE role answers SERVICE_NOT_AVAILABLE).
        match send(&sc, "ReplA", 0, "to-the-slave").await {
            Err(ClientError::Refused { code, .. }) => {
                assert_eq!(code, response::SERVICE_NOT_AVAILABLE)
            }
            other => panic!("a slave took a send: {other:?}"),
        }

        // The route names the slave as brokerId 1 of the group.
        let nc = connect(ns).await;
        let route = nc.get_route("ReplA").await.unwrap().unwrap();
        let bd = route
            .broker_datas
            .iter()
            .find(|b| b.broker_name == "ra")
            .expect("group ra in the route");
        let deadline = Instant::now() + DEADLINE;
        let mut bd = bd.clone();
        while !bd.broker_addrs.contains_key(&1) {
            assert!(
                Instant::now() < deadline,
                "the slave never appeared: {bd:?}"
            );
            glommio::timer::sleep(Duration::from_millis(200)).await;
            let route = nc.get_route("ReplA").await.unwrap().unwrap();
            bd = route
                .broker_datas
                .into_iter()
                .find(|b| b.broker_name == "ra")
                .unwrap();
        }
        assert_eq!(bd.broker_addrs[&1], format!("127.0.0.1:{sport}"));
    });
    drop(s);
    drop(m);
}

#[test]
fn sync_master_killed_mid_stream_loses_no_acknowledged_message() {
    let (ns, mport, ha, sns, sport) = (24320, 24321, 24322, 24325, 24326);
    let m = Arc::new(Mutex::new(Some(master("rb", ns, mport, ha))));
    let s = slave("rb", sns, sport, ns, Some(ha));
    let acked = Arc::new(AtomicUsize::new(0));
    // Kills the master with SIGKILL once 400 sends were acknowledged, while four senders go on.
    let killer = {
        let (m, acked) = (m.clone(), acked.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + DEADLINE * 2;
            while acked.load(Ordering::SeqCst) < 400 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut g = m.lock().unwrap();
            let p = g.as_mut().unwrap();
            p.child.kill().unwrap();
            p.child.wait().unwrap();
        })
    };
    let want = on_glommio({
        let acked = acked.clone();
        move || async move {
            let mc = connect(mport).await;
            create_topic(&mc, "ReplB").await;
            wait_slave_ok(&mc, "ReplB").await;
            let want = std::rc::Rc::new(std::cell::RefCell::new(BTreeSet::new()));
            let mut tasks = Vec::new();
            for t in 0..4 {
                let (mc, want, acked) = (mc.clone(), want.clone(), acked.clone());
                tasks.push(glommio::spawn_local(async move {
                    for i in 0.. {
                        let body = format!("b-{t}-{i}");
                        match send(&mc, "ReplB", (i % QUEUES as i64) as i32, &body).await {
                            Ok(SendStatus::Ok) => {
                                want.borrow_mut().insert(body);
                                acked.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(other) => panic!("send {body}: {other:?} before the kill"),
                            Err(_) => break,
                        }
                    }
                }));
            }
            for t in tasks {
                t.await;
            }
            let w = want.borrow().clone();
            w
        }
    });
    killer.join().unwrap();
    assert!(
        want.len() >= 400,
        "only {} sends were acknowledged",
        want.len()
    );
    on_glommio(move || async move {
        let sc = connect(sport).await;
        wait_slave_has(&sc, "ReplB", &want).await;
    });
    drop(s);
    drop(m);
}

#[test]
fn no_slave_answers_slave_not_available_and_a_returning_slave_catches_up() {
    let (ns, mport, ha, sns, sport) = (24340, 24341, 24342, 24345, 24346);
    let m = master("rc", ns, mport, ha);
    let (sdir, slog) = dir("rc-slave");
    let (_, slog2) = dir("rc-slave-again");
    let sargs = slave_args("rc", ns, Some(ha));
    let s1 = Arc::new(Mutex::new(None::<BrokerProcess>));
    let s2 = Arc::new(Mutex::new(None::<BrokerProcess>));
    let (s1c, s2c) = (s1.clone(), s2.clone());
    on_glommio(move || async move {
        let mc = connect(mport).await;
        create_topic(&mc, "ReplC").await;
        // No slave yet: stored on the master, answered SLAVE_NOT_AVAILABLE.
        let mut want = BTreeSet::new();
        for i in 0..20 {
            let body = format!("c-alone-{i}");
            let st = send(&mc, "ReplC", i % QUEUES, &body).await.unwrap();
            assert_eq!(st, SendStatus::SlaveNotAvailable, "send {i}");
            want.insert(body);
        }
        // The slave starts, catches up with what was sent without it, and confirms new sends.
        *s1c.lock().unwrap() = Some(BrokerProcess::start(&sdir, &slog, sns, sport, &sargs, &[]));
        wait_slave_ok(&mc, "ReplC").await;
        for i in 0..50 {
            let body = format!("c-with-{i}");
            assert_eq!(
                send(&mc, "ReplC", i % QUEUES, &body).await.unwrap(),
                SendStatus::Ok
            );
            want.insert(body);
        }
        let sc = connect(sport).await;
        wait_slave_has(&sc, "ReplC", &want).await;
        sc.close();

        // The slave is killed: sends are stored and answered as not confirmed, never SEND_OK.
        {
            let mut g = s1c.lock().unwrap();
            let p = g.as_mut().unwrap();
            p.child.kill().unwrap();
            p.child.wait().unwrap();
        }
        let deadline = Instant::now() + DEADLINE;
        let mut i = 0;
        loop {
            let body = format!("c-down-{i}");
            i += 1;
            let st = send(&mc, "ReplC", i % QUEUES, &body).await.unwrap();
            want.insert(body);
            assert_ne!(st, SendStatus::Ok, "SEND_OK with the slave down");
            if st == SendStatus::SlaveNotAvailable && i >= 20 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "never SLAVE_NOT_AVAILABLE (last {st:?})"
            );
        }

        // Restarted on its data, it catches up from where it was.
        *s2c.lock().unwrap() = Some(BrokerProcess::resume(
            &sdir,
            &slog2,
            sns,
            sport,
            &sargs,
            &[],
        ));
        wait_slave_ok(&mc, "ReplC").await;
        let sc = connect(sport).await;
        wait_slave_has(&sc, "ReplC", &want).await;
        let on_master: BTreeSet<String> = read_all(&mc, "ReplC").await.into_iter().collect();
        let on_slave: BTreeSet<String> = read_all(&sc, "ReplC").await.into_iter().collect();
        assert_eq!(on_master, on_slave);
    });
    drop(s2.lock().unwrap().take());
    drop(s1.lock().unwrap().take());
    drop(m);
}

/// Every body readable in `topic` (each queue from its minimum), sorted.
async fn readable(conn: &Conn, topic: &str) -> Result<BTreeSet<String>, ClientError> {
    let mut out = BTreeSet::new();
    for q in 0..QUEUES {
        let min = conn.min_offset(topic, q).await?;
        out.extend(read_queue_from(conn, "repl-it-cg", topic, q, min).await?);
    }
    Ok(out)
}

/// Waits until what `conn` can read of `topic` is exactly `want`.
async fn wait_readable(conn: &Conn, topic: &str, want: &BTreeSet<String>, what: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let have = readable(conn, topic).await;
        if have.as_ref().ok() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: readable {have:?}, want {want:?}"
        );
        glommio::timer::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_topic_deleted_on_the_master_is_deleted_on_its_slave_messages_too() {
    let (ns, mport, ha, sns, sport) = (24360, 24361, 24362, 24365, 24366);
    let m = master("rd", ns, mport, ha);
    let s1 = slave("rd", sns, sport, ns, Some(ha));
    let (late_dir, late_log) = dir("rd-slave-late");
    let sargs = slave_args("rd", ns, Some(ha));
    let late = Arc::new(Mutex::new(None::<BrokerProcess>));
    let late_c = late.clone();
    let s1 = Arc::new(Mutex::new(Some(s1)));
    let s1_c = s1.clone();
    on_glommio(move || async move {
        let mc = connect(mport).await;
        create_topic(&mc, "ReplD").await;
        wait_slave_ok(&mc, "ReplD").await;
        let mut old = readable(&mc, "ReplD").await.unwrap();
        for i in 0..20 {
            let body = format!("d-old-{i}");
            assert_eq!(
                send(&mc, "ReplD", i % QUEUES, &body).await.unwrap(),
                SendStatus::Ok
            );
            old.insert(body);
        }
        let sc = connect(sport).await;
        wait_slave_has(&sc, "ReplD", &old).await;

        // Deleted on the master: the slave forgets the topic (its pulls are refused).
        let mut cmd = bolide::remoting::RemotingCommand::request(
            bolide::remoting::codes::request::DELETE_TOPIC_IN_BROKER,
        );
        cmd.set_ext("topic", "ReplD");
        let r = mc.call(cmd).await.unwrap();
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        let deadline = Instant::now() + DEADLINE;
        while read_queue(&sc, "repl-it-cg", "ReplD", 0).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "the slave still serves the deleted topic"
            );
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }

        // Created again: both read only what came after.
        create_topic(&mc, "ReplD").await;
        let mut new = BTreeSet::new();
        for i in 0..8 {
            let body = format!("d-new-{i}");
            assert_eq!(
                send(&mc, "ReplD", i % QUEUES, &body).await.unwrap(),
                SendStatus::Ok
            );
            new.insert(body);
        }
        wait_readable(&mc, "ReplD", &new, "master").await;
        wait_readable(&sc, "ReplD", &new, "slave").await;
        sc.close();

        // A slave that copies the whole log after the deletion: the marks reach it before the
        // deleted records do, and still hide them.
        drop(s1_c.lock().unwrap().take());
        *late_c.lock().unwrap() = Some(BrokerProcess::start(
            &late_dir,
            &late_log,
            sns,
            sport,
            &sargs,
            &[],
        ));
        wait_slave_ok(&mc, "ReplD").await;
        let want = readable(&mc, "ReplD").await.unwrap();
        assert!(
            want.is_superset(&new) && !want.iter().any(|b| b.starts_with("d-old-")),
            "master: {want:?}"
        );
        let sc = connect(sport).await;
        wait_readable(&sc, "ReplD", &want, "late slave").await;
    });
    drop(late.lock().unwrap().take());
    drop(s1.lock().unwrap().take());
    drop(m);
}
