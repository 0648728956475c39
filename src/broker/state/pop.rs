//! What POP consumers of a queue have in flight: per (group, topic, queue) on the shard that owns
//! the queue, the next offset never popped and the popped messages not acked yet, each with when
//! it becomes visible again. Plain data; callers pass `now_ms`.
//!
//! Why this shape (not Java's): the Java broker writes a checkpoint record per pop and an ack record
//! per ack into its log, and a revive service moves what was not acked in time into a retry topic.
//! Here a message that was not acked in time is delivered again from its own queue, with its
//! reconsume count raised, and the group's committed offset (the offset table, persisted as every
//! offset is) is the lowest offset still in flight. So nothing is written per pop or ack, and a
//! crash loses no message: what was in flight is popped again from the committed offset
//! (at-least-once, as pull consumers get).
//!
//! The committed offset is written to the offset table whenever it moves. An offset in the table
//! that is not the one written here (an operator reset it, or a pull consumer of the group
//! committed) wins: the queue's state starts again from it, with nothing in flight.
//!
//! Ack and change of invisible time, decided by [`PopQueue::settle`]:
//!
//! | in flight | receipt's pop time is the delivery's | ack | change invisible time |
//! |---|---|---|---|
//! | no (acked already, or never popped) | - | nothing | nothing |
//! | yes | no (an earlier delivery's receipt) | nothing | nothing |
//! | yes | yes | removed; the committed offset may move | visible again at now + time; new pop time now |
//!
//! The answer is SUCCESS in every row (as the Java broker answers a stale ack); the caller answers
//! NO_MESSAGE for an offset outside the queue before asking.

use std::collections::{BTreeMap, HashMap};

/// Most messages in flight per (group, queue): past it, a pop takes nothing new from the queue
/// (only redeliveries) until acks or time bring it below.
pub const INFLIGHT_MAX: usize = 65_536;

/// One popped message not acked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inflight {
    /// When a pop may deliver it again (wall ms).
    pub visible_at_ms: i64,
    /// The pop time of its current delivery (what its receipt carries).
    pub pop_time_ms: i64,
    /// Deliveries so far (1 after the first pop).
    pub deliveries: u32,
}

/// One group's state on one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PopQueue {
    /// First offset never popped.
    pub next: u64,
    pub inflight: BTreeMap<u64, Inflight>,
    /// The committed offset last written to the offset table.
    written: i64,
}

/// What an ack or a change of invisible time asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Ack,
    /// Visible again this long from now (ms).
    ChangeInvisible(i64),
}

/// What [`PopQueue::settle`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Nothing (rows 1 and 2 of the table).
    Nothing,
    Acked,
    /// Visible again later; the new delivery's pop time.
    Changed {
        pop_time_ms: i64,
    },
}

impl PopQueue {
    /// The group's committed offset: the lowest offset in flight, else the next never popped.
    pub fn committed(&self) -> u64 {
        self.inflight.keys().next().copied().unwrap_or(self.next)
    }

    /// In-flight offsets visible again at `now_ms`, lowest first, at most `max`.
    pub fn due(&self, now_ms: i64, max: usize) -> Vec<u64> {
        self.inflight
            .iter()
            .filter(|(_, f)| f.visible_at_ms <= now_ms)
            .map(|(o, _)| *o)
            .take(max)
            .collect()
    }

    /// Messages in flight that are not visible again yet (an orderly pop takes nothing new then).
    pub fn invisible(&self, now_ms: i64) -> usize {
        self.inflight
            .values()
            .filter(|f| f.visible_at_ms > now_ms)
            .count()
    }

    /// The soonest time an in-flight message becomes visible again.
    pub fn next_visible_ms(&self) -> Option<i64> {
        self.inflight.values().map(|f| f.visible_at_ms).min()
    }

    /// Records a delivery of `offset` (a new one at `next`, or a redelivery); returns the
    /// message's reconsume count for this delivery (0 on the first).
    pub fn deliver(
        &mut self,
        offset: u64,
        now_ms: i64,
        invisible_ms: i64,
        pop_time_ms: i64,
    ) -> u32 {
        let f = self.inflight.entry(offset).or_insert(Inflight {
            visible_at_ms: 0,
            pop_time_ms,
            deliveries: 0,
        });
        f.deliveries += 1;
        f.visible_at_ms = now_ms.saturating_add(invisible_ms.max(0));
        f.pop_time_ms = pop_time_ms;
        if offset >= self.next {
            self.next = offset + 1;
        }
        f.deliveries - 1
    }

    /// Moves `next` past entries a pop looked at and did not deliver (filtered out).
    pub fn skip_to(&mut self, next: u64) {
        self.next = self.next.max(next);
    }

