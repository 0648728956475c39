//! The two kinds of offset storage deals in, as types that cannot be confused: [`PhysicalOffset`]
//! (a byte position in the commit logs of all shards) and [`QueueOffset`] (the index of a message in
//! one consume queue).
//!
//! Both are `Copy` wrappers of a `u64` (no cost at run time). The inner value stays public (`.0`, or
//! [`PhysicalOffset::get`]) because the broker puts offsets on the wire as plain integers.
//! Arithmetic that keeps the meaning is provided (offset + byte count, offset - offset = distance);
//! anything else goes through `.get()` on purpose.

/// Byte position in the commit logs of all shards (shard k's log starts at `k << 48`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysicalOffset(pub u64);

/// Index of a message in a consume queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct QueueOffset(pub u64);

/// Shift that places shard k's commit log at `k << SHARD_OFFSET_SHIFT`.
pub const SHARD_OFFSET_SHIFT: u32 = 48;

impl PhysicalOffset {
    /// The shard whose commit log holds this offset.
    pub fn shard(self) -> u16 {
        (self.0 >> SHARD_OFFSET_SHIFT) as u16
    }
}
