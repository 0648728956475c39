//! A shard's replication state and the SYNC_MASTER hook of the send path.
//!
//! Master: the slaves connected to this shard's link (`broker::services::ha_master`) and the
//! highest durable offset one acknowledged; a SYNC_MASTER send waits here, on the owner shard (like
//! SYNC_FLUSH waiters wait in the store), until the slave's ACK covers its record
//! ([`Broker::await_slave`]). Slave: the master's replication address learnt from the NameServer.
//!
//! Policy: [`crate::replication::sync_ack`] (the decision table); this file alone maps its outcome
//! to response codes:
//!
//! | outcome | code |
//! |---|---|
//! | Acked, or acknowledged within `slaveTimeout` | the code the store's outcome gave (SUCCESS, or FLUSH_DISK_TIMEOUT) |
//! | NoSlave | SLAVE_NOT_AVAILABLE (11) |
//! | no acknowledgement within `slaveTimeout` | FLUSH_SLAVE_TIMEOUT (12) |
//!
//! The message is stored on the master in every row (as in Java): the codes tell the producer that
//! the second copy is not confirmed, never that the first is missing.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::failover::Failover;
use super::Broker;
use crate::config::BrokerRole;
use crate::remoting::codes::response as rs;
use crate::remoting::RemotingCommand;
use crate::replication::{sync_ack, EpochHistory, SyncAck};
use crate::storage::waiter::OffsetWatch;
use crate::storage::{AppendResult, PhysicalOffset};

/// One shard's replication state.
pub struct HaState {
    /// Master: slave links open on this shard now.
    pub slaves: Cell<u32>,
    /// Master: the figures of each slave link open on this shard now (GET_BROKER_HA_STATUS).
    pub links: RefCell<Vec<Rc<LinkFigures>>>,
    /// Slave: the figures of this shard's link to the master (GET_BROKER_HA_STATUS).
    pub follow: FollowFigures,
    /// Master: the highest durable log offset a slave acknowledged (only rises).
    pub acked: OffsetWatch<PhysicalOffset>,
    /// Slave: the master's replication address (`host:port` of its shard 0), from `haMasterAddress`
    /// or learnt from the NameServer's REGISTER_BROKER answer.
    pub master_addr: RefCell<Option<String>>,
    /// Slave: this shard's link to the master is up (a frame arrived on it and it has not failed
    /// since). Java's `minBrokerIdInGroup == 0`: while it holds, a slave sends consumers of warm
    /// data back to the master (`broker::processors::pull::suggest_broker`).
    pub master_linked: Cell<bool>,
    /// Slave: the keys of the master's last GROUPS and OFFSETS tables applied on this shard, kept
    /// across links so that what leaves them is deleted here too (`services::ha_meta`).
    pub master_tables: RefCell<super::services::ha_meta::MasterKeys>,
    /// Controller mode: the published assignment (`broker::failover`); `None` without a controller.
    pub failover: Option<Arc<Failover>>,
    /// Controller mode: this shard's own role, changed only by `services::failover`.
    pub local: Cell<LocalRole>,
    /// Controller mode: the slave link is inside `ha_slave::follow` (a promotion waits for it to end,
    /// so that the epoch starts at a log end no replica append will move).
    pub following: Cell<bool>,
    /// This shard's epoch history (persisted at `history_path`).
    pub history: RefCell<EpochHistory>,
    pub history_path: PathBuf,
}

/// A shard's own role in controller mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalRole {
    /// Refuses writes; follows the master when one is known.
    Slave,
    /// Accepts writes while the published assignment still says master at this epoch.
    Master(u64),
}

impl HaState {
    pub fn new(
        master_addr: Option<String>,
        failover: Option<Arc<Failover>>,
        history_path: PathBuf,
    ) -> HaState {
        let history = match super::failover::load_history(&history_path) {
            Ok(h) => h,
            Err(e) => {
                // Unreadable: an empty history makes a master cut this shard back to where its
                // first epoch began (conservative: data is fetched again, none kept that conflicts).
                tracing::warn!(path = %history_path.display(), error = %e, "epoch history unreadable; starting empty");
                EpochHistory::default()
            }
        };
        HaState {
            slaves: Cell::new(0),
            links: RefCell::new(Vec::new()),
            follow: FollowFigures::default(),
            acked: OffsetWatch::new(PhysicalOffset(0)),
            master_addr: RefCell::new(master_addr),
            master_linked: Cell::new(false),
            master_tables: RefCell::default(),
            failover,
            local: Cell::new(LocalRole::Slave),
            following: Cell::new(false),
            history: RefCell::new(history),
            history_path,
        }
    }

    /// Controller mode: master at `epoch` now, by this shard's role and the published assignment.
    pub fn master_at(&self, epoch: u64) -> bool {
        self.local.get() == LocalRole::Master(epoch)
            && self.failover.as_ref().is_some_and(|f| f.writable(epoch))
    }

    /// This shard's epoch as a master: its history's newest epoch while it is master, else `None`.
    pub fn master_epoch(&self) -> Option<u64> {
        match self.local.get() {
            LocalRole::Master(e) if self.master_at(e) => Some(e),
            _ => None,
        }
    }

    /// Turns the byte counters of every link into bytes a second since the previous call (called
    /// once a second by `metrics_publish`).
    pub fn sample_rates(&self, now: Instant) {
        for l in self.links.borrow().iter() {
            l.sent.sample(now);
        }
        self.follow.received.sample(now);
    }

    /// A slave acknowledged `durable`: wakes the sends it covers.
    pub fn acknowledged(&self, durable: PhysicalOffset) {
        if durable > self.acked.get() {
            self.acked.advance(durable);
        }
    }
}

