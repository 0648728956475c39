//! The two kinds of offset storage deals in, as types that cannot be confused: [`PhysicalOffset`]
//! (a byte position in the commit logs of all shards) and [`QueueOffset`] (the index of a message in
//! one consume queue); and [`LogOffsets`], the ordered offsets of one shard's commit log.
//!
//! The offset types are `#[repr(transparent)]` wrappers of a `u64` (no cost at run time). The inner
//! value stays public (`.0`, or `.get()`) because the broker puts offsets on the wire as plain
//! integers. Arithmetic that keeps the meaning is provided: offset + count is an offset, offset -
//! offset is a distance (`u64`); a position inside a segment file is a plain `u64` (`offset - base`).
//! Anything else goes through `.get()` on purpose.
//!
//! [`LogOffsets`] holds `min <= durable <= written <= tail` and lets them change only through one
//! setter, which asserts the order and that none moves backwards on every change (redpanda's
//! `offset_tracker::set_offsets`); the assertions stay on in release builds.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// Byte position in the commit logs of all shards (shard k's log starts at `k << 48`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysicalOffset(pub u64);

/// Index of a message in a consume queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct QueueOffset(pub u64);

/// Shift that places shard k's commit log at `k << SHARD_OFFSET_SHIFT`.
pub const SHARD_OFFSET_SHIFT: u32 = 48;

impl PhysicalOffset {
    /// The first offset of shard `shard`'s commit log.
    pub const fn shard_base(shard: u16) -> PhysicalOffset {
        PhysicalOffset((shard as u64) << SHARD_OFFSET_SHIFT)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// The shard whose commit log holds this offset.
    pub fn shard(self) -> u16 {
        (self.0 >> SHARD_OFFSET_SHIFT) as u16
    }

    /// Rounded down to a multiple of `align` (a power of two). Shard bases and segment bases are
    /// multiples of every alignment used, so this is also the alignment inside the segment file.
    pub fn align_down(self, align: u64) -> PhysicalOffset {
        debug_assert!(align.is_power_of_two());
        PhysicalOffset(self.0 & !(align - 1))
    }
}

impl QueueOffset {
    pub const fn get(self) -> u64 {
        self.0
    }
}

macro_rules! offset_ops {
    ($t:ident) => {
        impl Add<u64> for $t {
            type Output = $t;
            #[inline]
            fn add(self, n: u64) -> $t {
                $t(self.0 + n)
            }
        }

        impl AddAssign<u64> for $t {
            #[inline]
            fn add_assign(&mut self, n: u64) {
                self.0 += n;
            }
        }

        /// The distance between two offsets.
        impl Sub for $t {
            type Output = u64;
            #[inline]
            fn sub(self, earlier: $t) -> u64 {
                self.0 - earlier.0
            }
        }

        impl From<u64> for $t {
            fn from(v: u64) -> $t {
                $t(v)
            }
        }

        impl From<$t> for u64 {
            fn from(v: $t) -> u64 {
                v.0
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

offset_ops!(PhysicalOffset);
offset_ops!(QueueOffset);

/// The offsets of one shard's commit log, in order: `min` (oldest readable) `<= durable` (everything
/// below survives a crash) `<= written` (everything below is in its file) `<= tail` (next offset to
/// assign). Each only grows. Private fields: every change goes through [`LogOffsets::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOffsets {
    min: PhysicalOffset,
    durable: PhysicalOffset,
    written: PhysicalOffset,
    tail: PhysicalOffset,
}

impl LogOffsets {
    /// A log holding `[min, end)`, all of it durable (as recovery leaves it).
    pub fn new(min: PhysicalOffset, end: PhysicalOffset) -> LogOffsets {
        let o = LogOffsets {
            min,
            durable: end,
            written: end,
            tail: end,
        };
        o.assert_ordered();
        o
    }

    pub fn min(&self) -> PhysicalOffset {
        self.min
    }

    pub fn durable(&self) -> PhysicalOffset {
        self.durable
    }

    pub fn written(&self) -> PhysicalOffset {
        self.written
    }

    pub fn tail(&self) -> PhysicalOffset {
        self.tail
    }

    /// THE setter: moves to `next`, asserting that no offset moves backwards and that the order
    /// holds. Every other setter is a shorthand for it.
    #[inline]
    pub fn set(&mut self, next: LogOffsets) {
        assert!(
            next.min >= self.min
                && next.durable >= self.durable
                && next.written >= self.written
                && next.tail >= self.tail,
            "log offsets moved backwards: {self:?} -> {next:?}"
        );
        next.assert_ordered();
        *self = next;
    }

    #[inline]
    fn assert_ordered(&self) {
        assert!(
            self.min <= self.durable && self.durable <= self.written && self.written <= self.tail,
            "log offsets out of order: min {} durable {} written {} tail {}",
            self.min,
            self.durable,
            self.written,
            self.tail
        );
    }

    #[inline]
    pub fn set_tail(&mut self, tail: PhysicalOffset) {
        self.set(LogOffsets { tail, ..*self });
    }

    /// Raises `written` to `to` if it is below (writes complete out of order).
    #[inline]
    pub fn raise_written(&mut self, to: PhysicalOffset) {
        self.set(LogOffsets {
            written: self.written.max(to),
            ..*self
        });
    }

    /// Raises `durable` to `to` if it is below.
    pub fn raise_durable(&mut self, to: PhysicalOffset) {
        self.set(LogOffsets {
            durable: self.durable.max(to),
            ..*self
        });
    }

    pub fn set_min(&mut self, min: PhysicalOffset) {
        self.set(LogOffsets { min, ..*self });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: u64) -> PhysicalOffset {
        PhysicalOffset(v)
    }

    #[test]
    fn arithmetic_keeps_the_meaning() {
        assert_eq!(p(100) + 28, p(128));
        assert_eq!(p(128) - p(100), 28);
        let mut q = QueueOffset(7);
        q += 1;
        assert_eq!(q, QueueOffset(8));
        assert_eq!(PhysicalOffset::shard_base(3).shard(), 3);
        assert_eq!(PhysicalOffset::shard_base(3), p(3 << 48));
        assert_eq!(p((1 << 48) + 5000).align_down(4096), p((1 << 48) + 4096));
        assert_eq!(p(42).to_string(), "42");
    }

    #[test]
    fn every_legal_change_is_accepted() {
        let mut o = LogOffsets::new(p(0), p(100));
        o.set_tail(p(300));
        o.raise_written(p(200));
        o.raise_written(p(150)); // an earlier write completing late: no change
        assert_eq!(o.written(), p(200));
        o.raise_durable(p(200));
        o.set_min(p(200));
        assert_eq!(
            (o.min(), o.durable(), o.written(), o.tail()),
            (p(200), p(200), p(200), p(300))
        );
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn written_past_tail_panics() {
        let mut o = LogOffsets::new(p(0), p(100));
        o.raise_written(p(101));
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn durable_past_written_panics() {
        let mut o = LogOffsets::new(p(0), p(100));
        o.set_tail(p(200));
        o.raise_durable(p(150));
    }

    #[test]
    #[should_panic(expected = "out of order")]
    fn min_past_durable_panics() {
        let mut o = LogOffsets::new(p(0), p(100));
        o.set_tail(p(200));
        o.raise_written(p(200));
        o.set_min(p(150));
    }

    #[test]
    #[should_panic(expected = "backwards")]
    fn tail_going_back_panics() {
        let mut o = LogOffsets::new(p(0), p(100));
        o.set_tail(p(99));
    }
}
