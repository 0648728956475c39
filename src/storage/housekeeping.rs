//! Background housekeeping on the shard's executor: writing the dispatch files and the checkpoint, and
//! retention (deleting whole old segments).
//!
//! Checkpoint procedure: take `C = durable`; every dispatch entry of a record below C is already
//! buffered (dispatch happens at append); write the buffered dispatch bytes, fdatasync those files,
//! then write the checkpoint (C, per-queue next offsets as of C) atomically. A crash anywhere in between
//! leaves the previous checkpoint in force, whose dispatch prefix is still intact.
//!
//! Retention decision (one function, [`should_delete_oldest`], asked again after each deletion with
//! fresh disk usage):
//!
//! | oldest non-active segment                      | disk usage         | delete it? |
//! |------------------------------------------------|--------------------|------------|
//! | newest record older than `retention_hours`     | any                | yes        |
//! | younger                                        | > max percent      | yes        |
//! | younger                                        | <= max percent     | no (stop)  |
//! | the active segment, or not fully written yet   | any                | never      |
//!
//! Deleting a segment: it leaves the segment table first (readers get NotFound, an in-flight read keeps
//! its file open), consume-queue entries, index entries and cached chunks below the new minimum go,
//! then the file and its dispatch file are unlinked on the blocking pool: appends never wait for it.

use std::rc::{Rc, Weak};
use std::time::Duration;

use futures_lite::future;

use super::checkpoint::{self, Checkpoint};
use super::commitlog::segment_name;
use super::io::{FileKind, OpenMode};
use super::state::StoreState;
use super::StorageError;

/// Whether the oldest deletable segment (newest record at `newest_record_ts_ms`) goes now.
pub fn should_delete_oldest(
    newest_record_ts_ms: i64,
    now_ms: i64,
    retention_ms: i64,
    usage_percent: u8,
    usage_max_percent: u8,
) -> bool {
    let expired = now_ms.saturating_sub(newest_record_ts_ms) > retention_ms;
    let too_full = usage_percent > usage_max_percent;
    expired || too_full
}

/// Largest single write of dispatch bytes.
const DISPATCH_WRITE_BYTES_MAX: usize = 1 << 20;

