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
//! - [`admin`]: `bolide admin`, the operator's tool (mqadmin's commands) on top of [`client`].
//! - [`config`]: every setting and limit in one place.
//! - [`controller`]: `bolide controller`, the failover controller (openraft): master and epoch per broker group.
//! - [`filter`]: SQL92 message filters (parse once, evaluate per message). Pure.
//! - [`clock`]: the one wall clock, injectable in tests.
//! - [`metrics`]: counters and latency histograms, published by each shard for readers.
//! - [`http`]: the HTTP port (own thread): `/metrics` and the web console.

pub mod acl;
pub mod admin;
pub mod broker;
pub mod client;
pub mod clock;
pub mod config;
pub mod controller;
pub mod filter;
pub mod http;
pub mod message;
pub mod metrics;
pub mod nameserver;
pub mod net;
pub mod pairs;
pub mod remoting;
pub mod replication;
pub mod shard;
pub mod storage;
