//! Background housekeeping on the shard's executor: writing the consume-queue and index entries and
//! the checkpoint, and retention (deleting whole old segments).
//!
//! Checkpoint procedure: take `C = durable`; every consume-queue and index entry of a record below C
//! is already in memory (placed at append); write the consume-queue entries below C and every pending
//! index entry, seal full index files whose entries all lie below C, fdatasync those files, then write
//! the checkpoint (C, per-queue `(min, next)` as of C, segment times, the index's open file and its
//! count below C) atomically. Written entries leave memory as soon as their file is synced (the file
//! serves them from then on). A crash anywhere in between leaves the previous checkpoint in force: the
//! entries it covers are untouched (writes only go past them).
//!
//! Early checkpoints: the entries not yet checkpointed are capped (`pending_entries_max`, see
//! `append`): at half the cap an append wakes the housekeeper, whose round then flushes the log first
//! (so that the checkpoint covers every pending entry, not only those below the durable offset); at
//! the cap an appender does the same itself and the others wait for it.
//!
//! Retention decision (one function, [`retention_decision`], asked again after each deletion with
//! fresh disk usage). "Unconsumed": the segment holds a message at or past its queue's consumed floor
//! (the lowest offset a consumer still needs, set by the broker: storage knows no groups).
//!
//! | # | oldest non-active segment: newest record      | unconsumed? | disk usage > max | forced deletion on | decision          |
//! |---|-----------------------------------------------|-------------|------------------|--------------------|-------------------|
//! | 1 | the active segment, or not fully durable yet  | -           | -                | -                  | keep (stop)       |
//! | 2 | older than `retention_hours`                  | -           | -                | -                  | delete            |
//! | 3 | younger                                       | no          | yes              | -                  | delete            |
//! | 4 | younger                                       | no          | no               | -                  | keep (stop)       |
//! | 5 | younger                                       | yes         | yes              | yes                | delete, forced: logged and counted |
//! | 6 | younger                                       | yes         | yes              | no                 | keep (stop); appends are refused once usage reaches `disk_refuse_writes_percent` |
//! | 7 | younger                                       | yes         | no               | -                  | keep (stop)       |
//!
//! Refusing appends ([`update_write_refusal`], every housekeeping round and after retention): usage at
//! or above `disk_refuse_writes_percent` refuses them ([`StorageError::DiskUsageHigh`]), usage below
//! takes them again; reads, pulls and the broker's offset commits are untouched. The flusher's own
//! ENOSPC handling (keep the data in memory, retry) stays the last line.
//!
//! Deleting a segment: only below the last checkpoint (so a checkpoint never lies below the first
//! segment); it leaves the segment table first (readers get NotFound, an in-flight read keeps its file
//! open), queue minimums move past it and cached chunks below the new minimum go, then the segment,
//! the consume-queue files and index files wholly below the new minimum are unlinked on the blocking
//! pool: appends never wait for it.

use std::rc::{Rc, Weak};
use std::time::Duration;

use futures_lite::future;

use super::checkpoint::{self, Checkpoint};
use super::io::OpenMode;
use super::state::StoreState;
use super::StorageError;

/// What retention does with the oldest segment (module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Keep,
    Delete,
    /// Deleted although it holds unconsumed messages younger than the retention time.
    DeleteForced,
}

/// The facts about the oldest segment that [`retention_decision`] decides on.
#[derive(Debug, Clone, Copy)]
pub struct RetentionFacts {
    /// The active segment, or one not fully durable yet.
    pub in_use: bool,
    pub newest_record_ts_ms: i64,
    pub now_ms: i64,
    pub retention_ms: i64,
    pub holds_unconsumed: bool,
    pub usage_percent: u8,
    pub usage_max_percent: u8,
    pub forced_deletion: bool,
}

/// The retention decision table (module docs), one row per arm.
pub fn retention_decision(f: &RetentionFacts) -> Retention {
    let expired = f.now_ms.saturating_sub(f.newest_record_ts_ms) > f.retention_ms;
    let too_full = f.usage_percent > f.usage_max_percent;
    match (
        f.in_use,
        expired,
        f.holds_unconsumed,
        too_full,
        f.forced_deletion,
    ) {
        (true, ..) => Retention::Keep,                               // 1
        (false, true, ..) => Retention::Delete,                      // 2
        (false, false, false, true, _) => Retention::Delete,         // 3
        (false, false, false, false, _) => Retention::Keep,          // 4
        (false, false, true, true, true) => Retention::DeleteForced, // 5
        (false, false, true, true, false) => Retention::Keep,        // 6
        (false, false, true, false, _) => Retention::Keep,           // 7
    }
}

