//! An executor never parks while one of its task queues still has a task to run.
//!
//! Found as a CI hang (2026-11-30): a test client's executor slept in `io_uring_enter` for 15
//! minutes with its connection's answer unread in the socket and no timer armed, although its reader
//! and its 250 ms sweeper were both due to run. glommio's loop read "preempted before running
//! anything" (the preemption timer had already fired when `run_task_queues` looked) as "nothing to
//! run", and parked; the runnable tasks are the executor's own, so no completion or other thread
//! ever woke it. The vendored glommio parks only when no task queue is active (PATCHES.md, patch 7).
//!
//! Shown without timing: a preemption slice of 1 µs has always fired by the time the executor
//! looks, and a task that yields in a loop keeps its queue runnable throughout. Before the fix the
//! executor parked with that task runnable at the first such turn and never finished.

use std::time::Duration;

#[test]
fn an_executor_preempted_before_it_ran_anything_does_not_park_with_runnable_tasks() {
    let (tx, rx) = std::sync::mpsc::channel();
    // A thread of its own, so that a hang fails this test instead of hanging the suite.
    std::thread::spawn(move || {
        let turns = glommio::LocalExecutorBuilder::default()
            .preempt_timer(Duration::from_micros(1))
            .spawn(|| async {
                let busy = glommio::spawn_local(async {
                    let mut turns = 0u32;
                    while turns < 20_000 {
                        futures_lite::future::yield_now().await;
                        turns += 1;
                    }
                    turns
                });
                busy.await
            })
            .expect("executor")
            .join()
            .expect("join");
        let _ = tx.send(turns);
    });
    let turns = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the executor parked while its task was runnable, and nothing woke it");
    assert_eq!(turns, 20_000);
}
