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

/// The CPUs the calling thread may run on, ascending: the affinity mask the process was started with
/// (`taskset`, systemd's `CPUAffinity=`, a container's cpuset). None when it cannot be read.
pub fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data (all zeros is the empty set); sched_getaffinity writes at most
    // the size given, and CPU_ISSET reads within the set for every index below CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return None;
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect();
    (!cpus.is_empty()).then_some(cpus)
}

/// The CPU shard `k` is pinned to: the k-th of the allowed CPUs, round robin past the last one. Shard
/// k on CPU k instead would leave the allowed set (`taskset -c 2,3` still pinned shards to CPUs 0
/// and 1, and inside a cpuset that excludes them the executors could not start).
pub fn cpu_for(k: usize, allowed: &[usize]) -> usize {
    allowed[k % allowed.len()]
}

/// The CPU of each of `n` shards started from the calling thread ([`cpu_for`] over its allowed
/// CPUs; CPUs 0.. when the mask cannot be read).
pub fn shard_cpus(n: usize) -> Vec<usize> {
    let allowed = allowed_cpus().unwrap_or_else(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        (0..n).collect()
    });
    (0..n).map(|k| cpu_for(k, &allowed)).collect()
}

/// Starts one executor per item, shard k pinned to [`shard_cpus`]`[k]` of the CPUs this (main) thread
/// may run on, each running `make(k, item)`. With `spin_before_park`, an idle executor polls that
/// long before it sleeps, so a message from another shard arriving meanwhile costs no wake-up.
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
    let cpus = shard_cpus(items.len());
    let mut handles = Vec::with_capacity(items.len());
    for (k, item) in items.into_iter().enumerate() {
        let make = make.clone();
        let id = ShardId(k as u16);
        let mut builder =
            LocalExecutorBuilder::new(Placement::Fixed(cpus[k])).name(&format!("bolide-shard-{k}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_the_allowed_cpus_in_order_and_wrap_around() {
        // | allowed  | shard | cpu | why                                   |
        // |----------|-------|-----|---------------------------------------|
        // | 0,1      | 0     | 0   | the whole machine: shard k on CPU k   |
        // | 0,1      | 1     | 1   |                                       |
        // | 0,1      | 2     | 0   | more shards than CPUs: round robin    |
        // | 2,3      | 0     | 2   | taskset -c 2,3: never CPU 0 or 1      |
        // | 2,3      | 1     | 3   |                                       |
        // | 1,5,9    | 4     | 5   | a sparse cpuset, wrapped              |
        // | 7        | 3     | 7   | one CPU: every shard on it            |
        let rows: [(&[usize], usize, usize); 7] = [
            (&[0, 1], 0, 0),
            (&[0, 1], 1, 1),
            (&[0, 1], 2, 0),
            (&[2, 3], 0, 2),
            (&[2, 3], 1, 3),
            (&[1, 5, 9], 4, 5),
            (&[7], 3, 7),
        ];
        for (allowed, k, cpu) in rows {
            assert_eq!(cpu_for(k, allowed), cpu, "allowed {allowed:?}, shard {k}");
        }
    }

    #[test]
    fn the_allowed_cpus_are_those_of_the_calling_thread() {
        let all = allowed_cpus().expect("the affinity mask of this thread");
        assert!(
            !all.is_empty() && all.windows(2).all(|w| w[0] < w[1]),
            "{all:?}"
        );
    }
}
