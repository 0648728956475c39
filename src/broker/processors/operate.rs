//! What operators ask a broker (`mqadmin`, `bolide admin`, dashboards), on the accepting shard
//! (remoting-protocol.md §20):
//!
//! | code | what | reaches |
//! |---|---|---|
//! | DELETE_TOPIC_IN_BROKER (215) | topic config and every group's offsets of it | shard 0, replicated |
//! | GET_SYSTEM_TOPIC_LIST_FROM_NS/BROKER (304, 305) | the system topics this broker has | local replica |
//! | GET_TOPIC_STATS_INFO (202) | min/max offset and last store time per write queue | queue owners |
//! | GET_CONSUME_STATS (208) | per read queue: max offset, the group's offset, its last consumed store time; the group's pull rate | every shard (which topics, rates), then queue owners |
//! | GET_BROKER_CONSUME_STATS (317) | GET_CONSUME_STATS of every configured or online group, for each topic it has offsets for; the total lag | as 208, per group |
//! | VIEW_BROKER_STATS_DATA (315) | one statistics item (`TOPIC_PUT_NUMS`, `GROUP_GET_NUMS`, ...) over the last minute, hour and day | every shard |
//! | GET_ALL_PRODUCER_INFO (328) | every producer group's connected producers | local registry replica |
//! | QUERY_CONSUME_QUEUE (321) | consume-queue entries of one queue, its min and max index, a group's subscription | the queue's owner |
//! | GET_BROKER_HA_STATUS (907) | a master's slave links (one per shard: ack offset, lag, in sync, bytes/s), a slave's link to its master | every shard |
//! | GET_CONSUMER_CONNECTION_LIST (203) | the group's live clients and subscriptions | local registry replica |
//! | QUERY_TOPIC_CONSUME_BY_WHO (300) | groups with offsets for, or live subscriptions to, a topic | every shard |
//! | QUERY_CONSUME_TIME_SPAN (303) | per queue: first/last store time, the group's consumed time | queue owners |
//! | GET_CONSUMER_RUNNING_INFO (307) | relayed to the client (`consumerGroup`, `clientId`), its answer returned | the shard holding the client's connection |
//! | INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) | each live consumer's own offsets of a topic (GET_CONSUMER_STATUS_FROM_CLIENT 221), by client id | the shards holding the clients' connections |
//! | CONSUME_MESSAGE_DIRECTLY (309) | the message of an offset id, relayed to one client to consume now, its result returned | the shard whose log holds it, then the client's |
//! | GET_BROKER_RUNTIME_INFO (28) | counters, rates, commit-log extent, disk use | every shard |
//! | GET_TOPIC_CONFIG (351) | one topic's config (mqadmin 5 reads it before topic and consume stats) | local replica |
//! | GET_BROKER_CONFIG (26), UPDATE_BROKER_CONFIG (25) | settings; the runtime-changeable ones (`config::RuntimeConfig`) | local / every shard |
//! | CLEAN_EXPIRED_CONSUMEQUEUE (306), DELETE_EXPIRED_COMMITLOG (329) | retention run now, answered when done | every shard |
//! | CLEAN_UNUSED_TOPIC (316) | stored messages of topics with no config dropped ([`unused_topic`]) | every shard |
//!
//! Not kept, so not reported: thread-pool queues (the broker has none: reported as 0), the
//! page-cache lock (none: 0).

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::broker::control::{QueueStat, ShardHa, ShardStat};
use crate::broker::routing::OwnedRequest;
use crate::broker::state::topics::{
    is_send_forbidden, DEFAULT_TOPIC, DLQ_PREFIX, RETRY_PREFIX, SYSTEM_TOPIC_PREFIX,
};
use crate::broker::status::header_error;
use crate::broker::{Broker, Control, ControlReply};
use crate::clock::now_ms;
use crate::config::runtime_key_names;
use crate::metrics::stats::{ItemStats, StatsName};
use crate::remoting::body::{
    parse_properties, write_properties, BrokerStatsData, BrokerStatsItem, Connection,
    ConsumeQueueData, ConsumeStats, ConsumeStatsList, ConsumerConnection, ConsumerStatusBody,
    DataVersion, ExpressionType, GroupList, HaRuntimeInfo, KvTable, MessageQueue, OffsetWrapper,
    ProducerConnection, ProducerInfo, ProducerTableInfo, QueryConsumeQueueBody,
    QueryConsumeTimeSpanBody, QueueTimeSpan, SubscriptionData, TopicList, TopicOffset,
    TopicStatsTable,
};
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::headers::{
    BrokerConsumeStatsHeader, ConsumeStatsHeader, ConsumerGroupHeader, ProducerGroupHeader,
    QueryConsumeQueueHeader, TopicHeader, ViewBrokerStatsDataHeader, ViewMessageByIdHeader,
};
use crate::remoting::RemotingCommand;
use crate::shard::placement::owner;
use crate::shard::ShardId;
use crate::storage::QueueOffset;

/// How long a client may take to answer a relayed request (the Java broker waits 5 s).
const CLIENT_CALL_TIMEOUT_MS: u64 = 5_000;

