//! The replica path: a master's store hands out its log as whole records ([`StoreState::read_log`]),
//! and a slave's store appends exactly those bytes at exactly those offsets
//! ([`StoreState::append_replica`]), dispatching each record to its consume queue and the key index
//! by the same function recovery uses (`recovery::dispatch`), so a slave's derived data is what a
//! restart of the master would rebuild.
//!
//! Segment ends travel as the blank marker's 8-byte header: the slave ends its own active segment
//! with a blank of the same size ([`LogState::roll`]) and goes on in the next one, so segment bases
//! agree on both sides (master and slave must run the same `segment_size_bytes`; a blank that does
//! not end the slave's segment where the master's ends is refused).
//!
//! Every record is verified like a scanned one (V1 magic, size, body CRC, PHYSICALOFFSET equal to its
//! position, queue offset not below the queue's next): a slave never stores bytes that recovery would
//! later cut. The appends of a call after a refused record are not made; those before it stay.

use std::path::Path;
use std::rc::Rc;

use bytes::Bytes;

use super::commitlog::{LogState, BLANK_MAGIC, BLANK_MIN_BYTES};
use super::state::StoreState;
use super::{flusher, recovery, FlushMode, PhysicalOffset, StorageError};
use crate::message::{self, MAGIC_V1, RECORD_FIXED_BYTES};

/// A cut scheduled by [`write_cut`] (in the store's directory): `{"cut": X, "end": E}`.
pub const CUT_FILE: &str = "replica-cut.json";

/// A pending cut of the log: bytes in `[cut, end)` go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingCut {
    pub cut: u64,
    pub end: u64,
}

