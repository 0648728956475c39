//! Pending transactional half messages of one shard, and the rules that say when each is checked.
//!
//! A half message is stored by the shard that owns its real queue (`processors::transaction`), in the
//! system topic `RMQ_SYS_TRANS_HALF_TOPIC` on the one queue of that topic this shard owns
//! ([`owned_queue`]); its decision (commit, rollback, discard) and every check sent for it are "op"
//! records in `RMQ_SYS_TRANS_OP_HALF_TOPIC`, on this shard's queue of that topic. The log is the
//! truth; this table is what the shard knows from it, rebuilt at start by
//! `services::transaction_check` from the two queues, between the floors below.
//!
//! Each entry is keyed by its half queue offset (what END_TRANSACTION names as
//! `tranStateTableOffset`). An entry being resolved stays in the table (state [`HalfState::Resolving`])
//! until its op record is appended, so a second END_TRANSACTION for it cannot apply twice and the
//! floors never pass it.
//!
//! Floors (persisted as the offsets of group `CID_RMQ_SYS_TRANS`, like the Java broker's): the half
//! floor is the lowest half queue offset still in the table (else the queue's end), the op floor the
//! lowest `op_mark` (the op queue's end when the half was stored: no op for it can be older). A
//! stale persisted floor is safe, only slower to recover from; retention keeps what is above them.
//!
//! Check schedule, one function ([`next_check_ms`]) tested row by row:
//!
//! | checks sent | next check at |
//! |---|---|
//! | 0 | born + immunity (`transactionTimeOut`, or CHECK_IMMUNITY_TIME_IN_SECONDS if longer) + jitter |
//! | n ≥ 1 | time of check n + `transactionCheckInterval` + jitter |
//!
//! Jitter is up to a tenth of the interval (at most 5 s), derived from the half's queue offset, so
//! thousands of halves sent in one burst are not checked in one burst. Due halves leave the table
//! oldest-due first, at most `transactionCheckRoundMax` per round ([`TransactionTable::take_due`]);
//! the rest wait for the next round (one per second), so a check storm is capped whatever the backlog.
//!
//! Plain data: no I/O, no clock (callers pass `now_ms`). Runs on its shard only.

use std::collections::{BTreeMap, BTreeSet};

use crate::shard::placement::topic_hash;
use crate::shard::ShardId;

pub const HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const OP_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const CHECK_MAX_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// The group whose offsets on the half and op queues are this table's floors (RocketMQ's name).
pub const TRANS_GROUP: &str = "CID_RMQ_SYS_TRANS";

/// Tag of an op record that resolves a half (RocketMQ's `d`, "done").
pub const OP_TAG_DONE: &str = "d";
/// Tag of an op record that counts one check sent.
pub const OP_TAG_CHECK: &str = "c";
/// Property of an op record naming the decision (ours; the Java broker writes only `d`).
pub const OP_DECISION_KEY: &str = "TXN_DECISION";

/// Longest jitter added to a check time.
pub const CHECK_JITTER_MAX_MS: i64 = 5_000;

/// The queue of `topic` that `shard` owns among `shards` (the inverse of placement's round-robin).
pub fn owned_queue(topic: &str, shard: ShardId, shards: usize) -> u32 {
    let n = shards as u64;
    let start = topic_hash(topic) % n;
    ((u64::from(shard.0) + n - start) % n) as u32
}

/// How a half message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Commit,
    Rollback,
    /// Checked `transactionCheckMax` times without an answer: moved to `TRANS_CHECK_MAX_TIME_TOPIC`.
    Discard,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Commit => "commit",
            Decision::Rollback => "rollback",
            Decision::Discard => "discard",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfState {
    Pending,
    /// A decision is being stored; nothing else may touch the half.
    Resolving,
}

/// What the table keeps of one half message (the rest is read from the log when needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingHalf {
    pub physical_offset: u64,
    pub size_bytes: u32,
    pub producer_group: String,
    pub born_ms: i64,
    /// CHECK_IMMUNITY_TIME_IN_SECONDS as milliseconds, when the message set it.
    pub immunity_ms: Option<i64>,
    pub checks: u32,
    pub next_check_ms: i64,
    /// End of the op queue when the half was stored.
    pub op_mark: u64,
    pub state: HalfState,
}

