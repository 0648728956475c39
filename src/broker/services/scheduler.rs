//! The delay scheduler of a shard: re-puts parked delayed and timer messages on their real topic
//! and queue when they are due. One task per shard, over that shard's own parking queues
//! (`SCHEDULE_TOPIC_XXXX` queue per delay level, `rmq_sys_wheel_timer` queue 0; see
//! [`crate::broker::delay`], which parks them on the put path).
//!
//! Where the pending timers live. A parked message is a record in the commit log plus one
//! consume-queue entry of its parking queue, whose tags-code slot holds its due time. Storage keeps
//! every consume-queue entry in memory (20 bytes, `storage::consume_queue`), so that entry IS the
//! timer index: parked records are not put in the key index (no client can query the parking
//! topics), and the scheduler adds nothing per pending timer. 10M pending timers cost ~200 MB of
//! consume queue, all of it storage's. What the scheduler holds is the near window:
//!
//! ```text
//!   consume queues of the parking queues (storage, in memory, durable through the commit log)
//!     │  full sweep when the window moves (every WINDOW_MS/2), skipped while nothing
//!     │  pending is due inside the new window; incremental scan of new entries on each wake
//!     ▼
//!   heap of (due_ms, physical offset) due before `horizon` = now + WINDOW_MS   (≈ rate × 30 s)
//!     │  popped when due (a timer wakes the task at the earliest due time: ms precision)
//!     ▼
//!   re-put through the put path (`Broker::put_message`), up to BATCH_MAX at once (one group commit)
//! ```
//!
//! Rejected: a separate time-bucketed file index (Java 5's timer log + wheel): it would duplicate
//! what the in-memory consume queue already holds, and need its own recovery. Rejected: a tick
//! (Java's 1 s, 100 ms for levels): the task sleeps until the earliest due time instead.
//! Cost: a sweep reads every pending entry from memory (~30 ms per 10M, yielding every 4096).
//!
//! Exactly once across crashes. Delivery is in `(due_ms, physical offset)` order, so progress is
//! one watermark: every parked entry whose key is at or below it was delivered. The put path parks
//! nothing due at or before the latest due time already delivered (it delivers such a message
//! at once), so a new entry always lands above the watermark. Every `PERSIST_INTERVAL_MS` (and at
//! shutdown) the scheduler flushes the store, then writes `schedule-shard-<k>.json`: the watermark,
//! each queue's `low` (below it everything is done), and `log_position`, the log end at that moment
//! (no re-put of the scheduler is in flight then). Each re-put carries `SCHEDULE_SOURCE_OFFSET` =
//! the physical offset of its parked record. After a crash, the records from `log_position` to the
//! end of the log (about a second of writes: the task looks at the log's growth every
//! `LOG_CHECK_MS` and writes the file when it grew) are read once, and not at all when no parking
//! queue had anything pending; a stop interrupts that read; the sources named there are
//! done, and are skipped when they come due: a message whose re-put was durable is not re-put, one
//! whose re-put was lost is. A message due while the broker was down is delivered at start.
//!
//! Retention. Storage deletes segments older than `retention_hours` whatever they hold, and timers
//! may be due later than that (`timer_max_delay_sec`, 30 days by default). So a pending message
//! whose parked record is older than half the retention time is re-parked ("rolled", as Java 5
//! calls it): a copy with the same due time is appended to its parking queue, carrying
//! `SCHEDULE_SOURCE_OFFSET` of the old one (so a crash after the roll does not roll or deliver it
//! twice), and `low` moves past the old one. Each queue's `low` is also handed to retention as a
//! consumed floor, so a disk-usage cleanup keeps parked messages like unconsumed ones.
//!
//! A failed re-put (the store refused it: disk full) goes back into the heap and is retried after
//! `RETRY_BACKOFF_MS`; the watermark does not pass it, and later entries of its batch that did go
//! through are remembered as done. A parked record that cannot be read or names no REAL_TOPIC is
//! logged and dropped (it cannot be delivered).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::broker::delay::{SCHEDULE_TOPIC, TIMER_TOPIC};
use crate::broker::processors::send::{PutError, PutMessage};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::message::properties::{keys, Properties};
use crate::message::{self, NewRecord};
use crate::net::StopSignal;
use crate::storage::datadir::write_atomically;
use crate::storage::{AppendMessage, PhysicalOffset, QueueOffset, StorageError};

