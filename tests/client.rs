//! `bolide::client` against a real broker: the `bolide` binary started as a child process on
//! loopback (ports 23500/23511, data under the target directory), driven through every typed
//! request. Checks what the broker stored, not only that calls returned Ok.

use std::time::{Duration, Instant};

use bolide::client::{self, ClientError, Conn, PullStatus, SendRequest, SendStatus};
use bolide::clock::now_ms;
use bolide::remoting::batch::{encode_batch, BatchEntry};
use bolide::remoting::body::{ConsumerData, HeartbeatData, ProducerData};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{CreateTopicHeader, PullMessageHeader};
use bytes::BytesMut;

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{on_glommio, test_dir, BrokerProcess};

const NAMESRV_PORT: u16 = 23500;
const BROKER_PORT: u16 = 23511;

/// The broker process and its data directory; both go away on drop (also when a test panics).
fn start_broker() -> BrokerProcess {
    let dir = test_dir("client-it");
    BrokerProcess::start(
        &dir,
        &dir.with_extension("log"),
        NAMESRV_PORT,
        BROKER_PORT,
        &["--shards".into(), "2".into()],
        &[],
    )
}

fn pull_header(topic: &str, queue_id: i32, offset: i64) -> PullMessageHeader {
    PullMessageHeader::all_tags("client-it-cg", topic, queue_id, offset, 32)
}