/// Refuses appends while disk usage is at or above `disk_refuse_writes_percent`, takes them again
/// below it; logs each change. A failing statvfs leaves the state as it is.
pub(super) fn update_write_refusal(sh: &StoreState) {
    let usage = match sh.io.disk_usage_percent(&sh.cfg.dir) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "statvfs failed; write refusal unchanged");
            return;
        }
    };
    let limit = sh.cfg.disk_refuse_writes_percent;
    let refuse = usage >= limit;
    match (sh.writes_refused_at.get(), refuse) {
        (None, true) => tracing::error!(
            usage_percent = usage,
            limit_percent = limit,
            "disk full: appends refused until space comes back (reads and consumption go on)"
        ),
        (Some(_), false) => {
            tracing::info!(
                usage_percent = usage,
                "disk space back: appends taken again"
            )
        }
        _ => {}
    }
    sh.writes_refused_at.set(refuse.then_some(usage));
}

/// Unconsumed messages in `[from, to)` of the log: per queue with a floor, the entries at or past the
/// floor whose record lies in the range.
fn unconsumed_in(sh: &StoreState, from: super::PhysicalOffset, to: super::PhysicalOffset) -> u64 {
    let floors = sh.consumed_floors.borrow();
    let mut qs = sh.queues.borrow_mut();
    let mut n = 0;
    for ((t, q), floor) in floors.iter() {
        if qs.get(t, *q).is_none() {
            continue;
        }
        let lo = qs.offset_at(t, *q, from).max(*floor);
        let hi = qs.offset_at(t, *q, to);
        n += hi.get().saturating_sub(lo.get());
    }
    n
}

/// Largest single write of derived bytes.
const DERIVED_WRITE_BYTES_MAX: usize = 1 << 20;

async fn write_pieces(f: &Rc<dyn super::io::IoFile>, data: &[u8], at: u64) -> std::io::Result<()> {
    // In pieces: each write copies its input, and 1 MiB copies reuse heap memory where one copy of
    // a second's worth of entries (tens of MB) was fresh pages every time.
    let mut pos = at;
    for piece in data.chunks(DERIVED_WRITE_BYTES_MAX) {
        f.write_at(piece, pos).await?;
        pos += piece.len() as u64;
    }
    Ok(())
}

/// Consume-queue files a checkpoint writes and syncs together (each batch's entries leave memory
/// before the next batch opens its files).
const CQ_WRITE_BATCH_FILES: usize = 256;

/// Writes the consume-queue and index entries below the durable offset, then the checkpoint.
pub(super) async fn checkpoint(sh: &StoreState, clean: bool) -> Result<(), StorageError> {
    let _one_at_a_time = sh.checkpoint_lock.acquire_permit(1).await;
    let c = sh.log.borrow().offsets.durable();
    let (cq_writes, queues) = sh.queues.borrow().checkpoint_writes(c);
    let (ix_writes, index_open) = sh.index.borrow().checkpoint_writes(c);
    let segments = {
        let log = sh.log.borrow();
        log.segments
            .range(..c)
            .map(|(b, s)| (*b, s.last_store_ts_ms))
            .collect()
    };
    let err = |op, path: &std::path::Path, e| StorageError::from_io(op, path.to_path_buf(), e);
    let open = |w_file: &Option<Rc<dyn super::io::IoFile>>, path: &std::path::Path| match w_file {
        Some(f) => Ok(f.clone()),
        None => sh
            .io
            .open_now(path, OpenMode::Create)
            .map_err(|e| err("create", path, e)),
    };
    // Consume queues, a batch of files at a time: write each, then sync each, then the entries
    // leave memory. The batch bounds the descriptors held beyond the queues' open-file bound.
    for batch in cq_writes.chunks(CQ_WRITE_BATCH_FILES) {
        let mut done = Vec::with_capacity(batch.len());
        for w in batch {
            let f = sh
                .queues
                .borrow_mut()
                .open_for_write(w)
                .map_err(|e| err("create", &w.path, e))?;
            write_pieces(&f, &w.data, w.pos)
                .await
                .map_err(|e| err("write consume queue", &w.path, e))?;
            done.push(f);
        }
        for (w, f) in batch.iter().zip(&done) {
            f.sync().await.map_err(|e| err("fdatasync", &w.path, e))?;
        }
        let mut qs = sh.queues.borrow_mut();
        for (w, f) in batch.iter().zip(done) {
            qs.written(w, f);
        }
    }
    // Index: entries, then for a file being sealed its slot table, a sync and its header.
    for w in &ix_writes {
        let f = open(&w.file, &w.path)?;
        write_pieces(&f, &w.data, w.pos)
            .await
            .map_err(|e| err("write index", &w.path, e))?;
        if let Some((slots, header)) = &w.seal {
            write_pieces(&f, slots, 4096)
                .await
                .map_err(|e| err("write index", &w.path, e))?;
            f.sync().await.map_err(|e| err("fdatasync", &w.path, e))?;
            f.write_at(header, 0)
                .await
                .map_err(|e| err("write index", &w.path, e))?;
        }
        f.sync().await.map_err(|e| err("fdatasync", &w.path, e))?;
        sh.index.borrow_mut().written(w, f);
    }
    sh.recount_pending();
    let clean = clean && c == sh.log.borrow().offsets.tail();
    checkpoint::write(
        &sh.io,
        &sh.cfg.dir,
        &Checkpoint {
            durable_offset: c,
            clean,
            queues,
            segments,
            index_open,
        },
    )
    .await?;
    if c > sh.last_checkpoint.get() {
        sh.last_checkpoint.set(c);
    }
    Ok(())
}