/// Width of the near window held in the heap.
pub const WINDOW_MS: i64 = 30_000;
/// Longest between two progress checkpoints while something changed.
pub const PERSIST_INTERVAL_MS: i64 = 500;
/// Re-puts issued at once (they share group commits).
pub const BATCH_MAX: usize = 512;
/// Consume-queue entries read per step of a sweep (then the task yields).
const SCAN_CHUNK: usize = 4096;
/// Wait before retrying re-puts the store refused.
const RETRY_BACKOFF_MS: i64 = 1_000;
/// Youngest a parked record is re-parked at (see "Retention" in the module docs).
const ROLL_AGE_MIN_MS: i64 = 60_000;
/// Longest the task sleeps without looking at the log's growth (a checkpoint follows when it
/// grew): what bounds the start-up read to about a second of writes. A window-long sleep let a
/// busy broker write gigabytes past the checkpoint, all read again after a kill -9.
const LOG_CHECK_MS: i64 = 1_000;
/// Records read between two looks at the stop signal during the start-up read.
const READ_STOP_CHECK_RECORDS: u64 = 4096;

/// Due time, then physical offset of the parked record: the delivery order.
type Key = (i64, u64);

/// The scheduler's face on the shard's [`Broker`]: the put path tells it about parked messages
/// and reads the latest delivered due time from it.
#[derive(Default)]
pub struct Scheduler {
    woken: Cell<bool>,
    waker: Cell<Option<Waker>>,
    /// When the task wakes next by itself.
    sleep_until_ms: Cell<i64>,
    /// The latest due time delivered (or being delivered); see [`crate::broker::delay`].
    delivered_up_to_ms: Cell<i64>,
    /// Per parking queue, the lowest queue offset not yet done (what retention must keep).
    floors: RefCell<Vec<(String, u32, QueueOffset)>>,
    pub parked_total: Cell<u64>,
    pub delivered_total: Cell<u64>,
}

