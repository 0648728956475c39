//! Automatic failover with real processes on loopback (ports 25100-25199, data under the target
//! directory): one `bolide controller`, broker A (brokerId 0) and broker B (brokerId 1) of one
//! brokerName under SYNC_MASTER, `enableControllerMode` on both.
//!
//! - A is elected, B follows; four senders go on while A is killed with SIGKILL: B is promoted,
//!   takes sends (SLAVE_NOT_AVAILABLE, as a Java master without a slave answers: stored), and holds
//!   every message acknowledged before the kill. A restarted on its data becomes B's slave and
//!   catches up: A and B then hold the same messages.
//! - A tail B never had: B killed, A stores sends alone (not acknowledged), A killed, B restarted
//!   and promoted without them; A restarted cuts that tail (consume queues included: its reads
//!   match B's) and follows.
//! - A master cut off from the controller stops accepting writes (its lease runs out).
//!
//! Waits have generous deadlines and assert on content, not speed.

#[path = "common/broker_process.rs"]
mod broker_process;
#[path = "common/replication_helpers.rs"]
mod replication_helpers;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bolide::client::{ClientError, Conn, SendStatus};
use bolide::remoting::body::TopicRouteData;
use broker_process::{on_glommio, BrokerProcess};
use replication_helpers::{create_topic, read_queue, QUEUES};

const TIMEOUT: Duration = Duration::from_secs(10);
const DEADLINE: Duration = Duration::from_secs(120);
/// The controller's broker timeout: a broker silent this long is dead; a master that could not
/// heartbeat for this long stops taking writes.
const BROKER_TIMEOUT_MS: u64 = 4000;

fn dir(name: &str) -> (PathBuf, PathBuf) {
    replication_helpers::dir("failover-it", name)
}

fn controller(name: &str, port: u16) -> BrokerProcess {
    let (d, log) = dir(&format!("{name}-controller"));
    broker_process::fresh_dir(&d);
    let args = vec![
        "controller".to_string(),
        "--id".into(),
        "1".into(),
        "--peers".into(),
        format!("1=127.0.0.1:{port}"),
        "--data-dir".into(),
        d.to_str().unwrap().into(),
        "--broker-timeout-ms".into(),
        BROKER_TIMEOUT_MS.to_string(),
    ];
    BrokerProcess::spawn(args, &d, &log, &[port], &[])
}

/// A standalone NameServer on `port` (the brokers register with it).
fn namesrv(name: &str, port: u16) -> BrokerProcess {
    let (d, log) = dir(&format!("{name}-namesrv"));
    let args = vec![
        "namesrv".to_string(),
        "--listen-ip".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
    ];
    BrokerProcess::spawn(args, &d, &log, &[port], &[])
}

/// A broker of group `name` with `id`: its own (unused) NameServer role on `ns`, broker `port`,
/// replication on `port + 1` (and `+ 2` for shard 1), heartbeating the controller on `ctl`,
/// registering with a [`namesrv`] on `ctl + 1` when one runs there.
fn broker(name: &str, id: u32, ns: u16, port: u16, ctl: u16) -> BrokerProcess {
    let (d, log) = dir(&format!("{name}-{id}"));
    let mut a = vec!["--shards".to_string(), "2".to_string()];
    for s in [
        "enableControllerMode=true".to_string(),
        format!("controllerAddr=127.0.0.1:{ctl}"),
        "controllerHeartbeatInterval=500".into(),
        "brokerRole=SYNC_MASTER".into(),
        format!("brokerId={id}"),
        format!("brokerName={name}"),
        format!("haListenPort={}", port + 1),
        "haSendHeartbeatInterval=500".into(),
        "slaveTimeout=1500".into(),
        "brokerIP1=127.0.0.1".into(),
        format!("namesrvAddr=127.0.0.1:{}", ctl + 1),
        "registerNameServerPeriod=1000".into(),
    ] {
        a.push("--set".into());
        a.push(s);
    }
    BrokerProcess::start(&d, &log, ns, port, &a, &[])
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
    replication_helpers::send(conn, "failover-it-pg", topic, queue_id, body).await
}

/// Sends probes to every queue until each answers `want` (a refused send, or another status, is
/// retried); returns the bodies stored meanwhile (every answered send stored its message).
async fn wait_status(conn: &Conn, topic: &str, want: SendStatus, tag: &str) -> Vec<String> {
    let deadline = Instant::now() + DEADLINE;
    let mut stored = Vec::new();
    let mut i = 0;
    for q in 0..QUEUES {
        loop {
            i += 1;
            let body = format!("{tag}-probe-{i}");
            let r = send(conn, topic, q, &body).await;
            if r.is_ok() {
                stored.push(body);
            }
            if matches!(&r, Ok(s) if *s == want) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "queue {q} never answered {want:?} (last {r:?})"
            );
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }
    }
    stored
}