/// Check timing knobs (from the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckTiming {
    pub timeout_ms: i64,
    pub interval_ms: i64,
}

/// RocketMQ's first-check delay: the immunity time when set and longer than the timeout.
pub fn first_check_delay_ms(timing: CheckTiming, immunity_ms: Option<i64>) -> i64 {
    immunity_ms.map_or(timing.timeout_ms, |i| i.max(timing.timeout_ms))
}

/// Deterministic jitter for a half: up to a tenth of the interval, at most [`CHECK_JITTER_MAX_MS`].
pub fn jitter_ms(timing: CheckTiming, half_offset: u64) -> i64 {
    let span = (timing.interval_ms / 10).clamp(0, CHECK_JITTER_MAX_MS);
    if span == 0 {
        return 0;
    }
    let h = crate::message::fnv1a_64(&[&half_offset.to_be_bytes()]);
    (h % span as u64) as i64
}

/// When a half is next due (module table). `last_check_ms` is the time of the latest check sent.
pub fn next_check_ms(
    timing: CheckTiming,
    h: &PendingHalf,
    half_offset: u64,
    last_check_ms: i64,
) -> i64 {
    let jitter = jitter_ms(timing, half_offset);
    if h.checks == 0 {
        h.born_ms
            .saturating_add(first_check_delay_ms(timing, h.immunity_ms))
            .saturating_add(jitter)
    } else {
        last_check_ms
            .saturating_add(timing.interval_ms)
            .saturating_add(jitter)
    }
}

/// See the module comment.
#[derive(Debug, Default)]
pub struct TransactionTable {
    halves: BTreeMap<u64, PendingHalf>,
    /// (due time, half offset) of every pending half.
    due: BTreeSet<(i64, u64)>,
    /// The table holds everything the log says (set once recovery read the half and op queues).
    recovered: bool,
    /// Half appends under way: (half queue end, op queue end) when each began, so that the floors
    /// never pass a half that is stored but not yet in the table.
    reservations: BTreeMap<(u64, u64), u32>,
}

/// What END_TRANSACTION finds for an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Pending with this physical offset and group: the caller may resolve it (it is now Resolving).
    Claimed(PendingHalf),
    /// Being resolved by another request.
    Resolving,
    /// Not in the table (resolved long ago, unknown, or offsets that do not match).
    Absent,
}

impl TransactionTable {
    pub fn is_recovered(&self) -> bool {
        self.recovered
    }

    pub fn set_recovered(&mut self) {
        self.recovered = true;
    }

    pub fn len(&self) -> usize {
        self.halves.len()
    }

    pub fn is_empty(&self) -> bool {
        self.halves.is_empty()
    }

    pub fn get(&self, half_offset: u64) -> Option<&PendingHalf> {
        self.halves.get(&half_offset)
    }

    /// Adds a pending half (stored now, or found at recovery).
    pub fn insert(&mut self, half_offset: u64, h: PendingHalf) {
        if let Some(old) = self.halves.remove(&half_offset) {
            self.due.remove(&(old.next_check_ms, half_offset));
        }
        if h.state == HalfState::Pending {
            self.due.insert((h.next_check_ms, half_offset));
        }
        self.halves.insert(half_offset, h);
    }

    /// END_TRANSACTION: claims the half at `half_offset` if it is pending at `physical_offset`.
    pub fn claim(&mut self, half_offset: u64, physical_offset: u64) -> Lookup {
        match self.halves.get_mut(&half_offset) {
            Some(h) if h.physical_offset == physical_offset => match h.state {
                HalfState::Resolving => Lookup::Resolving,
                HalfState::Pending => {
                    self.due.remove(&(h.next_check_ms, half_offset));
                    h.state = HalfState::Resolving;
                    Lookup::Claimed(h.clone())
                }
            },
            _ => Lookup::Absent,
        }
    }

