//! Broker-side load balancing (RocketMQ 5): QUERY_ASSIGNMENT (400) and SET_MESSAGE_REQUEST_MODE
//! (401), on the accepting shard. A 5.x push consumer with `clientRebalance = false` asks one broker
//! of the topic for its queues every rebalance instead of dividing them itself; the answer also
//! says how to read them, PULL or POP, from the mode an operator set for (topic, group)
//! (mqadmin `setConsumeMode`; the table is [`crate::broker::request_modes`]).
//!
//! The queues are the topic's readable queues over every broker of its route: the route asked of
//! `namesrvAddr` when the broker registers with NameServers (they know the whole cluster; an
//! embedded NameServer beside them may know only this broker, e.g. a slave's), else the embedded
//! NameServer's registry when the NameServer role is on, else this broker's own queues.
//!
//! | message model | mode | queues | answer |
//! |---|---|---|---|
//! | BROADCASTING | any | all, or none known | all; null when the topic has no route |
//! | CLUSTERING | any | none known | null (the client keeps what it has) |
//! | CLUSTERING | any | known, no live consumer of the group or unknown strategy | null |
//! | CLUSTERING | PULL | known | the strategy's share (`AVG`, `AVG_BY_CIRCLE`) |
//! | CLUSTERING | POP, share count <= 0 or >= consumers - 1 | known | every queue, as queue id -1 of each broker |
//! | CLUSTERING | POP, share count n | known, consumers <= queues | own share and the next n consumers' shares |
//! | CLUSTERING | POP, share count n | known, consumers > queues | queue (index mod queues) |
//!
//! A topic with no mode set is PULL (Java's `defaultMessageRequestMode`); a `%RETRY%` topic is
//! always PULL and its mode cannot be set (NO_PERMISSION), as on the Java broker.

use std::time::Duration;

use crate::broker::Broker;
use crate::remoting::body::{
    perm, MessageModel, MessageQueue, MessageQueueAssignment, MessageRequestMode,
    QueryAssignmentRequestBody, QueryAssignmentResponseBody, SetMessageRequestModeBody,
    TopicRouteData,
};
use crate::remoting::codes::response as rs;
use crate::remoting::RemotingCommand;

/// RocketMQ's `%RETRY%` prefix.
const RETRY_PREFIX: &str = "%RETRY%";
/// How long a route lookup at `namesrvAddr` may take.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(3);

/// `AllocateMessageQueueAveragely` (`AVG`): consecutive blocks, the first `len % consumers`
/// consumers one queue more.
fn averagely<T: Clone>(all: &[T], consumers: usize, index: usize) -> Vec<T> {
    let (n, c) = (all.len(), consumers);
    if n == 0 || c == 0 || index >= c {
        return Vec::new();
    }
    let m = n % c;
    let size = if n <= c {
        1
    } else if m > 0 && index < m {
        n / c + 1
    } else {
        n / c
    };
    let start = if m > 0 && index < m {
        index * size
    } else {
        index * size + m
    };
    let range = size.min(n.saturating_sub(start));
    (0..range).map(|i| all[(start + i) % n].clone()).collect()
}

/// `AllocateMessageQueueAveragelyByCircle` (`AVG_BY_CIRCLE`): every `consumers`-th queue.
fn by_circle<T: Clone>(all: &[T], consumers: usize, index: usize) -> Vec<T> {
    if consumers == 0 || index >= consumers {
        return Vec::new();
    }
    all.iter().skip(index).step_by(consumers).cloned().collect()
}

/// An allocation strategy: (all queues, consumer count, this consumer's index) -> its queues.
type Strategy = fn(&[MessageQueue], usize, usize) -> Vec<MessageQueue>;

/// The strategy by the name the client sends; `None` for one the broker does not know.
fn strategy(name: &str) -> Option<Strategy> {
    match name {
        "AVG" => Some(averagely::<MessageQueue>),
        "AVG_BY_CIRCLE" => Some(by_circle::<MessageQueue>),
        _ => None,
    }
}

/// The table in the module comment for CLUSTERING; `all` and `cids` sorted. `None`: no answer.
fn allocate(
    all: &[MessageQueue],
    cids: &[String],
    me: &str,
    strategy_name: &str,
    mode: &SetMessageRequestModeBody,
) -> Option<Vec<MessageQueue>> {
    let alloc = strategy(strategy_name)?;
    if cids.is_empty() {
        return None;
    }
    let index = cids.iter().position(|c| c == me);
    if mode.mode == MessageRequestMode::Pull {
        return Some(index.map_or_else(Vec::new, |i| alloc(all, cids.len(), i)));
    }
    let share = mode.pop_share_queue_num;
    if share <= 0 || share as usize >= cids.len().saturating_sub(1) {
        let mut brokers: Vec<MessageQueue> = Vec::new();
        for q in all {
            if !brokers.iter().any(|b| b.broker_name == q.broker_name) {
                brokers.push(MessageQueue {
                    broker_name: q.broker_name.clone(),
                    queue_id: -1,
                    topic: q.topic.clone(),
                });
            }
        }
        return Some(brokers);
    }
    let Some(i) = index else {
        return Some(Vec::new());
    };
    if cids.len() <= all.len() {
        let mut out = alloc(all, cids.len(), i);
        for k in 1..=share as usize {
            out.extend(alloc(all, cids.len(), (i + k) % cids.len()));
        }
        Some(out)
    } else {
        Some(vec![all[i % all.len()].clone()])
    }
}

