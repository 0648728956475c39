//! Many queues on a small descriptor limit: a broker with 3,200 queues under `ulimit -n 1024` keeps
//! checkpointing, accepting connections and serving sends and pulls, also after kill -9.
//!
//! Why: each consume queue used to keep its tail file open, so descriptors grew with the queues. A
//! broker with 3,000 topics of 8 queues reached a 20,000 limit: every checkpoint failed ("Too many
//! open files"), new connections were refused, and once the entries not yet checkpointed reached
//! their cap every send to the shard failed, for good. Now each shard keeps at most
//! `cq_open_files_max` of them open (least recently used closed first; `storage::consume_queue`).
//!
//! The `bolide` binary runs as a child process (2 shards, loopback ports 24670/24681, metrics on
//! 24682, data under the target directory) and inherits the limit this test sets on itself.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bolide::client::{Conn, PullStatus, SendRequest, SendStatus};
use bolide::remoting::headers::{CreateTopicHeader, PullMessageHeader};

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{addr, on_glommio, sets, test_dir, BrokerProcess};

const NAMESRV_PORT: u16 = 24670;
const BROKER_PORT: u16 = 24681;
const HTTP_PORT: u16 = 24682;
const TOPICS: usize = 400;
const QUEUES: i32 = 8;
const FD_LIMIT: u64 = 1024;
const T: Duration = Duration::from_secs(20);

fn topic(t: usize) -> String {
    format!("ManyQ{t}")
}

fn body(tag: &str, t: usize, q: i32, i: usize) -> String {
    format!("{tag}-{t}-{q}-{i}")
}