impl Scheduler {
    /// A message due at `due_ms` was parked on this shard.
    pub fn parked(&self, due_ms: i64) {
        self.parked_total.set(self.parked_total.get() + 1);
        if due_ms < self.sleep_until_ms.get() {
            self.woken.set(true);
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }

    pub fn delivered_up_to_ms(&self) -> i64 {
        self.delivered_up_to_ms.get()
    }

    /// Per parking queue, the lowest queue offset retention must keep.
    pub fn floors(&self) -> Vec<(String, u32, QueueOffset)> {
        self.floors.borrow().clone()
    }

    async fn woken(&self) {
        std::future::poll_fn(|cx| {
            if self.woken.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// The persisted progress (`schedule-shard-<k>.json`); see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub watermark_due_ms: i64,
    pub watermark_offset: u64,
    /// Log end when written: later records are read at start for re-puts done since.
    pub log_position: u64,
    /// (topic, queue id, low queue offset) per parking queue.
    pub low: Vec<(String, u32, u64)>,
}

struct ParkQueue {
    topic: &'static str,
    id: u32,
    /// Every entry below is done.
    low: u64,
    /// Every entry below was looked at for the current horizon.
    scanned: u64,
}

struct Run {
    b: Rc<Broker>,
    /// Disconnected when the process begins to shut down: long sweeps stop early.
    stop: StopSignal,
    path: PathBuf,
    queues: Vec<ParkQueue>,
    heap: BinaryHeap<Reverse<Key>>,
    watermark: Key,
    horizon_ms: i64,
    /// Earliest due time seen among pending entries left out of the heap (beyond the horizon).
    far_min_ms: i64,
    /// Parked entries above the watermark already re-put (or rolled): source offset → offset of
    /// the copy. Found by the start-up read, or left by a batch with a failure in it.
    done: HashMap<u64, u64>,
    dirty: bool,
    persisted_at_ms: i64,
    /// The log end when the last checkpoint was written (or the start-up read ended).
    persisted_log_end: u64,
    retry_at_ms: i64,
}

/// The service loop. See the module docs.
pub async fn run(b: Rc<Broker>, stop: StopSignal) {
    let path = b
        .cfg
        .data_dir
        .join(format!("schedule-shard-{}.json", b.shard.0));
    let mut r = match Run::open(b.clone(), path, stop.clone()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            // Stopped during the start-up read: the progress file stays as it was (what was read
            // is incomplete), and the next start reads again.
            tracing::info!(shard = %b.shard, "delay scheduler stopped during its start-up read");
            return;
        }
        Err(e) => {
            tracing::error!(shard = %b.shard, error = %e, "delay scheduler cannot start; parked messages wait for the next start");
            return;
        }
    };
    loop {
        let now = now_ms();
        if now + WINDOW_MS / 2 >= r.horizon_ms {
            r.advance_window(now).await;
        }
        if stop.is_disconnected() {
            break;
        }
        r.scan_new();
        if now >= r.retry_at_ms {
            r.deliver_due(now).await;
        }
        let now = now_ms();
        if r.should_persist(now) {
            r.persist().await;
        }
        let next = r.next_wake_ms();
        b.scheduler.sleep_until_ms.set(next);
        let wait_ms = (next - now_ms()).clamp(0, WINDOW_MS);
        if wait_ms == 0 {
            // Due already: yield to the requests of the shard, then go on.
            glommio::executor().yield_task_queue_now().await;
            continue;
        }
        let stopped = futures_lite::future::or(
            async {
                futures_lite::future::or(
                    glommio::timer::sleep(Duration::from_millis(wait_ms as u64)),
                    b.scheduler.woken(),
                )
                .await;
                false
            },
            async {
                let _ = stop.recv_async().await;
                true
            },
        )
        .await;
        if stopped {
            break;
        }
    }
    r.persist().await;
    tracing::info!(shard = %b.shard, parked = b.scheduler.parked_total.get(), delivered = b.scheduler.delivered_total.get(), pending_in_window = r.heap.len(), "delay scheduler stopped");
}

impl Run {
    /// `Ok(None)`: stopped before the start-up read was complete.
    async fn open(b: Rc<Broker>, path: PathBuf, stop: StopSignal) -> Result<Option<Run>, String> {
        let store = &b.store;
        let levels = b.cfg.message_delay_level_ms.len() as u32;
        // Every parking queue the store holds (an old config may have had more levels), and the
        // configured ones.
        let mut ids: Vec<(&'static str, u32)> = (0..levels).map(|q| (SCHEDULE_TOPIC, q)).collect();
        for (t, q) in store.queues() {
            if t == SCHEDULE_TOPIC && q >= levels {
                ids.push((SCHEDULE_TOPIC, q));
            }
        }
        ids.push((TIMER_TOPIC, 0));
        let any_parked = ids
            .iter()
            .any(|(t, q)| store.max_offset(t, *q) > store.min_offset(t, *q));
        let progress = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Progress>(&bytes)
                .map_err(|e| format!("{}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Progress {
                watermark_due_ms: i64::MIN,
                watermark_offset: 0,
                // Nothing parked yet: nothing re-put either. Else read the whole log once.
                log_position: if any_parked {
                    store.min_physical_offset().0
                } else {
                    store.log_end().0
                },
                low: Vec::new(),
            },
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let queues = ids
            .into_iter()
            .map(|(topic, id)| {
                let saved = progress
                    .low
                    .iter()
                    .find(|(t, q, _)| t == topic && *q == id)
                    .map_or(0, |l| l.2);
                let low = saved.max(store.min_offset(topic, id).0);
                ParkQueue {
                    topic,
                    id,
                    low,
                    scanned: low,
                }
            })
            .collect();
        let mut r = Run {
            b: b.clone(),
            stop,
            path,
            queues,
            heap: BinaryHeap::new(),
            watermark: (progress.watermark_due_ms, progress.watermark_offset),
            horizon_ms: i64::MIN,
            far_min_ms: i64::MIN,
            done: HashMap::new(),
            dirty: false,
            persisted_at_ms: now_ms(),
            persisted_log_end: store.log_end().0,
            retry_at_ms: i64::MIN,
        };
        b.scheduler
            .delivered_up_to_ms
            .set(progress.watermark_due_ms.max(0));
        // Nothing pending at the checkpoint and nothing parked since: no re-put can be in the log
        // past it, so there is nothing to read.
        let nothing_pending = r
            .queues
            .iter()
            .all(|q| q.low >= store.max_offset(q.topic, q.id).0);
        let from = if nothing_pending {
            store.log_end()
        } else {
            PhysicalOffset(progress.log_position)
        };
        let Some((records, bytes)) = r.read_done_since(from).await else {
            return Ok(None);
        };
        tracing::info!(shard = %b.shard, from = from.0, records_read = records, bytes_read = bytes, done_since_checkpoint = r.done.len(), "delay scheduler started");
        r.publish_floors();
        Ok(Some(r))
    }

    /// The start-up read: every record from `from` to the log end that the scheduler wrote (it
    /// names its source) marks that source done. Returns (records, bytes) read, or None when the
    /// shard stopped before the end was reached.
    async fn read_done_since(&mut self, from: PhysicalOffset) -> Option<(u64, u64)> {
        let store = &self.b.store;
        let end = store.log_end();
        let bases = store.segment_bases();
        let mut pos = from.max(store.min_physical_offset());
        let (mut records, mut bytes) = (0u64, 0u64);
        while pos < end {
            let head = match store.read(pos, 8).await {
                Ok(h) => message::peek_header(&h),
                Err(_) => None,
            };
            let rec = match head {
                Some((size, message::MAGIC_V1)) if size as usize >= message::RECORD_FIXED_BYTES => {
                    store.read(pos, size).await.ok()
                }
                _ => None,
            };
            let Some(rec) = rec else {
                // Segment padding (or an unreadable tail): go on at the next segment.
                match bases.iter().find(|b| **b > pos) {
                    Some(b) => {
                        pos = *b;
                        continue;
                    }
                    None => break,
                }
            };
            records += 1;
            bytes += rec.len() as u64;
            if records % READ_STOP_CHECK_RECORDS == 0 {
                glommio::yield_if_needed().await;
                if self.stop.is_disconnected() {
                    return None;
                }
            }
            if let Ok(v) = message::decode_record(&rec, false) {
                if let Some(src) =
                    message::properties::find(v.properties, keys::SCHEDULE_SOURCE_OFFSET)
                        .and_then(|s| s.parse::<u64>().ok())
                {
                    self.done.insert(src, pos.0);
                }
            }
            pos += rec.len() as u64;
        }
        Some((records, bytes))
    }

    /// Moves the window to `now + WINDOW_MS`: advances each queue's `low` (rolling old far
    /// entries), then sweeps the pending entries into the heap unless none is due in the window.
    async fn advance_window(&mut self, now: i64) {
        let new_horizon = now + WINDOW_MS;
        for qi in 0..self.queues.len() {
            self.advance_low(qi, new_horizon, now).await;
        }
        self.publish_floors();
        if self.far_min_ms >= new_horizon {
            // Nothing left out of the heap is due before the new horizon.
            self.horizon_ms = new_horizon;
            return;
        }
        let old_horizon = self.horizon_ms;
        let mut far_min = i64::MAX;
        for qi in 0..self.queues.len() {
            let (topic, id) = (self.queues[qi].topic, self.queues[qi].id);
            let scanned_before = self.queues[qi].scanned;
            let mut from = self.queues[qi].low;
            loop {
                let entries = self
                    .b
                    .store
                    .queue_entries(topic, id, QueueOffset(from), SCAN_CHUNK);
                let Some(last) = entries.last() else {
                    break;
                };
                from = last.queue_offset.0 + 1;
                for e in &entries {
                    let key = (e.tags_code, e.physical_offset.0);
                    if e.size_bytes == 0 || key <= self.watermark || self.done.contains_key(&key.1)
                    {
                        continue;
                    }
                    let fresh = e.queue_offset.0 >= scanned_before;
                    if e.tags_code < new_horizon {
                        if fresh || e.tags_code >= old_horizon {
                            self.heap.push(Reverse(key));
                        }
                    } else {
                        far_min = far_min.min(e.tags_code);
                    }
                }
                glommio::yield_if_needed().await;
                if self.stop.is_disconnected() {
                    return; // shutting down: the horizon stays, nothing is lost
                }
            }
            self.queues[qi].scanned = from.max(self.queues[qi].scanned);
        }
        self.far_min_ms = far_min;
        self.horizon_ms = new_horizon;
    }

    /// Entries appended to the parking queues since they were last looked at.
    fn scan_new(&mut self) {
        for q in &mut self.queues {
            loop {
                let entries =
                    self.b
                        .store
                        .queue_entries(q.topic, q.id, QueueOffset(q.scanned), SCAN_CHUNK);
                let Some(last) = entries.last() else {
                    break;
                };
                q.scanned = last.queue_offset.0 + 1;
                for e in &entries {
                    let key = (e.tags_code, e.physical_offset.0);
                    if e.size_bytes == 0 || key <= self.watermark || self.done.contains_key(&key.1)
                    {
                        continue;
                    }
                    if e.tags_code < self.horizon_ms {
                        self.heap.push(Reverse(key));
                    } else {
                        self.far_min_ms = self.far_min_ms.min(e.tags_code);
                    }
                }
            }
        }
    }

    /// Moves a queue's `low` past done entries; re-parks pending ones older than half the
    /// retention time that are not due within `horizon` (module docs).
    async fn advance_low(&mut self, qi: usize, horizon: i64, now: i64) {
        let (topic, id) = (self.queues[qi].topic, self.queues[qi].id);
        let min = self.b.store.min_offset(topic, id).0;
        if self.queues[qi].low < min {
            self.queues[qi].low = min;
            self.dirty = true;
        }
        self.queues[qi].scanned = self.queues[qi].scanned.max(self.queues[qi].low);
        // Half the retention time; at least a minute (retention 0 would re-park on every sweep).
        let roll_age_ms = i64::try_from(self.b.cfg.retention_hours.saturating_mul(1_800_000))
            .unwrap_or(i64::MAX)
            .max(ROLL_AGE_MIN_MS);
        'chunks: loop {
            let low = self.queues[qi].low;
            let entries = self
                .b
                .store
                .queue_entries(topic, id, QueueOffset(low), SCAN_CHUNK);
            if entries.is_empty() {
                break;
            }
            for e in entries {
                let key = (e.tags_code, e.physical_offset.0);
                let done = e.size_bytes == 0
                    || key <= self.watermark
                    || self.done.remove(&key.1).is_some();
                if !done {
                    if e.tags_code < horizon {
                        break 'chunks; // delivered from the heap soon
                    }
                    match self.store_age_ms(e.physical_offset, now).await {
                        Some(age) if age >= roll_age_ms => {
                            if !self.roll(e.physical_offset, topic, id, e.tags_code).await {
                                break 'chunks;
                            }
                        }
                        Some(_) => break 'chunks,
                        None => {
                            tracing::warn!(shard = %self.b.shard, topic, queue = id, offset = e.physical_offset.0, "parked record unreadable; dropped");
                        }
                    }
                }
                self.queues[qi].low = e.queue_offset.0 + 1;
                self.dirty = true;
            }
            glommio::yield_if_needed().await;
            if self.stop.is_disconnected() {
                break;
            }
        }
        self.queues[qi].scanned = self.queues[qi].scanned.max(self.queues[qi].low);
    }

    async fn store_age_ms(&self, phys: PhysicalOffset, now: i64) -> Option<i64> {
        let pos = message::pos::STORE_TIMESTAMP as u64;
        let b = self.b.store.read(phys + pos, 8).await.ok()?;
        let ts = i64::from_be_bytes(b.as_ref().try_into().ok()?);
        Some(now.saturating_sub(ts))
    }

    /// Re-parks one entry: a copy with the same due time at the end of its parking queue.
    async fn roll(&mut self, phys: PhysicalOffset, topic: &str, id: u32, due_ms: i64) -> bool {
        let rec = match self.b.store.read_record(phys).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(shard = %self.b.shard, offset = phys.0, error = %e, "parked record unreadable; dropped");
                return true;
            }
        };
        let Ok(v) = message::decode_record(&rec, false) else {
            return true;
        };
        let mut props = Properties::parse(v.properties);
        let rolls: u32 = props
            .get(keys::TIMER_ROLL_TIMES)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        props.set(keys::TIMER_ROLL_TIMES, &(rolls + 1).to_string());
        props.set(keys::SCHEDULE_SOURCE_OFFSET, &phys.0.to_string());
        let properties = props.to_wire();
        let nr = NewRecord::copy_of(&v, topic, id, &properties);
        let mut record = bytes::BytesMut::new();
        if message::encode_record(&nr, &mut record).is_err() {
            return true;
        }
        let msg = AppendMessage {
            record,
            topic: topic.to_string(),
            queue_id: id,
            tags_code: due_ms,
            keys: Vec::new(),
        };
        match self.b.store.append(msg).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(shard = %self.b.shard, error = %e, "re-parking an old timer failed; retried later");
                false
            }
        }
    }

