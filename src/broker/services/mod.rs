//! Background services of a shard: periodic duties that run beside the request path, each its own
//! task on the shard's executor, each ending when the process begins to shut down.
//!
//! | service | period | what |
//! |---|---|---|
//! | [`offset_persist`] | `offset_persist_interval_ms` (at least 100 ms) | writes this shard's consumer offsets when they changed |
//! | [`client_expiry`] | [`client_expiry::EXPIRY_CHECK_INTERVAL_MS`] | drops clients silent for longer than `CLIENT_EXPIRY_MS`, releases their locks, notifies groups |
//! | [`namesrv_expiry`] | 5 s (NameServer role on) | drops registered brokers silent for longer than their timeout (120 s) |
//! | [`registration`] | `register_period_ms` and on topic changes (shard 0, one loop per NameServer in `namesrv_addr`) | REGISTER_BROKER; UNREGISTER_BROKER at shutdown (started by `lifecycle`, which awaits it) |
//!
//! Next here: the delay scheduler, the transaction checker, replication.

pub mod client_expiry;
pub mod namesrv_expiry;
pub mod offset_persist;
pub mod registration;

use std::rc::Rc;
use std::time::Duration;

use super::Broker;
use crate::net::StopSignal;

/// Starts every service of the shard (detached; each returns when `stop` fires).
pub fn start(broker: &Rc<Broker>, stop: &StopSignal) {
    glommio::spawn_local(offset_persist::run(broker.clone(), stop.clone())).detach();
    glommio::spawn_local(client_expiry::run(broker.clone(), stop.clone())).detach();
    if broker.cfg.namesrv_role {
        glommio::spawn_local(namesrv_expiry::run(broker.clone(), stop.clone())).detach();
    }
}

/// Sleeps `period`; false when `stop` fired first.
async fn tick(period: Duration, stop: &StopSignal) -> bool {
    futures_lite::future::or(
        async {
            glommio::timer::sleep(period).await;
            true
        },
        async {
            let _ = stop.recv_async().await;
            false
        },
    )
    .await
}