/// Topics that are the broker's own: not deletable, listed by GET_SYSTEM_TOPIC_LIST.
pub(crate) fn is_system_topic(topic: &str, cluster: &str, broker: &str) -> bool {
    topic == DEFAULT_TOPIC
        || topic == cluster
        || topic == broker
        || is_send_forbidden(topic)
        || topic.starts_with(SYSTEM_TOPIC_PREFIX)
        || topic.starts_with("RMQ_SYS_")
        || topic.strip_suffix("_REPLY_TOPIC") == Some(cluster)
}

/// The same request, fields and all, from the broker to a client (307 and 309 are relayed so).
fn passed_on(cmd: &RemotingCommand) -> RemotingCommand {
    let mut ask = RemotingCommand::request(cmd.code);
    for (k, v) in &cmd.ext_fields {
        ask.set_ext(k, v);
    }
    ask
}

/// Whether CLEAN_UNUSED_TOPIC drops a stored topic's messages. As the Java broker, a topic with a
/// config and a system topic stay; Bolide also keeps retry and dead-letter queues whatever their
/// configs say (an operator may still want a dead letter):
///
/// | has a config | system topic (`is_system_topic`) | `%RETRY%` / `%DLQ%` | dropped |
/// |---|---|---|---|
/// | yes | - | - | no |
/// | no | yes | - | no |
/// | no | no | yes | no |
/// | no | no | no | yes |
pub(crate) fn unused_topic(topic: &str, has_config: bool, cluster: &str, broker: &str) -> bool {
    !has_config
        && !is_system_topic(topic, cluster, broker)
        && !topic.starts_with(RETRY_PREFIX)
        && !topic.starts_with(DLQ_PREFIX)
}

fn topic_not_exist(cmd: &RemotingCommand, topic: &str) -> RemotingCommand {
    cmd.error_response(rs::TOPIC_NOT_EXIST, format!("topic[{topic}] not exist"))
}

impl Broker {
    /// Asks each owner shard for its queues' figures; results in the order of `queues`.
    async fn queue_stats(
        self: &Rc<Self>,
        group: Option<&str>,
        queues: Vec<(String, u32)>,
    ) -> Vec<QueueStat> {
        let shards = self.router.shard_count();
        let mut by_owner: BTreeMap<ShardId, Vec<(String, u32)>> = BTreeMap::new();
        for (t, q) in &queues {
            by_owner
                .entry(owner(t, *q, shards))
                .or_default()
                .push((t.clone(), *q));
        }
        let mut got: BTreeMap<(String, u32), QueueStat> = BTreeMap::new();
        for (shard, qs) in by_owner {
            let op = Control::QueueStats {
                group: group.map(str::to_string),
                queues: qs,
            };
            if let ControlReply::QueueStats(v) = self.control(shard, op).await {
                for s in v {
                    got.insert((s.topic.clone(), s.queue_id), s);
                }
            }
        }
        queues.iter().filter_map(|k| got.remove(k)).collect()
    }

    /// Every shard's answer to `op`, names merged and sorted.
    pub(crate) async fn names_everywhere(self: &Rc<Self>, op: Control) -> BTreeSet<String> {
        self.control_all_pick(op, |r| match r {
            ControlReply::Names(v) => Some(v),
            _ => None,
        })
        .await
        .into_iter()
        .flatten()
        .collect()
    }

    fn mq(&self, topic: &str, queue_id: u32) -> MessageQueue {
        MessageQueue {
            topic: topic.to_string(),
            broker_name: self.cfg.broker_name.clone(),
            queue_id: queue_id as i32,
        }
    }

    pub(crate) fn topic_config(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let h = match TopicHeader::parse(cmd) {
            Ok(h) => h,
            Err(e) => return header_error(cmd, &e),
        };
        match self.topic(&h.topic) {
            // RocketMQ 5's TopicConfigAndQueueMapping: the topic config (no static-topic mapping).
            Some(c) => cmd
                .response(rs::SUCCESS)
                .with_body(serde_json::to_string(&c).unwrap_or_default()),
            None => cmd.error_response(
                rs::TOPIC_NOT_EXIST,
                format!("No topic in this broker. topic: {}", h.topic),
            ),
        }
    }

    /// CLEAN_EXPIRED_CONSUMEQUEUE and DELETE_EXPIRED_COMMITLOG (mqadmin cleanExpiredCQ and
    /// deleteExpiredCommitLog): every shard runs retention now rather than at its next round
    /// (`retention_interval_ms`), by the same rules (`storage::housekeeping`). A queue's
    /// consume-queue files wholly below its new minimum go with the segments, so one run serves
    /// both. Unlike the Java broker, which only marks the next rounds, the answer comes when every
    /// shard has run.
    pub(crate) async fn run_retention_now(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        self.on_every_shard(cmd, Control::RunRetention).await
    }

    /// CLEAN_UNUSED_TOPIC (mqadmin cleanUnusedTopic): every shard empties its queues of the topics
    /// [`unused_topic`] names (as a topic deletion empties them: durably, kept through kill -9). A
    /// slave does nothing: its master's deletions reach it by replication.
    pub(crate) async fn clean_unused_topics(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        self.on_every_shard(cmd, Control::CleanUnusedTopics).await
    }

