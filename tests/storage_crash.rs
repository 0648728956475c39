//! kill -9 of a real SYNC_FLUSH appender process (`bolide-storage-bench append-forever`) on the real
//! filesystem: every record it acknowledged (printed `ack <queue offset> <payload id> <size>` after the
//! append resolved) must be there, intact (body CRC), after reopening the store.

#[path = "common/storage_helpers.rs"]
mod helpers;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bolide::storage::{FlushMode, MessageStore, StoreConfig};

#[test]
fn kill_9_loses_no_acknowledged_record() {
    let dir = helpers::data_dir("crash");
    for round in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bolide-storage-bench"))
            .args([
                "append-forever",
                "--flush",
                "sync",
                "--segment-size-bytes",
                "1048576",
                "--dir",
            ])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn bolide-storage-bench");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() == 4 && f[0] == "ack" {
                    acks.push((f[1].parse::<u64>().unwrap(), f[2].parse::<u64>().unwrap()));
                }
            }
            acks
        });
        // Let it run (and roll segments) for a while, then kill -9 mid-flight.
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(1500));
        child.kill().expect("kill -9");
        let _ = child.wait();
        let acks = reader.join().expect("reader");
        assert!(
            !acks.is_empty(),
            "round {round}: the appender acknowledged nothing in {:?}",
            start.elapsed()
        );

        let d = dir.clone();
        let (stored, report) = helpers::run(move || async move {
            let mut cfg = StoreConfig::new(d, 0);
            cfg.segment_size_bytes = 1 << 20;
            cfg.flush_mode = FlushMode::Sync;
            let (store, report) = MessageStore::open(cfg).await.expect("reopen after kill -9");
            let mut stored = HashMap::new();
            helpers::for_each_record(&store, "BenchTopic", 4096, |e, v| {
                let id = helpers::body_id(v.body);
                assert_eq!(v.queue_offset, e.queue_offset.0);
                stored.insert(e.queue_offset.0, id);
            })
            .await;
            store.close().await.expect("close");
            (stored, format!("{report:?}"))
        });
        for (qoff, id) in &acks {
            assert_eq!(
                stored.get(qoff),
                Some(id),
                "round {round}: acknowledged record (queue offset {qoff}, id {id}) lost; {} acked, {} stored; recovery {report}",
                acks.len(),
                stored.len()
            );
        }
        eprintln!(
            "round {round}: {} acknowledged, {} recovered; recovery {report}",
            acks.len(),
            stored.len()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
