//! The NameServer role, served by every shard from its own topic replica: a client's
//! `setNamesrvAddr("127.0.0.1:9876")` reaches the same process as the broker, and routes name this
//! broker as the master (id 0) of every topic it holds.
//!
//! Route JSON follows the Java NameServer's dialect rule (remoting-protocol.md §3.1): standard JSON for
//! clients of version ≥ 401 (V4_9_4) or asking `acceptStandardJsonOnly`, fastjson's unquoted integer
//! keys otherwise (old Go clients parse `brokerAddrs` by hand).

use std::collections::BTreeMap;

use crate::broker::{error_response, Broker};
use crate::remoting::body::{BrokerData, ClusterInfo, QueueData, TopicList, TopicRouteData};
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::RemotingCommand;

/// First client version that gets standard JSON routes.
pub const STANDARD_JSON_VERSION: i32 = 401;

/// Whether `code` is a NameServer request.
pub fn handles(code: i32) -> bool {
    matches!(
        code,
        rq::GET_ROUTEINFO_BY_TOPIC
            | rq::GET_BROKER_CLUSTER_INFO
            | rq::GET_KV_CONFIG
            | rq::PUT_KV_CONFIG
            | rq::DELETE_KV_CONFIG
            | rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER
    )
}

fn broker_data(b: &Broker) -> BrokerData {
    let mut addrs = BTreeMap::new();
    addrs.insert(0i64, b.store_host.to_string());
    BrokerData {
        cluster: b.cfg.cluster_name.clone(),
        broker_name: b.cfg.broker_name.clone(),
        broker_addrs: addrs,
    }
}

/// Answers a NameServer request.
pub fn handle(b: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let standard = cmd.version >= STANDARD_JSON_VERSION
        || cmd
            .ext("acceptStandardJsonOnly")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match cmd.code {
        rq::GET_ROUTEINFO_BY_TOPIC => {
            let topic = cmd.ext("topic").unwrap_or_default();
            let Some(cfg) = b.topic(topic) else {
                return error_response(
                    cmd,
                    rs::TOPIC_NOT_EXIST,
                    format!("No topic route info in name server for the topic: {topic}"),
                );
            };
            let route = TopicRouteData {
                order_topic_conf: None,
                queue_datas: vec![QueueData {
                    broker_name: b.cfg.broker_name.clone(),
                    read_queue_nums: cfg.read_queue_nums as i32,
                    write_queue_nums: cfg.write_queue_nums as i32,
                    perm: cfg.perm as i32,
                    topic_sys_flag: cfg.topic_sys_flag as i32,
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
                    b.cfg.cluster_name.clone(),
                    vec![b.cfg.broker_name.clone()],
                )]),
            };
            cmd.response(rs::SUCCESS).with_body(info.to_json(standard))
        }
        rq::GET_KV_CONFIG => error_response(
            cmd,
            rs::QUERY_NOT_FOUND,
            format!(
                "No config item, Namespace: {} Key: {}",
                cmd.ext("namespace").unwrap_or_default(),
                cmd.ext("key").unwrap_or_default()
            ),
        ),
        rq::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
            let topics = b.topics.borrow().topics.keys().cloned().collect();
            cmd.response(rs::SUCCESS)
                .with_body(TopicList { topic_list: topics }.to_json())
        }
        // KV config is not kept: no client depends on it (only the admin `updateOrderConf`).
        _ => cmd.response(rs::SUCCESS),
    }
}
