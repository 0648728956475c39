//! Applying [`Control`] operations on a shard: topic changes (authoritative on shard 0, replicated to
//! all), the client registry replica, queue locks, and the final shutdown step.

use std::rc::Rc;

use super::state::clients::Heartbeat;
use super::state::groups::SubscriptionGroupConfig;
use super::state::topics::{perm, TopicConfig, TopicView};
use super::Broker;
use crate::clock::now_ms;
use crate::net::{ConnId, LocalFuture};
use crate::remoting::codes::request;
use crate::remoting::RemotingCommand;
use crate::shard::ShardId;

/// Metadata operations carried by [`ShardMsg::Control`].
#[derive(Debug, Clone)]
pub enum Control {
    /// To shard 0: create or replace a topic, persist, replicate to every shard.
    UpsertTopic(TopicConfig),
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
    Heartbeat {
        hb: Heartbeat,
        conn: ConnId,
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
    /// Final step of shutdown: persist offsets and close the store.
    Shutdown,
}

/// A subscription-group change made by shard 0 ([`Broker::commit_group`]).
enum GroupChange {
    Ensure(String),
    Upsert(SubscriptionGroupConfig),
    Delete(String),
}

/// Answers to [`Control`] operations.
#[derive(Debug, Clone)]
pub enum ControlReply {
    Done,
    Topic(Result<TopicConfig, String>),
    Group(Result<SubscriptionGroupConfig, String>),
    Locked(Vec<(String, u32)>),
    Held(bool),
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
            Control::DropGroupOffsets(group) => {
                self.offsets.borrow_mut().remove_group(&group);
                ControlReply::Done
            }
            Control::Heartbeat { hb, conn } => {
                let changed = self.clients.borrow_mut().heartbeat(&hb, conn, now_ms());
                self.notify_groups(&changed);
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
                self.notify_groups(&changed);
                ControlReply::Done
            }
            Control::ConnectionClosed(conn) => {
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
        ControlReply::Topic(Ok(cfg))
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
