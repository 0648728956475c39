//! The NameServer role, served by every shard from its own topic replica: a client's
//! `setNamesrvAddr("127.0.0.1:9876")` reaches the same process as the broker, and routes name this
//! broker as the master (id 0) of every topic it holds.
//!
//! Route JSON follows the Java NameServer's dialect rule (remoting-protocol.md §3.1): standard JSON for
//! clients of version ≥ 401 (V4_9_4) or asking `acceptStandardJsonOnly`, fastjson's unquoted integer
//! keys otherwise (old Go clients parse `brokerAddrs` by hand); the rule is
//! [`crate::remoting::headers::wants_standard_json`].
//!
//! Pure: this module knows the wire types and nothing of the broker. The broker calls [`handle`] with
//! its identity ([`LocalBroker`]) and its shard's topic replica; the dependency is one-way
//! (`broker` -> `nameserver` -> `remoting`).

use std::collections::BTreeMap;

use std::net::SocketAddrV4;

use crate::remoting::body::{
    BrokerData, ClusterInfo, QueueData, TopicConfig, TopicList, TopicRouteData,
};
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::headers::{
    wants_standard_json, ClusterHeader, DeleteTopicFromNamesrvHeader, GetRouteInfoHeader,
};
use crate::remoting::RemotingCommand;

/// The NameServer request codes, answered by [`handle`].
pub const CODES: &[i32] = &[
    rq::GET_ROUTEINFO_BY_TOPIC,
    rq::GET_BROKER_CLUSTER_INFO,
    rq::GET_KV_CONFIG,
    rq::PUT_KV_CONFIG,
    rq::DELETE_KV_CONFIG,
    rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
    rq::DELETE_TOPIC_IN_NAMESRV,
    rq::GET_TOPICS_BY_CLUSTER,
];

/// The one broker this NameServer knows: the process it runs in.
#[derive(Debug, Clone, Copy)]
pub struct LocalBroker<'a> {
    pub cluster_name: &'a str,
    pub broker_name: &'a str,
    /// The address clients reach the broker at (master, id 0).
    pub addr: SocketAddrV4,
}

fn broker_data(b: &LocalBroker<'_>) -> BrokerData {
    let mut addrs = BTreeMap::new();
    addrs.insert(0i64, b.addr.to_string());
    BrokerData {
        cluster: b.cluster_name.to_string(),
        broker_name: b.broker_name.to_string(),
        broker_addrs: addrs,
    }
}

/// Answers a NameServer request (one of [`CODES`]) from `topics`, the caller's topic table.
pub fn handle(
    b: &LocalBroker<'_>,
    topics: &BTreeMap<String, TopicConfig>,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let standard = wants_standard_json(cmd);
    match cmd.code {
        rq::GET_ROUTEINFO_BY_TOPIC => {
            let topic = match GetRouteInfoHeader::parse(cmd) {
                Ok(h) => h.topic,
                Err(e) => return cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
            };
            let Some(cfg) = topics.get(&topic) else {
                return cmd.error_response(
                    rs::TOPIC_NOT_EXIST,
                    format!("No topic route info in name server for the topic: {topic}"),
                );
            };
            let route = TopicRouteData {
                order_topic_conf: None,
                queue_datas: vec![QueueData {
                    broker_name: b.broker_name.to_string(),
                    read_queue_nums: cfg.read_queue_nums,
                    write_queue_nums: cfg.write_queue_nums,
                    perm: cfg.perm,
                    topic_sys_flag: cfg.topic_sys_flag,
                }],
                broker_datas: vec![broker_data(b)],
            };
            cmd.response(rs::SUCCESS).with_body(route.to_json(standard))
        }
        rq::GET_BROKER_CLUSTER_INFO => {
            let bd = broker_data(b);
            let info = ClusterInfo {
                broker_addr_table: BTreeMap::from([(bd.broker_name.clone(), bd)]),
                cluster_addr_table: BTreeMap::from([(
                    b.cluster_name.to_string(),
                    vec![b.broker_name.to_string()],
                )]),
            };
            cmd.response(rs::SUCCESS).with_body(info.to_json(standard))
        }
        rq::GET_KV_CONFIG => cmd.error_response(
            rs::QUERY_NOT_FOUND,
            format!(
                "No config item, Namespace: {} Key: {}",
                cmd.ext("namespace").unwrap_or_default(),
                cmd.ext("key").unwrap_or_default()
            ),
        ),
        rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
            let topic_list = topics.keys().cloned().collect();
            cmd.response(rs::SUCCESS)
                .with_body(TopicList { topic_list }.to_json())
        }
        // Routes are the broker's own topic table: the route goes when DELETE_TOPIC_IN_BROKER
        // deletes the topic (mqadmin sends that first). Nothing is kept here to delete.
        rq::DELETE_TOPIC_IN_NAMESRV => match DeleteTopicFromNamesrvHeader::parse(cmd) {
            Ok(_) => cmd.response(rs::SUCCESS),
            Err(e) => cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        },
        rq::GET_TOPICS_BY_CLUSTER => {
            let cluster = match ClusterHeader::parse(cmd) {
                Ok(h) => h.cluster,
                Err(e) => return cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
            };
            let topic_list = if cluster == b.cluster_name {
                topics.keys().cloned().collect()
            } else {
                Vec::new()
            };
            cmd.response(rs::SUCCESS)
                .with_body(TopicList { topic_list }.to_json())
        }
        // KV config is not kept: no client depends on it (only the admin `updateOrderConf`).
        _ => cmd.response(rs::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> LocalBroker<'static> {
        LocalBroker {
            cluster_name: "C",
            broker_name: "b",
            addr: "127.0.0.1:10911".parse().unwrap(),
        }
    }

    fn topics() -> BTreeMap<String, TopicConfig> {
        BTreeMap::from([("T".to_string(), TopicConfig::new("T", 4, 6))])
    }

    /// GET_TOPICS_BY_CLUSTER: this cluster's topics, none for another; DELETE_TOPIC_IN_NAMESRV
    /// succeeds (the route goes with the broker's topic) and wants its topic field.
    #[test]
    fn topics_by_cluster_and_namesrv_delete() {
        for (cluster, want) in [("C", vec!["T".to_string()]), ("Other", vec![])] {
            let mut c = RemotingCommand::request(rq::GET_TOPICS_BY_CLUSTER);
            c.set_ext("cluster", cluster);
            let r = handle(&me(), &topics(), &c);
            assert_eq!(r.code, rs::SUCCESS);
            assert_eq!(
                TopicList::parse(&r.body).unwrap().topic_list,
                want,
                "{cluster}"
            );
        }
        let mut c = RemotingCommand::request(rq::DELETE_TOPIC_IN_NAMESRV);
        c.set_ext("topic", "T");
        assert_eq!(handle(&me(), &topics(), &c).code, rs::SUCCESS);
        let c = RemotingCommand::request(rq::DELETE_TOPIC_IN_NAMESRV);
        assert_eq!(handle(&me(), &topics(), &c).code, rs::SYSTEM_ERROR);
    }
}
