//! The replication peer link's wire format and the SYNC_MASTER acknowledgement decision: pure (no
//! I/O, no clock), so both are tested byte by byte and row by row here. The loops that speak it are
//! `broker::services::ha_master` and `ha_slave`; the design (why one link per shard, why not Java's
//! HA format) is `docs/REPLICATION.md`.
//!
//! A frame is `u32 length | u8 kind | payload`, `length` counting kind and payload, integers
//! big-endian. Kinds and payloads ([`Frame`]):
//!
//! | kind | direction | payload |
//! |---|---|---|
//! | HELLO (1) | slave → master | `u16 shard, u16 shard_count, u64 epoch, u64 log_end, broker_name` |
//! | DATA (2) | master → slave | `u64 epoch, u64 offset, bytes` (whole records, or a segment's 8-byte blank marker) |
//! | ACK (3) | slave → master | `u64 written_offset, u64 durable_offset` |
//! | HEARTBEAT (4) | master → slave | `u64 epoch, u64 master_log_end` |
//! | TRUNCATE (5) | master → slave | `u64 epoch, u64 offset, (u64 epoch, u64 start)*` — the answer to HELLO |
//! | CLOSE (6) | either | `u16 reason, text` |
//! | METADATA (7) | master → slave | `u8 what, JSON` (topics and groups on shard 0's link, each shard's consumer offsets and deletion marks on its own) |
//!
//! Epochs (failover): [`EpochHistory`] and [`cut_point`], the table that says where a slave's log
//! stops agreeing with its master's.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest frame accepted: a DATA frame carries at most [`DATA_BYTES_MAX`] or one record, whichever
/// is larger (a record is at most the store's record size, under 16 MiB).
pub const FRAME_BYTES_MAX: usize = 64 << 20;
/// How many log bytes a DATA frame carries at most (unless its one record is larger).
pub const DATA_BYTES_MAX: usize = 256 << 10;

pub mod kind {
    pub const HELLO: u8 = 1;
    pub const DATA: u8 = 2;
    pub const ACK: u8 = 3;
    pub const HEARTBEAT: u8 = 4;
    pub const TRUNCATE: u8 = 5;
    pub const CLOSE: u8 = 6;
    pub const METADATA: u8 = 7;
}

/// What a METADATA frame holds.
pub mod what {
    pub const TOPICS: u8 = 1;
    pub const GROUPS: u8 = 2;
    pub const OFFSETS: u8 = 3;
    /// The shard's store's deletion marks (`storage::deletions`): `[[topic, queue, mark], ...]`.
    pub const DELETED: u8 = 4;
    /// The request modes (PULL or POP) of (topic, group): Java's `messageRequestMode.json`.
    pub const MODES: u8 = 5;
}

/// Why a link is closed (CLOSE's reason).
pub mod reason {
    pub const SHARD_MISMATCH: u16 = 1;
    pub const GROUP_MISMATCH: u16 = 2;
    pub const SLAVE_AHEAD: u16 = 3;
    pub const SLAVE_TOO_FAR_BEHIND: u16 = 4;
    pub const BAD_DATA: u16 = 5;
    pub const NOT_A_MASTER: u16 = 6;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Hello {
        shard: u16,
        shard_count: u16,
        epoch: u64,
        log_end: u64,
        broker_name: String,
    },
    Data {
        epoch: u64,
        offset: u64,
        bytes: Bytes,
    },
    Ack {
        written: u64,
        durable: u64,
    },
    Heartbeat {
        epoch: u64,
        master_log_end: u64,
    },
    /// The master's answer to HELLO: the slave keeps its log up to `offset` (cutting what is past
    /// it), then DATA follows from there; `history` is the master's epoch history for this shard,
    /// which the slave adopts.
    Truncate {
        epoch: u64,
        offset: u64,
        history: Vec<(u64, u64)>,
    },
    Close {
        reason: u16,
        text: String,
    },
    Metadata {
        what: u8,
        json: Bytes,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {0} bytes (at most {FRAME_BYTES_MAX})")]
    TooLarge(usize),
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("frame of kind {kind} too short ({len} bytes)")]
    Short { kind: u8, len: usize },
    #[error("text is not UTF-8")]
    NotUtf8,
}