    /// Re-puts the entries due at `now`, at most [`BATCH_MAX`], concurrently; moves the watermark
    /// over the batch's prefix that went through.
    async fn deliver_due(&mut self, now: i64) {
        // (key, copy offset if it was re-put already)
        let mut batch: Vec<(Key, Option<u64>)> = Vec::new();
        while let Some(Reverse(key)) = self.heap.peek().copied() {
            if key.0 > now || batch.len() >= BATCH_MAX {
                break;
            }
            self.heap.pop();
            // The heap pops in order: a key pushed twice comes out twice in a row.
            if key <= self.watermark || batch.last().is_some_and(|(k, _)| *k == key) {
                continue;
            }
            let copy = self.done.remove(&key.1);
            batch.push((key, copy));
        }
        if batch.is_empty() {
            return;
        }
        let top_due = batch.iter().map(|(k, _)| k.0).max().unwrap_or(i64::MIN);
        let sched = &self.b.scheduler;
        sched
            .delivered_up_to_ms
            .set(sched.delivered_up_to_ms.get().max(top_due));
        let tasks: Vec<_> = batch
            .iter()
            .map(|(k, copy)| {
                copy.is_none().then(|| {
                    glommio::spawn_local(repute(self.b.clone(), PhysicalOffset(k.1))).detach()
                })
            })
            .collect();
        let mut failed = false;
        for ((key, copy), t) in batch.into_iter().zip(tasks) {
            let outcome = match (copy, t) {
                (Some(c), _) => Outcome::Delivered(c),
                (None, Some(t)) => t.await.unwrap_or(Outcome::Retry),
                (None, None) => Outcome::Retry,
            };
            match outcome {
                Outcome::Retry => {
                    failed = true;
                    self.heap.push(Reverse(key));
                }
                Outcome::Delivered(c) if failed => {
                    self.done.insert(key.1, c);
                }
                Outcome::Dropped if failed => {
                    self.done.insert(key.1, u64::MAX);
                }
                Outcome::Delivered(_) | Outcome::Dropped => self.watermark = key,
            }
            if copy.is_none() && !matches!(outcome, Outcome::Retry) {
                sched.delivered_total.set(sched.delivered_total.get() + 1);
            }
        }
        self.dirty = true;
        if failed {
            self.retry_at_ms = now_ms() + RETRY_BACKOFF_MS;
        }
    }

