//! Bad conditions on simulated files: a corrupted record in the middle of the log, a full disk, a
//! segment that cannot be opened, and retention.

#[path = "common/storage_helpers.rs"]
mod helpers;

use std::rc::Rc;

use bolide::clock::ManualClock;
use bolide::message;
use bolide::storage::sim::SimIo;
use bolide::storage::{
    FlushMode, MessageStore, PhysicalOffset, QueueOffset, StorageError, StoreConfig, StoreOptions,
};

fn cfg() -> StoreConfig {
    let mut c = StoreConfig::new("/sim".into(), 0);
    c.segment_size_bytes = 64 << 10;
    c.flush_mode = FlushMode::Sync;
    c.flush_interval_ms = 3_600_000;
    c.flush_timeout_ms = 3_600_000;
    c.cache_bytes_max = 0;
    c.record_size_max_bytes = 16 << 10;
    c
}

fn opts(sim: &SimIo) -> StoreOptions {
    let mut o = StoreOptions::default().with_io(Rc::new(sim.clone()));
    o.checkpoint_interval_ms = 3_600_000;
    o.retention_interval_ms = 3_600_000;
    o
}

fn seg_path(base: u64) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/sim/commitlog/{base:020}"))
}

fn run<F: std::future::Future<Output = ()> + 'static>(f: impl FnOnce() -> F + Send + 'static) {
    helpers::run(f)
}

#[test]
fn corrupted_middle_record_is_reported_and_skipped() {
    run(|| async {
        let sim = SimIo::new(1);
        let (store, _) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        let mut offs = Vec::new();
        for i in 0..30u32 {
            let r = store
                .append(helpers::msg(
                    "T",
                    0,
                    format!("body-{i}").as_bytes(),
                    "",
                    None,
                    "",
                ))
                .await
                .unwrap();
            offs.push(r.physical_offset);
        }
        // Before any checkpoint: recovery scans it all and finds the bad record.
        drop(store);
        let bad = offs[10];
        sim.poke(&seg_path(0), bad.0 + 90, b"X"); // inside the body: CRC mismatch
        let (store, rep) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        assert_eq!(rep.corrupted.len(), 1, "{rep:?}");
        assert_eq!(rep.corrupted[0].0, bad);
        assert_eq!(rep.truncated_bytes, 0);
        let es = store.queue_entries("T", 0, QueueOffset(0), 100);
        assert_eq!(es.len(), 29, "the bad record is kept out of the queue");
        assert!(es.iter().all(|e| e.queue_offset != QueueOffset(10)));
        for e in &es {
            let r = store.read_record(e.physical_offset).await.unwrap();
            let v = message::decode_record(&r, true).unwrap();
            assert_eq!(v.body, format!("body-{}", e.queue_offset.0).as_bytes());
        }
        assert_eq!(store.max_offset("T", 0), QueueOffset(30));
        // New appends continue after the last offset.
        let r = store
            .append(helpers::msg("T", 0, b"next", "", None, ""))
            .await
            .unwrap();
        assert_eq!(r.queue_offset, QueueOffset(30));
        // Corruption below the checkpoint (not rescanned) is reported on read, with its offset.
        store.close().await.unwrap();
        sim.poke(&seg_path(0), offs[20].0 + 90, b"Y");
        let (store, rep) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        assert_eq!(rep.records_scanned, 0);
        match store.read_record(offs[20]).await {
            Err(StorageError::Corrupted { offset, .. }) => assert_eq!(offset, offs[20]),
            other => panic!("expected Corrupted, got {other:?}"),
        }
        drop(store);
    });
}

#[test]
fn torn_tail_is_cut() {
    run(|| async {
        let sim = SimIo::new(2);
        let (store, _) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        let mut last = PhysicalOffset(0);
        for i in 0..5u32 {
            last = store
                .append(helpers::msg("T", 0, &vec![i as u8; 500], "", None, ""))
                .await
                .unwrap()
                .physical_offset;
        }
        drop(store);
        // Garbage in the last record: the tail (no valid record after it) is cut and zeroed.
        sim.poke(&seg_path(0), last.0 + 100, &[0xFF; 50]);
        let (store, rep) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        assert!(rep.corrupted.is_empty());
        assert!(rep.truncated_bytes > 0);
        assert_eq!(store.max_offset("T", 0), QueueOffset(4));
        assert_eq!(store.log_end(), last);
        drop(store);
    });
}