impl Frame {
    /// Appends the encoded frame to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let at = out.len();
        out.put_u32(0);
        match self {
            Frame::Hello {
                shard,
                shard_count,
                epoch,
                log_end,
                broker_name,
            } => {
                out.put_u8(kind::HELLO);
                out.put_u16(*shard);
                out.put_u16(*shard_count);
                out.put_u64(*epoch);
                out.put_u64(*log_end);
                out.put_slice(broker_name.as_bytes());
            }
            Frame::Data {
                epoch,
                offset,
                bytes,
            } => {
                out.put_u8(kind::DATA);
                out.put_u64(*epoch);
                out.put_u64(*offset);
                out.put_slice(bytes);
            }
            Frame::Ack { written, durable } => {
                out.put_u8(kind::ACK);
                out.put_u64(*written);
                out.put_u64(*durable);
            }
            Frame::Heartbeat {
                epoch,
                master_log_end,
            } => {
                out.put_u8(kind::HEARTBEAT);
                out.put_u64(*epoch);
                out.put_u64(*master_log_end);
            }
            Frame::Truncate {
                epoch,
                offset,
                history,
            } => {
                out.put_u8(kind::TRUNCATE);
                out.put_u64(*epoch);
                out.put_u64(*offset);
                for (e, start) in history {
                    out.put_u64(*e);
                    out.put_u64(*start);
                }
            }
            Frame::Close { reason, text } => {
                out.put_u8(kind::CLOSE);
                out.put_u16(*reason);
                out.put_slice(text.as_bytes());
            }
            Frame::Metadata { what, json } => {
                out.put_u8(kind::METADATA);
                out.put_u8(*what);
                out.put_slice(json);
            }
        }
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The length a frame header (its first 4 bytes) announces, checked against the limit.
    pub fn announced_len(head: [u8; 4]) -> Result<usize, FrameError> {
        let n = u32::from_be_bytes(head) as usize;
        if n == 0 || n > FRAME_BYTES_MAX {
            return Err(FrameError::TooLarge(n));
        }
        Ok(n)
    }

    /// Decodes a frame's body (kind and payload, the `length` bytes after the length).
    pub fn decode(body: Bytes) -> Result<Frame, FrameError> {
        let mut b = body;
        if b.is_empty() {
            return Err(FrameError::Short { kind: 0, len: 0 });
        }
        let k = b.get_u8();
        let need = |n: usize, b: &Bytes| {
            if b.len() < n {
                Err(FrameError::Short {
                    kind: k,
                    len: b.len(),
                })
            } else {
                Ok(())
            }
        };
        let text = |b: Bytes| String::from_utf8(b.to_vec()).map_err(|_| FrameError::NotUtf8);
        Ok(match k {
            kind::HELLO => {
                need(20, &b)?;
                let shard = b.get_u16();
                let shard_count = b.get_u16();
                let epoch = b.get_u64();
                let log_end = b.get_u64();
                Frame::Hello {
                    shard,
                    shard_count,
                    epoch,
                    log_end,
                    broker_name: text(b)?,
                }
            }
            kind::DATA => {
                need(16, &b)?;
                let epoch = b.get_u64();
                let offset = b.get_u64();
                Frame::Data {
                    epoch,
                    offset,
                    bytes: b,
                }
            }
            kind::ACK => {
                need(16, &b)?;
                Frame::Ack {
                    written: b.get_u64(),
                    durable: b.get_u64(),
                }
            }
            kind::HEARTBEAT => {
                need(16, &b)?;
                Frame::Heartbeat {
                    epoch: b.get_u64(),
                    master_log_end: b.get_u64(),
                }
            }
            kind::TRUNCATE => {
                need(16, &b)?;
                let epoch = b.get_u64();
                let offset = b.get_u64();
                if !b.len().is_multiple_of(16) {
                    return Err(FrameError::Short {
                        kind: k,
                        len: b.len(),
                    });
                }
                let mut history = Vec::with_capacity(b.len() / 16);
                while b.has_remaining() {
                    history.push((b.get_u64(), b.get_u64()));
                }
                Frame::Truncate {
                    epoch,
                    offset,
                    history,
                }
            }
            kind::CLOSE => {
                need(2, &b)?;
                let reason = b.get_u16();
                Frame::Close {
                    reason,
                    text: text(b)?,
                }
            }
            kind::METADATA => {
                need(1, &b)?;
                let what = b.get_u8();
                Frame::Metadata { what, json: b }
            }
            other => return Err(FrameError::UnknownKind(other)),
        })
    }
}

/// One shard's epoch history: `(epoch, start)` pairs, epochs rising, each the log offset where the
/// master of that epoch began to write. A master appends its epoch when it is promoted
/// ([`EpochHistory::begin`]); a slave adopts its master's history (the TRUNCATE frame). Persisted
/// by the broker (`broker::failover`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EpochHistory {
    pub entries: Vec<(u64, u64)>,
}

