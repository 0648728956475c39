//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361), with long polling. Runs on the shard that owns the
//! queue, so the consume queue, the offsets and the wake-ups are all local.
//!
//! Result table (remoting-protocol.md §7.3; `max` = next offset to be written):
//!
//! | situation | code | nextBeginOffset |
//! |---|---|---|
//! | matching messages found | SUCCESS + body | offset + entries scanned |
//! | entries scanned, none matched the filter | PULL_RETRY_IMMEDIATELY | offset + entries scanned |
//! | queue empty, offset == 0 | PULL_NOT_FOUND (long-poll) | 0 |
//! | queue empty, offset != 0 | PULL_OFFSET_MOVED | 0 |
//! | offset < min | PULL_OFFSET_MOVED | min |
//! | offset == max | PULL_NOT_FOUND (long-poll) | offset |
//! | offset > max | PULL_OFFSET_MOVED | max |
//!
//! Filters: a TAG subscription is matched on the consume-queue tag code; a SQL92 one (the pull header's
//! expression or the group's heartbeat subscription, compiled once, see `state::clients::SqlFilter`)
//! on each record's properties, read from the log. With `enable_property_filter` off a SQL92 pull
//! answers SYSTEM_ERROR, and an expression that does not compile SUBSCRIPTION_PARSE_FAILED with where
//! it failed.
//!
//! Long polling: a PULL_NOT_FOUND with the SUSPEND flag parks the request on its queue until a message
//! is appended there, the hold time passes (the client's `suspendTimeoutMillis`, at most
//! [`LONG_POLL_MAX_MS`]), or the broker shuts down; then the pull runs once more. If what arrived
//! does not match the filter (PULL_RETRY_IMMEDIATELY), the pull moves past it and parks again until
//! the same deadline, as the Java broker only wakes a held pull for a matching message; otherwise its
//! result is the answer.
//!
//! Reads from the slave (`slaveReadEnable`, Java's `PullMessageProcessor` rule): the answer's
//! `suggestWhichBrokerId` tells the client where to pull next, from whether the first record read
//! was cold (storage's fact [`crate::storage::MessageStore::in_memory`]: not in the appender's chunks
//! nor the recent-data cache, so served from disk; Java's "more than `accessMessageInMemoryMaxRatio`
//! of RAM behind the log's end"). See [`suggest_broker`] for the table.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::broker::processors::client::SQL92_DISABLED;
use crate::broker::state::clients::{SqlFilter, Subscription};
use crate::broker::Broker;
use crate::config::LONG_POLL_MAX_MS;
use crate::filter::Expression;
use crate::remoting::codes::response as rs;
use crate::remoting::headers::{PullMessageHeader, PullResultHeader};
use crate::remoting::RemotingCommand;
use crate::storage::{QueueEntry, QueueOffset};

/// Most consume-queue entries one pull scans (filtered-out ones included).
pub const PULL_SCAN_MAX_ENTRIES: usize = 4096;
/// Most body bytes one pull returns (frames must stay far below 16 MiB).
pub const PULL_BODY_MAX_BYTES: usize = 4 << 20;

/// What one read of a queue produced.
struct PullOutcome {
    code: i32,
    next_begin: u64,
    body: Option<Bytes>,
    /// Messages in `body` (for the metrics).
    messages: u64,
    /// The first record read was not in memory (see [`suggest_broker`]); false when none was read.
    cold: bool,
}

/// Where a pull answer points the consumer, and whether a miss becomes PULL_RETRY_IMMEDIATELY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suggestion {
    /// `suggestWhichBrokerId`.
    pub broker_id: i64,
    /// A code other than SUCCESS is answered as PULL_RETRY_IMMEDIATELY (the consumer is sent back
    /// to the master at once rather than parked on the slave).
    pub retry_at_master: bool,
}

