//! Transactional messages: storing a half message (the one interception of the owner-side send path,
//! [`is_half_message`] then [`Broker::put_half_message`]) and END_TRANSACTION (37).
//!
//! Where things live (see `state::transactions` for the table and its floors):
//! - A half message is stored by the shard that owns its real queue, in `RMQ_SYS_TRANS_HALF_TOPIC` on
//!   the queue of that topic this shard owns, with `REAL_TOPIC`/`REAL_QID` added and the sysFlag's
//!   transaction bits cleared (as RocketMQ's `parseHalfMessageInner`). The answer names the half
//!   (offset msgId, half queue offset), which is what the producer's END_TRANSACTION sends back.
//! - END_TRANSACTION is routed by its `commitLogOffset` (shard = offset >> 48), so it reaches the
//!   shard that stored the half and owns the real queue: a commit appends there, with no hop.
//! - Commit: the real message (same body, flag, born host and time, properties minus `REAL_TOPIC`,
//!   `REAL_QID`, `TRAN_MSG`; sysFlag COMMIT; PREPARED_TRANSACTION_OFFSET = the half's offset; the
//!   UNIQ_KEY kept, so the client's msgId finds it) is appended, then the op record (`d`, decision
//!   `commit`). Rollback: the op record only. The table entry is claimed before the first await, so
//!   one half is resolved once however many END_TRANSACTIONs race.
//! - A crash after the real message and before its op record leaves the half pending in the log;
//!   recovery finds the real message by UNIQ_KEY (key index, `PREPARED_TRANSACTION_OFFSET` equal to
//!   the half's offset) and writes the missing op instead of letting a later commit store it again.
//!
//! END_TRANSACTION answers, the Java broker's `EndTransactionProcessor` as the model:
//!
//! | request | answer | effect |
//! |---|---|---|
//! | commitOrRollback not 8 or 12 (UNKNOWN) | SUCCESS (Java sends nothing; every request we serve gets one answer) | none |
//! | pending half, wrong producerGroup | SYSTEM_ERROR "The producer group wrong" | none |
//! | pending half, not from a check, past its CHECK_IMMUNITY_TIME_IN_SECONDS | ILLEGAL_OPERATION (604) | none |
//! | pending half, commit / rollback | SUCCESS | real message stored once / nothing stored; op record |
//! | already resolved half (offsets match a stored half) | SUCCESS (Java re-puts a commit: a duplicate) | none |
//! | no record at commitLogOffset | SYSTEM_ERROR "Find prepared transaction message failed" | none |
//! | a record whose PGROUP / queue offset / offset differ | SYSTEM_ERROR "The producer group wrong" / "The transaction state table offset wrong" / "The commit log offset wrong" | none |
//! | a matching record that is no half message | SYSTEM_ERROR "Find prepared transaction message failed" | none |
//!
//! Clients send END_TRANSACTION oneway; the answer matters to raw-frame callers only.

use std::time::Duration;

use bytes::BytesMut;

use crate::broker::state::transactions::{
    owned_queue, CheckTiming, Decision, HalfState, Lookup, PendingHalf, HALF_TOPIC,
    OP_DECISION_KEY, OP_TAG_CHECK, OP_TAG_DONE, OP_TOPIC,
};
use crate::broker::status::storage_error;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::message::properties::{find, index_keys, keys, Properties};
use crate::message::{self, sys_flag, NewRecord, RecordView};
use crate::net::RequestCtx;
use crate::remoting::codes::response as rs;
use crate::remoting::headers::{parse_bool, EndTransactionHeader, SendMessageHeader};
use crate::remoting::RemotingCommand;
use crate::shard::placement::owner;
use crate::storage::{AppendMessage, PhysicalOffset, StorageError};

/// How long an END_TRANSACTION waits for a half another step is busy with (a racing
/// END_TRANSACTION, or the checker reading it) before it answers SYSTEM_BUSY.
const BUSY_WAIT_MAX: Duration = Duration::from_secs(5);
/// How long an END_TRANSACTION waits for the shard's recovery of the table at start.
const RECOVERY_WAIT_MAX: Duration = Duration::from_secs(30);

const REMARK_NOT_FOUND: &str = "Find prepared transaction message failed";
const REMARK_GROUP: &str = "The producer group wrong";

/// Whether a single send is a half message: `TRAN_MSG=true`, as RocketMQ decides it (not a batch;
/// not a consumer's delayed retry from a pre-4.6.1 client, which can carry the property along).
pub fn is_half_message(h: &SendMessageHeader) -> bool {
    if h.batch || !find(&h.properties, keys::TRAN_MSG).is_some_and(parse_bool) {
        return false;
    }
    let delayed = find(&h.properties, keys::DELAY)
        .and_then(|d| d.trim().parse::<i32>().ok())
        .is_some_and(|d| d > 0);
    !(h.reconsume_times > 0 && delayed)
}

