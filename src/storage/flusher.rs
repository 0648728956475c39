//! Background tasks of the commit log, all on the shard's executor: the flusher (writes chunks, group
//! commit) and the segment pre-allocator.
//!
//! Writes: each write of a chunk (or of the active chunk's dirty aligned tail) runs as its own small
//! task, up to [`WRITES_IN_FLIGHT_MAX`] at once, at most one per chunk; a completed write starts the
//! next due sealed chunk itself, so in ASYNC_FLUSH the disk is fed without a flusher round per chunk.
//! `written` moves only over a gap-free prefix, so out-of-order completions are harmless.
//!
//! Flusher contract: a sync round writes every sealed chunk and the dirty aligned tail of the active
//! chunk and waits until everything appended before it is written; then it fdatasyncs every file
//! written since its last sync and raises `durable` to what was written when the syncs began. In
//! SYNC_FLUSH every append asks for a sync and waits; appends that arrive during a round are covered by
//! the next one: that is group commit. In ASYNC_FLUSH the append that seals a chunk starts its write
//! (see `StoreState::kick_writes` in [`super::append`]), and a sync round runs every `flush_interval_ms`.
//!
//! Durable writes: in SYNC_FLUSH the segments are opened [`FileKind::DirectDurable`] (O_DSYNC), so
//! a write that completes is durable and the sync round has no file to fdatasync; the group commit
//! is then one request to the device. Measured on this project's VM (1 shard, open loop 10k msgs/s,
//! #12): a write then an fdatasync took 0.24 + 0.33 ms at the median, one O_DSYNC write 0.33 ms, and
//! the sends' p50 fell from 1.47 to 0.92 ms.
//!
//! On an I/O error the store is marked failed (appends are refused with the error, waiters woken with
//! it); the data stays in memory and the flusher retries with a sync round, so a full disk that gets
//! space back (retention) recovers without losing what was acknowledged; only a successful sync round
//! clears the failure.
//!
//! Pre-allocator: keeps the segment after the active one created, allocated to full size and, when
//! [`prewrite_decision`] says so, overwritten with zeros and synced, because synced writes over
//! existing blocks cost about half of extending writes (no metadata journal on every fdatasync), and
//! an O_DIRECT write into an unwritten extent can block the shard's thread in `ext4_map_blocks` while
//! a journal commit runs (seen sampling `wchan`, #12). The decision, `setting` the store's
//! `prewrite_segments`:
//!
//! | # | setting       | flush mode | the store has a segment already | prewrite |
//! |---|---------------|------------|---------------------------------|----------|
//! | 1 | `Some(false)` | -          | -                               | no       |
//! | 2 | `Some(true)`  | -          | yes                             | yes      |
//! | 3 | `None`        | SYNC       | yes                             | yes      |
//! | 4 | `None`        | ASYNC      | -                               | no       |
//! | 5 | -             | -          | no                              | no: the first appends wait for this segment (a 1 GiB prewrite made a fresh broker's first sends wait ~1 s) |
//!
//! Row 5's segment (the active segment of a fresh store, created by recovery) is instead filled with
//! zeros in the background, from [`FILL_MARGIN_BYTES`] above the append position up, when the row the
//! store would take with a segment says prewrite ([`fill_active`], before the next segment is
//! prepared). Data writes wait while they would reach the fill's range, which moves up ahead of the
//! appends, so in practice they never wait. Measured (#12, one shard, SYNC_FLUSH, 15k msgs/s open
//! loop): sends into an unwritten segment p50 0.86/0.88 ms, into prewritten ones 0.62/0.60 ms.

use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use futures_lite::future;

use super::commitlog::{align_down, align_up, LogState, Segment};
use super::io::{FileKind, IoFile, OpenMode, StorageIo};
use super::state::StoreState;
use super::PhysicalOffset;
use super::{FlushMode, StorageError};
use std::path::Path;

/// Most commit-log writes in flight at once (each at most one chunk). One write at a time left the
/// disk idle between a completion and the next submission; a few in flight keep its queue non-empty.
pub const WRITES_IN_FLIGHT_MAX: usize = 8;

