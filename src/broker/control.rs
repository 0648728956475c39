//! Applying [`Control`] operations on a shard: topic changes (authoritative on shard 0, replicated to
//! all), the client registry replica, queue locks, and the final shutdown step.

use std::rc::Rc;

use super::services::tps::TpsSample;
use super::state::clients::{ClientMeta, Heartbeat};
use super::state::groups::SubscriptionGroupConfig;
use super::state::topic_attributes;
use super::state::topics::{perm, TopicConfig, TopicView};
use super::Broker;
use crate::clock::now_ms;
use crate::config::RuntimeConfig;
use crate::net::{ConnId, LocalFuture};
use crate::remoting::codes::request;
use crate::remoting::RemotingCommand;
use crate::shard::ShardId;

/// Metadata operations carried by [`ShardMsg::Control`].
#[derive(Debug, Clone)]
pub enum Control {
    /// To shard 0: create or replace a topic, persist, replicate to every shard.
    UpsertTopic(TopicConfig),
    /// Shard 0: an admin's UPDATE_AND_CREATE_TOPIC; `attributes` is the header's modification
    /// (`+k=v,-k`), applied to the topic's current attributes (those in `cfg` are ignored).
    UpdateTopic {
        cfg: TopicConfig,
        attributes: String,
    },
    /// To shard 0: create `topic` if missing, from `template` (send auto-creation) or as given.
    EnsureTopic {
        topic: TopicConfig,
        template: Option<String>,
    },
    /// From shard 0 to every shard: replace the replica's entry.
    ApplyTopic(TopicConfig),
    /// To shard 0, from the owner of a queue whose topic its replica lacks: waits for the topic
    /// change in progress (replication included) and answers the topic, if it exists.
    SyncTopic(String),
    /// To shard 0: create or replace a subscription group, persist, replicate.
    UpsertGroup(SubscriptionGroupConfig),
    /// To shard 0: create the group with Java's defaults if it is missing.
    EnsureGroup(String),
    /// To shard 0: delete the group's config, persist, replicate.
    DeleteGroup(String),
    /// From shard 0 to every shard: replace the replica's entry.
    ApplyGroup(SubscriptionGroupConfig),
    /// From shard 0 to every shard: remove the replica's entry.
    ApplyGroupDelete(String),
    /// To every shard: whether the group holds unexpired queue locks there ([`ControlReply::Held`]).
    GroupLocked(String),
    /// To every shard: drop the group's committed offsets of the queues the shard owns.
    DropGroupOffsets(String),
    /// To every shard: `dest`'s offsets of each topic become a copy of `src`'s, for the queues the
    /// shard owns ([`ControlReply::Names`]: the topics it copied).
    CloneOffsets {
        src: String,
        dest: String,
        topics: Vec<String>,
    },
    Heartbeat {
        hb: Heartbeat,
        conn: ConnId,
        meta: ClientMeta,
    },
    Unregister {
        client_id: String,
        producer_group: String,
        consumer_group: String,
    },
    ConnectionClosed(ConnId),
    Lock {
        group: String,
        client_id: String,
        queues: Vec<(String, u32)>,
    },
    Unlock {
        group: String,
        client_id: String,
        queues: Vec<(String, u32)>,
    },
    /// To every shard of a slave: the master's replication address (from the NameServer).
    HaMasterAddress(String),
    /// To shard 0: delete a topic, persist, replicate the deletion to every shard.
    DeleteTopic(String),
    /// From shard 0 to every shard: drop the replica's entry and this shard's offsets of the topic.
    ApplyDeleteTopic(String),
    /// To a queue's owner: offsets and store times of the queues it owns, and `group`'s committed
    /// offsets of them.
    QueueStats {
        group: Option<String>,
        queues: Vec<(String, u32)>,
    },
    /// Topics a group has committed offsets for on this shard.
    GroupTopics(String),
    /// Groups that committed offsets for a topic on this shard.
    TopicGroups(String),
    /// Messages a second a group pulled from each of these topics on this shard, over the last
    /// minute ([`ControlReply::Rates`], in the order of `topics`).
    ConsumeRate {
        group: String,
        topics: Vec<String>,
    },
    /// This shard's part of one broker statistics item ([`ControlReply::Stats`]).
    StatsItem {
        name: crate::metrics::stats::StatsName,
        key: String,
    },
    /// This shard's message rates and commit-log extent.
    ShardStats,
    /// This shard's replication links ([`ControlReply::Ha`]).
    HaStatus,
    /// Replace the runtime-changeable settings.
    SetRuntime(RuntimeConfig),
    /// Run retention now, with this shard's latest consumed floors ([`ControlReply::Committed`]).
    RunRetention,
    /// Empty this shard's queues of topics that have no config ([`ControlReply::Committed`]).
    CleanUnusedTopics,
    /// Send a request to a client on a connection this shard holds and wait for its answer.
    AskClient {
        conn: u64,
        cmd: RemotingCommand,
        timeout_ms: u64,
    },
    /// NameServer role, to every shard: a broker registered (on connection `channel`).
    RegisterBroker {
        registration: std::sync::Arc<crate::nameserver::Registration>,
        channel: crate::nameserver::Channel,
    },
    /// NameServer role, to every shard: a broker unregistered.
    UnregisterBroker {
        cluster: String,
        broker_name: String,
        broker_addr: String,
    },
    /// NameServer role, to every shard: another broker's liveness notice or topic registration.
    BrokerNotice(std::sync::Arc<crate::nameserver::BrokerNotice>),
    /// NameServer role, to every shard: a topic leaves the routes of registered brokers.
    DeleteTopicInNamesrv {
        topic: String,
        cluster: Option<String>,
    },
    /// NameServer role, to every shard: wipe (false) or add back (true) a group's write
    /// permission in routes; answers the registry's topics of the group ([`ControlReply::Names`]).
    SetWritePerm {
        broker_name: String,
        writable: bool,
    },
    /// NameServer role, to shard 0: apply KV or settings changes, persist the KV table, then
    /// apply them on every other shard ([`Control::ApplyNamesrvSettings`]).
    CommitNamesrvSettings(Vec<crate::nameserver::settings::Change>),
    /// NameServer role, from shard 0: apply changes shard 0 committed to this shard's replica.
    ApplyNamesrvSettings(Vec<crate::nameserver::settings::Change>),
    /// Final step of shutdown: persist offsets and close the store.
    Shutdown,
}

