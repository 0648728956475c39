//! The election decision: given a broker group's current master and which members are alive with how
//! much durable data, keep the master or name the member to promote. Pure (no clock, no I/O): the raft
//! leader computes liveness from heartbeats and calls [`decide`]; what it decides is proposed through
//! the raft log, so every controller node applies the same change whatever its own clock says.
//!
//! The table (one function implements it, tested row by row below):
//!
//! | current master        | master live | other live members | decision                                  |
//! |-----------------------|-------------|--------------------|-------------------------------------------|
//! | none (or not a member)| —           | none               | Keep: nobody to elect                     |
//! | none (or not a member)| —           | one or more        | Elect the best live member                |
//! | m                     | yes         | any                | Keep                                      |
//! | m                     | no          | none               | Keep: m stays master at the same epoch    |
//! | m                     | no          | one or more        | Elect the best live member other than m   |
//!
//! "Best": most durable bytes (summed over shards, see [`durable_bytes`]); on a tie, the lowest
//! brokerId, so that a fresh group with nothing written elects the broker configured as brokerId 0.
//! Under SYNC_MASTER every acknowledged message is durable on a connected slave, so the slave with the
//! most durable bytes holds every acknowledged message the dead master held.
//!
//! Rejected: letting a master that is down keep a vote, or electing a member that stopped
//! heartbeating (it may be the other side of a cut link and still hold writes nobody saw).

/// What the decision needs to know about one member of a broker group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub broker_id: u64,
    /// Heartbeat seen by the raft leader within the broker timeout.
    pub live: bool,
    /// [`durable_bytes`] of its last reported durable offsets.
    pub durable_bytes: u64,
}

/// The outcome of [`decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No change: the current master (or the absence of one) stands.
    Keep,
    /// Make this brokerId master at epoch + 1.
    Elect(u64),
}

/// Bytes a broker holds durably, summed over its shards: shard k's physical offsets start at `k << 48`
/// (see `docs/ARCHITECTURE.md`), so `offsets[k] - (k << 48)` is what shard k holds. A broker reports one
/// offset per shard; master and slave run the same shard count.
pub fn durable_bytes(offsets: &[u64]) -> u64 {
    offsets
        .iter()
        .enumerate()
        .map(|(k, &offset)| offset.saturating_sub((k as u64) << 48))
        .fold(0u64, u64::saturating_add)
}

/// The table in the module comment.
pub fn decide(master: Option<u64>, members: &[Candidate]) -> Decision {
    let master_live = master
        .and_then(|m| members.iter().find(|c| c.broker_id == m))
        .is_some_and(|c| c.live);
    if master_live {
        return Decision::Keep;
    }
    let best = members
        .iter()
        .filter(|c| c.live && Some(c.broker_id) != master)
        .max_by(|a, b| {
            a.durable_bytes
                .cmp(&b.durable_bytes)
                .then(b.broker_id.cmp(&a.broker_id))
        });
    match best {
        Some(c) => Decision::Elect(c.broker_id),
        None => Decision::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(broker_id: u64, live: bool, durable_bytes: u64) -> Candidate {
        Candidate {
            broker_id,
            live,
            durable_bytes,
        }
    }

    /// One row per line of the table, plus the tie and offset rules.
    #[test]
    fn decision_table_row_by_row() {
        #[allow(clippy::type_complexity)]
        let rows: &[(&str, Option<u64>, &[Candidate], Decision)] = &[
            (
                "no master, nobody live",
                None,
                &[c(0, false, 9), c(1, false, 5)],
                Decision::Keep,
            ),
            ("no master, empty group", None, &[], Decision::Keep),
            (
                "no master, one live",
                None,
                &[c(0, false, 9), c(1, true, 5)],
                Decision::Elect(1),
            ),
            (
                "no master, fresh group: tie goes to the lowest id",
                None,
                &[c(2, true, 0), c(0, true, 0), c(1, true, 0)],
                Decision::Elect(0),
            ),
            (
                "no master, most durable bytes wins over lower id",
                None,
                &[c(0, true, 10), c(1, true, 11)],
                Decision::Elect(1),
            ),
            (
                "master not a member counts as none",
                Some(7),
                &[c(1, true, 3)],
                Decision::Elect(1),
            ),
            (
                "master live: keep",
                Some(0),
                &[c(0, true, 1), c(1, true, 100)],
                Decision::Keep,
            ),
            (
                "master live, nobody else: keep",
                Some(0),
                &[c(0, true, 1)],
                Decision::Keep,
            ),
            (
                "master down, nobody else live: keep",
                Some(0),
                &[c(0, false, 100), c(1, false, 50)],
                Decision::Keep,
            ),
            (
                "master down, one live slave",
                Some(0),
                &[c(0, false, 100), c(1, true, 50)],
                Decision::Elect(1),
            ),
            (
                "master down, the slave with most bytes",
                Some(0),
                &[c(0, false, 100), c(1, true, 50), c(2, true, 70)],
                Decision::Elect(2),
            ),
            (
                "master down, dead slave with most bytes is skipped",
                Some(0),
                &[c(0, false, 100), c(1, true, 50), c(2, false, 90)],
                Decision::Elect(1),
            ),
            (
                "master down, tie between slaves: lowest id",
                Some(0),
                &[c(0, false, 100), c(2, true, 70), c(1, true, 70)],
                Decision::Elect(1),
            ),
            (
                "promoted slave down, old master back",
                Some(1),
                &[c(0, true, 100), c(1, false, 120)],
                Decision::Elect(0),
            ),
        ];
        for (name, master, members, want) in rows {
            assert_eq!(decide(*master, members), *want, "row: {name}");
        }
    }

    #[test]
    fn durable_bytes_subtracts_each_shard_base() {
        assert_eq!(durable_bytes(&[]), 0);
        assert_eq!(durable_bytes(&[100]), 100);
        assert_eq!(durable_bytes(&[100, (1 << 48) + 50]), 150);
        assert_eq!(durable_bytes(&[0, 1 << 48, (2 << 48) + 7]), 7);
        // An offset below its shard base (a malformed report) counts as nothing, not as a wrap.
        assert_eq!(durable_bytes(&[5, 3]), 5);
    }
}
