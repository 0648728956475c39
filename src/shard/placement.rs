//! Which shard owns a message queue. Pure and deterministic: the same (topic, queue id, shard count)
//! always gives the same shard, in every process and across restarts.
//!
//! Queues of one topic are spread round-robin from a per-topic starting shard, so a topic with as many
//! queues as there are shards puts one queue on each core.

use super::ShardId;

/// FNV-1a over the topic name: stable across Rust versions and platforms (unlike `DefaultHasher`).
pub fn topic_hash(topic: &str) -> u64 {
    crate::message::fnv1a_64(&[topic.as_bytes()])
}

/// The shard that owns `(topic, queue_id)` among `shards` shards.
pub fn owner(topic: &str, queue_id: u32, shards: usize) -> ShardId {
    assert!(shards > 0, "placement needs at least one shard");
    let start = topic_hash(topic) % shards as u64;
    ShardId(((start + u64::from(queue_id)) % shards as u64) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_spread() {
        // Pinned values: changing the function would move queues away from their data.
        assert_eq!(topic_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(owner("TopicTest", 0, 1), ShardId(0));
        let shards = 4;
        let owners: Vec<_> = (0..4).map(|q| owner("TopicTest", q, shards)).collect();
        let mut sorted = owners.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            4,
            "4 queues over 4 shards land on 4 shards: {owners:?}"
        );
        assert_eq!(owner("TopicTest", 5, shards), owner("TopicTest", 1, shards));
    }
}
