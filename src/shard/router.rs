//! The cross-core router: one bounded flume inbox per shard. Any shard can send any shard a message;
//! replies travel back on a one-shot flume channel carried inside the message.
//!
//! Why flume: it wakes a glommio task from another thread correctly (glommio supports foreign wakers),
//! and glommio's own `channel_mesh` has an open deadlock report under contention.
//! The router is generic over the message type so that this layer knows nothing of requests.
//!
//! Bounded inboxes, and what happens when one is full:
//! - Each inbox holds at most [`INBOX_MESSAGES_MAX`] messages (a message is usually a batch of
//!   requests or replies, see `broker::hops`), so a slow shard cannot make the others queue
//!   unbounded memory for it.
//! - A full inbox is never a reason to drop a message: every request on it has been read from a
//!   client that waits for its answer. [`Router::send`] awaits room: the task that sends (a
//!   connection's request, a batch flush) waits, and since a connection has a bounded number of
//!   requests in flight, the wait turns into backpressure on that connection (it stops reading).
//!   [`Router::send_detached`] is for callers that cannot wait (connection close, pushes to a
//!   client): if the inbox is full it hands the message to a task of the calling shard that awaits.
//!   [`Router::send_blocking`] is for threads outside the executors (shutdown from `main`).
//! - No deadlock: a shard's inbox loop never waits on another inbox; it spawns the work each message
//!   asks for, so every inbox keeps draining while senders wait.
//! - Counters per destination ([`InboxStats`]): messages sent, sends that found the inbox full and
//!   waited, sends refused because the shard is gone (shutting down).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::ShardId;

/// Most messages waiting in one shard's inbox.
pub const INBOX_MESSAGES_MAX: usize = 4096;

/// Counters of one destination inbox, summed over every sender.
#[derive(Debug, Default)]
struct InboxCounters {
    sent: AtomicU64,
    waited_full: AtomicU64,
    gone: AtomicU64,
}

/// A snapshot of one inbox's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InboxStats {
    /// Messages delivered into the inbox.
    pub sent: u64,
    /// Sends that found the inbox full and waited for room (backpressure).
    pub waited_full: u64,
    /// Sends refused because the shard had stopped.
    pub gone: u64,
}

/// Handle for sending to every shard's inbox. Cheap to clone; `Send`.
pub struct Router<M> {
    me: ShardId,
    inboxes: Arc<Vec<flume::Sender<M>>>,
    counters: Arc<Vec<InboxCounters>>,
}

impl<M> Clone for Router<M> {
    fn clone(&self) -> Self {
        Router {
            me: self.me,
            inboxes: self.inboxes.clone(),
            counters: self.counters.clone(),
        }
    }
}

/// The receiving end of one shard's inbox.
pub type Inbox<M> = flume::Receiver<M>;

/// Why a message did not reach a shard (it is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not accepting messages")]
pub struct ShardGone(pub ShardId);

/// Creates the inboxes of `count` shards, each bounded by [`INBOX_MESSAGES_MAX`]: a router to clone
/// per shard, and each shard's inbox.
pub fn mesh<M>(count: usize) -> (Router<M>, Vec<Inbox<M>>) {
    mesh_with_capacity(count, INBOX_MESSAGES_MAX)
}

/// [`mesh`] with another inbox bound (tests).
pub fn mesh_with_capacity<M>(count: usize, capacity: usize) -> (Router<M>, Vec<Inbox<M>>) {
    assert!(capacity > 0, "an inbox must hold at least one message");
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..count).map(|_| flume::bounded(capacity)).unzip();
    (
        Router {
            me: ShardId(0),
            inboxes: Arc::new(senders),
            counters: Arc::new((0..count).map(|_| InboxCounters::default()).collect()),
        },
        receivers,
    )
}

