//! Replication, master side: shard k listens on `haListenPort + k` and serves slave shard k's link
//! (wire format: [`crate::replication`]; design: `docs/REPLICATION.md`).
//!
//! Per link: the slave's HELLO says where its log ends; the master streams DATA from there (whole
//! records read by the store's replica path, from its in-memory chunks and cache or the segment
//! files), waits for appends when it is at its log's end, and sends a HEARTBEAT when idle for
//! `haSendHeartbeatInterval`. The slave's ACKs raise `Broker::ha.acked`, which SYNC_MASTER sends wait
//! on. A link that stays silent for three heartbeat intervals, or errs, is closed; the slave
//! reconnects. Memory per link is one DATA frame: the next is read only after the socket took this
//! one (TCP's window is the bound on unacknowledged bytes).
//!
//! Metadata (consumer offsets of this shard and the topics; groups on shard 0's link) goes as
//! METADATA frames when it changed, checked at most once a second, and before the next DATA frame
//! whenever this shard's topic table changed (see `ha_meta`).

use std::cell::Cell;
use std::os::fd::{FromRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};

use crate::broker::replication::LinkFigures;
use crate::broker::Broker;
use crate::net::StopSignal;
use crate::replication::{cut_point, reason, Cut, Frame, DATA_BYTES_MAX};
use crate::storage::commitlog::BLANK_MAGIC;
use crate::storage::PhysicalOffset;

/// Reads one frame.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
    let mut head = [0u8; 4];
    r.read_exact(&mut head).await?;
    let n = Frame::announced_len(head).map_err(std::io::Error::other)?;
    let mut body = vec![0u8; n];
    r.read_exact(&mut body).await?;
    Frame::decode(Bytes::from(body)).map_err(std::io::Error::other)
}

/// Writes one frame.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    f: &Frame,
) -> std::io::Result<()> {
    let mut b = BytesMut::new();
    f.encode(&mut b);
    w.write_all(&b).await?;
    w.flush().await
}

/// `fut`, or `None` after `d`.
pub(crate) async fn within<T>(d: Duration, fut: impl std::future::Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        glommio::timer::sleep(d).await;
        None
    })
    .await
}

