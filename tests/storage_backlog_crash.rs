//! kill -9 of a real process holding a backlog many times its recent-data cache: every acknowledged
//! record must be back, and recovery must have read only the log written since the last checkpoint
//! (plus a fixed look-ahead past the end), not the backlog: the store reports the bytes it read.
//!
//! The test re-runs its own binary as the child (`BOLIDE_BACKLOG_CHILD=<dir>`): the child fills the
//! backlog with async appends, flushes, checkpoints and prints `filled <records> <log end>`, then
//! appends on with a flush after each append, printing `ack <queue offset> <id>` once it is durable,
//! until killed.

#[path = "common/storage_helpers.rs"]
mod helpers;

use std::cell::Cell;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide::storage::recovery::lookahead_read_bytes_max;
use bolide::storage::{FlushMode, MessageStore, StoreConfig};

const CHILD_ENV: &str = "BOLIDE_BACKLOG_CHILD";
const TEST_NAME: &str = "kill_9_with_a_backlog_recovers_every_ack_reading_only_the_tail";
const SEGMENT_BYTES: u64 = 16 << 20;
const CACHE_BYTES: usize = 4 << 20;
const RECORD_MAX_BYTES: usize = 64 << 10;
/// Records in the backlog (1 KiB bodies: ~64 MB, sixteen times the cache).
const BACKLOG_RECORDS: u64 = 60_000;
const TOPIC: &str = "Backlog";

fn cfg(dir: PathBuf) -> StoreConfig {
    let mut c = StoreConfig::new(dir, 0);
    c.segment_size_bytes = SEGMENT_BYTES;
    c.flush_mode = FlushMode::Async;
    c.flush_interval_ms = 50;
    c.cache_bytes_max = CACHE_BYTES;
    c.record_size_max_bytes = RECORD_MAX_BYTES;
    c
}

fn body(id: u64) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend((0..1016).map(|i| (id as usize * 13 + i) as u8));
    b
}

fn child(dir: PathBuf) {
    helpers::run(move || async move {
        let (store, _) = MessageStore::open(cfg(dir)).await.expect("open");
        let store = Rc::new(store);
        let next = Rc::new(Cell::new(0u64));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (store, next) = (store.clone(), next.clone());
            tasks.push(glommio::spawn_local(async move {
                loop {
                    let id = next.get();
                    if id >= BACKLOG_RECORDS {
                        return;
                    }
                    next.set(id + 1);
                    let m = helpers::msg(TOPIC, 0, &body(id), "", None, "");
                    store.append(m).await.expect("append");
                }
            }));
        }
        for t in tasks {
            t.await;
        }
        store.flush().await.expect("flush");
        store.checkpoint().await.expect("checkpoint");
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "filled {} {}", next.get(), store.log_end().get());
            let _ = out.flush();
        }
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (store, next) = (store.clone(), next.clone());
            tasks.push(glommio::spawn_local(async move {
                loop {
                    let id = next.get();
                    next.set(id + 1);
                    let m = helpers::msg(TOPIC, 0, &body(id), "", None, "");
                    let r = store.append(m).await.expect("append");
                    store.flush().await.expect("flush");
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "ack {} {id}", r.queue_offset.0);
                    let _ = out.flush();
                }
            }));
        }
        for t in tasks {
            t.await;
        }
    });
}