    /// Runs `op` on every shard and answers `cmd`: SUCCESS, or SYSTEM_ERROR with each shard's
    /// failure ([`ControlReply::Committed`]).
    async fn on_every_shard(self: &Rc<Self>, cmd: RemotingCommand, op: Control) -> RemotingCommand {
        let failed: Vec<String> = self
            .control_all_pick(op, |r| match r {
                ControlReply::Committed(Err(e)) => Some(e),
                _ => None,
            })
            .await;
        if failed.is_empty() {
            cmd.response(rs::SUCCESS)
        } else {
            cmd.error_response(rs::SYSTEM_ERROR, failed.join("; "))
        }
    }

    /// This shard's part of [`Broker::clean_unused_topics`].
    pub(crate) async fn clean_unused_here(&self) -> Result<(), String> {
        if !self.accepts_writes() {
            return Ok(());
        }
        let (c, b) = (&self.cfg.cluster_name, &self.cfg.broker_name);
        let unused: BTreeSet<String> = self
            .store
            .queues()
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| unused_topic(t, self.topic(t).is_some(), c, b))
            .collect();
        for topic in unused {
            let queues = self
                .store
                .delete_topic(&topic)
                .await
                .map_err(|e| format!("{topic}: {e}"))?;
            tracing::info!(shard = %self.shard, %topic, queues, "messages of a topic with no config dropped (cleanUnusedTopic)");
        }
        Ok(())
    }

    pub(crate) async fn delete_topic(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        let h = match TopicHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        if is_system_topic(&h.topic, &self.cfg.cluster_name, &self.cfg.broker_name) {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("The topic[{}] is conflict with system topic.", h.topic),
            );
        }
        // As the Java broker: deleting a topic that is not there succeeds (mqadmin deletes on
        // every broker of a cluster, not all of which hold it).
        match self
            .control(ShardId(0), Control::DeleteTopic(h.topic))
            .await
        {
            ControlReply::Topic(Err(e)) => cmd.error_response(rs::SYSTEM_ERROR, e),
            _ => cmd.response(rs::SUCCESS),
        }
    }

    pub(crate) fn system_topics(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let (c, b) = (&self.cfg.cluster_name, &self.cfg.broker_name);
        let mut topic_list: Vec<String> = self
            .topics
            .borrow()
            .topics
            .keys()
            .filter(|t| is_system_topic(t, c, b))
            .cloned()
            .collect();
        // The Java broker lists its cluster and broker names as topics too (routes to a broker).
        for n in [c, b] {
            if !topic_list.contains(n) {
                topic_list.push(n.clone());
            }
        }
        topic_list.sort();
        cmd.response(rs::SUCCESS)
            .with_body(TopicList { topic_list }.to_json())
    }

    pub(crate) async fn topic_stats(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        let h = match TopicHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        let Some(view) = self.topic_view(&h.topic) else {
            return topic_not_exist(&cmd, &h.topic);
        };
        let queues = (0..view.write_queue_nums)
            .map(|q| (h.topic.clone(), q))
            .collect();
        let mut t = TopicStatsTable::default();
        for s in self.queue_stats(None, queues).await {
            t.offset_table.insert(
                self.mq(&s.topic, s.queue_id),
                TopicOffset {
                    min_offset: s.min_offset,
                    max_offset: s.max_offset,
                    last_update_timestamp: s.last_store_ms,
                },
            );
        }
        cmd.response(rs::SUCCESS).with_body(t.to_json())
    }

    pub(crate) async fn consume_stats(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        let h = match ConsumeStatsHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        let stats = self
            .group_consume_stats(&h.consumer_group, h.topic, false)
            .await;
        let mut all = ConsumeStats::default();
        for s in stats {
            all.consume_tps += s.consume_tps;
            all.offset_table.extend(s.offset_table);
        }
        cmd.response(rs::SUCCESS).with_body(all.to_json())
    }

    /// GET_BROKER_CONSUME_STATS (mqadmin brokerConsumeStats, exporters): the consume statistics of
    /// every group (configured or online) for every topic it has offsets for, and the total lag.
    pub(crate) async fn broker_consume_stats(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let h = BrokerConsumeStatsHeader::parse(&cmd);
        let mut groups: BTreeSet<String> = self.groups.borrow().groups.keys().cloned().collect();
        groups.extend(self.clients.borrow().consumer_groups());
        let mut body = ConsumeStatsList {
            broker_addr: self.store_host.to_string(),
            ..Default::default()
        };
        for group in groups {
            let stats = self.group_consume_stats(&group, None, h.is_order).await;
            body.total_diff += stats.iter().map(ConsumeStats::diff_total).sum::<i64>();
            body.consume_stats_list.push((group, stats));
        }
        cmd.response(rs::SUCCESS).with_body(body.to_json())
    }

    /// A group's consume statistics, one per topic (`topic`, or every topic it committed offsets
    /// for or subscribes to; only ordered topics when `order_only`). As the Java broker: a group
    /// with live subscriptions is reported for those topics only; per read queue, the max offset,
    /// the group's committed offset (0 if none) and the store time of the last message it
    /// consumed; `consumeTps` is the group's pull rate over the last minute.
    async fn group_consume_stats(
        self: &Rc<Self>,
        group: &str,
        topic: Option<String>,
        order_only: bool,
    ) -> Vec<ConsumeStats> {
        let subscribed = self.clients.borrow().subscribed_topics(group);
        let topics: BTreeSet<String> = match topic {
            Some(t) => BTreeSet::from([t]),
            None => {
                let mut t = self
                    .names_everywhere(Control::GroupTopics(group.to_string()))
                    .await;
                t.extend(subscribed.iter().cloned());
                t
            }
        };
        let topics: Vec<(String, u32)> = topics
            .into_iter()
            .filter_map(|t| {
                let cfg = self.topic(&t)?;
                let listed = subscribed.is_empty() || subscribed.contains(&t);
                (listed && (cfg.order || !order_only))
                    .then(|| (t, cfg.read_queue_nums.max(0) as u32))
            })
            .collect();
        if topics.is_empty() {
            return Vec::new();
        }
        // One round for the rates (every shard, per topic) and one for the queues (their owners).
        let mut rates = vec![0.0; topics.len()];
        let ask = Control::ConsumeRate {
            group: group.to_string(),
            topics: topics.iter().map(|(t, _)| t.clone()).collect(),
        };
        for r in self.control_all(ask).await {
            if let ControlReply::Rates(v) = r {
                rates.iter_mut().zip(v).for_each(|(sum, x)| *sum += x);
            }
        }
        let queues = topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |q| (t.clone(), q)))
            .collect();
        let mut by_topic: BTreeMap<String, ConsumeStats> = BTreeMap::new();
        for s in self.queue_stats(Some(group), queues).await {
            let consumer = s.consumer_offset.unwrap_or(0).max(0);
            by_topic
                .entry(s.topic.clone())
                .or_default()
                .offset_table
                .insert(
                    self.mq(&s.topic, s.queue_id),
                    OffsetWrapper {
                        broker_offset: s.max_offset,
                        consumer_offset: consumer,
                        pull_offset: consumer,
                        last_timestamp: s.consumed_store_ms,
                    },
                );
        }
        topics
            .into_iter()
            .zip(rates)
            .map(|((t, _), consume_tps)| ConsumeStats {
                consume_tps,
                ..by_topic.remove(&t).unwrap_or_default()
            })
            .collect()
    }

    /// GET_BROKER_HA_STATUS (mqadmin haStatus): every shard's replication links. Each shard has its
    /// own log and link, so a master lists one row per slave link (one per slave shard), and a
    /// slave reports its shards' links summed (the newest read and write times, the master
    /// address of shard 0's link, the highest log end).
    pub(crate) async fn ha_status(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        let mut shards: Vec<ShardHa> = self
            .control_all_pick(Control::HaStatus, |r| match r {
                ControlReply::Ha(h) => Some(h),
                _ => None,
            })
            .await;
        shards.sort_by_key(|s| s.shard);
        let mut info = HaRuntimeInfo {
            master: !shards.iter().any(|s| s.slave),
            master_commit_log_max_offset: shards.iter().map(|s| s.log_end).max().unwrap_or(0)
                as i64,
            ..Default::default()
        };
        for s in shards {
            info.in_sync_slave_nums += s.links.iter().filter(|l| l.in_sync).count() as i32;
            info.ha_connection_info.extend(s.links);
            let (c, sum) = (s.client, &mut info.ha_client_runtime_info);
            if sum.master_addr.is_empty() {
                sum.master_addr = c.master_addr;
            }
            sum.activated = sum.activated || c.activated;
            sum.last_read_timestamp = sum.last_read_timestamp.max(c.last_read_timestamp);
            sum.last_write_timestamp = sum.last_write_timestamp.max(c.last_write_timestamp);
            sum.master_flush_offset = sum.master_flush_offset.max(c.master_flush_offset);
            sum.max_offset = sum.max_offset.max(c.max_offset);
            sum.transferred_byte_in_second += c.transferred_byte_in_second;
        }
        cmd.response(rs::SUCCESS).with_body(info.to_json())
    }

    /// VIEW_BROKER_STATS_DATA (mqadmin statsAll, the dashboard, exporters): one item of RocketMQ's
    /// broker statistics over the last minute, hour and day, summed over the shards
    /// ([`crate::metrics::stats`]). An item no shard has is an error, as from the Java broker.
    pub(crate) async fn broker_stats_data(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let h = match ViewBrokerStatsDataHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        let not_exist = || {
            cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("The stats <{}> <{}> not exist", h.stats_name, h.stats_key),
            )
        };
        let Some(name) = StatsName::parse(&h.stats_name) else {
            return not_exist();
        };
        // The broker-wide items are keyed by the cluster name.
        let key = match name {
            StatsName::BrokerPutNums | StatsName::BrokerGetNums => {
                if h.stats_key != self.cfg.cluster_name {
                    return not_exist();
                }
                String::new()
            }
            _ => h.stats_key.clone(),
        };
        let mut total: Option<ItemStats> = None;
        for r in self.control_all(Control::StatsItem { name, key }).await {
            if let ControlReply::Stats(Some(s)) = r {
                total = Some(total.unwrap_or_default().plus(s));
            }
        }
        let Some(t) = total else {
            return not_exist();
        };
        let item = |w: crate::metrics::stats::Window| BrokerStatsItem {
            avgpt: w.avgpt(),
            sum: w.sum as i64,
            tps: w.tps,
        };
        let body = BrokerStatsData {
            stats_day: item(t.day),
            stats_hour: item(t.hour),
            stats_minute: item(t.minute),
        };
        cmd.response(rs::SUCCESS).with_body(body.to_json())
    }

    pub(crate) fn consumer_connection(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let h = match ConsumerGroupHeader::parse(cmd) {
            Ok(h) => h,
            Err(e) => return header_error(cmd, &e),
        };
        let group = h.consumer_group;
        let reg = self.clients.borrow();
        let ids = reg.consumer_ids(&group);
        if ids.is_empty() {
            return cmd.error_response(
                rs::CONSUMER_NOT_ONLINE,
                format!("the consumer group[{group}] not online"),
            );
        }
        let mut cc = ConsumerConnection::default();
        for id in &ids {
            let meta = reg.meta(id).cloned().unwrap_or_default();
            if let Some((_, ty, from)) = meta.groups.iter().find(|(g, _, _)| *g == group) {
                cc.consume_type = *ty;
                cc.consume_from_where = *from;
            }
            cc.connection_set.push(Connection {
                client_addr: meta.addr,
                client_id: id.clone(),
                language: meta.language,
                version: meta.version,
            });
        }
        cc.message_model = match reg.message_model(&group) {
            Some(crate::broker::state::clients::MessageModel::Broadcasting) => {
                crate::remoting::body::MessageModel::Broadcasting
            }
            _ => crate::remoting::body::MessageModel::Clustering,
        };
        for s in reg.subscriptions(&group) {
            cc.subscription_table
                .insert(s.topic.clone(), subscription_data(&s));
        }
        cmd.response(rs::SUCCESS).with_body(cc.to_json())
    }

    /// QUERY_CONSUME_QUEUE (mqadmin queryCq), on the queue's owner: up to `count` consume-queue
    /// entries from `index` (commit-log offset, size, tags code), the queue's min and max index,
    /// and with a group its subscription. As the Java broker: an unknown queue is SYSTEM_ERROR
    /// "Q@T is not exist!", an index outside the queue a remark (with no entries), a group that
    /// does not subscribe to the topic "G@T is not online!" as the filter data.
    pub(crate) fn query_consume_queue(
        &self,
        h: QueryConsumeQueueHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let queues = self.topic_view(&h.topic).map_or(0, |v| v.queue_count());
        if h.queue_id < 0 || h.queue_id as u32 >= queues {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("{}@{} is not exist!", h.queue_id, h.topic),
            );
        }
        let q = h.queue_id as u32;
        let (min, max) = (
            self.store.min_offset(&h.topic, q).0 as i64,
            self.store.max_offset(&h.topic, q).0 as i64,
        );
        let mut body = QueryConsumeQueueBody {
            max_queue_index: max,
            min_queue_index: min,
            ..Default::default()
        };
        if let Some(group) = &h.consumer_group {
            match self.clients.borrow().subscription(group, &h.topic) {
                Some(s) => {
                    body.filter_data = Some(match &s.sql {
                        Some(f) => serde_json::json!({
                            "consumerGroup": group, "topic": h.topic,
                            "expression": f.text(), "expressionType": "SQL92",
                        })
                        .to_string(),
                        None => "null".into(),
                    });
                    body.subscription_data = Some(subscription_data(s));
                }
                None => body.filter_data = Some(format!("{group}@{} is not online!", h.topic)),
            }
        }
        let mut resp = cmd.response(rs::SUCCESS);
        if h.index < min || h.index >= max {
            resp.remark = Some(format!(
                "Index {} of {}@{} is not exist!",
                h.index, h.queue_id, h.topic
            ));
        } else {
            let n = h.count.max(0) as usize;
            let entries = self
                .store
                .queue_entries(&h.topic, q, QueueOffset(h.index as u64), n);
            body.queue_data = Some(
                entries
                    .into_iter()
                    .map(|e| ConsumeQueueData {
                        physic_offset: e.physical_offset.get() as i64,
                        physic_size: e.size_bytes as i32,
                        tags_code: e.tags_code,
                        ..Default::default()
                    })
                    .collect(),
            );
        }
        resp.with_body(body.to_json())
    }

    /// GET_PRODUCER_CONNECTION_LIST (mqadmin producerConnection): the group's connected members, from
    /// this shard's registry replica (heartbeats reach every shard). A group with none is answered
    /// SYSTEM_ERROR, as the Java broker does.
    pub(crate) fn producer_connection(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let group = match ProducerGroupHeader::parse(cmd) {
            Ok(h) => h.producer_group,
            Err(e) => return header_error(cmd, &e),
        };
        let reg = self.clients.borrow();
        let ids = reg.producer_ids(&group);
        if ids.is_empty() {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("the producer group[{group}] not exist"),
            );
        }
        let pc = ProducerConnection {
            connection_set: ids
                .into_iter()
                .map(|id| {
                    let meta = reg.meta(&id).cloned().unwrap_or_default();
                    Connection {
                        client_addr: meta.addr,
                        client_id: id,
                        language: meta.language,
                        version: meta.version,
                    }
                })
                .collect(),
        };
        cmd.response(rs::SUCCESS).with_body(pc.to_json())
    }

    /// GET_ALL_PRODUCER_INFO (mqadmin producer): every producer group's connected producers, from
    /// this shard's registry replica.
    pub(crate) fn all_producer_info(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let reg = self.clients.borrow();
        let mut table = ProducerTableInfo::default();
        for (group, id, last_seen_ms) in reg.producer_members() {
            let meta = reg.meta(&id).cloned().unwrap_or_default();
            table.data.entry(group).or_default().push(ProducerInfo {
                client_id: id,
                language: meta.language,
                last_update_timestamp: last_seen_ms,
                remote_ip: meta.addr,
                version: meta.version,
            });
        }
        cmd.response(rs::SUCCESS).with_body(table.to_json())
    }

    pub(crate) async fn consumer_running_info(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let (Some(group), Some(client)) = (cmd.ext("consumerGroup"), cmd.ext("clientId")) else {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                "the custom fields <consumerGroup> and <clientId> are required",
            );
        };
        let ask = passed_on(&cmd);
        self.relay_to_consumer(&cmd, group, client, ask).await
    }

    /// CONSUME_MESSAGE_DIRECTLY (mqadmin `queryMsgById -g -d`, the dashboard's "resend to
    /// consumer"): the message named by its offset id, read on the shard whose log holds it, goes
    /// to one live consumer, which consumes it at once and answers how (as the Java broker: the
    /// request's fields plus `brokerName`, `topicSysFlag` and `groupSysFlag`, the stored record
    /// as the body).
    pub(crate) async fn consume_message_directly(
        self: &Rc<Self>,
        cmd: RemotingCommand,
        ctx: crate::net::RequestCtx,
    ) -> RemotingCommand {
        let (Some(group), Some(client), Some(msg_id)) = (
            cmd.ext("consumerGroup"),
            cmd.ext("clientId"),
            cmd.ext("msgId"),
        ) else {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                "the custom fields <consumerGroup>, <clientId> and <msgId> are required",
            );
        };
        let Some((_, offset)) = crate::message::decode_offset_msg_id(msg_id) else {
            return cmd.error_response(rs::SYSTEM_ERROR, format!("bad message id {msg_id}"));
        };
        let shard = crate::storage::PhysicalOffset(offset).shard();
        if usize::from(shard) >= self.router.shard_count() {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("can not find message by the offset, {offset}"),
            );
        }
        let view = OwnedRequest::ViewMessageById(ViewMessageByIdHeader {
            offset: offset as i64,
        });
        let record = match self.forward(ShardId(shard), view, cmd.clone(), ctx).await {
            Some(r) if r.code == rs::SUCCESS => r.body,
            Some(r) => return r,
            None => return cmd.error_response(rs::SYSTEM_ERROR, "the broker is shutting down"),
        };
        let mut ask = passed_on(&cmd);
        ask.set_ext("brokerName", &self.cfg.broker_name);
        if let Some(t) = cmd.ext("topic").and_then(|t| self.topic(t)) {
            ask.set_ext("topicSysFlag", t.topic_sys_flag);
        }
        if let Some(g) = self.groups.borrow().get(group) {
            ask.set_ext("groupSysFlag", g.group_sys_flag);
        }
        let ask = ask.with_body(record);
        self.relay_to_consumer(&cmd, group, client, ask).await
    }

    /// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (mqadmin getConsumerStatus): each live consumer of the
    /// group (or only `clientAddr`, a client id, when given) is asked for its own offsets of the
    /// topic (GET_CONSUMER_STATUS_FROM_CLIENT); the answer lists them by client id. As the Java
    /// broker: no consumer online is an error, a client that fails to answer is left out.
    pub(crate) async fn consumer_status(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        let (Some(topic), Some(group)) = (cmd.ext("topic"), cmd.ext("group")) else {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                "the custom fields <topic> and <group> are required",
            );
        };
        let only = cmd.ext("clientAddr").filter(|c| !c.is_empty());
        let clients = self.clients.borrow().consumer_ids(group);
        if clients.is_empty() {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("No Any Consumer online in the consumer group: [{group}]"),
            );
        }
        let mut body = ConsumerStatusBody::default();
        for client in clients
            .iter()
            .filter(|c| only.is_none_or(|o| o == c.as_str()))
        {
            let mut ask = RemotingCommand::request(rq::GET_CONSUMER_STATUS_FROM_CLIENT);
            ask.set_ext("topic", topic);
            ask.set_ext("group", group);
            match self.ask_consumer(group, client, ask).await {
                Ok(a) if a.code == rs::SUCCESS => match ConsumerStatusBody::parse(&a.body) {
                    Ok(s) => {
                        body.consumer_table
                            .insert(client.clone(), s.message_queue_table);
                    }
                    Err(e) => tracing::warn!(%client, error = %e, "unreadable consumer status"),
                },
                Ok(a) => {
                    tracing::warn!(%client, code = a.code, remark = ?a.remark, "consumer status refused")
                }
                Err(why) => tracing::warn!(%client, %why, "consumer status not answered"),
            }
        }
        cmd.response(rs::SUCCESS).with_body(body.to_json())
    }

    /// Sends `ask` to a live consumer of `group` and answers `cmd` with what it said.
    async fn relay_to_consumer(
        self: &Rc<Self>,
        cmd: &RemotingCommand,
        group: &str,
        client: &str,
        ask: RemotingCommand,
    ) -> RemotingCommand {
        match self.ask_consumer(group, client, ask).await {
            Ok(a) => {
                let mut resp = cmd.response(a.code);
                resp.remark = a.remark;
                resp.ext_fields = a.ext_fields;
                resp.with_body(a.body)
            }
            Err(why) => cmd.error_response(rs::SYSTEM_ERROR, why),
        }
    }

    /// Sends `ask` to a live consumer of `group`, through the shard holding its connection, and
    /// returns its answer; the error is a remark for the operator.
    async fn ask_consumer(
        self: &Rc<Self>,
        group: &str,
        client: &str,
        ask: RemotingCommand,
    ) -> Result<RemotingCommand, String> {
        let Some(conn) = self.clients.borrow().consumer_conn(group, client) else {
            return Err(format!("The Consumer <{client}> not online"));
        };
        self.call_client(conn, ask, CLIENT_CALL_TIMEOUT_MS)
            .await
            .map_err(|why| format!("invoke consumer <{client}> failed: {why}"))
    }

    pub(crate) async fn topic_consume_by_who(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let h = match TopicHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        let mut groups = self
            .names_everywhere(Control::TopicGroups(h.topic.clone()))
            .await;
        groups.extend(self.clients.borrow().groups_subscribed_to(&h.topic));
        let body = GroupList {
            group_list: groups.into_iter().collect(),
        };
        cmd.response(rs::SUCCESS).with_body(body.to_json())
    }

    pub(crate) async fn consume_time_span(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let h = match ConsumeStatsHeader::parse_time_span(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        let topic = h.topic.unwrap_or_default();
        let Some(view) = self.topic_view(&topic) else {
            return topic_not_exist(&cmd, &topic);
        };
        let queues = (0..view.write_queue_nums)
            .map(|q| (topic.clone(), q))
            .collect();
        let now = now_ms();
        let mut body = QueryConsumeTimeSpanBody::default();
        for s in self.queue_stats(Some(&h.consumer_group), queues).await {
            let behind = s.consumer_offset.unwrap_or(0) < s.max_offset;
            body.consume_time_span_set.push(QueueTimeSpan {
                message_queue: self.mq(&s.topic, s.queue_id),
                min_time_stamp: s.first_store_ms,
                max_time_stamp: s.last_store_ms,
                consume_time_stamp: s.consumed_store_ms,
                delay_time: if behind && s.consumed_store_ms > 0 {
                    now - s.consumed_store_ms
                } else {
                    0
                },
            });
        }
        cmd.response(rs::SUCCESS).with_body(body.to_json())
    }

    pub(crate) async fn broker_runtime_info(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let shards: Vec<ShardStat> = self
            .control_all_pick(Control::ShardStats, |r| match r {
                ControlReply::ShardStats(s) => Some(s),
                _ => None,
            })
            .await;
        let dir = self.cfg.data_dir.clone();
        let disk = glommio::executor()
            .spawn_blocking(move || disk_used_ratio(&dir))
            .await;
        let now = now_ms();
        let sum = |f: fn(&ShardStat) -> u64| shards.iter().map(f).sum::<u64>();
        let sumf = |f: fn(&ShardStat) -> f64| shards.iter().map(f).sum::<f64>();
        let in_now = sum(|s| s.in_now);
        let out_now = sum(|s| s.out_now);
        let mut t = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            t.insert(k.to_string(), v);
        };
        put(
            "brokerVersionDesc",
            format!("Bolide-{}", env!("CARGO_PKG_VERSION")),
        );
        put("bootTimestamp", self.boot_ms.to_string());
        put("runtime", runtime_text(now - self.boot_ms));
        put("shards", shards.len().to_string());
        put("msgPutTotalTodayNow", in_now.to_string());
        put("msgGetTotalTodayNow", out_now.to_string());
        put(
            "msgPutTotalTodayMorning",
            sum(|s| s.tps.in_today_morning).to_string(),
        );
        put(
            "msgGetTotalTodayMorning",
            sum(|s| s.tps.out_today_morning).to_string(),
        );
        put(
            "msgPutTotalYesterdayMorning",
            sum(|s| s.tps.in_yesterday_morning).to_string(),
        );
        put(
            "msgGetTotalYesterdayMorning",
            sum(|s| s.tps.out_yesterday_morning).to_string(),
        );
        put("putTps", format!("{:.2}", sumf(|s| s.tps.put_tps)));
        // RocketMQ 4 spells it `getTransferedTps`, RocketMQ 5 `getTransferredTps` (mqadmin 5's
        // clusterList and exportMetrics read the latter): both.
        let get_tps = format!("{:.2}", sumf(|s| s.tps.get_tps));
        put("getTransferedTps", get_tps.clone());
        put("getTransferredTps", get_tps);
        put("sendThreadPoolQueueSize", "0".into());
        put("pullThreadPoolQueueSize", "0".into());
        put("sendThreadPoolQueueHeadWaitTimeMills", "0".into());
        put("pullThreadPoolQueueHeadWaitTimeMills", "0".into());
        put("pageCacheLockTimeMills", "0".into());
        put("commitLogDiskBytes", sum(|s| s.log_bytes).to_string());
        put(
            "commitLogMinOffset",
            shards
                .iter()
                .map(|s| s.log_min)
                .min()
                .unwrap_or(0)
                .to_string(),
        );
        put(
            "commitLogMaxOffset",
            shards
                .iter()
                .map(|s| s.log_end)
                .max()
                .unwrap_or(0)
                .to_string(),
        );
        if let Ok(r) = disk {
            put("commitLogDiskRatio", format!("{r:.4}"));
        }
        // The oldest message the broker still holds: mqadmin clusterList's `#Hour` (hours of
        // messages kept) is now minus this.
        if let Some(t) = shards.iter().filter_map(|s| s.earliest_store_ms).min() {
            put("earliestMessageTimeStamp", t.to_string());
        }
        put(
            "writesRefused",
            shards
                .iter()
                .any(|s| s.writes_refused_at.is_some())
                .to_string(),
        );
        put("brokerActive", "true".into());
        cmd.response(rs::SUCCESS)
            .with_body(KvTable { table: t }.to_json())
    }

    pub(crate) fn broker_config(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let cfg = self.runtime.get().overlay(&self.cfg);
        let entries = cfg.entries();
        let body = write_properties(entries.iter().map(|(k, v)| (*k, v.as_str())));
        let mut resp = cmd.response(rs::SUCCESS).with_body(body);
        let version = DataVersion {
            counter: 0,
            timestamp: self.boot_ms,
        };
        resp.set_ext(
            "version",
            serde_json::to_string(&version).unwrap_or_default(),
        );
        resp
    }

    pub(crate) async fn update_broker_config(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let pairs = parse_properties(&cmd.body);
        if pairs.is_empty() {
            return cmd.error_response(rs::SYSTEM_ERROR, "no key=value in the request body");
        }
        let rt = match self.runtime.get().update(&self.cfg, &pairs) {
            Ok(rt) => rt,
            Err(e) => return cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        };
        self.control_all(Control::SetRuntime(rt)).await;
        tracing::info!(changed = ?pairs, runtime_keys = ?runtime_key_names(), "broker config updated at runtime (not written to the config file)");
        cmd.response(rs::SUCCESS)
    }
}