    /// Something delivered, or the log grew (its new records must not be read again at the next
    /// start), and the last checkpoint is older than PERSIST_INTERVAL_MS.
    fn should_persist(&self, now: i64) -> bool {
        let grown = self.b.store.log_end().0 > self.persisted_log_end;
        (self.dirty || grown) && now >= self.persisted_at_ms + PERSIST_INTERVAL_MS
    }

    /// Flushes the store, then writes the progress file (module docs). No re-put is in flight.
    async fn persist(&mut self) {
        if let Err(e) = self.b.store.flush().await {
            tracing::warn!(shard = %self.b.shard, error = %e, "flush before the scheduler checkpoint failed");
            return;
        }
        let log_end = self.b.store.log_end().0;
        // Re-puts remembered as done (above the watermark) must be read again after a crash.
        let position = self
            .done
            .values()
            .copied()
            .chain(std::iter::once(log_end))
            .min()
            .unwrap_or(0);
        let p = Progress {
            watermark_due_ms: self.watermark.0,
            watermark_offset: self.watermark.1,
            log_position: position,
            low: self
                .queues
                .iter()
                .map(|q| (q.topic.to_string(), q.id, q.low))
                .collect(),
        };
        let Ok(bytes) = serde_json::to_vec(&p) else {
            return;
        };
        let path = self.path.clone();
        let written = glommio::executor()
            .spawn_blocking(move || write_atomically(&path, &bytes))
            .await;
        match written {
            Ok(()) => {
                self.dirty = false;
                self.persisted_at_ms = now_ms();
                self.persisted_log_end = log_end;
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "cannot write the scheduler checkpoint")
            }
        }
    }

    fn publish_floors(&self) {
        *self.b.scheduler.floors.borrow_mut() = self
            .queues
            .iter()
            .map(|q| (q.topic.to_string(), q.id, QueueOffset(q.low)))
            .collect();
    }

    fn next_wake_ms(&self) -> i64 {
        let mut next = self.horizon_ms - WINDOW_MS / 2;
        if let Some(Reverse((due, _))) = self.heap.peek() {
            next = next.min((*due).max(self.retry_at_ms));
        }
        if self.dirty {
            next = next.min(self.persisted_at_ms + PERSIST_INTERVAL_MS);
        }
        next.min(now_ms() + LOG_CHECK_MS)
    }
}

