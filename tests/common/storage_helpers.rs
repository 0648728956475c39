//! Shared helpers of the storage tests: building records, running on a glommio executor, data dirs on a
//! real filesystem (O_DIRECT is refused by tmpfs and overlayfs).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;

use bolide::message::{self, properties::Properties, NewRecord, RecordView};
use bolide::storage::{
    AppendMessage, FlushMode, MessageStore, QueueEntry, QueueOffset, StoreConfig,
};
use bytes::BytesMut;

pub fn store_host() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 10911)
}

/// An encoded message of `topic`/`queue_id` with `body`, KEYS `keys` (space-separated) and an
/// optional tag; UNIQ_KEY is `uniq`.
pub fn msg(
    topic: &str,
    queue_id: u32,
    body: &[u8],
    keys: &str,
    tag: Option<&str>,
    uniq: &str,
) -> AppendMessage {
    let mut p = Properties::default();
    if !keys.is_empty() {
        p.set("KEYS", keys);
    }
    if let Some(t) = tag {
        p.set("TAGS", t);
    }
    if !uniq.is_empty() {
        p.set("UNIQ_KEY", uniq);
    }
    let props = p.to_wire();
    let mut out = BytesMut::new();
    message::encode_record(
        &NewRecord {
            queue_id,
            flag: 0,
            sys_flag: 0,
            born_timestamp_ms: 1,
            born_host: store_host(),
            store_host: store_host(),
            reconsume_times: 0,
            prepared_tx_offset: 0,
            body,
            topic,
            properties: &props,
        },
        &mut out,
    )
    .expect("encode");
    AppendMessage {
        record: out,
        topic: topic.to_owned(),
        queue_id,
        tags_code: message::tags_code(topic, tag),
        keys: message::properties::index_keys(&props)
            .into_iter()
            .map(str::to_owned)
            .collect(),
    }
}

/// A fresh directory under the integration-test tmp dir (a real filesystem), checked for O_DIRECT.
pub fn data_dir(name: &str) -> PathBuf {
    let d =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create test dir");
    check_o_direct(&d);
    d
}

fn check_o_direct(d: &std::path::Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let p = d.join(".o_direct_probe");
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&p);
    let _ = std::fs::remove_file(&p);
    if let Err(e) = r {
        panic!(
            "O_DIRECT refused in {} ({e}): storage tests need a real filesystem (not tmpfs/overlayfs); \
             set CARGO_TARGET_DIR to a directory on one",
            d.display()
        );
    }
}

pub fn config(dir: PathBuf, mode: FlushMode) -> StoreConfig {
    let mut c = StoreConfig::new(dir, 0);
    c.segment_size_bytes = 256 << 10;
    c.flush_mode = mode;
    c.flush_interval_ms = 20;
    c.cache_bytes_max = 1 << 20;
    c.record_size_max_bytes = 64 << 10;
    c
}

/// Runs `f` on a fresh glommio executor and returns its output.
pub fn run<T: Send + 'static, F, Fut>(f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move { f().await })
        .expect("spawn executor")
        .join()
        .expect("executor thread")
}

/// Reads queue 0 of `topic` from offset 0 to its end, `batch` entries at a time, and hands `each`
/// every entry with its record, decoded with its CRC checked (a record that fails fails the test).
/// The kill -9 tests read back what a crashed process left this way.
pub async fn for_each_record(
    store: &MessageStore,
    topic: &str,
    batch: usize,
    mut each: impl FnMut(&QueueEntry, &RecordView<'_>),
) {
    let mut from = QueueOffset(0);
    loop {
        let es = store.queue_entries(topic, 0, from, batch);
        let Some(last) = es.last() else { break };
        from = QueueOffset(last.queue_offset.0 + 1);
        for e in es {
            let rec = store
                .read(e.physical_offset, e.size_bytes)
                .await
                .expect("read");
            let v = message::decode_record(&rec, true).expect("record intact");
            each(&e, &v);
        }
    }
}

/// The id a kill -9 test writes in the first 8 bytes (big-endian) of each body.
pub fn body_id(body: &[u8]) -> u64 {
    u64::from_be_bytes(body[..8].try_into().unwrap())
}

/// Re-runs this test binary as a child process that runs only `test_name`, with `env_key` set to
/// `dir`, and streams the child's stdout lines: the kill -9 tests drive a real process and read what
/// it acknowledged. The reader thread ends when the child's stdout closes.
pub fn spawn_self(
    test_name: &str,
    env_key: &str,
    dir: &Path,
) -> (Child, Receiver<String>, JoinHandle<()>) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(env_key, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx, reader)
}