/// One started write of (part of) a chunk.
struct WriteJob {
    fut: super::io::IoFuture<'static, ()>,
    start: PhysicalOffset,
    len: usize,
    /// Bytes the write copied (and holds until it completes): none for a sealed chunk.
    copy_len: usize,
    seg_base: PhysicalOffset,
    file: Rc<dyn IoFile>,
}

/// Starts the writes that are due, as long as fewer than [`WRITES_IN_FLIGHT_MAX`] are in flight:
/// every sealed chunk in log order and, with `with_active`, the dirty aligned tail of the active chunk.
/// Each write runs as its own task ([`run_write`]); nothing here awaits.
pub(super) fn start_writes(sh: &Rc<StoreState>, with_active: bool) {
    // A failed write makes its chunk due again: without the check, a write that fails at once (a
    // stale simulated file after a crash) would be started again and again without an await.
    while sh.writes_in_flight.get() < WRITES_IN_FLIGHT_MAX && sh.write_error.borrow().is_none() {
        let job = {
            let mut log = sh.log.borrow_mut();
            log.retire_written_chunks();
            next_write(&mut log, with_active)
        };
        let Some(job) = job else { return };
        sh.writes_in_flight.set(sh.writes_in_flight.get() + 1);
        sh.write_copy_bytes
            .set(sh.write_copy_bytes.get() + job.copy_len);
        glommio::spawn_local(run_write(Rc::downgrade(sh), job)).detach();
    }
}

/// Awaits one write; then records it (raising `written` when no gap is left before it), starts the
/// next due sealed chunk and wakes the flusher. A failure is kept for the flusher, the chunk is due again.
async fn run_write(weak: Weak<StoreState>, job: WriteJob) {
    // Dropped without close() (a crash in tests) before this task first ran: write nothing.
    if weak.upgrade().is_none_or(|sh| sh.dropped.get()) {
        return;
    }
    let r = job.fut.await;
    let Some(sh) = weak.upgrade() else { return };
    sh.writes_in_flight.set(sh.writes_in_flight.get() - 1);
    sh.write_copy_bytes
        .set(sh.write_copy_bytes.get() - job.copy_len);
    match r {
        Ok(()) => {
            let mut log = sh.log.borrow_mut();
            if !log.unsynced.iter().any(|(b, _)| *b == job.seg_base) {
                log.unsynced.push((job.seg_base, job.file));
            }
            log.chunk_written(job.start, job.len);
            let w = log.offsets.written();
            drop(log);
            sh.written.advance(w);
            if sh.write_error.borrow().is_none() {
                start_writes(&sh, false);
            }
        }
        Err(e) => {
            sh.log.borrow_mut().chunk_write_failed(job.start);
            let path = LogState::segment_path(&sh.cfg.dir, job.seg_base);
            sh.write_error
                .borrow_mut()
                .get_or_insert(StorageError::from_io("write segment", path, e));
        }
    }
    sh.flush_notify.notify();
}

/// Writes what is due. `with_active`: also the active chunk's dirty tail, and waits until everything
/// appended before the call is written; otherwise only starts the writes of sealed chunks.
pub(super) async fn write_round(
    sh: &Rc<StoreState>,
    with_active: bool,
) -> Result<(), StorageError> {
    let target = if with_active {
        sh.log.borrow().offsets.tail()
    } else {
        PhysicalOffset(0)
    };
    loop {
        if let Some(e) = sh.write_error.borrow_mut().take() {
            return Err(e);
        }
        start_writes(sh, with_active);
        if sh.log.borrow().offsets.written() >= target {
            return Ok(());
        }
        // Every completed write notifies the flusher.
        sh.flush_notify.notified().await;
    }
}