/// Java's rule (`PullMessageProcessor.composeResponseHeader`), in two steps. `slow` and `usual` are
/// the group's `whichBrokerWhenConsumeSlowly` (1) and `brokerId` (0); `linked`: this slave's
/// link to its master is up (Java: `minBrokerIdInGroup == 0`, the master is registered).
///
/// | slaveReadEnable | cold | this broker | master linked | suggest | a miss becomes |
/// |---|---|---|---|---|---|
/// | off | any | master | - | 0 | as is |
/// | on | yes | master | - | slow | as is |
/// | on | no | master | - | usual | as is |
/// | off | any | slave | any | 0 | as is |
/// | on | no | slave | yes | 0 | PULL_RETRY_IMMEDIATELY |
/// | on | yes | slave | any | slow | as is |
/// | on | no | slave | no | usual | as is |
///
/// With the key off a Java slave serves no messages at all (4.x: PULL_RETRY_IMMEDIATELY to the
/// master; 5.x: rejected); a Bolide slave serves them (docs/compat-java.md), so that consumers
/// keep reading when the master is dead and the key was never set.
pub(crate) fn suggest_broker(
    slave_read_enable: bool,
    cold: bool,
    slow: i64,
    usual: i64,
    is_slave: bool,
    linked: bool,
) -> Suggestion {
    let broker_id = match (slave_read_enable, cold) {
        (false, _) => 0,
        (true, true) => slow,
        (true, false) => usual,
    };
    if slave_read_enable && is_slave && linked && !cold {
        return Suggestion {
            broker_id: 0,
            retry_at_master: true,
        };
    }
    Suggestion {
        broker_id,
        retry_at_master: false,
    }
}

impl Broker {
    /// The group's config refuses this pull (Java's order of checks): `consumeEnable = false`, or
    /// a broadcasting group with `consumeBroadcastEnable = false`. Both NO_PERMISSION.
    pub(crate) fn group_refuses_pull(
        &self,
        group: &str,
        cmd: &RemotingCommand,
    ) -> Option<RemotingCommand> {
        let groups = self.groups.borrow();
        let cfg = groups.get(group)?;
        if !cfg.consume_enable {
            return Some(cmd.error_response(
                rs::NO_PERMISSION,
                format!("subscription group no permission, {group}"),
            ));
        }
        if !cfg.consume_broadcast_enable
            && self.clients.borrow().message_model(group)
                == Some(crate::broker::state::clients::MessageModel::Broadcasting)
        {
            return Some(cmd.error_response(
                rs::NO_PERMISSION,
                format!("the consumer group[{group}] can not consume by broadcast way"),
            ));
        }
        None
    }

    pub(crate) fn wake_pulls(&self, topic: &str, queue_id: u32) {
        self.long_polls.borrow_mut().wake(topic, queue_id);
    }

