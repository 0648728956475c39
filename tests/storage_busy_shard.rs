//! A shard whose task queue never runs dry keeps appending (#12).
//!
//! On a broker whose connections keep sending, the shard's task queue always has a task to run, so
//! glommio's executor reaches its reactor (timers, submissions) only when the preemption timer fires.
//! Appends must not depend on that turn: before, the append that sealed a chunk slept on a timer
//! for "one reactor pass" while every other append waited at a gate, so each chunk held the shard's
//! sends until the next preemption (100 ms), and sends stalled for up to 1.7 s under load.
//!
//! Shown without timing: the executor's preemption slice is an hour, and a task that yields in a
//! loop keeps the queue from ever running dry, as the connections did. It gives up after a bounded
//! number of turns (so that a regression fails rather than hangs) and records that it did. The
//! appends, many chunks' worth, must all complete while it still runs, and every byte must be
//! written once the queue is let go.

#[path = "common/storage_helpers.rs"]
mod helpers;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bolide::storage::{FlushMode, MessageStore};
use helpers::{config, data_dir, msg};

/// Turns the busy task takes at most: far more than the appends need (one yield per 1 MiB chunk),
/// far fewer than would take minutes.
const BUSY_TURNS_MAX: u64 = 2_000_000;

#[test]
fn appends_complete_while_the_task_queue_never_runs_dry() {
    let dir = data_dir("busy-shard");
    glommio::LocalExecutorBuilder::default()
        .preempt_timer(Duration::from_secs(3600))
        .spawn(move || async move {
            let mut c = config(dir, FlushMode::Async);
            c.segment_size_bytes = 64 << 20;
            c.cache_bytes_max = 256 << 20;
            let (store, _) = MessageStore::open(c).await.expect("open");

            let done = Rc::new(Cell::new(false));
            let turns = Rc::new(Cell::new(0u64));
            let busy = glommio::spawn_local({
                let (done, turns) = (done.clone(), turns.clone());
                async move {
                    while !done.get() && turns.get() < BUSY_TURNS_MAX {
                        turns.set(turns.get() + 1);
                        futures_lite::future::yield_now().await;
                    }
                }
            });

            // 24 MiB in 1 KiB messages: 24 sealed chunks, below the write-behind bound (64 MiB).
            let body = vec![7u8; 1024];
            let n = 24 * 1024;
            let mut end = 0;
            for i in 0..n {
                let r = store
                    .append(msg("T", 0, &body, "", None, ""))
                    .await
                    .expect("append");
                end = r.physical_offset.0 + r.size_bytes as u64;
                assert!(
                    turns.get() < BUSY_TURNS_MAX,
                    "append {i} of {n} waited until the busy task gave up: appends depend on a \
                     reactor turn"
                );
            }
            let used = turns.get();
            done.set(true);
            busy.await;

            store.flush().await.expect("flush");
            assert!(
                store.durable_offset().0 >= end,
                "everything appended is durable"
            );
            store.close().await.expect("close");
            eprintln!("{n} appends while the queue never ran dry: {used} turns of the busy task");
        })
        .expect("spawn executor")
        .join()
        .expect("executor thread");
}
