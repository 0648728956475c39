//! What a broker calls to learn its role: [`heartbeat`] sends a [`BrokerHeartbeat`] to the controller
//! group and returns the [`Assignment`] (master id and address, epoch, own role) from the raft leader.
//!
//! Blocking std I/O with time limits, on purpose: the broker calls it from one plain thread (like the
//! ACL watcher), every `heartbeat_interval`, and hands the assignment to its shards; a shard never
//! blocks on the controller. The controller speaks [`wire`](super::wire) frames on its one port.
//!
//! Leader discovery: try the last known leader first, then every address; a follower answers
//! `NotLeader` with the leader's address, which is tried next (a few hops at most per call).

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::state::Assignment;
use super::wire::{
    read_frame_blocking, write_frame_blocking, BrokerHeartbeat, HeartbeatReply, NodeStatus,
    Request, Response,
};

/// Redirects followed in one call before giving up.
const REDIRECTS_MAX: usize = 3;

/// Why no assignment came back.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("controller {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("no controller leader answered ({tried} tried; last: {last})")]
    NoLeader { tried: usize, last: String },
    #[error("controller {addr} answered {what}")]
    Unexpected { addr: String, what: String },
}

/// A broker's handle on the controller group; remembers the leader between calls.
#[derive(Clone, Debug)]
pub struct ControllerClient {
    addrs: Vec<String>,
    timeout: Duration,
    leader: Option<String>,
}

impl ControllerClient {
    /// `addrs`: every controller node (RocketMQ's `controllerAddr`, `;`-separated in config);
    /// `timeout`: for connect, and for each read and write.
    pub fn new(addrs: Vec<String>, timeout: Duration) -> ControllerClient {
        ControllerClient {
            addrs,
            timeout,
            leader: None,
        }
    }

    /// Sends one heartbeat and returns the broker's assignment from the raft leader.
    pub fn heartbeat(&mut self, hb: &BrokerHeartbeat) -> Result<Assignment, ClientError> {
        let mut queue: Vec<String> = self.leader.iter().cloned().collect();
        queue.extend(
            self.addrs
                .iter()
                .filter(|a| Some(*a) != self.leader.as_ref())
                .cloned(),
        );
        let mut tried = 0;
        let mut redirects = 0;
        let mut last = String::from("no address");
        while let Some(addr) = (!queue.is_empty()).then(|| queue.remove(0)) {
            tried += 1;
            match call(&addr, &Request::Heartbeat(hb.clone()), self.timeout) {
                Ok(Response::Heartbeat(HeartbeatReply::Assignment(a))) => {
                    self.leader = Some(addr);
                    return Ok(a);
                }
                Ok(Response::Heartbeat(HeartbeatReply::NotLeader { leader })) => {
                    last = format!("{addr}: not leader");
                    if let Some((_, leader_addr)) = leader {
                        if redirects < REDIRECTS_MAX && leader_addr != addr {
                            redirects += 1;
                            queue.retain(|a| *a != leader_addr);
                            queue.insert(0, leader_addr);
                        }
                    }
                }
                Ok(Response::Heartbeat(HeartbeatReply::Unavailable { reason })) => {
                    last = format!("{addr}: {reason}");
                }
                Ok(other) => {
                    return Err(ClientError::Unexpected {
                        addr,
                        what: format!("{other:?}"),
                    })
                }
                Err(e) => last = e.to_string(),
            }
        }
        self.leader = None;
        Err(ClientError::NoLeader { tried, last })
    }
}

/// One heartbeat to the group at `addrs` (no leader remembered): see [`ControllerClient::heartbeat`].
pub fn heartbeat(
    addrs: &[String],
    hb: &BrokerHeartbeat,
    timeout: Duration,
) -> Result<Assignment, ClientError> {
    ControllerClient::new(addrs.to_vec(), timeout).heartbeat(hb)
}

/// One node's status (term, leader, state): for operators and tests.
pub fn status(addr: &str, timeout: Duration) -> Result<NodeStatus, ClientError> {
    match call(addr, &Request::Status, timeout)? {
        Response::Status(s) => Ok(s),
        other => Err(ClientError::Unexpected {
            addr: addr.to_string(),
            what: format!("{other:?}"),
        }),
    }
}

fn call(addr: &str, req: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let wrap = |source| ClientError::Io {
        addr: addr.to_string(),
        source,
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(wrap)?
        .next()
        .ok_or_else(|| wrap(io::Error::new(io::ErrorKind::InvalidInput, "no address")))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout).map_err(wrap)?;
    stream.set_read_timeout(Some(timeout)).map_err(wrap)?;
    stream.set_write_timeout(Some(timeout)).map_err(wrap)?;
    stream.set_nodelay(true).map_err(wrap)?;
    write_frame_blocking(&mut stream, req).map_err(wrap)?;
    read_frame_blocking(&mut stream).map_err(wrap)
}
