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
use std::sync::Arc;
use std::time::Duration;

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
    /// Master: the highest durable log offset a slave acknowledged (only rises).
    pub acked: OffsetWatch<PhysicalOffset>,
    /// Slave: the master's replication address (`host:port` of its shard 0), from `haMasterAddress`
    /// or learnt from the NameServer's REGISTER_BROKER answer.
    pub master_addr: RefCell<Option<String>>,
    /// Slave: this shard's link to the master is up (a frame arrived on it and it has not failed
    /// since). Java's `minBrokerIdInGroup == 0`: while it holds, a slave sends consumers of warm
    /// data back to the master (`broker::processors::pull::suggest_broker`).
    pub master_linked: Cell<bool>,
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
            acked: OffsetWatch::new(PhysicalOffset(0)),
            master_addr: RefCell::new(master_addr),
            master_linked: Cell::new(false),
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

    /// A slave acknowledged `durable`: wakes the sends it covers.
    pub fn acknowledged(&self, durable: PhysicalOffset) {
        if durable > self.acked.get() {
            self.acked.advance(durable);
        }
    }
}

impl Broker {
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
