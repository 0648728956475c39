//! The broker: per-shard state, the request processors that work on it, the routing table that says
//! where each request runs, and the background services of a shard.
//!
//! Every shard runs one [`Broker`]. A request is read by the shard that accepted its connection
//! ([`Broker::route`], in [`routing`]), looked up once in the routing table [`routing::ROUTES`], and
//! either answered there (NameServer role, registry reads), sent to every shard, or parsed and sent
//! through the router to the shard that owns its message queue ([`Broker::serve_owned`]): sends, pulls,
//! offsets. Changes to shared metadata (topics, the client registry) go to shard 0 or to every shard as
//! [`Control`] messages.
//!
//! Layout:
//! - [`state`]: the per-shard tables (topics, clients, offsets, locks, parked pulls). Plain data.
//! - [`processors`]: one file per command family, each with the same verbs: parse (the typed header
//!   from `remoting::headers`), apply (on the state and the store), respond (the response command).
//! - [`routing`]: the routing table as data, the accepting-shard entry point, the owner-shard entry.
//! - [`hops`]: batched cross-shard requests and replies.
//! - [`control`]: metadata operations applied on one or every shard.
//! - [`services`]: background duties of a shard (offset persistence, client expiry, delay scheduler).
//! - [`delay`]: the schedule step of the put path (delayed and timer messages are parked).
//! - [`status`]: internal outcomes (storage errors, header errors) to response codes.
//! - [`replication`]: a shard's replication state; the SYNC_MASTER wait of the send path.
//! - [`lifecycle`]: open, serve, shut down.
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

pub mod control;
pub mod delay;
pub mod failover;
pub mod hops;
mod lifecycle;
pub mod processors;
pub mod replication;
pub mod request_modes;
pub mod routing;
pub mod services;
pub mod state;
pub mod status;

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

pub use control::{Control, ControlReply};
use state::clients::ClientRegistry;
use state::groups::{GroupTable, SubscriptionGroupConfig};
use state::locks::LockTable;
use state::long_polls::LongPolls;
use state::offsets::OffsetTable;
use state::topics::{TopicConfig, TopicTable, TopicView};

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
    /// Serve a connection another shard accepted (`net::spread`).
    Adopt(crate::net::Adopted),
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
    /// Subscription-group configs (replica; shard 0 authoritative, like topics).
    pub groups: RefCell<GroupTable>,
    /// Shard 0: one topic or group change at a time, from persistence to the last replica; a send
    /// whose owner has not seen its new topic yet waits on it ([`Control::SyncTopic`]).
    pub meta_commit: glommio::sync::Semaphore,
    pub clients: RefCell<ClientRegistry>,
    pub offsets: RefCell<OffsetTable>,
    pub locks: RefCell<LockTable>,
    /// Connections this shard owns, for broker-initiated requests.
    pub conns: RefCell<HashMap<u64, Outbox>>,
    pub long_polls: RefCell<LongPolls>,
    /// Disconnected when the process begins to shut down.
    pub stop: crate::net::StopSignal,
    /// Counter for the opaque of broker-initiated requests.
    pub next_opaque: std::cell::Cell<i32>,
    pub metrics: crate::metrics::ShardMetrics,
    /// Outboxes and waiters of cross-shard requests.
    pub hops: hops::Hops,
    /// The accounts in force when ACL is on (shared by every shard; reloaded by its own thread).
    pub acl: Option<Arc<crate::acl::Acl>>,
    /// ACL refusals on this shard, and when one was last logged (ms): at most one line a second.
    pub acl_denied: std::cell::Cell<(u64, i64)>,
    /// The request modes of (topic, group), shared by every shard ([`request_modes`]).
    pub request_modes: Arc<request_modes::RequestModes>,
    /// What POP consumers have in flight on this shard's queues.
    pub pops: RefCell<state::pop::PopTable>,
    /// Where the next pop starts among shards and queues (fairness between queues).
    pub pop_turn: std::cell::Cell<usize>,
    /// Pending transactional half messages stored by this shard.
    pub transactions: RefCell<state::transactions::TransactionTable>,
    /// The settings UPDATE_BROKER_CONFIG may change (every shard holds the same copy).
    pub runtime: std::cell::Cell<crate::config::RuntimeConfig>,
    /// Wall time this shard started (GET_BROKER_RUNTIME_INFO's `bootTimestamp`).
    pub boot_ms: i64,
    /// Message rates and day marks of this shard's counters (`services::tps`).
    pub tps: std::cell::Cell<services::tps::TpsSample>,
    /// Broker-to-client requests waiting for their answer, by opaque (connections of this shard).
    pub client_calls: RefCell<HashMap<i32, flume::Sender<RemotingCommand>>>,
    /// The delay scheduler's handle: the put path reports parked messages to it.
    pub scheduler: services::scheduler::Scheduler,
    /// The NameServer role's registry replica (empty when the role is off or no broker registered).
    pub registry: RefCell<crate::nameserver::Registry>,
    /// The NameServer role's KV table and settings (replica; shard 0 commits changes).
    pub namesrv_settings: RefCell<crate::nameserver::Settings>,
    /// Shard 0: wakes the registration loops (one per NameServer) when topics change.
    pub registration_kicks: RefCell<Vec<flume::Sender<()>>>,
    /// Replication: connected slaves and their acknowledgements (master), the master's address
    /// (slave). See [`replication`].
    pub ha: replication::HaState,
}