    /// Owner half of a pull (the header was parsed on the accepting shard).
    pub(crate) async fn process_pull(
        &self,
        h: PullMessageHeader,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        if let Some(refused) = self.group_refuses_pull(&h.consumer_group, &cmd) {
            return refused;
        }
        let Some(cfg) = self.topic_view(&h.topic) else {
            return cmd.error_response(
                rs::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist, apply first please!", h.topic),
            );
        };
        if !cfg.readable() {
            return cmd.error_response(
                rs::NO_PERMISSION,
                format!("the topic[{}] pulling message is forbidden", h.topic),
            );
        }
        if h.queue_id < 0 || h.queue_id as u32 >= cfg.read_queue_nums {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!(
                    "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}]",
                    h.queue_id, h.topic, cfg.read_queue_nums
                ),
            );
        }
        let qid = h.queue_id as u32;
        let sub = if h.has_subscription() {
            if h.expression_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("SQL92"))
            {
                // Lite-pull consumers send their expression with every pull: reuse the filter the
                // group's heartbeat compiled when the text is the same.
                let clients = self.clients.borrow();
                let known = clients
                    .subscription(&h.consumer_group, &h.topic)
                    .and_then(|s| s.sql.as_ref());
                Subscription::from_sql(
                    &h.topic,
                    h.subscription.as_deref().unwrap_or(""),
                    h.sub_version,
                    known,
                )
            } else {
                Subscription::from_expression(
                    &h.topic,
                    h.subscription.as_deref().unwrap_or("*"),
                    h.sub_version,
                )
            }
        } else {
            let clients = self.clients.borrow();
            match clients.subscription(&h.consumer_group, &h.topic) {
                Some(s) => s.clone(),
                None if !clients.has_consumer_group(&h.consumer_group) => {
                    return cmd.error_response(
                        rs::SUBSCRIPTION_NOT_EXIST,
                        format!(
                            "the consumer's group info not exist, group: {}",
                            h.consumer_group
                        ),
                    )
                }
                None => {
                    return cmd.error_response(
                        rs::SUBSCRIPTION_NOT_EXIST,
                        format!(
                            "the consumer's subscription not exist, group: {} topic: {}",
                            h.consumer_group, h.topic
                        ),
                    )
                }
            }
        };
        match &sub.sql {
            Some(_) if !self.cfg.enable_property_filter => {
                return cmd.error_response(rs::SYSTEM_ERROR, SQL92_DISABLED)
            }
            Some(SqlFilter::Invalid { error, .. }) => {
                return cmd.error_response(rs::SUBSCRIPTION_PARSE_FAILED, error.to_string())
            }
            _ => {}
        }
        if h.has_commit_offset() && h.commit_offset >= 0 {
            self.offsets
                .borrow_mut()
                .commit(&h.consumer_group, &h.topic, qid, h.commit_offset);
        }
        // A slave whose master is up sends a consumer at the tail back to the master at once
        // (PULL_RETRY_IMMEDIATELY, `suggest_broker`) instead of holding it.
        let may_suspend =
            h.suspend() && self.runtime.get().long_polling && !self.slave_sends_back();
        // Long polling (see the module comment): `offset` moves past messages that arrived while
        // parked but did not match the filter, so a parked pull answers only with matching
        // messages, or at the deadline.
        let mut offset = h.queue_offset;
        let mut parked_until: Option<Instant> = None;
        loop {
            let outcome = self
                .read_queue(&h.topic, qid, offset, h.max_msg_nums, &sub)
                .await;
            let park = match outcome.code {
                rs::PULL_NOT_FOUND => may_suspend,
                rs::PULL_RETRY_IMMEDIATELY => parked_until.is_some(),
                _ => false,
            };
            if !park {
                return self.pull_response(&cmd, &h.topic, qid, outcome);
            }
            let until = *parked_until.get_or_insert_with(|| {
                let hold_ms = if h.suspend_timeout_ms > 0 {
                    h.suspend_timeout_ms as u64
                } else {
                    15_000
                };
                Instant::now() + Duration::from_millis(hold_ms.min(LONG_POLL_MAX_MS))
            });
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.stop.is_disconnected() {
                return self.pull_response(&cmd, &h.topic, qid, outcome);
            }
            offset = outcome.next_begin as i64;
            let woken = self.long_polls.borrow_mut().register(&h.topic, qid);
            if self.store.max_offset(&h.topic, qid).0 as i64 > offset {
                continue; // a message landed while we were reading
            }
            let stop = self.stop.clone();
            futures_lite::future::or(
                async {
                    let _ = woken.recv_async().await;
                },
                futures_lite::future::or(glommio::timer::sleep(left), async {
                    let _ = stop.recv_async().await;
                }),
            )
            .await;
        }
    }

    /// A slave that sends consumers of warm data back to its master ([`suggest_broker`]).
    fn slave_sends_back(&self) -> bool {
        self.cfg.slave_read_enable && self.is_slave() && self.ha.master_linked.get()
    }

    fn pull_response(
        &self,
        cmd: &RemotingCommand,
        topic: &str,
        qid: u32,
        outcome: PullOutcome,
    ) -> RemotingCommand {
        let group = cmd.ext("consumerGroup").unwrap_or_default();
        let suggestion = {
            let groups = self.groups.borrow();
            let (slow, usual) = groups.get(group).map_or((1, 0), |g| {
                (g.which_broker_when_consume_slowly, g.broker_id)
            });
            suggest_broker(
                self.cfg.slave_read_enable,
                outcome.cold,
                slow,
                usual,
                self.is_slave(),
                self.ha.master_linked.get(),
            )
        };
        let code = if suggestion.retry_at_master && outcome.code != rs::SUCCESS {
            rs::PULL_RETRY_IMMEDIATELY
        } else {
            outcome.code
        };
        if outcome.messages > 0 {
            let bytes = outcome.body.as_ref().map_or(0, |b| b.len() as u64);
            self.metrics
                .record_out(topic, group, outcome.messages, bytes);
        }
        let mut resp = cmd.response(code);
        PullResultHeader {
            suggest_which_broker_id: suggestion.broker_id,
            next_begin_offset: outcome.next_begin as i64,
            min_offset: self.store.min_offset(topic, qid).0 as i64,
            max_offset: self.store.max_offset(topic, qid).0 as i64,
        }
        .write_to(&mut resp);
        if let Some(body) = outcome.body {
            resp.body = body;
        }
        resp
    }

    async fn read_queue(
        &self,
        topic: &str,
        qid: u32,
        offset: i64,
        max_msgs: i32,
        sub: &Subscription,
    ) -> PullOutcome {
        let min = self.store.min_offset(topic, qid).0;
        let max = self.store.max_offset(topic, qid).0;
        let found = |code, next_begin| PullOutcome {
            code,
            next_begin,
            body: None,
            messages: 0,
            cold: false,
        };
        if max == 0 {
            return if offset == 0 {
                found(rs::PULL_NOT_FOUND, 0)
            } else {
                found(rs::PULL_OFFSET_MOVED, 0)
            };
        }
        if offset < min as i64 {
            return found(rs::PULL_OFFSET_MOVED, min);
        }
        let offset = offset as u64;
        if offset == max {
            return found(rs::PULL_NOT_FOUND, offset);
        }
        if offset > max {
            return found(rs::PULL_OFFSET_MOVED, max);
        }
        let want = max_msgs.clamp(1, 1024) as usize;
        let entries = self.store.queue_entries(
            topic,
            qid,
            QueueOffset(offset),
            PULL_SCAN_MAX_ENTRIES.min(want.max(64) * 4),
        );
        let cold = entries
            .first()
            .is_some_and(|e| !self.store.in_memory(e.physical_offset));
        if let Some(SqlFilter::Compiled(expr)) = &sub.sql {
            let mut outcome = self.read_queue_sql(offset, &entries, want, expr).await;
            outcome.cold = cold;
            return outcome;
        }
        let mut picked: Vec<QueueEntry> = Vec::with_capacity(want);
        let mut scanned = 0u64;
        let mut bytes = 0usize;
        for e in &entries {
            if picked.len() >= want
                || (bytes > 0 && bytes + e.size_bytes as usize > PULL_BODY_MAX_BYTES)
            {
                break;
            }
            scanned += 1;
            if sub.matches(e.tags_code) {
                bytes += e.size_bytes as usize;
                picked.push(*e);
            }
        }
        let next_begin = offset + scanned;
        let retry = PullOutcome {
            cold,
            ..found(rs::PULL_RETRY_IMMEDIATELY, next_begin)
        };
        if picked.is_empty() {
            return retry;
        }
        match self.read_entries(&picked).await {
            Some(body) => PullOutcome {
                code: rs::SUCCESS,
                next_begin,
                body: Some(body),
                messages: picked.len() as u64,
                cold,
            },
            None => retry,
        }
    }

    /// The SQL92 half of [`Broker::read_queue`]: the filter needs each message's properties, so
    /// entries are read in batches of `want` and evaluated record by record until `want` matched,
    /// the body is full, or the scanned entries ran out. `nextBeginOffset` counts every entry looked
    /// at (matched or not); an unreadable record counts as not matched.
    async fn read_queue_sql(
        &self,
        offset: u64,
        entries: &[QueueEntry],
        want: usize,
        expr: &Expression,
    ) -> PullOutcome {
        let mut body = BytesMut::new();
        let (mut matched, mut scanned) = (0usize, 0u64);
        'batches: for batch in entries.chunks(want.max(16)) {
            let records = self.read_entry_records(batch).await;
            for (e, rec) in batch.iter().zip(records) {
                if matched >= want
                    || (!body.is_empty()
                        && body.len() + e.size_bytes as usize > PULL_BODY_MAX_BYTES)
                {
                    break 'batches;
                }
                scanned += 1;
                let Some(rec) = rec else { continue };
                let hit = match crate::message::decode_record(&rec, false) {
                    Ok(view) => expr.matches_properties(view.properties),
                    Err(err) => {
                        tracing::warn!(shard = %self.shard, offset = e.physical_offset.0, error = %err, "undecodable record skipped by a SQL92 pull");
                        false
                    }
                };
                if hit {
                    body.extend_from_slice(&rec);
                    matched += 1;
                }
            }
        }
        let next_begin = offset + scanned;
        if matched == 0 {
            return PullOutcome {
                code: rs::PULL_RETRY_IMMEDIATELY,
                next_begin,
                body: None,
                messages: 0,
                cold: false,
            };
        }
        // Counted out by the response (`metrics.record_out` in `pull_response`).
        PullOutcome {
            code: rs::SUCCESS,
            next_begin,
            body: Some(body.freeze()),
            messages: matched as u64,
            cold: false,
        }
    }

    /// Each entry's record (None when unreadable), one storage read per run of adjacent records.
    pub(crate) async fn read_entry_records(&self, entries: &[QueueEntry]) -> Vec<Option<Bytes>> {
        let mut out = Vec::with_capacity(entries.len());
        let mut i = 0;
        while i < entries.len() {
            let start = entries[i].physical_offset.0;
            let mut len = 0u64;
            let mut j = i;
            while j < entries.len()
                && entries[j].physical_offset.0 == start + len
                && (len == 0
                    || len + u64::from(entries[j].size_bytes) <= PULL_BODY_MAX_BYTES as u64)
            {
                len += u64::from(entries[j].size_bytes);
                j += 1;
            }
            match self
                .store
                .read(crate::storage::PhysicalOffset(start), len as u32)
                .await
            {
                Ok(run) if run.len() as u64 == len => {
                    let mut at = 0usize;
                    for e in &entries[i..j] {
                        let n = e.size_bytes as usize;
                        out.push(Some(run.slice(at..at + n)));
                        at += n;
                    }
                }
                Ok(_) | Err(_) => {
                    tracing::warn!(shard = %self.shard, offset = start, "skipping unreadable records");
                    out.extend(std::iter::repeat_n(None, j - i));
                }
            }
            i = j;
        }
        out
    }

    /// Reads the records of `entries`, one storage read per run of adjacent records.
    async fn read_entries(&self, entries: &[QueueEntry]) -> Option<Bytes> {
        let mut runs: Vec<(u64, u32)> = Vec::new();
        for e in entries {
            match runs.last_mut() {
                Some((start, len)) if *start + u64::from(*len) == e.physical_offset.0 => {
                    *len += e.size_bytes
                }
                _ => runs.push((e.physical_offset.0, e.size_bytes)),
            }
        }
        let mut parts = Vec::with_capacity(runs.len());
        for (start, len) in runs {
            match self
                .store
                .read(crate::storage::PhysicalOffset(start), len)
                .await
            {
                Ok(b) => parts.push(b),
                Err(e) => {
                    tracing::warn!(shard = %self.shard, offset = start, error = %e, "skipping unreadable records")
                }
            }
        }
        match parts.len() {
            0 => None,
            1 => parts.pop(),
            _ => {
                let mut body = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
                for p in parts {
                    body.extend_from_slice(&p);
                }
                Some(body.freeze())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{suggest_broker, Suggestion};

    fn s(broker_id: i64, retry_at_master: bool) -> Suggestion {
        Suggestion {
            broker_id,
            retry_at_master,
        }
    }

    /// One row of the table on [`suggest_broker`] each, in its order (slow = 1, usual = 0 as a
    /// group's defaults, except where a changed value shows which one is used).
    #[test]
    fn suggestion_table_rows() {
        // (slaveReadEnable, cold, slow, usual, is_slave, linked) -> suggestion
        let rows = [
            ((false, true, 1, 0, false, false), s(0, false)),
            ((false, false, 1, 0, false, false), s(0, false)),
            ((true, true, 1, 0, false, false), s(1, false)),
            ((true, true, 2, 0, false, false), s(2, false)),
            ((true, false, 1, 0, false, false), s(0, false)),
            ((true, false, 1, 3, false, false), s(3, false)),
            ((false, true, 1, 0, true, true), s(0, false)),
            ((false, false, 1, 0, true, true), s(0, false)),
            ((false, true, 1, 0, true, false), s(0, false)),
            ((false, false, 1, 0, true, false), s(0, false)),
            ((true, false, 1, 0, true, true), s(0, true)),
            ((true, false, 1, 3, true, true), s(0, true)),
            ((true, true, 1, 0, true, true), s(1, false)),
            ((true, true, 2, 0, true, false), s(2, false)),
            ((true, false, 1, 3, true, false), s(3, false)),
        ];
        for ((enable, cold, slow, usual, slave, linked), want) in rows {
            assert_eq!(
                suggest_broker(enable, cold, slow, usual, slave, linked),
                want,
                "enable={enable} cold={cold} slow={slow} usual={usual} slave={slave} linked={linked}"
            );
        }
    }
}