/// The check timing of this broker's config.
pub fn check_timing(cfg: &crate::config::BrokerConfig) -> CheckTiming {
    CheckTiming {
        timeout_ms: cfg.transaction_timeout_ms as i64,
        interval_ms: cfg.transaction_check_interval_ms as i64,
    }
}

/// CHECK_IMMUNITY_TIME_IN_SECONDS in milliseconds, when set and a number.
pub fn immunity_ms(properties: &str) -> Option<i64> {
    find(properties, keys::CHECK_IMMUNITY_TIME_IN_SECONDS)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .map(|s| s.saturating_mul(1000))
}

/// An encoded record plus what the store indexes it by.
pub(crate) fn to_append(rec: &NewRecord<'_>, tags: Option<&str>) -> Result<AppendMessage, String> {
    let mut record = BytesMut::with_capacity(message::record_size(
        rec.body.len(),
        rec.topic.len(),
        rec.properties.len(),
    ));
    message::encode_record(rec, &mut record).map_err(|e| e.to_string())?;
    Ok(AppendMessage {
        record,
        topic: rec.topic.to_string(),
        queue_id: rec.queue_id,
        tags_code: message::tags_code(rec.topic, tags),
        keys: index_keys(rec.properties)
            .into_iter()
            .map(String::from)
            .collect(),
    })
}

/// The real message a commit stores for a half (module comment).
pub(crate) fn commit_properties(half: &RecordView<'_>) -> Properties {
    let mut props = Properties::parse(half.properties);
    props.remove(keys::REAL_TOPIC);
    props.remove(keys::REAL_QID);
    props.remove(keys::TRAN_MSG);
    props
}

/// The real (topic, queue) a half message names.
pub(crate) fn real_queue(half: &RecordView<'_>) -> Option<(String, u32)> {
    let topic = find(half.properties, keys::REAL_TOPIC)?;
    let qid = find(half.properties, keys::REAL_QID)?.trim().parse().ok()?;
    Some((topic.to_string(), qid))
}

impl Broker {
    /// This shard's queue of the half topic and of the op topic.
    pub(crate) fn transaction_queues(&self) -> (u32, u32) {
        let n = self.router.shard_count();
        (
            owned_queue(HALF_TOPIC, self.shard, n),
            owned_queue(OP_TOPIC, self.shard, n),
        )
    }

    /// Owner side of a half-message send: store it on the half topic, remember it as pending.
    pub(crate) async fn put_half_message(
        &self,
        h: SendMessageHeader,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        let (half_q, op_q) = self.transaction_queues();
        let mut props = Properties::parse(&h.properties);
        props.set(keys::REAL_TOPIC, &h.topic);
        props.set(keys::REAL_QID, &h.queue_id.to_string());
        if props.get(keys::PGROUP).is_none() {
            props.set(keys::PGROUP, &h.producer_group);
        }
        let group = props.get(keys::PGROUP).unwrap_or_default().to_string();
        // A transactional message is never delayed: the Java producer clears DELAY before it sends
        // one, and a half parked by the schedule step would never reach the half topic.
        for k in [
            keys::DELAY,
            keys::TIMER_DELIVER_MS,
            keys::TIMER_DELAY_SEC,
            keys::TIMER_DELAY_MS,
        ] {
            props.remove(k);
        }
        let mut half_h = h.clone();
        half_h.topic = HALF_TOPIC.to_string();
        half_h.queue_id = half_q as i32;
        let flags = h.sys_flag & !sys_flag::TRANSACTION_MASK;
        let msg = match self.build_message(&half_h, h.flag, flags, &cmd.body, &mut props, &ctx) {
            Ok(m) => m,
            Err((code, remark)) => return cmd.error_response(code, remark),
        };
        let op_mark = self.store.max_offset(OP_TOPIC, op_q).0;
        let half_end = self.store.max_offset(HALF_TOPIC, half_q).0;
        self.transactions.borrow_mut().reserve(half_end, op_mark);
        let appended = self.store.append(msg.msg).await;
        self.transactions.borrow_mut().release(half_end, op_mark);
        let r = match appended {
            Ok(r) => r,
            Err(e) => return self.append_failed(&cmd, &e),
        };
        let mut pending = PendingHalf {
            physical_offset: r.physical_offset.0,
            size_bytes: r.size_bytes,
            producer_group: group,
            born_ms: h.born_timestamp_ms,
            immunity_ms: immunity_ms(&h.properties),
            checks: 0,
            next_check_ms: 0,
            op_mark,
            state: HalfState::Pending,
        };
        let timing = check_timing(&self.cfg);
        pending.next_check_ms = crate::broker::state::transactions::next_check_ms(
            timing,
            &pending,
            r.queue_offset.0,
            0,
        );
        self.transactions
            .borrow_mut()
            .insert(r.queue_offset.0, pending);
        let mut resp = self.send_response(&cmd, &[r]);
        resp.set_ext("queueId", h.queue_id);
        if let Some(id) = find(&h.properties, keys::UNIQ_KEY) {
            resp.set_ext("transactionId", id);
        }
        resp
    }

