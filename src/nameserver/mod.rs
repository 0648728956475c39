//! The NameServer role: a [`Registry`] of the brokers that registered (REGISTER_BROKER 103,
//! UNREGISTER_BROKER 104, expiry, closed connections, and other brokers' notices, [`BrokerNotice`]:
//! QUERY_DATA_VERSION 322, BROKER_HEARTBEAT 904, REGISTER_TOPIC_IN_NAMESRV 217), and the answers
//! clients read from it: routes (105), cluster info (106), the topic list (206), a group's members
//! (901).
//!
//! Where it runs:
//! - inside `bolide serve` (NameServer role on, the default): every shard answers from its own
//!   registry replica (broker/processors/namesrv.rs) merged with the process's own broker, the
//!   [`LocalBroker`], read live from the shard's topic table. A lone broker never registers with
//!   itself: its registry stays empty and routes are built from the topic table alone, as fast as
//!   before the registry existed ([`route`]'s first row);
//! - alone, as `bolide namesrv` ([`server`]): one executor, one registry, no storage.
//!
//! Merging the local broker into what the registry says ([`route`], [`cluster_info`]):
//!
//! | registry | local broker (master) serves the topic | route |
//! |---|---|---|
//! | empty | yes / no | the local broker alone / TOPIC_NOT_EXIST |
//! | other groups serve it | no | the registry's route |
//! | other groups serve it | yes | the registry's route plus the local group |
//! | lists the local group too (the broker registered with its own NameServer) | yes | the local group's queues from the live topic table, its addresses merged (local id -> local address) |
//! | lists only the local group | no | TOPIC_NOT_EXIST: the local table is authoritative for its own group |
//!
//! A local slave (brokerId > 0, once replication exists) is not authoritative for its group's
//! queues: its address is merged into the group, the queues come from the registry (the master).
//!
//! Route JSON follows the Java NameServer's dialect rule (remoting-protocol.md §3.1): standard JSON for
//! clients of version ≥ 401 (V4_9_4) or asking `acceptStandardJsonOnly`, fastjson's unquoted integer
//! keys otherwise (old Go clients parse `brokerAddrs` by hand); the rule is
//! [`crate::remoting::headers::wants_standard_json`].
//!
//! [`registry`], [`answer`] and the registration parsing here are pure (no I/O, no clock: callers pass
//! the time); [`server`] is the standalone process's network edge. Dependencies point one way:
//! `broker` -> `nameserver` -> (`remoting`, and `net` for [`server`]).
//!
//! Parsing helpers return `Result<T, RemotingCommand>`, the error being the response to send (as in
//! `broker`): the rare path, so clippy's `result_large_err` is allowed.
#![allow(clippy::result_large_err)]

pub mod registry;
pub mod server;
pub mod settings;

use registry::queue_data;
pub use registry::{Channel, Registered, Registration, Registry, Removed, BROKER_EXPIRY_MS};
pub use settings::Settings;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;

use crate::remoting::body::{
    BrokerData, ClusterInfo, DataVersion, QueueData, RegisterBrokerBody, TopicConfig, TopicList,
    TopicRouteData,
};
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::headers::{
    body_crc32, wants_standard_json, BrokerNoticeHeader, ClusterHeader,
    DeleteTopicFromNamesrvHeader, GetRouteInfoHeader, KvConfigHeader, RegisterBrokerHeader,
    RegisterBrokerResponseHeader, UnregisterBrokerHeader,
};
use crate::remoting::RemotingCommand;

/// The read codes, answered by [`answer`] (registration and unregistration change the registry:
/// [`parse_registration`], [`parse_unregistration`]; KV and settings writes are
/// [`settings::changes_of`]).
pub const CODES: &[i32] = &[
    rq::GET_ROUTEINFO_BY_TOPIC,
    rq::GET_BROKER_CLUSTER_INFO,
    rq::GET_KV_CONFIG,
    rq::GET_KVLIST_BY_NAMESPACE,
    rq::GET_NAMESRV_CONFIG,
    rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
    rq::GET_TOPICS_BY_CLUSTER,
    rq::GET_BROKER_MEMBER_GROUP,
];

/// The write codes of the KV table and the settings ([`settings::changes_of`]).
pub const SETTINGS_WRITES: &[i32] = &[
    rq::PUT_KV_CONFIG,
    rq::DELETE_KV_CONFIG,
    rq::UPDATE_NAMESRV_CONFIG,
];

