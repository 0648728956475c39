//! Thread-per-core shards: one pinned glommio executor per core, the pure placement of message queues
//! onto shards, and the router that carries messages between shards.
//!
//! Invariants:
//! - Every message queue `(topic, queue_id)` is owned by exactly one shard, [`placement::owner`], a pure
//!   function of the topic, the queue id and the shard count. The data directory records the shard
//!   count it was created with and the process refuses another, so ownership survives restarts.
//! - A shard reaches another shard's state only by sending it a message through the [`router::Router`]
//!   (bounded flume channels, one inbox per shard; a full inbox makes the sender wait, it never drops
//!   a message: see [`router`]). Shard-local state is `!Send` on purpose.

pub mod placement;
pub mod router;

use std::future::Future;

use glommio::{LocalExecutorBuilder, Placement};

/// Index of a shard (= of its executor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub u16);

impl ShardId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard-{}", self.0)
    }
}

/// Starts one executor per item, shard k pinned to CPU `k % cpus`, each running `make(k, item)`.
/// With `spin_before_park`, an idle executor polls that long before it sleeps, so a message from
/// another shard arriving meanwhile costs no wake-up.
pub fn start<T, G, F>(
    items: Vec<T>,
    spin_before_park: Option<std::time::Duration>,
    make: G,
) -> std::io::Result<Vec<glommio::ExecutorJoinHandle<()>>>
where
    T: Send + 'static,
    G: Fn(ShardId, T) -> F + Clone + Send + 'static,
    F: Future<Output = ()> + 'static,
{
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut handles = Vec::with_capacity(items.len());
    for (k, item) in items.into_iter().enumerate() {
        let make = make.clone();
        let id = ShardId(k as u16);
        let mut builder = LocalExecutorBuilder::new(Placement::Fixed(k % cpus))
            .name(&format!("bolide-shard-{k}"));
        if let Some(spin) = spin_before_park {
            builder = builder.spin_before_park(spin);
        }
        let handle = builder
            .spawn(move || make(id, item))
            .map_err(|e| std::io::Error::other(format!("cannot start {id}: {e}")))?;
        handles.push(handle);
    }
    Ok(handles)
}
