//! Listeners, admission and the connection loop: the network edge.
//!
//! Sockets are bound in `main`, before any shard starts, so that a busy port is a clear start-up error:
//! one listening socket per (shard, port), all with SO_REUSEPORT so the kernel spreads connections
//! over the shards, plus SO_REUSEADDR so a restarted broker can bind while old connections sit in
//! TIME_WAIT. Each shard turns its raw fds into glommio listeners. The kernel's pick is a hash, so
//! with `spread` the accepting shard hands a new connection to the shard serving the fewest when it
//! serves more ([`Handler::hand_off`], which the broker sends through its router).
//!
//! A connection belongs to the shard that serves it, for its whole life (`conn`):
//! - reads frames (`remoting::decode_frame`; nothing is parsed before a whole frame is buffered);
//! - runs each request as its own task, at most `inflight_max` at once (reading pauses beyond that:
//!   backpressure instead of unbounded memory), so pipelined requests are answered as they complete,
//!   in any order, matched by opaque;
//! - a writer task drains the connection's outbox, coalescing whatever responses are ready into one write.
//!
//! What no peer can make a shard exceed (`edge`): a connection count, a byte budget for large
//! frames (a frame waits for budget for all of its length before it is read), a per-connection
//! queue of unread responses (past it, the connection's requests are not read), and time limits on
//! an incomplete frame, a budget wait, a peer that reads nothing, an idle connection.
//!
//! A malformed frame closes the connection after the requests already read are answered; nothing else
//! on the shard is affected.

mod conn;
pub mod edge;
pub mod spread;

pub use conn::{serve_connection, Outbox, OutboxClosed};
pub use edge::{CloseReason, ConnLimits, Edge};
pub use spread::Spread;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use glommio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, Socket, Type};

use crate::remoting::RemotingCommand;
use crate::shard::ShardId;

/// Why a port could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("port {port} on {ip} is already in use (is another broker running?)")]
    InUse { ip: Ipv4Addr, port: u16 },
    #[error("cannot listen on {ip}:{port}: {source}")]
    Io {
        ip: Ipv4Addr,
        port: u16,
        #[source]
        source: std::io::Error,
    },
}

fn socket_for(ip: Ipv4Addr, port: u16, reuse_port: bool) -> std::io::Result<Socket> {
    let sk = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    sk.set_reuse_address(true)?;
    sk.set_reuse_port(reuse_port)?;
    sk.bind(&SocketAddr::V4(SocketAddrV4::new(ip, port)).into())?;
    sk.listen(1024)?;
    Ok(sk)
}

/// How long a port that is in use is retried before it counts as busy.
pub const BIND_RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(3);

/// Binds `copies` SO_REUSEPORT listening sockets on `ip:port`, after checking that no other process
/// listens there (a plain bind first: SO_REUSEPORT alone would happily share the port with a stranger).
pub fn bind_listeners(ip: Ipv4Addr, port: u16, copies: usize) -> Result<Vec<RawFd>, BindError> {
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            BindError::InUse { ip, port }
        } else {
            BindError::Io { ip, port, source }
        }
    };
    // A process killed with SIGKILL can hold its listeners for a moment after it is reaped (io_uring
    // tears its rings down asynchronously, and a pending accept keeps the socket). Retry that briefly.
    let deadline = std::time::Instant::now() + BIND_RETRY_WINDOW;
    loop {
        match socket_for(ip, port, false) {
            Ok(probe) => break drop(probe),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(io(e)),
        }
    }
    (0..copies)
        .map(|_| {
            socket_for(ip, port, true)
                .map(|s| s.into_raw_fd())
                .map_err(io)
        })
        .collect()
}

/// Identifies a connection: the shard that owns it and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    pub shard: ShardId,
    pub id: u64,
}

/// What a request handler knows about where a request came from.
#[derive(Debug, Clone, Copy)]
pub struct RequestCtx {
    pub conn: ConnId,
    pub peer: SocketAddr,
    /// The local port the request arrived on.
    pub local_port: u16,
}

/// Resolves when the process shuts down: the sender side is dropped, which disconnects every clone.
pub type StopSignal = flume::Receiver<()>;