/// A live subscription as the wire has it: its tags (`*` for all) or its SQL92 expression.
fn subscription_data(s: &crate::broker::state::clients::Subscription) -> SubscriptionData {
    let mut d = match &s.sql {
        Some(f) => SubscriptionData::from_expression(&s.topic, f.text(), ExpressionType::Sql92),
        None if s.matches_all() => {
            SubscriptionData::from_expression(&s.topic, "*", ExpressionType::Tag)
        }
        None => {
            SubscriptionData::from_expression(&s.topic, &s.tags.join(" || "), ExpressionType::Tag)
        }
    };
    d.sub_version = s.sub_version;
    d
}

/// Java's `runtime` text: `[ D days, H hours, M minutes, S seconds ]`.
fn runtime_text(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        s / 86_400,
        s % 86_400 / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Used fraction of the filesystem holding `dir`.
fn disk_used_ratio(dir: &std::path::Path) -> std::io::Result<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: statvfs with a valid NUL-terminated path and a pointer to a zeroed local struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let total = st.f_blocks as f64;
    if total == 0.0 {
        return Ok(0.0);
    }
    Ok((total - st.f_bfree as f64) / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unused_topic_row_by_row() {
        // (topic, has a config, dropped): the table of `unused_topic`.
        let rows = [
            ("Orders", true, false),
            ("SCHEDULE_TOPIC_XXXX", false, false),
            ("RMQ_SYS_TRANS_HALF_TOPIC", false, false),
            ("rmq_sys_wheel_timer", false, false),
            ("DefaultCluster_REPLY_TOPIC", false, false),
            ("TBW102", false, false),
            ("%RETRY%g", false, false),
            ("%DLQ%g", false, false),
            ("Orders", false, true),
            ("OtherCluster_REPLY_TOPIC", false, true),
        ];
        for (t, has_config, want) in rows {
            assert_eq!(
                unused_topic(t, has_config, "DefaultCluster", "broker-a"),
                want,
                "{t} {has_config}"
            );
        }
    }

    #[test]
    fn system_topics_are_the_brokers_own() {
        let rows = [
            ("TBW102", true),
            ("DefaultCluster", true),
            ("broker-a", true),
            ("SCHEDULE_TOPIC_XXXX", true),
            ("RMQ_SYS_TRACE_TOPIC", true),
            ("rmq_sys_wheel_timer", true),
            ("DefaultCluster_REPLY_TOPIC", true),
            ("OtherCluster_REPLY_TOPIC", false),
            ("TopicTest", false),
            ("%RETRY%g", false),
            ("%DLQ%g", false),
        ];
        for (t, want) in rows {
            assert_eq!(
                is_system_topic(t, "DefaultCluster", "broker-a"),
                want,
                "{t}"
            );
        }
    }

    #[test]
    fn runtime_text_is_javas() {
        assert_eq!(
            runtime_text(90_061_000),
            "[ 1 days, 1 hours, 1 minutes, 1 seconds ]"
        );
        assert_eq!(
            runtime_text(-5),
            "[ 0 days, 0 hours, 0 minutes, 0 seconds ]"
        );
    }

    #[test]
    fn disk_ratio_is_a_fraction() {
        let r = disk_used_ratio(std::path::Path::new("/")).unwrap();
        assert!((0.0..=1.0).contains(&r), "{r}");
    }
}
