//! A topic's queues from the NameServer, creating the topic when it does not exist yet.
//!
//! Flow of [`lookup_or_create`]: GET_ROUTEINFO_BY_TOPIC for the topic; on TOPIC_NOT_EXIST (or a
//! route without writable queues) look up `TBW102` to learn the brokers, send UPDATE_AND_CREATE_TOPIC
//! to each master with the requested queue count, then poll the route until the brokers' next
//! registration publishes it ([`ROUTE_POLLS`] x [`ROUTE_POLL_INTERVAL`], 5 s).

use std::time::Duration;

use crate::remoting::body::{perm, TopicRouteData};
use crate::remoting::headers::{CreateTopicHeader, DEFAULT_TOPIC};

use super::{ClientError, Conn};

/// How many times a freshly created topic's route is asked for before giving up.
pub const ROUTE_POLLS: u32 = 50;
/// Pause between two of those polls.
pub const ROUTE_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// One queue a producer can write to or a consumer can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRef {
    pub topic: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub queue_id: i32,
}

/// Queues of a topic, as the route says: only brokers with a master address, split by permission.
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

/// The topic's route if it has writable queues.
async fn writable_route(namesrv: &Conn, topic: &str) -> Result<Option<Route>, ClientError> {
    Ok(namesrv
        .get_route(topic)
        .await?
        .map(|data| Route::from_data(topic, &data))
        .filter(|r| !r.write_queues.is_empty()))
}

/// Finds the topic's route through the NameServer at `namesrv_addr`, creating the topic with
/// `queues` read and write queues on every broker behind `TBW102` if it has no writable queues.
/// Connections opened here are closed before it returns.
pub async fn lookup_or_create(
    namesrv_addr: &str,
    topic: &str,
    queues: i32,
    timeout: Duration,
) -> Result<Route, ClientError> {
    let namesrv = Conn::connect(namesrv_addr, timeout).await?;
    let r = lookup_or_create_on(&namesrv, topic, queues, timeout).await;
    namesrv.close();
    r
}

async fn lookup_or_create_on(
    namesrv: &Conn,
    topic: &str,
    queues: i32,
    timeout: Duration,
) -> Result<Route, ClientError> {
    if let Some(route) = writable_route(namesrv, topic).await? {
        return Ok(route);
    }
    let template =
        namesrv
            .get_route(DEFAULT_TOPIC)
            .await?
            .ok_or_else(|| ClientError::NoTemplateRoute {
                topic: topic.to_string(),
                template: DEFAULT_TOPIC.to_string(),
            })?;
    for addr in Route::from_data(DEFAULT_TOPIC, &template).broker_addrs() {
        let broker = Conn::connect(&addr, timeout).await?;
        let created = broker
            .create_topic(&CreateTopicHeader {
                topic: topic.to_string(),
                default_topic: DEFAULT_TOPIC.to_string(),
                read_queue_nums: queues,
                write_queue_nums: queues,
                perm: perm::READ | perm::WRITE,
                topic_filter_type: "SINGLE_TAG".to_string(),
                topic_sys_flag: 0,
                order: false,
                attributes: None,
            })
            .await;
        broker.close();
        created?;
    }
    for _ in 0..ROUTE_POLLS {
        if let Some(route) = writable_route(namesrv, topic).await? {
            return Ok(route);
        }
        glommio::timer::sleep(ROUTE_POLL_INTERVAL).await;
    }
    Err(ClientError::RouteNotPublished {
        topic: topic.to_string(),
    })
}