/// The broker of the process the NameServer runs in, seen live.
#[derive(Debug, Clone, Copy)]
pub struct LocalBroker<'a> {
    pub cluster_name: &'a str,
    pub broker_name: &'a str,
    /// 0 = master.
    pub broker_id: i64,
    /// The address clients reach the broker at.
    pub addr: SocketAddrV4,
    /// Its topic table (this shard's replica).
    pub topics: &'a BTreeMap<String, TopicConfig>,
}

/// The local broker's group: what the registry knows of it (slaves), with the local address at the
/// local id (and at no other id).
fn local_group(me: &LocalBroker<'_>, reg: &Registry) -> BrokerData {
    let mut b = reg
        .broker(me.broker_name)
        .cloned()
        .unwrap_or_else(|| BrokerData {
            cluster: String::new(),
            broker_name: me.broker_name.to_string(),
            broker_addrs: BTreeMap::new(),
        });
    b.cluster = me.cluster_name.to_string();
    let addr = me.addr.to_string();
    b.broker_addrs
        .retain(|id, a| *id == me.broker_id || *a != addr);
    b.broker_addrs.insert(me.broker_id, addr);
    b
}

/// A topic's route: the registry's, merged with the local broker (see the module comment's table).
pub fn route(
    local: Option<&LocalBroker<'_>>,
    reg: &Registry,
    topic: &str,
) -> Option<TopicRouteData> {
    let Some(me) = local else {
        return reg.route(topic);
    };
    let mine = me.topics.get(topic).filter(|_| me.broker_id == 0);
    if reg.is_empty() {
        return mine.map(|cfg| TopicRouteData {
            order_topic_conf: None,
            queue_datas: vec![reg.routed(queue_data(me.broker_name, cfg))],
            broker_datas: vec![local_group(me, reg)],
        });
    }
    let mut route = reg.route(topic).unwrap_or_default();
    if me.broker_id == 0 {
        route
            .queue_datas
            .retain(|q| q.broker_name != me.broker_name);
        if let Some(cfg) = mine {
            route
                .queue_datas
                .push(reg.routed(queue_data(me.broker_name, cfg)));
        }
    }
    let serves = route
        .queue_datas
        .iter()
        .any(|q| q.broker_name == me.broker_name);
    route
        .broker_datas
        .retain(|b| b.broker_name != me.broker_name);
    if serves {
        route.broker_datas.push(local_group(me, reg));
    }
    if route.queue_datas.is_empty() || route.broker_datas.is_empty() {
        return None;
    }
    route
        .queue_datas
        .sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    route
        .broker_datas
        .sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    Some(route)
}

/// GET_BROKER_CLUSTER_INFO: every registered group, and the local one.
pub fn cluster_info(local: Option<&LocalBroker<'_>>, reg: &Registry) -> ClusterInfo {
    let mut info = reg.cluster_info();
    if let Some(me) = local {
        info.broker_addr_table
            .insert(me.broker_name.to_string(), local_group(me, reg));
        let names = info
            .cluster_addr_table
            .entry(me.cluster_name.to_string())
            .or_default();
        if !names.iter().any(|n| n == me.broker_name) {
            names.push(me.broker_name.to_string());
            names.sort();
        }
    }
    info
}

/// GET_ALL_TOPIC_LIST_FROM_NAMESERVER: every topic a registered group or the local broker serves.
pub fn topic_list(local: Option<&LocalBroker<'_>>, reg: &Registry) -> Vec<String> {
    let mut all: BTreeSet<&str> = reg.topic_names().collect();
    if let Some(me) = local {
        all.extend(me.topics.keys().map(String::as_str));
    }
    all.into_iter().map(str::to_string).collect()
}

/// GET_TOPICS_BY_CLUSTER: the topics served by a broker of `cluster` (the local one, and the
/// registered ones whose routes name a broker of that cluster).
pub fn topics_of_cluster(
    local: Option<&LocalBroker<'_>>,
    reg: &Registry,
    cluster: &str,
) -> Vec<String> {
    let mut all: BTreeSet<String> = BTreeSet::new();
    if let Some(me) = local.filter(|me| me.cluster_name == cluster) {
        all.extend(me.topics.keys().cloned());
    }
    let info = reg.cluster_info();
    if let Some(names) = info.cluster_addr_table.get(cluster) {
        for t in reg.topic_names() {
            let serves = reg.route(t).is_some_and(|r| {
                r.broker_datas
                    .iter()
                    .any(|b| names.contains(&b.broker_name))
            });
            if serves {
                all.insert(t.to_string());
            }
        }
    }
    all.into_iter().collect()
}

