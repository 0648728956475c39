//! `bolide namesrv`: a NameServer-only process. The same network edge as the broker
//! (`net::accept_loop`, its limits and time rules), one executor, one [`Registry`], no storage.
//!
//! One executor, not one per core: a NameServer's work is a few route lookups per client every 30 s
//! and one registration per broker every 30 s; a single registry also needs no replication between
//! shards (which `bolide serve` does through its router for its in-process NameServer role).
//!
//! KV writes (PUT_KV_CONFIG, DELETE_KV_CONFIG) persist the KV table before the answer, on the
//! executor itself: one small fsynced file per operator action, rare enough not to need a thread.
//!
//! Liveness: a broker's registration is dropped when its registering connection closes, when it
//! unregisters, or when it has not registered for its timeout (120 s), checked every
//! [`EXPIRY_SCAN_INTERVAL_MS`] (Java 5.x `scanNotActiveBrokerInterval`).

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Duration;

use super::settings::{self, Change, Settings};
use super::{
    answer, parse_registration, parse_topic_deletion, parse_unregistration, parse_write_perm,
    registered_response, write_perm_response, BrokerNotice, Channel, Registry, CODES, NOTICES,
    SETTINGS_WRITES,
};
use crate::clock::now_ms;
use crate::net::{
    accept_loop, ConnId, ConnLimits, Edge, Handler, LocalFuture, Outbox, RequestCtx, Serving,
    StopSignal,
};
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::RemotingCommand;
use crate::shard::ShardId;

/// How often silent brokers are looked for.
pub const EXPIRY_SCAN_INTERVAL_MS: u64 = 5_000;

/// The channel a connection's registrations are recorded under: unique per process (shard, id).
pub fn channel_of(conn: ConnId) -> Channel {
    Channel((u64::from(conn.shard.0) << 48) | (conn.id & ((1 << 48) - 1)))
}

/// A NameServer-only process's state: its registry, its KV table and settings.
#[derive(Default)]
pub struct NameServerNode {
    pub registry: RefCell<Registry>,
    pub settings: RefCell<Settings>,
}

impl NameServerNode {
    pub fn new(settings: Settings) -> NameServerNode {
        NameServerNode {
            registry: RefCell::default(),
            settings: RefCell::new(settings),
        }
    }

    /// Applies a write request's changes ([`Settings::after`]): the KV file persisted first when
    /// the table changed. A failed write changes nothing and answers SYSTEM_ERROR.
    fn commit(&self, cmd: &RemotingCommand, changes: &[Change]) -> RemotingCommand {
        let Some((next, file)) = self.settings.borrow().after(changes) else {
            return cmd.response(rs::SUCCESS);
        };
        if let Some(bytes) = file {
            if let Err(e) = settings::persist_bytes(&next.kv_config_path, &bytes) {
                tracing::error!(path = %next.kv_config_path.display(), error = %e, "cannot persist the KV config");
                return cmd.error_response(
                    rs::SYSTEM_ERROR,
                    format!(
                        "cannot persist the KV config to {}: {e}",
                        next.kv_config_path.display()
                    ),
                );
            }
        }
        tracing::info!(?changes, "NameServer settings changed");
        *self.settings.borrow_mut() = next;
        cmd.response(rs::SUCCESS)
    }

