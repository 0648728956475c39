//! The broker: request processors and the per-shard state they work on.
//!
//! Every shard runs one [`Broker`]. A request is read by the shard that accepted its connection
//! ([`Broker::handle`]), classified once, and either answered there (NameServer role, registry reads),
//! or sent through the router to the shard that owns its message queue ([`Broker::process_owned`]):
//! sends, pulls, offsets. Changes to shared metadata (topics, the client registry) go to shard 0 or to
//! every shard as [`Control`] messages.
//!
//! Invariants:
//! - Only this module maps internal outcomes (storage results, registry state) to response codes.
//! - A shard touches another shard's state only through [`ShardMsg`]s on the router.
//! - Oneway requests are never answered; every other request gets exactly one response.
//! - No `RefCell` borrow is held across an `.await`.
//!
//! Helpers here return `Result<T, RemotingCommand>`: the error is the response to send, built where the
//! problem is found. It is large, but it is the rare path, so clippy's `result_large_err` is allowed.
#![allow(clippy::result_large_err)]

pub mod clients;
pub mod locks;
pub mod offsets;
pub mod pull;
pub mod send;
pub mod topics;

mod control;
pub mod hops;
mod lifecycle;
mod requests;

pub use lifecycle::{run_shard, ShardStartup};

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::BrokerConfig;
use crate::net::{ConnId, Outbox, RequestCtx};
use crate::remoting::codes::response;
use crate::remoting::RemotingCommand;
use crate::shard::router::Router;
use crate::shard::ShardId;
use crate::storage::MessageStore;

use clients::{ClientRegistry, Heartbeat};
use locks::LockTable;
use offsets::OffsetTable;
use topics::{TopicConfig, TopicTable};

/// Messages between shards.
pub enum ShardMsg {
    /// Requests this shard owns, from another shard (see [`hops`]).
    Requests(Vec<hops::Forwarded>),
    /// Replies to requests this shard forwarded.
    Replies(Vec<hops::Reply>),
    /// Change or read shared metadata.
    Control {
        op: Control,
        reply: flume::Sender<ControlReply>,
    },
    /// Write a broker-initiated command on a connection this shard owns.
    Push { conn: u64, cmd: RemotingCommand },
}

/// Metadata operations carried by [`ShardMsg::Control`].
#[derive(Debug, Clone)]
pub enum Control {
    /// To shard 0: create or replace a topic, persist, replicate to every shard.
    UpsertTopic(TopicConfig),
    /// To shard 0: create `topic` if missing, from `template` (send auto-creation) or as given.
    EnsureTopic {
        topic: TopicConfig,
        template: Option<String>,
    },
    /// From shard 0 to every shard: replace the replica's entry.
    ApplyTopic(TopicConfig),
    Heartbeat {
        hb: Heartbeat,
        conn: ConnId,
    },
    Unregister {
        client_id: String,
        producer_group: String,
        consumer_group: String,
    },
    ConnectionClosed(ConnId),
    Lock {
        group: String,
        client_id: String,
        queues: Vec<(String, u32)>,
    },
    Unlock {
        group: String,
        client_id: String,
        queues: Vec<(String, u32)>,
    },
    /// Final step of shutdown: persist offsets and close the store.
    Shutdown,
}

/// Answers to [`Control`] operations.
#[derive(Debug, Clone)]
pub enum ControlReply {
    Done,
    Topic(Result<TopicConfig, String>),
    Locked(Vec<(String, u32)>),
}

/// One shard's broker state. Lives on its shard only (`Rc`, `RefCell`).
pub struct Broker {
    pub cfg: Arc<BrokerConfig>,
    pub shard: ShardId,
    pub router: Router<ShardMsg>,
    pub store: MessageStore,
    /// The address written into records and message ids (advertised ip, broker port).
    pub store_host: SocketAddrV4,
    pub topics: RefCell<TopicTable>,
    pub clients: RefCell<ClientRegistry>,
    pub offsets: RefCell<OffsetTable>,
    pub locks: RefCell<LockTable>,
    /// Connections this shard owns, for broker-initiated requests.
    pub conns: RefCell<HashMap<u64, Outbox>>,
    pub long_polls: RefCell<pull::LongPolls>,
    /// Disconnected when the process begins to shut down.
    pub stop: crate::net::StopSignal,
    /// Counter for the opaque of broker-initiated requests.
    pub next_opaque: std::cell::Cell<i32>,
    pub metrics: crate::metrics::ShardMetrics,
    /// Outboxes and waiters of cross-shard requests.
    pub hops: hops::Hops,
}

/// A response with a code and a remark.
pub fn error_response(
    req: &RemotingCommand,
    code: i32,
    remark: impl Into<String>,
) -> RemotingCommand {
    req.response(code).with_remark(remark)
}

impl Broker {
    /// Sends `cmd` to the owner shard of its queue and returns its answer (locally when we own it).
    pub async fn forward(
        self: &Rc<Self>,
        owner: ShardId,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> Option<RemotingCommand> {
        if owner == self.shard {
            return self.clone().process_owned(cmd, ctx).await;
        }
        let oneway = cmd.is_oneway();
        let fallback = cmd
            .response(response::SYSTEM_BUSY)
            .with_remark("[SHUTDOWN] the broker is shutting down");
        match self.hop(owner, cmd, ctx).await {
            Some(answer) => answer,
            None if oneway => None,
            None => Some(fallback),
        }
    }

    /// Runs a control operation on one shard (here when it is us).
    pub async fn control(self: &Rc<Self>, to: ShardId, op: Control) -> ControlReply {
        if to == self.shard {
            return self.clone().apply_control(op).await;
        }
        self.router
            .call(to, |reply| ShardMsg::Control { op, reply })
            .await
            .unwrap_or(ControlReply::Topic(Err("shard is shutting down".into())))
    }

    /// Runs a control operation on every shard, this one included, and waits for all.
    pub async fn control_all(self: &Rc<Self>, op: Control) -> Vec<ControlReply> {
        let mut waits = Vec::new();
        for s in self.router.shards() {
            if s == self.shard {
                continue;
            }
            let (tx, rx) = flume::bounded(1);
            if self
                .router
                .send(
                    s,
                    ShardMsg::Control {
                        op: op.clone(),
                        reply: tx,
                    },
                )
                .is_ok()
            {
                waits.push(rx);
            }
        }
        let mut out = vec![self.clone().apply_control(op).await];
        for rx in waits {
            if let Ok(r) = rx.recv_async().await {
                out.push(r);
            }
        }
        out
    }

    /// Writes a broker-initiated oneway request on a connection, wherever it lives.
    pub fn push(&self, conn: ConnId, mut cmd: RemotingCommand) {
        let opaque = self.next_opaque.get().wrapping_add(1) & i32::MAX;
        self.next_opaque.set(opaque);
        cmd.opaque = opaque;
        if conn.shard == self.shard {
            if let Some(out) = self.conns.borrow().get(&conn.id) {
                let _ = out.send(cmd);
            }
        } else {
            let _ = self
                .router
                .send(conn.shard, ShardMsg::Push { conn: conn.id, cmd });
        }
    }

    /// The topic's config from this shard's replica.
    pub fn topic(&self, name: &str) -> Option<TopicConfig> {
        self.topics.borrow().get(name).cloned()
    }

    /// The request path's view of a topic (no allocation).
    pub fn topic_view(&self, name: &str) -> Option<topics::TopicView> {
        self.topics.borrow().get(name).map(topics::TopicView::from)
    }
}