#[test]
fn every_typed_request_against_a_real_broker() {
    let _broker = start_broker();
    on_glommio(|| async {
        let timeout = Duration::from_secs(10);
        let namesrv = format!("127.0.0.1:{NAMESRV_PORT}");

        // Route lookup creates the topic from TBW102's brokers, then finds it again as is.
        let route = client::lookup_or_create(&namesrv, "ClientIT", 3, timeout)
            .await
            .unwrap();
        assert_eq!(route.write_queues.len(), 3, "{route:?}");
        assert_eq!(route.read_queues.len(), 3);
        let addr = format!("127.0.0.1:{BROKER_PORT}");
        assert_eq!(route.broker_addrs(), vec![addr.clone()]);
        let again = client::lookup_or_create(&namesrv, "ClientIT", 8, timeout)
            .await
            .unwrap();
        assert_eq!(
            again.write_queues, route.write_queues,
            "existing topic is not recreated"
        );

        let conn = Conn::connect(&addr, timeout).await.unwrap();
        assert_eq!(conn.max_offset("ClientIT", 1).await, Ok(0));
        assert_eq!(conn.min_offset("ClientIT", 1).await, Ok(0));

        // Single sends are pipelined: all written before the first is awaited.
        let bodies: Vec<Vec<u8>> = (0..3).map(|i| format!("single-{i}").into_bytes()).collect();
        let sends: Vec<_> = bodies
            .iter()
            .map(|b| {
                conn.send(&SendRequest {
                    producer_group: "client-it-pg",
                    topic: "ClientIT",
                    queue_id: 1,
                    born_timestamp_ms: now_ms(),
                    properties: "",
                    body: b,
                    batch: false,
                })
            })
            .collect();
        for (i, s) in sends.into_iter().enumerate() {
            let r = s.await.unwrap();
            assert_eq!(r.status, SendStatus::Ok);
            assert_eq!(r.header.queue_id, 1);
            assert_eq!(
                r.header.queue_offset, i as i64,
                "sent in order, stored in order"
            );
        }

        // A batch of two, then a oneway send.
        let mut batch = BytesMut::new();
        let entries = [
            BatchEntry {
                flag: 0,
                body: b"batch-0",
                properties: "",
            },
            BatchEntry {
                flag: 0,
                body: b"batch-1",
                properties: "",
            },
        ];
        encode_batch(&entries, &mut batch).unwrap();
        let r = conn
            .send(&SendRequest {
                producer_group: "client-it-pg",
                topic: "ClientIT",
                queue_id: 1,
                born_timestamp_ms: now_ms(),
                properties: "",
                body: &batch,
                batch: true,
            })
            .await
            .unwrap();
        assert_eq!(r.header.queue_offset, 3);
        conn.send_oneway(&SendRequest {
            producer_group: "client-it-pg",
            topic: "ClientIT",
            queue_id: 1,
            born_timestamp_ms: now_ms(),
            properties: "",
            body: b"oneway",
            batch: false,
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while conn.max_offset("ClientIT", 1).await.unwrap() < 6 {
            assert!(Instant::now() < deadline, "oneway send never stored");
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }

        // Pull reads back exactly what was sent, in order.
        let pulled = conn.pull(&pull_header("ClientIT", 1, 0)).await.unwrap();
        assert_eq!(pulled.status, PullStatus::Found);
        let got: Vec<Vec<u8>> = pulled.records().map(|r| r.unwrap().body.to_vec()).collect();
        let want: Vec<&[u8]> = vec![
            b"single-0",
            b"single-1",
            b"single-2",
            b"batch-0",
            b"batch-1",
            b"oneway",
        ];
        assert_eq!(got, want);
        assert_eq!(pulled.header.next_begin_offset, 6);
        let tail = conn.pull(&pull_header("ClientIT", 1, 6)).await.unwrap();
        assert_eq!(tail.status, PullStatus::NoNewMessage);
        assert_eq!(tail.records().count(), 0);
        let beyond = conn.pull(&pull_header("ClientIT", 1, 1_000)).await.unwrap();
        assert_eq!(beyond.status, PullStatus::OffsetIllegal);

        // Consumer offsets: the default, then what was committed.
        let heartbeat = HeartbeatData {
            client_id: "client-it@1".into(),
            producer_data_set: vec![ProducerData {
                group_name: "client-it-pg".into(),
            }],
            consumer_data_set: vec![ConsumerData {
                group_name: "client-it-cg".into(),
                ..Default::default()
            }],
        };
        conn.heartbeat(&heartbeat).await.unwrap();
        // Never committed, on a queue that still starts at 0: the broker says 0, as Java's does.
        assert_eq!(
            conn.query_consumer_offset("client-it-cg", "ClientIT", 1)
                .await,
            Ok(Some(0))
        );
        conn.update_consumer_offset("client-it-cg", "ClientIT", 1, 4)
            .await
            .unwrap();
        assert_eq!(
            conn.query_consumer_offset("client-it-cg", "ClientIT", 1)
                .await,
            Ok(Some(4))
        );

        // Refusals carry the request and response codes.
        let bad = conn
            .create_topic(&CreateTopicHeader {
                topic: "no spaces allowed".into(),
                default_topic: "TBW102".into(),
                read_queue_nums: 1,
                write_queue_nums: 1,
                perm: 6,
                topic_filter_type: "SINGLE_TAG".into(),
                topic_sys_flag: 0,
                order: false,
                attributes: None,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(bad, ClientError::Refused { request: request::UPDATE_AND_CREATE_TOPIC, code, .. } if code != response::SUCCESS),
            "{bad}"
        );

        let ns = Conn::connect(&namesrv, timeout).await.unwrap();
        assert_eq!(ns.get_route("NoSuchTopicHere").await, Ok(None));
        assert!(ns.get_route("ClientIT").await.unwrap().is_some());
    });
}

/// `THP_enabled` of a process in /proc (kernel 5.0 on), or None where the kernel does not show it.
fn thp_enabled(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"))?;
    Some(line.split_whitespace().nth(1)? == "1")
}

/// The broker turns transparent huge pages off for itself unless `disable_thp=false` (see the key).
#[test]
fn the_broker_runs_without_transparent_huge_pages_unless_told_otherwise() {
    let Some(ours) = thp_enabled(std::process::id()) else {
        eprintln!(
            "SKIP: this kernel's /proc/PID/status has no THP_enabled line (before Linux 5.0)"
        );
        return;
    };
    if !ours {
        eprintln!(
            "SKIP: this test process already runs with THP disabled, so the broker inherits it"
        );
        return;
    }
    for (setting, expect_enabled) in [(None, false), (Some("disable_thp=false"), true)] {
        let dir = test_dir(&format!("client-thp-{expect_enabled}"));
        let mut extra = vec!["--shards".to_string(), "1".to_string()];
        if let Some(s) = setting {
            extra.extend(["--set".to_string(), s.to_string()]);
        }
        let b = BrokerProcess::start(&dir, &dir.with_extension("log"), 23520, 23531, &extra, &[]);
        assert_eq!(
            thp_enabled(b.child.id()),
            Some(expect_enabled),
            "setting {setting:?}"
        );
    }
}

/// Sets the calling thread's CPU affinity (a child spawned from it inherits the mask).
fn pin_this_thread(cpus: &[usize]) {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes within it for ids below
    // CPU_SETSIZE; sched_setaffinity reads the size given.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(rc, 0, "sched_setaffinity {cpus:?}");
}

/// A broker started on part of the machine (`taskset -c N`, a container's cpuset) keeps its shards
/// there: shard k goes to the k-th allowed CPU, not to CPU k.
#[test]
fn shards_stay_on_the_cpus_the_broker_was_started_with() {
    let all = bolide::shard::allowed_cpus().expect("this thread's CPUs");
    if all.len() < 2 {
        eprintln!(
            "SKIP: this test runs on {} CPU(s); it needs 2 to leave one out",
            all.len()
        );
        return;
    }
    let last = *all.last().unwrap();
    let dir = test_dir("client-cpus");
    let extra: Vec<String> = ["--shards", "2"].iter().map(|s| s.to_string()).collect();
    pin_this_thread(&[last]);
    let b = BrokerProcess::start(&dir, &dir.with_extension("log"), 23570, 23581, &extra, &[]);
    pin_this_thread(&all);
    let pid = b.child.id();
    let mut shards = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if !comm.starts_with("bolide-shard-") {
            continue;
        }
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("?")
            .trim()
            .to_string();
        shards.push((comm.trim().to_string(), cpus));
    }
    assert!(
        shards.iter().any(|(c, _)| c.starts_with("bolide-shard-0"))
            && shards.iter().any(|(c, _)| c.starts_with("bolide-shard-1")),
        "{shards:?}"
    );
    for (comm, cpus) in &shards {
        assert_eq!(
            cpus,
            &last.to_string(),
            "{comm} runs on {cpus}, the broker was started on {last}"
        );
    }
    // The ready line says where the shards run, for an operator checking the placement.
    let ready = ready_line(&dir.with_extension("log"));
    assert!(
        ready.contains(&format!("shard_cpus=[{last}, {last}]")),
        "{ready}"
    );
}

/// The broker's `bolide ready` log line, waited for up to 30 s ("" if it never came): the ports
/// accept before the shards are ready.
fn ready_line(log: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains("bolide ready")) {
            return l.to_string();
        }
        if Instant::now() > deadline {
            return String::new();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `flags:` of every open commit-log segment of process `pid`, from /proc (octal, as the kernel
/// prints them).
fn segment_open_flags(pid: u32) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let fd = fd.unwrap();
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        if !target.to_string_lossy().contains("/commitlog/") {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| u32::from_str_radix(f.trim(), 8).expect("octal flags"))
            .unwrap_or(0);
        out.push((target.to_string_lossy().into_owned(), flags));
    }
    out
}

/// SYNC_FLUSH opens the commit log O_DSYNC (a group commit is one request to the device, and the
/// flusher then skips fdatasync), ASYNC_FLUSH does not (a write must not wait for the disk's cache
/// flush); both are O_DIRECT. The storage tests check the durability contract on the simulated disk;
/// this checks that the real files are opened so.
#[test]
fn sync_flush_opens_the_commit_log_o_dsync() {
    for (mode, ns, bp) in [("sync", 23590u16, 23593u16), ("async", 23594, 23597)] {
        let dir = test_dir(&format!("client-dsync-{mode}"));
        let extra: Vec<String> = ["--flush", mode].iter().map(|s| s.to_string()).collect();
        let b = BrokerProcess::start(&dir, &dir.with_extension("log"), ns, bp, &extra, &[]);
        // Segments are opened by the shards, which report ready after the ports accept.
        assert!(
            !ready_line(&dir.with_extension("log")).is_empty(),
            "{mode}: no ready line"
        );
        let segs = segment_open_flags(b.child.id());
        assert!(!segs.is_empty(), "{mode}: no open segment");
        for (path, flags) in &segs {
            let direct = flags & libc::O_DIRECT as u32 != 0;
            let dsync = flags & libc::O_DSYNC as u32 != 0;
            assert!(direct, "{mode}: {path} flags {flags:o} without O_DIRECT");
            assert_eq!(dsync, mode == "sync", "{mode}: {path} flags {flags:o}");
        }
    }
}

/// `bolide_net_open_connections` by shard, from the broker's /metrics on `http_port`.
fn open_by_shard(http_port: u16) -> Vec<u64> {
    let text = metrics_text(http_port);
    let mut open = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("bolide_net_open_connections{shard=\"") {
            let (shard, value) = rest.split_once("\"} ").expect("a sample line");
            let shard: usize = shard.parse().unwrap();
            open.resize(open.len().max(shard + 1), 0);
            open[shard] = value.trim().parse::<f64>().unwrap() as u64;
        }
    }
    open
}

/// The broker's /metrics text on `http_port`.
fn metrics_text(http_port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http_port)).expect("metrics port");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text
}

