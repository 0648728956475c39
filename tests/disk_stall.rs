//! A disk that takes no I/O for a while (#12): nothing is refused and nothing is lost.
//!
//! The `bolide` binary runs as a child process (2 shards, loopback ports 24420/24431,
//! 24422/24434 and 24424/24437, one pair per test (each broker also takes its port - 2), data under the target directory) inside a cgroup. The block
//! layer throttles that cgroup's reads and writes on the data directory's disk to 1 per second
//! while the test says so (cgroup v1 `blkio.throttle.*_iops_device` or v2 `io.max`). The disk itself is untouched; bios held by the throttle are released when it is
//! lifted. Needs root and such a cgroup, and a data directory on a block device; says why and
//! passes without them. `perf/diskstall.sh` is the same stall under load, for latency.
//!
//! | flush | while the disk is stopped | afterwards |
//! |---|---|---|
//! | SYNC_FLUSH, `flush_timeout_ms` 300 | sends are answered SEND_OK or FLUSH_DISK_TIMEOUT (stored, not yet durable), some of them the latter; none refused | sends are SEND_OK again; after kill -9 every answered message is there |
//! | ASYNC_FLUSH | every send is SEND_OK (the write-behind takes it) | after an orderly stop (SIGTERM, and SIGHUP) asked while writes are held, every message is there |
//!
//! No latency is asserted: the machines are shared.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bolide::client::{Conn, SendRequest, SendStatus};
use bolide::clock::now_ms;

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{addr, on_glommio, sets, strings, test_dir, topic_conn, BrokerProcess};

/// (NameServer, broker) ports of each test: the tests of a file run at once.
const SYNC_PORTS: (u16, u16) = (24420, 24431);
const ASYNC_PORTS: (u16, u16) = (24422, 24434);
const HUP_PORTS: (u16, u16) = (24424, 24437);
const QUEUES: i32 = 4;

/// The cgroup the broker runs in, and its throttle.
struct Throttle {
    dir: PathBuf,
    knobs: Knobs,
}

/// The throttle's files: (file, value when the disk is stopped, value when it runs).
#[derive(Clone)]
struct Knobs(Vec<(PathBuf, String, String)>);

impl Knobs {
    fn stop_disk(&self) {
        for (file, stopped, _) in &self.0 {
            std::fs::write(file, stopped).expect("throttle");
        }
    }

    fn start_disk(&self) {
        for (file, _, running) in &self.0 {
            std::fs::write(file, running).expect("lift the throttle");
        }
    }
}

impl Throttle {
    /// A fresh cgroup able to throttle I/O to the disk under `data_dir`, or why there is none.
    fn new(name: &str, data_dir: &Path) -> Result<Throttle, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("needs root (to make a cgroup and throttle its I/O)".into());
        }
        let dev = disk_of(data_dir)?;
        let v1 = Path::new("/sys/fs/cgroup/blkio");
        if v1.join("blkio.throttle.write_iops_device").exists() {
            let dir = v1.join(name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            let knob = |f: &str| (dir.join(f), format!("{dev} 1"), format!("{dev} 0"));
            let knobs = vec![
                knob("blkio.throttle.write_iops_device"),
                knob("blkio.throttle.read_iops_device"),
            ];
            return Ok(Throttle {
                dir,
                knobs: Knobs(knobs),
            });
        }
        let v2 = Path::new("/sys/fs/cgroup");
        let controllers =
            std::fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "io") {
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+io");
            let dir = v2.join(name);
            std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
            if dir.join("io.max").exists() {
                let knobs = vec![(
                    dir.join("io.max"),
                    format!("{dev} riops=1 wiops=1"),
                    format!("{dev} riops=max wiops=max"),
                )];
                return Ok(Throttle {
                    dir,
                    knobs: Knobs(knobs),
                });
            }
            let _ = std::fs::remove_dir(&dir);
        }
        Err("no cgroup with block-I/O throttling (cgroup v1 blkio or v2 io)".into())
    }

    /// Moves process `pid` (every thread of it) into the cgroup.
    fn join(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).expect("join the cgroup");
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        for (file, _, running) in &self.knobs.0 {
            let _ = std::fs::write(file, running);
        }
        // Empty once the broker is gone (the test drops it first).
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// `MAJOR:MINOR` of the whole disk holding `dir` (throttle rules name a disk, not a partition).
fn disk_of(dir: &Path) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let sys = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    if !sys.exists() {
        return Err(format!(
            "{} is not on a block device ({major}:{minor})",
            dir.display()
        ));
    }
    if sys.join("partition").exists() {
        let parent = std::fs::read_to_string(sys.join("../dev"))
            .map_err(|e| format!("the disk of partition {major}:{minor}: {e}"))?;
        return Ok(parent.trim().to_string());
    }
    Ok(format!("{major}:{minor}"))
}

