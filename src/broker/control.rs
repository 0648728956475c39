//! Applying [`Control`] operations on a shard: topic changes (authoritative on shard 0, replicated to
//! all), the client registry replica, queue locks, and the final shutdown step.

use std::rc::Rc;

use super::state::clients::Heartbeat;
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
    /// Final step of shutdown: persist offsets and close the store.
    Shutdown,
}

/// Answers to [`Control`] operations.
#[derive(Debug, Clone)]
pub enum ControlReply {
    Done,
    Topic(Result<TopicConfig, String>),
    Locked(Vec<(String, u32)>),
    Registered(crate::nameserver::Registered),
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
            Control::Shutdown => {
                self.persist_offsets().await;
                if let Err(e) = self.store.flush().await {
                    tracing::error!(shard = %self.shard, error = %e, "final flush failed");
                }
                ControlReply::Done
            }
        }
    }

    /// Shard 0: persist the new table, replicate the change to every shard, then answer.
    async fn commit_topic(self: &Rc<Self>, cfg: TopicConfig) -> ControlReply {
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