    /// A claimed half whose decision could not be stored goes back to pending, due as before.
    pub fn unclaim(&mut self, half_offset: u64) {
        if let Some(h) = self.halves.get_mut(&half_offset) {
            if h.state == HalfState::Resolving {
                h.state = HalfState::Pending;
                self.due.insert((h.next_check_ms, half_offset));
            }
        }
    }

    /// The decision of a claimed half is stored: it leaves the table.
    pub fn resolved(&mut self, half_offset: u64) {
        if let Some(h) = self.halves.remove(&half_offset) {
            self.due.remove(&(h.next_check_ms, half_offset));
        }
    }

    /// Up to `max` halves due at `now_ms`, oldest-due first, claimed (Resolving) so that an
    /// END_TRANSACTION arriving meanwhile waits for the check step to finish with them.
    pub fn take_due(&mut self, now_ms: i64, max: usize) -> Vec<(u64, PendingHalf)> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(&(at, off)) = self.due.first() else {
                break;
            };
            if at > now_ms {
                break;
            }
            self.due.remove(&(at, off));
            if let Some(h) = self.halves.get_mut(&off) {
                h.state = HalfState::Resolving;
                out.push((off, h.clone()));
            }
        }
        out
    }

    /// Halves due at `now_ms` (the backlog a round could not take).
    pub fn due_count(&self, now_ms: i64) -> usize {
        self.due.range(..(now_ms.saturating_add(1), 0)).count()
    }

    /// A check was sent (or attempted) for a taken half: count it, schedule the next, pending again.
    pub fn checked(&mut self, timing: CheckTiming, half_offset: u64, now_ms: i64) {
        if let Some(h) = self.halves.get_mut(&half_offset) {
            h.checks += 1;
            h.next_check_ms = next_check_ms(timing, h, half_offset, now_ms);
            h.state = HalfState::Pending;
            self.due.insert((h.next_check_ms, half_offset));
        }
    }

    /// A half append begins while the queues end at (`half_end`, `op_end`).
    pub fn reserve(&mut self, half_end: u64, op_end: u64) {
        *self.reservations.entry((half_end, op_end)).or_insert(0) += 1;
    }

    /// The half append that began at (`half_end`, `op_end`) is over (in the table, or failed).
    pub fn release(&mut self, half_end: u64, op_end: u64) {
        if let Some(n) = self.reservations.get_mut(&(half_end, op_end)) {
            *n -= 1;
            if *n == 0 {
                self.reservations.remove(&(half_end, op_end));
            }
        }
    }

    /// (half floor, op floor): see the module comment; `half_end`/`op_end` when nothing is pending.
    pub fn floors(&self, half_end: u64, op_end: u64) -> (u64, u64) {
        let reserved = self.reservations.keys();
        let half = self
            .halves
            .keys()
            .copied()
            .chain(reserved.clone().map(|r| r.0))
            .min()
            .unwrap_or(half_end)
            .min(half_end);
        let op = self
            .halves
            .values()
            .map(|h| h.op_mark)
            .chain(reserved.map(|r| r.1))
            .min()
            .unwrap_or(op_end)
            .min(op_end);
        (half, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::placement::owner;

    const T: CheckTiming = CheckTiming {
        timeout_ms: 6_000,
        interval_ms: 30_000,
    };

    fn half(born: i64, immunity: Option<i64>) -> PendingHalf {
        let mut h = PendingHalf {
            physical_offset: 100,
            size_bytes: 200,
            producer_group: "pg".into(),
            born_ms: born,
            immunity_ms: immunity,
            checks: 0,
            next_check_ms: 0,
            op_mark: 7,
            state: HalfState::Pending,
        };
        h.next_check_ms = next_check_ms(T, &h, 1, 0);
        h
    }

    #[test]
    fn owned_queue_is_owned_by_its_shard() {
        for shards in 1..9 {
            for s in 0..shards {
                for topic in [HALF_TOPIC, OP_TOPIC, CHECK_MAX_TOPIC] {
                    let q = owned_queue(topic, ShardId(s as u16), shards);
                    assert!((q as usize) < shards);
                    assert_eq!(owner(topic, q, shards), ShardId(s as u16));
                }
            }
        }
    }

    #[test]
    fn schedule_rows() {
        let j = jitter_ms(T, 1);
        assert!((0..3_000).contains(&j), "a tenth of 30 s: {j}");
        // Row 0: born + timeout; a longer immunity wins, a shorter one does not.
        assert_eq!(next_check_ms(T, &half(1_000, None), 1, 0), 7_000 + j);
        assert_eq!(
            next_check_ms(T, &half(1_000, Some(20_000)), 1, 0),
            21_000 + j
        );
        assert_eq!(next_check_ms(T, &half(1_000, Some(1_000)), 1, 0), 7_000 + j);
        // Row n >= 1: last check + interval.
        let mut h = half(1_000, None);
        h.checks = 3;
        assert_eq!(next_check_ms(T, &h, 1, 50_000), 80_000 + j);
        // No interval, no jitter; jitter capped at 5 s.
        let quick = CheckTiming {
            timeout_ms: 0,
            interval_ms: 0,
        };
        assert_eq!(jitter_ms(quick, 9), 0);
        let slow = CheckTiming {
            timeout_ms: 0,
            interval_ms: 3_600_000,
        };
        assert!((0..5_000).all(|o| jitter_ms(slow, o) < CHECK_JITTER_MAX_MS));
    }

    #[test]
    fn claim_once_and_unclaim() {
        let mut t = TransactionTable::default();
        t.insert(1, half(0, None));
        assert_eq!(
            t.claim(1, 999),
            Lookup::Absent,
            "physical offset must match"
        );
        assert_eq!(t.claim(2, 100), Lookup::Absent);
        assert!(matches!(t.claim(1, 100), Lookup::Claimed(_)));
        assert_eq!(t.claim(1, 100), Lookup::Resolving, "second claim waits");
        assert!(t.take_due(i64::MAX, 10).is_empty(), "resolving is not due");
        t.unclaim(1);
        assert_eq!(t.take_due(i64::MAX, 10).len(), 1);
        t.checked(T, 1, 100_000);
        assert_eq!(t.get(1).unwrap().checks, 1);
        assert!(matches!(t.claim(1, 100), Lookup::Claimed(_)));
        t.resolved(1);
        assert!(t.is_empty());
        assert_eq!(t.claim(1, 100), Lookup::Absent);
    }

    #[test]
    fn due_is_capped_and_oldest_first() {
        let mut t = TransactionTable::default();
        for off in 0..100u64 {
            let mut h = half(0, None);
            h.next_check_ms = 1_000 - off as i64;
            t.insert(off, h);
        }
        assert_eq!(t.due_count(999), 99);
        let first = t.take_due(10_000, 10);
        assert_eq!(first.len(), 10, "per-round cap");
        assert_eq!(first[0].0, 99, "oldest due first");
        assert_eq!(t.due_count(10_000), 90);
        assert!(t.take_due(0, 10).is_empty(), "nothing due yet at 0");
    }

    #[test]
    fn floors_hold_back_for_pending_and_resolving() {
        let mut t = TransactionTable::default();
        assert_eq!(t.floors(10, 20), (10, 20));
        let mut a = half(0, None);
        a.op_mark = 5;
        let mut b = half(0, None);
        b.op_mark = 3;
        t.insert(4, a);
        t.insert(8, b);
        assert_eq!(t.floors(10, 20), (4, 3));
        let _ = t.claim(4, 100);
        assert_eq!(t.floors(10, 20), (4, 3), "resolving still holds the floor");
        t.resolved(4);
        t.resolved(8);
        assert_eq!(t.floors(10, 20), (10, 20));
        t.reserve(9, 19);
        t.reserve(9, 19);
        assert_eq!(t.floors(10, 20), (9, 19), "an append under way holds both");
        t.release(9, 19);
        assert_eq!(t.floors(10, 20), (9, 19));
        t.release(9, 19);
        assert_eq!(t.floors(10, 20), (10, 20));
    }
}
