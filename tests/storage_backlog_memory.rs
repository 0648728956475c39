//! The memory bound of a backlog, asserted structurally (counters the store exposes, not timing):
//! whatever the number of stored messages, the consume queues hold in memory only their entries not yet
//! checkpointed and at most `cq_cache_bytes_max` of read blocks, and the key index only its open
//! file's slot table and unwritten entries. The backlog grows round after round while nobody consumes;
//! after each checkpoint the in-memory part is back to the same size; every entry and key stays
//! readable from the files, also after a crash and a restart that reads at most one index file.
//!
//! And the commit log's memory: the recent-data cache, the spare buffers and the appender's chunks
//! share `cache_bytes_max`; while the disk is behind (the simulation holds the log's writes) the
//! appender's chunks fill up to the back-pressure bound (at most half the budget) and the cache gives
//! way, checked after every append, then grows back once the writes complete.

#[path = "common/storage_helpers.rs"]
mod helpers;

use std::rc::Rc;

use bolide::storage::commitlog::CHUNK_BYTES;
use bolide::storage::index::IndexShape;
use bolide::storage::sim::SimIo;
use bolide::storage::{FlushMode, MessageStore, QueueOffset, StoreConfig, StoreOptions};

const QUEUES: u32 = 4;
const PER_ROUND: u64 = 3_000;
const ROUNDS: u64 = 6;
const CACHE_BYTES_MAX: usize = 16 << 10;
const SHAPE: IndexShape = IndexShape {
    slots: 512,
    entries_max: 2_048,
};

fn cfg() -> StoreConfig {
    let mut c = StoreConfig::new("/sim".into(), 0);
    c.segment_size_bytes = 1 << 20;
    c.flush_mode = FlushMode::Async;
    c.cache_bytes_max = 0;
    c.record_size_max_bytes = 16 << 10;
    c
}

fn opts(sim: &SimIo) -> StoreOptions {
    let mut o = StoreOptions::default().with_io(Rc::new(sim.clone()));
    o.checkpoint_interval_ms = 3_600_000;
    o.retention_interval_ms = 3_600_000;
    o.cq_file_entries = 1_024;
    o.cq_cache_bytes_max = CACHE_BYTES_MAX;
    o.index_shape = SHAPE;
    o
}

fn key(i: u64) -> String {
    format!("k{i}")
}

/// Reads every queue from the start and checks entries and a sample of keys.
fn check_all(store: &MessageStore, n: u64) {
    let mut total = 0;
    for q in 0..QUEUES {
        let mut from = QueueOffset(0);
        let mut expect_phys = None;
        loop {
            let es = store.queue_entries("T", q, from, 97);
            if es.is_empty() {
                break;
            }
            for e in &es {
                assert!(
                    expect_phys < Some(e.physical_offset),
                    "physical offsets in order"
                );
                expect_phys = Some(e.physical_offset);
                assert_eq!(e.queue_offset, from, "dense queue offsets");
                from += 1;
            }
            total += es.len() as u64;
        }
    }
    assert_eq!(total, n, "every entry readable");
    for i in (0..n).step_by(n as usize / 37 + 1).chain([0, n - 1]) {
        let hits = store.lookup_key("T", &key(i), 0, i64::MAX, 4);
        assert_eq!(hits.len(), 1, "key {} found once among {n}", key(i));
    }
}