/// Deletes what retention says must go; returns how many segments were deleted.
pub(super) async fn run_retention(sh: &StoreState) -> Result<usize, StorageError> {
    let retention_ms =
        i64::try_from(sh.cfg.retention_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    let _one_at_a_time = sh.retention_lock.acquire_permit(1).await;
    let mut deleted = 0;
    // Only segments below a checkpoint go (recovery then never finds its checkpoint below the log).
    checkpoint(sh, false).await?;
    loop {
        let usage = sh
            .io
            .disk_usage_percent(&sh.cfg.dir)
            .map_err(|e| StorageError::from_io("statvfs", sh.cfg.dir.clone(), e))?;
        let seg = {
            let log = sh.log.borrow();
            let durable = log.offsets.durable();
            let Some((&base, oldest)) = log.segments.iter().next() else {
                break;
            };
            let seg_end = base + log.segment_size_bytes;
            let newest = oldest.last_store_ts_ms;
            // Never the active segment, nor one with bytes not yet durable or checkpointed.
            let in_use =
                base >= log.active_base || seg_end > durable || seg_end > sh.last_checkpoint.get();
            drop(log);
            let unconsumed = if in_use {
                0
            } else {
                unconsumed_in(sh, base, seg_end)
            };
            let decision = retention_decision(&RetentionFacts {
                in_use,
                newest_record_ts_ms: newest,
                now_ms: sh.opts.clock.now_ms(),
                retention_ms,
                holds_unconsumed: unconsumed > 0,
                usage_percent: usage,
                usage_max_percent: sh.cfg.disk_usage_max_percent,
                forced_deletion: sh.cfg.delete_unconsumed_when_full,
            });
            match decision {
                Retention::Keep => break,
                Retention::Delete => {}
                Retention::DeleteForced => {
                    sh.forced_unconsumed_deleted
                        .set(sh.forced_unconsumed_deleted.get() + unconsumed);
                    tracing::warn!(
                        segment = base.get(),
                        unconsumed_messages = unconsumed,
                        total_forced = sh.forced_unconsumed_deleted.get(),
                        usage_percent = usage,
                        "forced deletion (cleanFileForciblyEnable): a segment holding unconsumed messages deleted"
                    );
                }
            }
            let mut log = sh.log.borrow_mut();
            let seg = log.segments.remove(&base).expect("segment present");
            let min = base + log.segment_size_bytes;
            log.offsets.set_min(min);
            log.cache.trim_below(min);
            drop(log);
            let mut gone = sh.queues.borrow_mut().trim_below(min);
            gone.extend(sh.index.borrow_mut().trim_below(min));
            (seg, gone)
        };
        let (seg, gone) = seg;
        sh.io
            .remove_file(&seg.path)
            .await
            .map_err(|e| StorageError::from_io("remove segment", seg.path.clone(), e))?;
        for p in gone {
            if let Err(e) = sh.io.remove_file(&p).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(StorageError::from_io("remove derived file", p, e));
                }
            }
        }
        tracing::info!(segment = %seg.path.display(), "retention deleted a commit-log segment");
        deleted += 1;
    }
    if deleted > 0 {
        super::deletions::prune(sh).await?;
    }
    update_write_refusal(sh);
    sh.recount_pending();
    Ok(deleted)
}

