//! Controller mode, per shard: applies the assignment the heartbeat thread publishes
//! (`broker::failover`, whose table says what a shard may do) and publishes this shard's durable
//! offset for the next heartbeat. Runs every [`PERIOD`]; the send path does not wait for it to
//! fence (it reads the published assignment itself), only to promote.
//!
//! Promotion at epoch e: once the slave link has stopped (`HaState::following` down, so no replica
//! append is under way), the shard records `(e, log end)` in its epoch history (fsynced), makes its
//! store writable and takes writes. Demotion (a newer epoch, or the lease ran out): the store
//! refuses writes again and the slave link follows the master the assignment names. Shard 0 has the
//! NameServer registrations redone when the registered brokerId or role changes.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::broker::failover::{registered_broker_id, save_history};
use crate::broker::replication::LocalRole;
use crate::broker::Broker;
use crate::net::StopSignal;
use crate::shard::ShardId;

const PERIOD: Duration = Duration::from_millis(100);

pub async fn run(b: Rc<Broker>, stop: StopSignal) {
    let Some(f) = b.ha.failover.clone() else {
        return;
    };
    let k = b.shard.0 as usize;
    f.shard_epoch[k].store(b.ha.history.borrow().last_epoch(), Ordering::Release);
    let mut registered = (registered_broker_id(b.cfg.broker_id, None), false);
    loop {
        f.durable[k].store(b.store.durable_offset().get(), Ordering::Release);
        let t = f.target();
        match (t.master, b.ha.local.get()) {
            (Some(true), LocalRole::Master(e)) if e == t.epoch => {}
            (Some(true), _) => {
                if !b.ha.following.get() {
                    promote(&b, t.epoch);
                    f.shard_epoch[k].store(t.epoch, Ordering::Release);
                }
            }
            (_, LocalRole::Master(e)) => {
                b.ha.local.set(LocalRole::Slave);
                b.store.set_replica(true);
                tracing::warn!(shard = %b.shard, epoch = e, now = t.epoch, lease_ran_out = t.master.is_none(),
                    "no longer master: writes refused, following the new master");
            }
            (_, LocalRole::Slave) => {}
        }
        if t.master != Some(true) {
            let want = t.master_ha.clone();
            if *b.ha.master_addr.borrow() != want {
                *b.ha.master_addr.borrow_mut() = want;
            }
        }
        if b.shard == ShardId(0) {
            let now = (
                registered_broker_id(b.cfg.broker_id, Some(&t)),
                matches!(b.ha.local.get(), LocalRole::Master(_)),
            );
            if now != registered {
                registered = now;
                b.kick_registration();
            }
        }
        if !super::tick(PERIOD, &stop).await {
            return;
        }
    }
}

/// Waits until this shard is master (true), or `stop` (false).
pub async fn until_master(b: &Broker, stop: &StopSignal) -> bool {
    while !matches!(b.ha.local.get(), LocalRole::Master(_)) {
        if !super::tick(PERIOD, stop).await {
            return false;
        }
    }
    true
}

fn promote(b: &Broker, epoch: u64) {
    let end = b.store.log_end().get();
    let mut h = b.ha.history.borrow().clone();
    h.begin(epoch, end);
    if let Err(e) = save_history(&b.ha.history_path, &h) {
        // Without the record a later slave could keep bytes that conflict: stay a slave, retry.
        tracing::error!(shard = %b.shard, error = %e, path = %b.ha.history_path.display(),
            "cannot record the epoch; not taking writes");
        return;
    }
    *b.ha.history.borrow_mut() = h;
    *b.ha.master_addr.borrow_mut() = None;
    b.store.set_replica(false);
    b.ha.local.set(LocalRole::Master(epoch));
    tracing::info!(shard = %b.shard, epoch, start = end, "promoted: master, taking writes");
}
