//! Connections spread evenly over the shards.
//!
//! SO_REUSEPORT places each new connection by a hash of its addresses, so a few busy connections
//! often land unevenly: four connections go 3 to 1 or 4 to 0 over two shards five times in eight.
//! A connection is served for its whole life by the shard that holds it (reading, parsing, the
//! answer), so one core then does most of the network work while the other idles; with a client
//! that leaves the queue to the broker (`queueId` -1), the storage work follows. Like Seastar's
//! connection-count balancing, the accepting shard hands a new connection to the shard serving the
//! fewest when it serves more itself (`choose`); the hand-off is one message through the router
//! (`Handler::hand_off`), after which the connection is served there as if accepted there.
//!
//! Only the ports that carry sends and pulls are spread and counted (`broker::lifecycle`): a
//! client's NameServer connection lives as long as the client but carries a route lookup every 30
//! s, and counted it would tip the producers that follow onto the other shard.
//!
//! The counts are process-wide atomics, read without a lock: two shards accepting at the same
//! instant may both pick the same target, which the next connections even out. A count is taken
//! when a shard is chosen ([`Spread::place`]) and given back when that shard lets the connection go
//! ([`Spread::done`]), so a connection in transit already counts where it is going.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::shard::ShardId;

/// Open connections per shard (those in transit to a shard included).
#[derive(Debug)]
pub struct Spread {
    open: Vec<AtomicUsize>,
}

impl Spread {
    pub fn new(shards: usize) -> Spread {
        Spread {
            open: (0..shards.max(1)).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// Where a connection accepted on `here` is to be served; counts it there.
    pub fn place(&self, here: ShardId) -> ShardId {
        let open: Vec<usize> = self
            .open
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let to = choose(here.index().min(open.len() - 1), &open);
        self.open[to].fetch_add(1, Ordering::Relaxed);
        ShardId(to as u16)
    }

    /// A connection counted on `shard` is gone (closed, refused, or lost in transit).
    pub fn done(&self, shard: ShardId) {
        let c = &self.open[shard.index().min(self.open.len() - 1)];
        // Never below zero, even if a caller gives back twice.
        let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// The counts now, by shard.
    pub fn open(&self) -> Vec<usize> {
        self.open
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

/// Which shard serves a connection accepted by shard `here`, given each shard's open connections:
///
/// | the accepting shard serves | served by |
/// |---|---|
/// | no more than every other shard | the accepting shard (no hop) |
/// | more than some shard | the shard serving the fewest (the lowest index among equals) |
///
/// Moving only when `here` serves strictly more means a connection never hops between equals, and
/// the spread after the move is never worse than without it.
pub fn choose(here: usize, open: &[usize]) -> usize {
    let (fewest, min) = open
        .iter()
        .enumerate()
        .min_by_key(|(k, n)| (**n, *k))
        .map(|(k, n)| (k, *n))
        .unwrap_or((here, 0));
    if open.get(here).copied().unwrap_or(0) > min {
        fewest
    } else {
        here
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_table_rows() {
        // Row 1: the accepting shard serves no more than every other: it keeps the connection.
        assert_eq!(choose(0, &[0, 0]), 0);
        assert_eq!(choose(1, &[3, 3]), 1);
        assert_eq!(choose(1, &[4, 2, 5]), 1);
        assert_eq!(choose(0, &[7]), 0);
        // Row 2: it serves more than some shard: the one with the fewest, lowest index among equals.
        assert_eq!(choose(0, &[1, 0]), 1);
        assert_eq!(choose(2, &[3, 1, 4, 1]), 1);
        assert_eq!(choose(1, &[0, 5, 0]), 0);
    }

    #[test]
    fn connections_accepted_on_one_shard_end_up_even() {
        let s = Spread::new(2);
        // Every connection arrives on shard 0 (the worst SO_REUSEPORT draw).
        let placed: Vec<u16> = (0..8).map(|_| s.place(ShardId(0)).0).collect();
        assert_eq!(placed, [0, 1, 0, 1, 0, 1, 0, 1]);
        assert_eq!(s.open(), [4, 4]);
        // Two close on shard 1: the next two accepted on shard 0 go there.
        s.done(ShardId(1));
        s.done(ShardId(1));
        assert_eq!(s.place(ShardId(0)), ShardId(1));
        assert_eq!(s.place(ShardId(0)), ShardId(1));
        assert_eq!(s.open(), [4, 4]);
    }

    #[test]
    fn done_never_goes_below_zero() {
        let s = Spread::new(2);
        s.done(ShardId(1));
        assert_eq!(s.open(), [0, 0]);
        assert_eq!(s.place(ShardId(1)), ShardId(1));
    }
}
