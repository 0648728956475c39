//! The read path: byte ranges and whole records by physical offset, from the in-memory chunks and the
//! recent-data cache when they hold the range, else from the segment file (O_DIRECT has no page cache);
//! and the lookups by store time, which binary-search a consume queue reading one timestamp per probe.
//!
//! A range is served only if it lies inside one segment, at or above the log's minimum and below its
//! tail; anything else is [`StorageError::NotFound`]. No borrow is held across a disk read.

use bytes::{Bytes, BytesMut};

use super::state::StoreState;
use super::{PhysicalOffset, QueueOffset, StorageError};

impl StoreState {
    pub(super) async fn read(
        &self,
        offset: PhysicalOffset,
        size: u32,
    ) -> Result<Bytes, StorageError> {
        let end = offset + u64::from(size);
        let not_found = StorageError::NotFound { offset };
        {
            let log = self.log.borrow();
            if size == 0 {
                return Ok(Bytes::new());
            }
            if offset < log.offsets.min() || end > log.offsets.tail() {
                return Err(not_found);
            }
            let (Some(a), Some(b)) = (
                log.segment_of(offset),
                log.segment_of(PhysicalOffset(end.get() - 1)),
            ) else {
                return Err(not_found);
            };
            if a.base != b.base {
                return Err(not_found);
            }
            if let Some(b) = log.read_mem(offset, end) {
                return Ok(b);
            }
        }
        let mut out = BytesMut::with_capacity(size as usize);
        let mut pos = offset;
        while pos < end {
            let (piece, disk) = {
                let log = self.log.borrow();
                match log.mem_piece(pos, end) {
                    Some(p) => (Some(p), None),
                    None => {
                        let Some(seg) = log.segment_of(pos) else {
                            return Err(not_found);
                        };
                        let to = log.next_mem_start(pos).min(end);
                        let fut = seg.file.read_at(pos - seg.base, (to - pos) as usize);
                        (None, Some((fut, seg.path.clone(), to)))
                    }
                }
            };
            if let Some(p) = piece {
                pos += p.len() as u64;
                out.extend_from_slice(&p);
                continue;
            }
            let (fut, path, to) = disk.expect("disk read");
            let data = fut
                .await
                .map_err(|e| StorageError::from_io("read segment", path.clone(), e))?;
            if data.len() as u64 != to - pos {
                return Err(StorageError::Corrupted {
                    offset: pos,
                    reason: format!("short read of {}", path.display()),
                });
            }
            out.extend_from_slice(&data);
            pos = to;
        }
        Ok(out.freeze())
    }

    pub(super) async fn read_record(&self, offset: PhysicalOffset) -> Result<Bytes, StorageError> {
        let head = self.read(offset, 8).await?;
        let Some((size, crate::message::MAGIC_V1)) = crate::message::peek_header(&head) else {
            return Err(StorageError::NotFound { offset });
        };
        if (size as usize) < crate::message::RECORD_FIXED_BYTES
            || size as usize > self.record_size_max
        {
            return Err(StorageError::Corrupted {
                offset,
                reason: format!("record size {size}"),
            });
        }
        let rec = self.read(offset, size).await?;
        if let Err(e) = crate::message::decode_record(&rec, true) {
            return Err(StorageError::Corrupted {
                offset,
                reason: e.to_string(),
            });
        }
        Ok(rec)
    }

    pub(super) async fn store_ts_at(&self, phys: PhysicalOffset) -> Result<i64, StorageError> {
        let pos = crate::message::pos::STORE_TIMESTAMP as u64;
        let b = self.read(phys + pos, 8).await?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(i64::from_be_bytes(a))
    }

    /// First queue offset whose store time is at or after `timestamp_ms` (max offset if none).
    pub(super) async fn offset_by_time(
        &self,
        topic: &str,
        queue_id: u32,
        timestamp_ms: i64,
    ) -> Result<QueueOffset, StorageError> {
        let (mut lo, mut hi) = {
            let qs = self.queues.borrow();
            match qs.get(topic, queue_id) {
                Some(q) => (q.min_offset(), q.max_offset()),
                None => return Ok(QueueOffset(0)),
            }
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let entry = self.queues.borrow_mut().entry_at(topic, queue_id, mid);
            let Some((phys, _)) = entry else {
                // Expired under us: everything below the new minimum is older.
                lo = mid + 1;
                continue;
            };
            let ts = match self.store_ts_at(phys).await {
                Ok(ts) => ts,
                Err(StorageError::NotFound { .. }) => i64::MIN,
                Err(e) => return Err(e),
            };
            if ts < timestamp_ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Store time of the oldest readable message of a queue, if any.
    pub(super) async fn earliest_store_time(
        &self,
        topic: &str,
        queue_id: u32,
    ) -> Result<Option<i64>, StorageError> {
        let first = self
            .queues
            .borrow_mut()
            .entries(topic, queue_id, QueueOffset(0), 1)
            .first()
            .copied();
        match first {
            Some(e) => Ok(Some(self.store_ts_at(e.physical_offset).await?)),
            None => Ok(None),
        }
    }
}
