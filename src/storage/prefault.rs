//! Fresh commit-log chunk buffers, faulted in ahead of time by one background thread.
//!
//! Until a shard's cache is full (`cache_bytes_max`, 128 MiB per shard by default), every new 1 MiB
//! chunk is a fresh allocation, and its 256 pages fault in on first touch, on the shard's thread, in
//! the middle of `copy_in`. On the 2-vCPU VM of `perf/README.md` that first touch cost 10-30 ms per
//! window of open-loop load at 30k msgs/s for the whole fill phase (`clear_page_erms` and
//! `exc_page_fault` were a fifth of a shard's CPU), against 1-2 ms once chunk buffers were recycled.
//! The Java broker does the same for its mapped files (`AllocateMappedFileService`, `warmMappedFile`).
//!
//! Shape: a bounded channel of [`POOL_BUFFERS`] ready buffers shared by every shard of the process,
//! filled by a thread started with the first store of the process. Taking never waits: an empty pool means the shard
//! allocates inline as before. The pool's memory (8 MiB) sits outside the shards' budgets; after the
//! fill phase the caches recycle their own buffers and the pool stays full and idle.
//!
//! Rejected: `MAP_POPULATE` / `MADV_POPULATE_WRITE` on the shard's thread (the same faults, same
//! thread); pre-touching the whole budget at start (256 MiB resident from the first second).

use std::sync::OnceLock;

use bytes::BytesMut;

use super::commitlog::{aligned_zeroed, CHUNK_BYTES};

/// Buffers kept ready, shared by all shards.
pub const POOL_BUFFERS: usize = 8;

static POOL: OnceLock<flume::Receiver<BytesMut>> = OnceLock::new();

/// A zeroed, resident, 4 KiB-aligned buffer of `CHUNK_BYTES`, if one is ready.
pub fn take() -> Option<BytesMut> {
    POOL.get_or_init(spawn_filler).try_recv().ok()
}

/// Starts the filling thread if it is not running yet.
pub fn start() {
    POOL.get_or_init(spawn_filler);
}

fn spawn_filler() -> flume::Receiver<BytesMut> {
    let (tx, rx) = flume::bounded(POOL_BUFFERS);
    let spawned = std::thread::Builder::new()
        .name("bolide-prefault".into())
        .spawn(move || {
            // Ends when the receiver is gone (never, in a running broker: the receiver is static).
            while tx.send(resident_buffer()).is_ok() {}
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no prefault thread: chunk buffers fault in on the shards");
    }
    rx
}

/// A zeroed, aligned buffer whose every page has been written once (so it is backed by memory).
fn resident_buffer() -> BytesMut {
    let mut v = aligned_zeroed(CHUNK_BYTES);
    for i in (0..v.len()).step_by(4096) {
        // A volatile write: a plain store of the zero already there could be optimised away.
        unsafe { std::ptr::write_volatile(v.as_mut_ptr().add(i), 0) };
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn the_pool_hands_out_zeroed_chunk_sized_buffers_and_refills() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = 0;
        while got < POOL_BUFFERS + 2 {
            match take() {
                Some(v) => {
                    assert_eq!(v.len(), CHUNK_BYTES);
                    assert!(v.iter().all(|&b| b == 0));
                    assert!(crate::storage::commitlog::is_aligned(&v));
                    got += 1;
                }
                None => {
                    assert!(Instant::now() < deadline, "the pool did not refill");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}
