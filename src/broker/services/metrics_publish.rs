//! Copies this shard's figures (request-path counters, store figures, owned queues and committed
//! offsets, the topic-table and registry replicas, the edge counters) into the process-wide
//! [`MetricsHub`] every [`PUBLISH_INTERVAL_MS`], so that the HTTP thread reads them without asking
//! the shard anything (see [`crate::metrics`]). The copy is done between requests on the shard's
//! own executor, borrowing each table only while it is copied. Every 10 s of those rounds it also
//! samples the counters into RocketMQ's minute, hour and day statistics ([`crate::metrics::stats`]).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::state::clients::MessageModel;
use crate::broker::Broker;
use crate::metrics::{GroupFigures, MetricsHub, QueueFigures, ShardSnapshot, TopicFigures};
use crate::net::{Edge, StopSignal};

/// How often a shard publishes; also the most a scrape's figures lag behind.
pub const PUBLISH_INTERVAL_MS: u64 = 1_000;

/// Publishes at once, then every interval until `stop`; publishes a last time on stop.
pub async fn run(broker: Rc<Broker>, edge: Rc<Edge>, hub: Arc<MetricsHub>, stop: StopSignal) {
    loop {
        broker.metrics.sample_stats(crate::clock::now_ms());
        broker.ha.sample_rates(std::time::Instant::now());
        hub.publish(broker.metrics_snapshot(&edge));
        if !super::tick(Duration::from_millis(PUBLISH_INTERVAL_MS), &stop).await {
            hub.publish(broker.metrics_snapshot(&edge));
            return;
        }
    }
}

impl Broker {
    /// This shard's figures now.
    pub fn metrics_snapshot(&self, edge: &Edge) -> ShardSnapshot {
        let m = &self.metrics;
        let topics_in = m
            .topics_in
            .borrow()
            .iter()
            .map(|(t, f)| (t.clone(), *f))
            .collect();
        let topics_out = m
            .topics_out
            .borrow()
            .iter()
            .flat_map(|(t, gs)| gs.iter().map(move |(g, f)| (t.clone(), g.clone(), *f)))
            .collect();
        let rpc_latency = m
            .rpc_latency
            .borrow()
            .iter()
            .map(|(c, h)| (*c, h.clone()))
            .collect();
        let queues = self
            .store
            .queues()
            .into_iter()
            .map(|(topic, queue_id)| QueueFigures {
                min_offset: self.store.min_offset(&topic, queue_id).0,
                max_offset: self.store.max_offset(&topic, queue_id).0,
                topic,
                queue_id,
            })
            .collect();
        let topics = self
            .topics
            .borrow()
            .topics
            .values()
            .map(|t| TopicFigures {
                name: t.topic_name.clone(),
                read_queues: t.read_queue_nums.max(0) as u32,
                write_queues: t.write_queue_nums.max(0) as u32,
                perm: t.perm.max(0) as u32,
            })
            .collect();
        let (consumers, producers) = self.clients.borrow().summary();
        let groups = consumers
            .into_iter()
            .map(|(group, clients, topics, model)| GroupFigures {
                group,
                clients,
                topics,
                message_model: model.map(|m| {
                    match m {
                        MessageModel::Clustering => "CLUSTERING",
                        MessageModel::Broadcasting => "BROADCASTING",
                    }
                    .to_string()
                }),
            })
            .collect();
        ShardSnapshot {
            shard: self.shard.0,
            taken_ms: crate::clock::now_ms(),
            requests: m.requests.get(),
            messages_in: m.messages_in.get(),
            messages_out: m.messages_out.get(),
            topics_in,
            topics_out,
            rpc_latency,
            append_latency: m.append_latency.borrow().clone(),
            message_size: m.message_size.borrow().clone(),
            store: self.store.figures(),
            queues,
            offsets: self.offsets.borrow().entries(),
            net: edge.metrics(),
            topics,
            groups,
            producers,
        }
    }
}