/// The next write due (marking its chunk in flight), if any.
fn next_write(log: &mut LogState, with_active: bool) -> Option<WriteJob> {
    let c = log
        .chunks
        .iter()
        .position(|c| c.written < c.len && !c.in_flight && (c.sealed || with_active))?;
    let (seg_base, end) = {
        let c = &log.chunks[c];
        (c.seg_base, c.start + c.padded_len() as u64)
    };
    // Later chunks end higher: when this one must wait for the zero fill, so do they. The fill's
    // next step notifies the flusher.
    if !log.write_allowed(seg_base, end) {
        return None;
    }
    let segments = &log.segments;
    let c = &mut log.chunks[c];
    let Some(seg) = segments.get(&c.seg_base) else {
        panic!("chunk at {} has no segment {}", c.start, c.seg_base);
    };
    let from = align_down(c.written as u64) as usize;
    let file_pos = c.start - c.seg_base + from as u64;
    let file = seg.file.clone();
    // A sealed chunk is written from its own (shared, frozen) buffer; the open chunk's tail is
    // still appended to, so its write takes a copy. Either way the future owns what it writes: the
    // borrow of `log` ends with this function.
    let (fut, copy_len) = match c.data.sealed() {
        Some(b) => (
            file.write_shared_at(b.slice(from..c.padded_len()), file_pos),
            0,
        ),
        None => {
            let to = c.zero_padding();
            (file.write_at(&c.data[from..to], file_pos), to - from)
        }
    };
    c.in_flight = true;
    Some(WriteJob {
        fut,
        start: c.start,
        len: c.len,
        copy_len,
        seg_base: c.seg_base,
        file,
    })
}

/// fdatasyncs every file written since its last sync (but those whose writes are durable already);
/// then `durable` = what was written before.
pub(super) async fn sync_round(sh: &StoreState) -> Result<(), StorageError> {
    let (target, mut files) = {
        let mut log = sh.log.borrow_mut();
        (log.offsets.written(), std::mem::take(&mut log.unsynced))
    };
    files.retain(|(_, f)| !f.writes_are_durable());
    for (i, (base, f)) in files.iter().enumerate() {
        if let Err(e) = f.sync().await {
            let mut log = sh.log.borrow_mut();
            // Not synced: keep them for the retry.
            for (b, f) in files[i..].iter() {
                if !log.unsynced.iter().any(|(x, _)| x == b) {
                    log.unsynced.push((*b, f.clone()));
                }
            }
            let path = LogState::segment_path(&log.dir, *base);
            return Err(StorageError::from_io("fdatasync segment", path, e));
        }
    }
    let durable = {
        let mut log = sh.log.borrow_mut();
        log.offsets.raise_durable(target);
        log.offsets.durable()
    };
    sh.durable.advance(durable);
    Ok(())
}

/// The flusher task. Holds only a weak reference between rounds, so dropping the store ends it.
pub(super) async fn flusher(weak: Weak<StoreState>) {
    let mut last_sync = Instant::now();
    loop {
        let Some(sh) = weak.upgrade() else { return };
        let interval = Duration::from_millis(sh.cfg.flush_interval_ms.max(1));
        let closing = sh.closing.get();
        let (dirty, sealed) = {
            let log = sh.log.borrow();
            (
                log.offsets.tail() > log.offsets.durable(),
                log.has_sealed_unwritten() && sh.writes_in_flight.get() < WRITES_IN_FLIGHT_MAX,
            )
        };
        let sync_wanted = sh.sync_requested.get()
            || (dirty
                && (closing
                    || sh.cfg.flush_mode == FlushMode::Async && last_sync.elapsed() >= interval));
        let failed = sh.write_error.borrow().is_some();
        if sync_wanted || sealed || failed {
            sh.sync_requested.set(false);
            // Duration only (monotonic), for the flush-latency histogram: a sync round's writes and
            // fdatasyncs, what an append in SYNC_FLUSH waits for (wall time comes from the Clock).
            let started = Instant::now();
            let r = match write_round(&sh, sync_wanted).await {
                Ok(()) if sync_wanted => sync_round(&sh).await,
                r => r,
            };
            match r {
                Ok(()) => {
                    if sync_wanted {
                        let ms = started.elapsed().as_secs_f64() * 1000.0;
                        sh.stats.flush_latency.borrow_mut().observe(ms);
                        last_sync = Instant::now();
                        // Only a sync round has seen its writes complete: then the store is healthy.
                        sh.clear_failure();
                    }
                }
                Err(e) => {
                    sh.set_failure(e);
                    if sh.closing.get() {
                        return;
                    }
                    // Retry later; appends are refused meanwhile.
                    drop(sh);
                    glommio::timer::sleep(interval.min(Duration::from_millis(100))).await;
                    if let Some(sh) = weak.upgrade() {
                        sh.sync_requested.set(true);
                    }
                }
            }
            continue;
        }
        if closing {
            sh.flusher_done.set(true);
            sh.durable.break_all();
            sh.appended.break_all();
            return;
        }
        let wait = if dirty && sh.cfg.flush_mode == FlushMode::Async {
            interval.saturating_sub(last_sync.elapsed())
        } else {
            interval
        };
        let notify = sh.flush_notify.clone();
        drop(sh);
        future::or(notify.notified(), async {
            glommio::timer::sleep(wait).await;
        })
        .await;
    }
}

