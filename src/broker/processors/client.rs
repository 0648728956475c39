//! Client registry requests, on the accepting shard: HEART_BEAT (34) and UNREGISTER_CLIENT (35) are
//! applied on every shard's registry replica before they are answered; GET_CONSUMER_LIST_BY_GROUP
//! (38) reads this shard's replica; CHECK_CLIENT_CONFIG (46) looks at the subscription only (a SQL92
//! one is compiled to report where it fails).

use std::rc::Rc;

use crate::broker::state::clients::{
    ClientMeta, ClientRegistry, Heartbeat, HeartbeatConsumerGroup, MessageModel, Subscription,
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
        let hb = heartbeat_from_wire(&data, &self.clients.borrow());
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
            language: cmd.language.to_string(),
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

/// The Java broker's remark when SQL92 is off (`enablePropertyFilter=false`).
pub(crate) const SQL92_DISABLED: &str =
    "The broker does not support consumer to filter message by SQL92";

/// CHECK_CLIENT_CONFIG (46), like Java `ClientManageProcessor.checkClientConfig`:
///
/// | subscription | property filter | answer |
/// |---|---|---|
/// | TAG (or no subscription) | any | SUCCESS |
/// | SQL92 | off | SYSTEM_ERROR, [`SQL92_DISABLED`] |
/// | SQL92, does not compile | on | SUBSCRIPTION_PARSE_FAILED, the parser's reason and position |
/// | SQL92, compiles | on | SUCCESS |
pub(crate) fn check_client_config(cmd: &RemotingCommand, property_filter: bool) -> RemotingCommand {
    let v = serde_json::from_slice::<serde_json::Value>(&cmd.body).ok();
    let sub = v.as_ref().and_then(|v| v.pointer("/subscriptionData"));
    let is_sql = sub
        .and_then(|s| s.get("expressionType"))
        .and_then(|t| t.as_str())
        .is_some_and(|t| t.eq_ignore_ascii_case("SQL92"));
    if !is_sql {
        return cmd.response(rs::SUCCESS);
    }
    if !property_filter {
        return cmd.error_response(rs::SYSTEM_ERROR, SQL92_DISABLED);
    }
    let text = sub
        .and_then(|s| s.get("subString"))
        .and_then(|t| t.as_str())
        .unwrap_or("");
    match crate::filter::parse(text) {
        Ok(_) => cmd.response(rs::SUCCESS),
        Err(e) => cmd.error_response(rs::SUBSCRIPTION_PARSE_FAILED, e.to_string()),
    }
}

/// The broker's view of a wire heartbeat: tag codes recomputed from the tags (clients' codeSets differ);
/// SQL92 expressions compiled here, once, unless `registry` (this shard's replica) already holds the
/// same expression compiled.
fn heartbeat_from_wire(data: &body::HeartbeatData, registry: &ClientRegistry) -> Heartbeat {
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
                    .map(|s| match s.expression_type {
                        body::ExpressionType::Sql92 => {
                            let known = registry
                                .subscription(&c.group_name, &s.topic)
                                .and_then(|k| k.sql.as_ref());
                            Subscription::from_sql(&s.topic, &s.sub_string, s.sub_version, known)
                        }
                        body::ExpressionType::Tag => {
                            Subscription::from_expression(&s.topic, &s.sub_string, s.sub_version)
                        }
                    })
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
