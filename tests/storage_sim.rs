//! Property test of the store against an in-memory model, on simulated files: random sequences of
//! append / batch / flush / checkpoint / crash (power loss: unflushed bytes dropped, last write torn at a
//! 512 B sector) / clean reopen / deletion of the topic. After every crash, recovery must yield a prefix
//! of what was appended that contains everything acknowledged as durable, byte for byte, with queue
//! offsets intact, of which exactly the records appended after the last deletion are readable, and the
//! key index finds exactly the recovered records. Consume-queue and index files are small here, so
//! crashes land in the middle of their writes, file rolls and index seals too.
//!
//! Replay: a failing case prints its seed and operations (proptest's shrunk input). To run one seed:
//! `BOLIDE_SIM_SEED=<seed> cargo test --test storage_sim`; `BOLIDE_SIM_CASES=<n>` sets the case count.

#[path = "common/storage_helpers.rs"]
mod helpers;

use std::rc::Rc;

use bolide::message;
use bolide::storage::recovery::lookahead_read_bytes_max;
use bolide::storage::sim::SimIo;
use bolide::storage::{FlushMode, MessageStore, QueueOffset, StoreConfig, StoreOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        queue: u32,
        len: usize,
    },
    Batch {
        queue: u32,
        n: usize,
    },
    Flush,
    Checkpoint,
    Crash,
    Reopen,
    /// Deletes the topic's messages (`delete_topic`); appends go on to the same topic.
    Delete,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0u32..3, 1usize..6000).prop_map(|(queue, len)| Op::Append { queue, len }),
        2 => (0u32..3, 1usize..6).prop_map(|(queue, n)| Op::Batch { queue, n }),
        3 => Just(Op::Flush),
        1 => Just(Op::Checkpoint),
        2 => Just(Op::Crash),
        1 => Just(Op::Reopen),
        1 => Just(Op::Delete),
    ]
}

fn body(id: u64, len: usize) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend((0..len).map(|i| (id as usize * 31 + i) as u8));
    b
}

fn cfg(mode: FlushMode) -> StoreConfig {
    let mut c = StoreConfig::new("/sim".into(), 1);
    c.segment_size_bytes = 64 << 10;
    c.flush_mode = mode;
    // Timers never fire within a case: only the operations drive I/O, so a seed replays exactly.
    c.flush_interval_ms = 3_600_000;
    c.flush_timeout_ms = 3_600_000;
    c.cache_bytes_max = 32 << 10;
    c.record_size_max_bytes = 16 << 10;
    c
}

fn opts(sim: &SimIo) -> StoreOptions {
    let mut o = StoreOptions::default().with_io(Rc::new(sim.clone()));
    o.checkpoint_interval_ms = 3_600_000;
    o.retention_interval_ms = 3_600_000;
    o.cq_file_entries = 256;
    o.cq_cache_bytes_max = 16 << 10;
    o.index_shape = bolide::storage::index::IndexShape {
        slots: 16,
        entries_max: 32,
    };
    o
}

fn key(id: u64) -> String {
    format!("k{id}")
}

struct Model {
    /// (queue, id, len) in append order.
    appended: Vec<(u32, u64, usize)>,
    durable: usize,
    /// Records `appended[..deleted]` went with a deletion of the topic.
    deleted: usize,
    next_id: u64,
}