impl EpochHistory {
    /// The newest epoch whose data this log holds (0: none recorded).
    pub fn last_epoch(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.0)
    }

    /// Promoted at `epoch` with the log ending at `log_end`: entries that start past the end (a
    /// history adopted from a master whose data never arrived here) go, then `(epoch, log_end)`.
    /// Already master of `epoch` (a restart while the controller still names it): unchanged, the
    /// epoch began where it began.
    pub fn begin(&mut self, epoch: u64, log_end: u64) {
        if self.last_epoch() == epoch {
            return;
        }
        self.entries
            .retain(|&(e, start)| start <= log_end && e < epoch);
        self.entries.push((epoch, log_end));
    }
}

/// Where a slave's log stops agreeing with its master's ([`cut_point`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The slave keeps its log up to this offset (cutting what is past it) and follows from there.
    At(u64),
    /// The slave knows a newer epoch than this master: this master is stale (CLOSE NOT_A_MASTER).
    StaleMaster,
}

/// The cut decision, on the master, from its history and the slave's HELLO:
///
/// | slave epoch vs master's last | first master epoch > slave epoch | answer |
/// |---|---|---|
/// | greater | — | StaleMaster |
/// | not greater | none (the slave saw every epoch) | At(slave end) |
/// | not greater | starts at S | At(min(slave end, S)) |
///
/// Why it is right: the slave's log up to its end holds data of epochs up to its own; data of those
/// epochs on the master ends where the next epoch starts (S), and the master of that next epoch
/// was promoted holding exactly its log up to S. Bytes the slave has past S were written by a master
/// of an older epoch and never replicated to the new one: under SYNC_MASTER never acknowledged.
pub fn cut_point(master: &EpochHistory, slave_epoch: u64, slave_end: u64) -> Cut {
    if slave_epoch > master.last_epoch() {
        return Cut::StaleMaster;
    }
    match master.entries.iter().find(|&&(e, _)| e > slave_epoch) {
        None => Cut::At(slave_end),
        Some(&(_, start)) => Cut::At(slave_end.min(start)),
    }
}

/// What the SYNC_MASTER policy says about a stored send ([`sync_ack`]); the broker maps it to a
/// response code (`broker::replication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAck {
    /// The slave has the record durably: answer as stored.
    Acked,
    /// No slave connected, or the connected one is too far behind: SLAVE_NOT_AVAILABLE.
    NoSlave,
    /// Wait for the slave's acknowledgement (up to `slaveTimeout`, then FLUSH_SLAVE_TIMEOUT).
    Wait,
}