/// The broker on fresh data in `dir`, answering, in the throttle's cgroup.
fn start(dir: &Path, ports: (u16, u16), throttle: &Throttle, settings: &[&str]) -> BrokerProcess {
    let mut extra = strings(&["--shards", "2"]);
    extra.extend(sets(settings));
    let b =
        BrokerProcess::start_answering(dir, &dir.with_extension("log"), ports.0, ports.1, &extra);
    throttle.join(b.child.id());
    b
}

/// A connection to the broker on `ports`, with `topic` created.
async fn connect(ports: (u16, u16), topic: &str) -> std::rc::Rc<Conn> {
    topic_conn(ports.0, ports.1, topic, QUEUES, Duration::from_secs(20)).await
}

/// What the broker answered to each of a run of sends: its status, or the refusal's text.
type Answers = Vec<Result<SendStatus, String>>;

/// Sends `count` messages to `topic`, one every `every` (all in flight at once when zero), over
/// the queues in turn, and waits for every answer.
async fn send(conn: &Conn, topic: &str, first: usize, count: usize, every: Duration) -> Answers {
    let mut pending = Vec::new();
    for i in first..first + count {
        let body = format!("stall-{i}").into_bytes();
        pending.push(conn.send(&SendRequest {
            producer_group: "disk-stall-pg",
            topic,
            queue_id: (i % QUEUES as usize) as i32,
            born_timestamp_ms: now_ms(),
            properties: "",
            body: &body,
            batch: false,
        }));
        if !every.is_zero() {
            glommio::timer::sleep(every).await;
        }
    }
    let mut out = Vec::new();
    for p in pending {
        out.push(p.await.map(|r| r.status).map_err(|e| e.to_string()));
    }
    out
}

/// Each of `topic`'s queues' (min, max) offsets.
fn queue_offsets(broker_port: u16, topic: &'static str) -> Vec<(i64, i64)> {
    on_glommio(move || async move {
        let conn = Conn::connect(&addr(broker_port), Duration::from_secs(20))
            .await
            .unwrap();
        let mut out = Vec::new();
        for q in 0..QUEUES {
            let min = conn.min_offset(topic, q).await.unwrap();
            let max = conn.max_offset(topic, q).await.unwrap();
            out.push((min, max));
        }
        out
    })
}

/// Asserts that `topic` holds `expected` messages (the sum of its queues' max offsets). On a
/// mismatch the message shows each queue's offsets, the same a second later (a late view or a
/// loss?), and the broker's log.
fn assert_stored(broker: &BrokerProcess, topic: &'static str, expected: i64, what: &str) {
    let port = broker.ports[1];
    let first = queue_offsets(port, topic);
    let sum: i64 = first.iter().map(|(_, max)| max).sum();
    if sum == expected {
        return;
    }
    std::thread::sleep(Duration::from_secs(1));
    let later = queue_offsets(port, topic);
    panic!(
        "{what}: {sum} stored, {expected} expected\n(min, max) per queue: {first:?}, a second later: {later:?}\nbroker log:\n{}",
        broker.log_text()
    );
}

/// A fresh data directory `name` and its throttling cgroup, or `None` (saying why) without one.
fn prepare(name: &str) -> Option<(PathBuf, Throttle)> {
    let dir = test_dir(name);
    broker_process::fresh_dir(&dir);
    match Throttle::new(&format!("bolide-test-{name}"), &dir) {
        Ok(t) => Some((dir, t)),
        Err(why) => {
            eprintln!("disk_stall: skipped: {why}");
            None
        }
    }
}