/// Accepts slave links on this shard's replication listener until `stop`.
pub async fn run(broker: Rc<Broker>, fd: RawFd, stop: StopSignal) {
    // SAFETY: `fd` is a bound, listening socket made by `main` for this shard alone.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            let _ = stop.recv_async().await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok(s)) => {
                let b = broker.clone();
                let stop = stop.clone();
                glommio::spawn_local(async move {
                    futures_lite::future::or(serve_slave(b, s), async {
                        let _ = stop.recv_async().await;
                    })
                    .await
                })
                .detach();
            }
            Some(Err(e)) => {
                tracing::warn!(shard = %broker.shard, error = %e, "replication accept failed");
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Counts a link as a connected slave, and lists its figures, while it lives.
struct SlaveCount(Rc<Broker>, Rc<LinkFigures>);

impl Drop for SlaveCount {
    fn drop(&mut self) {
        self.0.ha.slaves.set(self.0.ha.slaves.get() - 1);
        self.0
            .ha
            .links
            .borrow_mut()
            .retain(|l| !Rc::ptr_eq(l, &self.1));
    }
}

async fn serve_slave(b: Rc<Broker>, stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    let hb = Duration::from_millis(b.cfg.ha_send_heartbeat_interval_ms);
    let hello = match within(Duration::from_secs(10), read_frame(&mut rd)).await {
        Some(Ok(f)) => f,
        _ => return,
    };
    let Frame::Hello {
        shard,
        shard_count,
        epoch: slave_epoch,
        log_end: slave_end,
        broker_name,
    } = hello
    else {
        return;
    };
    let refuse = |reason: u16, text: String| Frame::Close { reason, text };
    let me = b.shard.0;
    let count = b.router.shard_count() as u16;
    // Controller mode: only a master at its epoch serves; the slave's log is cut where it stops
    // agreeing with this one (`replication::cut_point`). Without a controller: epoch 0, no history,
    // nothing cut.
    let epoch = match b.ha.failover {
        Some(_) => b.ha.master_epoch(),
        None => Some(0),
    };
    let cut = epoch.map(|_| cut_point(&b.ha.history.borrow(), slave_epoch, slave_end));
    let log_end = match cut {
        Some(Cut::At(c)) => c,
        _ => slave_end,
    };
    let refusal = if epoch.is_none() || cut == Some(Cut::StaleMaster) {
        Some(refuse(
            reason::NOT_A_MASTER,
            format!(
                "not the master at an epoch the slave accepts (slave epoch {slave_epoch}, here {epoch:?})"
            ),
        ))
    } else if shard != me || shard_count != count {
        Some(refuse(
            reason::SHARD_MISMATCH,
            format!(
                "master shard {me} of {count} cannot serve slave shard {shard} of {shard_count}"
            ),
        ))
    } else if broker_name != b.cfg.broker_name {
        Some(refuse(
            reason::GROUP_MISMATCH,
            format!("this master is {}, not {broker_name}", b.cfg.broker_name),
        ))
    } else if PhysicalOffset(log_end) > b.store.log_end() {
        Some(refuse(
            reason::SLAVE_AHEAD,
            format!(
                "slave log ends at {log_end}, past this master's end {}",
                b.store.log_end().get()
            ),
        ))
    } else if PhysicalOffset(log_end) < b.store.min_physical_offset() {
        Some(refuse(
            reason::SLAVE_TOO_FAR_BEHIND,
            format!(
                "slave log ends at {log_end}, below the oldest byte kept here ({})",
                b.store.min_physical_offset().get()
            ),
        ))
    } else {
        None
    };
    if let Some(f) = refusal {
        tracing::warn!(shard = %b.shard, %peer, refusal = ?f, "replication link refused");
        let _ = write_frame(&mut wr, &f).await;
        return;
    }
    let epoch = epoch.unwrap_or(0);
    let truncate = Frame::Truncate {
        epoch,
        offset: log_end,
        history: b.ha.history.borrow().entries.clone(),
    };
    if let Err(e) = write_frame(&mut wr, &truncate).await {
        tracing::warn!(shard = %b.shard, %peer, error = %e, "replication link lost at its start");
        return;
    }
    let link = Rc::new(LinkFigures {
        peer: peer.clone(),
        from: log_end,
        acked: Cell::new(log_end),
        ..Default::default()
    });
    b.ha.slaves.set(b.ha.slaves.get() + 1);
    b.ha.links.borrow_mut().push(link.clone());
    let _count = SlaveCount(b.clone(), link.clone());
    b.ha.acknowledged(PhysicalOffset(log_end));
    tracing::info!(shard = %b.shard, %peer, from = log_end, slave_end, slave_epoch, epoch, "slave connected");
    let reader = {
        let b = b.clone();
        let link = link.clone();
        async move {
            loop {
                match within(hb * 3, read_frame(&mut rd)).await {
                    Some(Ok(Frame::Ack { durable, .. })) => {
                        link.acked.set(durable);
                        b.ha.acknowledged(PhysicalOffset(durable))
                    }
                    Some(Ok(Frame::Close { text, .. })) => break format!("slave closed: {text}"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("{e}"),
                    None => break "silent for three heartbeat intervals".to_string(),
                }
            }
        }
    };
    let writer = stream_log(&b, &mut wr, PhysicalOffset(log_end), hb, epoch, &link);
    let why = futures_lite::future::or(reader, writer).await;
    tracing::warn!(shard = %b.shard, %peer, reason = %why, "slave link closed");
}

/// Streams the log from `pos` (and metadata) until the link fails; returns why.
async fn stream_log<W: AsyncWrite + Unpin>(
    b: &Rc<Broker>,
    wr: &mut W,
    mut pos: PhysicalOffset,
    hb: Duration,
    epoch: u64,
    link: &LinkFigures,
) -> String {
    let meta = super::ha_meta::Sent::default();
    let last_meta = Cell::new(Instant::now() - hb);
    let last_beat = Cell::new(Instant::now());
    // Controller mode: the link ends with this shard's term as master (a newer epoch, or the lease).
    let check = Duration::from_millis(200).min(hb);
    loop {
        if b.ha.failover.is_some() && !b.ha.master_at(epoch) {
            let _ = write_frame(
                wr,
                &Frame::Close {
                    reason: reason::NOT_A_MASTER,
                    text: format!("no longer master at epoch {epoch}"),
                },
            )
            .await;
            return format!("no longer master at epoch {epoch}");
        }
        if last_meta.get().elapsed() >= hb.min(Duration::from_secs(1)) || meta.topics_moved(b) {
            last_meta.set(Instant::now());
            for f in meta.changed(b) {
                if let Err(e) = write_frame(wr, &f).await {
                    return e.to_string();
                }
            }
        }
        match b.store.read_log(pos, DATA_BYTES_MAX).await {
            Ok(Some(bytes)) => {
                let advance = match crate::message::peek_header(&bytes) {
                    Some((size, BLANK_MAGIC)) => u64::from(size),
                    _ => bytes.len() as u64,
                };
                let sent = bytes.len() as u64;
                let f = Frame::Data {
                    epoch,
                    offset: pos.get(),
                    bytes,
                };
                if let Err(e) = write_frame(wr, &f).await {
                    return e.to_string();
                }
                link.sent.add(sent);
                pos += advance;
            }
            Ok(None) => {
                let wait = if b.ha.failover.is_some() { check } else { hb };
                let appended = within(wait, b.store.wait_appended_past(pos)).await;
                match appended {
                    Some(true) => {}
                    Some(false) => return "the store closed".into(),
                    None if last_beat.get().elapsed() < hb => {}
                    None => {
                        last_beat.set(Instant::now());
                        let f = Frame::Heartbeat {
                            epoch,
                            master_log_end: b.store.log_end().get(),
                        };
                        if let Err(e) = write_frame(wr, &f).await {
                            return e.to_string();
                        }
                    }
                }
            }
            Err(e) => {
                let _ = write_frame(
                    wr,
                    &Frame::Close {
                        reason: reason::BAD_DATA,
                        text: e.to_string(),
                    },
                )
                .await;
                return format!("reading the log at {}: {e}", pos.get());
            }
        }
    }
}