async fn check_recovered(store: &MessageStore, m: &mut Model) -> Result<(), TestCaseError> {
    // Queue offsets are dense from 0, so the maxima count every recovered record, deleted or not.
    let recovered: u64 = (0..3u32).map(|q| store.max_offset("S", q).0).sum();
    let recovered = recovered as usize;
    prop_assert!(
        recovered >= m.durable && recovered <= m.appended.len(),
        "recovered {} records; durable {}, appended {}",
        recovered,
        m.durable,
        m.appended.len()
    );
    // A crash that lost records appended before the deletion leaves only deleted ones.
    let deleted = m.deleted.min(recovered);
    let mut got = Vec::new();
    for q in 0..3u32 {
        for e in store.queue_entries("S", q, QueueOffset(0), usize::MAX) {
            let rec = store
                .read(e.physical_offset, e.size_bytes)
                .await
                .map_err(|e| TestCaseError::fail(format!("read: {e}")))?;
            let v = message::decode_record(&rec, true)
                .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
            let id = u64::from_be_bytes(v.body[..8].try_into().unwrap());
            got.push((
                e.physical_offset.0,
                q,
                id,
                v.body.to_vec(),
                e.queue_offset.0,
            ));
        }
    }
    got.sort_by_key(|g| g.0);
    prop_assert_eq!(
        got.len(),
        recovered - deleted,
        "readable records: {} recovered, {} of them deleted",
        recovered,
        deleted
    );
    let mut per_queue = [0u64; 3];
    for &(q, _, _) in &m.appended[..deleted] {
        per_queue[q as usize] += 1;
    }
    for q in 0..3u32 {
        prop_assert_eq!(
            store.min_offset("S", q).0,
            per_queue[q as usize],
            "min of queue {}",
            q
        );
        prop_assert_eq!(
            store.queue_start("S", q),
            store.min_offset("S", q),
            "start of queue {}",
            q
        );
    }
    for (j, (_, q, id, b, qoff)) in got.iter().enumerate() {
        let i = deleted + j;
        let (mq, mid, mlen) = m.appended[i];
        prop_assert_eq!((*q, *id), (mq, mid), "record {} differs from the model", i);
        prop_assert_eq!(b, &body(mid, mlen), "body of record {}", i);
        prop_assert_eq!(
            *qoff,
            per_queue[*q as usize],
            "queue offset of record {}",
            i
        );
        per_queue[*q as usize] += 1;
    }
    for q in 0..3u32 {
        prop_assert_eq!(store.max_offset("S", q).0, per_queue[q as usize]);
    }
    // The key index still finds deleted records (their bytes stay in the log until retention), as
    // the Java broker's index does.
    for (i, &(_, id, _)) in m.appended.iter().enumerate() {
        let hits: Vec<u64> = store
            .lookup_key("S", &key(id), 0, i64::MAX, 4)
            .iter()
            .map(|p| p.0)
            .collect();
        if i < deleted {
            prop_assert_eq!(hits.len(), 1, "key of deleted record {}", i);
        } else {
            let want: Vec<u64> = got.get(i - deleted).map(|g| g.0).into_iter().collect();
            prop_assert_eq!(hits, want, "key of record {} (recovered {})", i, recovered);
        }
    }
    m.appended.truncate(recovered);
    m.durable = recovered;
    m.deleted = deleted;
    Ok(())
}