/// Every body stored in `topic` on the broker at `conn`, all queues, read from offset 0, sorted
/// (a queue whose pull is refused counts as empty).
async fn read_all(conn: &Conn, topic: &str) -> Vec<String> {
    let mut out = Vec::new();
    for q in 0..QUEUES {
        out.extend(
            read_queue(conn, "failover-it-cg", topic, q)
                .await
                .unwrap_or_default(),
        );
    }
    out.sort();
    out
}

/// Waits until the broker on `port` answers a send to `topic` at all (it is master), with no slave
/// needed: SLAVE_NOT_AVAILABLE or SEND_OK.
async fn wait_master(port: u16, topic: &str) {
    let deadline = Instant::now() + DEADLINE;
    let c = connect(port).await;
    // Every queue: each shard promotes itself once its own slave link has stopped, so one shard can
    // take writes a few hundred milliseconds before another.
    let mut next = 0;
    loop {
        while next < QUEUES && send(&c, topic, next, "is-master-probe").await.is_ok() {
            next += 1;
        }
        if next == QUEUES {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "broker {port} never became master"
        );
        glommio::timer::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the NameServer on `ns` lists group `name` with exactly `want` (brokerId → address).
async fn await_group(ns: u16, topic: &str, name: &str, want: &[(i64, u16)]) {
    let want: std::collections::BTreeMap<i64, String> = want
        .iter()
        .map(|(id, port)| (*id, format!("127.0.0.1:{port}")))
        .collect();
    let c = connect(ns).await;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got = c
            .get_route(topic)
            .await
            .ok()
            .flatten()
            .and_then(|r: TopicRouteData| {
                r.broker_datas
                    .into_iter()
                    .find(|b| b.broker_name == name)
                    .map(|b| b.broker_addrs)
            });
        if got.as_ref() == Some(&want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "group {name} in the route of {topic}: {got:?}, want {want:?}"
        );
        glommio::timer::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until A (slave) holds exactly what B (master) holds; returns it.
async fn wait_same(a_port: u16, b_port: u16, topic: &str) -> Vec<String> {
    let (ac, bc) = (connect(a_port).await, connect(b_port).await);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let on_b = read_all(&bc, topic).await;
        let on_a = read_all(&ac, topic).await;
        if on_a == on_b {
            return on_b;
        }
        assert!(
            Instant::now() < deadline,
            "A and B differ: A has {} messages, B {}; A only: {:?}; B only: {:?}",
            on_a.len(),
            on_b.len(),
            on_a.iter()
                .filter(|m| !on_b.contains(m))
                .take(5)
                .collect::<Vec<_>>(),
            on_b.iter()
                .filter(|m| !on_a.contains(m))
                .take(5)
                .collect::<Vec<_>>()
        );
        glommio::timer::sleep(Duration::from_millis(500)).await;
    }
}

/// Controller, A elected master with `topic`, then B following it (every queue acknowledged).
fn group(
    name: &str,
    ports: (u16, u16, u16, u16, u16),
    topic: &'static str,
) -> (BrokerProcess, BrokerProcess, BrokerProcess) {
    let (ctl, a_ns, a_port, b_ns, b_port) = ports;
    let c = controller(name, ctl);
    let a = broker(name, 0, a_ns, a_port, ctl);
    // A alone: elected (brokerId 0 and the only live member), takes the topic.
    on_glommio(move || async move {
        let ac = connect(a_port).await;
        create_topic(&ac, topic).await;
        wait_master(a_port, topic).await;
    });
    let b = broker(name, 1, b_ns, b_port, ctl);
    on_glommio(move || async move {
        let ac = connect(a_port).await;
        wait_status(&ac, topic, SendStatus::Ok, "a1").await;
    });
    (c, a, b)
}

/// B, the master now, takes sends (no slave: SLAVE_NOT_AVAILABLE, stored, as a Java master
/// without a slave answers) and holds every message of `acked`; returns what it took.
fn check_promoted(b_port: u16, topic: &'static str, acked: BTreeSet<String>) -> Vec<String> {
    on_glommio(move || async move {
        wait_master(b_port, topic).await;
        let bc = connect(b_port).await;
        let on_b: BTreeSet<String> = read_all(&bc, topic).await.into_iter().collect();
        let missing: Vec<_> = acked.difference(&on_b).take(5).collect();
        assert!(
            missing.is_empty(),
            "B lacks {} of {} acknowledged messages, e.g. {missing:?}",
            acked.difference(&on_b).count(),
            acked.len()
        );
        let mut after = Vec::new();
        for i in 0..20 {
            let body = format!("after-{i}");
            let st = send(&bc, topic, i % QUEUES, &body).await.unwrap();
            assert_eq!(st, SendStatus::SlaveNotAvailable, "send {body} to B");
            after.push(body);
        }
        after
    })
}

/// A, back on its data as B's slave: B acknowledges sends again, A refuses them, and A ends up
/// holding exactly B's messages; returns them.
fn check_rejoined(a_port: u16, b_port: u16, topic: &'static str) -> Vec<String> {
    on_glommio(move || async move {
        let bc = connect(b_port).await;
        wait_status(&bc, topic, SendStatus::Ok, "b1").await;
        for i in 0..50 {
            let body = format!("b-acked-{i}");
            let st = send(&bc, topic, i % QUEUES, &body).await.unwrap();
            assert_eq!(st, SendStatus::Ok, "send {body} to B with A following");
        }
        let ac = connect(a_port).await;
        assert!(send(&ac, topic, 0, "to-old-master").await.is_err());
        wait_same(a_port, b_port, topic).await
    })
}

#[test]
fn master_killed_mid_stream_is_replaced_and_comes_back_as_a_slave() {
    let ports @ (ctl, _, a_port, _, b_port) = (25100, 25110, 25111, 25120, 25121);
    let topic = "FailKill";
    let _ns = namesrv("kill", ctl + 1);
    let (_c, a, _b) = group("kill", ports, topic);
    // Routes follow the role: A registered as the master (0), B as a slave under its own id.
    on_glommio(move || async move {
        await_group(ctl + 1, topic, "kill", &[(0, a_port), (1, b_port)]).await;
    });
    let a = Arc::new(Mutex::new(a));
    let acked_n = Arc::new(AtomicUsize::new(0));
    // Kills A with SIGKILL once 300 sends were acknowledged, while four senders go on.
    let killer = {
        let (a, acked_n) = (a.clone(), acked_n.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + DEADLINE * 2;
            while acked_n.load(Ordering::SeqCst) < 300 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut a = a.lock().unwrap();
            a.child.kill().unwrap();
            a.child.wait().unwrap();
        })
    };
    let acked: BTreeSet<String> = on_glommio({
        let acked_n = acked_n.clone();
        move || async move {
            let ac = connect(a_port).await;
            let acked = std::rc::Rc::new(std::cell::RefCell::new(BTreeSet::new()));
            let mut tasks = Vec::new();
            for t in 0..4 {
                let (ac, acked, acked_n) = (ac.clone(), acked.clone(), acked_n.clone());
                tasks.push(glommio::spawn_local(async move {
                    for i in 0.. {
                        let body = format!("m-{t}-{i}");
                        match send(&ac, topic, (i % QUEUES as i64) as i32, &body).await {
                            Ok(SendStatus::Ok) => {
                                acked.borrow_mut().insert(body);
                                acked_n.fetch_add(1, Ordering::SeqCst);
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
            let acked = acked.borrow().clone();
            acked
        }
    });
    killer.join().unwrap();
    assert!(
        acked.len() >= 300,
        "only {} sends acknowledged",
        acked.len()
    );
    let after = check_promoted(b_port, topic, acked.clone());
    // Producers move to B: it is brokerId 0 in the route now.
    on_glommio(move || async move {
        await_group(ctl + 1, topic, "kill", &[(0, b_port)]).await;
    });
    a.lock().unwrap().restart();
    let both = check_rejoined(a_port, b_port, topic);
    // A registers as a slave, under the id B left free (brokerId 0 configured, B's 1 taken over).
    on_glommio(move || async move {
        await_group(ctl + 1, topic, "kill", &[(0, b_port), (1, a_port)]).await;
    });
    for m in acked.iter().chain(&after) {
        assert!(both.binary_search(m).is_ok(), "{m} lost");
    }
}

#[test]
fn old_master_cuts_the_tail_the_new_master_never_had() {
    let ports @ (_, _, a_port, _, b_port) = (25130, 25135, 25136, 25140, 25141);
    let topic = "FailTail";
    let (_c, mut a, mut b) = group("tail", ports, topic);
    let acked: BTreeSet<String> = on_glommio(move || async move {
        let ac = connect(a_port).await;
        let mut acked = BTreeSet::new();
        for i in 0..100 {
            let body = format!("acked-{i}");
            let st = send(&ac, topic, i % QUEUES, &body).await.unwrap();
            assert_eq!(st, SendStatus::Ok, "send {body}");
            acked.insert(body);
        }
        acked
    });
    // B dies: A goes on alone (SLAVE_NOT_AVAILABLE: stored on A only, never acknowledged).
    b.kill_9();
    let tail: Vec<String> = on_glommio(move || async move {
        let ac = connect(a_port).await;
        let mut tail = Vec::new();
        for i in 0..40 {
            let body = format!("tail-{i}");
            let st = send(&ac, topic, i % QUEUES, &body).await.unwrap();
            assert_eq!(st, SendStatus::SlaveNotAvailable, "{body}");
            tail.push(body);
        }
        // Time for A's appender to put the tail on disk before the kill.
        glommio::timer::sleep(Duration::from_secs(2)).await;
        tail
    });
    a.kill_9();
    // B comes back alone: the only live member, promoted without the tail.
    b.restart();
    let after = check_promoted(b_port, topic, acked.clone());
    a.restart();
    let both = check_rejoined(a_port, b_port, topic);
    for t in &tail {
        assert!(both.binary_search(t).is_err(), "{t} kept, B never had it");
    }
    for m in acked.iter().chain(&after) {
        assert!(both.binary_search(m).is_ok(), "{m} lost");
    }
    assert!(
        a.log_text().contains("cutting the log"),
        "A never cut its tail (log {})",
        a.log.display()
    );
}

/// A TCP proxy on `port` to `to` that can be cut: while `open` is false it drops every connection
/// it accepts (the broker's controller client opens one per heartbeat).
fn proxy(port: u16, to: u16, open: Arc<AtomicBool>) {
    let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            if !open.load(Ordering::SeqCst) {
                continue;
            }
            let Ok(up) = std::net::TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            let (mut c2, mut up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
            let (mut c, mut up) = (c, up);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut up2);
                let _ = up2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut up, &mut c);
                let _ = c.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}

#[test]
fn master_cut_off_from_the_controller_is_replaced_and_rejoins_as_a_slave() {
    let (ctl, a_ns, a_port, b_ns, b_port, via) = (25170, 25175, 25176, 25180, 25181, 25185);
    let topic = "FailCut";
    let _c = controller("cut", ctl);
    let open = Arc::new(AtomicBool::new(true));
    proxy(via, ctl, open.clone());
    // A reaches the controller through the proxy only.
    let _a = broker("cut", 0, a_ns, a_port, via);
    on_glommio(move || async move {
        let ac = connect(a_port).await;
        create_topic(&ac, topic).await;
        wait_master(a_port, topic).await;
    });
    let _b = broker("cut", 1, b_ns, b_port, ctl);
    let acked: BTreeSet<String> = on_glommio(move || async move {
        let ac = connect(a_port).await;
        let mut acked: BTreeSet<String> = wait_status(&ac, topic, SendStatus::Ok, "a1")
            .await
            .into_iter()
            .collect();
        for i in 0..100 {
            let body = format!("acked-{i}");
            let st = send(&ac, topic, i % QUEUES, &body).await.unwrap();
            assert_eq!(st, SendStatus::Ok, "send {body}");
            acked.insert(body);
        }
        acked
    });
    // A is cut off from the controller, alive: it stops taking writes, B is promoted.
    open.store(false, Ordering::SeqCst);
    let after = check_promoted(b_port, topic, acked.clone());
    on_glommio(move || async move {
        let ac = connect(a_port).await;
        assert!(send(&ac, topic, 0, "to-cut-off-master").await.is_err());
    });
    // The link comes back: A learns the newer epoch and follows B.
    open.store(true, Ordering::SeqCst);
    let both = check_rejoined(a_port, b_port, topic);
    for m in acked.iter().chain(&after) {
        assert!(both.binary_search(m).is_ok(), "{m} lost");
    }
}

#[test]
fn master_cut_off_from_the_controller_stops_taking_writes() {
    let (ctl, a_ns, a_port) = (25150, 25160, 25161);
    let mut c = controller("lease", ctl);
    let _a = broker("lease", 0, a_ns, a_port, ctl);
    let topic = "FailLease";
    on_glommio(move || async move {
        let ac = connect(a_port).await;
        create_topic(&ac, topic).await;
        wait_master(a_port, topic).await;
    });
    c.kill_9();
    on_glommio(move || async move {
        let ac = connect(a_port).await;
        // Within its lease (the controller's broker timeout) it stops; from then on every send is
        // refused.
        let deadline = Instant::now() + DEADLINE;
        while send(&ac, topic, 0, "while-cut-off").await.is_ok() {
            assert!(Instant::now() < deadline, "A still takes writes");
            glommio::timer::sleep(Duration::from_millis(200)).await;
        }
        for i in 0..20 {
            let r = send(&ac, topic, i % QUEUES, "refused").await;
            assert!(r.is_err(), "send {i} after the lease: {r:?}");
            glommio::timer::sleep(Duration::from_millis(100)).await;
        }
    });
}
