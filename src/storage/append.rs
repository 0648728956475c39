//! The append path: validate, wait for room (back-pressure, a ready segment),
//! place every message of a call at once (commit log, consume queue tail, index tail: no await
//! in between, so a batch is atomic for readers), then wait as the flush mode says.
//!
//! Hot path: one clock read and one borrow of each structure per call, one (asserted) tail update per
//! record; a single append needs no result `Vec` ([`ResultSink`] for `Option`). Contract: see the
//! parent module.
//!
//! Pending entries (consume-queue and index entries placed in memory, not yet written to their files
//! by a checkpoint) are capped at `opts.pending_entries_max`: without a cap they grow with the append
//! rate times the checkpoint interval, and a disk that falls behind stretches the interval. Decided
//! right before placing (no await in between, so the cap holds after every append, however many
//! appenders run) by [`pending_room`], `p` the pending entries, `n` the call's (one per message, one
//! per key), `max` the cap:
//!
//! | # | p + n <= max | p >= max / 2 | p == 0 | decision                                                        |
//! |---|--------------|--------------|--------|-----------------------------------------------------------------|
//! | 1 | yes          | no           | -      | place                                                           |
//! | 2 | yes          | yes          | -      | place; ask the housekeeper for an early checkpoint (log flushed first) |
//! | 3 | no           | -            | yes    | place (one call larger than the cap goes alone)                 |
//! | 4 | no           | -            | no     | wait: one appender flushes the log and checkpoints, the others wait for it; then decide again |
//!
//! Row 2 keeps appends from waiting while the disk keeps up; row 4 is the back-pressure when it does
//! not, as `wait_unwritten_room` is for the commit log's own buffers.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;

use super::state::StoreState;
use super::{flusher, index};
use super::{AppendMessage, AppendResult, AppendStatus, FlushMode, PhysicalOffset, StorageError};

/// What the pending-entries cap says about a call (module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PendingRoom {
    Place,
    PlaceAndCheckpointEarly,
    Wait,
}

/// The pending-room table (module docs), one row per arm.
pub(super) fn pending_room(pending: usize, incoming: usize, max: usize) -> PendingRoom {
    let fits = pending.saturating_add(incoming) <= max;
    match (fits, pending >= max / 2, pending == 0) {
        (true, false, _) => PendingRoom::Place,                  // 1
        (true, true, _) => PendingRoom::PlaceAndCheckpointEarly, // 2
        (false, _, true) => PendingRoom::Place,                  // 3
        (false, _, false) => PendingRoom::Wait,                  // 4
    }
}

/// Entries a call places in the consume queues and the index: one per message, one per key.
fn entries_of(msgs: &[AppendMessage]) -> usize {
    msgs.iter()
        .map(|m| 1 + m.keys.iter().filter(|k| !k.is_empty()).count())
        .sum()
}

/// Ends an appender's early checkpoint, however it ends (done, failed, or the append dropped): the
/// appenders waiting for it decide again.
struct EarlyCheckpointGuard<'a>(&'a StoreState);

impl Drop for EarlyCheckpointGuard<'_> {
    fn drop(&mut self) {
        self.0.early_checkpoint_running.set(false);
        let n = self.0.early_checkpoints.get();
        self.0.early_checkpoints.advance(n + 1);
    }
}

enum Placement {
    /// Placement (the results went to the sink): the end of the last record, and whether a chunk was
    /// sealed (became due for writing).
    Done {
        end: PhysicalOffset,
        sealed: bool,
    },
    NeedSegment,
}

/// Where `append` results go: a `Vec` for a batch, one slot for a single append (no allocation).
pub(super) trait ResultSink {
    fn push(&mut self, r: AppendResult);
    fn set_status(&mut self, s: AppendStatus);
}

impl ResultSink for Vec<AppendResult> {
    fn push(&mut self, r: AppendResult) {
        Vec::push(self, r);
    }

    fn set_status(&mut self, s: AppendStatus) {
        for r in self.iter_mut() {
            r.status = s;
        }
    }
}

impl ResultSink for Option<AppendResult> {
    fn push(&mut self, r: AppendResult) {
        assert!(self.replace(r).is_none(), "one result for a single append");
    }

    fn set_status(&mut self, s: AppendStatus) {
        if let Some(r) = self {
            r.status = s;
        }
    }
}

