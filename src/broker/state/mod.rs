//! Per-shard broker state: plain data with no I/O and no clock (callers pass `now_ms`), each table
//! held by its shard's [`super::Broker`] in a `RefCell`.
//!
//! | table | replicated how |
//! |---|---|
//! | [`topics`] | shard 0 authoritative, replica on every shard ([`topic_attributes`]: the rules for their RocketMQ 5 attributes) |
//! | [`groups`] | shard 0 authoritative, replica on every shard |
//! | [`clients`] | replica on every shard (heartbeats fan out) |
//! | [`offsets`] | each shard holds the offsets of the queues it owns |
//! | [`locks`] | each shard holds the locks of the queues it owns |
//! | [`long_polls`] | each shard parks the pulls of the queues it owns |
//! | [`pop`] | each shard holds the POP state of the queues it owns |
//! | [`transactions`] | each shard holds the half messages it stored (those of the queues it owns) |

pub mod clients;
pub mod groups;
pub mod locks;
pub mod long_polls;
pub mod offsets;
pub mod pop;
pub mod topic_attributes;
pub mod topics;
pub mod transactions;
