//! LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42), on the accepting shard: the queues of the body are
//! split by owning shard, each owner locks or unlocks its part, the answers are merged.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::broker::{Broker, Control, ControlReply};
use crate::remoting::body;
use crate::remoting::codes::{request as rq, response as rs};
use crate::remoting::RemotingCommand;
use crate::shard::placement::owner;
use crate::shard::ShardId;

impl Broker {
    pub(crate) async fn lock_batch(self: &Rc<Self>, cmd: RemotingCommand) -> RemotingCommand {
        let req = match body::LockBatchRequestBody::parse(&cmd.body) {
            Ok(r) => r,
            Err(e) => return cmd.error_response(rs::SYSTEM_ERROR, format!("bad lock body: {e}")),
        };
        let mut by_owner: BTreeMap<ShardId, Vec<(String, u32)>> = BTreeMap::new();
        for mq in &req.mq_set {
            let qid = mq.queue_id.max(0) as u32;
            by_owner
                .entry(owner(&mq.topic, qid, self.router.shard_count()))
                .or_default()
                .push((mq.topic.clone(), qid));
        }
        let mut locked = Vec::new();
        for (shard, queues) in by_owner {
            let op = if cmd.code == rq::LOCK_BATCH_MQ {
                Control::Lock {
                    group: req.consumer_group.clone(),
                    client_id: req.client_id.clone(),
                    queues,
                }
            } else {
                Control::Unlock {
                    group: req.consumer_group.clone(),
                    client_id: req.client_id.clone(),
                    queues,
                }
            };
            if let ControlReply::Locked(q) = self.control(shard, op).await {
                locked.extend(q);
            }
        }
        let resp = cmd.response(rs::SUCCESS);
        if cmd.code == rq::UNLOCK_BATCH_MQ {
            return resp;
        }
        let mq_set = locked
            .into_iter()
            .map(|(topic, queue_id)| body::MessageQueue {
                topic,
                broker_name: self.cfg.broker_name.clone(),
                queue_id: queue_id as i32,
            })
            .collect();
        resp.with_body(
            body::LockBatchResponseBody {
                lock_ok_mq_set: mq_set,
            }
            .to_json(),
        )
    }
}
