//! Registration with the NameServers (`namesrv_addr`, RocketMQ `namesrvAddr`): shard 0 sends
//! REGISTER_BROKER with its whole topic table (the authoritative one) to every NameServer at start,
//! every `register_period_ms` (30 s), and at once when a topic changes; UNREGISTER_BROKER when the
//! process shuts down, before its connections drain, so that routes stop naming it.
//!
//! One loop per NameServer, each with its own connection: a NameServer that is down or slow delays
//! only its own loop. The connection is kept open between registrations and reopened when it
//! fails, because a NameServer drops a broker whose registering connection closes (Java's
//! `onChannelDestroy`, and ours). A failed registration is logged when the loop starts failing and
//! when it recovers, not on every retry.
//!
//! With `broker_not_active_timeout_ms` set (RocketMQ `brokerNotActiveTimeoutMillis`), every
//! registration asks the NameServer to drop this broker after that long without one
//! (`heartbeatTimeoutMillis`) instead of its 120 s: a broker cut off the network leaves the routes
//! sooner.
//!
//! The body's data version is (topic table version, process start time): it changes with every
//! topic change and every restart, which is what a Java NameServer compares.
//!
//! A Java NameServer refuses the first registration of an address whose table holds exactly one
//! topic ("register broker failed": its guard against a 5.x incremental registration arriving
//! first), which is every default Bolide broker (only `TBW102`). So a link whose table has one
//! topic first registers with an empty table on each new connection; then the address is known
//! and the real registration is accepted.

use std::rc::Rc;
use std::time::Duration;

use glommio::task::JoinHandle;

use crate::broker::{Broker, Control};
use crate::client::{ClientError, Conn};
use crate::clock::now_ms;
use crate::config::BrokerRole;
use crate::net::StopSignal;
use crate::remoting::body::{DataVersion, RegisterBrokerBody};
use crate::remoting::headers::{RegisterBrokerHeader, UnregisterBrokerHeader};
use crate::shard::ShardId;

/// Longest the unregistration at shutdown may hold the shutdown up.
pub const UNREGISTER_TIMEOUT_MS: u64 = 3_000;

/// Starts one registration loop per NameServer (shard 0 only; none without `namesrv_addr`). The
/// loops end after unregistering once `stop` fires; await them before the shard stops.
pub fn start(broker: &Rc<Broker>, stop: &StopSignal) -> Vec<JoinHandle<()>> {
    if broker.shard != ShardId(0) {
        return Vec::new();
    }
    let booted_ms = now_ms();
    broker
        .cfg
        .namesrv_addr
        .iter()
        .map(|addr| {
            let (tx, rx) = flume::bounded(1);
            broker.registration_kicks.borrow_mut().push(tx);
            let task = glommio::spawn_local(run_one(
                broker.clone(),
                addr.clone(),
                rx,
                stop.clone(),
                booted_ms,
            ));
            task.detach()
        })
        .collect()
}

impl Broker {
    /// Shard 0, after a topic change: every registration loop registers again now.
    pub(crate) fn kick_registration(&self) {
        for k in self.registration_kicks.borrow().iter() {
            let _ = k.try_send(());
        }
    }

    /// A slave without `haMasterAddress` follows the master the NameServer names (Java's
    /// `updateMasterHAServerAddrPeriodically`): every shard learns it ([`Control::HaMasterAddress`]).
    fn learn_master_ha_addr(self: &Rc<Self>, addr: Option<&str>) {
        if self.cfg.broker_role != BrokerRole::Slave || self.cfg.ha_master_address.is_some() {
            return;
        }
        let Some(addr) = addr.filter(|a| !a.is_empty()) else {
            return;
        };
        if self.ha.master_addr.borrow().as_deref() == Some(addr) {
            return;
        }
        tracing::info!(master = %addr, "replication: the NameServer names the master");
        let b = self.clone();
        let op = Control::HaMasterAddress(addr.to_string());
        glommio::spawn_local(async move {
            b.control_all(op).await;
        })
        .detach();
    }

    fn registration_header(&self) -> RegisterBrokerHeader {
        RegisterBrokerHeader {
            broker_name: self.cfg.broker_name.clone(),
            broker_addr: self.store_host.to_string(),
            cluster_name: self.cfg.cluster_name.clone(),
            ha_server_addr: format!("{}:{}", self.cfg.broker_ip, self.cfg.ha_port()),
            broker_id: super::super::failover::registered_broker_id(
                self.cfg.broker_id,
                self.ha.failover.as_ref().map(|f| f.target()).as_ref(),
            ),
            heartbeat_timeout_ms: (self.cfg.broker_not_active_timeout_ms > 0)
                .then_some(self.cfg.broker_not_active_timeout_ms as i64),
            compressed: false,
            body_crc32: 0,
        }
    }
}