/// Writes [`CUT_FILE`] through a temporary file, fsync and rename (then fsyncs the directory).
pub(super) fn write_cut(
    dir: &Path,
    at: PhysicalOffset,
    end: PhysicalOffset,
) -> Result<(), StorageError> {
    use std::io::Write;
    let path = dir.join(CUT_FILE);
    let tmp = dir.join(format!("{CUT_FILE}.tmp"));
    let body = serde_json::to_vec(&PendingCut {
        cut: at.get(),
        end: end.get(),
    })
    .expect("plain struct");
    let io = |op, p: &Path, e| StorageError::from_io(op, p.to_path_buf(), e);
    let mut f = std::fs::File::create(&tmp).map_err(|e| io("create", &tmp, e))?;
    f.write_all(&body).map_err(|e| io("write", &tmp, e))?;
    f.sync_all().map_err(|e| io("fsync", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io("rename", &path, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("fsync", dir, e))
}

/// The pending cut of the store in `dir`, if any (recovery).
pub(super) fn read_cut(dir: &Path) -> Result<Option<PendingCut>, StorageError> {
    let path = dir.join(CUT_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| StorageError::Corrupted {
                offset: PhysicalOffset(0),
                reason: format!("{}: {e}", path.display()),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::from_io("read", path, e)),
    }
}

/// Recovery, once the cut is made: forgets it.
pub(super) fn clear_cut(dir: &Path) -> Result<(), StorageError> {
    let path = dir.join(CUT_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::from_io("remove", path, e)),
    }
}

/// One step of the replica path over the bytes it was handed.
enum Step {
    /// A record was placed; `sealed`: a chunk became due for writing.
    Placed { sealed: bool },
    /// A segment-end blank: roll to the next segment (wait for it if not ready).
    Roll,
}

impl StoreState {
    pub(super) async fn read_log(
        &self,
        from: PhysicalOffset,
        max_bytes: usize,
    ) -> Result<Option<Bytes>, StorageError> {
        let (seg_end, tail) = {
            let log = self.log.borrow();
            let tail = log.offsets.tail();
            if from >= tail {
                return Ok(None);
            }
            let Some(seg) = log.segment_of(from) else {
                return Err(StorageError::NotFound { offset: from });
            };
            (seg.base + log.segment_size_bytes, tail)
        };
        // A segment's end: the blank's header only (its padding is not log data).
        let head = self.read(from, 8).await?;
        if let Some((_, BLANK_MAGIC)) = message::peek_header(&head) {
            return Ok(Some(head));
        }
        let limit = tail.min(seg_end).min(from + max_bytes.max(8) as u64);
        let buf = self.read(from, (limit - from) as u32).await?;
        let mut at = 0usize;
        while let Some((size, magic)) = message::peek_header(&buf[at..]) {
            if magic == BLANK_MAGIC {
                if at == 0 {
                    return Ok(Some(buf.slice(..8)));
                }
                break;
            }
            if magic != MAGIC_V1 || (size as usize) < RECORD_FIXED_BYTES {
                return Err(StorageError::Corrupted {
                    offset: from + at as u64,
                    reason: format!("replica read: no record header (magic {magic:#010x})"),
                });
            }
            if at + size as usize > buf.len() {
                if at == 0 {
                    // The first record is larger than `max_bytes`: hand it out whole.
                    return self.read(from, size).await.map(Some);
                }
                break;
            }
            at += size as usize;
        }
        Ok((at > 0).then(|| buf.slice(..at)))
    }

    pub(super) async fn append_replica(
        self: &Rc<Self>,
        at: PhysicalOffset,
        bytes: &[u8],
    ) -> Result<PhysicalOffset, StorageError> {
        let tail = self.log.borrow().offsets.tail();
        if at != tail {
            return Err(StorageError::ReplicaGap {
                expected: tail,
                got: at,
            });
        }
        let mut rest = bytes;
        let mut sealed = false;
        while !rest.is_empty() {
            if let Some(e) = self.failure.borrow().as_ref() {
                return Err(e.duplicate());
            }
            if self.closing.get() {
                return Err(self.closed_error());
            }
            self.wait_unwritten_room().await?;
            // The pending-entries cap as appends have it (`append`'s table), counting one entry: the
            // record's keys are known once it is decoded, so a replica may pass the cap by one
            // record's keys.
            if !self.pending_room_or_wait(1).await? {
                continue;
            }
            let (size, magic) = message::peek_header(rest)
                .ok_or_else(|| self.bad("replica bytes end inside a record header".into()))?;
            let n = if magic == BLANK_MAGIC {
                8
            } else {
                size as usize
            };
            if n > rest.len() {
                return Err(self.bad(format!("replica bytes end inside a record of {size} bytes")));
            }
            match self.place_replica(&rest[..n])? {
                Step::Placed { sealed: s } => sealed |= s,
                Step::Roll => {
                    while !self.roll_replica() {
                        if let Some(e) = self.prealloc_error.borrow().as_ref() {
                            return Err(e.duplicate());
                        }
                        let v = self.segment_ready.get();
                        self.prealloc_notify.notify();
                        self.segment_ready.wait(v + 1).await;
                    }
                    sealed = true;
                }
            }
            rest = &rest[n..];
        }
        let end = self.log.borrow().offsets.tail();
        self.appended.advance(end);
        super::deletions::settle_after_append(self);
        if sealed || self.cfg.flush_mode == FlushMode::Sync {
            flusher::start_writes(self, false);
        }
        self.flush_notify.notify();
        Ok(end)
    }

    fn bad(&self, reason: String) -> StorageError {
        StorageError::Corrupted {
            offset: self.log.borrow().offsets.tail(),
            reason,
        }
    }

    /// Checks one record (or blank header) at the tail and places it; no await.
    fn place_replica(&self, rec: &[u8]) -> Result<Step, StorageError> {
        let mut log = self.log.borrow_mut();
        let pos = log.offsets.tail();
        let bad = |reason: String| StorageError::Corrupted {
            offset: pos,
            reason: format!("replica: {reason}"),
        };
        let (size, magic) = message::peek_header(rec).ok_or_else(|| bad("short".into()))?;
        if magic == BLANK_MAGIC {
            let pad = log.active_end() - pos;
            if u64::from(size) != pad || pad < BLANK_MIN_BYTES {
                return Err(bad(format!(
                    "a blank of {size} bytes where this segment has {pad} left (segment sizes differ?)"
                )));
            }
            return Ok(Step::Roll);
        }
        if rec.len() as u64 > log.room() || rec.len() > self.record_size_max {
            return Err(bad(format!("a record of {} bytes does not fit", rec.len())));
        }
        let v = message::decode_record(rec, true).map_err(|e| bad(e.to_string()))?;
        if v.physical_offset != pos.get() {
            return Err(bad(format!(
                "PHYSICALOFFSET {} where the log ends at {pos}",
                v.physical_offset
            )));
        }
        let r = recovery::scanned(&v, pos, size);
        let mut queues = self.queues.borrow_mut();
        let next = queues.next_offset(&r.topic, r.queue_id);
        if r.queue_offset < next {
            return Err(bad(format!(
                "queue offset {} of {}:{} where {next} is next",
                r.queue_offset, r.topic, r.queue_id
            )));
        }
        let sealed = log.copy_in(rec);
        log.last_store_ts_ms = log.last_store_ts_ms.max(r.store_timestamp_ms);
        let base = log.active_base;
        let LogState { segments, .. } = &mut *log;
        let seg = segments.get_mut(&base).expect("active segment");
        recovery::dispatch(&mut queues, &mut self.index.borrow_mut(), seg, &r);
        self.pending_entries
            .set(self.pending_entries.get() + 1 + r.key_hashes.len());
        Ok(Step::Placed { sealed })
    }

    /// Rolls to the pre-allocated next segment; false when it is not ready yet.
    fn roll_replica(&self) -> bool {
        let mut log = self.log.borrow_mut();
        let Some(next) = log.next_segment.take() else {
            log.stalled = true;
            self.prealloc_notify.notify();
            return false;
        };
        log.roll(next);
        self.prealloc_notify.notify();
        true
    }
}
