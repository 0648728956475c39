//! The remoting client: what the load generator, the admin tool, the replication follower and the
//! tests use to talk to a broker or a NameServer.
//!
//! Three layers, each usable on its own:
//! - [`Conn`] (`conn.rs`): one multiplexed connection; many requests in flight, matched by opaque.
//!   Raw calls take a [`RemotingCommand`](crate::remoting::RemotingCommand) or an encoder closure (zero-allocation hot paths).
//! - Typed requests (`requests.rs`): `send`, `pull`, offsets, heartbeat, routes, topic creation, as
//!   methods on [`Conn`] that build the request from the typed headers and bodies of
//!   [`crate::remoting`] and turn the response into a typed result or a [`ClientError`].
//! - Routes (`route.rs`): a topic's queues from the NameServer, creating the topic from the brokers
//!   behind `TBW102` when it does not exist yet ([`lookup_or_create`]).
//!
//! # Contract
//! - Runtime: glommio. A [`Conn`] lives on the executor that opened it (`Rc`, no `Send`); it spawns
//!   a reader, a writer and a sweeper task there. Use one connection per executor thread. This is
//!   the broker's runtime too, so a replication follower inside a shard can use it as is.
//! - A request method writes the request into the connection's output buffer *before it returns*;
//!   the future it returns only waits for the response. Requests issued one after the other reach
//!   the wire in that order without awaiting in between (pipelining), and dropping the future does
//!   not take a request back: its response is discarded when it arrives.
//! - Every future resolves exactly once, within the connection's timeout plus
//!   [`conn::SWEEP_INTERVAL`]: to the typed result, or to a [`ClientError`] saying whether the
//!   request never got an answer ([`ClientError::Closed`], [`ClientError::Timeout`]), the broker
//!   answered with a code the request does not accept ([`ClientError::Refused`]), or the answer was
//!   malformed ([`ClientError::BadResponse`]). Raw calls ([`Conn::call`]) return any response code.
//! - A connection that failed stays failed: [`Conn::is_closed`], every later request fails with
//!   [`ClientError::Closed`]; reconnecting is the caller's choice.

pub mod conn;
mod requests;
mod route;

pub use conn::{Callback, Conn, ResponseFuture};
pub use requests::{
    send_status, PullResult, PullStatus, Records, SendRequest, SendResult, SendStatus,
};
pub use route::{lookup_or_create, QueueRef, Route};

/// Why a request has no (acceptable) response. Each variant names the peer and what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("connection to {addr} closed")]
    Closed { addr: String },
    #[error("no response from {addr} within {timeout_ms} ms")]
    Timeout { addr: String, timeout_ms: u64 },
    /// The peer answered with a response code this request does not accept.
    #[error("request {request} to {addr}: response code {code} {remark}")]
    Refused {
        addr: String,
        /// Request code.
        request: i32,
        /// Response code.
        code: i32,
        remark: String,
    },
    /// The response's code was acceptable but its header or body could not be read.
    #[error("request {request} to {addr}: malformed response: {reason}")]
    BadResponse {
        addr: String,
        request: i32,
        reason: String,
    },
    /// Route lookup: the topic does not exist and nothing can create it.
    #[error(
        "topic {topic} does not exist and the NameServer has no {template} route to create it from"
    )]
    NoTemplateRoute { topic: String, template: String },
    /// Route lookup: the topic was created but the NameServer did not publish its route in time.
    #[error("topic {topic} was created but its route never appeared")]
    RouteNotPublished { topic: String },
}

impl ClientError {
    /// The response code, when the peer answered with one it should not have.
    pub fn response_code(&self) -> Option<i32> {
        match self {
            ClientError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
