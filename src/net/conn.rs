//! One connection: a reader that turns bytes into requests under the edge's bounds, a task per
//! request, and a writer that coalesces responses.
//!
//! The reader (see `edge` for the bounds it keeps):
//! ```text
//!   loop:  dispatch every whole frame in the buffer          (wait: outbound below half, in-flight slot)
//!          a partial frame over FRAME_UNBUDGETED_BYTES?  ──▶ wait for budget of its whole length,
//!                                                            then read exactly that frame, dispatch it
//!          read at most READ_CHUNK_BYTES more
//! ```
//! The reader runs raced against the connection's end signal (a kill from the sweeper or the
//! process stopping), so a read, a budget wait or an outbound wait is abandoned the moment the
//! connection is closed; its buffer and any budget grant are dropped with it.
//!
//! Ending: after the peer closed, a bad frame, or shutdown, the requests already read are answered
//! (`Draining`, still under the sweeper's outbound stall limit). After a kill, the writer is
//! cancelled at once; the requests in flight still finish (their answers are discarded) before the
//! connection's slot is released, so the connection cap also bounds in-flight work.
//!
//! Sizes are per-connection memory times the connection cap: reads take 16 KiB at a time (64 KiB
//! before; a granted large frame is read straight into its own buffer instead), the writer gathers
//! up to 256 KiB per write (1 MiB before) and frees a buffer over 64 KiB when its queue is empty.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::BytesMut;
use futures_lite::io::{ReadHalf, WriteHalf};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;

use super::edge::{
    CloseReason, ConnState, Edge, Grant, Phase, FRAME_UNBUDGETED_BYTES, READ_CHUNK_BYTES,
};
use super::{ConnId, Handler, RequestCtx};
use crate::remoting::{check_frame, decode_frame, encode_frame, RemotingCommand};

/// The writer gathers ready responses into one write up to this size.
const WRITE_COALESCE_BYTES: usize = 256 << 10;
/// A writer keeps a buffer this large between writes; a larger one is freed when the queue is empty.
const WRITE_BUFFER_KEEP_BYTES: usize = 64 << 10;

/// Where commands to be written on a connection go. Counts what it queues, so a peer that does not
/// read its responses is noticed (`connection_outbound_bytes_max`).
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: flume::Sender<RemotingCommand>,
    state: Rc<ConnState>,
}

/// The connection is gone; the command was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection closed")]
pub struct OutboxClosed;

impl Outbox {
    /// Queues `cmd` for writing. Never waits: a response is always accepted (every request gets one);
    /// the reader stops taking new requests instead.
    pub fn send(&self, cmd: RemotingCommand) -> Result<(), OutboxClosed> {
        let size = outbound_size(&cmd);
        self.state.add_queued(size);
        self.tx.send(cmd).map_err(|_| {
            self.state.sub_queued(size);
            OutboxClosed
        })
    }
}

/// What a queued command counts against the outbound limit: its encoded size, estimated without
/// encoding (the writer subtracts the same figure).
fn outbound_size(cmd: &RemotingCommand) -> usize {
    let ext: usize = cmd
        .ext_fields
        .iter()
        .map(|(k, v)| k.len() + v.len() + 8)
        .sum();
    128 + cmd.body.len() + cmd.remark.as_ref().map_or(0, |r| r.len()) + ext
}