/// Answers a read request (one of [`CODES`]).
pub fn answer(
    local: Option<&LocalBroker<'_>>,
    reg: &Registry,
    settings: &Settings,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let standard = wants_standard_json(cmd);
    match cmd.code {
        rq::GET_ROUTEINFO_BY_TOPIC => {
            let topic = match GetRouteInfoHeader::parse(cmd) {
                Ok(h) => h.topic,
                Err(e) => return cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
            };
            match route(local, reg, &topic) {
                Some(mut r) => {
                    r.order_topic_conf = settings.order_topic_conf(&topic);
                    cmd.response(rs::SUCCESS).with_body(r.to_json(standard))
                }
                None => cmd.error_response(
                    rs::TOPIC_NOT_EXIST,
                    format!("No topic route info in name server for the topic: {topic}"),
                ),
            }
        }
        rq::GET_BROKER_CLUSTER_INFO => cmd
            .response(rs::SUCCESS)
            .with_body(cluster_info(local, reg).to_json(standard)),
        rq::GET_KV_CONFIG => match KvConfigHeader::parse_key(cmd) {
            Ok(h) => {
                let key = h.key.unwrap_or_default();
                match settings.get(&h.namespace, &key) {
                    Some(v) => {
                        let mut resp = cmd.response(rs::SUCCESS);
                        resp.set_ext("value", v);
                        resp
                    }
                    None => cmd.error_response(
                        rs::QUERY_NOT_FOUND,
                        format!("No config item, Namespace: {} Key: {key}", h.namespace),
                    ),
                }
            }
            Err(e) => cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        },
        rq::GET_KVLIST_BY_NAMESPACE => match KvConfigHeader::parse_namespace(cmd) {
            Ok(h) => match settings.namespace_body(&h.namespace) {
                Some(body) => cmd.response(rs::SUCCESS).with_body(body),
                None => cmd.error_response(
                    rs::QUERY_NOT_FOUND,
                    format!("No config item, Namespace: {}", h.namespace),
                ),
            },
            Err(e) => cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        },
        rq::GET_NAMESRV_CONFIG => cmd
            .response(rs::SUCCESS)
            .with_body(settings.properties().into_bytes()),
        rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => cmd.response(rs::SUCCESS).with_body(
            TopicList {
                topic_list: topic_list(local, reg),
            }
            .to_json(),
        ),
        rq::GET_TOPICS_BY_CLUSTER => match ClusterHeader::parse(cmd) {
            Ok(h) => cmd.response(rs::SUCCESS).with_body(
                TopicList {
                    topic_list: topics_of_cluster(local, reg, &h.cluster),
                }
                .to_json(),
            ),
            Err(e) => cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        },
        rq::GET_BROKER_MEMBER_GROUP => match crate::remoting::headers::ext_str(cmd, "brokerName") {
            Ok(name) => {
                let cluster = crate::remoting::headers::opt_str(cmd, "clusterName").unwrap_or("");
                cmd.response(rs::SUCCESS)
                    .with_body(member_group(local, reg, cluster, name).into_bytes())
            }
            Err(e) => cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        },
        c => cmd.error_response(
            rs::REQUEST_CODE_NOT_SUPPORTED,
            format!(" request type {c} not supported"),
        ),
    }
}

/// GET_BROKER_MEMBER_GROUP (901, a 5.x Java broker with `enableSlaveActingMaster` asks it every
/// second): the addresses of group `name` by id, as Java's `GetBrokerMemberGroupResponseBody`
/// (an unknown group has none).
fn member_group(
    local: Option<&LocalBroker<'_>>,
    reg: &Registry,
    cluster: &str,
    name: &str,
) -> String {
    let group = match local.filter(|me| me.broker_name == name) {
        Some(me) => Some(local_group(me, reg)),
        None => reg.broker(name).cloned(),
    };
    let addrs: BTreeMap<String, String> = group
        .map(|g| {
            g.broker_addrs
                .into_iter()
                .map(|(id, a)| (id.to_string(), a))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "brokerMemberGroup": {
            "brokerAddrs": addrs,
            "brokerName": name,
            "cluster": cluster,
        }
    })
    .to_string()
}

/// WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER (they change the registry:
/// [`Registry::set_writable`]): the broker name, and whether its queues become writable. The error
/// is the response to send.
pub fn parse_write_perm(cmd: &RemotingCommand) -> Result<(String, bool), RemotingCommand> {
    match cmd.ext("brokerName").filter(|n| !n.is_empty()) {
        Some(name) => Ok((name.to_string(), cmd.code == rq::ADD_WRITE_PERM_OF_BROKER)),
        None => Err(cmd.error_response(
            rs::SYSTEM_ERROR,
            "required header field `brokerName` is missing",
        )),
    }
}

/// The answer to a write-permission change: how many topics the group serves, counting the
/// registry's (`registered`, from [`Registry::set_writable`]) and the local broker's when it is
/// the group, in `wipeTopicCount` or `addTopicCount`.
pub fn write_perm_response(
    cmd: &RemotingCommand,
    local: Option<&LocalBroker<'_>>,
    broker_name: &str,
    registered: Vec<String>,
) -> RemotingCommand {
    let mut topics: BTreeSet<String> = registered.into_iter().collect();
    if let Some(me) = local.filter(|m| m.broker_name == broker_name && m.broker_id == 0) {
        topics.extend(me.topics.keys().cloned());
    }
    let mut resp = cmd.response(rs::SUCCESS);
    let field = if cmd.code == rq::ADD_WRITE_PERM_OF_BROKER {
        "addTopicCount"
    } else {
        "wipeTopicCount"
    };
    resp.set_ext(field, topics.len());
    resp
}

/// Reads a REGISTER_BROKER: header, body CRC (when the broker sent one) and body in any of its forms.
/// The error is the response to send (SYSTEM_ERROR, as the Java NameServer answers).
pub fn parse_registration(cmd: &RemotingCommand) -> Result<Registration, RemotingCommand> {
    let h = RegisterBrokerHeader::parse(cmd)
        .map_err(|e| cmd.error_response(rs::SYSTEM_ERROR, e.to_string()))?;
    if h.body_crc32 != 0 && body_crc32(&cmd.body) != h.body_crc32 {
        return Err(cmd.error_response(rs::SYSTEM_ERROR, "crc32 not match"));
    }
    let body = RegisterBrokerBody::parse(&cmd.body, h.compressed, cmd.version)
        .map_err(|e| cmd.error_response(rs::SYSTEM_ERROR, e.to_string()))?;
    let w = body.topic_config_serialize_wrapper;
    Ok(Registration {
        cluster: h.cluster_name,
        broker_name: h.broker_name,
        broker_addr: h.broker_addr,
        broker_id: h.broker_id,
        ha_server_addr: h.ha_server_addr,
        timeout_ms: h.heartbeat_timeout_ms.filter(|ms| *ms > 0),
        data_version: w.data_version,
        topics: w.topic_config_table,
    })
}

/// The REGISTER_BROKER answer: SUCCESS, a slave's master in the header, the `ORDER_TOPIC_CONFIG`
/// KV table as body (what a Java broker reads it into; empty when never written).
pub fn registered_response(
    cmd: &RemotingCommand,
    r: &Registered,
    settings: &Settings,
) -> RemotingCommand {
    let mut resp = cmd.response(rs::SUCCESS);
    RegisterBrokerResponseHeader {
        ha_server_addr: r.master_ha_server_addr.clone(),
        master_addr: r.master_addr.clone(),
    }
    .write_to(&mut resp);
    let body = settings
        .namespace_body(settings::ORDER_TOPIC_CONFIG)
        .unwrap_or_else(|| b"{\"table\":{}}".to_vec());
    resp.with_body(body)
}

/// Reads a DELETE_TOPIC_IN_NAMESRV (it changes the registry: [`Registry::delete_topic`]). The local
/// broker's own topics are not the NameServer's to delete: they go with DELETE_TOPIC_IN_BROKER,
/// which mqadmin sends first.
pub fn parse_topic_deletion(
    cmd: &RemotingCommand,
) -> Result<DeleteTopicFromNamesrvHeader, RemotingCommand> {
    DeleteTopicFromNamesrvHeader::parse(cmd)
        .map_err(|e| cmd.error_response(rs::SYSTEM_ERROR, e.to_string()))
}