/// How one re-put ended.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// On its real queue; the copy's physical offset.
    Delivered(u64),
    /// Cannot be delivered (unreadable, no destination, refused); logged.
    Dropped,
    /// The store failed; try again later.
    Retry,
}

/// Re-puts one parked message on its real topic and queue through the put path.
async fn repute(b: Rc<Broker>, phys: PhysicalOffset) -> Outcome {
    let rec = match b.store.read_record(phys).await {
        Ok(r) => r,
        Err(StorageError::NotFound { .. }) | Err(StorageError::Corrupted { .. }) => {
            tracing::warn!(shard = %b.shard, offset = phys.0, "parked record gone or corrupted; dropped");
            return Outcome::Dropped;
        }
        Err(e) => {
            tracing::warn!(shard = %b.shard, offset = phys.0, error = %e, "reading a parked record failed; retried");
            return Outcome::Retry;
        }
    };
    let Ok(v) = message::decode_record(&rec, false) else {
        return Outcome::Dropped;
    };
    let mut props = Properties::parse(v.properties);
    let real_topic = props.get(keys::REAL_TOPIC).map(str::to_string);
    let real_qid = props
        .get(keys::REAL_QID)
        .and_then(|q| q.parse::<u32>().ok());
    let (Some(topic), Some(queue_id)) = (real_topic, real_qid) else {
        tracing::warn!(shard = %b.shard, offset = phys.0, "parked record names no REAL_TOPIC/REAL_QID; dropped");
        return Outcome::Dropped;
    };
    props.set(keys::SCHEDULE_SOURCE_OFFSET, &phys.0.to_string());
    let put = PutMessage {
        topic: &topic,
        queue_id,
        flag: v.flag,
        sys_flag: v.sys_flag,
        born_timestamp_ms: v.born_timestamp_ms,
        born_host: v.born_host,
        store_host: v.store_host,
        reconsume_times: v.reconsume_times,
        prepared_tx_offset: v.prepared_tx_offset,
        body: v.body,
        due: true,
    };
    match b.put_message(&put, &mut props).await {
        Ok((r, _)) => Outcome::Delivered(r.physical_offset.0),
        Err(PutError::Refused((code, remark))) => {
            tracing::warn!(shard = %b.shard, offset = phys.0, code, %remark, "due message refused by the put path; dropped");
            Outcome::Dropped
        }
        Err(PutError::Storage(e)) => {
            tracing::warn!(shard = %b.shard, offset = phys.0, error = %e, "re-put failed; retried");
            Outcome::Retry
        }
    }
}