/// A byte counter and its rate over the last sampling interval.
#[derive(Debug)]
pub struct ByteRate {
    pub total: Cell<u64>,
    mark: Cell<(Instant, u64)>,
    per_second: Cell<u64>,
}

impl Default for ByteRate {
    fn default() -> ByteRate {
        ByteRate {
            total: Cell::new(0),
            mark: Cell::new((Instant::now(), 0)),
            per_second: Cell::new(0),
        }
    }
}

impl ByteRate {
    pub fn add(&self, n: u64) {
        self.total.set(self.total.get() + n);
    }

    fn sample(&self, now: Instant) {
        let (at, then) = self.mark.get();
        let secs = now.saturating_duration_since(at).as_secs_f64();
        if secs > 0.0 {
            let moved = self.total.get().saturating_sub(then);
            self.per_second.set((moved as f64 / secs) as u64);
            self.mark.set((now, self.total.get()));
        }
    }

    /// Bytes a second over the last sampling interval.
    pub fn per_second(&self) -> u64 {
        self.per_second.get()
    }
}

/// Master side: one slave link, while it is open.
#[derive(Debug, Default)]
pub struct LinkFigures {
    /// The slave's address (`ip:port` of its end of the link).
    pub peer: String,
    /// Where the slave's log ended when the link began.
    pub from: u64,
    /// The durable offset the slave last acknowledged on this link.
    pub acked: Cell<u64>,
    /// DATA bytes sent.
    pub sent: ByteRate,
}

/// Slave side: the link to the master (zeros before the first link).
#[derive(Debug, Default)]
pub struct FollowFigures {
    /// The master's replication address this shard follows (or last followed).
    pub master: RefCell<String>,
    /// Wall-clock times (ms) of the last frame read from and the last ACK written to the master.
    pub last_read_ms: Cell<i64>,
    pub last_write_ms: Cell<i64>,
    /// The master's log end, as its last heartbeat said.
    pub master_log_end: Cell<u64>,
    /// DATA bytes received.
    pub received: ByteRate,
}

impl Broker {
    /// This shard's replication links for GET_BROKER_HA_STATUS: as a master each open slave link
    /// (in sync while it is at most `ha_slave_fallbehind_max_bytes` behind, Java's
    /// `haMaxGapNotInSync`); as a slave its link to the master.
    pub(crate) fn ha_shard_status(&self) -> super::control::ShardHa {
        use crate::remoting::body::{HaClientInfo, HaConnectionInfo};
        let log_end = self.store.log_end().get();
        let links = self
            .ha
            .links
            .borrow()
            .iter()
            .map(|l| {
                let diff = log_end.saturating_sub(l.acked.get());
                HaConnectionInfo {
                    addr: l.peer.clone(),
                    diff: diff as i64,
                    in_sync: diff <= self.cfg.ha_slave_fallbehind_max_bytes,
                    slave_ack_offset: l.acked.get() as i64,
                    transfer_from_where: l.from as i64,
                    transferred_byte_in_second: l.sent.per_second() as i64,
                }
            })
            .collect();
        let f = &self.ha.follow;
        let client = HaClientInfo {
            activated: self.ha.master_linked.get(),
            last_read_timestamp: f.last_read_ms.get(),
            last_write_timestamp: f.last_write_ms.get(),
            master_addr: f.master.borrow().clone(),
            master_flush_offset: f.master_log_end.get() as i64,
            max_offset: log_end as i64,
            transferred_byte_in_second: f.received.per_second() as i64,
        };
        super::control::ShardHa {
            shard: self.shard.0,
            slave: self.is_slave(),
            log_end,
            links,
            client,
        }
    }

    /// Whether client writes are accepted here: not on a SLAVE; in controller mode only while this
    /// shard is master at the published epoch with its lease running (`broker::failover`'s table).
    pub(crate) fn accepts_writes(&self) -> bool {
        if self.ha.failover.is_some() {
            return self.ha.master_epoch().is_some();
        }
        self.cfg.broker_role != BrokerRole::Slave
    }

    /// A slave now: brokerRole SLAVE, or in controller mode a shard that is not master.
    pub(crate) fn is_slave(&self) -> bool {
        match self.ha.failover {
            Some(_) => self.ha.local.get() == LocalRole::Slave,
            None => self.cfg.broker_role == BrokerRole::Slave,
        }
    }

    /// SYNC_MASTER: waits until a slave has the records of `results` durably and rewrites `resp`'s
    /// code as the module table says. Any other role returns at once.
    pub(crate) async fn await_slave(&self, results: &[AppendResult], resp: &mut RemotingCommand) {
        if self.cfg.broker_role != BrokerRole::SyncMaster {
            return;
        }
        let Some(end) = results
            .iter()
            .map(|r| r.physical_offset + u64::from(r.size_bytes))
            .max()
        else {
            return;
        };
        let ha = &self.ha;
        let code = match sync_ack(
            ha.slaves.get() > 0,
            ha.acked.get().get(),
            end.get(),
            self.store.log_end().get(),
            self.cfg.ha_slave_fallbehind_max_bytes,
        ) {
            SyncAck::Acked => return,
            SyncAck::NoSlave => rs::SLAVE_NOT_AVAILABLE,
            SyncAck::Wait => {
                let timeout = Duration::from_millis(self.cfg.slave_timeout_ms);
                let acked = futures_lite::future::or(ha.acked.wait(end), async {
                    glommio::timer::sleep(timeout).await;
                    false
                })
                .await;
                if acked {
                    return;
                }
                rs::FLUSH_SLAVE_TIMEOUT
            }
        };
        tracing::debug!(shard = %self.shard, code, "SYNC_MASTER send not confirmed by a slave");
        resp.code = code;
    }
}
