//! Queues emptied by deleting their topic: per (topic, queue), the queue offset `mark` below which
//! every entry went with the topic. The records stay in the commit log until retention removes their
//! segments (the log is shared by every topic, so nothing is cut out of it); what changes is the
//! queue's minimum, raised to its maximum at deletion, so no reader finds them again.
//!
//! Why a file of its own and not only the queue's minimum in the checkpoint: the checkpoint is written
//! at the durable offset, so a deletion that raced appends not yet durable would be undone by a crash
//! (recovery rebuilds the queue past the checkpoint from the log), and a missing or corrupt checkpoint
//! rebuilds every queue from the first segment. The marks are read at every open and applied after the
//! log scan, whatever the checkpoint said.
//!
//! Offsets go on from the mark: a topic created again under the same name starts at the deleted one's
//! end, not at 0 as in the Java broker (which deletes its consume-queue files). Restarting at 0 would
//! put two records with one queue offset in the log, which recovery's in-sequence check rejects. The
//! broker uses [`DeletedQueues::start`] to answer a new group as the Java broker answers it for a
//! queue that starts at 0.
//!
//! At open, each mark is applied to its queue as recovery found it:
//!
//! | queue after the log scan | effect |
//! |---|---|
//! | absent | the mark is dropped (nothing of it is left to hide) |
//! | `max >= mark` | `min` raised to the mark |
//! | `max < mark` (the crash lost records appended before the deletion) | the mark is lowered to `max`, `min` raised to it: what survived was all appended before the deletion, and what comes next is new |
//!
//! A mark is dropped by retention once its queue's minimum passed it (see [`DeletedQueues::prune`]).
//!
//! Format: `magic u32 ‖ version u32 ‖ count u32 ‖ (topic_len u8 ‖ topic ‖ queue_id u32 ‖ mark u64)… ‖
//! crc32 u32` (the checkpoint's framing, [`super::checkpoint::frame_start`]), written atomically
//! ([`super::checkpoint::write_file`]). A corrupt file is reported and
//! ignored (the deleted messages become readable again; refusing to open would stop every topic).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::{Buf, BufMut};

use super::checkpoint::{frame_body, frame_end, frame_start, get_name, put_name};
use super::consume_queue::ConsumeQueues;
use super::io::StorageIo;
use super::offsets::QueueOffset;
use super::state::StoreState;
use super::StorageError;

pub const DELETIONS_FILE: &str = "deleted-queues";
const MAGIC: u32 = 0x424C_4451; // "BLDQ"
const VERSION: u32 = 1;

/// Per (topic, queue): entries below the mark were deleted with their topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletedQueues {
    marks: BTreeMap<(String, u32), QueueOffset>,
}

/// What [`DeletedQueues::apply`] does to one mark (the module's table, one row each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkAtOpen {
    Drop,
    Raise(QueueOffset),
    Lower(QueueOffset),
}

/// The table's decision for a mark and its queue's maximum after the scan (`None`: no such queue).
pub fn mark_at_open(mark: QueueOffset, queue_max: Option<QueueOffset>) -> MarkAtOpen {
    match queue_max {
        None => MarkAtOpen::Drop,
        Some(max) if max >= mark => MarkAtOpen::Raise(mark),
        Some(max) => MarkAtOpen::Lower(max),
    }
}

impl DeletedQueues {
    /// Where the queue (re)starts: its mark, or 0 when it was never emptied by a deletion.
    pub fn start(&self, topic: &str, queue_id: u32) -> QueueOffset {
        self.marks
            .get(&(topic.to_owned(), queue_id))
            .copied()
            .unwrap_or(QueueOffset(0))
    }

    /// Records that entries of the queue below `mark` are deleted (a mark never moves back).
    pub fn insert(&mut self, topic: &str, queue_id: u32, mark: QueueOffset) {
        let m = self
            .marks
            .entry((topic.to_owned(), queue_id))
            .or_insert(mark);
        *m = (*m).max(mark);
    }

    /// At open, after the log scan: applies every mark to its queue (the module's table). Returns
    /// whether a mark changed (the file is then written again) and the consume-queue files now
    /// wholly below their queue's minimum (to delete).
    pub fn apply(&mut self, queues: &mut ConsumeQueues) -> (bool, Vec<PathBuf>) {
        let mut changed = false;
        let mut gone = Vec::new();
        let keys: Vec<(String, u32)> = self.marks.keys().cloned().collect();
        for (t, q) in keys {
            let mark = self.marks[&(t.clone(), q)];
            let max = queues.get(&t, q).map(|cq| cq.max_offset());
            match mark_at_open(mark, max) {
                MarkAtOpen::Drop => {
                    self.marks.remove(&(t, q));
                    changed = true;
                }
                MarkAtOpen::Raise(to) => gone.extend(queues.raise_min(&t, q, to)),
                MarkAtOpen::Lower(to) => {
                    gone.extend(queues.raise_min(&t, q, to));
                    self.marks.insert((t, q), to);
                    changed = true;
                }
            }
        }
        (changed, gone)
    }

