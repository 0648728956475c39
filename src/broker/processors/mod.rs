//! Request processors, one file per command family, each with the same three steps (the shape of
//! mini-redis's `cmd/`):
//!
//! 1. parse: the typed header from `remoting::headers` (for owner-routed requests done once, on the
//!    accepting shard, by [`super::routing::OwnedRequest::parse`]); a bad header is answered by
//!    [`super::status::header_error`];
//! 2. apply: on this shard's state ([`super::state`]), the store, or other shards via [`super::Control`];
//! 3. respond: the response command, codes chosen here or by [`super::status`].
//!
//! | file | codes | runs on |
//! |---|---|---|
//! | [`send`] | 10, 310, 320 | accepting shard (topic, queue choice), then queue owner |
//! | [`pull`] | 11, 361 | queue owner |
//! | [`offsets`] | 14, 15, 29, 30, 31, 32 | queue owner |
//! | [`query`] | 33 | commit-log owner |
//! | [`client`] | 34, 35, 38, 46 | accepting shard (34, 35 fan out to every shard) |
//! | [`locks`] | 41, 42 | accepting shard, split by queue owner |
//! | [`admin`] | 17, 21 | accepting shard (17 through shard 0) |
//! | [`namesrv`] | 101, 105, 106, 206, 216, 224, ... | accepting shard |
//! | [`retry`] | 36 (and the `%RETRY%` → `%DLQ%` rule of sends) | commit-log owner of the consumed message, then the retry queue's owner |
//! | [`groups`] | 200, 201, 207 | accepting shard (200, 207 through shard 0) |
//! | [`reset`] | 222 (pushes 220 to consumers) | accepting shard, each queue reset by its owner |
//! | [`transaction`] | 37 (and half messages of 10/310) | shard whose log holds the half (`commitLogOffset >> 48`) |
//! | [`reply`] | 324, 325 (pushes 326 to the requester) | accepting shard, the requester's connection's shard, then the queue owner |
//! | [`acl_admin`] | 50, 51, 52, 53 | accepting shard (the accounts are shared by every shard) |
//! | [`pop`] | 200050, 200051, 200053 | accepting shard in rounds over the queue owners (200050); queue owner (200051, 200053) |
//! | [`assignment`] | 400, 401 | accepting shard (the request modes are shared by every shard) |
//! | [`operate`] | 25, 26, 28, 202, 203, 208, 215, 300, 303, 304, 305, 307, 351 | accepting shard (asks owners / every shard) |
//!
//! Next here: query by key (12).

pub mod acl_admin;
pub mod admin;
pub mod assignment;
pub mod client;
pub mod groups;
pub mod locks;
pub mod namesrv;
pub mod offsets;
pub mod operate;
pub mod pop;
pub mod pull;
pub mod query;
pub mod reply;
pub mod reset;
pub mod retry;
pub mod send;
pub mod transaction;
