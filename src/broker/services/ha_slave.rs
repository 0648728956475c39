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
        if let Some(addr) = addr.as_deref().and_then(|a| shard_addr(a, b.shard.0)) {
            let r = futures_lite::future::or(follow(&b, &addr), async {
                let _ = stop.recv_async().await;
                Ok(())
            })
            .await;
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

async fn follow(b: &Rc<Broker>, addr: &str) -> Result<(), String> {
    let stream = within(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .ok_or("connect timed out")?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = futures_lite::io::split(stream);
    let hello = Frame::Hello {
        shard: b.shard.0,
        shard_count: b.router.shard_count() as u16,
        epoch: 0,
        log_end: b.store.log_end().get(),
        broker_name: b.cfg.broker_name.clone(),
    };
    write_frame(&mut wr, &hello)
        .await
        .map_err(|e| e.to_string())?;
    let hb = Duration::from_millis(b.cfg.ha_send_heartbeat_interval_ms);
    let mut announced = false;
    loop {
        let f = match within(hb * 3, read_frame(&mut rd)).await {
            None => return Err("master silent for three heartbeat intervals".into()),
            Some(Err(e)) => return Err(format!("link: {e}")),
            Some(Ok(f)) => f,
        };
        if !announced {
            tracing::info!(shard = %b.shard, master = %addr, from = b.store.log_end().get(), "following the master");
            announced = true;
            b.ha.master_linked.set(true);
        }
        match f {
            Frame::Data { offset, bytes, .. } => {
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
            Frame::Heartbeat { .. } => ack(b, &mut wr).await?,
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
    write_frame(wr, &f).await.map_err(|e| e.to_string())
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
