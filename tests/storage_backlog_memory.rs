//! The memory bound of a backlog, asserted structurally (counters the store exposes, not timing):
//! whatever the number of stored messages, the consume queues hold in memory only their entries not yet
//! checkpointed and at most `cq_cache_bytes_max` of read blocks, and the key index only its open
//! file's slot table and unwritten entries. The backlog grows round after round while nobody consumes;
//! after each checkpoint the in-memory part is back to the same size; every entry and key stays
//! readable from the files, also after a crash and a restart that reads at most one index file.

#[path = "common/storage_helpers.rs"]
mod helpers;

use std::rc::Rc;

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