    /// Answers one request at `now_ms`; registrations are recorded under `channel`.
    pub fn serve(&self, cmd: &RemotingCommand, channel: Channel, now_ms: i64) -> RemotingCommand {
        match cmd.code {
            rq::REGISTER_BROKER => match parse_registration(cmd) {
                Ok(r) => {
                    let first = self
                        .registry
                        .borrow()
                        .data_version(&r.cluster, &r.broker_addr)
                        .is_none();
                    let out = self
                        .registry
                        .borrow_mut()
                        .register(&r, Some(channel), now_ms);
                    if first {
                        tracing::info!(cluster = %r.cluster, broker = %r.broker_name, id = r.broker_id, addr = %r.broker_addr, topics = r.topics.len(), "broker registered");
                    }
                    registered_response(cmd, &out, &self.settings.borrow())
                }
                Err(resp) => resp,
            },
            rq::UNREGISTER_BROKER => match parse_unregistration(cmd) {
                Ok(h) => {
                    let gone = self.registry.borrow_mut().unregister(
                        &h.cluster_name,
                        &h.broker_name,
                        &h.broker_addr,
                    );
                    tracing::info!(cluster = %h.cluster_name, broker = %h.broker_name, addr = %h.broker_addr, known = gone.is_some(), "broker unregistered");
                    cmd.response(rs::SUCCESS)
                }
                Err(resp) => resp,
            },
            rq::DELETE_TOPIC_IN_NAMESRV => match parse_topic_deletion(cmd) {
                Ok(h) => {
                    let changed = self
                        .registry
                        .borrow_mut()
                        .delete_topic(&h.topic, h.cluster_name.as_deref());
                    tracing::info!(topic = %h.topic, cluster = ?h.cluster_name, changed, "topic deleted from routes");
                    cmd.response(rs::SUCCESS)
                }
                Err(resp) => resp,
            },
            rq::WIPE_WRITE_PERM_OF_BROKER | rq::ADD_WRITE_PERM_OF_BROKER => {
                match parse_write_perm(cmd) {
                    Ok((name, writable)) => {
                        let topics = self.registry.borrow_mut().set_writable(&name, writable);
                        tracing::info!(broker = %name, writable, topics = topics.len(), "write permission of broker changed");
                        write_perm_response(cmd, None, &name, topics)
                    }
                    Err(resp) => resp,
                }
            }
            c if NOTICES.contains(&c) => match BrokerNotice::parse(cmd) {
                Ok(n) => {
                    n.apply(&mut self.registry.borrow_mut(), now_ms);
                    n.response(cmd, &self.registry.borrow())
                }
                Err(resp) => resp,
            },
            c if SETTINGS_WRITES.contains(&c) => match settings::changes_of(cmd) {
                Ok(changes) => self.commit(cmd, &changes),
                Err(resp) => resp,
            },
            c if CODES.contains(&c) => {
                answer(None, &self.registry.borrow(), &self.settings.borrow(), cmd)
            }
            c => cmd.error_response(
                rs::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {c} not supported"),
            ),
        }
    }
}

