//! A shard's life: open its store (recovery), serve its inbox and its listeners, run its periodic
//! duties, and shut down in order.
//!
//! Shutdown, driven by `main` (SIGTERM/SIGINT):
//! 1. `main` drops the stop sender: every shard stops accepting, every connection stops reading,
//!    parked pulls are answered at once.
//! 2. Each shard waits for its connections to finish their in-flight requests (cross-shard requests
//!    still flow: inboxes keep running), then reports "drained".
//! 3. When all shards are drained, `main` sends each [`Control::Shutdown`]: offsets persisted, store
//!    flushed; the inbox loop ends; the store is closed (checkpoint) and the executor exits.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::state::clients::ClientRegistry;
use super::state::groups::{GroupTable, GROUPS_FILE};
use super::state::locks::LockTable;
use super::state::offsets::OffsetTable;
use super::state::topics::TopicTable;
use super::{Broker, Control, ShardMsg};
use crate::config::BrokerConfig;
use crate::net::{accept_loop, ConnLimits, Edge, Serving, StopSignal};
use crate::shard::router::{Inbox, Router};
use crate::shard::ShardId;
use crate::storage::MessageStore;

/// Everything a shard is started with (all `Send`: built on the main thread).
pub struct ShardStartup {
    pub cfg: Arc<BrokerConfig>,
    pub router: Router<ShardMsg>,
    pub inbox: Inbox<ShardMsg>,
    /// This shard's listening sockets, each with the port it listens on.
    pub listen_fds: Vec<(u16, RawFd)>,
    pub topics: TopicTable,
    pub stop: StopSignal,
    /// The shard reports here once it serves (or why it cannot).
    pub ready: flume::Sender<Result<ShardId, String>>,
    /// The shard reports here once its connections are finished after stop.
    pub drained: flume::Sender<ShardId>,
    /// The ACL accounts when `aclEnable` is on.
    pub acl: Option<Arc<crate::acl::Acl>>,
    /// The request modes of (topic, group) (`broker::request_modes`), shared by every shard.
    pub request_modes: Arc<super::request_modes::RequestModes>,
    /// Where the shard publishes its figures for the HTTP thread.
    pub metrics: Arc<crate::metrics::MetricsHub>,
    /// A master's replication listener for this shard (`haListenPort + k`); `None` on a slave.
    pub ha_listen_fd: Option<RawFd>,
    /// Controller mode: the assignment the heartbeat thread publishes (`broker::failover`).
    pub failover: Option<Arc<super::failover::Failover>>,
    /// Open connections per shard, when new ones are spread evenly (`spread_connections`).
    pub spread: Option<Arc<crate::net::Spread>>,
}

/// Whether `port` is the embedded NameServer's (route lookups, not traffic).
fn is_namesrv_port(cfg: &BrokerConfig, port: u16) -> bool {
    cfg.namesrv_role && port == cfg.namesrv_port
}