    /// Waits (bounded) until this shard's table was recovered from the log.
    async fn transactions_recovered(&self) -> bool {
        let deadline = std::time::Instant::now() + RECOVERY_WAIT_MAX;
        while !self.transactions.borrow().is_recovered() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// END_TRANSACTION (37) on the shard whose log holds `commitLogOffset`. See the module table.
    pub(crate) async fn end_transaction(
        &self,
        h: EndTransactionHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let decision = match h.commit_or_rollback {
            sys_flag::TRANSACTION_COMMIT => Decision::Commit,
            sys_flag::TRANSACTION_ROLLBACK => Decision::Rollback,
            _ => return cmd.response(rs::SUCCESS),
        };
        if !self.transactions_recovered().await {
            return cmd.error_response(rs::SYSTEM_BUSY, "transactions are still being recovered");
        }
        let half_offset = h.tran_state_table_offset.max(0) as u64;
        let phys = h.commit_log_offset as u64;
        let deadline = std::time::Instant::now() + BUSY_WAIT_MAX;
        let claimed = loop {
            let found = self.transactions.borrow_mut().claim(half_offset, phys);
            match found {
                Lookup::Claimed(p) if h.tran_state_table_offset >= 0 => break p,
                Lookup::Claimed(_) => {
                    self.transactions.borrow_mut().unclaim(half_offset);
                    return self.end_transaction_absent(&h, cmd).await;
                }
                Lookup::Absent => return self.end_transaction_absent(&h, cmd).await,
                Lookup::Resolving if std::time::Instant::now() < deadline => {
                    glommio::timer::sleep(Duration::from_millis(2)).await;
                }
                Lookup::Resolving => {
                    return cmd.error_response(
                        rs::SYSTEM_BUSY,
                        "the transaction is being resolved, try again",
                    )
                }
            }
        };
        let refused = if claimed.producer_group != h.producer_group {
            Some(cmd.error_response(rs::SYSTEM_ERROR, REMARK_GROUP))
        } else if !h.from_transaction_check && self.past_immunity(&claimed) {
            tracing::warn!(shard = %self.shard, half_offset, "END_TRANSACTION past the immunity time, waiting for the check");
            Some(cmd.response(rs::ILLEGAL_OPERATION))
        } else {
            None
        };
        if let Some(r) = refused {
            self.transactions.borrow_mut().unclaim(half_offset);
            return r;
        }
        match self.resolve(half_offset, &claimed, decision).await {
            Ok(()) => cmd.response(rs::SUCCESS),
            Err(e) => e.answer(cmd),
        }
    }

    /// RocketMQ's `rejectCommitOrRollback`: a producer's own END_TRANSACTION later than its
    /// CHECK_IMMUNITY_TIME_IN_SECONDS is refused; the check decides.
    fn past_immunity(&self, p: &PendingHalf) -> bool {
        let Some(immunity) = p.immunity_ms else {
            return false;
        };
        let limit = immunity.max(self.cfg.transaction_timeout_ms as i64);
        now_ms().saturating_sub(p.born_ms) > limit
    }

    /// Stores the decision of a claimed half and drops it from the table. On an error before
    /// anything was stored the half is pending again; the error builds the answer.
    pub(crate) async fn resolve(
        &self,
        half_offset: u64,
        p: &PendingHalf,
        decision: Decision,
    ) -> Result<(), ResolveError> {
        let unclaim = |r: ResolveError| {
            self.transactions.borrow_mut().unclaim(half_offset);
            Err(r)
        };
        if decision == Decision::Commit {
            let rec = match self
                .store
                .read(PhysicalOffset(p.physical_offset), p.size_bytes)
                .await
            {
                Ok(b) => b,
                Err(e) => return unclaim(ResolveError::Storage(e)),
            };
            let view = match message::decode_record(&rec, false) {
                Ok(v) => v,
                Err(_) => {
                    return unclaim(ResolveError::refused(rs::SYSTEM_ERROR, REMARK_NOT_FOUND))
                }
            };
            let Some((topic, qid)) = real_queue(&view) else {
                return unclaim(ResolveError::refused(rs::SYSTEM_ERROR, REMARK_NOT_FOUND));
            };
            if owner(&topic, qid, self.router.shard_count()) != self.shard {
                return unclaim(ResolveError::refused(
                    rs::SYSTEM_ERROR,
                    "the real queue of the half message is not on its shard",
                ));
            }
            let props = commit_properties(&view).to_wire();
            let real = NewRecord {
                queue_id: qid,
                flag: view.flag,
                sys_flag: (view.sys_flag & !sys_flag::TRANSACTION_MASK)
                    | sys_flag::TRANSACTION_COMMIT,
                born_timestamp_ms: view.born_timestamp_ms,
                born_host: view.born_host,
                store_host: self.store_host,
                reconsume_times: view.reconsume_times,
                prepared_tx_offset: p.physical_offset as i64,
                body: view.body,
                topic: &topic,
                properties: &props,
            };
            let msg = match to_append(&real, find(&props, keys::TAGS)) {
                Ok(m) => m,
                Err(e) => return unclaim(ResolveError::refused(rs::MESSAGE_ILLEGAL, &e)),
            };
            if let Err(e) = self.store.append(msg).await {
                return unclaim(ResolveError::Storage(e));
            }
            self.wake_pulls(&topic, qid);
            self.metrics
                .messages_in
                .set(self.metrics.messages_in.get() + 1);
        }
        // From here the decision is made: a failed op record is repaired by recovery (commit) or
        // leaves the half to be checked again (rollback, discard), never applied twice.
        if let Err(e) = self
            .append_op(half_offset, OP_TAG_DONE, Some(decision))
            .await
        {
            tracing::error!(shard = %self.shard, half_offset, error = %e, "transaction op record not stored");
        }
        self.transactions.borrow_mut().resolved(half_offset);
        tracing::debug!(shard = %self.shard, half_offset, decision = decision.as_str(), "transaction resolved");
        Ok(())
    }

    /// Appends an op record for a half: `d` (resolved, with its decision) or `c` (a check sent).
    pub(crate) async fn append_op(
        &self,
        half_offset: u64,
        tag: &str,
        decision: Option<Decision>,
    ) -> Result<(), StorageError> {
        let msg = self.op_record(half_offset, tag, decision)?;
        self.store.append(msg).await.map(|_| ())
    }

    /// Appends the `c` records of checks sent for these halves, in one append.
    pub(crate) async fn append_check_ops(&self, halves: &[u64]) -> Result<(), StorageError> {
        let msgs = halves
            .iter()
            .map(|off| self.op_record(*off, OP_TAG_CHECK, None))
            .collect::<Result<Vec<_>, _>>()?;
        self.store.append_batch(msgs).await.map(|_| ())
    }

    fn op_record(
        &self,
        half_offset: u64,
        tag: &str,
        decision: Option<Decision>,
    ) -> Result<AppendMessage, StorageError> {
        debug_assert!(tag == OP_TAG_DONE || tag == OP_TAG_CHECK);
        let (_, op_q) = self.transaction_queues();
        let mut props = Properties::default();
        props.set(keys::TAGS, tag);
        if let Some(d) = decision {
            props.set(OP_DECISION_KEY, d.as_str());
        }
        let props = props.to_wire();
        let body = half_offset.to_string();
        let rec = NewRecord {
            queue_id: op_q,
            flag: 0,
            sys_flag: 0,
            born_timestamp_ms: now_ms(),
            born_host: self.store_host,
            store_host: self.store_host,
            reconsume_times: 0,
            prepared_tx_offset: 0,
            body: body.as_bytes(),
            topic: OP_TOPIC,
            properties: &props,
        };
        to_append(&rec, Some(tag)).map_err(StorageError::Config)
    }

    /// END_TRANSACTION for an offset the table does not hold: judged on the record there.
    async fn end_transaction_absent(
        &self,
        h: &EndTransactionHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let phys = h.commit_log_offset as u64;
        let rec = match self.store.read_record(PhysicalOffset(phys)).await {
            Ok(b) => b,
            Err(_) => return cmd.error_response(rs::SYSTEM_ERROR, REMARK_NOT_FOUND),
        };
        let Ok(view) = message::decode_record(&rec, false) else {
            return cmd.error_response(rs::SYSTEM_ERROR, REMARK_NOT_FOUND);
        };
        if find(view.properties, keys::PGROUP) != Some(h.producer_group.as_str()) {
            return cmd.error_response(rs::SYSTEM_ERROR, REMARK_GROUP);
        }
        if view.queue_offset as i64 != h.tran_state_table_offset {
            return cmd
                .error_response(rs::SYSTEM_ERROR, "The transaction state table offset wrong");
        }
        if view.physical_offset != phys {
            return cmd.error_response(rs::SYSTEM_ERROR, "The commit log offset wrong");
        }
        if view.topic != HALF_TOPIC {
            return cmd.error_response(rs::SYSTEM_ERROR, REMARK_NOT_FOUND);
        }
        tracing::info!(shard = %self.shard, half_offset = h.tran_state_table_offset, "END_TRANSACTION for a resolved half message: nothing to do");
        cmd.response(rs::SUCCESS)
    }
}

/// Why a decision was not stored (nothing was: the half is pending again).
#[derive(Debug)]
pub(crate) enum ResolveError {
    Storage(StorageError),
    Refused { code: i32, remark: String },
}

impl ResolveError {
    fn refused(code: i32, remark: &str) -> ResolveError {
        ResolveError::Refused {
            code,
            remark: remark.to_string(),
        }
    }