impl Handler for NameServerNode {
    fn handle(
        self: Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> LocalFuture<Option<RemotingCommand>> {
        let resp = self.serve(&cmd, channel_of(ctx.conn), now_ms());
        Box::pin(async move { (!cmd.is_oneway()).then_some(resp) })
    }

    fn opened(&self, _conn: ConnId, _outbox: Outbox) {}

    fn closed(&self, conn: ConnId) {
        for r in self.registry.borrow_mut().channel_closed(channel_of(conn)) {
            tracing::info!(cluster = %r.cluster, broker = %r.broker_name, addr = %r.broker_addr, "broker connection closed: unregistered");
        }
    }
}

/// Serves the NameServer on the listening socket `fd` until `stop` fires.
pub async fn run(fd: RawFd, limits: ConnLimits, settings: Settings, stop: StopSignal) {
    let node = Rc::new(NameServerNode::new(settings));
    let expiry = {
        let node = node.clone();
        let stop = stop.clone();
        glommio::spawn_local(async move {
            loop {
                let go_on = futures_lite::future::or(
                    async {
                        glommio::timer::sleep(Duration::from_millis(EXPIRY_SCAN_INTERVAL_MS)).await;
                        true
                    },
                    async {
                        let _ = stop.recv_async().await;
                        false
                    },
                )
                .await;
                if !go_on {
                    break;
                }
                for r in node.registry.borrow_mut().expire(now_ms()) {
                    tracing::warn!(cluster = %r.cluster, broker = %r.broker_name, addr = %r.broker_addr, "broker expired: no registration within its timeout");
                }
            }
        })
    };
    let edge = Edge::new(ShardId(0), limits, stop.clone());
    let connections = Rc::new(glommio::sync::Gate::new());
    let serving = Serving {
        edge: edge.clone(),
        connections: connections.clone(),
        spread: None,
    };
    accept_loop(fd, node, serving, stop).await;
    let _ = futures_lite::future::or(
        async {
            let _ = connections.close().await;
        },
        glommio::timer::sleep(Duration::from_secs(5)),
    )
    .await;
    expiry.await;
    edge.log_counters();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::body::{DataVersion, RegisterBrokerBody, TopicConfig};
    use crate::remoting::headers::{
        GetRouteInfoHeader, RegisterBrokerHeader, UnregisterBrokerHeader,
    };

    fn register(name: &str, addr: &str, topic: &str) -> RemotingCommand {
        let table = [(topic.to_string(), TopicConfig::new(topic, 4, 6))]
            .into_iter()
            .collect();
        let body = RegisterBrokerBody::new(DataVersion::default(), table).to_json();
        let mut cmd = RemotingCommand::request(rq::REGISTER_BROKER).with_body(body);
        RegisterBrokerHeader {
            broker_name: name.into(),
            broker_addr: addr.into(),
            cluster_name: "C".into(),
            ha_server_addr: String::new(),
            broker_id: 0,
            heartbeat_timeout_ms: None,
            compressed: false,
            body_crc32: 0,
        }
        .write_to(&mut cmd);
        cmd
    }

    fn route_of(node: &NameServerNode, topic: &str) -> RemotingCommand {
        let mut cmd = RemotingCommand::request(rq::GET_ROUTEINFO_BY_TOPIC);
        GetRouteInfoHeader {
            topic: topic.into(),
            accept_standard_json_only: true,
        }
        .write_to(&mut cmd);
        node.serve(&cmd, Channel(99), 0)
    }

    #[test]
    fn register_route_unregister_and_close() {
        let node = NameServerNode::default();
        assert_eq!(route_of(&node, "T").code, rs::TOPIC_NOT_EXIST);
        assert_eq!(
            node.serve(&register("a", "h:1", "T"), Channel(1), 0).code,
            rs::SUCCESS
        );
        assert_eq!(
            node.serve(&register("b", "h:2", "T"), Channel(2), 0).code,
            rs::SUCCESS
        );
        let r = crate::remoting::body::TopicRouteData::parse(&route_of(&node, "T").body).unwrap();
        assert_eq!(r.broker_datas.len(), 2);
        let mut un = RemotingCommand::request(rq::UNREGISTER_BROKER);
        UnregisterBrokerHeader {
            broker_name: "a".into(),
            broker_addr: "h:1".into(),
            cluster_name: "C".into(),
            broker_id: 0,
        }
        .write_to(&mut un);
        assert_eq!(node.serve(&un, Channel(1), 0).code, rs::SUCCESS);
        let r = crate::remoting::body::TopicRouteData::parse(&route_of(&node, "T").body).unwrap();
        assert_eq!(r.broker_datas[0].broker_name, "b");
        node.closed(ConnId {
            shard: ShardId(0),
            id: 2,
        });
        assert_eq!(
            route_of(&node, "T").code,
            rs::TOPIC_NOT_EXIST,
            "b's connection closed"
        );
        let send = RemotingCommand::request(rq::SEND_MESSAGE);
        assert_eq!(
            node.serve(&send, Channel(1), 0).code,
            rs::REQUEST_CODE_NOT_SUPPORTED
        );
    }

    fn kv(code: i32, ns: &str, key: &str, value: Option<&str>) -> RemotingCommand {
        let mut c = RemotingCommand::request(code);
        crate::remoting::headers::KvConfigHeader {
            namespace: ns.into(),
            key: Some(key.into()),
            value: value.map(str::to_string),
        }
        .write_to(&mut c);
        c
    }

    /// A KV write is persisted before its answer (a new process reads it back); a write that
    /// cannot be persisted answers SYSTEM_ERROR and changes nothing.
    #[test]
    fn kv_writes_persist_and_a_failed_write_changes_nothing() {
        let dir = std::env::temp_dir().join(format!("bolide-nskv-{}", std::process::id()));
        let path = dir.join("kvConfig.json");
        let node = NameServerNode::new(Settings::load(path.clone(), 9876, false).unwrap());
        let put = kv(rq::PUT_KV_CONFIG, "N", "k", Some("v"));
        assert_eq!(node.serve(&put, Channel(1), 0).code, rs::SUCCESS);
        let get = kv(rq::GET_KV_CONFIG, "N", "k", None);
        assert_eq!(node.serve(&get, Channel(1), 0).ext("value"), Some("v"));
        let again = NameServerNode::new(Settings::load(path.clone(), 9876, false).unwrap());
        assert_eq!(again.serve(&get, Channel(1), 0).ext("value"), Some("v"));
        let del = kv(rq::DELETE_KV_CONFIG, "N", "k", None);
        assert_eq!(again.serve(&del, Channel(1), 0).code, rs::SUCCESS);
        let third = NameServerNode::new(Settings::load(path.clone(), 9876, false).unwrap());
        assert_eq!(third.serve(&get, Channel(1), 0).code, rs::QUERY_NOT_FOUND);

        // A path under a regular file cannot be created.
        let blocked = NameServerNode::new(Settings::new(path.join("x.json"), 9876, false));
        let r = blocked.serve(&put, Channel(1), 0);
        assert_eq!(r.code, rs::SYSTEM_ERROR);
        assert!(r.remark.unwrap().contains("cannot persist"));
        assert_eq!(blocked.serve(&get, Channel(1), 0).code, rs::QUERY_NOT_FOUND);
        // A settings-only change needs no file.
        let on = RemotingCommand::request(rq::UPDATE_NAMESRV_CONFIG)
            .with_body(&b"orderMessageEnable=true"[..]);
        assert_eq!(blocked.serve(&on, Channel(1), 0).code, rs::SUCCESS);
        assert!(blocked.settings.borrow().order_message_enable);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn channels_are_unique_per_shard_and_id() {
        let a = channel_of(ConnId {
            shard: ShardId(0),
            id: 5,
        });
        let b = channel_of(ConnId {
            shard: ShardId(1),
            id: 5,
        });
        assert_ne!(a, b);
    }
}
