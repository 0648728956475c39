//! Subscription-group administration, on the accepting shard: UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
//! (200) and DELETE_SUBSCRIPTIONGROUP (207) are applied by shard 0 (authoritative table, persisted,
//! replicated to every shard before the answer); GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) and
//! GET_SUBSCRIPTIONGROUP_CONFIG (352) read this shard's replica (352 creates a missing group, as
//! Java). A deletion with `cleanOffset`/`removeOffset` also drops the group's committed offsets on
//! every shard. CLONE_GROUP_OFFSET (314, mqadmin cloneGroupOffset) copies one group's
//! committed offsets to another on every shard, each for the queues it owns.
//!
//! Which topics a clone copies, per topic asked (`-t`, or every topic the source group has offsets
//! for: the Java broker, asked without a topic, copies nothing, a slip in its loop):
//!
//! | topic exists | `offline` | source group has live subscriptions | they include the topic | copied |
//! |---|---|---|---|---|
//! | no | any | any | any | no (skipped, still SUCCESS, as Java) |
//! | yes | true | any | any | yes |
//! | yes | false | no | - | yes |
//! | yes | false | yes | yes | yes |
//! | yes | false | yes | no | no |
//!
//! What the broker does with a group's config: `retryMaxTimes` and `retryQueueNums` shape retries
//! ([`super::retry`]); `consumeEnable = false` refuses the group's pulls, and
//! `consumeBroadcastEnable = false` refuses a broadcasting group's pulls, both with NO_PERMISSION
//! as the Java broker does ([`super::pull`]).

use std::rc::Rc;

use crate::broker::state::groups::SubscriptionGroupConfig;
use crate::broker::status::header_error;
use crate::broker::{Broker, Control, ControlReply};
use crate::clock::now_ms;
use crate::remoting::body::{DataVersion, SubscriptionGroupWrapper};
use crate::remoting::codes::response as rs;
use crate::remoting::headers::{
    CloneGroupOffsetHeader, DeleteSubscriptionGroupHeader, GroupHeader,
};
use crate::remoting::RemotingCommand;
use crate::shard::ShardId;

/// Longest group name (RocketMQ 5 `TopicValidator` applies the topic rule to groups).
pub const GROUP_NAME_MAX_BYTES: usize = 255;

impl Broker {
    pub(crate) async fn update_subscription_group(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let cfg = match SubscriptionGroupConfig::parse(&cmd.body) {
            Ok(c) => c,
            Err(e) => return cmd.error_response(rs::SYSTEM_ERROR, e.to_string()),
        };
        let name = &cfg.group_name;
        if !valid_group_name(name) {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("the group name [{name}] is illegal, allowing only ^[%|a-zA-Z0-9_-]+$"),
            );
        }
        match self.control(ShardId(0), Control::UpsertGroup(cfg)).await {
            ControlReply::Group(Ok(_)) => cmd.response(rs::SUCCESS),
            ControlReply::Group(Err(e)) => cmd.error_response(rs::SYSTEM_ERROR, e),
            _ => cmd.error_response(rs::SYSTEM_ERROR, "the broker is shutting down"),
        }
    }

    pub(crate) fn all_subscription_groups(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let t = self.groups.borrow();
        let body = SubscriptionGroupWrapper {
            data_version: DataVersion {
                counter: t.version as i64,
                timestamp: now_ms(),
            },
            subscription_group_table: t.groups.clone(),
        };
        cmd.response(rs::SUCCESS).with_body(body.to_json())
    }

    /// GET_SUBSCRIPTIONGROUP_CONFIG (352; RocketMQ's proxy asks it before serving a consumer group,
    /// `ClusterSubscriptionGroupConfigCacheLoader`): the group's config. As the Java
    /// broker's `findSubscriptionGroupConfig`, a group with a valid name and no config is created
    /// (groups are auto-created, as on a heartbeat); an invalid name is SUBSCRIPTION_GROUP_NOT_EXIST.
    pub(crate) async fn subscription_group(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let h = match GroupHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        if !valid_group_name(&h.group) {
            return cmd.error_response(rs::SUBSCRIPTION_GROUP_NOT_EXIST, "No group in this broker");
        }
        let cfg = self.ensure_group(&h.group).await;
        cmd.response(rs::SUCCESS).with_body(cfg.to_json())
    }

    pub(crate) async fn delete_subscription_group(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let h = match DeleteSubscriptionGroupHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        // As the Java broker: deleting a group that has no config is not an error.
        let _ = self
            .control(ShardId(0), Control::DeleteGroup(h.group_name.clone()))
            .await;
        if h.clean_offset {
            self.control_all(Control::DropGroupOffsets(h.group_name))
                .await;
        }
        cmd.response(rs::SUCCESS)
    }

    /// CLONE_GROUP_OFFSET: see the module comment's table ([`clone_wanted`]).
    pub(crate) async fn clone_group_offset(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let h = match CloneGroupOffsetHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        let asked: Vec<String> = match h.topic {
            Some(t) => vec![t],
            None => self
                .names_everywhere(Control::GroupTopics(h.src_group.clone()))
                .await
                .into_iter()
                .collect(),
        };
        let subscribed = self.clients.borrow().subscribed_topics(&h.src_group);
        let topics: Vec<String> = asked
            .into_iter()
            .filter(|t| {
                let listed = subscribed.iter().any(|s| s == t);
                clone_wanted(
                    self.topic(t).is_some(),
                    h.offline,
                    !subscribed.is_empty(),
                    listed,
                )
            })
            .collect();
        if !topics.is_empty() {
            let copied = self
                .names_everywhere(Control::CloneOffsets {
                    src: h.src_group.clone(),
                    dest: h.dest_group.clone(),
                    topics,
                })
                .await;
            tracing::info!(src = %h.src_group, dest = %h.dest_group, ?copied, "group offsets cloned");
        }
        cmd.response(rs::SUCCESS)
    }

    /// Makes sure a group the broker hears of has a config (Java auto-creates it, and lists it).
    pub(crate) async fn ensure_group(self: &Rc<Self>, group: &str) -> SubscriptionGroupConfig {
        if let Some(g) = self.groups.borrow().get(group) {
            return g.clone();
        }
        match self
            .control(ShardId(0), Control::EnsureGroup(group.to_string()))
            .await
        {
            ControlReply::Group(Ok(g)) => g,
            _ => self.group(group),
        }
    }
}

/// RocketMQ 5's rule for group names (`TopicValidator.validateGroup`: the topic rule).
fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= GROUP_NAME_MAX_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
}

/// Whether CLONE_GROUP_OFFSET copies a topic: the module comment's table, row by row.
pub fn clone_wanted(topic_exists: bool, offline: bool, has_subs: bool, subscribes: bool) -> bool {
    topic_exists && (offline || !has_subs || subscribes)
}

#[cfg(test)]
mod tests {
    use super::clone_wanted;

    #[test]
    fn clone_follows_the_table() {
        // (topic exists, offline, has live subscriptions, they include the topic) -> copied
        let rows = [
            ((false, true, false, false), false),
            ((false, false, true, true), false),
            ((true, true, true, false), true),
            ((true, true, false, false), true),
            ((true, false, false, false), true),
            ((true, false, true, true), true),
            ((true, false, true, false), false),
        ];
        for ((e, o, h, s), want) in rows {
            assert_eq!(clone_wanted(e, o, h, s), want, "row {:?}", (e, o, h, s));
        }
    }
}
