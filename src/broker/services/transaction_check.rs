//! The transaction checker of a shard: rebuilds the table of pending half messages from the log at
//! start, then, once a second, asks a live producer about the halves that are due
//! (CHECK_TRANSACTION_STATE, 39), moves those checked `transactionCheckMax` times to
//! `TRANS_CHECK_MAX_TIME_TOPIC`, and records the table's floors.
//!
//! Recovery reads the op queue from its floor (decisions `d`, checks `c`, each naming a half queue
//! offset in its body), then the half queue from its floor: every half without a decision is pending
//! again, with its check count and last check time from its `c` records, so a restart neither resets
//! nor repeats the checks. A pending half whose real message is in the log (found by UNIQ_KEY in the
//! key index, marked COMMIT, its PREPARED_TRANSACTION_OFFSET naming the half: a crash between the
//! commit and its op record) gets the missing op record instead. END_TRANSACTION waits for recovery (it would not know
//! the pending halves before). A storage error during recovery is retried every round.
//!
//! No check storm, whatever the backlog or however silent a group is:
//! - one round a second takes at most `transaction_check_round_max` due halves (oldest-due first),
//!   the rest stay due for the next rounds: a shard sends at most that many checks a second;
//! - each half is checked at most `transactionCheckMax` times, `transactionCheckInterval` apart, the
//!   first after its timeout (`state::transactions::next_check_ms`), every time plus a jitter of up to
//!   a tenth of the interval derived from its offset, so halves sent in one burst are checked spread;
//! - a check is oneway (never waited for); a group with no live producer costs a counted check and no
//!   I/O but the `c` record, as in the Java broker, and is discarded after the maximum.
//!
//! Rejected: the Java broker's re-append of the whole half message before each check (one copy of the
//! body per check); here a check costs one small `c` record and the half keeps its offsets, which the
//! check header advertises. Rejected too: exponential back-off between checks; RocketMQ users tune
//! `transactionCheckInterval` and expect it to hold, and the per-round cap already bounds the rate.
//!
//! Runs on every shard, for the halves that shard stored.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;

use super::tick;
use crate::broker::processors::transaction::{check_timing, immunity_ms, real_queue};
use crate::broker::state::topics::{perm, TopicConfig};
use crate::broker::state::transactions::{
    owned_queue, Decision, HalfState, PendingHalf, CHECK_MAX_TOPIC, HALF_TOPIC, OP_TAG_CHECK,
    OP_TAG_DONE, OP_TOPIC, TRANS_GROUP,
};
use crate::broker::{Broker, Control};
use crate::clock::now_ms;
use crate::message::properties::{find, keys, Properties};
use crate::message::{self, NewRecord, RecordView};
use crate::net::StopSignal;
use crate::remoting::codes::request;
use crate::remoting::headers::CheckTransactionStateHeader;
use crate::remoting::{RemotingCommand, FLAG_ONEWAY};
use crate::shard::ShardId;
use crate::storage::{PhysicalOffset, QueueOffset, StorageError};

/// Time between two check rounds.
pub const ROUND_INTERVAL_MS: u64 = 1_000;
/// Consume-queue entries read at a time during recovery.
const RECOVERY_BATCH: usize = 256;
/// Most index hits read when looking for a committed copy of a half at recovery.
const COMMITTED_LOOKUP_MAX: usize = 32;

/// The service loop. See the module comment.
pub async fn run(broker: Rc<Broker>, stop: StopSignal) {
    loop {
        match broker.recover_transactions().await {
            Ok(pending) => {
                broker.transactions.borrow_mut().set_recovered();
                if pending > 0 {
                    tracing::info!(shard = %broker.shard, pending, "transactions recovered");
                }
                break;
            }
            Err(e) => {
                tracing::error!(shard = %broker.shard, error = %e, "transaction recovery failed; retrying");
                if !tick(Duration::from_millis(ROUND_INTERVAL_MS), &stop).await {
                    return;
                }
            }
        }
    }
    while tick(Duration::from_millis(ROUND_INTERVAL_MS), &stop).await {
        check_round(&broker).await;
        broker.commit_transaction_floors();
    }
}