    /// Every mark, as (topic, queue, mark).
    pub fn marks(&self) -> Vec<(String, u32, u64)> {
        self.marks
            .iter()
            .map(|((t, q), m)| (t.clone(), *q, m.get()))
            .collect()
    }

    /// A replica: raises each queue whose minimum is below its mark as far as its entries reach (the
    /// records below a master's mark may arrive after the mark). Returns the files to delete and
    /// whether some mark is still ahead of its queue's entries (call again after the next appends).
    pub fn settle(&self, queues: &mut ConsumeQueues) -> (Vec<PathBuf>, bool) {
        let mut gone = Vec::new();
        let mut ahead = false;
        for ((t, q), mark) in &self.marks {
            let max = queues
                .get(t, *q)
                .map_or(QueueOffset(0), |cq| cq.max_offset());
            gone.extend(queues.raise_min(t, *q, (*mark).min(max)));
            ahead |= max < *mark;
        }
        (gone, ahead)
    }

    /// Drops the marks retention made useless: the queue's minimum passed the mark (messages sent
    /// after the deletion expired too) or the queue is gone. Returns whether any was dropped.
    pub fn prune(&mut self, queues: &ConsumeQueues) -> bool {
        let before = self.marks.len();
        self.marks
            .retain(|(t, q), mark| queues.get(t, *q).is_some_and(|cq| cq.min_offset() <= *mark));
        self.marks.len() != before
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = frame_start(MAGIC, VERSION, 16 + self.marks.len() * 32);
        out.put_u32(self.marks.len() as u32);
        for ((t, q), mark) in &self.marks {
            put_name(&mut out, t);
            out.put_u32(*q);
            out.put_u64(mark.get());
        }
        frame_end(out)
    }

    pub fn decode(buf: &[u8]) -> Option<DeletedQueues> {
        let mut b = frame_body(buf, MAGIC, VERSION, 4)?;
        let n = b.get_u32() as usize;
        let mut marks = BTreeMap::new();
        for _ in 0..n {
            let t = get_name(&mut b, 12)?;
            let q = b.get_u32();
            marks.insert((t, q), QueueOffset(b.get_u64()));
        }
        b.is_empty().then_some(DeletedQueues { marks })
    }
}

/// Empties every queue of `topic` in the store: each queue's mark is its maximum now, its minimum is
/// raised to it, the marks are written durably, then the files wholly below are deleted. Appends that
/// come after (a topic created again) are readable from the mark on. Returns how many queues.
pub(super) async fn delete_topic(sh: &StoreState, topic: &str) -> Result<usize, StorageError> {
    // One writer of the marks file at a time (its temp file is shared).
    let _one_at_a_time = sh.checkpoint_lock.acquire_permit(1).await;
    let (marks, gone, n) = {
        let mut qs = sh.queues.borrow_mut();
        let mut d = sh.deletions.borrow_mut();
        let ids: Vec<u32> = qs
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|((_, q), _)| *q)
            .collect();
        let mut gone = Vec::new();
        for q in &ids {
            let mark = qs.next_offset(topic, *q);
            d.insert(topic, *q, mark);
            gone.extend(qs.raise_min(topic, *q, mark));
        }
        (d.clone(), gone, ids.len())
    };
    if n == 0 {
        return Ok(0);
    }
    write(&sh.io, &sh.cfg.dir, &marks).await?;
    remove_paths(&sh.io, gone).await?;
    tracing::info!(
        topic,
        queues = n,
        "messages of a deleted topic dropped from its queues"
    );
    Ok(n)
}

/// A replica: adopts its master's marks (each replaces this store's for its queue), applies them as far as the
/// queues' entries reach, and writes the file if a mark rose. Marks ahead of the entries are applied
/// again after each replica append ([`settle_after_append`]).
pub(super) async fn adopt(
    sh: &StoreState,
    marks: Vec<(String, u32, QueueOffset)>,
) -> Result<(), StorageError> {
    if marks.is_empty() {
        return Ok(());
    }
    let _one_at_a_time = sh.checkpoint_lock.acquire_permit(1).await;
    let (changed, gone) = {
        let mut d = sh.deletions.borrow_mut();
        let before = d.clone();
        // The master's marks replace ours: after a crash that lost records the master lowers a
        // mark (the table above), and so must we.
        for (t, q, m) in marks {
            d.marks.insert((t, q), m);
        }
        let (gone, ahead) = d.settle(&mut sh.queues.borrow_mut());
        sh.deletions_ahead.set(ahead);
        ((*d != before).then(|| d.clone()), gone)
    };
    if let Some(marks) = changed {
        write(&sh.io, &sh.cfg.dir, &marks).await?;
    }
    remove_paths(&sh.io, gone).await
}