#[test]
fn kill_9_with_a_backlog_recovers_every_ack_reading_only_the_tail() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(PathBuf::from(dir));
        return;
    }
    let dir = helpers::data_dir("backlog-crash");
    let (mut child, rx, reader) = helpers::spawn_self(TEST_NAME, CHILD_ENV, &dir);
    let mut filled = None;
    let mut acks: Vec<(u64, u64)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    // Let the child fill the backlog, then append durably for a while (past a background
    // checkpoint), then kill -9 it mid-flight.
    let mut acked_since = None;
    while Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
            if acked_since.is_some_and(|t: Instant| t.elapsed() > Duration::from_millis(1500)) {
                break;
            }
            continue;
        };
        // libtest may print "test <name> ... " on the same line before the child's first line.
        let line = line.find("filled ").map_or(line.as_str(), |i| &line[i..]);
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["filled", n, end] => {
                filled = Some((n.parse::<u64>().unwrap(), end.parse::<u64>().unwrap()));
            }
            ["ack", q, id] => {
                acks.push((q.parse().unwrap(), id.parse().unwrap()));
                acked_since.get_or_insert_with(Instant::now);
            }
            _ => {}
        }
        if acked_since.is_some_and(|t| t.elapsed() > Duration::from_millis(1500)) {
            break;
        }
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    // Acks printed before the kill are still in the pipe.
    let _ = reader.join();
    while let Ok(line) = rx.try_recv() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let ["ack", q, id] = f.as_slice() {
            acks.push((q.parse().unwrap(), id.parse().unwrap()));
        }
    }
    let (filled_n, filled_end) = filled.expect("the child filled its backlog");
    assert!(
        !acks.is_empty(),
        "the child acknowledged nothing after the fill"
    );

    let d = dir.clone();
    let (stored, report, second) = helpers::run(move || async move {
        let (store, report) = MessageStore::open(cfg(d.clone()))
            .await
            .expect("reopen after kill -9");
        let mut stored = HashMap::new();
        helpers::for_each_record(&store, TOPIC, 4096, |e, v| {
            assert_eq!(v.queue_offset, e.queue_offset.0);
            let id = helpers::body_id(v.body);
            assert_eq!(v.body, body(id).as_slice(), "body of id {id}");
            stored.insert(e.queue_offset.0, id);
        })
        .await;
        store.close().await.expect("close");
        // After a clean close nothing is scanned but the partial last page.
        let (store, second) = MessageStore::open(cfg(d)).await.expect("clean reopen");
        store.close().await.expect("close");
        (stored, report, second)
    });

    // The fill's appenders run concurrently: ids and queue offsets need not match, but every id is there.
    let ids: std::collections::HashSet<u64> = stored.values().copied().collect();
    for id in 0..filled_n {
        assert!(ids.contains(&id), "backlog record id {id} lost");
    }
    for (q, id) in &acks {
        assert_eq!(
            stored.get(q),
            Some(id),
            "acknowledged record (queue offset {q}, id {id}) lost; {} acked",
            acks.len()
        );
    }
    let backlog = report.end.get() - (report.end.get() >> 48 << 48);
    let tail = report.end - report.scan_start;
    // Segment files after the end's: at most the pre-allocated one (deleted by recovery if empty).
    let bound = tail + lookahead_read_bytes_max(RECORD_MAX_BYTES as u64, SEGMENT_BYTES, 2);
    eprintln!(
        "backlog {backlog} B, {filled_n} filled + {} acked, checkpoint-to-end {tail} B, \
         log bytes read {} (bound {bound}), dispatch bytes read {}; clean reopen read {}",
        acks.len(),
        report.log_bytes_read,
        report.dispatch_bytes_read,
        second.log_bytes_read
    );
    assert!(
        report.scan_start.get() >= filled_end,
        "the scan started at {} before the checkpoint taken at {filled_end}",
        report.scan_start
    );
    assert!(
        report.log_bytes_read <= bound,
        "recovery read {} log bytes; written since the checkpoint {tail}, bound {bound}",
        report.log_bytes_read
    );
    assert!(
        report.log_bytes_read < backlog / 4,
        "recovery read {} of a {backlog}-byte log",
        report.log_bytes_read
    );
    assert_eq!(
        second.scan_start, second.end,
        "clean close: nothing to scan"
    );
    assert!(
        second.log_bytes_read
            <= lookahead_read_bytes_max(RECORD_MAX_BYTES as u64, SEGMENT_BYTES, 2)
    );
    let _ = std::fs::remove_dir_all(dir);
}