fn run_case(seed: u64, sync: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let mode = if sync {
        FlushMode::Sync
    } else {
        FlushMode::Async
    };
    let ex = glommio::LocalExecutor::default();
    ex.run(async move {
        let sim = SimIo::new(seed);
        let (mut store, _) = MessageStore::open_with(cfg(mode), opts(&sim))
            .await
            .map_err(|e| TestCaseError::fail(format!("open: {e}")))?;
        let mut m = Model {
            appended: Vec::new(),
            durable: 0,
            deleted: 0,
            next_id: 0,
        };
        for op in ops {
            match op {
                Op::Append { queue, len } => {
                    let id = m.next_id;
                    m.next_id += 1;
                    let r = store
                        .append(helpers::msg(
                            "S",
                            *queue,
                            &body(id, *len),
                            &key(id),
                            None,
                            "",
                        ))
                        .await
                        .map_err(|e| TestCaseError::fail(format!("append: {e}")))?;
                    m.appended.push((*queue, id, *len));
                    if sync {
                        prop_assert_eq!(r.status, bolide::storage::AppendStatus::Ok);
                        m.durable = m.appended.len();
                    }
                }
                Op::Batch { queue, n } => {
                    let mut msgs = Vec::new();
                    for k in 0..*n {
                        let id = m.next_id;
                        m.next_id += 1;
                        msgs.push(helpers::msg(
                            "S",
                            *queue,
                            &body(id, 100 * k),
                            &key(id),
                            None,
                            "",
                        ));
                        m.appended.push((*queue, id, 100 * k));
                    }
                    store
                        .append_batch(msgs)
                        .await
                        .map_err(|e| TestCaseError::fail(format!("batch: {e}")))?;
                    if sync {
                        m.durable = m.appended.len();
                    }
                }
                Op::Flush => {
                    store
                        .flush()
                        .await
                        .map_err(|e| TestCaseError::fail(format!("flush: {e}")))?;
                    m.durable = m.appended.len();
                }
                Op::Checkpoint => {
                    store
                        .checkpoint()
                        .await
                        .map_err(|e| TestCaseError::fail(format!("checkpoint: {e}")))?;
                }
                Op::Delete => {
                    store
                        .delete_topic("S")
                        .await
                        .map_err(|e| TestCaseError::fail(format!("delete: {e}")))?;
                    m.deleted = m.appended.len();
                    for q in 0..3u32 {
                        prop_assert_eq!(
                            store
                                .queue_entries("S", q, QueueOffset(0), usize::MAX)
                                .len(),
                            0,
                            "queue {} right after the deletion",
                            q
                        );
                    }
                }
                Op::Crash => {
                    sim.crash();
                    drop(store);
                    let (s, rep) = MessageStore::open_with(cfg(mode), opts(&sim))
                        .await
                        .map_err(|e| TestCaseError::fail(format!("reopen after crash: {e}")))?;
                    // Recovery reads what was written since the checkpoint, not the log: the scan
                    // plus the fixed look-ahead plus the torn garbage past the end (at most one
                    // write, inside one segment).
                    let c = cfg(mode);
                    let bound = (rep.end - rep.scan_start)
                        + lookahead_read_bytes_max(
                            c.record_size_max_bytes as u64,
                            c.segment_size_bytes,
                            rep.segments as u64,
                        )
                        + c.segment_size_bytes;
                    prop_assert!(
                        rep.log_bytes_read <= bound,
                        "recovery read {} log bytes, bound {}: {:?}",
                        rep.log_bytes_read,
                        bound,
                        rep
                    );
                    store = s;
                    check_recovered(&store, &mut m).await?;
                }
                Op::Reopen => {
                    store
                        .close()
                        .await
                        .map_err(|e| TestCaseError::fail(format!("close: {e}")))?;
                    m.durable = m.appended.len();
                    let (s, rep) = MessageStore::open_with(cfg(mode), opts(&sim))
                        .await
                        .map_err(|e| TestCaseError::fail(format!("reopen: {e}")))?;
                    prop_assert_eq!(rep.records_scanned, 0, "clean reopen rescanned");
                    store = s;
                    check_recovered(&store, &mut m).await?;
                }
            }
        }
        sim.crash();
        drop(store);
        let (store, _) = MessageStore::open_with(cfg(mode), opts(&sim))
            .await
            .map_err(|e| TestCaseError::fail(format!("final reopen: {e}")))?;
        check_recovered(&store, &mut m).await?;
        drop(store);
        Ok(())
    })
}

fn cases() -> u32 {
    std::env::var("BOLIDE_SIM_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48)
}

fn replay_seed() -> Option<u64> {
    std::env::var("BOLIDE_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
}

fn check(sync: bool) {
    let mut config = ProptestConfig::with_cases(cases());
    config.failure_persistence = None;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (any::<u64>(), proptest::collection::vec(op(), 1..60));
    let result = runner.run(&strategy, |(seed, ops)| {
        let seed = replay_seed().unwrap_or(seed);
        run_case(seed, sync, &ops).map_err(|e| {
            eprintln!("FAILED seed={seed} sync={sync} ops={ops:?}: {e}");
            e
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn async_flush_recovers_durable_prefix() {
    check(false);
}

#[test]
fn sync_flush_recovers_durable_prefix() {
    check(true);
}
