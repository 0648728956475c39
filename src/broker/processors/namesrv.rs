//! The NameServer role inside `bolide serve` (`namesrv_role`, on by default).
//!
//! Reads (routes, cluster info, topic list) are answered on the accepting shard from its registry
//! replica merged with this process's own broker, by the pure [`crate::nameserver`] module.
//! REGISTER_BROKER, UNREGISTER_BROKER, DELETE_TOPIC_IN_NAMESRV, WIPE/ADD_WRITE_PERM_OF_BROKER and
//! other brokers' notices (QUERY_DATA_VERSION, BROKER_HEARTBEAT, REGISTER_TOPIC_IN_NAMESRV) are
//! parsed once on the accepting shard and applied to every
//! shard's replica before the answer (like heartbeats to the client registry). KV and settings
//! writes (PUT_KV_CONFIG, DELETE_KV_CONFIG, UPDATE_NAMESRV_CONFIG) go to shard 0, which persists
//! the KV table (`kv_config_path`) and then applies them on every shard; a closed connection
//! drops what registered on it on every shard (`Control::ConnectionClosed`), and every shard expires
//! silent brokers by the same rule (`services::namesrv_expiry`).
//!
//! With the role off, these codes are answered REQUEST_CODE_NOT_SUPPORTED, as a Java broker does.

use std::rc::Rc;
use std::sync::Arc;

use crate::broker::{Broker, Control, ControlReply};
use crate::nameserver::server::channel_of;
use crate::nameserver::{self, LocalBroker, Registered};
use crate::net::{ConnId, RequestCtx};
use crate::remoting::codes::response as rs;
use crate::remoting::RemotingCommand;
use crate::shard::ShardId;

fn role_off(cmd: &RemotingCommand) -> RemotingCommand {
    cmd.error_response(
        rs::REQUEST_CODE_NOT_SUPPORTED,
        format!(
            " request type {} not supported (the NameServer role is off in this process)",
            cmd.code
        ),
    )
}