/// Runs one connection to its end; returns why it ended.
pub async fn serve_connection<H: Handler>(
    stream: TcpStream,
    conn: ConnId,
    state: Rc<ConnState>,
    local_port: u16,
    handler: Rc<H>,
    edge: Rc<Edge>,
) -> CloseReason {
    let Ok(peer) = stream.peer_addr() else {
        return CloseReason::Peer;
    };
    let _ = stream.set_nodelay(true);
    let ctx = RequestCtx {
        conn,
        peer,
        local_port,
    };
    let (mut reader, writer) = futures_lite::io::split(stream);
    let (tx, rx) = flume::unbounded::<RemotingCommand>();
    let outbox = Outbox {
        tx,
        state: state.clone(),
    };
    handler.opened(conn, outbox.clone());
    let writer_task = glommio::spawn_local(write_loop(writer, rx, state.clone()));

    let inflight_max = edge.limits.inflight_max;
    let permits = Rc::new(Semaphore::new(inflight_max as u64));
    let reading = Reader {
        ctx,
        state: &state,
        edge: &edge,
        handler: &handler,
        outbox: &outbox,
        permits: &permits,
    };
    let end = futures_lite::future::or(reading.run(&mut reader), state.ended(true)).await;
    drop(reader);
    handler.closed(conn);
    let end = match end {
        CloseReason::Peer | CloseReason::BadFrame | CloseReason::Shutdown => {
            state.set_phase(Phase::Draining);
            let drained = async {
                let _ = permits.acquire(inflight_max as u64).await;
                drop(outbox);
                writer_task.await;
                end
            };
            let ended = futures_lite::future::or(drained, state.ended(false)).await;
            if ended != end {
                // Killed while draining: the writer is gone; in-flight requests still finish.
                let _ = permits.acquire(inflight_max as u64).await;
            }
            ended
        }
        killed => {
            drop(writer_task);
            drop(outbox);
            let _ = permits.acquire(inflight_max as u64).await;
            killed
        }
    };
    // Answers still queued are dropped with the writer: give their bytes back to the shard.
    state.sub_queued(state.queued());
    if !matches!(end, CloseReason::Peer | CloseReason::Shutdown) {
        tracing::debug!(%peer, reason = ?end, "connection closed");
    }
    end
}

/// The read side of one connection (borrowed pieces; lives as long as the read loop).
struct Reader<'a, H: Handler> {
    ctx: RequestCtx,
    state: &'a Rc<ConnState>,
    edge: &'a Rc<Edge>,
    handler: &'a Rc<H>,
    outbox: &'a Outbox,
    permits: &'a Rc<Semaphore>,
}