impl StoreState {
    fn try_place(
        &self,
        msgs: &mut [AppendMessage],
        total: u64,
        out: &mut impl ResultSink,
    ) -> Placement {
        let mut log = self.log.borrow_mut();
        let mut sealed = false;
        if total > log.room() {
            let Some(next) = log.next_segment.take() else {
                log.stalled = true;
                self.prealloc_notify.notify();
                return Placement::NeedSegment;
            };
            log.roll(next);
            sealed = true;
            self.prealloc_notify.notify();
            assert!(total <= log.room(), "batch larger than a segment");
        }
        let ts = self.opts.clock.now_ms().max(log.last_store_ts_ms);
        log.last_store_ts_ms = ts;
        let seg_base = log.active_base;
        if let Some(s) = log.segments.get_mut(&seg_base) {
            s.last_store_ts_ms = ts;
        }
        let mut queues = self.queues.borrow_mut();
        let mut index = self.index.borrow_mut();
        let mut end = log.offsets.tail();
        for m in msgs.iter_mut() {
            let q = queues.get_mut_or_create(&m.topic, m.queue_id);
            let qoff = q.max_offset();
            let phys = log.offsets.tail();
            let size = m.record.len() as u32;
            crate::message::patch_record(&mut m.record, qoff.get(), phys.get(), ts);
            sealed |= log.copy_in(&m.record);
            q.push(qoff, phys, size, m.tags_code);
            for k in m.keys.iter().filter(|k| !k.is_empty()) {
                index.insert(index::key_hash(&m.topic, k), phys, ts);
            }
            end = phys + u64::from(size);
            out.push(AppendResult {
                physical_offset: phys,
                queue_offset: qoff,
                size_bytes: size,
                store_timestamp_ms: ts,
                status: AppendStatus::Ok,
            });
        }
        self.pending_entries
            .set(self.pending_entries.get() + entries_of(msgs));
        Placement::Done { end, sealed }
    }

    /// Decides on the pending-entries cap right before a placement (no await between this and the
    /// placement): `true` to place now, `false` after having waited (decide again).
    pub(super) async fn pending_room_or_wait(
        self: &Rc<Self>,
        incoming: usize,
    ) -> Result<bool, StorageError> {
        let max = self.opts.pending_entries_max;
        match pending_room(self.pending_entries.get(), incoming, max) {
            PendingRoom::Place => Ok(true),
            PendingRoom::PlaceAndCheckpointEarly => {
                if !self.early_checkpoint_wanted.replace(true) {
                    self.housekeeping_notify.notify();
                }
                Ok(true)
            }
            PendingRoom::Wait => {
                self.stats
                    .pending_waits
                    .set(self.stats.pending_waits.get() + 1);
                self.checkpoint_early().await?;
                Ok(false)
            }
        }
    }

    /// Row 4: one appender flushes the log (so every pending entry lies below the durable offset)
    /// and checkpoints; the others wait until it is done.
    async fn checkpoint_early(self: &Rc<Self>) -> Result<(), StorageError> {
        if self.early_checkpoint_running.replace(true) {
            let n = self.early_checkpoints.get();
            self.early_checkpoints.wait(n + 1).await;
            return Ok(());
        }
        let _end = EarlyCheckpointGuard(self);
        self.flush().await?;
        super::housekeeping::checkpoint(self, false).await
    }

    fn validate(&self, msgs: &[AppendMessage]) -> Result<u64, StorageError> {
        let mut total = 0u64;
        for m in msgs {
            let n = m.record.len();
            if n > self.record_size_max {
                return Err(StorageError::RecordTooLarge {
                    size: n,
                    max: self.record_size_max,
                });
            }
            match crate::message::peek_header(&m.record) {
                Some((size, crate::message::MAGIC_V1))
                    if size as usize == n && n >= crate::message::RECORD_FIXED_BYTES => {}
                _ => {
                    return Err(StorageError::Config(format!(
                        "append of a buffer that is not one encoded record ({n} bytes)"
                    )))
                }
            }
            total += n as u64;
        }
        if total > self.record_size_max as u64 {
            return Err(StorageError::RecordTooLarge {
                size: total as usize,
                max: self.record_size_max,
            });
        }
        Ok(total)
    }

    pub(super) async fn append_msgs(
        self: &Rc<Self>,
        mut msgs: Vec<AppendMessage>,
    ) -> Result<Vec<AppendResult>, StorageError> {
        let mut out = Vec::with_capacity(msgs.len());
        if !msgs.is_empty() {
            self.append_into(&mut msgs, &mut out).await?;
        }
        Ok(out)
    }