/// A subscription-group change made by shard 0 ([`Broker::commit_group`]).
enum GroupChange {
    Ensure(String),
    Upsert(SubscriptionGroupConfig),
    Delete(String),
}

/// One queue's figures for operators ([`Control::QueueStats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStat {
    pub topic: String,
    pub queue_id: u32,
    pub min_offset: i64,
    pub max_offset: i64,
    /// Store time of the newest message (0 when the queue is empty).
    pub last_store_ms: i64,
    /// Store time of the oldest readable message (0 when empty).
    pub first_store_ms: i64,
    /// The group's committed offset, if it committed one.
    pub consumer_offset: Option<i64>,
    /// Store time of the last message the group consumed (0 if none).
    pub consumed_store_ms: i64,
}

/// A shard's figures for GET_BROKER_RUNTIME_INFO ([`Control::ShardStats`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardStat {
    pub tps: TpsSample,
    /// Messages stored and returned by pulls, now.
    pub in_now: u64,
    pub out_now: u64,
    /// Bytes of this shard's commit log still readable.
    pub log_bytes: u64,
    pub log_min: u64,
    pub log_end: u64,
    /// Store time of the oldest message still in this shard's commit log, if it has any.
    pub earliest_store_ms: Option<i64>,
    /// Disk usage (percent) at which this shard refuses writes now, if it does.
    pub writes_refused_at: Option<u8>,
}

/// A shard's replication status for GET_BROKER_HA_STATUS ([`Control::HaStatus`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardHa {
    pub shard: u16,
    pub slave: bool,
    pub log_end: u64,
    /// Master: each open slave link.
    pub links: Vec<crate::remoting::body::HaConnectionInfo>,
    /// Slave: the link to the master.
    pub client: crate::remoting::body::HaClientInfo,
}

