//! Bolide: a thread-per-core, io_uring RocketMQ-compatible message broker.
//!
//! Layers (see `docs/ARCHITECTURE.md`), from the wire down:
//! - [`remoting`]: RocketMQ remoting frames, headers and bodies. Pure: no I/O.
//! - [`message`]: the stored-message record layout, properties, ids, tag hashes. Pure.
//! - [`net`]: listeners and the connection loop.
//! - [`shard`]: pinned executors, queue placement, the cross-core router.
//! - [`broker`]: request processors; the only place that maps statuses to response codes.
//! - [`nameserver`]: the NameServer role (routes) served from the same process.
//! - [`storage`]: commit log, consume queues, index, recovery, retention. Never sees a request code.
//! - [`client`]: the remoting client (bench, tests, admin, replication follower).
//! - [`config`]: every setting and limit in one place.
//! - [`filter`]: SQL92 message filters (parse once, evaluate per message). Pure.
//! - [`clock`]: the one wall clock, injectable in tests.
//! - [`metrics`]: counters and latency histograms.

pub mod acl;
pub mod broker;
pub mod client;
pub mod clock;
pub mod config;
pub mod filter;
pub mod message;
pub mod metrics;
pub mod nameserver;
pub mod net;
pub mod remoting;
pub mod shard;
pub mod storage;