/// Reads an UNREGISTER_BROKER header; the error is the response to send.
pub fn parse_unregistration(
    cmd: &RemotingCommand,
) -> Result<UnregisterBrokerHeader, RemotingCommand> {
    UnregisterBrokerHeader::parse(cmd)
        .map_err(|e| cmd.error_response(rs::SYSTEM_ERROR, e.to_string()))
}

/// What another broker tells the NameServer besides (un)registering (see `registry`'s module
/// comment): applied to the registry by [`BrokerNotice::apply`], answered by
/// [`BrokerNotice::response`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerNotice {
    /// QUERY_DATA_VERSION: the broker's data version now; renews its liveness.
    DataVersion {
        cluster: String,
        addr: String,
        version: DataVersion,
    },
    /// BROKER_HEARTBEAT: renews its liveness.
    Heartbeat { cluster: String, addr: String },
    /// REGISTER_TOPIC_IN_NAMESRV: one topic's queue data.
    Topic {
        topic: String,
        queues: Vec<QueueData>,
    },
}

/// The request codes of [`BrokerNotice`].
pub const NOTICES: &[i32] = &[
    rq::QUERY_DATA_VERSION,
    rq::BROKER_HEARTBEAT,
    rq::REGISTER_TOPIC_IN_NAMESRV,
];

impl BrokerNotice {
    /// Parses one of [`NOTICES`]; the error is the response to send.
    pub fn parse(cmd: &RemotingCommand) -> Result<BrokerNotice, RemotingCommand> {
        let bad = |what: String| cmd.error_response(rs::SYSTEM_ERROR, what);
        match cmd.code {
            rq::QUERY_DATA_VERSION => {
                let h = BrokerNoticeHeader::parse(cmd).map_err(|e| bad(e.to_string()))?;
                let version: DataVersion = serde_json::from_slice(&cmd.body)
                    .map_err(|e| bad(format!("the body is not a DataVersion: {e}")))?;
                Ok(BrokerNotice::DataVersion {
                    cluster: h.cluster_name,
                    addr: h.broker_addr,
                    version,
                })
            }
            rq::BROKER_HEARTBEAT => {
                let h = BrokerNoticeHeader::parse(cmd).map_err(|e| bad(e.to_string()))?;
                Ok(BrokerNotice::Heartbeat {
                    cluster: h.cluster_name,
                    addr: h.broker_addr,
                })
            }
            rq::REGISTER_TOPIC_IN_NAMESRV => {
                let topic = crate::remoting::headers::ext_str(cmd, "topic")
                    .map_err(|e| bad(e.to_string()))?
                    .to_string();
                // Java ignores a body without queue data; so do we (no route to add).
                let queues = if cmd.body.is_empty() {
                    Vec::new()
                } else {
                    TopicRouteData::parse(&cmd.body)
                        .map_err(|e| bad(format!("the body is not a topic route: {e}")))?
                        .queue_datas
                };
                Ok(BrokerNotice::Topic { topic, queues })
            }
            c => Err(cmd.error_response(
                rs::REQUEST_CODE_NOT_SUPPORTED,
                format!(" request type {c} not supported"),
            )),
        }
    }

    /// Applies the notice to a registry at `now_ms`.
    pub fn apply(&self, reg: &mut Registry, now_ms: i64) {
        match self {
            BrokerNotice::DataVersion { cluster, addr, .. }
            | BrokerNotice::Heartbeat { cluster, addr } => {
                reg.touch(cluster, addr, now_ms);
            }
            BrokerNotice::Topic { topic, queues } => {
                if !reg.register_topic(topic, queues) && !queues.is_empty() {
                    tracing::warn!(
                        topic,
                        ?queues,
                        "topic registration names a broker that is not registered: ignored"
                    );
                }
            }
        }
    }

    /// The answer, from the registry the notice was applied to. QUERY_DATA_VERSION, as Java:
    /// `changed` unless the broker's last registration carried this very version, and the
    /// version registered as the body (none when the address is not registered).
    pub fn response(&self, cmd: &RemotingCommand, reg: &Registry) -> RemotingCommand {
        let mut resp = cmd.response(rs::SUCCESS);
        if let BrokerNotice::DataVersion {
            cluster,
            addr,
            version,
        } = self
        {
            let known = reg.data_version(cluster, addr);
            resp.set_ext("changed", known != Some(*version));
            if let Some(v) = known {
                resp = resp.with_body(serde_json::to_vec(&v).unwrap_or_default());
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests;