    /// The answer to the request that asked for the decision.
    pub(crate) fn answer(&self, cmd: &RemotingCommand) -> RemotingCommand {
        match self {
            ResolveError::Storage(e) => storage_error(cmd, "[STORE] ", e),
            ResolveError::Refused { code, remark } => cmd.error_response(*code, remark.clone()),
        }
    }
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Storage(e) => write!(f, "{e}"),
            ResolveError::Refused { code, remark } => write!(f, "{code}: {remark}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(props: &str, batch: bool, reconsume: i32) -> SendMessageHeader {
        SendMessageHeader {
            producer_group: "pg".into(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: sys_flag::TRANSACTION_PREPARED,
            born_timestamp_ms: 0,
            flag: 0,
            properties: props.into(),
            reconsume_times: reconsume,
            unit_mode: false,
            max_reconsume_times: None,
            batch,
        }
    }

    #[test]
    fn half_message_rows() {
        let tran = "TRAN_MSG\u{1}true\u{2}PGROUP\u{1}pg";
        assert!(is_half_message(&header(tran, false, 0)));
        assert!(is_half_message(&header("TRAN_MSG\u{1}TRUE", false, 0)));
        assert!(!is_half_message(&header(tran, true, 0)), "batches never");
        assert!(!is_half_message(&header("TRAN_MSG\u{1}false", false, 0)));
        assert!(
            !is_half_message(&header("PGROUP\u{1}pg", false, 0)),
            "the sysFlag alone is not enough (RocketMQ reads the property)"
        );
        let retry = "TRAN_MSG\u{1}true\u{2}DELAY\u{1}3";
        assert!(
            !is_half_message(&header(retry, false, 1)),
            "old clients' retries"
        );
        assert!(is_half_message(&header(retry, false, 0)));
    }

    #[test]
    fn commit_drops_the_parking_properties_only() {
        let props = "TRAN_MSG\u{1}true\u{2}PGROUP\u{1}pg\u{2}UNIQ_KEY\u{1}U1\u{2}REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}2\u{2}TAGS\u{1}a";
        let rec = NewRecord {
            queue_id: 0,
            flag: 0,
            sys_flag: 0,
            born_timestamp_ms: 1,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_host: "127.0.0.1:2".parse().unwrap(),
            reconsume_times: 0,
            prepared_tx_offset: 0,
            body: b"b",
            topic: HALF_TOPIC,
            properties: props,
        };
        let m = to_append(&rec, Some("a")).unwrap();
        let view = message::decode_record(&m.record, true).unwrap();
        assert_eq!(real_queue(&view), Some(("T".to_string(), 2)));
        let p = commit_properties(&view);
        assert_eq!(p.get(keys::UNIQ_KEY), Some("U1"));
        assert_eq!(p.get(keys::PGROUP), Some("pg"));
        assert_eq!(p.get(keys::TAGS), Some("a"));
        assert_eq!(p.get(keys::REAL_TOPIC), None);
        assert_eq!(p.get(keys::TRAN_MSG), None);
        assert_eq!(m.keys, vec!["U1".to_string()]);
        assert_eq!(
            immunity_ms("CHECK_IMMUNITY_TIME_IN_SECONDS\u{1}20"),
            Some(20_000)
        );
        assert_eq!(immunity_ms("CHECK_IMMUNITY_TIME_IN_SECONDS\u{1}x"), None);
    }
}
