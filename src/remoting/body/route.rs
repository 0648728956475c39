//! Route and cluster bodies (§3.1, §3.2), in both JSON dialects.

use std::collections::BTreeMap;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};

use super::lenient::{lenient_i32, null_as_empty, null_as_empty_string};
use super::{parse_json, to_json, BodyError};
use crate::remoting::json::put_json_str;

/// One broker (set) in a route: id 0 is the master.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerData {
    pub cluster: String,
    pub broker_name: String,
    /// brokerId -> `"ip:port"`.
    pub broker_addrs: BTreeMap<i64, String>,
}

impl BrokerData {
    /// The master's address (id 0).
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&0).map(String::as_str)
    }

    fn write_json(&self, out: &mut BytesMut, standard: bool) {
        out.extend_from_slice(b"{\"brokerAddrs\":{");
        for (i, (id, addr)) in self.broker_addrs.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            if standard {
                out.extend_from_slice(b"\"");
            }
            out.extend_from_slice(id.to_string().as_bytes());
            if standard {
                out.extend_from_slice(b"\"");
            }
            out.extend_from_slice(b":");
            put_json_str(out, addr);
        }
        out.extend_from_slice(b"},\"brokerName\":");
        put_json_str(out, &self.broker_name);
        out.extend_from_slice(b",\"cluster\":");
        put_json_str(out, &self.cluster);
        out.extend_from_slice(b"}");
    }
}

/// Queues a broker serves for a topic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    pub broker_name: String,
    #[serde(deserialize_with = "lenient_i32")]
    pub perm: i32,
    #[serde(deserialize_with = "lenient_i32")]
    pub read_queue_nums: i32,
    #[serde(default, deserialize_with = "lenient_i32")]
    pub topic_sys_flag: i32,
    #[serde(deserialize_with = "lenient_i32")]
    pub write_queue_nums: i32,
}

/// Topic permission bits (§3.1, RocketMQ `PermName`): the one definition, used by routes, topic
/// configs and the broker's permission checks.
pub mod perm {
    pub const PRIORITY: i32 = 8;
    pub const READ: i32 = 4;
    pub const WRITE: i32 = 2;
    pub const INHERIT: i32 = 1;
    pub const READ_WRITE: i32 = READ | WRITE;
}

/// GET_ROUTEINFO_BY_TOPIC (105) response body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicRouteData {
    pub broker_datas: Vec<BrokerData>,
    pub queue_datas: Vec<QueueData>,
    /// `"brokerName:queueNum;..."`; omitted when `None` (the normal case).
    pub order_topic_conf: Option<String>,
}

impl TopicRouteData {
    /// Compact JSON in the chosen dialect (see the module docs); `filterServerTable` is always `{}`.
    pub fn to_json(&self, standard: bool) -> String {
        let mut out = BytesMut::with_capacity(256);
        out.extend_from_slice(b"{\"brokerDatas\":[");
        for (i, b) in self.broker_datas.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            b.write_json(&mut out, standard);
        }
        out.extend_from_slice(b"],\"filterServerTable\":{}");
        if let Some(conf) = &self.order_topic_conf {
            out.extend_from_slice(b",\"orderTopicConf\":");
            put_json_str(&mut out, conf);
        }
        out.extend_from_slice(b",\"queueDatas\":[");
        for (i, q) in self.queue_datas.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            out.extend_from_slice(to_json(q).as_bytes());
        }
        out.extend_from_slice(b"]}");
        // Only valid UTF-8 was written.
        String::from_utf8(out.to_vec()).unwrap_or_default()
    }

    /// Parses the standard-JSON dialect (what a 4.9.4+ client receives).
    pub fn parse(body: &[u8]) -> Result<TopicRouteData, BodyError> {
        let w: RouteWire = parse_json("topic route", body)?;
        Ok(TopicRouteData {
            broker_datas: w.broker_datas.into_iter().map(BrokerData::from).collect(),
            queue_datas: w.queue_datas,
            order_topic_conf: w.order_topic_conf.filter(|s| !s.is_empty()),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RouteWire {
    #[serde(default, deserialize_with = "null_as_empty")]
    broker_datas: Vec<BrokerWire>,
    #[serde(default, deserialize_with = "null_as_empty")]
    queue_datas: Vec<QueueData>,
    #[serde(default)]
    order_topic_conf: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BrokerWire {
    #[serde(default, deserialize_with = "null_as_empty_string")]
    cluster: String,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    broker_name: String,
    #[serde(default)]
    broker_addrs: BTreeMap<String, String>,
}

impl From<BrokerWire> for BrokerData {
    fn from(w: BrokerWire) -> BrokerData {
        BrokerData {
            cluster: w.cluster,
            broker_name: w.broker_name,
            broker_addrs: w
                .broker_addrs
                .into_iter()
                .filter_map(|(k, v)| k.trim().parse::<i64>().ok().map(|k| (k, v)))
                .collect(),
        }
    }
}

/// GET_BROKER_CLUSTER_INFO (106) response body (§3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterInfo {
    /// brokerName -> broker data.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// cluster name -> broker names.
    pub cluster_addr_table: BTreeMap<String, Vec<String>>,
}

impl ClusterInfo {
    pub fn to_json(&self, standard: bool) -> String {
        let mut out = BytesMut::with_capacity(256);
        out.extend_from_slice(b"{\"brokerAddrTable\":{");
        for (i, (name, b)) in self.broker_addr_table.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",");
            }
            put_json_str(&mut out, name);
            out.extend_from_slice(b":");
            b.write_json(&mut out, standard);
        }
        out.extend_from_slice(b"},\"clusterAddrTable\":");
        out.extend_from_slice(to_json(&self.cluster_addr_table).as_bytes());
        out.extend_from_slice(b"}");
        String::from_utf8(out.to_vec()).unwrap_or_default()
    }
}
