//! Route lookup through the NameServer, creating the benchmark topic when it does not exist.
//!
//! Flow: GET_ROUTEINFO_BY_TOPIC for the topic; on TOPIC_NOT_EXIST, look up `TBW102` to learn the
//! brokers, send UPDATE_AND_CREATE_TOPIC to each master with the requested queue count, then poll
//! the route until it appears (a few seconds at most).

use std::time::Duration;

use bolide::remoting::body::{perm, TopicRouteData};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{CreateTopicHeader, GetRouteInfoHeader, DEFAULT_TOPIC};
use bolide::remoting::RemotingCommand;

use crate::client::Conn;

/// One queue a producer can write to or a consumer can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRef {
    pub topic: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub queue_id: i32,
}

/// Queues of a topic, as the route says.
#[derive(Debug, Clone, Default)]
pub struct Route {
    pub write_queues: Vec<QueueRef>,
    pub read_queues: Vec<QueueRef>,
}

impl Route {
    pub fn from_data(topic: &str, data: &TopicRouteData) -> Route {
        let mut r = Route::default();
        for q in &data.queue_datas {
            let Some(addr) = data
                .broker_datas
                .iter()
                .find(|b| b.broker_name == q.broker_name)
                .and_then(|b| b.master_addr())
            else {
                continue;
            };
            let make = |queue_id| QueueRef {
                topic: topic.to_string(),
                broker_name: q.broker_name.clone(),
                broker_addr: addr.to_string(),
                queue_id,
            };
            if q.perm & perm::WRITE != 0 {
                r.write_queues.extend((0..q.write_queue_nums).map(make));
            }
            if q.perm & perm::READ != 0 {
                r.read_queues.extend((0..q.read_queue_nums).map(make));
            }
        }
        r
    }

    /// Distinct broker addresses, in first-seen order.
    pub fn broker_addrs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for q in self.write_queues.iter().chain(&self.read_queues) {
            if !out.contains(&q.broker_addr) {
                out.push(q.broker_addr.clone());
            }
        }
        out
    }
}

async fn query(namesrv: &Conn, topic: &str) -> Result<Option<TopicRouteData>, String> {
    let mut cmd = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
    GetRouteInfoHeader {
        topic: topic.to_string(),
        accept_standard_json_only: true,
    }
    .write_to(&mut cmd);
    let resp = namesrv
        .call(cmd)
        .await
        .map_err(|e| format!("route query for {topic}: {e}"))?;
    match resp.code {
        response::SUCCESS => TopicRouteData::parse(&resp.body)
            .map(Some)
            .map_err(|e| format!("route of {topic}: {e}")),
        response::TOPIC_NOT_EXIST => Ok(None),
        code => Err(format!(
            "route query for {topic}: code {code} {}",
            resp.remark.unwrap_or_default()
        )),
    }
}

/// Finds the topic's route, creating the topic with `queues` queues if it is missing.
pub async fn lookup_or_create(
    namesrv_addr: &str,
    topic: &str,
    queues: i32,
    timeout: Duration,
) -> Result<Route, String> {
    let namesrv = Conn::connect(namesrv_addr, timeout)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(data) = query(&namesrv, topic).await? {
        let route = Route::from_data(topic, &data);
        if !route.write_queues.is_empty() {
            return Ok(route);
        }
    }
    let template = query(&namesrv, DEFAULT_TOPIC).await?.ok_or_else(|| {
        format!("topic {topic} does not exist and the NameServer has no {DEFAULT_TOPIC} route to create it from")
    })?;
    for addr in Route::from_data(DEFAULT_TOPIC, &template).broker_addrs() {
        let broker = Conn::connect(&addr, timeout)
            .await
            .map_err(|e| e.to_string())?;
        let mut cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC);
        CreateTopicHeader {
            topic: topic.to_string(),
            default_topic: DEFAULT_TOPIC.to_string(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: perm::READ | perm::WRITE,
            topic_filter_type: "SINGLE_TAG".to_string(),
            topic_sys_flag: 0,
            order: false,
        }
        .write_to(&mut cmd);
        let resp = broker
            .call(cmd)
            .await
            .map_err(|e| format!("create topic {topic} on {addr}: {e}"))?;
        if resp.code != response::SUCCESS {
            return Err(format!(
                "create topic {topic} on {addr}: code {} {}",
                resp.code,
                resp.remark.unwrap_or_default()
            ));
        }
    }
    for _ in 0..50 {
        if let Some(data) = query(&namesrv, topic).await? {
            let route = Route::from_data(topic, &data);
            if !route.write_queues.is_empty() {
                return Ok(route);
            }
        }
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "topic {topic} was created but its route never appeared"
    ))
}
