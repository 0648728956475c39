//! Failover, broker side (`enableControllerMode`; design: docs/REPLICATION.md, "Failover and
//! epochs"): one plain thread heartbeats the controller group and publishes the assignment in
//! [`Failover`] (atomics shared by the shards); each shard applies it on its own executor
//! (`services::failover`), so no shard ever blocks on the controller.
//!
//! What a shard may do, from the published assignment and its own state (`HaState::local`):
//!
//! | published role | lease (last assignment + controller's broker timeout) | shard's own role | writes | replication |
//! |---|---|---|---|---|
//! | Master at e | running | Master at e (history has e) | accepted | serves its HA port at e |
//! | Master at e | running | anything else | refused until the shard has stopped following and recorded `(e, log end)` | — |
//! | Master at e | expired (controller unreachable) | any | refused at once | HA links close |
//! | Slave, or none yet | — | any | refused (as a SLAVE) | follows the master's HA address |
//!
//! [`Failover::writable`] is the send path's check (atomics and one clock read): a master that
//! learns a newer epoch or whose lease runs out refuses the next send, before the shard's loop runs.
//!
//! NameServer routes follow the role ([`registered_broker_id`]): the master registers as brokerId 0
//! so producers move to it, a slave under its own id.
//!
//! A slave whose log holds a tail the new master never had (the master's TRUNCATE) schedules the cut
//! in its store and restarts the process in place ([`request_restart`], `main` re-executes itself
//! after the graceful shutdown): the store cuts its log, consume queues and index at open.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::BrokerConfig;
use crate::controller::client::ControllerClient;
use crate::controller::{Assignment, BrokerHeartbeat, Role};
use crate::replication::EpochHistory;

const ROLE_NONE: u8 = 0;
const ROLE_MASTER: u8 = 1;
const ROLE_SLAVE: u8 = 2;
const NO_ID: u64 = u64::MAX;
/// A shard's durable offset before the shard published it.
const UNKNOWN: u64 = u64::MAX;

/// What the controller last said, shared by the heartbeat thread and the shards.
pub struct Failover {
    broker_name: String,
    broker_id: u64,
    address: String,
    ha_address: String,
    controllers: Vec<String>,
    interval: Duration,
    role: AtomicU8,
    epoch: AtomicU64,
    master_id: AtomicU64,
    master_ha: Mutex<Option<String>>,
    /// Master: writes are accepted until this (ms since the Unix epoch, `clock::now_ms`).
    lease_until_ms: AtomicI64,
    /// Each shard's durable log offset, published by the shard.
    pub durable: Vec<AtomicU64>,
    /// Each shard's newest epoch in its history (the heartbeat sends the highest).
    pub shard_epoch: Vec<AtomicU64>,
}

/// A published assignment as a shard reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `Some(true)` master, `Some(false)` slave, `None` before the first assignment.
    pub master: Option<bool>,
    pub epoch: u64,
    pub master_id: Option<u64>,
    pub master_ha: Option<String>,
}