/// What the op queue says about halves: resolved ones, and per half (checks, last check time).
#[derive(Default)]
struct OpSummary {
    done: std::collections::HashSet<u64>,
    checks: HashMap<u64, (u32, i64)>,
}

impl Broker {
    /// Reads the half and op queues from their floors into the table; the number of pending halves.
    async fn recover_transactions(&self) -> Result<usize, StorageError> {
        let (half_q, op_q) = self.transaction_queues();
        let floor = |topic: &str, q: u32| {
            let persisted = self
                .offsets
                .borrow()
                .query(TRANS_GROUP, topic, q)
                .unwrap_or(0)
                .max(0) as u64;
            persisted.max(self.store.min_offset(topic, q).0)
        };
        let (half_floor, op_floor) = (floor(HALF_TOPIC, half_q), floor(OP_TOPIC, op_q));
        let half_end = self.store.max_offset(HALF_TOPIC, half_q).0;
        let op_end = self.store.max_offset(OP_TOPIC, op_q).0;

        let mut ops = OpSummary::default();
        let mut from = op_floor;
        while from < op_end {
            let entries =
                self.store
                    .queue_entries(OP_TOPIC, op_q, QueueOffset(from), RECOVERY_BATCH);
            let Some(last) = entries.last() else { break };
            from = last.queue_offset.0 + 1;
            for e in entries {
                let rec = self.store.read(e.physical_offset, e.size_bytes).await?;
                let Ok(v) = message::decode_record(&rec, false) else {
                    continue;
                };
                let Some(half) = std::str::from_utf8(v.body)
                    .ok()
                    .and_then(|b| b.trim().parse::<u64>().ok())
                else {
                    continue;
                };
                match find(v.properties, keys::TAGS) {
                    Some(OP_TAG_DONE) => {
                        ops.done.insert(half);
                    }
                    Some(OP_TAG_CHECK) => {
                        let c = ops.checks.entry(half).or_insert((0, 0));
                        c.0 += 1;
                        c.1 = c.1.max(v.born_timestamp_ms);
                    }
                    _ => {}
                }
            }
        }

        let timing = check_timing(&self.cfg);
        let mut pending = 0;
        let mut from = half_floor;
        while from < half_end {
            let entries =
                self.store
                    .queue_entries(HALF_TOPIC, half_q, QueueOffset(from), RECOVERY_BATCH);
            let Some(last) = entries.last() else { break };
            from = last.queue_offset.0 + 1;
            for e in entries {
                let off = e.queue_offset.0;
                if ops.done.contains(&off) || self.transactions.borrow().get(off).is_some() {
                    continue;
                }
                let rec = self.store.read(e.physical_offset, e.size_bytes).await?;
                let Ok(v) = message::decode_record(&rec, false) else {
                    continue;
                };
                if self.committed_copy_exists(&v).await {
                    tracing::warn!(shard = %self.shard, half_offset = off, "committed before the crash without its op record; writing it now");
                    self.append_op(off, OP_TAG_DONE, Some(Decision::Commit))
                        .await?;
                    continue;
                }
                let (checks, last_check_ms) = ops.checks.get(&off).copied().unwrap_or((0, 0));
                let mut h = PendingHalf {
                    physical_offset: v.physical_offset,
                    size_bytes: v.total_size,
                    producer_group: find(v.properties, keys::PGROUP)
                        .unwrap_or_default()
                        .to_string(),
                    born_ms: v.born_timestamp_ms,
                    immunity_ms: immunity_ms(v.properties),
                    checks,
                    next_check_ms: 0,
                    op_mark: op_floor,
                    state: HalfState::Pending,
                };
                h.next_check_ms = crate::broker::state::transactions::next_check_ms(
                    timing,
                    &h,
                    off,
                    last_check_ms,
                );
                self.transactions.borrow_mut().insert(off, h);
                pending += 1;
            }
        }
        Ok(pending)
    }