#[test]
fn derived_memory_does_not_grow_with_the_backlog() {
    helpers::run(|| async {
        let sim = SimIo::new(7);
        let (store, _) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        let mut n = 0u64;
        let mut after_round = Vec::new();
        for _ in 0..ROUNDS {
            for _ in 0..PER_ROUND {
                let q = (n % u64::from(QUEUES)) as u32;
                store
                    .append(helpers::msg("T", q, &[7u8; 100], &key(n), None, ""))
                    .await
                    .unwrap();
                n += 1;
            }
            let before = store.derived_memory();
            assert_eq!(
                before.consume_queues.pending_entries as u64, PER_ROUND,
                "before the checkpoint: this round's entries"
            );
            store.flush().await.unwrap();
            store.checkpoint().await.unwrap();
            check_all(&store, n);
            let m = store.derived_memory();
            assert_eq!(m.consume_queues.pending_entries, 0, "{m:?}");
            assert!(m.consume_queues.cache_bytes <= CACHE_BYTES_MAX, "{m:?}");
            assert_eq!(m.index.pending_entries, 0, "{m:?}");
            assert_eq!(m.index.open_files, 1, "full files are sealed: {m:?}");
            assert_eq!(m.index.slot_bytes, SHAPE.slots as usize * 4, "{m:?}");
            assert!(
                m.index.sealed_files as u64 <= n / u64::from(SHAPE.entries_max),
                "{m:?}"
            );
            after_round.push((
                m.consume_queues.pending_entries,
                m.consume_queues.cache_bytes_max,
                m.index.slot_bytes,
                m.index.pending_entries,
            ));
        }
        // The backlog grew ROUNDS times; what memory holds did not.
        assert!(
            after_round.windows(2).all(|w| w[0] == w[1]),
            "{after_round:?}"
        );
        assert!(
            n * 20 > 4 * CACHE_BYTES_MAX as u64,
            "the backlog's entries are several times the cache"
        );

        // Half a round more, then a crash: recovery reads at most the open index file.
        for _ in 0..PER_ROUND / 2 {
            let q = (n % u64::from(QUEUES)) as u32;
            store
                .append(helpers::msg("T", q, &[7u8; 100], &key(n), None, ""))
                .await
                .unwrap();
            n += 1;
        }
        store.flush().await.unwrap();
        drop(store);
        sim.crash();
        let (store, report) = MessageStore::open_with(cfg(), opts(&sim)).await.unwrap();
        assert_eq!(
            report.records_scanned,
            PER_ROUND / 2,
            "only the tail rescanned"
        );
        assert!(
            report.dispatch_bytes_read <= u64::from(SHAPE.entries_max) * 28 + 4096 * 64,
            "derived bytes read at start {}",
            report.dispatch_bytes_read
        );
        check_all(&store, n);
        assert!(store.derived_memory().consume_queues.cache_bytes <= CACHE_BYTES_MAX);
        store.close().await.unwrap();
    });
}

/// Per-shard budget of the log-memory test, and its record body.
const BUDGET: usize = 16 << 20;
const BODY: usize = 1_000;
const BATCH: usize = 16;