/// A replica, after an append: applies marks that were ahead of their queues' entries (files now
/// wholly below are deleted in the background).
pub(super) fn settle_after_append(sh: &StoreState) {
    if !sh.deletions_ahead.get() {
        return;
    }
    let (gone, ahead) = sh.deletions.borrow().settle(&mut sh.queues.borrow_mut());
    sh.deletions_ahead.set(ahead);
    if !gone.is_empty() {
        let io = sh.io.clone();
        glommio::spawn_local(async move {
            if let Err(e) = remove_paths(&io, gone).await {
                tracing::warn!(error = %e, "cannot delete a deleted topic's consume-queue file");
            }
        })
        .detach();
    }
}

/// After a retention round: drops the marks it made useless and writes the file if one went.
pub(super) async fn prune(sh: &StoreState) -> Result<(), StorageError> {
    let _one_at_a_time = sh.checkpoint_lock.acquire_permit(1).await;
    let marks = {
        let mut d = sh.deletions.borrow_mut();
        if !d.prune(&sh.queues.borrow()) {
            return Ok(());
        }
        d.clone()
    };
    write(&sh.io, &sh.cfg.dir, &marks).await
}

/// Deletes files (one already gone is fine).
pub(super) async fn remove_paths(
    io: &Rc<dyn StorageIo>,
    paths: Vec<PathBuf>,
) -> Result<(), StorageError> {
    for p in paths {
        match io.remove_file(&p).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_io("remove consume queue", p, e)),
        }
    }
    Ok(())
}

/// Reads the marks in `dir`: none when the file is absent; a corrupt file is logged and ignored.
pub async fn read(io: &Rc<dyn StorageIo>, dir: &Path) -> Result<DeletedQueues, StorageError> {
    let Some(buf) = super::checkpoint::read_file(io, dir, DELETIONS_FILE).await? else {
        return Ok(DeletedQueues::default());
    };
    Ok(DeletedQueues::decode(&buf).unwrap_or_else(|| {
        tracing::error!(
            file = %dir.join(DELETIONS_FILE).display(),
            "deleted-queue marks corrupt: ignored, messages of deleted topics are readable again"
        );
        DeletedQueues::default()
    }))
}

/// Writes the marks atomically.
pub async fn write(
    io: &Rc<dyn StorageIo>,
    dir: &Path,
    marks: &DeletedQueues,
) -> Result<(), StorageError> {
    super::checkpoint::write_file(io, dir, DELETIONS_FILE, &marks.encode()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_at_open_table_rows() {
        let q = QueueOffset;
        // | absent | dropped |
        assert_eq!(mark_at_open(q(5), None), MarkAtOpen::Drop);
        // | max >= mark | min raised to the mark |
        assert_eq!(mark_at_open(q(5), Some(q(5))), MarkAtOpen::Raise(q(5)));
        assert_eq!(mark_at_open(q(5), Some(q(9))), MarkAtOpen::Raise(q(5)));
        // | max < mark | mark lowered to max |
        assert_eq!(mark_at_open(q(5), Some(q(3))), MarkAtOpen::Lower(q(3)));
    }

    #[test]
    fn marks_only_rise_and_round_trip() {
        let mut d = DeletedQueues::default();
        assert_eq!(d.start("T", 0), QueueOffset(0));
        d.insert("T", 0, QueueOffset(7));
        d.insert("T", 0, QueueOffset(3));
        d.insert("%RETRY%g", 2, QueueOffset(1));
        assert_eq!(d.start("T", 0), QueueOffset(7));
        assert_eq!(d.start("T", 1), QueueOffset(0));
        let b = d.encode();
        assert_eq!(DeletedQueues::decode(&b), Some(d.clone()));
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x40;
            assert_eq!(DeletedQueues::decode(&bad), None, "flip at {i}");
        }
        assert_eq!(DeletedQueues::decode(&b[..b.len() - 1]), None);
        assert_eq!(
            DeletedQueues::decode(&DeletedQueues::default().encode()),
            Some(DeletedQueues::default())
        );
    }
}
