//! Listeners and the connection loop.
//!
//! Sockets are bound in `main`, before any shard starts, so that a busy port is a clear start-up error:
//! one listening socket per (shard, port), all with SO_REUSEPORT so the kernel spreads connections
//! over the shards, plus SO_REUSEADDR so a restarted broker can bind while old connections sit in
//! TIME_WAIT. Each shard turns its raw fds into glommio listeners.
//!
//! A connection belongs to the shard that accepted it, for its whole life. Its loop:
//! - reads frames (`remoting::decode_frame`; nothing is parsed before a whole frame is buffered);
//! - runs each request as its own task, at most `inflight_max` at once (reading pauses beyond that:
//!   backpressure instead of unbounded memory), so pipelined requests are answered as they complete,
//!   in any order, matched by opaque;
//! - a writer task drains the connection's outbox, coalescing whatever responses are ready into one write.
//!
//! A malformed frame closes the connection after the requests already read are answered; nothing else
//! on the shard is affected.

use std::cell::RefCell;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;

use bytes::BytesMut;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::sync::Semaphore;
use socket2::{Domain, Protocol, Socket, Type};

use crate::remoting::{decode_frame, encode_frame, RemotingCommand};
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

/// Where commands to be written on a connection go.
pub type Outbox = flume::Sender<RemotingCommand>;

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
}

/// Settings of the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub inflight_max: usize,
    pub frame_max_bytes: usize,
}

/// Accepts connections on `fd` until `stop` resolves; each connection runs as its own task.
pub async fn accept_loop<H: Handler>(
    fd: RawFd,
    shard: ShardId,
    handler: Rc<H>,
    limits: ConnLimits,
    next_conn_id: Rc<RefCell<u64>>,
    stop: StopSignal,
    connections: Rc<glommio::sync::Gate>,
) {
    // SAFETY: `fd` is a bound, listening socket created by `bind_listeners` and handed to exactly one shard.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    let local_port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
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
                tracing::warn!(%shard, error = %e, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let id = {
            let mut n = next_conn_id.borrow_mut();
            *n += 1;
            *n
        };
        let conn = ConnId { shard, id };
        let handler = handler.clone();
        let Ok(pass) = connections.enter() else { break };
        let stop = stop.clone();
        glommio::spawn_local(async move {
            serve_connection(stream, conn, local_port, handler, limits, stop).await;
            drop(pass);
        })
        .detach();
    }
}

/// Runs one connection to its end.
pub async fn serve_connection<H: Handler>(
    stream: TcpStream,
    conn: ConnId,
    local_port: u16,
    handler: Rc<H>,
    limits: ConnLimits,
    stop: StopSignal,
) {
    let peer = match stream.peer_addr() {
        Ok(p) => p,
        Err(_) => return,
    };
    let _ = stream.set_nodelay(true);
    let ctx = RequestCtx {
        conn,
        peer,
        local_port,
    };
    let (mut reader, mut writer) = futures_lite::io::split(stream);
    let (outbox, responses) = flume::unbounded::<RemotingCommand>();
    handler.opened(conn, outbox.clone());

    let writer_task = glommio::spawn_local(async move {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        while let Ok(first) = responses.recv_async().await {
            encode_frame(&first, &mut buf);
            while buf.len() < 1 << 20 {
                match responses.try_recv() {
                    Ok(next) => encode_frame(&next, &mut buf),
                    Err(_) => break,
                }
            }
            if writer.write_all(&buf).await.is_err() {
                break;
            }
            buf.clear();
        }
        let _ = writer.close().await;
    });

    let permits = Rc::new(Semaphore::new(limits.inflight_max as u64));
    let mut inbuf = BytesMut::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    'read: loop {
        let read = futures_lite::future::or(async { Some(reader.read(&mut chunk).await) }, async {
            let _ = stop.recv_async().await;
            None
        })
        .await;
        let n = match read {
            None | Some(Ok(0)) | Some(Err(_)) => break,
            Some(Ok(n)) => n,
        };
        inbuf.extend_from_slice(&chunk[..n]);
        loop {
            let cmd = match decode_frame(&mut inbuf, limits.frame_max_bytes) {
                Ok(Some(cmd)) => cmd,
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "closing connection after a bad frame");
                    break 'read;
                }
            };
            if cmd.is_response() {
                // Answers to broker-initiated oneway requests never come; anything else is ignored.
                continue;
            }
            let Ok(permit) = permits.acquire_static_permit(1).await else {
                break 'read;
            };
            let handler = handler.clone();
            let outbox = outbox.clone();
            glommio::spawn_local(async move {
                if let Some(resp) = handler.handle(cmd, ctx).await {
                    let _ = outbox.send(resp);
                }
                drop(permit);
            })
            .detach();
        }
    }
    handler.closed(conn);
    // Let in-flight requests finish and their answers go out, then close.
    let _ = permits.acquire(limits.inflight_max as u64).await;
    drop(outbox);
    writer_task.await;
}