fn body(i: u64) -> Vec<u8> {
    (0..BODY).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// Appends `batches` batches of `BATCH` records to queue 0 from record `first` on, checking the
/// log's memory after each; bumps `done` per batch.
async fn fill(store: &MessageStore, first: u64, batches: u64, done: &std::cell::Cell<u64>) {
    for b in 0..batches {
        let msgs = (0..BATCH as u64)
            .map(|k| {
                let i = first + b * BATCH as u64 + k;
                helpers::msg("L", 0, &body(i), "", None, "")
            })
            .collect();
        store.append_batch(msgs).await.unwrap();
        done.set(done.get() + 1);
        let (m, copies) = store.log_memory();
        assert!(m.total() <= BUDGET, "over the budget after a batch: {m:?}");
        assert!(
            copies <= bolide::storage::WRITES_IN_FLIGHT_MAX * CHUNK_BYTES,
            "write copies {copies}"
        );
    }
}

#[test]
fn log_memory_stays_within_the_cache_budget_while_the_disk_is_behind() {
    helpers::run(|| async {
        let sim = SimIo::new(11);
        let mut c = cfg();
        c.segment_size_bytes = 8 << 20;
        c.cache_bytes_max = BUDGET;
        c.record_size_max_bytes = 64 << 10;
        let (store, _) = MessageStore::open_with(c, opts(&sim)).await.unwrap();
        let bound = store.unwritten_bytes_max();
        assert_eq!(
            bound,
            (BUDGET / 2) as u64,
            "half the budget (64 MiB configured)"
        );
        let store = Rc::new(store);
        let done = Rc::new(std::cell::Cell::new(0u64));
        let per_batch = (BATCH * BODY) as u64;

        // 1. The disk keeps up: the cache fills what the budget leaves.
        let first_batches = 3 * BUDGET as u64 / 2 / per_batch;
        fill(&store, 0, first_batches, &done).await;
        store.flush().await.unwrap();
        let (m, _) = store.log_memory();
        assert!(
            m.cache_bytes + m.chunk_bytes + m.spare_bytes >= BUDGET - 2 * CHUNK_BYTES,
            "the cache uses the budget: {m:?}"
        );

        // 2. The disk falls behind: the appender's chunks fill to the back-pressure bound, the
        // appends then wait, and the cache shrank to what the chunks leave of the budget.
        // Everything below `written` is on disk (flushed); nothing more will be while writes are held,
        // so the appends stop at the first batch that leaves more than `bound` unwritten.
        let written = store.durable_offset();
        assert_eq!(written, store.log_end());
        sim.hold_log_writes(true);
        let n1 = first_batches * BATCH as u64;
        let more = 2 * bound / per_batch;
        let appender = {
            let (store, done) = (store.clone(), done.clone());
            glommio::spawn_local(async move { fill(&store, n1, more, &done).await })
        };
        let mut waited = 0;
        while store.log_end() - written <= bound {
            assert!(
                waited < 30_000,
                "the chunks never filled: {:?}, batches {} of {}, unwritten {}, segments {:?}",
                store.log_memory(),
                done.get(),
                first_batches + more,
                store.log_end() - written,
                store.segment_bases()
            );
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
            waited += 1;
        }
        let stuck_at = done.get();
        glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            done.get(),
            stuck_at,
            "appends wait while nothing is written"
        );
        assert!(
            stuck_at < first_batches + more,
            "the appender is blocked, not finished"
        );
        let (m, _) = store.log_memory();
        assert!(
            m.chunk_bytes as u64 <= bound + (2 * CHUNK_BYTES) as u64 + per_batch,
            "the chunks are bounded: {m:?}"
        );
        assert!(m.total() <= BUDGET, "{m:?}");
        assert!(
            m.cache_bytes >= BUDGET - m.chunk_bytes - 2 * CHUNK_BYTES,
            "the cache keeps the rest: {m:?}"
        );

        // 3. The disk catches up: every append completes, the cache grows back.
        sim.hold_log_writes(false);
        appender.await;
        assert_eq!(done.get(), first_batches + more);
        store.flush().await.unwrap();
        let (m, _) = store.log_memory();
        assert!(m.total() <= BUDGET, "{m:?}");
        assert!(m.chunk_bytes <= 2 * CHUNK_BYTES, "written: {m:?}");
        assert!(
            m.cache_bytes >= BUDGET - 4 * CHUNK_BYTES,
            "the cache grew back: {m:?}"
        );

        // Every record reads back whole, from the cache or the disk.
        let n = (first_batches + more) * BATCH as u64;
        let mut from = QueueOffset(0);
        while from.get() < n {
            let es = store.queue_entries("L", 0, from, 256);
            assert!(!es.is_empty(), "entries end at {}", from.get());
            for e in es {
                let r = store.read(e.physical_offset, e.size_bytes).await.unwrap();
                let v = bolide::message::decode_record(&r, true).unwrap();
                assert_eq!(
                    v.body,
                    &body(e.queue_offset.get())[..],
                    "record {}",
                    e.queue_offset.get()
                );
                from += 1;
            }
        }
        assert_eq!(from.get(), n);
        Rc::try_unwrap(store).ok().unwrap().close().await.unwrap();
    });
}

/// `write_behind_bytes_max` sets the back-pressure bound the test above holds the appender to:
/// taken as given between the writes in flight and half the budget, cut to those ends outside
/// them, 64 MiB (cut the same way) when unset.
#[test]
fn the_write_behind_setting_is_the_back_pressure_bound() {
    helpers::run(|| async {
        const MIB: u64 = 1 << 20;
        let budget = 128 * MIB;
        let min = (bolide::storage::WRITES_IN_FLIGHT_MAX * CHUNK_BYTES) as u64;
        let rows: [(Option<u64>, u64); 5] = [
            (None, 64 * MIB),
            (Some(16 * MIB), 16 * MIB),
            (Some(64 * MIB), 64 * MIB),
            (Some(budget), budget / 2),
            (Some(1), min),
        ];
        for (i, (setting, want)) in rows.into_iter().enumerate() {
            let sim = SimIo::new(12 + i as u64);
            let mut c = cfg();
            c.segment_size_bytes = 8 << 20;
            c.cache_bytes_max = budget as usize;
            c.record_size_max_bytes = 64 << 10;
            c.write_behind_bytes_max = setting;
            let (store, _) = MessageStore::open_with(c, opts(&sim)).await.unwrap();
            assert_eq!(store.unwritten_bytes_max(), want, "row {i}: {setting:?}");
            store.close().await.unwrap();
        }
    });
}