impl<H: Handler> Reader<'_, H> {
    fn peer(&self) -> SocketAddr {
        self.ctx.peer
    }

    async fn run(&self, reader: &mut ReadHalf<TcpStream>) -> CloseReason {
        let frame_max = self.edge.limits.frame_max_bytes;
        let mut inbuf = BytesMut::new();
        let mut chunk = vec![0u8; READ_CHUNK_BYTES];
        loop {
            // Every whole frame already buffered.
            let declared = loop {
                match check_frame(&inbuf, frame_max) {
                    Err(e) => {
                        tracing::debug!(peer = %self.peer(), error = %e, "bad frame");
                        return CloseReason::BadFrame;
                    }
                    Ok(None) => break declared_len(&inbuf),
                    Ok(Some(_)) => match decode_frame(&mut inbuf, frame_max) {
                        Ok(Some(cmd)) => {
                            self.state.frame_done();
                            if !self.dispatch(cmd, None).await {
                                return CloseReason::Shutdown;
                            }
                        }
                        Ok(None) => unreachable!("check_frame said the frame is whole"),
                        Err(e) => {
                            tracing::debug!(peer = %self.peer(), error = %e, "bad frame");
                            return CloseReason::BadFrame;
                        }
                    },
                }
            };
            // A large frame: budget for all of it first, then exactly its bytes.
            if let Some(len) = declared.filter(|&len| len > FRAME_UNBUDGETED_BYTES) {
                let grant = match self.edge.try_budget(self.state, len) {
                    Some(g) => g,
                    None => {
                        self.state.set_phase(Phase::WaitBudget);
                        match self.edge.budget(self.state, len).await {
                            Some(g) => g,
                            None => return CloseReason::Shutdown,
                        }
                    }
                };
                self.state.set_phase(Phase::Frame);
                let mut filled = inbuf.len();
                inbuf.resize(len, 0);
                while filled < len {
                    match reader.read(&mut inbuf[filled..]).await {
                        Ok(0) | Err(_) => return CloseReason::Peer,
                        Ok(n) => filled += n,
                    }
                }
                match decode_frame(&mut inbuf, frame_max) {
                    Ok(Some(cmd)) => {
                        self.state.frame_done();
                        if !self.dispatch(cmd, Some(grant)).await {
                            return CloseReason::Shutdown;
                        }
                    }
                    Ok(None) => unreachable!("exactly one whole frame is buffered"),
                    Err(e) => {
                        tracing::debug!(peer = %self.peer(), error = %e, "bad frame");
                        return CloseReason::BadFrame;
                    }
                }
                continue;
            }
            self.state.set_phase(if inbuf.is_empty() {
                Phase::Idle
            } else {
                Phase::Frame
            });
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return CloseReason::Peer,
                Ok(n) => inbuf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Runs one request as its own task, once the connection may take it: its responses are being
    /// read and it has an in-flight slot. `false` if the connection can take no more.
    async fn dispatch(&self, cmd: RemotingCommand, grant: Option<Grant>) -> bool {
        if cmd.is_response() {
            // Answers to broker-initiated requests (oneway ones get none): the handler matches them.
            self.handler.response(self.ctx.conn, cmd);
            return true;
        }
        let out_max = self.edge.limits.outbound_bytes_max;
        if self.state.queued() > out_max {
            self.state.set_phase(Phase::WaitOutbound);
            self.edge.count(|m| m.outbound_pauses += 1);
            self.state.queued_at_most(out_max / 2).await;
        }
        let slot = match self.permits.try_acquire_static_permit(1) {
            Ok(p) => p,
            Err(_) => {
                self.state.set_phase(Phase::WaitInflight);
                match self.permits.acquire_static_permit(1).await {
                    Ok(p) => p,
                    Err(_) => return false,
                }
            }
        };
        let handler = self.handler.clone();
        let outbox = self.outbox.clone();
        let ctx = self.ctx;
        glommio::spawn_local(async move {
            if let Some(resp) = handler.handle(cmd, ctx).await {
                let _ = outbox.send(resp);
            }
            drop(slot);
            drop(grant);
        })
        .detach();
        true
    }
}

/// The declared length (length word + 4) of the partial frame at the front of `buf`, once its
/// prefix (8 bytes) is buffered and was checked by `check_frame`.
fn declared_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < crate::remoting::FRAME_PREFIX_BYTES {
        return None;
    }
    Some(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize + 4)
}

/// Writes queued commands, several per write, and tells the state what left the queue.
async fn write_loop(
    mut writer: WriteHalf<TcpStream>,
    rx: flume::Receiver<RemotingCommand>,
    state: Rc<ConnState>,
) {
    let mut buf = BytesMut::new();
    while let Ok(first) = rx.recv_async().await {
        let mut sized = outbound_size(&first);
        encode_frame(&first, &mut buf);
        drop(first);
        while buf.len() < WRITE_COALESCE_BYTES {
            match rx.try_recv() {
                Ok(next) => {
                    sized += outbound_size(&next);
                    encode_frame(&next, &mut buf);
                }
                Err(_) => break,
            }
        }
        if writer.write_all(&buf).await.is_err() {
            state.kill(CloseReason::Peer);
            break;
        }
        state.wrote(buf.len(), sized);
        buf.clear();
        if buf.capacity() > WRITE_BUFFER_KEEP_BYTES && rx.is_empty() {
            buf = BytesMut::new();
        }
    }
    let _ = writer.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_len_needs_the_prefix() {
        let mut b = vec![0, 0, 1, 0];
        assert_eq!(declared_len(&b), None);
        b.extend_from_slice(&[0, 0, 0, 10]);
        assert_eq!(declared_len(&b), Some(256 + 4));
    }

    #[test]
    fn outbound_size_grows_with_the_command() {
        let small = RemotingCommand::request(10);
        let big = RemotingCommand::request(10)
            .with_body(vec![0u8; 1000])
            .with_ext("topic", "T")
            .with_remark("r");
        assert_eq!(
            outbound_size(&big),
            outbound_size(&small) + 1000 + 1 + 5 + 1 + 8
        );
    }
}