/// Answers to [`Control`] operations.
#[derive(Debug, Clone)]
pub enum ControlReply {
    Done,
    Topic(Result<TopicConfig, String>),
    Group(Result<SubscriptionGroupConfig, String>),
    Locked(Vec<(String, u32)>),
    Held(bool),
    QueueStats(Vec<QueueStat>),
    /// One rate per item asked, in the order asked.
    Rates(Vec<f64>),
    Names(Vec<String>),
    ShardStats(ShardStat),
    /// This shard's replication status.
    Ha(ShardHa),
    /// A statistics item's figures on this shard, if it has the item.
    Stats(Option<crate::metrics::stats::ItemStats>),
    ClientAnswer(Result<RemotingCommand, String>),
    Registered(crate::nameserver::Registered),
    /// A change committed, or why not.
    Committed(Result<(), String>),
}

impl Broker {
    pub(crate) fn apply_control(self: Rc<Self>, op: Control) -> LocalFuture<ControlReply> {
        Box::pin(async move { self.apply_control_inner(op).await })
    }

    async fn apply_control_inner(self: Rc<Self>, op: Control) -> ControlReply {
        match op {
            Control::UpsertTopic(cfg) => {
                debug_assert_eq!(self.shard, ShardId(0), "topics change on shard 0 only");
                self.commit_topic(cfg).await
            }
            Control::UpdateTopic { cfg, attributes } => {
                debug_assert_eq!(self.shard, ShardId(0), "topics change on shard 0 only");
                self.commit_topic_altered(cfg, attributes).await
            }
            Control::EnsureTopic { topic, template } => {
                if let Some(existing) = self.topic(&topic.topic_name) {
                    return ControlReply::Topic(Ok(existing));
                }
                let cfg = match template {
                    None => topic,
                    Some(t) => match self.topic(&t) {
                        Some(tpl) if tpl.perm & perm::INHERIT != 0 => TopicConfig {
                            read_queue_nums: topic.read_queue_nums.min(tpl.write_queue_nums).max(1),
                            write_queue_nums: topic
                                .write_queue_nums
                                .min(tpl.write_queue_nums)
                                .max(1),
                            perm: tpl.perm & !perm::INHERIT,
                            ..topic
                        },
                        _ => {
                            return ControlReply::Topic(Err(format!(
                                "topic {} does not exist and auto-creation from {t} is not allowed",
                                topic.topic_name
                            )))
                        }
                    },
                };
                self.commit_topic(cfg).await
            }
            Control::ApplyTopic(cfg) => {
                self.topics.borrow_mut().upsert(cfg);
                ControlReply::Done
            }
            Control::SyncTopic(name) => {
                debug_assert_eq!(self.shard, ShardId(0), "topics change on shard 0 only");
                let _permit = self.meta_commit.acquire_permit(1).await;
                ControlReply::Topic(
                    self.topic(&name)
                        .ok_or_else(|| format!("topic[{name}] not exist")),
                )
            }
            Control::UpsertGroup(cfg) => self.commit_group(GroupChange::Upsert(cfg)).await,
            Control::EnsureGroup(name) => {
                if let Some(g) = self.groups.borrow().get(&name) {
                    return ControlReply::Group(Ok(g.clone()));
                }
                self.commit_group(GroupChange::Ensure(name)).await
            }
            Control::DeleteGroup(name) => self.commit_group(GroupChange::Delete(name)).await,
            Control::ApplyGroup(cfg) => {
                self.groups.borrow_mut().upsert(cfg);
                ControlReply::Done
            }
            Control::ApplyGroupDelete(name) => {
                self.groups.borrow_mut().remove(&name);
                ControlReply::Done
            }
            Control::GroupLocked(group) => {
                ControlReply::Held(self.locks.borrow().group_holds_any(&group, now_ms()))
            }
            Control::HaMasterAddress(addr) => {
                *self.ha.master_addr.borrow_mut() = Some(addr);
                ControlReply::Done
            }
            Control::DropGroupOffsets(group) => {
                self.offsets.borrow_mut().remove_group(&group);
                // Its pop states go with its offsets: nothing would ever read them again.
                self.pops.borrow_mut().remove_where(Some(&group), None);
                ControlReply::Done
            }
            Control::CloneOffsets { src, dest, topics } => {
                let mut o = self.offsets.borrow_mut();
                let copied = topics
                    .into_iter()
                    .filter(|t| o.clone_offsets(&src, &dest, t))
                    .collect();
                ControlReply::Names(copied)
            }
            Control::Heartbeat { hb, conn, meta } => {
                let changed = {
                    let mut c = self.clients.borrow_mut();
                    c.set_meta(&hb.client_id, meta);
                    c.heartbeat(&hb, conn, now_ms())
                };
                self.notify_groups(&self.groups_taking_notices(changed));
                ControlReply::Done
            }
            Control::Unregister {
                client_id,
                producer_group,
                consumer_group,
            } => {
                let changed = self.clients.borrow_mut().unregister(
                    &client_id,
                    &producer_group,
                    &consumer_group,
                );
                self.notify_groups(&self.groups_taking_notices(changed));
                ControlReply::Done
            }
            Control::ConnectionClosed(conn) => {
                self.broker_connection_closed(conn);
                let (changed, gone) = self.clients.borrow_mut().connection_closed(conn);
                self.locks.borrow_mut().release_clients(&gone);
                self.notify_groups(&changed);
                ControlReply::Done
            }
            Control::Lock {
                group,
                client_id,
                queues,
            } => ControlReply::Locked(self.locks.borrow_mut().try_lock(
                &group,
                &client_id,
                &queues,
                now_ms(),
            )),
            Control::Unlock {
                group,
                client_id,
                queues,
            } => {
                self.locks.borrow_mut().unlock(&group, &client_id, &queues);
                ControlReply::Done
            }
            Control::DeleteTopic(name) => {
                debug_assert_eq!(self.shard, ShardId(0), "topics change on shard 0 only");
                self.delete_topic_everywhere(name).await
            }
            Control::ApplyDeleteTopic(name) => {
                self.topics.borrow_mut().remove(&name);
                self.offsets.borrow_mut().remove_topic(&name);
                self.pops.borrow_mut().remove_where(None, Some(&name));
                // Its messages go too, as the Java broker deletes the topic's consume queues: a
                // topic created again under the name starts empty.
                match self.store.delete_topic(&name).await {
                    Ok(_) => ControlReply::Done,
                    Err(e) => {
                        tracing::error!(topic = %name, shard = %self.shard, error = %e, "cannot drop a deleted topic's messages");
                        ControlReply::Topic(Err(format!(
                            "topic config deleted, but its messages could not be dropped on shard {}: {e}",
                            self.shard
                        )))
                    }
                }
            }
            Control::QueueStats { group, queues } => {
                let mut out = Vec::with_capacity(queues.len());
                for (topic, q) in queues {
                    out.push(self.queue_stat(group.as_deref(), topic, q).await);
                }
                ControlReply::QueueStats(out)
            }
            Control::GroupTopics(group) => {
                ControlReply::Names(self.offsets.borrow().topics_of_group(&group))
            }
            Control::TopicGroups(topic) => {
                ControlReply::Names(self.offsets.borrow().groups_of_topic(&topic))
            }
            Control::ConsumeRate { group, topics } => {
                let stats = self.metrics.stats.borrow();
                ControlReply::Rates(
                    topics
                        .iter()
                        .map(|t| stats.consume_tps(t, &group))
                        .collect(),
                )
            }
            Control::HaStatus => ControlReply::Ha(self.ha_shard_status()),
            Control::StatsItem { name, key } => {
                ControlReply::Stats(self.metrics.stats.borrow().item(name, &key))
            }
            Control::ShardStats => {
                let (min, end) = (self.store.min_physical_offset().0, self.store.log_end().0);
                let earliest_store_ms = match min < end {
                    true => self
                        .store
                        .read_record(self.store.min_physical_offset())
                        .await
                        .ok()
                        .and_then(|r| {
                            crate::message::decode_record(&r, false)
                                .ok()
                                .map(|v| v.store_timestamp_ms)
                        }),
                    false => None,
                };
                ControlReply::ShardStats(ShardStat {
                    earliest_store_ms,
                    tps: self.tps.get(),
                    in_now: self.metrics.messages_in.get(),
                    out_now: self.metrics.messages_out.get(),
                    log_bytes: end.saturating_sub(min),
                    log_min: min,
                    log_end: end,
                    writes_refused_at: self.store.writes_refused_at(),
                })
            }
            Control::RunRetention => {
                self.push_consumed_floors();
                match self.store.run_retention().await {
                    Ok(segments) => {
                        tracing::info!(shard = %self.shard, segments, "retention run on request");
                        ControlReply::Committed(Ok(()))
                    }
                    Err(e) => ControlReply::Committed(Err(e.to_string())),
                }
            }
            Control::CleanUnusedTopics => ControlReply::Committed(self.clean_unused_here().await),
            Control::AskClient {
                conn,
                cmd,
                timeout_ms,
            } => ControlReply::ClientAnswer(
                self.call_client_here(conn, cmd, std::time::Duration::from_millis(timeout_ms))
                    .await,
            ),
            Control::SetRuntime(rt) => {
                self.runtime.set(rt);
                ControlReply::Done
            }
            Control::RegisterBroker {
                registration,
                channel,
            } => ControlReply::Registered(self.registry.borrow_mut().register(
                &registration,
                Some(channel),
                now_ms(),
            )),
            Control::UnregisterBroker {
                cluster,
                broker_name,
                broker_addr,
            } => {
                self.registry
                    .borrow_mut()
                    .unregister(&cluster, &broker_name, &broker_addr);
                ControlReply::Done
            }
            Control::BrokerNotice(n) => {
                n.apply(&mut self.registry.borrow_mut(), now_ms());
                ControlReply::Done
            }
            Control::DeleteTopicInNamesrv { topic, cluster } => {
                self.registry
                    .borrow_mut()
                    .delete_topic(&topic, cluster.as_deref());
                ControlReply::Done
            }
            Control::SetWritePerm {
                broker_name,
                writable,
            } => ControlReply::Names(
                self.registry
                    .borrow_mut()
                    .set_writable(&broker_name, writable),
            ),
            Control::CommitNamesrvSettings(changes) => {
                debug_assert_eq!(self.shard, ShardId(0), "settings change on shard 0 only");
                ControlReply::Committed(self.commit_namesrv_settings(changes).await)
            }
            Control::ApplyNamesrvSettings(changes) => {
                let mut s = self.namesrv_settings.borrow_mut();
                for c in &changes {
                    s.apply(c);
                }
                ControlReply::Done
            }
            Control::Shutdown => {
                self.persist_offsets().await;
                if let Err(e) = self.store.flush().await {
                    tracing::error!(shard = %self.shard, error = %e, "final flush failed");
                }
                ControlReply::Done
            }
        }
    }