impl<M: 'static> Router<M> {
    /// The same router, as seen from shard `me`.
    pub fn for_shard(&self, me: ShardId) -> Router<M> {
        Router {
            me,
            inboxes: self.inboxes.clone(),
            counters: self.counters.clone(),
        }
    }

    pub fn me(&self) -> ShardId {
        self.me
    }

    pub fn shard_count(&self) -> usize {
        self.inboxes.len()
    }

    pub fn shards(&self) -> impl Iterator<Item = ShardId> {
        (0..self.inboxes.len() as u16).map(ShardId)
    }

    /// The counters of shard `to`'s inbox.
    pub fn inbox_stats(&self, to: ShardId) -> InboxStats {
        let c = &self.counters[to.index()];
        InboxStats {
            sent: c.sent.load(Ordering::Relaxed),
            waited_full: c.waited_full.load(Ordering::Relaxed),
            gone: c.gone.load(Ordering::Relaxed),
        }
    }

    /// Messages waiting in shard `to`'s inbox now (for the metrics; any thread).
    pub fn inbox_depth(&self, to: ShardId) -> usize {
        self.inboxes[to.index()].len()
    }

    /// Sends, waiting for room when the inbox is full (backpressure; see the module comment).
    pub async fn send(&self, to: ShardId, msg: M) -> Result<(), ShardGone> {
        let counters = &self.counters[to.index()];
        let tx = &self.inboxes[to.index()];
        let msg = match tx.try_send(msg) {
            Ok(()) => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(flume::TrySendError::Disconnected(_)) => {
                counters.gone.fetch_add(1, Ordering::Relaxed);
                return Err(ShardGone(to));
            }
            Err(flume::TrySendError::Full(msg)) => msg,
        };
        counters.waited_full.fetch_add(1, Ordering::Relaxed);
        match tx.send_async(msg).await {
            Ok(()) => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(_) => {
                counters.gone.fetch_add(1, Ordering::Relaxed);
                Err(ShardGone(to))
            }
        }
    }

    /// Sends without waiting, from a shard's executor: when the inbox is full, a task of the calling
    /// shard waits for room and delivers the message (it is never dropped while the shard lives).
    pub fn send_detached(&self, to: ShardId, msg: M) {
        let counters = &self.counters[to.index()];
        match self.inboxes[to.index()].try_send(msg) {
            Ok(()) => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(flume::TrySendError::Disconnected(_)) => {
                counters.gone.fetch_add(1, Ordering::Relaxed);
            }
            Err(flume::TrySendError::Full(msg)) => {
                counters.waited_full.fetch_add(1, Ordering::Relaxed);
                let router = self.clone();
                glommio::spawn_local(async move {
                    let tx = &router.inboxes[to.index()];
                    let c = &router.counters[to.index()];
                    match tx.send_async(msg).await {
                        Ok(()) => c.sent.fetch_add(1, Ordering::Relaxed),
                        Err(_) => c.gone.fetch_add(1, Ordering::Relaxed),
                    };
                })
                .detach();
            }
        }
    }

    /// Sends from a thread that is not a shard's executor, blocking it while the inbox is full.
    pub fn send_blocking(&self, to: ShardId, msg: M) -> Result<(), ShardGone> {
        let counters = &self.counters[to.index()];
        match self.inboxes[to.index()].send(msg) {
            Ok(()) => {
                counters.sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(_) => {
                counters.gone.fetch_add(1, Ordering::Relaxed);
                Err(ShardGone(to))
            }
        }
    }

    /// Sends a message built around a reply channel and waits for the reply.
    pub async fn call<R>(
        &self,
        to: ShardId,
        make: impl FnOnce(flume::Sender<R>) -> M,
    ) -> Result<R, ShardGone> {
        let (tx, rx) = flume::bounded(1);
        self.send(to, make(tx)).await?;
        rx.recv_async().await.map_err(|_| ShardGone(to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_crosses_executors() {
        let (router, mut inboxes) = mesh::<(u32, flume::Sender<u32>)>(2);
        let inbox1 = inboxes.pop().unwrap();
        let server = std::thread::spawn(move || {
            glommio::LocalExecutor::default().run(async move {
                for _ in 0..100 {
                    let (x, reply) = inbox1.recv_async().await.unwrap();
                    reply.send(x * 2).unwrap();
                }
            })
        });
        let r = router.for_shard(ShardId(0));
        glommio::LocalExecutor::default().run(async move {
            for i in 0..100u32 {
                assert_eq!(r.call(ShardId(1), |tx| (i, tx)).await.unwrap(), i * 2);
            }
        });
        server.join().unwrap();
    }

    #[test]
    fn a_full_inbox_makes_the_sender_wait_and_loses_nothing() {
        let (router, mut inboxes) = mesh_with_capacity::<u32>(2, 2);
        let inbox1 = inboxes.pop().unwrap();
        let r = router.for_shard(ShardId(0));
        glommio::LocalExecutor::default().run(async move {
            let sender = glommio::spawn_local({
                let r = r.clone();
                async move {
                    for i in 0..10u32 {
                        r.send(ShardId(1), i).await.unwrap();
                    }
                }
            });
            // Let the sender fill the inbox and park on it.
            glommio::timer::sleep(std::time::Duration::from_millis(20)).await;
            assert_eq!(inbox1.len(), 2, "the bound holds");
            let mut got = Vec::new();
            while got.len() < 10 {
                got.push(inbox1.recv_async().await.unwrap());
            }
            sender.await;
            assert_eq!(got, (0..10).collect::<Vec<_>>(), "in order, none dropped");
            let stats = r.inbox_stats(ShardId(1));
            assert_eq!(stats.sent, 10);
            assert!(stats.waited_full >= 1, "{stats:?}");
            assert_eq!(stats.gone, 0);
        });
    }

    #[test]
    fn detached_sends_to_a_full_inbox_are_delivered_later() {
        let (router, mut inboxes) = mesh_with_capacity::<u32>(2, 1);
        let inbox1 = inboxes.pop().unwrap();
        let r = router.for_shard(ShardId(0));
        glommio::LocalExecutor::default().run(async move {
            for i in 0..5u32 {
                r.send_detached(ShardId(1), i);
            }
            let mut got = Vec::new();
            while got.len() < 5 {
                got.push(inbox1.recv_async().await.unwrap());
            }
            got.sort();
            assert_eq!(got, (0..5).collect::<Vec<_>>());
            assert_eq!(r.inbox_stats(ShardId(1)).waited_full, 4);
        });
    }

    #[test]
    fn sends_to_a_stopped_shard_are_counted_as_gone() {
        let (router, inboxes) = mesh_with_capacity::<u32>(1, 1);
        drop(inboxes);
        assert_eq!(
            router.send_blocking(ShardId(0), 1),
            Err(ShardGone(ShardId(0)))
        );
        assert_eq!(router.inbox_stats(ShardId(0)).gone, 1);
    }
}