/// The SYNC_MASTER acknowledgement policy, one row per case (Java's `CommitLog.handleHA` and
/// `HAService.isSlaveOK`):
///
/// | slave connected | slave durable ≥ record end | master end − slave durable > `haSlaveFallbehindMax` | answer |
/// |---|---|---|---|
/// | no | — | — | NoSlave (SLAVE_NOT_AVAILABLE) |
/// | yes | yes | — | Acked (SEND_OK) |
/// | yes | no | yes | NoSlave (SLAVE_NOT_AVAILABLE) |
/// | yes | no | no | Wait: SEND_OK when acknowledged within `slaveTimeout`, else FLUSH_SLAVE_TIMEOUT |
pub fn sync_ack(
    slave_connected: bool,
    slave_durable: u64,
    record_end: u64,
    master_end: u64,
    fallbehind_max: u64,
) -> SyncAck {
    if !slave_connected {
        return SyncAck::NoSlave;
    }
    if slave_durable >= record_end {
        return SyncAck::Acked;
    }
    if master_end.saturating_sub(slave_durable) > fallbehind_max {
        return SyncAck::NoSlave;
    }
    SyncAck::Wait
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(f: Frame) {
        let mut out = BytesMut::new();
        f.encode(&mut out);
        let mut head = [0u8; 4];
        head.copy_from_slice(&out[..4]);
        let n = Frame::announced_len(head).unwrap();
        assert_eq!(n, out.len() - 4);
        assert_eq!(Frame::decode(out.freeze().slice(4..)).unwrap(), f);
    }

    #[test]
    fn frames_round_trip() {
        round_trip(Frame::Hello {
            shard: 3,
            shard_count: 4,
            epoch: 0,
            log_end: 3 << 48,
            broker_name: "broker-a".into(),
        });
        round_trip(Frame::Data {
            epoch: 1,
            offset: 42,
            bytes: Bytes::from_static(b"records"),
        });
        round_trip(Frame::Ack {
            written: 10,
            durable: 9,
        });
        round_trip(Frame::Heartbeat {
            epoch: 0,
            master_log_end: 77,
        });
        round_trip(Frame::Truncate {
            epoch: 2,
            offset: 99,
            history: vec![(1, 0), (2, 99)],
        });
        round_trip(Frame::Truncate {
            epoch: 0,
            offset: 5,
            history: vec![],
        });
        round_trip(Frame::Close {
            reason: reason::SLAVE_AHEAD,
            text: "slave ahead".into(),
        });
        round_trip(Frame::Metadata {
            what: what::TOPICS,
            json: Bytes::from_static(b"{}"),
        });
    }

    #[test]
    fn hello_layout_is_fixed() {
        let mut out = BytesMut::new();
        Frame::Hello {
            shard: 1,
            shard_count: 2,
            epoch: 3,
            log_end: 4,
            broker_name: "b".into(),
        }
        .encode(&mut out);
        let mut want = vec![0, 0, 0, 22, kind::HELLO, 0, 1, 0, 2];
        want.extend_from_slice(&3u64.to_be_bytes());
        want.extend_from_slice(&4u64.to_be_bytes());
        want.push(b'b');
        assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn bad_frames_are_refused() {
        assert_eq!(
            Frame::announced_len(((FRAME_BYTES_MAX + 1) as u32).to_be_bytes()),
            Err(FrameError::TooLarge(FRAME_BYTES_MAX + 1))
        );
        assert!(Frame::announced_len([0; 4]).is_err());
        assert_eq!(
            Frame::decode(Bytes::from_static(&[9])),
            Err(FrameError::UnknownKind(9))
        );
        assert_eq!(
            Frame::decode(Bytes::from_static(&[kind::ACK, 0, 0])),
            Err(FrameError::Short {
                kind: kind::ACK,
                len: 2
            })
        );
        assert!(Frame::decode(Bytes::new()).is_err());
    }

    #[test]
    fn cut_point_rows() {
        let h = EpochHistory {
            entries: vec![(1, 0), (2, 500), (4, 900)],
        };
        // Row 1: the slave knows a newer epoch than the master.
        assert_eq!(cut_point(&h, 5, 100), Cut::StaleMaster);
        // Row 2: the slave saw every epoch: it keeps its log.
        assert_eq!(cut_point(&h, 4, 950), Cut::At(950));
        // Row 3: an older epoch: cut where the next one began, if the slave has bytes past it.
        assert_eq!(cut_point(&h, 1, 700), Cut::At(500));
        assert_eq!(cut_point(&h, 1, 300), Cut::At(300));
        assert_eq!(cut_point(&h, 2, 1000), Cut::At(900));
        assert_eq!(cut_point(&h, 3, 1000), Cut::At(900));
        assert_eq!(cut_point(&h, 0, 10), Cut::At(0));
        // A master with no history (no controller): nothing is cut.
        assert_eq!(cut_point(&EpochHistory::default(), 0, 77), Cut::At(77));
    }

    #[test]
    fn history_begin_drops_what_never_arrived() {
        let mut h = EpochHistory {
            entries: vec![(1, 0), (2, 500), (3, 900)],
        };
        h.begin(4, 600);
        assert_eq!(h.entries, vec![(1, 0), (2, 500), (4, 600)]);
        assert_eq!(h.last_epoch(), 4);
        // Master of epoch 4 again after a restart: epoch 4 still began at 600.
        h.begin(4, 800);
        assert_eq!(h.entries, vec![(1, 0), (2, 500), (4, 600)]);
        let mut fresh = EpochHistory::default();
        fresh.begin(1, 42);
        assert_eq!(fresh.entries, vec![(1, 42)]);
    }

    #[test]
    fn sync_ack_rows() {
        let max = 1000;
        // Row 1: no slave connected.
        assert_eq!(sync_ack(false, 500, 100, 600, max), SyncAck::NoSlave);
        // Row 2: the slave already has the record durably.
        assert_eq!(sync_ack(true, 100, 100, 600, max), SyncAck::Acked);
        assert_eq!(sync_ack(true, 150, 100, 600, max), SyncAck::Acked);
        // Row 3: connected but too far behind.
        assert_eq!(sync_ack(true, 10, 100, 1011, max), SyncAck::NoSlave);
        // Row 4: connected, close enough: wait for it.
        assert_eq!(sync_ack(true, 10, 100, 1010, max), SyncAck::Wait);
        assert_eq!(sync_ack(true, 99, 100, 100, max), SyncAck::Wait);
    }
}