    /// Forgets an in-flight offset whose message is gone (retention removed it).
    pub fn forget(&mut self, offset: u64) {
        self.inflight.remove(&offset);
    }

    /// The table in the module comment.
    pub fn settle(
        &mut self,
        offset: u64,
        receipt_pop_time_ms: i64,
        what: Settle,
        now_ms: i64,
    ) -> Settled {
        let Some(f) = self.inflight.get_mut(&offset) else {
            return Settled::Nothing;
        };
        if f.pop_time_ms != receipt_pop_time_ms {
            return Settled::Nothing;
        }
        match what {
            Settle::Ack => {
                self.inflight.remove(&offset);
                Settled::Acked
            }
            Settle::ChangeInvisible(ms) => {
                f.visible_at_ms = now_ms.saturating_add(ms.max(0));
                f.pop_time_ms = now_ms;
                Settled::Changed {
                    pop_time_ms: now_ms,
                }
            }
        }
    }
}

/// Every group's [`PopQueue`] of this shard's queues.
#[derive(Debug, Default)]
pub struct PopTable {
    queues: HashMap<(String, String, u32), PopQueue>,
}

/// Where a queue's state starts when there is none, or when the offset table moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBounds {
    /// The group's committed offset in the offset table, if any.
    pub stored: Option<i64>,
    pub min: u64,
    pub max: u64,
    /// Where a group with no committed offset starts (the caller applies `initMode`).
    pub init: u64,
}

impl PopTable {
    /// The group's state on the queue, (re)started from the offset table when it has none or when
    /// the table holds an offset other than the one this state wrote; `next` is kept within the
    /// queue's bounds and in-flight offsets retention removed are forgotten.
    pub fn queue(&mut self, group: &str, topic: &str, qid: u32, b: QueueBounds) -> &mut PopQueue {
        let key = (group.to_string(), topic.to_string(), qid);
        let start = |b: &QueueBounds| match b.stored {
            Some(o) if o >= 0 => o as u64,
            _ => b.init,
        };
        let q = self.queues.entry(key).or_insert_with(|| PopQueue {
            next: start(&b),
            inflight: BTreeMap::new(),
            written: b.stored.unwrap_or(-1),
        });
        if b.stored.unwrap_or(-1) != q.written {
            *q = PopQueue {
                next: start(&b),
                inflight: BTreeMap::new(),
                written: b.stored.unwrap_or(-1),
            };
        }
        q.next = q.next.clamp(b.min, b.max.max(b.min));
        let gone: Vec<u64> = q.inflight.range(..b.min).map(|(o, _)| *o).collect();
        for o in gone {
            q.inflight.remove(&o);
        }
        q
    }

    /// The state if there is one (no start).
    pub fn get_mut(&mut self, group: &str, topic: &str, qid: u32) -> Option<&mut PopQueue> {
        self.queues
            .get_mut(&(group.to_string(), topic.to_string(), qid))
    }

    /// Records the queue's committed offset as written to the offset table: `Some(offset)` when it
    /// moved since the last write (the caller writes it), `None` when the table already holds it.
    pub fn mark_written(q: &mut PopQueue) -> Option<i64> {
        let c = q.committed() as i64;
        if c == q.written {
            return None;
        }
        q.written = c;
        Some(c)
    }