/// How commit-log segments are opened: durable writes ([`FileKind::DirectDurable`]) when every append
/// waits for durability anyway; in ASYNC_FLUSH a write must not wait for the device's cache flush.
pub(super) fn segment_kind(mode: FlushMode) -> FileKind {
    match mode {
        FlushMode::Sync => FileKind::DirectDurable,
        FlushMode::Async => FileKind::Direct,
    }
}

/// Creates, allocates and (optionally) pre-writes the segment at `base`.
pub(super) async fn create_segment(
    io: &Rc<dyn StorageIo>,
    dir: &Path,
    base: PhysicalOffset,
    size: u64,
    kind: FileKind,
    prewrite: bool,
) -> Result<Segment, StorageError> {
    let path = LogState::segment_path(dir, base);
    let file = io
        .open(&path, kind, OpenMode::Create)
        .await
        .map_err(|e| StorageError::from_io("create segment", path.clone(), e))?;
    let r: Result<(), (&'static str, std::io::Error)> = async {
        file.allocate(size).await.map_err(|e| ("allocate", e))?;
        if prewrite {
            let zeros = vec![0u8; (1 << 20).min(size as usize)];
            let mut pos = 0;
            while pos < size {
                let n = zeros.len().min((size - pos) as usize);
                file.write_at(&zeros[..n], pos)
                    .await
                    .map_err(|e| ("pre-write", e))?;
                pos += n as u64;
            }
            file.sync().await.map_err(|e| ("fdatasync", e))?;
        }
        Ok(())
    }
    .await;
    if let Err((op, e)) = r {
        let _ = io.remove_file(&path).await;
        return Err(StorageError::from_io(op, path, e));
    }
    Ok(Segment {
        base,
        path,
        file,
        last_store_ts_ms: 0,
    })
}

/// Whether the next segment is overwritten with zeros (module table).
pub(super) fn prewrite_decision(
    setting: Option<bool>,
    sync_flush: bool,
    has_segment: bool,
) -> bool {
    match (setting, sync_flush, has_segment) {
        (_, _, false) => false,          // 5
        (Some(false), _, true) => false, // 1
        (Some(true), _, true) => true,   // 2
        (None, true, true) => true,      // 3
        (None, false, true) => false,    // 4
    }
}

/// How far above the append position the zero fill of the active segment starts, and stays.
pub const FILL_MARGIN_BYTES: u64 = 16 << 20;
/// Size of one zero write of the fill.
const FILL_STEP_BYTES: u64 = 1 << 20;

