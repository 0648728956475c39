//! The process-wide board where shards pin their latest figures and readers (the HTTP thread) take
//! them: one slot per shard, replaced whole once a publish interval. See the module comment of
//! [`crate::metrics`] for why it is shaped so.

use std::sync::{Arc, Mutex};

use super::{Flow, Histogram, NetMetrics};

/// One (topic, queue) a shard owns: its offsets now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFigures {
    pub topic: String,
    pub queue_id: u32,
    pub min_offset: u64,
    pub max_offset: u64,
}

/// A topic as the shard's replica of the topic table has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicFigures {
    pub name: String,
    pub read_queues: u32,
    pub write_queues: u32,
    pub perm: u32,
}

/// A consumer group as the shard's registry replica has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFigures {
    pub group: String,
    /// Clients connected now.
    pub clients: usize,
    /// Topics it subscribes to.
    pub topics: Vec<String>,
    /// "CLUSTERING" or "BROADCASTING" when known.
    pub message_model: Option<String>,
}

/// The store of one shard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreFigures {
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Sync rounds of the commit log, writes and fdatasyncs (ms).
    pub flush_latency: Histogram,
    /// Bytes of commit-log segment files on disk.
    pub segment_bytes: u64,
    pub segments: u64,
    /// Bytes appended but not yet durable.
    pub flush_behind_bytes: u64,
    /// Disk usage (percent) while appends are refused for it.
    pub writes_refused_at: Option<u8>,
    /// The shard's memory: the commit log's budget (`cache_bytes_max`'s share) and what is under it.
    pub memory: StoreMemoryFigures,
}

/// What one shard's store holds in memory now (bytes or entries), and its bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreMemoryFigures {
    /// The commit log's memory budget: cache, spare buffers and the appender's chunks share it.
    pub budget_bytes: u64,
    /// Recent-data cache.
    pub cache_bytes: u64,
    /// Spare chunk buffers kept for reuse.
    pub spare_bytes: u64,
    /// The appender's chunks (data not yet written to disk, and the chunk being filled).
    pub unwritten_chunk_bytes: u64,
    /// Consume-queue entries not yet checkpointed (in memory, not yet in their files).
    pub pending_cq_entries: u64,
    /// Key-index entries not yet checkpointed.
    pub pending_index_entries: u64,
    /// The cap on both together (`pending_entries_max`).
    pub pending_entries_max: u64,
    /// Appends that found the cap reached and waited for an early checkpoint (since start).
    pub pending_waits: u64,
    /// Consume-queue files open now, and the shard's bound on them (`cq_open_files_max`).
    pub cq_open_files: u64,
    pub cq_open_files_max: u64,
    /// Consume-queue files opened since start (reopens after the bound closed them included).
    pub cq_files_opened: u64,
}

/// Everything one shard publishes. Plain `Send` data, copied out of the shard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardSnapshot {
    pub shard: u16,
    /// Wall-clock time of the copy (ms).
    pub taken_ms: i64,
    pub requests: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    /// (topic, flow) stored by this shard.
    pub topics_in: Vec<(String, Flow)>,
    /// (topic, group, flow) pulled from this shard.
    pub topics_out: Vec<(String, String, Flow)>,
    /// (request code, latency) of requests this shard accepted.
    pub rpc_latency: Vec<(i32, Histogram)>,
    pub append_latency: Histogram,
    pub message_size: Histogram,
    pub store: StoreFigures,
    /// Queues this shard owns.
    pub queues: Vec<QueueFigures>,
    /// (group, topic, queue, committed offset) of the queues this shard owns.
    pub offsets: Vec<(String, String, u32, i64)>,
    pub net: NetMetrics,
    /// The topic table and the registry (every shard has a replica; readers use shard 0's).
    pub topics: Vec<TopicFigures>,
    pub groups: Vec<GroupFigures>,
    /// Producer groups and their connected clients.
    pub producers: Vec<(String, usize)>,
}

/// See the module comment.
#[derive(Debug, Default)]
pub struct MetricsHub {
    slots: Mutex<Vec<Option<Arc<ShardSnapshot>>>>,
}

impl MetricsHub {
    pub fn new(shards: usize) -> MetricsHub {
        MetricsHub {
            slots: Mutex::new(vec![None; shards]),
        }
    }

    /// Replaces shard `snap.shard`'s figures.
    pub fn publish(&self, snap: ShardSnapshot) {
        let k = usize::from(snap.shard);
        let snap = Arc::new(snap);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if k >= slots.len() {
            slots.resize(k + 1, None);
        }
        slots[k] = Some(snap);
    }

    /// The latest figures of every shard that published, by shard.
    pub fn snapshots(&self) -> Vec<Arc<ShardSnapshot>> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.iter().flatten().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publish_replaces_the_shards_slot() {
        let hub = MetricsHub::new(2);
        assert!(hub.snapshots().is_empty());
        hub.publish(ShardSnapshot {
            shard: 1,
            requests: 5,
            ..Default::default()
        });
        hub.publish(ShardSnapshot {
            shard: 1,
            requests: 7,
            ..Default::default()
        });
        hub.publish(ShardSnapshot {
            shard: 0,
            requests: 1,
            ..Default::default()
        });
        let s = hub.snapshots();
        assert_eq!(
            s.iter().map(|x| (x.shard, x.requests)).collect::<Vec<_>>(),
            vec![(0, 1), (1, 7)]
        );
    }
}
