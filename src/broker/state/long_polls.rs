//! Pulls parked on their queue by long polling (PULL_NOT_FOUND with the SUSPEND flag), woken when a
//! message is appended to that queue, or all at once at shutdown. Lives on the shard that owns the
//! queues, like the sends that wake them.
//!
//! Keyed by topic, then queue, so that the wake every append makes looks its queue up by `&str`
//! without building a key. A pull that timed out drops its receiver but leaves its sender here; the
//! next park on the same queue clears such senders, so a queue that never gets a message holds at
//! most its live pulls plus one, not one sender per timed-out pull for as long as the broker runs.

use std::collections::HashMap;

/// Pulls parked per queue, each waiting on its own one-shot channel.
#[derive(Default)]
pub struct LongPolls {
    waiters: HashMap<String, HashMap<u32, Vec<flume::Sender<()>>>>,
}

impl LongPolls {
    /// Parks a pull on the queue; the receiver fires (or disconnects) when it should run again.
    pub fn register(&mut self, topic: &str, queue_id: u32) -> flume::Receiver<()> {
        let (tx, rx) = flume::bounded(1);
        let queues = match self.waiters.get_mut(topic) {
            Some(q) => q,
            None => self.waiters.entry(topic.to_string()).or_default(),
        };
        let parked = queues.entry(queue_id).or_default();
        parked.retain(|w| !w.is_disconnected());
        parked.push(tx);
        rx
    }

    /// Wakes every pull parked on the queue.
    pub fn wake(&mut self, topic: &str, queue_id: u32) {
        if self.waiters.is_empty() {
            return; // no pull parked anywhere: no hashing on the send path
        }
        let Some(queues) = self.waiters.get_mut(topic) else {
            return;
        };
        if let Some(ws) = queues.remove(&queue_id) {
            for w in ws {
                let _ = w.try_send(());
            }
        }
        if queues.is_empty() {
            self.waiters.remove(topic);
        }
    }

    /// Wakes every parked pull (shutdown).
    pub fn wake_all(&mut self) {
        self.waiters.clear();
    }

    /// Senders held for the queue (live pulls, and timed-out ones not cleared yet).
    #[cfg(test)]
    fn held(&self, topic: &str, queue_id: u32) -> usize {
        self.waiters
            .get(topic)
            .and_then(|q| q.get(&queue_id))
            .map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_reaches_the_pulls_of_that_queue_only() {
        let mut lp = LongPolls::default();
        let a = lp.register("T", 0);
        let b = lp.register("T", 0);
        let other_queue = lp.register("T", 1);
        let other_topic = lp.register("U", 0);
        lp.wake("T", 0);
        assert!(a.try_recv().is_ok());
        assert!(b.try_recv().is_ok());
        assert!(other_queue.try_recv().is_err());
        assert!(!other_queue.is_disconnected());
        assert!(other_topic.try_recv().is_err());
        assert!(!other_topic.is_disconnected());
        assert_eq!(lp.held("T", 0), 0);
        lp.wake("T", 1);
        lp.wake("absent", 3);
        assert!(other_queue.try_recv().is_ok());
        assert_eq!(
            lp.waiters.len(),
            1,
            "topic T is gone once none of its queues has a pull"
        );
    }

    #[test]
    fn timed_out_pulls_are_cleared_by_the_next_park() {
        let mut lp = LongPolls::default();
        for _ in 0..1000 {
            drop(lp.register("idle", 2)); // a pull that timed out: its receiver is gone
        }
        let live = lp.register("idle", 2);
        assert_eq!(lp.held("idle", 2), 1);
        lp.wake("idle", 2);
        assert!(live.try_recv().is_ok());
    }

    #[test]
    fn shutdown_disconnects_every_parked_pull() {
        let mut lp = LongPolls::default();
        let a = lp.register("T", 0);
        let b = lp.register("U", 7);
        lp.wake_all();
        assert!(a.is_disconnected());
        assert!(b.is_disconnected());
    }
}
