//! The controller's wire format, between controller nodes (raft RPCs) and from brokers (heartbeats):
//! one TCP connection carries request/response pairs in order, each a frame `u32 length (big-endian) |
//! JSON`. JSON because the messages are small and rare (raft heartbeats, a few broker heartbeats a
//! second) and openraft's types already derive serde; plain TCP because hyper's server is not needed
//! for one request kind and the broker side must be callable from a plain thread.
//!
//! `encode`/`decode` are pure; `read_frame`/`write_frame` (tokio) and `read_frame_blocking`/
//! `write_frame_blocking` (std) move whole frames. A frame over [`FRAME_BYTES_MAX`] is refused before
//! it is buffered.

use std::io::{self, Read, Write};

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::state::{Assignment, ClusterState};
use super::TypeConfig;

/// Largest frame accepted (a snapshot chunk or an append batch is far smaller).
pub const FRAME_BYTES_MAX: usize = 16 << 20;

/// A broker's heartbeat to the controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerHeartbeat {
    pub broker_name: String,
    pub broker_id: u64,
    /// `ip:port` that clients reach it on.
    pub address: String,
    /// `ip:port` of its replication listener (shard 0's `haListenPort`; shard k adds k): where
    /// its slaves connect when it is master. Empty from a broker that does not say.
    #[serde(default)]
    pub ha_address: String,
    /// The epoch the broker last learnt (0 before any).
    pub epoch: u64,
    /// Durable physical offset of each shard's commit log, shard 0 first.
    pub durable_offsets: Vec<u64>,
}

/// What a controller node answers to a heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeartbeatReply {
    /// This node is the raft leader: the broker's assignment.
    Assignment(Assignment),
    /// Ask the leader instead (id and address, when this node knows it).
    NotLeader { leader: Option<(u64, String)> },
    /// The leader could not commit (no quorum, shutting down); try again later.
    Unavailable { reason: String },
}

/// A node's view, for operators and tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: u64,
    pub term: u64,
    pub leader: Option<u64>,
    pub last_applied_index: Option<u64>,
    pub state: ClusterState,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    Heartbeat(BrokerHeartbeat),
    Status,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Heartbeat(HeartbeatReply),
    Status(NodeStatus),
}

/// `value` as one frame.
pub fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    let body = serde_json::to_vec(value).map_err(io::Error::other)?;
    if body.len() > FRAME_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame too large",
        ));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// A frame's body (without its length prefix) decoded.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> io::Result<T> {
    serde_json::from_slice(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn check_len(prefix: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > FRAME_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {FRAME_BYTES_MAX}"),
        ));
    }
    Ok(len)
}

pub async fn write_frame<W, T>(w: &mut W, value: &T) -> io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
    T: Serialize,
{
    w.write_all(&encode(value)?).await?;
    w.flush().await
}

pub async fn read_frame<R, T>(r: &mut R) -> io::Result<T>
where
    R: tokio::io::AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; check_len(prefix)?];
    r.read_exact(&mut body).await?;
    decode(&body)
}

pub fn write_frame_blocking<W: Write, T: Serialize>(w: &mut W, value: &T) -> io::Result<()> {
    w.write_all(&encode(value)?)?;
    w.flush()
}

pub fn read_frame_blocking<R: Read, T: DeserializeOwned>(r: &mut R) -> io::Result<T> {
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix)?;
    let mut body = vec![0u8; check_len(prefix)?];
    r.read_exact(&mut body)?;
    decode(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_is_refused() {
        let hb = Request::Heartbeat(BrokerHeartbeat {
            broker_name: "b".into(),
            broker_id: 1,
            address: "127.0.0.1:10911".into(),
            ha_address: "127.0.0.1:10912".into(),
            epoch: 3,
            durable_offsets: vec![5, (1 << 48) + 9],
        });
        let frame = encode(&hb).unwrap();
        let mut cursor = io::Cursor::new(frame);
        match read_frame_blocking::<_, Request>(&mut cursor).unwrap() {
            Request::Heartbeat(got) => assert_eq!(got.durable_offsets, vec![5, (1 << 48) + 9]),
            other => panic!("{other:?}"),
        }
        let mut huge = ((FRAME_BYTES_MAX + 1) as u32).to_be_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        let err = read_frame_blocking::<_, Request>(&mut io::Cursor::new(huge)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