    /// Shard 0: persist the new table, replicate the change to every shard, then answer. One change
    /// at a time ([`Broker::meta_commit`]): an owner that misses the topic waits on it.
    async fn commit_topic(self: &Rc<Self>, cfg: TopicConfig) -> ControlReply {
        let _permit = self.meta_commit.acquire_permit(1).await;
        self.commit_topic_held(cfg).await
    }

    /// Shard 0: an admin's create or update, its attribute modification applied to the topic's
    /// current attributes under the commit permit (two updates never both start from the same
    /// attributes). A modification the rules refuse changes nothing.
    async fn commit_topic_altered(
        self: &Rc<Self>,
        mut cfg: TopicConfig,
        modification: String,
    ) -> ControlReply {
        let _permit = self.meta_commit.acquire_permit(1).await;
        let current = self.topic(&cfg.topic_name).map(|c| c.attributes);
        match topic_attributes::alter(current.as_ref(), &modification) {
            Ok(a) => cfg.attributes = a,
            Err(e) => return ControlReply::Topic(Err(e)),
        }
        self.commit_topic_held(cfg).await
    }

    async fn commit_topic_held(self: &Rc<Self>, cfg: TopicConfig) -> ControlReply {
        let table = {
            let mut t = self.topics.borrow_mut();
            t.upsert(cfg.clone());
            t.clone()
        };
        let path = self.cfg.data_dir.join("topics.json");
        let shown = path.clone();
        let saved = glommio::executor()
            .spawn_blocking(move || table.save(&path))
            .await;
        let path = shown;
        if let Err(e) = saved {
            tracing::error!(path = %path.display(), error = %e, "cannot persist topics");
            return ControlReply::Topic(Err(format!("cannot persist topic config: {e}")));
        }
        tracing::info!(topic = %cfg.topic_name, queues = TopicView::from(&cfg).queue_count(), perm = cfg.perm, "topic created or updated");
        for s in self.router.shards().filter(|s| *s != self.shard) {
            let _ = self.control(s, Control::ApplyTopic(cfg.clone())).await;
        }
        self.kick_registration();
        ControlReply::Topic(Ok(cfg))
    }

