//! openraft's network between controller nodes: one lazily opened TCP connection per peer carrying
//! [`wire`](super::wire) frames, request then response, bounded by openraft's per-RPC time limit. Any
//! I/O error or time-out drops the connection (the next RPC reconnects) and is reported as
//! `Unreachable`, which openraft retries with its backoff; an error the peer's raft returned is
//! reported as a remote error.

use std::io;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use tokio::net::TcpStream;

use super::wire::{read_frame, write_frame, Request, Response};
use super::TypeConfig;

type NodeId = u64;

/// Creates a [`PeerClient`] per target node.
#[derive(Clone, Default)]
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.clone(),
            stream: None,
        }
    }
}

/// The connection to one peer.
pub struct PeerClient {
    target: NodeId,
    addr: String,
    stream: Option<TcpStream>,
}

impl PeerClient {
    /// One request/response over the (re)opened connection, within `option.hard_ttl()`.
    async fn call(&mut self, req: &Request, option: &RPCOption) -> io::Result<Response> {
        let result = tokio::time::timeout(option.hard_ttl(), async {
            if self.stream.is_none() {
                let s = TcpStream::connect(&self.addr).await?;
                s.set_nodelay(true)?;
                self.stream = Some(s);
            }
            let stream = self.stream.as_mut().expect("connected above");
            write_frame(stream, req).await?;
            read_frame::<_, Response>(stream).await
        })
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "controller RPC timed out",
            ))
        });
        if result.is_err() {
            self.stream = None;
        }
        result
    }
}

fn unreachable<E: std::error::Error>(e: io::Error) -> RPCError<NodeId, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&e))
}

fn unexpected<E: std::error::Error>(resp: &Response) -> RPCError<NodeId, BasicNode, E> {
    let e = io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected controller response {resp:?}"),
    );
    RPCError::Network(NetworkError::new(&e))
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(&Request::AppendEntries(rpc), &option).await {
            Ok(Response::AppendEntries(Ok(r))) => Ok(r),
            Ok(Response::AppendEntries(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(other) => Err(unexpected(&other)),
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.call(&Request::InstallSnapshot(rpc), &option).await {
            Ok(Response::InstallSnapshot(Ok(r))) => Ok(r),
            Ok(Response::InstallSnapshot(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(other) => Err(unexpected(&other)),
            Err(e) => Err(unreachable(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(&Request::Vote(rpc), &option).await {
            Ok(Response::Vote(Ok(r))) => Ok(r),
            Ok(Response::Vote(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(other) => Err(unexpected(&other)),
            Err(e) => Err(unreachable(e)),
        }
    }
}