/// A boxed, shard-local future.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// What the connection loop calls. Implemented by the broker.
pub trait Handler: 'static {
    /// Answers one request; `None` means no response (oneway requests).
    fn handle(
        self: Rc<Self>,
        cmd: RemotingCommand,
        ctx: RequestCtx,
    ) -> LocalFuture<Option<RemotingCommand>>;
    /// A connection opened; `outbox` writes commands to it (server-initiated requests).
    fn opened(&self, conn: ConnId, outbox: Outbox);
    /// A connection closed (peer left, bad frame, or shutdown).
    fn closed(&self, conn: ConnId);
    /// A response from the peer, to a request the server sent on `conn` (matched by opaque by the
    /// handler); ignored by default.
    fn response(&self, _conn: ConnId, _cmd: RemotingCommand) {}
    /// Delivers a connection this shard accepted to shard `to`, which serves it ([`Spread`]); the
    /// receiving shard passes it to [`serve_adopted`]. Only called when the accept loop was given a
    /// `Spread`. Dropping `conn` closes the connection.
    fn hand_off(&self, _to: ShardId, _conn: Adopted) {}
}

/// A connection accepted by one shard, on its way to the shard that serves it.
#[derive(Debug)]
pub struct Adopted {
    pub fd: OwnedFd,
    /// The local port it was accepted on (which service it addresses).
    pub local_port: u16,
}

/// Where a shard serves connections: its edge, the gate that shutdown closes, and the process-wide
/// counts when connections are spread.
#[derive(Clone)]
pub struct Serving {
    pub edge: Rc<Edge>,
    pub connections: Rc<glommio::sync::Gate>,
    pub spread: Option<Arc<Spread>>,
}

/// Accepts connections on `fd` until `stop` resolves; each admitted connection runs as its own task.
/// Past the shard's connection cap a connection is accepted and reset at once (see `edge`). With a
/// `Spread`, a connection goes to the shard serving the fewest when this one serves more.
pub async fn accept_loop<H: Handler>(
    fd: RawFd,
    handler: Rc<H>,
    serving: Serving,
    stop: StopSignal,
) {
    // SAFETY: `fd` is a bound, listening socket created by `bind_listeners` and handed to exactly one shard.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    let local_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let here = serving.edge.shard;
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            let _ = stop.recv_async().await;
            None
        })
        .await;
        let stream = match accepted {
            None => break,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                tracing::warn!(shard = %here, error = %e, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let to = serving.spread.as_ref().map_or(here, |s| s.place(here));
        if to != here {
            // glommio's stream gives no fd away: hand over a duplicate and close this one.
            // SAFETY: the fd belongs to `stream`, open until it is dropped below.
            let dup = unsafe { libc::fcntl(stream.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
            drop(stream);
            if dup < 0 {
                tracing::warn!(shard = %here, error = %std::io::Error::last_os_error(), "cannot hand a connection over");
                if let Some(s) = &serving.spread {
                    s.done(to);
                }
                continue;
            }
            // SAFETY: `dup` is a new descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(dup) };
            handler.hand_off(to, Adopted { fd, local_port });
            continue;
        }
        if !serve_stream(stream, local_port, handler.clone(), &serving) {
            break;
        }
    }
}

/// Serves a connection another shard accepted and handed to this one ([`Handler::hand_off`]).
pub fn serve_adopted<H: Handler>(conn: Adopted, handler: Rc<H>, serving: &Serving) {
    // SAFETY: the fd is a connected TCP socket whose ownership `conn` carried here.
    let stream = unsafe { TcpStream::from_raw_fd(conn.fd.into_raw_fd()) };
    serve_stream(stream, conn.local_port, handler, serving);
}

/// Admits `stream` on this shard's edge and serves it as its own task; counted on this shard in
/// `serving.spread` until it ends. False once shutdown has closed the gate (the stream is dropped).
fn serve_stream<H: Handler>(
    stream: TcpStream,
    local_port: u16,
    handler: Rc<H>,
    serving: &Serving,
) -> bool {
    let shard = serving.edge.shard;
    let spread = serving.spread.clone();
    let counted = move || {
        if let Some(s) = &spread {
            s.done(shard);
        }
    };
    let Ok(peer) = stream.peer_addr() else {
        counted();
        return true;
    };
    let edge = serving.edge.clone();
    let Some((conn, state)) = edge.admit(peer.ip()) else {
        refuse(stream);
        counted();
        return true;
    };
    let Ok(pass) = serving.connections.enter() else {
        edge.release(conn.id, CloseReason::Shutdown);
        counted();
        return false;
    };
    glommio::spawn_local(async move {
        let reason = serve_connection(stream, conn, state, local_port, handler, edge.clone()).await;
        edge.release(conn.id, reason);
        counted();
        drop(pass);
    })
    .detach();
    true
}

/// Closes an accepted connection with a reset (SO_LINGER 0): the peer sees "connection reset" on its
/// first read or write, and no TIME_WAIT is left here.
fn refuse(stream: TcpStream) {
    use std::os::fd::BorrowedFd;
    // SAFETY: the fd belongs to `stream`, which outlives the borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    let _ = socket2::SockRef::from(&fd).set_linger(Some(std::time::Duration::ZERO));
    drop(stream);
}