#[test]
fn disk_full_fails_cleanly_and_loses_nothing_acknowledged() {
    run(|| async {
        let sim = SimIo::new(3);
        let (store, _) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        // Room for the active segment and two more (consume-queue, index and checkpoint files are small).
        sim.set_capacity(Some(3 * (64 << 10) + 8192));
        let mut acked = 0u64;
        let mut err = None;
        for i in 0..1_000u32 {
            match store
                .append(helpers::msg("T", 0, &vec![i as u8; 1000], "", None, ""))
                .await
            {
                Ok(_) => acked += 1,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        let e = err.expect("the disk filled up");
        assert!(matches!(e, StorageError::DiskFull { .. }), "{e:?}");
        assert!(e.to_string().contains("/sim/commitlog/"), "{e}");
        // Later appends fail the same clean way.
        assert!(store
            .append(helpers::msg("T", 0, b"x", "", None, ""))
            .await
            .is_err());
        drop(store);
        sim.crash();
        sim.set_capacity(None);
        let (store, _) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        assert_eq!(store.max_offset("T", 0), QueueOffset(acked));
        for e in store.queue_entries("T", 0, QueueOffset(0), 10_000) {
            store.read_record(e.physical_offset).await.unwrap();
        }
        // And it appends again.
        store
            .append(helpers::msg("T", 0, b"again", "", None, ""))
            .await
            .unwrap();
        drop(store);
    });
}

#[test]
fn unopenable_segment_is_a_clear_error() {
    run(|| async {
        let sim = SimIo::new(4);
        let (store, _) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        store
            .append(helpers::msg("T", 0, b"x", "", None, ""))
            .await
            .unwrap();
        store.close().await.unwrap();
        sim.refuse_open("commitlog/00000000000000000000");
        let e = MessageStore::open_with(cfg(), opts(&sim))
            .await
            .err()
            .expect("open fails");
        let s = e.to_string();
        assert!(
            s.contains("open segment") && s.contains("/sim/commitlog/00000000000000000000"),
            "{s}"
        );
    });
}

#[test]
fn retention_deletes_old_segments_and_their_queue_entries() {
    run(|| async {
        let sim = SimIo::new(5);
        let clock = ManualClock::new(1_700_000_000_000);
        let opts = || opts(&sim).with_clock(Rc::new(clock.clone()));
        let mut c = cfg();
        c.retention_hours = 0;
        let (store, _) = MessageStore::open_with(c.clone(), opts()).await.unwrap();
        for i in 0..200u32 {
            store
                .append(helpers::msg(
                    "T",
                    0,
                    &vec![i as u8; 1000],
                    &format!("k{i}"),
                    None,
                    "",
                ))
                .await
                .unwrap();
        }
        let before = store.segment_bases().len();
        assert!(before >= 3);
        assert_eq!(
            store.run_retention().await.unwrap(),
            0,
            "no time has passed"
        );
        clock.advance(1);
        let n = store.run_retention().await.unwrap();
        assert_eq!(n, before - 1, "all but the active segment");
        let min = store.min_offset("T", 0);
        assert!(min.0 > 0);
        assert_eq!(store.max_offset("T", 0), QueueOffset(200));
        let first = store.queue_entries("T", 0, QueueOffset(0), 1)[0];
        assert_eq!(first.queue_offset, min);
        store.read_record(first.physical_offset).await.unwrap();
        assert!(matches!(
            store.read_record(PhysicalOffset(0)).await,
            Err(StorageError::NotFound { .. })
        ));
        assert!(store.lookup_key("T", "k0", 0, i64::MAX, 10).is_empty());
        assert_eq!(store.lookup_key("T", "k199", 0, i64::MAX, 10).len(), 1);
        store.close().await.unwrap();
        let (store, _) = MessageStore::open_with(c, opts()).await.unwrap();
        assert_eq!(store.min_offset("T", 0), min);
        assert_eq!(store.max_offset("T", 0), QueueOffset(200));
        drop(store);
    });
}

#[test]
fn retention_by_age_follows_the_injected_clock() {
    run(|| async {
        let sim = SimIo::new(6);
        let clock = ManualClock::new(1_700_000_000_000);
        let mut c = cfg();
        c.retention_hours = 72;
        c.disk_usage_max_percent = 100;
        let (store, _) = MessageStore::open_with(c, opts(&sim).with_clock(Rc::new(clock.clone())))
            .await
            .unwrap();
        for i in 0..200u32 {
            let r = store
                .append(helpers::msg("T", 0, &vec![i as u8; 1000], "", None, ""))
                .await
                .unwrap();
            assert_eq!(
                r.store_timestamp_ms, 1_700_000_000_000,
                "stamped by the clock"
            );
        }
        let before = store.segment_bases().len();
        assert!(before >= 3);
        clock.advance(71 * 3_600_000);
        assert_eq!(store.run_retention().await.unwrap(), 0, "younger than 72 h");
        clock.advance(2 * 3_600_000);
        assert_eq!(
            store.run_retention().await.unwrap(),
            before - 1,
            "all but the active segment"
        );
        let r = store
            .append(helpers::msg("T", 0, b"late", "", None, ""))
            .await
            .unwrap();
        assert_eq!(r.store_timestamp_ms, 1_700_000_000_000 + 73 * 3_600_000);
        assert_eq!(store.max_offset("T", 0), QueueOffset(201));
        drop(store);
    });
}

#[test]
fn full_disk_keeps_unconsumed_segments_unless_forced_and_refuses_appends_until_space_is_back() {
    run(|| async {
        let sim = SimIo::new(7);
        let mut c = cfg();
        c.disk_usage_max_percent = 80;
        c.disk_refuse_writes_percent = 95;
        let (store, _) = MessageStore::open_with(c.clone(), opts(&sim))
            .await
            .unwrap();
        for i in 0..200u32 {
            store
                .append(helpers::msg("T", 0, &vec![i as u8; 1000], "", None, ""))
                .await
                .unwrap();
        }
        let before = store.segment_bases().len();
        assert!(before >= 3);
        // Consumed up to 150: the segments wholly below it may go, the rest hold unconsumed messages.
        store.set_consumed_floors([("T".to_owned(), 0, QueueOffset(150))]);
        let floor_phys = store.queue_entries("T", 0, QueueOffset(150), 1)[0].physical_offset;
        sim.set_usage_percent(90);
        let n = store.run_retention().await.unwrap();
        let bases = store.segment_bases();
        assert_eq!(n, before - bases.len());
        assert!(n > 0, "consumed segments go when the disk is over the max");
        assert!(
            bases[0] <= floor_phys && floor_phys < bases[0] + c.segment_size_bytes,
            "the segment holding the floor is kept"
        );
        assert_eq!(store.forced_unconsumed_deleted(), 0);
        // Full: appends refused (reads go on), then taken again when usage drops.
        sim.set_usage_percent(96);
        store.check_disk_usage();
        assert_eq!(store.writes_refused_at(), Some(96));
        let e = store
            .append(helpers::msg("T", 0, b"refused", "", None, ""))
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            StorageError::DiskUsageHigh {
                usage_percent: 96,
                refuse_percent: 95
            }
        ));
        let e = store.queue_entries("T", 0, QueueOffset(150), 1)[0];
        store.read(e.physical_offset, e.size_bytes).await.unwrap();
        sim.set_usage_percent(94);
        store.check_disk_usage();
        assert_eq!(store.writes_refused_at(), None);
        let r = store
            .append(helpers::msg("T", 0, b"taken", "", None, ""))
            .await
            .unwrap();
        assert_eq!(r.queue_offset, QueueOffset(200));
        store.close().await.unwrap();

        // Forced deletion (cleanFileForciblyEnable): the unconsumed segments go too, counted.
        c.delete_unconsumed_when_full = true;
        let (store, _) = MessageStore::open_with(c.clone(), opts(&sim))
            .await
            .unwrap();
        store.set_consumed_floors([("T".to_owned(), 0, QueueOffset(150))]);
        sim.set_usage_percent(90);
        store.run_retention().await.unwrap();
        let min = store.min_offset("T", 0);
        assert!(min.0 > 150, "forced deletion went past the floor");
        assert_eq!(store.forced_unconsumed_deleted(), min.0 - 150);
        drop(store);
    });
}