/// Runs one shard until shutdown completes.
pub async fn run_shard(s: ShardStartup) {
    let shard = s.router.me();
    let store_cfg = s.cfg.store_config(shard.0);
    let opts = crate::storage::StoreOptions {
        retention_interval_ms: s.cfg.retention_interval_ms,
        cq_open_files_max: s.cfg.shard_cq_open_files_max(),
        ..crate::storage::StoreOptions::default()
    };
    let (store, report) = match MessageStore::open_with(store_cfg, opts).await {
        Ok(x) => x,
        Err(e) => {
            let _ = s
                .ready
                .send(Err(format!("{shard}: cannot open storage: {e}")));
            return;
        }
    };
    for (offset, reason) in &report.corrupted {
        tracing::warn!(%shard, offset = offset.0, %reason, "corrupted record skipped during recovery");
    }
    tracing::info!(%shard, segments = report.segments, records = report.records_scanned, truncated_bytes = report.truncated_bytes, "storage recovered");
    let offsets_path = s
        .cfg
        .data_dir
        .join(format!("offsets-shard-{}.json", shard.0));
    let offsets = match OffsetTable::load(&offsets_path) {
        Ok(o) => o,
        Err(e) => {
            let _ = s
                .ready
                .send(Err(format!("{shard}: cannot read consumer offsets: {e}")));
            return;
        }
    };
    let groups_path = s.cfg.data_dir.join(GROUPS_FILE);
    let groups = match GroupTable::load(&groups_path) {
        Ok(g) => g,
        Err(e) => {
            let _ = s.ready.send(Err(format!(
                "{shard}: cannot read subscription groups: {e}"
            )));
            return;
        }
    };
    let namesrv_settings = match crate::nameserver::Settings::load(
        s.cfg.kv_config_path(),
        s.cfg.namesrv_port,
        s.cfg.order_message_enable,
    ) {
        Ok(k) => k,
        Err(e) => {
            let _ = s
                .ready
                .send(Err(format!("{shard}: cannot read the KV config: {e}")));
            return;
        }
    };
    let broker = Rc::new(Broker {
        store_host: SocketAddrV4::new(s.cfg.broker_ip, s.cfg.broker_port),
        cfg: s.cfg.clone(),
        shard,
        router: s.router.clone(),
        store,
        topics: RefCell::new(s.topics),
        groups: RefCell::new(groups),
        meta_commit: glommio::sync::Semaphore::new(1),
        clients: RefCell::new(ClientRegistry::default()),
        offsets: RefCell::new(offsets),
        locks: RefCell::new(LockTable::default()),
        conns: RefCell::new(HashMap::new()),
        long_polls: RefCell::new(Default::default()),
        stop: s.stop.clone(),
        next_opaque: Cell::new(0),
        metrics: crate::metrics::ShardMetrics::new(),
        hops: super::hops::Hops::new(s.router.shard_count()),
        acl: s.acl.clone(),
        acl_denied: Cell::new((0, 0)),
        request_modes: s.request_modes.clone(),
        pops: RefCell::new(Default::default()),
        pop_turn: Cell::new(0),
        transactions: RefCell::new(Default::default()),
        runtime: Cell::new(crate::config::RuntimeConfig::from_config(&s.cfg)),
        boot_ms: crate::clock::now_ms(),
        tps: Cell::new(Default::default()),
        client_calls: RefCell::new(HashMap::new()),
        scheduler: Default::default(),
        registry: RefCell::new(Default::default()),
        namesrv_settings: RefCell::new(namesrv_settings),
        registration_kicks: RefCell::new(Vec::new()),
        ha: super::replication::HaState::new(
            s.cfg.ha_master_address.clone(),
            s.failover.clone(),
            s.cfg.store_config(shard.0).dir.join("epochs.json"),
        ),
    });
    // Controller mode: every shard starts as a slave; the controller's assignment promotes it.
    if s.cfg.broker_role == crate::config::BrokerRole::Slave || s.cfg.enable_controller_mode {
        broker.store.set_replica(true);
    }

    // Before retention first runs: what consumers still need is known from the persisted offsets.
    broker.push_consumed_floors();
    let connections = Rc::new(glommio::sync::Gate::new());
    let edge = Edge::new(shard, ConnLimits::from_config(&s.cfg), s.stop.clone());
    let serving = Serving {
        edge: edge.clone(),
        connections: connections.clone(),
        spread: s.spread.clone(),
    };
    let inbox_task = glommio::spawn_local(serve_inbox(broker.clone(), s.inbox, serving.clone()));
    let writing_services = super::services::start(&broker, &s.stop);
    // Shard 0 registers with the NameServers; it unregisters at shutdown, before reporting drained.
    let registration = super::services::registration::start(&broker, &s.stop);

    glommio::spawn_local(super::services::metrics_publish::run(
        broker.clone(),
        edge.clone(),
        s.metrics.clone(),
        s.stop.clone(),
    ))
    .detach();
    if let Some(fd) = s.ha_listen_fd {
        glommio::spawn_local(super::services::ha_master::run(
            broker.clone(),
            fd,
            s.stop.clone(),
        ))
        .detach();
    }
    let mut acceptors = Vec::new();
    for (port, fd) in s.listen_fds {
        // Only connections that carry sends and pulls are spread and counted: a client's one
        // NameServer connection, open for its whole life, would otherwise count like a producer
        // and tip the producers that follow onto the other shard.
        let serving = Serving {
            spread: serving
                .spread
                .clone()
                .filter(|_| !is_namesrv_port(&s.cfg, port)),
            ..serving.clone()
        };
        acceptors.push(glommio::spawn_local(accept_loop(
            fd,
            broker.clone(),
            serving,
            s.stop.clone(),
        )));
    }
    let _ = s.ready.send(Ok(shard));

    let _ = s.stop.recv_async().await;
    broker.long_polls.borrow_mut().wake_all();
    for a in acceptors {
        a.await;
    }
    let drained = futures_lite::future::or(
        async {
            let _ = connections.close().await;
            true
        },
        async {
            glommio::timer::sleep(Duration::from_secs(10)).await;
            false
        },
    )
    .await;
    if !drained {
        tracing::warn!(%shard, "connections still busy after 10 s; shutting down anyway");
    }
    edge.log_counters();
    for r in registration {
        r.await;
    }
    let _ = s.drained.send(shard);
    inbox_task.await;
    for h in writing_services {
        h.await;
    }
    drop(connections);
    match Rc::try_unwrap(broker) {
        Ok(b) => {
            if let Err(e) = b.store.close().await {
                tracing::error!(%shard, error = %e, "closing the store failed");
            }
        }
        Err(_) => {
            tracing::warn!(%shard, "store still referenced at shutdown; flushed but not checkpointed")
        }
    }
    let inbox = s.router.inbox_stats(shard);
    tracing::info!(%shard, inbox_sent = inbox.sent, inbox_waited_full = inbox.waited_full, inbox_gone = inbox.gone, "stopped");
}

/// Serves messages from other shards until the final shutdown step.
async fn serve_inbox(broker: Rc<Broker>, inbox: Inbox<ShardMsg>, serving: Serving) {
    while let Ok(msg) = inbox.recv_async().await {
        match msg {
            ShardMsg::Requests(batch) => broker.serve_forwarded(batch),
            ShardMsg::Replies(batch) => broker.hops.deliver(batch),
            ShardMsg::Control {
                op: Control::Shutdown,
                reply,
            } => {
                let r = broker.clone().apply_control(Control::Shutdown).await;
                let _ = reply.send(r);
                break;
            }
            ShardMsg::Control { op, reply } => {
                let b = broker.clone();
                glommio::spawn_local(async move {
                    let _ = reply.send(b.apply_control(op).await);
                })
                .detach();
            }
            ShardMsg::Push { conn, cmd } => {
                if let Some(out) = broker.conns.borrow().get(&conn) {
                    let _ = out.send(cmd);
                }
            }
            ShardMsg::Adopt(conn) => crate::net::serve_adopted(conn, broker.clone(), &serving),
        }
    }
}
