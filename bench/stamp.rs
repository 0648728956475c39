//! The timestamp every benchmark message body carries, shared by both load generators
//! (`bolide-bench` and `bolide-bench-std`), so either one's consumers can time what either sent.
//!
//! Layout: bytes 0..8 the stamp (ns since the Unix epoch, big-endian), bytes 8..16 [`BODY_MAGIC`];
//! a body shorter than [`BODY_STAMP_BYTES`] carries no stamp. The wall clock, not a monotonic one,
//! because sender and receiver may be different processes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes 8..16 of every benchmark message body.
pub const BODY_MAGIC: &[u8; 8] = b"BOLIDEBN";
/// Bytes a body needs to carry a timestamp and the magic.
pub const BODY_STAMP_BYTES: usize = 16;

/// The wall clock in ns since the Unix epoch.
pub fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// End-to-end latency of a received body, if it is one of ours.
pub fn body_age(body: &[u8], now_ns: u64) -> Option<Duration> {
    if body.len() < BODY_STAMP_BYTES || &body[8..16] != BODY_MAGIC {
        return None;
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&body[0..8]);
    Some(Duration::from_nanos(
        now_ns.saturating_sub(u64::from_be_bytes(ts)),
    ))
}

/// Stamps `at_ns` (the send time, an open loop's intended time, or a timer message's due time)
/// into a body made by [`body_template`].
pub fn stamp_at(body: &mut [u8], at_ns: u64) {
    if body.len() >= BODY_STAMP_BYTES {
        body[0..8].copy_from_slice(&at_ns.to_be_bytes());
    }
}

/// A body of `size` bytes with the magic in place (when it fits).
pub fn body_template(size: usize) -> Vec<u8> {
    let mut b: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    if b.len() >= BODY_STAMP_BYTES {
        b[8..16].copy_from_slice(BODY_MAGIC);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_body_tells_its_age_and_others_do_not() {
        let mut body = body_template(64);
        stamp_at(&mut body, 1_000);
        assert_eq!(body_age(&body, 6_000), Some(Duration::from_nanos(5_000)));
        assert_eq!(body_age(&body, 500), Some(Duration::ZERO));
        assert_eq!(body_age(&[0u8; 8], 0), None);
        assert_eq!(body_age(&[1u8; 64], 0), None);
        let mut short = body_template(8);
        stamp_at(&mut short, 1);
        assert_eq!(short, body_template(8));
    }
}
