//! The cross-core router: one flume inbox per shard. Any shard can send any shard a message; replies
//! travel back on a one-shot flume channel carried inside the message.
//!
//! Why flume: it wakes a glommio task from another thread correctly (glommio supports foreign wakers),
//! and glommio's own `channel_mesh` has an open deadlock report under contention.
//! The router is generic over the message type so that this layer knows nothing of requests.

use std::sync::Arc;

use super::ShardId;

/// Handle for sending to every shard's inbox. Cheap to clone; `Send`.
pub struct Router<M> {
    me: ShardId,
    inboxes: Arc<Vec<flume::Sender<M>>>,
}

impl<M> Clone for Router<M> {
    fn clone(&self) -> Self {
        Router {
            me: self.me,
            inboxes: self.inboxes.clone(),
        }
    }
}

/// The receiving end of one shard's inbox.
pub type Inbox<M> = flume::Receiver<M>;

/// Why a message did not reach a shard (it is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not accepting messages")]
pub struct ShardGone(pub ShardId);

/// Creates the inboxes of `count` shards: a router to clone per shard, and each shard's inbox.
pub fn mesh<M>(count: usize) -> (Router<M>, Vec<Inbox<M>>) {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..count).map(|_| flume::unbounded()).unzip();
    (
        Router {
            me: ShardId(0),
            inboxes: Arc::new(senders),
        },
        receivers,
    )
}

impl<M> Router<M> {
    /// The same router, as seen from shard `me`.
    pub fn for_shard(&self, me: ShardId) -> Router<M> {
        Router {
            me,
            inboxes: self.inboxes.clone(),
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

    /// Sends without waiting for anything.
    pub fn send(&self, to: ShardId, msg: M) -> Result<(), ShardGone> {
        self.inboxes[to.index()]
            .send(msg)
            .map_err(|_| ShardGone(to))
    }

    /// Sends a message built around a reply channel and waits for the reply.
    pub async fn call<R>(
        &self,
        to: ShardId,
        make: impl FnOnce(flume::Sender<R>) -> M,
    ) -> Result<R, ShardGone> {
        let (tx, rx) = flume::bounded(1);
        self.send(to, make(tx))?;
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
}