/// 300 requests of made-up codes are each refused with REQUEST_CODE_NOT_SUPPORTED and counted in one
/// latency series, `request_code="unsupported"`: keyed by code, each would add a histogram to the
/// shard's memory and a series to every scrape, as many as a client cares to invent.
#[test]
fn made_up_request_codes_share_one_latency_series() {
    use std::io::{Read, Write};
    let (ns, port, http) = (23640, 23651, 23662);
    let _b = two_shards_with_metrics("client-unknown-codes", ns, port, http);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = BytesMut::new();
    for k in 0..300 {
        let cmd = bolide::remoting::RemotingCommand::request(50_000 + k).with_opaque(k);
        bolide::remoting::encode_frame(&cmd, &mut out);
    }
    s.write_all(&out).unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 16 << 10];
    let mut answered = 0;
    while answered < 300 {
        match bolide::remoting::decode_frame(&mut buf, 1 << 20).unwrap() {
            Some(resp) => {
                assert_eq!(resp.code, response::REQUEST_CODE_NOT_SUPPORTED, "{resp:?}");
                answered += 1;
            }
            None => {
                let n = s.read(&mut chunk).expect("the answers");
                assert!(n > 0, "the broker closed after {answered} answers");
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    // Published figures lag up to a second.
    let want =
        r#"rocketmq_rpc_latency_count{protocol_type="remoting",request_code="unsupported"} 300"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = metrics_text(http);
    while !text.lines().any(|l| l == want) {
        assert!(Instant::now() < deadline, "never saw {want}:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
        text = metrics_text(http);
    }
    let made_up = text
        .lines()
        .filter_map(|l| l.split_once("request_code=\"")?.1.split_once('"'))
        .filter_map(|(code, _)| code.parse::<i32>().ok())
        .filter(|code| (50_000..50_300).contains(code))
        .count();
    assert_eq!(made_up, 0, "made-up codes got series of their own:\n{text}");
}

/// A broker with two shards and its metrics on `http` (for `open_by_shard`), answering on `port`.
fn two_shards_with_metrics(name: &str, ns: u16, port: u16, http: u16) -> BrokerProcess {
    let dir = test_dir(name);
    let extra: Vec<String> = ["--shards", "2", "--http-port", &http.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    BrokerProcess::start_answering(&dir, &dir.with_extension("log"), ns, port, &extra)
}

/// One request answered on `s` (GET_MAX_OFFSET): the connection is served wherever it went.
fn answered(s: &mut std::net::TcpStream, opaque: i32) {
    use std::io::{Read, Write};
    let cmd = bolide::remoting::RemotingCommand::request(request::GET_MAX_OFFSET)
        .with_ext("topic", "spread")
        .with_ext("queueId", 0)
        .with_opaque(opaque);
    let mut out = BytesMut::new();
    bolide::remoting::encode_frame(&cmd, &mut out);
    s.write_all(&out).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("an answer");
    let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut frame).expect("the whole answer");
}

/// New connections go to the shard serving the fewest (`spread_connections`, net::spread), so 8
/// connections opened one after the other end up 4 and 4 on two shards, whatever SO_REUSEPORT's
/// hash chose, and every one of them is answered by the shard it was handed to.
#[test]
fn connections_are_spread_evenly_over_the_shards() {
    let (ns, port, http) = (23540, 23551, 23562);
    let _b = two_shards_with_metrics("client-spread", ns, port, http);
    // The start-up probes' connections are gone (published figures lag up to a second).
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_by_shard(http).iter().sum::<u64>() != 0 {
        assert!(Instant::now() < deadline, "probe connections never closed");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(open_by_shard(http).iter().sum::<u64>(), 0);
    let mut conns = Vec::new();
    for k in 0..8 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        answered(&mut s, k);
        conns.push(s);
    }
    let mut open = open_by_shard(http);
    while open.iter().sum::<u64>() != 8 {
        assert!(
            Instant::now() < deadline,
            "8 connections never showed: {open:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
        open = open_by_shard(http);
    }
    assert_eq!(open, [4, 4]);
    for (k, s) in conns.iter_mut().enumerate() {
        answered(s, 100 + k as i32);
    }
}

/// A client's NameServer connection is not counted in the spread: it stays open for the client's
/// whole life but carries no sends. Counted, it sends the next broker connection to the other
/// shard, and the one after that wherever SO_REUSEPORT's hash puts it, so half the time both
/// producers share a shard. Here, beside one NameServer connection, two broker connections split 1
/// and 1 in each of six rounds (counted, all six would hold with odds of 1 in 64).
#[test]
fn a_nameserver_connection_does_not_tip_the_spread() {
    let (ns, port, http) = (23541, 23552, 23563);
    let _b = two_shards_with_metrics("client-spread-ns", ns, port, http);
    let settled = |want: u64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let open = open_by_shard(http);
            if open.iter().sum::<u64>() == want {
                return open;
            }
            assert!(
                Instant::now() < deadline,
                "never {want} connections: {open:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    settled(0);
    std::thread::sleep(Duration::from_millis(1100));
    settled(0);
    let mut lookup = std::net::TcpStream::connect(("127.0.0.1", ns)).unwrap();
    lookup
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    answered(&mut lookup, 1);
    let on = settled(1).iter().position(|&n| n == 1).unwrap();
    for round in 0..6 {
        let mut conns = Vec::new();
        for k in 0..2 {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            answered(&mut s, 10 + k);
            conns.push(s);
        }
        let open = settled(3);
        assert_eq!(
            open[on], 2,
            "round {round}: the NameServer connection's shard holds it and one broker connection: {open:?}"
        );
        drop(conns);
        settled(1);
    }
}
