//! The load generator (`bolide-bench`) against a tiny in-process fake broker + NameServer.
//!
//! The fake speaks the remoting protocol through `bolide::remoting` on one loopback port (it is its
//! own NameServer), keeps messages in memory and answers: routes, topic creation, GET_MAX_OFFSET,
//! SEND_MESSAGE_V2, SEND_BATCH_MESSAGE (oneway too) and PULL_MESSAGE (stored-message records, no
//! long polling). Each scenario runs the real binary for about a second and checks its JSON report.
//! Timing is not asserted: only that messages flowed, nothing failed and counts agree.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bolide::message::{encode_record, patch_record, NewRecord};
use bolide::remoting::batch::decode_batch;
use bolide::remoting::body::{BrokerData, QueueData, TopicRouteData};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{
    write_offset, PullMessageHeader, PullResultHeader, QueueHeader, SendMessageHeader,
    SendResultHeader,
};
use bolide::remoting::{decode_frame, encode_frame, RemotingCommand, FRAME_MAX_BYTES};
use bytes::BytesMut;

const QUEUES: i32 = 4;

#[derive(Default)]
struct Store {
    /// (topic, queue) -> bodies.
    queues: HashMap<(String, i32), Vec<Vec<u8>>>,
}

fn handle(store: &Mutex<Store>, addr: &str, cmd: &RemotingCommand) -> Option<RemotingCommand> {
    let mut s = store.lock().unwrap();
    let resp = match cmd.code {
        request::GET_ROUTEINFO_BY_TOPIC => {
            let route = TopicRouteData {
                broker_datas: vec![BrokerData {
                    cluster: "c".into(),
                    broker_name: "fake".into(),
                    broker_addrs: [(0, addr.to_string())].into_iter().collect(),
                }],
                queue_datas: vec![QueueData {
                    broker_name: "fake".into(),
                    perm: 6,
                    read_queue_nums: QUEUES,
                    write_queue_nums: QUEUES,
                    topic_sys_flag: 0,
                }],
                order_topic_conf: None,
            };
            cmd.response(response::SUCCESS)
                .with_body(route.to_json(true).into_bytes())
        }
        request::GET_MAX_OFFSET => {
            let h = QueueHeader::parse(cmd).unwrap();
            let n = s.queues.get(&(h.topic, h.queue_id)).map_or(0, Vec::len);
            let mut r = cmd.response(response::SUCCESS);
            write_offset(&mut r, n as i64);
            r
        }
        request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE => {
            let h = SendMessageHeader::parse(cmd).unwrap();
            let q = s.queues.entry((h.topic, h.queue_id)).or_default();
            let first = q.len();
            if cmd.code == request::SEND_BATCH_MESSAGE {
                for e in decode_batch(&cmd.body).unwrap() {
                    q.push(e.body.to_vec());
                }
            } else {
                q.push(cmd.body.to_vec());
            }
            let mut r = cmd.response(response::SUCCESS);
            SendResultHeader {
                msg_id: "7F0000010000000000000000".into(),
                queue_id: h.queue_id,
                queue_offset: first as i64,
                transaction_id: None,
            }
            .write_to(&mut r);
            r
        }
        request::PULL_MESSAGE => {
            let h = PullMessageHeader::parse(cmd).unwrap();
            let q = s
                .queues
                .get(&(h.topic.clone(), h.queue_id))
                .cloned()
                .unwrap_or_default();
            let from = h.queue_offset.max(0) as usize;
            let to = q.len().min(from + h.max_msg_nums as usize);
            let code = if from < to {
                response::SUCCESS
            } else {
                response::PULL_NOT_FOUND
            };
            let mut body = BytesMut::new();
            let host = SocketAddrV4::new([127, 0, 0, 1].into(), 1);
            for (i, b) in q[from.min(to)..to].iter().enumerate() {
                let start = body.len();
                encode_record(
                    &NewRecord {
                        queue_id: h.queue_id as u32,
                        flag: 0,
                        sys_flag: 0,
                        born_timestamp_ms: 0,
                        born_host: host,
                        store_host: host,
                        reconsume_times: 0,
                        prepared_tx_offset: 0,
                        body: b,
                        topic: &h.topic,
                        properties: "",
                    },
                    &mut body,
                )
                .unwrap();
                patch_record(&mut body[start..], (from + i) as u64, 0, 0);
            }
            let mut r = cmd.response(code).with_body(body.freeze());
            PullResultHeader {
                suggest_which_broker_id: 0,
                next_begin_offset: to.max(from) as i64,
                min_offset: 0,
                max_offset: q.len() as i64,
            }
            .write_to(&mut r);
            if code == response::PULL_NOT_FOUND {
                drop(s);
                std::thread::sleep(Duration::from_millis(2));
            }
            r
        }
        _ => cmd.response(response::SUCCESS),
    };
    (!cmd.is_oneway()).then_some(resp)
}

fn serve(mut sock: TcpStream, store: Arc<Mutex<Store>>, addr: String) {
    let _ = sock.set_nodelay(true);
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match sock.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut out = BytesMut::new();
        while let Some(cmd) = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap() {
            if let Some(r) = handle(&store, &addr, &cmd) {
                encode_frame(&r, &mut out);
            }
        }
        if !out.is_empty() && sock.write_all(&out).is_err() {
            return;
        }
    }
}

/// Starts the fake on an ephemeral port; returns its address.
fn start_fake() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let store = Arc::new(Mutex::new(Store::default()));
    let a = addr.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let (store, a) = (store.clone(), a.clone());
            std::thread::spawn(move || serve(sock, store, a));
        }
    });
    addr
}

