//! Queue locks for orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ): per (group, topic, queue) at most
//! one client holds the lock; it is granted if free, already held by the same client, or expired
//! (not renewed for [`LOCK_EXPIRY_MS`]). Released on unlock and when the holder's connection closes.
//!
//! Each shard keeps the locks of the queues it owns; a batch request is split by owner and merged.
//! Plain data, no clock: callers pass `now_ms`.

use std::collections::HashMap;

/// RocketMQ's `rocketmq.broker.rebalance.lockMaxLiveTime`.
pub const LOCK_EXPIRY_MS: i64 = 60_000;

#[derive(Debug, Clone)]
struct Holder {
    client_id: String,
    last_update_ms: i64,
}

/// See the module comment.
#[derive(Debug, Default)]
pub struct LockTable {
    locks: HashMap<(String, String, u32), Holder>,
}

impl LockTable {
    /// Locks what it can of `queues` for `client_id`; returns the queues it now holds.
    pub fn try_lock(
        &mut self,
        group: &str,
        client_id: &str,
        queues: &[(String, u32)],
        now_ms: i64,
    ) -> Vec<(String, u32)> {
        let mut held = Vec::new();
        for (topic, qid) in queues {
            let key = (group.to_string(), topic.clone(), *qid);
            let grant = match self.locks.get(&key) {
                None => true,
                Some(h) => {
                    h.client_id == client_id
                        || now_ms.saturating_sub(h.last_update_ms) > LOCK_EXPIRY_MS
                }
            };
            if grant {
                self.locks.insert(
                    key,
                    Holder {
                        client_id: client_id.into(),
                        last_update_ms: now_ms,
                    },
                );
                held.push((topic.clone(), *qid));
            }
        }
        held
    }

    /// Whether `group` holds any lock that has not expired (RocketMQ's `isLockAllExpired`, negated).
    pub fn group_holds_any(&self, group: &str, now_ms: i64) -> bool {
        self.locks.iter().any(|((g, _, _), h)| {
            g == group && now_ms.saturating_sub(h.last_update_ms) <= LOCK_EXPIRY_MS
        })
    }

    /// Releases the queues `client_id` holds among `queues`.
    pub fn unlock(&mut self, group: &str, client_id: &str, queues: &[(String, u32)]) {
        for (topic, qid) in queues {
            let key = (group.to_string(), topic.clone(), *qid);
            if self
                .locks
                .get(&key)
                .is_some_and(|h| h.client_id == client_id)
            {
                self.locks.remove(&key);
            }
        }
    }

    /// Releases every lock held by these clients.
    pub fn release_clients(&mut self, client_ids: &[String]) {
        self.locks.retain(|_, h| !client_ids.contains(&h.client_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: u32) -> (String, u32) {
        ("T".to_string(), n)
    }

    #[test]
    fn one_holder_per_queue_until_expiry() {
        let mut t = LockTable::default();
        assert_eq!(t.try_lock("g", "a", &[q(0), q(1)], 0), vec![q(0), q(1)]);
        assert_eq!(t.try_lock("g", "b", &[q(0), q(2)], 1_000), vec![q(2)]);
        assert_eq!(
            t.try_lock("g", "a", &[q(0)], 2_000),
            vec![q(0)],
            "renewal by the holder"
        );
        assert_eq!(
            t.try_lock("g2", "b", &[q(0)], 2_000),
            vec![q(0)],
            "groups are independent"
        );
        assert_eq!(
            t.try_lock("g", "b", &[q(0)], 2_000 + LOCK_EXPIRY_MS + 1),
            vec![q(0)],
            "expired"
        );
        t.unlock("g", "a", &[q(1)]);
        assert_eq!(t.try_lock("g", "b", &[q(1)], 0), vec![q(1)]);
        t.release_clients(&["b".to_string()]);
        assert_eq!(
            t.try_lock("g", "a", &[q(0), q(1), q(2)], 0),
            vec![q(0), q(1), q(2)]
        );
    }
}