/// What the store holds in memory, at debug level once a round (`RUST_LOG=bolide::storage=debug`).
fn log_memory(sh: &StoreState) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let log = sh.log.borrow().memory();
    let cq = sh.queues.borrow().memory();
    let ix = sh.index.borrow().memory();
    tracing::debug!(
        shard = sh.cfg.shard_id,
        budget = log.budget_bytes,
        cache = log.cache_bytes,
        spare = log.spare_bytes,
        chunks = log.chunk_bytes,
        write_copies = sh.write_copy_bytes.get(),
        cq_pending = cq.pending_entries,
        pending_max = sh.opts.pending_entries_max,
        cq_cache = cq.cache_bytes,
        index_pending = ix.pending_entries,
        index_slots = ix.slot_bytes,
        "store memory"
    );
}

/// The housekeeping task.
pub(super) async fn housekeeper(weak: Weak<StoreState>) {
    let mut since_retention = Duration::ZERO;
    loop {
        let Some(sh) = weak.upgrade() else { return };
        if sh.closing.get() {
            return;
        }
        let every = Duration::from_millis(sh.opts.checkpoint_interval_ms.max(1));
        let retention_every = Duration::from_millis(sh.opts.retention_interval_ms.max(1));
        let notify = sh.housekeeping_notify.clone();
        drop(sh);
        let slept = std::time::Instant::now();
        future::or(notify.notified(), async {
            glommio::timer::sleep(every).await;
        })
        .await;
        since_retention += slept.elapsed();
        let Some(sh) = weak.upgrade() else { return };
        if sh.closing.get() {
            return;
        }
        // Woken early for the pending-entries cap (`append`'s table, row 2): flush the log first so
        // that the checkpoint covers every pending entry, not only those below the durable offset.
        if sh.early_checkpoint_wanted.replace(false) {
            if let Err(e) = sh.flush().await {
                tracing::warn!(error = %e, "flush before an early checkpoint failed");
            }
        }
        if let Err(e) = checkpoint(&sh, false).await {
            tracing::warn!(error = %e, "checkpoint failed; will retry");
        }
        log_memory(&sh);
        update_write_refusal(&sh);
        if since_retention >= retention_every {
            since_retention = Duration::ZERO;
            if let Err(e) = run_retention(&sh).await {
                tracing::warn!(error = %e, "retention failed; will retry");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_table_rows() {
        let h = 3_600_000;
        let f = |in_use, age_h: i64, unconsumed, usage, forced| RetentionFacts {
            in_use,
            newest_record_ts_ms: 100 * h - age_h * h,
            now_ms: 100 * h,
            retention_ms: 72 * h,
            holds_unconsumed: unconsumed,
            usage_percent: usage,
            usage_max_percent: 90,
            forced_deletion: forced,
        };
        use Retention::*;
        let rows = [
            // 1: in use: kept whatever else holds.
            (f(true, 80, false, 99, true), Keep),
            // 2: expired: deleted, consumed or not, full or not.
            (f(false, 73, true, 10, false), Delete),
            (f(false, 73, false, 10, false), Delete),
            // 3: younger, consumed, disk over the max: deleted.
            (f(false, 1, false, 95, false), Delete),
            // 4: younger, consumed, disk fine: kept.
            (f(false, 1, false, 90, true), Keep),
            // 5: younger, unconsumed, disk over the max, forced deletion on: deleted, forced.
            (f(false, 1, true, 95, true), DeleteForced),
            // 6: the same with forced deletion off (the default): kept.
            (f(false, 1, true, 95, false), Keep),
            // 7: younger, unconsumed, disk fine: kept.
            (f(false, 1, true, 50, true), Keep),
        ];
        for (i, (facts, want)) in rows.iter().enumerate() {
            assert_eq!(retention_decision(facts), *want, "row {i}: {facts:?}");
        }
    }
}
