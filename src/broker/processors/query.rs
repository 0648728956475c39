//! Message queries (remoting-protocol.md §12).
//!
//! - VIEW_MESSAGE_BY_ID (33) runs on the shard whose commit log holds the offset (offsets of shard k
//!   start at `k << 48`, so an offset message id names its shard; the routing checked it exists).
//! - QUERY_MESSAGE (12) by key (a KEYS token or the UNIQ_KEY) within a store-time window: each shard
//!   indexes only its own messages, so the accepting shard asks every shard (through the router, as
//!   `OwnedRequest::QueryMessageShard`) and merges their answers, newest first.
//!
//! Bounds: at most `query_max_num` messages (RocketMQ `maxMsgsNumBatch`) whatever `maxNum` says, and
//! `unique_key_query_max_num` for a unique-key query (RocketMQ `defaultQueryMaxNum`); at most
//! [`QUERY_BODY_MAX_BYTES`] of records in one answer (at least one record). The index keeps hashes of
//! `topic#key`, so each shard re-checks a candidate's topic and keys before returning it.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use crate::broker::routing::OwnedRequest;
use crate::broker::status::{header_error, storage_error};
use crate::broker::Broker;
use crate::message::properties::index_keys;
use crate::net::RequestCtx;
use crate::remoting::codes::response as rs;
use crate::remoting::headers::{QueryMessageHeader, ViewMessageByIdHeader};
use crate::remoting::RemotingCommand;
use crate::storage::PhysicalOffset;

/// Most record bytes one QUERY_MESSAGE answer carries (always at least one record).
pub const QUERY_BODY_MAX_BYTES: usize = 4 << 20;

/// The Java broker's remark when nothing was found.
const NOT_FOUND_REMARK: &str = "can not find message, maybe time range not correct";

/// One record found by a query: its store time (for merging) and its stored bytes.
struct Found {
    store_ts_ms: i64,
    record: Bytes,
}

impl Broker {
    pub(crate) async fn view_message(
        &self,
        h: ViewMessageByIdHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let off = h.offset as u64;
        match self.store.read_record(PhysicalOffset(off)).await {
            Ok(bytes) => cmd.response(rs::SUCCESS).with_body(bytes),
            Err(e) => storage_error(
                cmd,
                &format!("can not find message by the offset, {off}: "),
                &e,
            ),
        }
    }

    /// QUERY_MESSAGE on the accepting shard: bound `maxNum`, ask every shard, merge newest first.
    pub(crate) async fn query_message(
        self: &Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        let mut h = match QueryMessageHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        let max = if h.unique_key_query {
            self.cfg.unique_key_query_max_num
        } else {
            usize::try_from(h.max_num)
                .unwrap_or(0)
                .min(self.cfg.query_max_num)
        };
        h.max_num = i32::try_from(max).unwrap_or(i32::MAX);
        let mut found: Vec<Found> = Vec::new();
        let mut last_ts_ms = 0i64;
        let mut last_phy = 0i64;
        for shard in self.router.shards() {
            let req = OwnedRequest::QueryMessageShard(h.clone());
            let Some(answer) = self.forward(shard, req, cmd.clone(), ctx).await else {
                continue;
            };
            if answer.code != rs::SUCCESS {
                continue;
            }
            let ext = |k: &str| {
                answer
                    .ext(k)
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            last_ts_ms = last_ts_ms.max(ext("indexLastUpdateTimestamp"));
            last_phy = last_phy.max(ext("indexLastUpdatePhyoffset"));
            found.extend(split_records(&answer.body));
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.store_ts_ms));
        let body = concat_bounded(found.into_iter().take(max));
        if body.is_empty() {
            return cmd.error_response(rs::QUERY_NOT_FOUND, NOT_FOUND_REMARK);
        }
        let mut resp = cmd.response(rs::SUCCESS);
        resp.set_ext("indexLastUpdateTimestamp", last_ts_ms);
        resp.set_ext("indexLastUpdatePhyoffset", last_phy);
        resp.with_body(body)
    }

    /// One shard's part of a QUERY_MESSAGE: its index, its records (`h.max_num` already bounded).
    pub(crate) async fn query_message_here(
        &self,
        h: QueryMessageHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let max = usize::try_from(h.max_num).unwrap_or(0);
        let offsets = self.store.lookup_key(
            &h.topic,
            &h.key,
            h.begin_timestamp_ms,
            h.end_timestamp_ms,
            max,
        );
        let mut found = Vec::with_capacity(offsets.len());
        let mut bytes = 0usize;
        for off in offsets {
            let record = match self.store.read_record(off).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(shard = %self.shard, offset = off.0, error = %e, "query: unreadable record skipped");
                    continue;
                }
            };
            let store_ts_ms = match crate::message::decode_record(&record, false) {
                // The index compares hashes: keep only real matches.
                Ok(view)
                    if view.topic == h.topic
                        && index_keys(view.properties).contains(&h.key.as_str()) =>
                {
                    view.store_timestamp_ms
                }
                _ => continue,
            };
            if !found.is_empty() && bytes + record.len() > QUERY_BODY_MAX_BYTES {
                break;
            }
            bytes += record.len();
            found.push(Found {
                store_ts_ms,
                record,
            });
        }
        let newest = found.iter().map(|f| f.store_ts_ms).max().unwrap_or(0);
        let body = concat_bounded(found.into_iter());
        if body.is_empty() {
            return cmd.error_response(rs::QUERY_NOT_FOUND, NOT_FOUND_REMARK);
        }
        let mut resp = cmd.response(rs::SUCCESS);
        resp.set_ext("indexLastUpdateTimestamp", newest);
        resp.set_ext("indexLastUpdatePhyoffset", self.store.log_end().0 as i64);
        resp.with_body(body)
    }
}

/// The records of a query answer's body, with their store times (stops at anything malformed).
fn split_records(body: &Bytes) -> Vec<Found> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some((size, _magic)) = crate::message::peek_header(&body[at..]) {
        let end = at + size as usize;
        if size == 0 || end > body.len() {
            break;
        }
        let record = body.slice(at..end);
        match crate::message::decode_record(&record, false) {
            Ok(view) => out.push(Found {
                store_ts_ms: view.store_timestamp_ms,
                record: record.clone(),
            }),
            Err(_) => break,
        }
        at = end;
    }
    out
}

/// Concatenates records up to [`QUERY_BODY_MAX_BYTES`] (the first one always).
fn concat_bounded(found: impl Iterator<Item = Found>) -> Bytes {
    let mut body = BytesMut::new();
    for f in found {
        if !body.is_empty() && body.len() + f.record.len() > QUERY_BODY_MAX_BYTES {
            break;
        }
        body.extend_from_slice(&f.record);
    }
    body.freeze()
}