/// The readable queues of a route, sorted as Java sorts `MessageQueue`s (broker, then queue id).
fn readable_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let mut out = Vec::new();
    for q in &route.queue_datas {
        let has_master = route
            .broker_datas
            .iter()
            .any(|b| b.broker_name == q.broker_name && b.master_addr().is_some());
        if q.perm & perm::READ == 0 || !has_master {
            continue;
        }
        out.extend((0..q.read_queue_nums).map(|id| MessageQueue {
            broker_name: q.broker_name.clone(),
            queue_id: id,
            topic: topic.to_string(),
        }));
    }
    out.sort();
    out
}

impl Broker {
    /// The topic's route (see the module comment for where it comes from).
    async fn assignment_route(&self, topic: &str) -> Option<TopicRouteData> {
        for addr in &self.cfg.namesrv_addr {
            let Ok(conn) = crate::client::Conn::connect(addr, ROUTE_TIMEOUT).await else {
                continue;
            };
            let route = conn.get_route(topic).await;
            conn.close();
            if let Ok(Some(route)) = route {
                return Some(route);
            }
        }
        let topics = self.topics.borrow();
        let me = self.local_broker(&topics.topics);
        if self.cfg.namesrv_role {
            return crate::nameserver::route(Some(&me), &self.registry.borrow(), topic);
        }
        crate::nameserver::route(Some(&me), &crate::nameserver::Registry::default(), topic)
    }

    /// QUERY_ASSIGNMENT (400).
    pub(crate) async fn query_assignment(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let q = match QueryAssignmentRequestBody::parse(&cmd.body) {
            Ok(q) => q,
            Err(e) => return cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        };
        let mode = match self.request_modes.get(&q.topic, &q.consumer_group) {
            Some(m) if !q.topic.starts_with(RETRY_PREFIX) => m,
            _ => SetMessageRequestModeBody {
                consumer_group: q.consumer_group.clone(),
                mode: MessageRequestMode::Pull,
                pop_share_queue_num: -1,
                topic: q.topic.clone(),
            },
        };
        let all = self
            .assignment_route(&q.topic)
            .await
            .map(|r| readable_queues(&q.topic, &r));
        let queues = match (q.message_model, all) {
            (_, None) => None,
            (MessageModel::Broadcasting, Some(all)) => Some(all),
            (MessageModel::Clustering, Some(all)) if all.is_empty() => None,
            (MessageModel::Clustering, Some(all)) => {
                let mut cids = self.clients.borrow().consumer_ids(&q.consumer_group);
                cids.sort();
                cids.dedup();
                allocate(&all, &cids, &q.client_id, &q.strategy_name, &mode)
            }
        };
        if queues.is_none() {
            tracing::info!(shard = %self.shard, group = %q.consumer_group, topic = %q.topic, strategy = %q.strategy_name, "no assignment: no route, no live consumer, or an unknown strategy");
        }
        let body = QueryAssignmentResponseBody {
            message_queue_assignments: queues.map(|qs| {
                qs.into_iter()
                    .map(|message_queue| MessageQueueAssignment {
                        attachments: Default::default(),
                        message_queue,
                        mode: mode.mode,
                    })
                    .collect()
            }),
        };
        cmd.response(rs::SUCCESS)
            .with_body(body.to_json().into_bytes())
    }