impl Broker {
    /// Sends `cmd` to the owner shard of its queue and returns its answer (locally when we own it).
    ///
    /// Not `async`: the request is served or queued for its hop when this is called, and the future
    /// returned holds only what the answer still needs (a boxed future, or the reply's receiver).
    /// An `async fn` would keep its arguments in its state beside its callee's copy of them, and
    /// every send copies that state once per layer (see `process_send`).
    pub fn forward(
        self: &Rc<Self>,
        owner: ShardId,
        req: routing::OwnedRequest,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> impl std::future::Future<Output = Option<RemotingCommand>> + 'static {
        enum Pending {
            Here(crate::net::LocalFuture<Option<RemotingCommand>>),
            Hop {
                reply: flume::Receiver<Option<RemotingCommand>>,
                oneway: bool,
                // What the answer needs of the request if the owner is gone (no allocation per hop).
                shell: RemotingCommand,
            },
        }
        let pending = if owner == self.shard {
            Pending::Here(self.clone().serve_owned(req, cmd, ctx))
        } else {
            Pending::Hop {
                oneway: cmd.is_oneway(),
                shell: cmd.response(response::SYSTEM_BUSY),
                reply: self.hop(owner, req, cmd, ctx),
            }
        };
        async move {
            match pending {
                Pending::Here(served) => served.await,
                Pending::Hop {
                    reply,
                    oneway,
                    shell,
                } => match reply.recv_async().await {
                    Ok(answer) => answer,
                    Err(_) if oneway => None,
                    Err(_) => Some(shell.with_remark("[SHUTDOWN] the broker is shutting down")),
                },
            }
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
                .await
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

    /// Every shard's answer to `op` that `pick` takes: the typed part of [`Broker::control_all`]
    /// (answers of another kind, and shards that did not answer, are left out).
    pub async fn control_all_pick<T>(
        self: &Rc<Self>,
        op: Control,
        pick: impl Fn(ControlReply) -> Option<T>,
    ) -> Vec<T> {
        self.control_all(op)
            .await
            .into_iter()
            .filter_map(pick)
            .collect()
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
            self.router
                .send_detached(conn.shard, ShardMsg::Push { conn: conn.id, cmd });
        }
    }

    /// Sends a request to a client on a connection of this shard and waits up to `timeout` for its
    /// answer; `Err` says why there is none.
    pub async fn call_client_here(
        &self,
        conn: u64,
        mut cmd: RemotingCommand,
        timeout: std::time::Duration,
    ) -> Result<RemotingCommand, String> {
        let opaque = self.next_opaque.get().wrapping_add(1) & i32::MAX;
        self.next_opaque.set(opaque);
        cmd.opaque = opaque;
        let (tx, rx) = flume::bounded(1);
        {
            let conns = self.conns.borrow();
            let Some(out) = conns.get(&conn) else {
                return Err("the client's connection is gone".into());
            };
            self.client_calls.borrow_mut().insert(opaque, tx);
            if out.send(cmd).is_err() {
                self.client_calls.borrow_mut().remove(&opaque);
                return Err("the client's connection is gone".into());
            }
        }
        let answer = futures_lite::future::or(async { rx.recv_async().await.ok() }, async {
            glommio::timer::sleep(timeout).await;
            None
        })
        .await;
        self.client_calls.borrow_mut().remove(&opaque);
        answer.ok_or_else(|| {
            format!(
                "the client did not answer within {} ms",
                timeout.as_millis()
            )
        })
    }

    /// Sends a request to a client on any shard's connection (through that shard) and waits for its
    /// answer; the error says why there is none.
    pub(crate) async fn call_client(
        self: &Rc<Self>,
        conn: ConnId,
        ask: RemotingCommand,
        timeout_ms: u64,
    ) -> Result<RemotingCommand, String> {
        if conn.shard == self.shard {
            let timeout = std::time::Duration::from_millis(timeout_ms);
            return self.call_client_here(conn.id, ask, timeout).await;
        }
        let op = Control::AskClient {
            conn: conn.id,
            cmd: ask,
            timeout_ms,
        };
        match self.control(conn.shard, op).await {
            ControlReply::ClientAnswer(a) => a,
            _ => Err("the broker is shutting down".into()),
        }
    }

    /// The topic's config from this shard's replica.
    pub fn topic(&self, name: &str) -> Option<TopicConfig> {
        self.topics.borrow().get(name).cloned()
    }

    /// The group's config from this shard's replica (Java's auto-created defaults when absent).
    pub fn group(&self, name: &str) -> SubscriptionGroupConfig {
        self.groups.borrow().effective(name)
    }

    /// The request path's view of a topic (no allocation).
    pub fn topic_view(&self, name: &str) -> Option<TopicView> {
        self.topics.borrow().get(name).map(TopicView::from)
    }
}