impl Broker {
    /// This process's broker as the NameServer role sees it, over `topics` (the shard's table).
    pub(crate) fn local_broker<'a>(
        &'a self,
        topics: &'a std::collections::BTreeMap<String, crate::remoting::body::TopicConfig>,
    ) -> LocalBroker<'a> {
        LocalBroker {
            cluster_name: &self.cfg.cluster_name,
            broker_name: &self.cfg.broker_name,
            broker_id: self.cfg.broker_id,
            addr: self.store_host,
            topics,
        }
    }

    pub(crate) fn nameserver(&self, cmd: &RemotingCommand) -> RemotingCommand {
        if !self.cfg.namesrv_role {
            return role_off(cmd);
        }
        let topics = self.topics.borrow();
        let me = self.local_broker(&topics.topics);
        nameserver::answer(
            Some(&me),
            &self.registry.borrow(),
            &self.namesrv_settings.borrow(),
            cmd,
        )
    }

    /// PUT_KV_CONFIG, DELETE_KV_CONFIG, UPDATE_NAMESRV_CONFIG: committed by shard 0 on every shard
    /// before the answer.
    pub(crate) async fn namesrv_settings_write(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        if !self.cfg.namesrv_role {
            return role_off(&cmd);
        }
        let changes = match nameserver::settings::changes_of(&cmd) {
            Ok(c) => c,
            Err(resp) => return resp,
        };
        match self
            .control(ShardId(0), Control::CommitNamesrvSettings(changes))
            .await
        {
            ControlReply::Committed(Err(e)) | ControlReply::Topic(Err(e)) => {
                cmd.error_response(rs::SYSTEM_ERROR, e)
            }
            _ => cmd.response(rs::SUCCESS),
        }
    }

    pub(crate) async fn register_broker(
        self: &Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        if !self.cfg.namesrv_role {
            return role_off(&cmd);
        }
        let registration = match nameserver::parse_registration(&cmd) {
            Ok(r) => Arc::new(r),
            Err(resp) => return resp,
        };
        let first = self
            .registry
            .borrow()
            .data_version(&registration.cluster, &registration.broker_addr)
            .is_none();
        if first {
            tracing::info!(cluster = %registration.cluster, broker = %registration.broker_name, id = registration.broker_id, addr = %registration.broker_addr, topics = registration.topics.len(), "broker registered");
        }
        let op = Control::RegisterBroker {
            registration,
            channel: channel_of(ctx.conn),
        };
        // The first reply is this shard's own.
        let answer = match self.control_all(op).await.into_iter().next() {
            Some(ControlReply::Registered(r)) => r,
            _ => Registered::default(),
        };
        nameserver::registered_response(&cmd, &answer, &self.namesrv_settings.borrow())
    }

    /// QUERY_DATA_VERSION, BROKER_HEARTBEAT, REGISTER_TOPIC_IN_NAMESRV: applied to every shard's
    /// replica, then answered from this shard's ([`nameserver::BrokerNotice`]).
    pub(crate) async fn broker_notice(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        if !self.cfg.namesrv_role {
            return role_off(&cmd);
        }
        let notice = match nameserver::BrokerNotice::parse(&cmd) {
            Ok(n) => Arc::new(n),
            Err(resp) => return resp,
        };
        self.control_all(Control::BrokerNotice(notice.clone()))
            .await;
        notice.response(&cmd, &self.registry.borrow())
    }

    pub(crate) async fn unregister_broker(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        if !self.cfg.namesrv_role {
            return role_off(&cmd);
        }
        let h = match nameserver::parse_unregistration(&cmd) {
            Ok(h) => h,
            Err(resp) => return resp,
        };
        tracing::info!(cluster = %h.cluster_name, broker = %h.broker_name, addr = %h.broker_addr, "broker unregistered");
        self.control_all(Control::UnregisterBroker {
            cluster: h.cluster_name,
            broker_name: h.broker_name,
            broker_addr: h.broker_addr,
        })
        .await;
        cmd.response(rs::SUCCESS)
    }

    /// DELETE_TOPIC_IN_NAMESRV: the topic leaves every shard's replica of the registry (routes of
    /// registered brokers; this process's own topics go with DELETE_TOPIC_IN_BROKER).
    pub(crate) async fn delete_topic_in_namesrv(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        if !self.cfg.namesrv_role {
            return role_off(&cmd);
        }
        let h = match nameserver::parse_topic_deletion(&cmd) {
            Ok(h) => h,
            Err(resp) => return resp,
        };
        tracing::info!(topic = %h.topic, cluster = ?h.cluster_name, "topic deleted from routes");
        self.control_all(Control::DeleteTopicInNamesrv {
            topic: h.topic,
            cluster: h.cluster_name,
        })
        .await;
        cmd.response(rs::SUCCESS)
    }

    /// WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER: applied to every shard's replica, then
    /// answered with the group's topic count (the local broker's topics included when it is the group).
    pub(crate) async fn write_perm_of_broker(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        if !self.cfg.namesrv_role {
            return role_off(&cmd);
        }
        let (name, writable) = match nameserver::parse_write_perm(&cmd) {
            Ok(x) => x,
            Err(resp) => return resp,
        };
        let replies = self
            .control_all(Control::SetWritePerm {
                broker_name: name.clone(),
                writable,
            })
            .await;
        let registered = match replies.into_iter().next() {
            Some(ControlReply::Names(n)) => n,
            _ => Vec::new(),
        };
        tracing::info!(broker = %name, writable, "write permission of broker changed");
        let topics = self.topics.borrow();
        let me = self.local_broker(&topics.topics);
        nameserver::write_perm_response(&cmd, Some(&me), &name, registered)
    }

    /// A connection closed: brokers that registered on it leave this shard's replica.
    pub(crate) fn broker_connection_closed(&self, conn: ConnId) {
        if self.registry.borrow().is_empty() {
            return;
        }
        let gone = self.registry.borrow_mut().channel_closed(channel_of(conn));
        if self.shard.0 == 0 {
            for r in gone {
                tracing::info!(cluster = %r.cluster, broker = %r.broker_name, addr = %r.broker_addr, "broker connection closed: unregistered");
            }
        }
    }
}