    /// Drops the states of a deleted group or of a deleted topic (called with the offsets' removal,
    /// so that a deleted group's in-flight messages do not stay in memory).
    pub fn remove_where(&mut self, group: Option<&str>, topic: Option<&str>) {
        self.queues.retain(|(g, t, _), _| {
            !(group.is_some_and(|x| x == g) || topic.is_some_and(|x| x == t))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(stored: Option<i64>, min: u64, max: u64, at_max: bool) -> QueueBounds {
        QueueBounds {
            stored,
            min,
            max,
            init: if at_max { max } else { min },
        }
    }

    #[test]
    fn a_new_group_starts_where_its_init_mode_says() {
        let mut t = PopTable::default();
        assert_eq!(t.queue("G", "T", 0, bounds(None, 2, 10, false)).next, 2);
        assert_eq!(t.queue("H", "T", 0, bounds(None, 2, 10, true)).next, 10);
        assert_eq!(t.queue("I", "T", 0, bounds(Some(5), 2, 10, true)).next, 5);
        // Below the queue's first message: from its first message.
        assert_eq!(t.queue("J", "T", 0, bounds(Some(0), 2, 10, true)).next, 2);
    }

    #[test]
    fn the_committed_offset_is_the_lowest_in_flight() {
        let mut q = PopQueue::default();
        assert_eq!(q.deliver(0, 100, 1000, 100), 0);
        assert_eq!(q.deliver(1, 100, 1000, 100), 0);
        assert_eq!(q.deliver(2, 100, 1000, 100), 0);
        assert_eq!((q.next, q.committed()), (3, 0));
        assert_eq!(q.settle(1, 100, Settle::Ack, 150), Settled::Acked);
        assert_eq!(q.committed(), 0);
        assert_eq!(q.settle(0, 100, Settle::Ack, 150), Settled::Acked);
        assert_eq!(q.committed(), 2);
        assert_eq!(q.settle(2, 100, Settle::Ack, 150), Settled::Acked);
        assert_eq!(q.committed(), 3);
    }

    /// The table in the module comment, row by row.
    #[test]
    fn settle_rows() {
        let fresh = || {
            let mut q = PopQueue::default();
            q.deliver(4, 1000, 500, 1000);
            q
        };
        // Row 1: not in flight.
        let mut q = fresh();
        assert_eq!(q.settle(3, 1000, Settle::Ack, 1200), Settled::Nothing);
        assert_eq!(
            q.settle(3, 1000, Settle::ChangeInvisible(9), 1200),
            Settled::Nothing
        );
        assert_eq!(q.inflight.len(), 1);
        // Row 2: an earlier delivery's receipt.
        let mut q = fresh();
        assert_eq!(q.settle(4, 999, Settle::Ack, 1200), Settled::Nothing);
        assert_eq!(
            q.settle(4, 999, Settle::ChangeInvisible(9), 1200),
            Settled::Nothing
        );
        assert_eq!(q.inflight[&4].visible_at_ms, 1500);
        // Row 3: the current receipt.
        let mut q = fresh();
        assert_eq!(q.settle(4, 1000, Settle::Ack, 1200), Settled::Acked);
        assert!(q.inflight.is_empty());
        let mut q = fresh();
        assert_eq!(
            q.settle(4, 1000, Settle::ChangeInvisible(3000), 1200),
            Settled::Changed { pop_time_ms: 1200 }
        );
        assert_eq!(q.inflight[&4].visible_at_ms, 4200);
        // The old receipt no longer acks it; the new one does.
        assert_eq!(q.settle(4, 1000, Settle::Ack, 1300), Settled::Nothing);
        assert_eq!(q.settle(4, 1200, Settle::Ack, 1300), Settled::Acked);
    }

    #[test]
    fn what_is_not_acked_in_time_comes_due_with_a_higher_count() {
        let mut q = PopQueue::default();
        q.deliver(0, 1000, 500, 1000);
        q.deliver(1, 1000, 800, 1000);
        assert!(q.due(1499, 10).is_empty());
        assert_eq!(q.due(1500, 10), vec![0]);
        assert_eq!(q.due(1800, 10), vec![0, 1]);
        assert_eq!(q.due(1800, 1), vec![0]);
        assert_eq!(q.next_visible_ms(), Some(1500));
        assert_eq!(q.invisible(1600), 1);
        assert_eq!(q.deliver(0, 1600, 500, 1600), 1);
        assert_eq!(q.deliver(0, 2100, 500, 2100), 2);
        assert_eq!(q.next, 2);
    }

    #[test]
    fn an_offset_moved_by_someone_else_restarts_the_queue() {
        let mut t = PopTable::default();
        let q = t.queue("G", "T", 1, bounds(Some(0), 0, 10, false));
        q.deliver(0, 0, 1000, 0);
        q.deliver(1, 0, 1000, 0);
        q.settle(0, 0, Settle::Ack, 0);
        assert_eq!(PopTable::mark_written(q), Some(1));
        assert_eq!(PopTable::mark_written(q), None);
        // The table still says 1: the state stays.
        let q = t.queue("G", "T", 1, bounds(Some(1), 0, 10, false));
        assert_eq!((q.next, q.inflight.len()), (2, 1));
        // An operator reset the offset to 7: start again there, nothing in flight.
        let q = t.queue("G", "T", 1, bounds(Some(7), 0, 10, false));
        assert_eq!((q.next, q.inflight.len()), (7, 0));
    }

    #[test]
    fn retention_drops_what_it_removed() {
        let mut t = PopTable::default();
        let q = t.queue("G", "T", 0, bounds(None, 0, 10, false));
        q.deliver(0, 0, 1000, 0);
        q.deliver(5, 0, 1000, 0);
        let q = t.queue("G", "T", 0, bounds(None, 3, 10, false));
        assert_eq!(q.inflight.keys().copied().collect::<Vec<_>>(), vec![5]);
        assert_eq!(q.next, 6);
        t.remove_where(Some("G"), None);
        assert!(t.get_mut("G", "T", 0).is_none());
    }
}