    /// Whether the real message of a half is in the log (module comment).
    async fn committed_copy_exists(&self, half: &RecordView<'_>) -> bool {
        let (Some(uniq), Some((topic, _))) =
            (find(half.properties, keys::UNIQ_KEY), real_queue(half))
        else {
            return false;
        };
        let hits = self
            .store
            .lookup_key(&topic, uniq, 0, i64::MAX, COMMITTED_LOOKUP_MAX);
        for off in hits {
            if let Ok(rec) = self.store.read_record(off).await {
                if let Ok(v) = message::decode_record(&rec, false) {
                    let committed = v.sys_flag & message::sys_flag::TRANSACTION_MASK
                        == message::sys_flag::TRANSACTION_COMMIT;
                    if committed
                        && v.topic == topic
                        && v.prepared_tx_offset == half.physical_offset as i64
                    {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Records the table's floors as the offsets of `CID_RMQ_SYS_TRANS` (persisted with the others).
    pub(crate) fn commit_transaction_floors(&self) {
        let (half_q, op_q) = self.transaction_queues();
        let half_end = self.store.max_offset(HALF_TOPIC, half_q).0;
        let op_end = self.store.max_offset(OP_TOPIC, op_q).0;
        if half_end == 0 && op_end == 0 {
            return;
        }
        let (half, op) = self.transactions.borrow().floors(half_end, op_end);
        let mut offsets = self.offsets.borrow_mut();
        offsets.commit(TRANS_GROUP, HALF_TOPIC, half_q, half as i64);
        offsets.commit(TRANS_GROUP, OP_TOPIC, op_q, op as i64);
    }

    /// The CHECK_TRANSACTION_STATE request for a half: the half as a stored record on its real
    /// topic and queue, with its offsets and TRANSACTION_CHECK_TIMES (§11.3).
    fn check_request(
        &self,
        half_offset: u64,
        p: &PendingHalf,
        v: &RecordView<'_>,
    ) -> Option<RemotingCommand> {
        let (topic, qid) = real_queue(v)?;
        let mut props = Properties::parse(v.properties);
        props.set(keys::TRANSACTION_CHECK_TIMES, &(p.checks + 1).to_string());
        let props = props.to_wire();
        let rec = NewRecord {
            prepared_tx_offset: 0,
            ..NewRecord::copy_of(v, &topic, qid, &props)
        };
        let mut body =
            BytesMut::with_capacity(message::record_size(v.body.len(), topic.len(), props.len()));
        message::encode_record(&rec, &mut body).ok()?;
        message::patch_record(
            &mut body,
            half_offset,
            p.physical_offset,
            v.store_timestamp_ms,
        );
        let uniq = find(v.properties, keys::UNIQ_KEY).map(String::from);
        let header = CheckTransactionStateHeader {
            topic: Some(topic),
            tran_state_table_offset: half_offset as i64,
            commit_log_offset: p.physical_offset as i64,
            msg_id: uniq.clone(),
            transaction_id: uniq,
            offset_msg_id: Some(message::offset_msg_id(self.store_host, p.physical_offset)),
        };
        let mut cmd = RemotingCommand::request(request::CHECK_TRANSACTION_STATE);
        cmd.flag |= FLAG_ONEWAY;
        header.write_to(&mut cmd);
        Some(cmd.with_body(body.freeze()))
    }
}

/// One round: the due halves, at most `transaction_check_round_max` of them, taken one at a time (a
/// taken half is busy for END_TRANSACTION until its check is sent). The `c` records of the round are
/// appended together at its end (one append, one flush).
async fn check_round(broker: &Rc<Broker>) {
    let now = now_ms();
    let timing = check_timing(&broker.cfg);
    let (mut sent, mut no_producer, mut discarded) = (0u32, 0u32, 0u32);
    let mut checked = Vec::new();
    for _ in 0..broker.cfg.transaction_check_round_max {
        let Some((off, p)) = broker.transactions.borrow_mut().take_due(now, 1).pop() else {
            break;
        };
        let rec = match broker
            .store
            .read(PhysicalOffset(p.physical_offset), p.size_bytes)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                if p.physical_offset < broker.store.min_physical_offset().0 {
                    tracing::warn!(shard = %broker.shard, half_offset = off, "half message deleted by retention; discarded");
                    let _ = broker.resolve(off, &p, Decision::Discard).await;
                    discarded += 1;
                } else {
                    tracing::warn!(shard = %broker.shard, half_offset = off, error = %e, "cannot read half message; retrying next round");
                    broker.transactions.borrow_mut().unclaim(off);
                    break;
                }
                continue;
            }
        };
        let Ok(v) = message::decode_record(&rec, false) else {
            let _ = broker.resolve(off, &p, Decision::Discard).await;
            discarded += 1;
            continue;
        };
        if p.checks >= broker.cfg.transaction_check_max {
            discard(broker, off, &p, &v).await;
            discarded += 1;
            continue;
        }
        let conns = broker.clients.borrow().producer_conns(&p.producer_group);
        match broker.check_request(off, &p, &v) {
            Some(cmd) if !conns.is_empty() => {
                let conn = conns[(off as usize + p.checks as usize) % conns.len()];
                broker.push(conn, cmd);
                sent += 1;
            }
            _ => no_producer += 1,
        }
        // Pending again at once: the producer's answer may come back before the `c` record is stored.
        broker.transactions.borrow_mut().checked(timing, off, now);
        checked.push(off);
    }
    if !checked.is_empty() {
        if let Err(e) = broker.append_check_ops(&checked).await {
            tracing::warn!(shard = %broker.shard, checks = checked.len(), error = %e, "check counts not stored");
        }
    }
    if sent + no_producer + discarded > 0 {
        let backlog = broker.transactions.borrow().due_count(now);
        tracing::debug!(shard = %broker.shard, sent, no_producer, discarded, backlog, "transaction check round");
    }
}

/// Moves a half checked too often to `TRANS_CHECK_MAX_TIME_TOPIC` (this shard's queue of it) and
/// resolves it as discarded.
async fn discard(broker: &Rc<Broker>, off: u64, p: &PendingHalf, v: &RecordView<'_>) {
    let shards = broker.router.shard_count();
    let q = owned_queue(CHECK_MAX_TOPIC, broker.shard, shards);
    if broker.topic(CHECK_MAX_TOPIC).is_none() {
        let cfg = TopicConfig::new(CHECK_MAX_TOPIC, shards as i32, perm::READ | perm::WRITE);
        let _ = broker
            .control(
                ShardId(0),
                Control::EnsureTopic {
                    topic: cfg,
                    template: None,
                },
            )
            .await;
    }
    let rec = NewRecord {
        store_host: broker.store_host,
        prepared_tx_offset: 0,
        ..NewRecord::copy_of(v, CHECK_MAX_TOPIC, q, v.properties)
    };
    let stored = match crate::broker::processors::transaction::to_append(
        &rec,
        find(v.properties, keys::TAGS),
    ) {
        Ok(m) => broker.store.append(m).await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match stored {
        Ok(_) => {
            tracing::warn!(shard = %broker.shard, half_offset = off, checks = p.checks, group = %p.producer_group, "half message checked too many times; moved to TRANS_CHECK_MAX_TIME_TOPIC");
            if let Err(e) = broker.resolve(off, p, Decision::Discard).await {
                tracing::warn!(shard = %broker.shard, half_offset = off, error = %e, "discard not recorded");
            }
        }
        Err(e) => {
            tracing::warn!(shard = %broker.shard, half_offset = off, error = %e, "cannot move half message; retrying next round");
            broker.transactions.borrow_mut().unclaim(off);
        }
    }
}
