//! Pulls parked on their queue by long polling (PULL_NOT_FOUND with the SUSPEND flag), woken when a
//! message is appended to that queue, or all at once at shutdown. Lives on the shard that owns the
//! queues, like the sends that wake them.

use std::collections::HashMap;

/// Pulls parked per queue, each waiting on its own one-shot channel.
#[derive(Default)]
pub struct LongPolls {
    waiters: HashMap<(String, u32), Vec<flume::Sender<()>>>,
}

impl LongPolls {
    /// Parks a pull on the queue; the receiver fires (or disconnects) when it should run again.
    pub fn register(&mut self, topic: &str, queue_id: u32) -> flume::Receiver<()> {
        let (tx, rx) = flume::bounded(1);
        self.waiters
            .entry((topic.to_string(), queue_id))
            .or_default()
            .push(tx);
        rx
    }

    /// Wakes every pull parked on the queue.
    pub fn wake(&mut self, topic: &str, queue_id: u32) {
        if self.waiters.is_empty() {
            return;
        }
        if let Some(ws) = self.waiters.remove(&(topic.to_string(), queue_id)) {
            for w in ws {
                let _ = w.try_send(());
            }
        }
    }

    /// Wakes every parked pull (shutdown).
    pub fn wake_all(&mut self) {
        self.waiters.clear();
    }
}