/// Fills the active segment with zeros from [`FILL_MARGIN_BYTES`] above the append position to its
/// end, one [`FILL_STEP_BYTES`] write at a time, then clears `log.fill`. The data writes stay below
/// the fill's position ([`LogState::write_allowed`]); the fill moves up with the append position,
/// so it never waits for them. A write error ends the fill (the segment stays partly unwritten,
/// which only costs speed); the flusher is notified after every step.
async fn fill_active(weak: &Weak<StoreState>) {
    let zeros = vec![0u8; FILL_STEP_BYTES as usize];
    let (started, mut filled) = (Instant::now(), 0u64);
    loop {
        let Some(sh) = weak.upgrade() else { return };
        let step = {
            let mut log = sh.log.borrow_mut();
            let size = log.segment_size_bytes;
            let tail = log.offsets.tail();
            let active = log.active_base;
            let file = log.segments.get(&active).map(|s| s.file.clone());
            match (log.fill.as_mut(), file) {
                (Some(f), Some(file)) if f.seg_base == active && !sh.closing.get() => {
                    let above =
                        align_up(tail.get().saturating_sub(active.get()) + FILL_MARGIN_BYTES);
                    f.next = f.next.max(above.next_multiple_of(FILL_STEP_BYTES));
                    (f.next < size).then(|| (file, f.next, FILL_STEP_BYTES.min(size - f.next)))
                }
                _ => None,
            }
        };
        let Some((file, pos, n)) = step else {
            sh.log.borrow_mut().fill = None;
            sh.flush_notify.notify();
            tracing::debug!(
                dir = %sh.cfg.dir.display(),
                filled_mib = filled >> 20,
                ms = started.elapsed().as_millis() as u64,
                "active commit-log segment filled with zeros"
            );
            return;
        };
        // Not holding the store across the write: a dropped store ends the fill after it.
        let write = file.write_at(&zeros[..n as usize], pos);
        drop(sh);
        let r = write.await;
        let Some(sh) = weak.upgrade() else { return };
        let mut log = sh.log.borrow_mut();
        match r {
            Ok(()) => {
                if let Some(f) = log.fill.as_mut() {
                    f.next = pos + n;
                }
                filled += n;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot fill the active commit-log segment with zeros");
                log.fill = None;
            }
        }
        drop(log);
        sh.flush_notify.notify();
    }
}

/// The pre-allocator task.
pub(super) async fn preallocator(weak: Weak<StoreState>) {
    loop {
        let Some(sh) = weak.upgrade() else { return };
        if sh.closing.get() {
            return;
        }
        if sh.log.borrow().fill.is_some() {
            drop(sh);
            fill_active(&weak).await;
            continue;
        }
        let want = {
            let log = sh.log.borrow();
            let has_segment = !log.segments.is_empty();
            log.next_segment
                .is_none()
                .then(|| (log.active_end(), has_segment))
        };
        if let Some((base, has_segment)) = want {
            let prewrite = prewrite_decision(
                sh.cfg.prewrite_segments,
                sh.cfg.flush_mode == FlushMode::Sync,
                has_segment,
            );
            let (io, dir, size) = (sh.io.clone(), sh.cfg.dir.clone(), sh.cfg.segment_size_bytes);
            let kind = segment_kind(sh.cfg.flush_mode);
            match create_segment(&io, &dir, base, size, kind, prewrite).await {
                Ok(seg) => {
                    let mut log = sh.log.borrow_mut();
                    if log.active_end() == base && log.next_segment.is_none() && !sh.closing.get() {
                        log.next_segment = Some(seg);
                    }
                    drop(log);
                    *sh.prealloc_error.borrow_mut() = None;
                    sh.segment_ready.advance(sh.segment_ready.get() + 1);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot prepare the next commit-log segment");
                    *sh.prealloc_error.borrow_mut() = Some(e);
                    sh.segment_ready.break_all();
                    drop(sh);
                    glommio::timer::sleep(Duration::from_millis(200)).await;
                    if let Some(sh) = weak.upgrade() {
                        sh.segment_ready.repair();
                    }
                    continue;
                }
            }
            continue;
        }
        let notify = sh.prealloc_notify.clone();
        drop(sh);
        notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prewrite_decision_rows() {
        // (setting, sync flush, has a segment) -> prewrite; row numbers of the module table.
        let rows = [
            ((Some(false), true, true), false),  // 1
            ((Some(false), false, true), false), // 1
            ((Some(true), false, true), true),   // 2
            ((Some(true), true, true), true),    // 2
            ((None, true, true), true),          // 3
            ((None, false, true), false),        // 4
            ((Some(true), true, false), false),  // 5
            ((None, true, false), false),        // 5
        ];
        for (i, ((setting, sync, has), want)) in rows.iter().enumerate() {
            assert_eq!(prewrite_decision(*setting, *sync, *has), *want, "row {i}");
        }
    }
}