/// The connection to one NameServer, opened on demand.
struct Link {
    addr: String,
    timeout: Duration,
    conn: Option<Rc<Conn>>,
    /// A registration succeeded on the current connection.
    known: bool,
}

impl Link {
    async fn conn(&mut self) -> Result<Rc<Conn>, ClientError> {
        match &self.conn {
            Some(c) if !c.is_closed() => Ok(c.clone()),
            _ => {
                let c = Conn::connect(&self.addr, self.timeout).await?;
                self.conn = Some(c.clone());
                self.known = false;
                Ok(c)
            }
        }
    }

    async fn register(&mut self, broker: &Rc<Broker>, booted_ms: i64) -> Result<(), ClientError> {
        let body = {
            let t = broker.topics.borrow();
            RegisterBrokerBody::new(
                DataVersion {
                    counter: t.version as i64,
                    timestamp: booted_ms,
                },
                t.topics.clone(),
            )
        };
        let conn = self.conn().await?;
        let header = broker.registration_header();
        let table = &body.topic_config_serialize_wrapper;
        let mut answer = Ok(Default::default());
        if table.topic_config_table.len() == 1 && !self.known {
            let hello = RegisterBrokerBody::new(table.data_version, Default::default());
            answer = conn.register_broker(&header, &hello).await;
        }
        if answer.is_ok() {
            answer = conn.register_broker(&header, &body).await;
        }
        self.known = answer.is_ok();
        if let Ok(reply) = &answer {
            broker.learn_master_ha_addr(reply.ha_server_addr.as_deref());
        }
        if answer.is_err() {
            // A timed-out or refused exchange may leave the connection in any state: start afresh.
            if let Some(c) = self.conn.take() {
                c.close();
            }
        }
        answer.map(drop)
    }

    async fn unregister(&mut self, broker: &Broker) -> Result<(), ClientError> {
        let h = broker.registration_header();
        let header = UnregisterBrokerHeader {
            broker_name: h.broker_name,
            broker_addr: h.broker_addr,
            cluster_name: h.cluster_name,
            broker_id: h.broker_id,
        };
        self.timeout = self
            .timeout
            .min(Duration::from_millis(UNREGISTER_TIMEOUT_MS));
        let conn = self.conn().await?;
        let done = conn.unregister_broker(&header).await;
        conn.close();
        done
    }
}

enum Wake {
    Period,
    Kick,
    Stop,
}

async fn run_one(
    broker: Rc<Broker>,
    addr: String,
    kicks: flume::Receiver<()>,
    stop: StopSignal,
    booted_ms: i64,
) {
    let period = Duration::from_millis(broker.cfg.register_period_ms);
    let mut link = Link {
        addr,
        timeout: Duration::from_millis(broker.cfg.register_timeout_ms),
        conn: None,
        known: false,
    };
    let mut failing = false;
    let mut registered_once = false;
    loop {
        match link.register(&broker, booted_ms).await {
            Ok(()) => {
                if failing || !registered_once {
                    tracing::info!(namesrv = %link.addr, broker = %broker.cfg.broker_name, cluster = %broker.cfg.cluster_name, "registered with the NameServer");
                }
                failing = false;
                registered_once = true;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(namesrv = %link.addr, error = %e, "cannot register with the NameServer; retrying every period");
                }
                failing = true;
            }
        }
        let wake = futures_lite::future::or(
            futures_lite::future::or(
                async {
                    glommio::timer::sleep(period).await;
                    Wake::Period
                },
                async {
                    match kicks.recv_async().await {
                        Ok(()) => Wake::Kick,
                        Err(_) => Wake::Stop,
                    }
                },
            ),
            async {
                let _ = stop.recv_async().await;
                Wake::Stop
            },
        )
        .await;
        match wake {
            Wake::Stop => break,
            Wake::Kick => while kicks.try_recv().is_ok() {},
            Wake::Period => {}
        }
    }
    match link.unregister(&broker).await {
        Ok(()) => tracing::info!(namesrv = %link.addr, "unregistered from the NameServer"),
        Err(e) => {
            tracing::warn!(namesrv = %link.addr, error = %e, "cannot unregister from the NameServer (it drops this broker within 120 s)")
        }
    }
}