    /// Shard 0: the settings NameServer KV or settings changes lead to ([`Settings::after`]), the
    /// KV table persisted first when it changed, made current, applied on every other shard, then
    /// the answer. A failed write changes nothing; a change that changes nothing writes nothing.
    ///
    /// [`Settings::after`]: crate::nameserver::Settings::after
    async fn commit_namesrv_settings(
        self: &Rc<Self>,
        changes: Vec<crate::nameserver::settings::Change>,
    ) -> Result<(), String> {
        use crate::nameserver::settings::persist_bytes;
        let _permit = self.meta_commit.acquire_permit(1).await;
        let Some((next, file)) = self.namesrv_settings.borrow().after(&changes) else {
            return Ok(());
        };
        if let Some(bytes) = file {
            let path = next.kv_config_path.clone();
            let shown = path.display().to_string();
            let saved = glommio::executor()
                .spawn_blocking(move || persist_bytes(&path, &bytes))
                .await;
            if let Err(e) = saved {
                tracing::error!(path = %shown, error = %e, "cannot persist the KV config");
                return Err(format!("cannot persist the KV config to {shown}: {e}"));
            }
        }
        tracing::info!(?changes, "NameServer settings changed");
        *self.namesrv_settings.borrow_mut() = next;
        for s in self.router.shards().filter(|s| *s != self.shard) {
            let _ = self
                .control(s, Control::ApplyNamesrvSettings(changes.clone()))
                .await;
        }
        Ok(())
    }

