//! Replication, slave side: shard k follows master shard k over the master's `haListenPort + k`
//! (wire format: [`crate::replication`]; design: `docs/REPLICATION.md`).
//!
//! The master's address is `haMasterAddress` when set, else the `haServerAddr` the NameServer
//! answered shard 0's REGISTER_BROKER with (`services::registration`, as Java's
//! `updateMasterHAServerAddrPeriodically`); with neither, the shard waits for it.
//!
//! A link: HELLO with this shard's log end, then DATA frames appended by the store's replica path at
//! the same offsets (records verified, consume queues and index dispatched as recovery does), a
//! flush, and an ACK of the written and durable ends; a HEARTBEAT is answered with an ACK; METADATA
//! is applied (`ha_meta`). Any failure (master gone, silent for three heartbeat intervals, bytes
//! that do not continue the log) closes the link; the shard reconnects every second, logging when it
//! starts and stops failing, not each retry. Parked pulls are woken after each DATA frame so that
//! consumers reading from the slave see new messages without waiting for their poll to expire.
//! `HaState::master_linked` is up from the link's first frame until it fails: with `slaveReadEnable`
//! the pull path then sends consumers of warm data back to the master (`processors::pull`).

use std::rc::Rc;
use std::time::Duration;

use glommio::net::TcpStream;

use super::ha_master::{read_frame, within, write_frame};
use crate::broker::failover::Target;
use crate::broker::replication::LocalRole;
use crate::broker::Broker;
use crate::net::StopSignal;
use crate::replication::{reason, Frame};

/// How long a connection attempt may take, and the pause between attempts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// `host:port` of shard 0's replication port → this shard's (`port + shard`).
pub fn shard_addr(addr: &str, shard: u16) -> Option<String> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    Some(format!("{host}:{}", port.checked_add(shard)?))
}

/// Follows the master until `stop`.
pub async fn run(b: Rc<Broker>, stop: StopSignal) {
    let mut failing = false;
    loop {
        let addr = b.ha.master_addr.borrow().clone();
        // Controller mode: only a shard that is a slave now follows (`services::failover`).
        let slave = b.ha.local.get() == LocalRole::Slave;
        let target = b.ha.failover.as_ref().map(|f| f.target());
        let follows = target.as_ref().is_none_or(|t| t.master == Some(false)) && slave;
        let addr = addr.filter(|_| follows);
        if let Some(addr) = addr.as_deref().and_then(|a| shard_addr(a, b.shard.0)) {
            b.ha.following.set(true);
            let r = futures_lite::future::or(follow(&b, &addr, target.as_ref()), async {
                let _ = stop.recv_async().await;
                Ok(())
            })
            .await;
            b.ha.following.set(false);
            b.ha.master_linked.set(false);
            match r {
                Ok(()) if stop.is_disconnected() => return,
                Ok(()) => {}
                Err(e) => {
                    if !failing {
                        tracing::warn!(shard = %b.shard, master = %addr, error = %e, "not following the master; retrying every second");
                    }
                    failing = true;
                }
            }
        }
        if !super::tick(RETRY_PAUSE, &stop).await {
            return;
        }
    }
}

/// Controller mode: resolves once the published assignment is no longer the one the link started
/// under (the link then ends between two frames, never inside a replica append).
async fn assignment_changed(b: &Broker, at: Option<&Target>) {
    let (Some(f), Some(at)) = (b.ha.failover.as_ref(), at) else {
        return std::future::pending().await;
    };
    loop {
        glommio::timer::sleep(Duration::from_millis(100)).await;
        if f.target() != *at {
            return;
        }
    }
}

