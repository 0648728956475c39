//! The one wall clock of the process: [`now_ms`], milliseconds since the Unix epoch as `i64`, and
//! [`Clock`], the same reading behind a trait so that tests can inject time: [`SystemClock`] in
//! production, [`ManualClock`] (moves only when told) in tests.
//!
//! `i64` because every timestamp RocketMQ puts on the wire or in a stored record is a Java `long`
//! (born and store timestamps, query windows), and because a difference of two readings is signed:
//! a wall clock that steps back gives a negative age, not an overflow.
//!
//! What reads it: storage (store timestamps, retention by age) through the [`Clock`] in its
//! `StoreOptions`; the broker (client and lock expiry, data versions) through [`now_ms`]. Intervals and
//! timeouts are not wall-clock business: they use `std::time::Instant` and glommio timers.
//! `remoting` and `message` never read a clock (ARCHITECTURE.md). [`monotonic_s`] is for the load
//! generators' reports only: CLOCK_MONOTONIC, the clock `perf record -k mono` stamps traces with.
//!
//! Rejected: a type parameter for the clock (every store type would carry it, as for the I/O in
//! `storage::io`); one virtual call per append is nothing next to copying the record.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch from the system clock (0 if it reads before the epoch).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// CLOCK_MONOTONIC in seconds: the clock `perf record -k mono` stamps its events with, so a trace
/// taken beside a benchmark lines up with its report (`perf/stalls.py`).
pub fn monotonic_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock {
    fn now_ms(&self) -> i64;
}

/// The system clock: [`now_ms`].
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that stands still until told to move. Clones share the same time (a test keeps one and
/// hands another to the code under test); it can be shared across threads.
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> ManualClock {
        ManualClock {
            ms: Arc::new(AtomicI64::new(start_ms)),
        }
    }

    pub fn set(&self, ms: i64) {
        self.ms.store(ms, Ordering::Relaxed);
    }

    pub fn advance(&self, by_ms: i64) {
        self.ms.fetch_add(by_ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = ManualClock::new(1_000);
        let seen_by_code = c.clone();
        assert_eq!(seen_by_code.now_ms(), 1_000);
        c.advance(250);
        assert_eq!(seen_by_code.now_ms(), 1_250);
        c.set(5);
        assert_eq!(seen_by_code.now_ms(), 5);
    }

    #[test]
    fn system_clock_is_after_2020() {
        // 2020-01-01T00:00:00Z; a reading before it means the conversion is wrong (or the host is).
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
        assert!(now_ms() > 1_577_836_800_000);
    }
}