    /// Shard 0: apply a group change, persist the table, replicate to every shard, then answer.
    async fn commit_group(self: &Rc<Self>, change: GroupChange) -> ControlReply {
        debug_assert_eq!(self.shard, ShardId(0), "groups change on shard 0 only");
        let _permit = self.meta_commit.acquire_permit(1).await;
        let (table, apply, answer) = {
            let mut t = self.groups.borrow_mut();
            let (apply, answer) = match change {
                GroupChange::Ensure(name) => {
                    if let Some(g) = t.get(&name) {
                        return ControlReply::Group(Ok(g.clone()));
                    }
                    let g = SubscriptionGroupConfig::new(&name);
                    t.upsert(g.clone());
                    (Control::ApplyGroup(g.clone()), Ok(g))
                }
                GroupChange::Upsert(g) => {
                    t.upsert(g.clone());
                    (Control::ApplyGroup(g.clone()), Ok(g))
                }
                GroupChange::Delete(name) => {
                    let old = t.get(&name).cloned();
                    if !t.remove(&name) {
                        return ControlReply::Group(Err(format!(
                            "the subscription group[{name}] does not exist"
                        )));
                    }
                    let old = old.unwrap_or_else(|| SubscriptionGroupConfig::new(&name));
                    (Control::ApplyGroupDelete(name), Ok(old))
                }
            };
            (t.clone(), apply, answer)
        };
        let path = self.cfg.data_dir.join(super::state::groups::GROUPS_FILE);
        let shown = path.display().to_string();
        let saved = glommio::executor()
            .spawn_blocking(move || table.save(&path))
            .await;
        if let Err(e) = saved {
            tracing::error!(path = %shown, error = %e, "cannot persist subscription groups");
            return ControlReply::Group(Err(format!(
                "cannot persist subscription group config: {e}"
            )));
        }
        for s in self.router.shards().filter(|s| *s != self.shard) {
            let _ = self.control(s, apply.clone()).await;
        }
        ControlReply::Group(answer)
    }