fn run_bench(addr: &str, extra: &[&str]) -> serde_json::Value {
    let name = extra.join("_").replace(['-', ' '], "");
    let dir = std::env::temp_dir().join(format!("bolide-bench-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json: PathBuf = dir.join(format!("{name}.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_bolide-bench"))
        .args([
            "--namesrv",
            addr,
            "--topic",
            "T",
            "--duration",
            "1",
            "--warmup",
            "0.3",
            "--interval",
            "0.5",
            "--clients",
            "4",
            "--size",
            "100",
            "--json",
            json.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("Send TPS") || stdout.contains("Consume TPS"),
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // The clock the intervals count from, for lining them up with a trace (perf/stalls.py).
    assert!(num(&report, &["clock_monotonic_start_s"]) > 0.0, "{report}");
    report
}

fn num(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_f64()
        .unwrap_or_else(|| panic!("{path:?} missing in {v}"))
}

#[test]
fn produce_modes_against_fake_broker() {
    let addr = start_fake();
    for mode in ["sync", "async", "batch", "oneway"] {
        let r = run_bench(&addr, &["--mode", mode, "--batch", "8"]);
        let sent = num(&r, &["send", "messages"]);
        assert!(sent > 0.0, "{mode}: nothing sent: {r}");
        assert_eq!(num(&r, &["send", "response_failed"]), 0.0, "{mode}");
        assert_eq!(num(&r, &["send", "send_failed"]), 0.0, "{mode}");
        assert!(num(&r, &["stored_messages"]) >= sent, "{mode}: {r}");
        if mode != "oneway" {
            assert!(num(&r, &["send", "latency_us", "p99"]) > 0.0, "{mode}");
        }
        assert!(r["git_revision"].is_string());
        assert!(num(&r, &["machine", "cpus"]) >= 1.0);
        assert_eq!(r["settings"]["mode"], mode);
    }
}

#[test]
fn open_loop_and_end_to_end_against_fake_broker() {
    let addr = start_fake();
    let r = run_bench(&addr, &["--scenario", "e2e", "--rate", "2000"]);
    let sent = num(&r, &["send", "messages"]);
    assert!(sent > 500.0 && sent < 4000.0, "rate not held: {sent}");
    assert!(num(&r, &["consume", "messages"]) > 0.0, "{r}");
    assert!(num(&r, &["consume", "latency_us", "p50"]) > 0.0, "{r}");
}

#[test]
fn catch_up_consumes_the_preload() {
    let addr = start_fake();
    let r = run_bench(
        &addr,
        &[
            "--scenario",
            "catchup",
            "--messages",
            "3000",
            "--mode",
            "async",
        ],
    );
    assert_eq!(num(&r, &["consume", "messages"]), 3000.0, "{r}");
    assert_eq!(num(&r, &["stored_messages"]), 3000.0, "{r}");
}

/// Runs `bolide-bench-std` against `addr` for 1 s (after 0.3 s of warm-up) with `args`, and
/// returns its JSON report.
fn run_std_driver(name: &str, addr: &str, args: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!("bolide-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("std.json");
    let out = Command::new(env!("CARGO_BIN_EXE_bolide-bench-std"))
        .args(["--broker", addr, "--topic", "T"])
        .args(["--duration", "1", "--warmup", "0.3", "--interval", "0.5"])
        .args(["--json", json.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench-std failed:\n{stdout}\n{stderr}"
    );
    let r = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// The plain-threads driver (`bolide-bench-std`) with its consumer threads: every message sent in
/// the run comes back through a pull, timed from its intended send time.
#[test]
fn std_driver_sends_and_tails_against_fake_broker() {
    let addr = start_fake();
    let r = run_std_driver(
        "bench-std-tail",
        &addr,
        &[
            "--rate",
            "2000",
            "--queues",
            "4",
            "--consumers",
            "2",
            "--size",
            "100",
        ],
    );
    let sent = num(&r, &["send", "messages"]);
    assert!(sent > 500.0 && sent < 4000.0, "rate not held: {r}");
    assert_eq!(num(&r, &["send", "response_failed"]), 0.0, "{r}");
    assert_eq!(r["settings"]["scenario"], "e2e");
    // Consumers start at the queues' ends before the first send, so they see every message; the
    // window edges may split a message's send and receipt, hence the margin.
    let received = num(&r, &["consume", "messages"]);
    assert!((received - sent).abs() <= sent * 0.1, "{r}");
    assert_eq!(num(&r, &["consume", "response_failed"]), 0.0, "{r}");
    assert!(num(&r, &["consume", "latency_us", "p50"]) > 0.0, "{r}");
    let last = &r["intervals"].as_array().unwrap().last().unwrap().clone();
    assert!(num(last, &["recv_msgs_per_sec"]) > 0.0, "{r}");
}

/// `--writer-threads 1`: one thread writes the sends of all three connections, at the asked rate.
#[test]
fn std_driver_one_writer_thread_for_all_connections() {
    let addr = start_fake();
    let r = run_std_driver(
        "bench-std-w1",
        &addr,
        &[
            "--rate",
            "3000",
            "--queues",
            "4",
            "--size",
            "100",
            "--connections",
            "3",
            "--writer-threads",
            "1",
        ],
    );
    assert_eq!(r["settings"]["writer_threads"], 1, "{r}");
    assert_eq!(r["settings"]["clients"], 3, "{r}");
    let sent = num(&r, &["send", "messages"]);
    assert!(sent > 1500.0 && sent < 4500.0, "rate not held: {r}");
    assert_eq!(num(&r, &["send", "response_failed"]), 0.0, "{r}");
}