/// Lowers this process's descriptor limit (soft and hard), which the broker child inherits: its
/// start-up raises the soft limit to the hard one, so it runs with exactly `limit`.
fn limit_descriptors(limit: u64) {
    let lim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit with a valid pointer to a local struct.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(r, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// Creates every topic on the broker (8 queues each).
fn create_topics() {
    on_glommio(|| async {
        let conn = Conn::connect(&addr(BROKER_PORT), T).await.unwrap();
        for t in 0..TOPICS {
            conn.create_topic(&CreateTopicHeader {
                topic: topic(t),
                default_topic: "TBW102".into(),
                read_queue_nums: QUEUES,
                write_queue_nums: QUEUES,
                perm: 6,
                topic_filter_type: "SINGLE_TAG".into(),
                topic_sys_flag: 0,
                order: false,
                attributes: None,
            })
            .await
            .unwrap();
        }
        conn.close();
    })
}

/// Sends `per_queue` messages to every queue of every topic; each must be SEND_OK.
fn send_all(tag: &'static str, per_queue: usize) {
    on_glommio(move || async move {
        let conn = Conn::connect(&addr(BROKER_PORT), T).await.unwrap();
        for i in 0..per_queue {
            for t in 0..TOPICS {
                let name = topic(t);
                for q in 0..QUEUES {
                    let b = body(tag, t, q, i);
                    let r = conn
                        .send(&SendRequest {
                            producer_group: "ManyQP",
                            topic: &name,
                            queue_id: q,
                            born_timestamp_ms: 1,
                            properties: "",
                            body: b.as_bytes(),
                            batch: false,
                        })
                        .await
                        .unwrap_or_else(|e| panic!("send {b}: {e}"));
                    assert_eq!(r.status, SendStatus::Ok, "send {b}");
                }
            }
        }
        conn.close();
    })
}

/// Reads every queue from offset 0 and checks it holds exactly `want(t, q)`.
fn pull_all(group: &'static str, want: fn(usize, i32) -> Vec<String>) {
    on_glommio(move || async move {
        let conn = Conn::connect(&addr(BROKER_PORT), T).await.unwrap();
        for t in 0..TOPICS {
            let name = topic(t);
            for q in 0..QUEUES {
                let h = PullMessageHeader::all_tags(group, &name, q, 0, 32);
                let r = conn.pull(&h).await.unwrap();
                assert_eq!(r.status, PullStatus::Found, "{name} queue {q}");
                let got: Vec<String> = r
                    .records()
                    .map(|rec| String::from_utf8(rec.unwrap().body.to_vec()).unwrap())
                    .collect();
                assert_eq!(got, want(t, q), "{name} queue {q}");
            }
        }
        conn.close();
    })
}

/// Each shard's value of a metric, from `/metrics`.
fn metric(name: &str) -> Vec<f64> {
    let mut s = TcpStream::connect(("127.0.0.1", HTTP_PORT)).expect("metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    // Per shard (`name{shard="0"} v`), or summed over the shards (`name v`).
    let (labelled, summed) = (format!("{name}{{"), format!("{name} "));
    text.lines()
        .filter(|l| l.starts_with(&labelled) || l.starts_with(&summed))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect()
}

/// Waits until no consume-queue entry is left unwritten, in figures that count at least
/// `min_opened` consume-queue files opened since start (the figures are published about once a
/// second: a snapshot from before the sends would also show nothing pending).
fn await_checkpointed(b: &BrokerProcess, min_opened: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = metric("bolide_storage_pending_cq_entries");
        let opened: f64 = metric("bolide_storage_cq_files_opened_total").iter().sum();
        if pending.len() == 2 && pending.iter().all(|v| *v == 0.0) && opened >= min_opened {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "entries still not checkpointed: {pending:?}, {opened} files opened; broker log:\n{}",
            tail(&b.log_text())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn assert_healthy(b: &BrokerProcess) {
    let open = metric("bolide_storage_cq_open_files");
    let max = metric("bolide_storage_cq_open_files_max");
    assert_eq!((open.len(), max.len()), (2, 2), "a figure per shard");
    for (o, m) in open.iter().zip(&max) {
        assert!(
            o <= m,
            "open consume-queue files {open:?} over their bound {max:?}"
        );
        assert!(*m >= 1.0 && *m < FD_LIMIT as f64 / 2.0, "bound {max:?}");
    }
    let log = b.log_text();
    for bad in ["Too many open files", "checkpoint failed", "accept failed"] {
        assert!(
            !log.contains(bad),
            "{bad:?} in the broker log:\n{}",
            tail(&log)
        );
    }
    // New connections are still accepted and served.
    on_glommio(|| async {
        for i in 0..20 {
            let conn = Conn::connect(&addr(BROKER_PORT), T).await.unwrap();
            let r = conn
                .send(&SendRequest {
                    producer_group: "ManyQP",
                    topic: "ManyQExtra",
                    queue_id: 0,
                    born_timestamp_ms: 1,
                    properties: "",
                    body: format!("extra-{i}").as_bytes(),
                    batch: false,
                })
                .await
                .unwrap();
            assert_eq!(r.status, SendStatus::Ok);
            conn.close();
        }
    });
}

#[test]
fn thousands_of_queues_on_a_small_descriptor_limit() {
    limit_descriptors(FD_LIMIT);
    let dir = test_dir("many-queues");
    let mut extra = vec!["--shards".to_string(), "2".to_string()];
    extra.extend([
        "--http-port".to_string(),
        HTTP_PORT.to_string(),
        "--flush".to_string(),
        "async".to_string(),
    ]);
    extra.extend(sets(&["connections_max=64"]));
    let mut b = BrokerProcess::start_answering(
        &dir,
        &dir.with_extension("log"),
        NAMESRV_PORT,
        BROKER_PORT,
        &extra,
    );
    assert!(
        b.log_text().contains("fd_limit=1024"),
        "the broker runs with the test's limit:\n{}",
        tail(&b.log_text())
    );
    let queues = TOPICS as f64 * QUEUES as f64;
    create_topics();
    send_all("a", 2);
    // Each queue's file is created by the checkpoint that first writes to it.
    await_checkpointed(&b, queues);
    assert_healthy(&b);
    // Read back through the files (checkpointed: no entry is in memory any more).
    pull_all("ManyQG1", |t, q| {
        (0..2).map(|i| body("a", t, q, i)).collect()
    });
    // Kept open, each queue's file would have been opened once; with 128 open per shard, most
    // were closed after their write and opened again to be read.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let opened: f64 = metric("bolide_storage_cq_files_opened_total").iter().sum();
        if opened > 1.5 * queues {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "files closed after the checkpoint and opened again to be read: {opened} opens"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    b.kill_9_and_restart();
    pull_all("ManyQG2", |t, q| {
        (0..2).map(|i| body("a", t, q, i)).collect()
    });
    send_all("b", 1);
    // Opened after the restart: most files once to be read, and again to be written.
    await_checkpointed(&b, 1.5 * queues);
    assert_healthy(&b);
    pull_all("ManyQG3", |t, q| {
        let mut v: Vec<String> = (0..2).map(|i| body("a", t, q, i)).collect();
        v.push(body("b", t, q, 0));
        v
    });
}