#[test]
fn sync_flush_answers_flush_disk_timeout_while_the_disk_is_stopped_and_loses_nothing() {
    const TOPIC: &str = "DiskStallSync";
    let Some((dir, throttle)) = prepare("disk-stall-sync") else {
        return;
    };
    let mut broker = start(
        &dir,
        SYNC_PORTS,
        &throttle,
        &["flushDiskType=SYNC_FLUSH", "flush_timeout_ms=300"],
    );
    let knobs = throttle.knobs.clone();
    let (before, during, after) = on_glommio(move || async move {
        let conn = connect(SYNC_PORTS, TOPIC).await;
        let before = send(&conn, TOPIC, 0, 40, Duration::ZERO).await;
        knobs.stop_disk();
        // 40 sends over 2 s: at most a few I/Os pass the throttle meanwhile.
        let during = send(&conn, TOPIC, 40, 40, Duration::from_millis(50)).await;
        knobs.start_disk();
        let after = send(&conn, TOPIC, 80, 40, Duration::ZERO).await;
        (before, during, after)
    });
    assert!(
        before.iter().all(|a| a == &Ok(SendStatus::Ok)),
        "before the stall: {before:?}"
    );
    for a in &during {
        assert!(
            matches!(a, Ok(SendStatus::Ok) | Ok(SendStatus::FlushDiskTimeout)),
            "a send while the disk was stopped was refused: {a:?} (all: {during:?})"
        );
    }
    assert!(
        during.contains(&Ok(SendStatus::FlushDiskTimeout)),
        "no send waited past flush_timeout_ms while the disk took nothing: {during:?}"
    );
    assert!(
        after.iter().all(|a| a == &Ok(SendStatus::Ok)),
        "after the stall: {after:?}"
    );
    let answered = (before.len() + during.len() + after.len()) as i64;
    broker.kill_9_and_restart();
    assert_stored(
        &broker,
        TOPIC,
        answered,
        "every message answered SEND_OK or FLUSH_DISK_TIMEOUT is there after kill -9",
    );
    drop(broker);
    drop(throttle);
}

#[test]
fn async_flush_takes_every_send_while_the_disk_is_stopped_and_loses_nothing() {
    async_flush_then_stop("disk-stall-async", ASYNC_PORTS, libc::SIGTERM);
}

/// SIGHUP (a terminal closed on a broker started from it) stops the broker as SIGTERM does, as the
/// JVM's shutdown hooks stop RocketMQ's: without that, the write-behind died with the process.
#[test]
fn sighup_is_an_orderly_stop_too() {
    async_flush_then_stop("disk-stall-hup", HUP_PORTS, libc::SIGHUP);
}

fn async_flush_then_stop(name: &str, ports: (u16, u16), stop: i32) {
    const TOPIC: &str = "DiskStallAsync";
    let Some((dir, throttle)) = prepare(name) else {
        return;
    };
    let mut broker = start(&dir, ports, &throttle, &["flushDiskType=ASYNC_FLUSH"]);
    let knobs = throttle.knobs.clone();
    let during = on_glommio(move || async move {
        let conn = connect(ports, TOPIC).await;
        knobs.stop_disk();
        // 400 sends over 2 s.
        send(&conn, TOPIC, 0, 400, Duration::from_millis(5)).await
    });
    assert!(
        during.iter().all(|a| a == &Ok(SendStatus::Ok)),
        "ASYNC_FLUSH sends while the disk was stopped: {during:?}"
    );
    // An orderly stop asked while the writes are still held, then the disk comes back: the stop
    // writes what is behind; then everything is read back from the disk.
    broker.signal(stop);
    std::thread::sleep(Duration::from_millis(200));
    throttle.knobs.start_disk();
    broker.wait_exit();
    broker.restart();
    assert_stored(
        &broker,
        TOPIC,
        during.len() as i64,
        "every message answered SEND_OK is there after an orderly stop",
    );
    drop(broker);
    drop(throttle);
}
