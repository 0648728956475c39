//! Client registry requests, on the accepting shard: HEART_BEAT (34) and UNREGISTER_CLIENT (35) are
//! applied on every shard's registry replica before they are answered; GET_CONSUMER_LIST_BY_GROUP
//! (38) reads this shard's replica; CHECK_CLIENT_CONFIG (46) looks at the subscription only.

use std::rc::Rc;

use crate::broker::state::clients::{
    ClientMeta, Heartbeat, HeartbeatConsumerGroup, MessageModel, Subscription,
};
use crate::broker::state::topics::{perm, TopicConfig, RETRY_PREFIX};
use crate::broker::status::header_error;
use crate::broker::{Broker, Control, ControlReply};
use crate::net::RequestCtx;
use crate::remoting::body;
use crate::remoting::codes::response as rs;
use crate::remoting::headers::{ConsumerGroupHeader, UnregisterClientHeader};
use crate::remoting::RemotingCommand;
use crate::shard::ShardId;

impl Broker {
    /// Creates the config and the `%RETRY%` topic of each consumer group it has not seen (through
    /// shard 0), then applies the heartbeat on every shard.
    pub(crate) async fn heartbeat(
        self: &Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> RemotingCommand {
        let data = match body::HeartbeatData::parse(&cmd.body) {
            Ok(d) => d,
            Err(e) => {
                return cmd.error_response(rs::SYSTEM_ERROR, format!("bad heartbeat body: {e}"))
            }
        };
        let hb = heartbeat_from_wire(&data);
        for c in &hb.consumers {
            let group = self.ensure_group(&c.group).await;
            let retry = format!("{RETRY_PREFIX}{}", c.group);
            if self.topic(&retry).is_none() {
                let queues = group.retry_queue_nums.max(1);
                let cfg = TopicConfig::new(&retry, queues, perm::READ_WRITE);
                if let ControlReply::Topic(Err(e)) = self
                    .control(
                        ShardId(0),
                        Control::EnsureTopic {
                            topic: cfg,
                            template: None,
                        },
                    )
                    .await
                {
                    return cmd.error_response(rs::SYSTEM_ERROR, e);
                }
            }
        }
        let meta = ClientMeta {
            addr: ctx.peer.to_string(),
            language: cmd.language.clone(),
            version: cmd.version,
            groups: data
                .consumer_data_set
                .iter()
                .map(|c| (c.group_name.clone(), c.consume_type, c.consume_from_where))
                .collect(),
        };
        self.control_all(Control::Heartbeat {
            hb,
            conn: ctx.conn,
            meta,
        })
        .await;
        cmd.response(rs::SUCCESS)
    }

    pub(crate) async fn unregister_client(
        self: &Rc<Self>,
        cmd: RemotingCommand,
    ) -> RemotingCommand {
        let h = match UnregisterClientHeader::parse(&cmd) {
            Ok(h) => h,
            Err(e) => return header_error(&cmd, &e),
        };
        let op = Control::Unregister {
            client_id: h.client_id,
            producer_group: h.producer_group.unwrap_or_default(),
            consumer_group: h.consumer_group.unwrap_or_default(),
        };
        self.control_all(op).await;
        cmd.response(rs::SUCCESS)
    }

    pub(crate) fn consumer_list(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let h = match ConsumerGroupHeader::parse(cmd) {
            Ok(h) => h,
            Err(e) => return header_error(cmd, &e),
        };
        let ids = self.clients.borrow().consumer_ids(&h.consumer_group);
        if ids.is_empty() {
            return cmd.error_response(
                rs::SYSTEM_ERROR,
                format!("no consumer for this group, {}", h.consumer_group),
            );
        }
        cmd.response(rs::SUCCESS).with_body(
            body::ConsumerListBody {
                consumer_id_list: ids,
            }
            .to_json(),
        )
    }
}

/// Answers SUCCESS for TAG subscriptions; SQL92 is refused until property filters exist.
pub(crate) fn check_client_config(cmd: &RemotingCommand) -> RemotingCommand {
    let is_sql = serde_json::from_slice::<serde_json::Value>(&cmd.body)
        .ok()
        .and_then(|v| {
            v.pointer("/subscriptionData/expressionType")
                .and_then(|t| t.as_str())
                .map(|t| t.eq_ignore_ascii_case("SQL92"))
        })
        .unwrap_or(false);
    if is_sql {
        cmd.error_response(
            rs::SYSTEM_ERROR,
            "The broker does not support consumer to filter message by SQL92",
        )
    } else {
        cmd.response(rs::SUCCESS)
    }
}

/// The broker's view of a wire heartbeat: tag codes recomputed from the tags (clients' codeSets differ).
fn heartbeat_from_wire(data: &body::HeartbeatData) -> Heartbeat {
    Heartbeat {
        client_id: data.client_id.clone(),
        consumers: data
            .consumer_data_set
            .iter()
            .map(|c| HeartbeatConsumerGroup {
                group: c.group_name.clone(),
                message_model: match c.message_model {
                    body::MessageModel::Broadcasting => MessageModel::Broadcasting,
                    body::MessageModel::Clustering => MessageModel::Clustering,
                },
                subscriptions: c
                    .subscription_data_set
                    .iter()
                    .map(|s| Subscription::from_expression(&s.topic, &s.sub_string, s.sub_version))
                    .collect(),
            })
            .collect(),
        producer_groups: data
            .producer_data_set
            .iter()
            .map(|p| p.group_name.clone())
            .collect(),
    }
}