    /// Shard 0: remove the topic from the table, persist, apply the deletion on every shard (its
    /// offsets and its messages there), then answer; the first shard's failure is the answer.
    async fn delete_topic_everywhere(self: &Rc<Self>, name: String) -> ControlReply {
        let _permit = self.meta_commit.acquire_permit(1).await;
        let table = {
            let mut t = self.topics.borrow_mut();
            t.remove(&name).then(|| t.clone())
        };
        // Already gone here: the other shards may still hold offsets or messages of it.
        if let Some(table) = table {
            let path = self.cfg.data_dir.join("topics.json");
            let saved = glommio::executor()
                .spawn_blocking(move || table.save(&path))
                .await;
            if let Err(e) = saved {
                tracing::error!(error = %e, "cannot persist topics");
                return ControlReply::Topic(Err(format!("cannot persist topic config: {e}")));
            }
            tracing::info!(topic = %name, "topic deleted");
        }
        let mut answer = ControlReply::Done;
        for s in self.router.shards() {
            let r = self
                .control(s, Control::ApplyDeleteTopic(name.clone()))
                .await;
            if matches!(r, ControlReply::Topic(Err(_))) && matches!(answer, ControlReply::Done) {
                answer = r;
            }
        }
        answer
    }

    /// Store time of the message at `offset` of a queue; 0 when there is none or it cannot be read.
    async fn store_time_at(&self, topic: &str, queue_id: u32, offset: i64) -> i64 {
        let Ok(off) = u64::try_from(offset) else {
            return 0;
        };
        let Some(e) = self
            .store
            .queue_entries(topic, queue_id, crate::storage::QueueOffset(off), 1)
            .into_iter()
            .next()
        else {
            return 0;
        };
        match self.store.read_record(e.physical_offset).await {
            Ok(bytes) => crate::message::decode_record(&bytes, false)
                .map(|r| r.store_timestamp_ms)
                .unwrap_or(0),
            Err(_) => 0,
        }
    }

    async fn queue_stat(&self, group: Option<&str>, topic: String, q: u32) -> QueueStat {
        let min = self.store.min_offset(&topic, q).0 as i64;
        let max = self.store.max_offset(&topic, q).0 as i64;
        let consumer_offset = group.and_then(|g| self.offsets.borrow().query(g, &topic, q));
        let last_store_ms = if max > min {
            self.store_time_at(&topic, q, max - 1).await
        } else {
            0
        };
        let first_store_ms = if max > min {
            self.store_time_at(&topic, q, min).await
        } else {
            0
        };
        let consumed_store_ms = match consumer_offset {
            Some(c) if c > min => self.store_time_at(&topic, q, c - 1).await,
            _ => 0,
        };
        QueueStat {
            topic,
            queue_id: q,
            min_offset: min,
            max_offset: max,
            last_store_ms,
            first_store_ms,
            consumer_offset,
            consumed_store_ms,
        }
    }

    /// Of the groups a heartbeat or an unregister changed, those to tell: all but the groups whose
    /// subscription group config turns the notices off (`notifyConsumerIdsChangedEnable`, `mqadmin
    /// updateSubGroup -a false`); their members find a change at their own rebalance (every 20 s).
    /// As in the Java broker, a closed connection or an expiry tells every group regardless.
    fn groups_taking_notices(&self, mut changed: Vec<String>) -> Vec<String> {
        let groups = self.groups.borrow();
        changed.retain(|g| {
            groups
                .get(g)
                .is_none_or(|cfg| cfg.notify_consumer_ids_changed_enable)
        });
        changed
    }

    /// Shard 0 tells every member of each group that membership changed (they rebalance at once).
    pub(crate) fn notify_groups(&self, groups: &[String]) {
        if self.shard != ShardId(0) {
            return;
        }
        for g in groups {
            let conns = self.clients.borrow().consumer_conns(g);
            for conn in conns {
                let mut cmd = RemotingCommand::request(request::NOTIFY_CONSUMER_IDS_CHANGED);
                cmd.flag |= crate::remoting::FLAG_ONEWAY;
                cmd.set_ext("consumerGroup", g);
                self.push(conn, cmd);
            }
        }
    }
}