    /// Back-pressure: bounded memory for bytes not yet written. Past the bound
    /// (`unwritten_bytes_max`), waits until half of it is written (not just one byte under it):
    /// waiters wake once per many chunks, in order. Appends and replica appends both wait here.
    pub(super) async fn wait_unwritten_room(&self) -> Result<(), StorageError> {
        let (tail, written) = {
            let log = self.log.borrow();
            (log.offsets.tail(), log.offsets.written())
        };
        let max = self.unwritten_bytes_max;
        if tail - written > max {
            self.flush_notify.notify();
            if !self
                .written
                .wait(PhysicalOffset(tail.get() - max / 2))
                .await
            {
                return Err(self.failure_or_closed());
            }
        }
        Ok(())
    }

    /// Appends a non-empty run of messages; one result per message goes to `out`.
    pub(super) async fn append_into(
        self: &Rc<Self>,
        msgs: &mut [AppendMessage],
        out: &mut impl ResultSink,
    ) -> Result<(), StorageError> {
        let total = self.validate(msgs)?;
        self.check_failure()?;
        self.wait_unwritten_room().await?;
        let incoming = entries_of(msgs);
        let (end, sealed) = loop {
            self.check_failure()?;
            if !self.pending_room_or_wait(incoming).await? {
                continue;
            }
            match self.try_place(msgs, total, out) {
                Placement::Done { end, sealed } => break (end, sealed),
                Placement::NeedSegment => {
                    if let Some(e) = self.prealloc_error.borrow().as_ref() {
                        return Err(e.duplicate());
                    }
                    let v = self.segment_ready.get();
                    self.prealloc_notify.notify();
                    if !self.segment_ready.wait(v + 1).await {
                        if let Some(e) = self.prealloc_error.borrow().as_ref() {
                            return Err(e.duplicate());
                        }
                    }
                }
            }
        };
        self.appended.advance(end);
        match self.cfg.flush_mode {
            FlushMode::Async => {
                if sealed {
                    self.kick_writes().await;
                }
            }
            FlushMode::Sync => {
                self.sync_requested.set(true);
                self.flush_notify.notify();
                let timeout = Duration::from_millis(self.cfg.flush_timeout_ms);
                let r = future::or(async { Some(self.durable.wait(end).await) }, async {
                    glommio::timer::sleep(timeout).await;
                    None
                })
                .await;
                match r {
                    Some(true) => {}
                    Some(false) => {
                        if self.log.borrow().offsets.durable() < end {
                            return Err(self.failure_or_closed());
                        }
                    }
                    None => {
                        out.set_status(AppendStatus::FlushTimeout);
                    }
                }
            }
        }
        Ok(())
    }

    /// ASYNC_FLUSH, after an append sealed a chunk: starts the writes that are due (each its own
    /// task), then yields once so that they run before this caller goes on. A write is submitted to
    /// io_uring as soon as its task runs (glommio's DMA writes are rushed: vendor/glommio/PATCHES.md
    /// patch 5). Without the yield, a caller whose appends never wait (an append that only copies
    /// resolves at once) would run on until the back-pressure bound before a write task ran, and the
    /// disk would idle meanwhile. Costs one yield per chunk (1 MiB), not per append.
    ///
    /// Before, the sealing append slept for a reactor pass (glommio submitted writes only between
    /// task-queue runs) while every other append waited at a gate. On a shard whose connections kept
    /// sending, the task queue never ran dry, so that pass came only with the 100 ms preemption:
    /// each chunk held all appends for up to 100 ms, the backlog grew, and sends stalled for
    /// 0.1-1.7 s (#12, traced: the shard always runnable, appends waiting at the gate).
    async fn kick_writes(self: &Rc<Self>) {
        // Completed writes free their in-flight slots only once reaped; on a busy shard that would
        // wait for the next reactor turn too (vendor/glommio/PATCHES.md patch 6).
        glommio::executor().poll_io_now();
        flusher::start_writes(self, false);
        futures_lite::future::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_room_rows() {
        use PendingRoom::*;
        // (pending, incoming, max) -> decision; max 100.
        let rows = [
            ((0, 1, 100), Place),                     // 1
            ((49, 51, 100), Place),                   // 1: fills the cap exactly
            ((50, 1, 100), PlaceAndCheckpointEarly),  // 2: half the cap
            ((60, 40, 100), PlaceAndCheckpointEarly), // 2: fills the cap exactly
            ((0, 500, 100), Place),                   // 3: one call larger than the cap, alone
            ((1, 100, 100), Wait),                    // 4
            ((100, 1, 100), Wait),                    // 4: at the cap
            ((30, 80, 100), Wait),                    // 4: below half, but the call does not fit
        ];
        for (i, ((p, n, max), want)) in rows.into_iter().enumerate() {
            assert_eq!(pending_room(p, n, max), want, "row {i}");
        }
    }
}
