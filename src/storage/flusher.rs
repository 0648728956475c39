//! Background tasks of the commit log, all on the shard's executor: the flusher (writes chunks, group
//! commit) and the segment pre-allocator.
//!
//! Flusher contract: a round writes every sealed chunk and, when a sync is wanted, the dirty aligned tail
//! of the active chunk, one write at a time in log order; then (sync rounds) fdatasyncs every file
//! written since its last sync and raises `durable` to what was written when the syncs began. In
//! SYNC_FLUSH every append asks for a sync and waits; appends that arrive during a round are covered by
//! the next one: that is group commit. In ASYNC_FLUSH a round runs when a chunk fills, and a sync round
//! every `flush_interval_ms`.
//!
//! On an I/O error the store is marked failed (appends are refused with the error, waiters woken with
//! it); the data stays in memory and the flusher retries, so a full disk that gets space back (retention)
//! recovers without losing what was acknowledged.
//!
//! Pre-allocator: keeps the segment after the active one created, allocated to full size and, when
//! `prewrite_segments`, overwritten with zeros and synced, because synced writes over existing blocks
//! cost about half of extending writes (no metadata journal on every fdatasync).

use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use futures_lite::future;

use super::commitlog::{align_down, align_up, LogState, Segment};
use super::io::{FileKind, IoFile, OpenMode, StorageIo};
use super::{FlushMode, Shared, StorageError};
use std::path::Path;

enum Step {
    Write {
        fut: super::io::IoFuture<'static, ()>,
        start: u64,
        len: usize,
        seg_base: u64,
        file: Rc<dyn IoFile>,
    },
    Done,
}

/// Writes what is due. `with_active`: also the active chunk's dirty tail.
pub(super) async fn write_round(sh: &Shared, with_active: bool) -> Result<(), StorageError> {
    loop {
        let step = {
            let mut log = sh.log.borrow_mut();
            log.retire_written_chunks();
            next_write(&log, with_active)
        };
        let Step::Write {
            fut,
            start,
            len,
            seg_base,
            file,
        } = step
        else {
            return Ok(());
        };
        if let Err(e) = fut.await {
            let log = sh.log.borrow();
            let path = LogState::segment_path(&log.dir, seg_base);
            return Err(StorageError::from_io("write segment", path, e));
        }
        let mut log = sh.log.borrow_mut();
        if !log.unsynced.iter().any(|(b, _)| *b == seg_base) {
            log.unsynced.push((seg_base, file));
        }
        log.chunk_written(start, len);
        let w = log.written;
        drop(log);
        sh.written.advance(w);
    }
}

fn next_write(log: &LogState, with_active: bool) -> Step {
    let Some(c) = log.chunks.iter().find(|c| c.written < c.len) else {
        return Step::Done;
    };
    if !c.sealed && !with_active {
        return Step::Done;
    }
    let Some(seg) = log.segments.get(&c.seg_base) else {
        panic!("chunk at {} has no segment {}", c.start, c.seg_base);
    };
    let from = align_down(c.written as u64) as usize;
    let to = (align_up(c.len as u64) as usize).min(c.data.len());
    let file_pos = c.start - c.seg_base + from as u64;
    let file = seg.file.clone();
    // The write copies the bytes before returning: the borrow of `log` ends with this function.
    let fut = file.write_at(&c.data[from..to], file_pos);
    Step::Write {
        fut,
        start: c.start,
        len: c.len,
        seg_base: c.seg_base,
        file,
    }
}

/// fdatasyncs every file written since its last sync; then `durable` = what was written before.
pub(super) async fn sync_round(sh: &Shared) -> Result<(), StorageError> {
    let (target, files) = {
        let mut log = sh.log.borrow_mut();
        (log.written, std::mem::take(&mut log.unsynced))
    };
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
    if target > sh.durable.get() {
        sh.durable.advance(target);
    }
    sh.log.borrow().check_invariants(sh.durable.get());
    Ok(())
}

/// The flusher task. Holds only a weak reference between rounds, so dropping the store ends it.
pub(super) async fn flusher(weak: Weak<Shared>) {
    let mut last_sync = Instant::now();
    loop {
        let Some(sh) = weak.upgrade() else { return };
        let interval = Duration::from_millis(sh.cfg.flush_interval_ms.max(1));
        let closing = sh.closing.get();
        let (dirty, sealed) = {
            let log = sh.log.borrow();
            (log.tail > sh.durable.get(), log.has_sealed_unwritten())
        };
        let sync_wanted = sh.sync_requested.get()
            || (dirty
                && (closing
                    || sh.cfg.flush_mode == FlushMode::Async && last_sync.elapsed() >= interval));
        if sync_wanted || sealed {
            sh.sync_requested.set(false);
            let r = match write_round(&sh, sync_wanted).await {
                Ok(()) if sync_wanted => sync_round(&sh).await,
                r => r,
            };
            match r {
                Ok(()) => {
                    if sync_wanted {
                        last_sync = Instant::now();
                    }
                    sh.clear_failure();
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

/// Creates, allocates and (optionally) pre-writes the segment at `base`.
pub(super) async fn create_segment(
    io: &Rc<dyn StorageIo>,
    dir: &Path,
    base: u64,
    size: u64,
    prewrite: bool,
) -> Result<Segment, StorageError> {
    let path = LogState::segment_path(dir, base);
    let file = io
        .open(&path, FileKind::Direct, OpenMode::Create)
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

/// The pre-allocator task.
pub(super) async fn preallocator(weak: Weak<Shared>) {
    loop {
        let Some(sh) = weak.upgrade() else { return };
        if sh.closing.get() {
            return;
        }
        let want = {
            let log = sh.log.borrow();
            log.next_segment.is_none().then(|| log.active_end())
        };
        if let Some(base) = want {
            let prewrite = sh
                .opts
                .prewrite_segments
                .unwrap_or(sh.cfg.flush_mode == FlushMode::Sync);
            let (io, dir, size) = (sh.io.clone(), sh.cfg.dir.clone(), sh.cfg.segment_size_bytes);
            match create_segment(&io, &dir, base, size, prewrite).await {
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