async fn follow(b: &Rc<Broker>, addr: &str, at: Option<&Target>) -> Result<(), String> {
    let stream = within(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .ok_or("connect timed out")?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    let hello = Frame::Hello {
        shard: b.shard.0,
        shard_count: b.router.shard_count() as u16,
        epoch: b.ha.history.borrow().last_epoch(),
        log_end: b.store.log_end().get(),
        broker_name: b.cfg.broker_name.clone(),
    };
    write_frame(&mut wr, &hello)
        .await
        .map_err(|e| e.to_string())?;
    *b.ha.follow.master.borrow_mut() = addr.to_string();
    let hb = Duration::from_millis(b.cfg.ha_send_heartbeat_interval_ms);
    let mut announced = false;
    // The master's epoch, from its TRUNCATE (the first frame); DATA and HEARTBEAT must carry it.
    let mut link_epoch: Option<u64> = None;
    loop {
        let read = futures_lite::future::or(
            async { Some(within(hb * 3, read_frame(&mut rd)).await) },
            async {
                assignment_changed(b, at).await;
                None
            },
        )
        .await;
        let f = match read {
            None => return Ok(()),
            Some(None) => return Err("master silent for three heartbeat intervals".into()),
            Some(Some(Err(e))) => return Err(format!("link: {e}")),
            Some(Some(Ok(f))) => f,
        };
        b.ha.follow.last_read_ms.set(crate::clock::now_ms());
        match (&f, link_epoch) {
            (Frame::Truncate { .. }, None) => {}
            (Frame::Data { epoch, .. } | Frame::Heartbeat { epoch, .. }, Some(e))
                if *epoch == e => {}
            (Frame::Metadata { .. } | Frame::Close { .. }, _) => {}
            _ => {
                return Err(format!(
                    "frame out of order or from another epoch (link at {link_epoch:?})"
                ))
            }
        }
        if !announced {
            tracing::info!(shard = %b.shard, master = %addr, from = b.store.log_end().get(), "following the master");
            announced = true;
            b.ha.master_linked.set(true);
        }
        match f {
            Frame::Data { offset, bytes, .. } => {
                b.ha.follow.received.add(bytes.len() as u64);
                let at = crate::storage::PhysicalOffset(offset);
                if let Err(e) = b.store.append_replica(at, &bytes).await {
                    let close = Frame::Close {
                        reason: reason::BAD_DATA,
                        text: e.to_string(),
                    };
                    let _ = write_frame(&mut wr, &close).await;
                    return Err(format!("replica append at {offset}: {e}"));
                }
                b.long_polls.borrow_mut().wake_all();
                b.store.flush().await.map_err(|e| format!("flush: {e}"))?;
                ack(b, &mut wr).await?;
            }
            Frame::Heartbeat { master_log_end, .. } => {
                b.ha.follow.master_log_end.set(master_log_end);
                ack(b, &mut wr).await?
            }
            Frame::Truncate {
                epoch,
                offset,
                history,
            } => {
                if let Some(t) = at.filter(|t| epoch < t.epoch) {
                    return Err(format!(
                        "master at epoch {epoch}, older than the controller's {}",
                        t.epoch
                    ));
                }
                let end = b.store.log_end();
                if offset < end.get() {
                    // Our tail past `offset` is from an older epoch: the store cuts it at open.
                    tracing::warn!(shard = %b.shard, cut = offset, end = end.get(), epoch,
                        "the master never had this log's tail: cutting it (restart in place)");
                    b.store
                        .schedule_cut(crate::storage::PhysicalOffset(offset), end)
                        .map_err(|e| format!("scheduling the cut: {e}"))?;
                    crate::broker::failover::request_restart();
                    return Err("restarting to cut the log".into());
                }
                let h = crate::replication::EpochHistory { entries: history };
                if *b.ha.history.borrow() != h {
                    crate::broker::failover::save_history(&b.ha.history_path, &h)
                        .map_err(|e| format!("recording the epoch history: {e}"))?;
                    if let Some(f) = &b.ha.failover {
                        f.shard_epoch[b.shard.0 as usize]
                            .store(h.last_epoch(), std::sync::atomic::Ordering::Release);
                    }
                    *b.ha.history.borrow_mut() = h;
                }
                link_epoch = Some(epoch);
            }
            Frame::Metadata { what, json } => {
                if let Err(e) = super::ha_meta::apply(b, what, &json).await {
                    tracing::warn!(shard = %b.shard, error = %e, "metadata from the master not applied");
                }
            }
            Frame::Close { reason, text } => {
                return Err(format!("master closed the link ({reason}): {text}"))
            }
            Frame::Hello { .. } | Frame::Ack { .. } => {
                return Err("unexpected frame from the master".into())
            }
        }
    }
}

async fn ack<W: futures_lite::io::AsyncWrite + Unpin>(
    b: &Broker,
    wr: &mut W,
) -> Result<(), String> {
    let f = Frame::Ack {
        written: b.store.log_end().get(),
        durable: b.store.durable_offset().get(),
    };
    write_frame(wr, &f).await.map_err(|e| e.to_string())?;
    b.ha.follow.last_write_ms.set(crate::clock::now_ms());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shard_addr;

    #[test]
    fn shard_k_uses_port_plus_k() {
        assert_eq!(
            shard_addr("10.0.0.1:10912", 0).as_deref(),
            Some("10.0.0.1:10912")
        );
        assert_eq!(
            shard_addr("10.0.0.1:10912", 3).as_deref(),
            Some("10.0.0.1:10915")
        );
        assert_eq!(shard_addr("h:65535", 1), None);
        assert_eq!(shard_addr("nohost", 0), None);
    }
}
