//! The store on real O_DIRECT files: append in both flush modes, read back from cache and disk, roll
//! segments, consume queues, time lookup, key index, close and reopen, drop (crash) and reopen.

#[path = "common/storage_helpers.rs"]
mod helpers;

use bolide::message;
use bolide::storage::{AppendStatus, FlushMode, MessageStore, PhysicalOffset, QueueOffset};
use helpers::{config, data_dir, msg, run};

fn body(i: u32) -> Vec<u8> {
    let n = 50 + (i as usize * 37) % 3000;
    (0..n).map(|j| (i as usize + j) as u8).collect()
}

async fn check_all(store: &MessageStore, n: u32) {
    for q in 0..2u32 {
        let entries = store.queue_entries("T", q, QueueOffset(0), 10_000);
        let expect: Vec<u32> = (0..n).filter(|i| i % 2 == q).collect();
        assert_eq!(entries.len(), expect.len(), "queue {q}");
        for (e, i) in entries.iter().zip(expect) {
            let rec = store
                .read(e.physical_offset, e.size_bytes)
                .await
                .expect("read");
            let v = message::decode_record(&rec, true).expect("decode");
            assert_eq!(v.body, &body(i)[..], "message {i}");
            assert_eq!(v.queue_offset, e.queue_offset.0);
            assert_eq!(v.physical_offset, e.physical_offset.0);
            let whole = store
                .read_record(e.physical_offset)
                .await
                .expect("read_record");
            assert_eq!(whole, rec);
        }
    }
}

fn scenario(mode: FlushMode, name: &'static str) {
    let dir = data_dir(name);
    let d = dir.clone();
    run(move || async move {
        let mut cfg = config(d, mode);
        cfg.cache_bytes_max = 64 << 10; // small: most reads go to disk
        let (store, rep) = MessageStore::open(cfg.clone()).await.expect("open");
        assert_eq!(rep.records_scanned, 0);
        let n = 400u32;
        let mut last = None;
        for i in 0..n {
            let key = format!("k{i}");
            let r = store
                .append(msg(
                    "T",
                    i % 2,
                    &body(i),
                    &key,
                    Some("TagA"),
                    &format!("U{i}"),
                ))
                .await
                .expect("append");
            assert_eq!(r.status, AppendStatus::Ok);
            assert_eq!(r.queue_offset, QueueOffset(u64::from(i / 2)));
            if let Some(p) = last {
                assert!(r.physical_offset > p);
            }
            last = Some(r.physical_offset);
        }
        assert!(
            store.segment_bases().len() > 2,
            "rolled over several segments"
        );
        assert_eq!(store.max_offset("T", 0), QueueOffset(200));
        assert_eq!(store.min_offset("T", 0), QueueOffset(0));
        assert_eq!(store.max_offset("nope", 0), QueueOffset(0));
        check_all(&store, n).await;
        let hits = store.lookup_key("T", "k7", 0, i64::MAX, 10);
        assert_eq!(hits.len(), 1);
        let v = store.read_record(hits[0]).await.unwrap();
        assert_eq!(message::decode_record(&v, true).unwrap().body, &body(7)[..]);
        assert_eq!(store.lookup_key("T", "U9", 0, i64::MAX, 10).len(), 1);
        assert!(store.lookup_key("U", "k7", 0, i64::MAX, 10).is_empty());
        assert_eq!(
            store.offset_by_time("T", 0, 0).await.unwrap(),
            QueueOffset(0)
        );
        assert_eq!(
            store.offset_by_time("T", 0, i64::MAX).await.unwrap(),
            QueueOffset(200)
        );
        let e = store.queue_entries("T", 1, QueueOffset(50), 1)[0];
        let ts = {
            let r = store.read_record(e.physical_offset).await.unwrap();
            message::decode_record(&r, false)
                .unwrap()
                .store_timestamp_ms
        };
        let at = store.offset_by_time("T", 1, ts).await.unwrap();
        assert!(at <= QueueOffset(50));
        let first_ts = store.earliest_store_time("T", 0).await.unwrap().unwrap();
        assert!(first_ts <= ts);
        assert_eq!(
            store.queues(),
            vec![("T".to_owned(), 0), ("T".to_owned(), 1)]
        );
        assert!(matches!(
            store.read(PhysicalOffset(store.log_end().0 + 10), 5).await,
            Err(bolide::storage::StorageError::NotFound { .. })
        ));
        store.close().await.expect("close");

        // Clean reopen: nothing rescanned, everything there.
        let (store, rep) = MessageStore::open(cfg.clone()).await.expect("reopen");
        assert_eq!(rep.records_scanned, 0, "clean close needs no rescan");
        assert!(rep.corrupted.is_empty());
        check_all(&store, n).await;
        assert_eq!(store.lookup_key("T", "k399", 0, i64::MAX, 10).len(), 1);
        // Append more, then "crash" (drop without close) after a flush.
        for i in n..n + 100 {
            store
                .append(msg("T", i % 2, &body(i), &format!("k{i}"), None, ""))
                .await
                .unwrap();
        }
        store.flush().await.unwrap();
        drop(store);
        let (store, rep) = MessageStore::open(cfg).await.expect("reopen after crash");
        assert!(rep.corrupted.is_empty());
        check_all(&store, n + 100).await;
        assert_eq!(store.lookup_key("T", "k450", 0, i64::MAX, 10).len(), 1);
        store.close().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn async_flush_round_trip() {
    scenario(FlushMode::Async, "basic-async");
}

#[test]
fn sync_flush_round_trip() {
    scenario(FlushMode::Sync, "basic-sync");
}

#[test]
fn batch_gets_consecutive_offsets() {
    let dir = data_dir("basic-batch");
    let d = dir.clone();
    run(move || async move {
        let (store, _) = MessageStore::open(config(d, FlushMode::Sync))
            .await
            .unwrap();
        store
            .append(msg("B", 3, b"first", "", None, ""))
            .await
            .unwrap();
        let batch: Vec<_> = (0..10)
            .map(|i| msg("B", 3, format!("m{i}").as_bytes(), "", None, ""))
            .collect();
        let rs = store.append_batch(batch).await.unwrap();
        for (i, r) in rs.iter().enumerate() {
            assert_eq!(r.queue_offset, QueueOffset(1 + i as u64));
            if i > 0 {
                assert_eq!(
                    r.physical_offset.0,
                    rs[i - 1].physical_offset.0 + u64::from(rs[i - 1].size_bytes)
                );
            }
        }
        // A multi-record read returns whole records back to back.
        let all = store
            .read(rs[0].physical_offset, rs.iter().map(|r| r.size_bytes).sum())
            .await
            .unwrap();
        let v = message::decode_record(&all, true).unwrap();
        assert_eq!(v.body, b"m0");
        store.close().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(dir);
}