    /// SET_MESSAGE_REQUEST_MODE (401): persisted before the answer, in force at once on every shard.
    pub(crate) async fn set_message_request_mode(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let m = match SetMessageRequestModeBody::parse(&cmd.body) {
            Ok(m) => m,
            Err(e) => return cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        };
        if m.topic.starts_with(RETRY_PREFIX) {
            return cmd.error_response(rs::NO_PERMISSION, "retry topic is not allowed to set mode");
        }
        if self.topic(&m.topic).is_none() {
            return cmd
                .error_response(rs::TOPIC_NOT_EXIST, format!("topic[{}] not exist", m.topic));
        }
        let modes = self.request_modes.clone();
        let written = glommio::executor()
            .spawn_blocking(move || modes.set(m))
            .await;
        match written {
            Ok(()) => cmd.response(rs::SUCCESS),
            Err(e) => cmd.error_response(rs::SYSTEM_ERROR, format!("cannot persist the mode: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqs(brokers: &[(&str, i32)]) -> Vec<MessageQueue> {
        let mut out = Vec::new();
        for (b, n) in brokers {
            for id in 0..*n {
                out.push(MessageQueue {
                    broker_name: b.to_string(),
                    queue_id: id,
                    topic: "T".into(),
                });
            }
        }
        out
    }

    fn ids(qs: &[MessageQueue]) -> Vec<(String, i32)> {
        qs.iter()
            .map(|q| (q.broker_name.clone(), q.queue_id))
            .collect()
    }

    fn mode(mode: MessageRequestMode, share: i32) -> SetMessageRequestModeBody {
        SetMessageRequestModeBody {
            consumer_group: "G".into(),
            mode,
            pop_share_queue_num: share,
            topic: "T".into(),
        }
    }

    #[test]
    fn averagely_matches_java() {
        let all: Vec<u32> = (0..8).collect();
        assert_eq!(averagely(&all, 3, 0), vec![0, 1, 2]);
        assert_eq!(averagely(&all, 3, 1), vec![3, 4, 5]);
        assert_eq!(averagely(&all, 3, 2), vec![6, 7]);
        let few: Vec<u32> = (0..2).collect();
        assert_eq!(averagely(&few, 3, 1), vec![1]);
        assert_eq!(averagely(&few, 3, 2), Vec::<u32>::new());
        assert_eq!(by_circle(&all, 3, 1), vec![1, 4, 7]);
    }

    /// The CLUSTERING rows of the module table.
    #[test]
    fn clustering_rows() {
        let all = mqs(&[("a", 4), ("b", 4)]);
        let cids: Vec<String> = vec!["c1".into(), "c2".into(), "c3".into()];
        // Unknown strategy, no consumers: no answer.
        assert_eq!(
            allocate(
                &all,
                &cids,
                "c1",
                "CONSISTENT_HASH",
                &mode(MessageRequestMode::Pull, 0)
            ),
            None
        );
        assert_eq!(
            allocate(&all, &[], "c1", "AVG", &mode(MessageRequestMode::Pull, 0)),
            None
        );
        // PULL: the strategy's share; a client not in the list gets nothing.
        let a = allocate(&all, &cids, "c2", "AVG", &mode(MessageRequestMode::Pull, 0)).unwrap();
        assert_eq!(
            ids(&a),
            vec![("a".into(), 3), ("b".into(), 0), ("b".into(), 1)]
        );
        assert!(
            allocate(&all, &cids, "zz", "AVG", &mode(MessageRequestMode::Pull, 0))
                .unwrap()
                .is_empty()
        );
        // POP with share <= 0 or >= consumers - 1: queue -1 of every broker.
        for share in [-1, 0, 2, 5] {
            let a = allocate(
                &all,
                &cids,
                "c1",
                "AVG",
                &mode(MessageRequestMode::Pop, share),
            )
            .unwrap();
            assert_eq!(
                ids(&a),
                vec![("a".into(), -1), ("b".into(), -1)],
                "share {share}"
            );
        }
        // POP with share 1 of 3 consumers: own share and the next one's.
        let a = allocate(&all, &cids, "c3", "AVG", &mode(MessageRequestMode::Pop, 1)).unwrap();
        assert_eq!(
            ids(&a),
            vec![
                ("b".into(), 2),
                ("b".into(), 3),
                ("a".into(), 0),
                ("a".into(), 1),
                ("a".into(), 2)
            ]
        );
        // More consumers than queues: one queue each, by index.
        let two = mqs(&[("a", 2)]);
        let many: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        let a = allocate(&two, &many, "c3", "AVG", &mode(MessageRequestMode::Pop, 1)).unwrap();
        assert_eq!(ids(&a), vec![("a".into(), 1)]);
    }

    #[test]
    fn only_readable_queues_of_brokers_with_a_master_count() {
        let route = TopicRouteData::parse(
            br#"{"brokerDatas":[{"brokerAddrs":{"0":"1.1.1.1:1"},"brokerName":"b","cluster":"c"},
                {"brokerAddrs":{"1":"1.1.1.2:1"},"brokerName":"s","cluster":"c"},
                {"brokerAddrs":{"0":"1.1.1.3:1"},"brokerName":"a","cluster":"c"},
                {"brokerAddrs":{"0":"1.1.1.4:1"},"brokerName":"w","cluster":"c"}],
               "queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":2,"writeQueueNums":2,"topicSysFlag":0},
                {"brokerName":"s","perm":6,"readQueueNums":2,"writeQueueNums":2,"topicSysFlag":0},
                {"brokerName":"a","perm":6,"readQueueNums":1,"writeQueueNums":1,"topicSysFlag":0},
                {"brokerName":"w","perm":2,"readQueueNums":4,"writeQueueNums":4,"topicSysFlag":0}]}"#,
        )
        .unwrap();
        let qs = readable_queues("T", &route);
        assert_eq!(
            ids(&qs),
            vec![("a".into(), 0), ("b".into(), 0), ("b".into(), 1)]
        );
    }
}