impl Failover {
    pub fn new(cfg: &BrokerConfig, shards: usize) -> Failover {
        Failover {
            broker_name: cfg.broker_name.clone(),
            broker_id: cfg.broker_id.max(0) as u64,
            address: format!("{}:{}", cfg.broker_ip, cfg.broker_port),
            ha_address: format!("{}:{}", cfg.broker_ip, cfg.ha_port()),
            controllers: cfg.controller_addr.clone(),
            interval: Duration::from_millis(cfg.controller_heartbeat_interval_ms),
            role: AtomicU8::new(ROLE_NONE),
            epoch: AtomicU64::new(0),
            master_id: AtomicU64::new(NO_ID),
            master_ha: Mutex::new(None),
            lease_until_ms: AtomicI64::new(0),
            durable: (0..shards).map(|_| AtomicU64::new(UNKNOWN)).collect(),
            shard_epoch: (0..shards).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The send path's check: master at `epoch` by the last assignment, lease running.
    pub fn writable(&self, epoch: u64) -> bool {
        self.role.load(Ordering::Acquire) == ROLE_MASTER
            && self.epoch.load(Ordering::Acquire) == epoch
            && crate::clock::now_ms() < self.lease_until_ms.load(Ordering::Acquire)
    }

    /// The assignment as published (a lease that ran out reads as "no role").
    pub fn target(&self) -> Target {
        let mut role = self.role.load(Ordering::Acquire);
        if role == ROLE_MASTER
            && crate::clock::now_ms() >= self.lease_until_ms.load(Ordering::Acquire)
        {
            role = ROLE_NONE;
        }
        let id = self.master_id.load(Ordering::Acquire);
        Target {
            master: match role {
                ROLE_MASTER => Some(true),
                ROLE_SLAVE => Some(false),
                _ => None,
            },
            epoch: self.epoch.load(Ordering::Acquire),
            master_id: (id != NO_ID).then_some(id),
            master_ha: self
                .master_ha
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    fn apply(&self, a: &Assignment, asked_at_ms: i64) {
        *self.master_ha.lock().unwrap_or_else(|p| p.into_inner()) = a.master_ha_address.clone();
        self.master_id
            .store(a.master_id.unwrap_or(NO_ID), Ordering::Release);
        // Counted from when the heartbeat was sent: the controller saw it later, so its broker
        // timeout ends after ours. 90 %: room for clocks that run at slightly different rates.
        let lease = (a.lease_ms.max(1000) * 9 / 10) as i64;
        self.lease_until_ms
            .store(asked_at_ms + lease, Ordering::Release);
        self.epoch.store(a.epoch, Ordering::Release);
        let role = match a.role {
            Role::Master => ROLE_MASTER,
            Role::Slave => ROLE_SLAVE,
        };
        let was = self.role.swap(role, Ordering::AcqRel);
        if was != role {
            tracing::info!(role = ?a.role, epoch = a.epoch, master = ?a.master_id, master_ha = ?a.master_ha_address,
                "controller: role assigned");
        }
    }

    fn heartbeat(&self) -> BrokerHeartbeat {
        BrokerHeartbeat {
            broker_name: self.broker_name.clone(),
            broker_id: self.broker_id,
            address: self.address.clone(),
            ha_address: self.ha_address.clone(),
            epoch: self
                .shard_epoch
                .iter()
                .map(|e| e.load(Ordering::Acquire))
                .max()
                .unwrap_or(0),
            durable_offsets: self
                .durable
                .iter()
                .map(|d| d.load(Ordering::Acquire))
                .collect(),
        }
    }

    /// Starts the heartbeat thread (it runs until the process exits).
    pub fn start(self: &Arc<Self>) -> std::io::Result<()> {
        let f = self.clone();
        std::thread::Builder::new()
            .name("controller-heartbeat".into())
            .spawn(move || f.run())
            .map(|_| ())
    }

    fn run(&self) {
        // The controller elects by durable bytes: never report a shard before it said its offset.
        while self
            .durable
            .iter()
            .any(|d| d.load(Ordering::Acquire) == UNKNOWN)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let timeout = self
            .interval
            .clamp(Duration::from_millis(500), Duration::from_secs(3));
        let mut client = ControllerClient::new(self.controllers.clone(), timeout);
        let mut failing = false;
        loop {
            let started = Instant::now();
            let asked_at = crate::clock::now_ms();
            match client.heartbeat(&self.heartbeat()) {
                Ok(a) => {
                    if failing {
                        tracing::info!("controller reachable again");
                    }
                    failing = false;
                    self.apply(&a, asked_at);
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "controller heartbeat failed; retrying");
                    }
                    failing = true;
                }
            }
            std::thread::sleep(self.interval.saturating_sub(started.elapsed()));
        }
    }
}

/// The brokerId a broker registers with the NameServers:
///
/// | controller mode | role | registered id |
/// |---|---|---|
/// | off | — | brokerId |
/// | on | master | 0 (producers send to it) |
/// | on | slave or none yet, brokerId ≠ 0 | brokerId |
/// | on | slave or none yet, brokerId = 0 | the master's brokerId (free: the master registers as 0), else 1 |
pub fn registered_broker_id(configured: i64, target: Option<&Target>) -> i64 {
    let Some(t) = target else {
        return configured;
    };
    match (t.master, configured) {
        (Some(true), _) => 0,
        (_, id) if id != 0 => id,
        _ => t.master_id.filter(|&m| m != 0).map_or(1, |m| m as i64),
    }
}

/// Loads a shard's epoch history (`epochs.json` in its store directory; none: empty).
pub fn load_history(path: &std::path::Path) -> std::io::Result<EpochHistory> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EpochHistory::default()),
        Err(e) => Err(e),
    }
}

/// Writes a shard's epoch history through a temporary file, fsync and rename.
pub fn save_history(path: &std::path::Path, h: &EpochHistory) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(h).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

static RESTART: AtomicBool = AtomicBool::new(false);

/// A shard scheduled a cut of its store: stop the broker gracefully (as SIGTERM does) and have
/// `main` start it again in place, so that the store cuts its log at open. The stop comes
/// [`RESTART_GRACE`] later, so that the other shards' links get their TRUNCATE too and one restart
/// makes every cut (a shard whose cut is scheduled fails its link until then: nothing is appended).
pub fn request_restart() {
    if !RESTART.swap(true, Ordering::AcqRel) {
        tracing::warn!("restarting in place to cut the log's tail from an older epoch");
        let _ = std::thread::Builder::new()
            .name("restart-to-cut".into())
            .spawn(|| {
                std::thread::sleep(RESTART_GRACE);
                let _ = signal_hook::low_level::raise(signal_hook::consts::SIGTERM);
            });
    }
}

/// How long [`request_restart`] lets the other shards schedule their cuts.
const RESTART_GRACE: Duration = Duration::from_secs(2);

/// Whether [`request_restart`] was called (read by `main` after the shutdown).
pub fn restart_requested() -> bool {
    RESTART.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(master: Option<bool>, master_id: Option<u64>) -> Target {
        Target {
            master,
            epoch: 1,
            master_id,
            master_ha: None,
        }
    }

    #[test]
    fn registered_id_rows() {
        // Row 1: no controller.
        assert_eq!(registered_broker_id(0, None), 0);
        assert_eq!(registered_broker_id(2, None), 2);
        // Row 2: master registers as 0.
        assert_eq!(registered_broker_id(1, Some(&t(Some(true), Some(1)))), 0);
        // Row 3: a slave with its own non-zero id keeps it.
        assert_eq!(registered_broker_id(1, Some(&t(Some(false), Some(0)))), 1);
        assert_eq!(registered_broker_id(3, Some(&t(None, None))), 3);
        // Row 4: brokerId 0 as a slave takes the master's id, else 1.
        assert_eq!(registered_broker_id(0, Some(&t(Some(false), Some(2)))), 2);
        assert_eq!(registered_broker_id(0, Some(&t(Some(false), None))), 1);
        assert_eq!(registered_broker_id(0, Some(&t(None, Some(0)))), 1);
    }

    #[test]
    fn history_file_round_trips() {
        let dir = std::env::temp_dir().join(format!("bolide-epochs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("epochs.json");
        assert_eq!(load_history(&p).unwrap(), EpochHistory::default());
        let h = EpochHistory {
            entries: vec![(1, 0), (3, 4096)],
        };
        save_history(&p, &h).unwrap();
        assert_eq!(load_history(&p).unwrap(), h);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