/// Writes the buffered dispatch bytes and the checkpoint.
pub(super) async fn checkpoint(sh: &StoreState, clean: bool) -> Result<(), StorageError> {
    let c = sh.log.borrow().offsets.durable();
    let dir = sh.cfg.dir.join("dispatch");
    type Job = (
        super::PhysicalOffset,
        Vec<u8>,
        u64,
        Option<Rc<dyn super::io::IoFile>>,
    );
    let jobs: Vec<Job> = {
        let mut d = sh.dispatch.borrow_mut();
        d.files
            .iter_mut()
            .filter(|(_, f)| !f.pending.is_empty())
            .map(|(b, f)| {
                let mut data = std::mem::take(&mut f.pending);
                super::dispatch::fill_checks(&mut data);
                let at = f.len_on_disk;
                f.len_on_disk += data.len() as u64;
                (*b, data, at, f.file.clone())
            })
            .collect()
    };
    let mut failed: Option<StorageError> = None;
    for (base, data, at, file) in jobs {
        let path = dir.join(segment_name(base));
        let r = async {
            let f = match file {
                Some(f) => f,
                None => {
                    let f = sh
                        .io
                        .open(&path, FileKind::Buffered, OpenMode::Create)
                        .await
                        .map_err(|e| ("create", e))?;
                    if let Some(df) = sh.dispatch.borrow_mut().files.get_mut(&base) {
                        df.file = Some(f.clone());
                    }
                    f
                }
            };
            // In pieces: each write copies its input, and 1 MiB copies reuse heap memory where one
            // copy of a second's worth of entries (tens of MB) was fresh pages every time.
            let mut pos = at;
            for piece in data.chunks(DISPATCH_WRITE_BYTES_MAX) {
                f.write_at(piece, pos).await.map_err(|e| ("write", e))?;
                pos += piece.len() as u64;
            }
            f.sync().await.map_err(|e| ("fdatasync", e))
        }
        .await;
        if r.is_ok() {
            // Hand the grown buffer back to the newest file (the one appends go to), so appends do
            // not regrow one from empty every checkpoint.
            let mut d = sh.dispatch.borrow_mut();
            let newest = d.files.last_key_value().is_some_and(|(b, _)| *b == base);
            if let Some(df) = d.files.get_mut(&base).filter(|_| newest) {
                if df.pending.capacity() < data.capacity() {
                    let mut buf = data;
                    buf.clear();
                    buf.extend_from_slice(&df.pending);
                    df.pending = buf;
                }
            }
            continue;
        }
        if let Err((op, e)) = r {
            // Put the bytes back so the next checkpoint retries them at the same place.
            if let Some(df) = sh.dispatch.borrow_mut().files.get_mut(&base) {
                let mut back = data;
                back.append(&mut df.pending);
                df.pending = back;
                df.len_on_disk = at;
            }
            failed.get_or_insert(StorageError::from_io(op, path, e));
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let queues = {
        let qs = sh.queues.borrow();
        qs.iter()
            .map(|((t, q), cq)| (t.clone(), *q, cq.offset_at(c)))
            .collect()
    };
    let clean = clean && c == sh.log.borrow().offsets.tail();
    checkpoint::write(
        &sh.io,
        &sh.cfg.dir,
        &Checkpoint {
            durable_offset: c,
            clean,
            queues,
        },
    )
    .await
}

/// Deletes what retention says must go; returns how many segments were deleted.
pub(super) async fn run_retention(sh: &StoreState) -> Result<usize, StorageError> {
    let retention_ms =
        i64::try_from(sh.cfg.retention_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    let mut deleted = 0;
    loop {
        let usage = sh
            .io
            .disk_usage_percent(&sh.cfg.dir)
            .map_err(|e| StorageError::from_io("statvfs", sh.cfg.dir.clone(), e))?;
        let seg = {
            let mut log = sh.log.borrow_mut();
            let durable = log.offsets.durable();
            let Some((&base, oldest)) = log.segments.iter().next() else {
                break;
            };
            // Never the active segment, nor one with bytes not yet durable.
            if base >= log.active_base || base + log.segment_size_bytes > durable {
                break;
            }
            if !should_delete_oldest(
                oldest.last_store_ts_ms,
                sh.opts.clock.now_ms(),
                retention_ms,
                usage,
                sh.cfg.disk_usage_max_percent,
            ) {
                break;
            }
            let seg = log.segments.remove(&base).expect("segment present");
            let min = base + log.segment_size_bytes;
            log.offsets.set_min(min);
            log.cache.trim_below(min);
            drop(log);
            sh.queues.borrow_mut().trim_below(min);
            sh.index.borrow_mut().trim_below(min);
            sh.dispatch.borrow_mut().files.remove(&base);
            seg
        };
        sh.io
            .remove_file(&seg.path)
            .await
            .map_err(|e| StorageError::from_io("remove segment", seg.path.clone(), e))?;
        let dp = sh.cfg.dir.join("dispatch").join(segment_name(seg.base));
        if let Err(e) = sh.io.remove_file(&dp).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(StorageError::from_io("remove dispatch file", dp, e));
            }
        }
        tracing::info!(segment = %seg.path.display(), "retention deleted a commit-log segment");
        deleted += 1;
    }
    Ok(deleted)
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
        future::or(notify.notified(), async {
            glommio::timer::sleep(every).await;
        })
        .await;
        since_retention += every;
        let Some(sh) = weak.upgrade() else { return };
        if sh.closing.get() {
            return;
        }
        if let Err(e) = checkpoint(&sh, false).await {
            tracing::warn!(error = %e, "checkpoint failed; will retry");
        }
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
        // Older than retention: deleted whatever the disk usage.
        assert!(should_delete_oldest(0, 73 * h, 72 * h, 10, 90));
        // Younger, disk too full: deleted.
        assert!(should_delete_oldest(70 * h, 73 * h, 72 * h, 95, 90));
        // Younger, disk fine: kept.
        assert!(!should_delete_oldest(70 * h, 73 * h, 72 * h, 90, 90));
    }
}
