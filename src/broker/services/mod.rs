//! Background services of a shard: periodic duties that run beside the request path, each its own
//! task on the shard's executor, each ending when the process begins to shut down.
//!
//! | service | period | what |
//! |---|---|---|
//! | [`offset_persist`] | `offset_persist_interval_ms` (at least 100 ms) | writes this shard's consumer offsets when they changed |
//! | [`tps`] | [`tps::TPS_INTERVAL_MS`] | message rates and day marks for GET_BROKER_RUNTIME_INFO |
//! | [`client_expiry`] | [`client_expiry::EXPIRY_CHECK_INTERVAL_MS`] | drops clients silent for longer than `CLIENT_EXPIRY_MS`, releases their locks, notifies groups |
//! | [`transaction_check`] | [`transaction_check::ROUND_INTERVAL_MS`] | recovers pending half messages at start, then checks the due ones with their producers, discards those checked too often, records the floors |
//! | [`scheduler`] | until the next due message (ms), a sweep every [`scheduler::WINDOW_MS`]/2 | re-puts parked delayed and timer messages on their real queue when due; progress checkpoint every [`scheduler::PERSIST_INTERVAL_MS`] |
//! | [`metrics_publish`] | [`metrics_publish::PUBLISH_INTERVAL_MS`] | copies the shard's figures into the `MetricsHub` the HTTP thread reads (started by `lifecycle` once the edge exists) |
//! | [`namesrv_expiry`] | 5 s (NameServer role on) | drops registered brokers silent for longer than their timeout (120 s) |
//! | [`registration`] | `register_period_ms` and on topic changes (shard 0, one loop per NameServer in `namesrv_addr`) | REGISTER_BROKER; UNREGISTER_BROKER at shutdown (started by `lifecycle`, which awaits it) |
//! | [`ha_master`] | on appends, `haSendHeartbeatInterval` when idle (masters; started by `lifecycle` on the shard's replication listener) | streams the log and metadata to slave shard k, takes its ACKs |
//! | [`ha_slave`] | a link held open, retried every second (brokerRole=SLAVE) | follows master shard k: appends its records, acknowledges, applies its metadata |
//!
//! A slave runs neither the delay scheduler nor the transaction check: its log grows only from its
//! master (whose own services do that work; their records reach the slave like any other).

pub mod client_expiry;
pub mod failover;
pub mod ha_master;
pub mod ha_meta;
pub mod ha_slave;
pub mod metrics_publish;
pub mod namesrv_expiry;
pub mod offset_persist;
pub mod registration;
pub mod scheduler;
pub mod tps;
pub mod transaction_check;

use std::rc::Rc;
use std::time::Duration;

use super::Broker;
use crate::net::StopSignal;

/// Starts every service of the shard (each returns when `stop` fires). The handles returned are the
/// services that append to the store (the delay scheduler): the shard awaits them before it closes
/// the store, so that their last writes and checkpoints are in.
pub fn start(broker: &Rc<Broker>, stop: &StopSignal) -> Vec<glommio::task::JoinHandle<()>> {
    glommio::spawn_local(offset_persist::run(broker.clone(), stop.clone())).detach();
    glommio::spawn_local(client_expiry::run(broker.clone(), stop.clone())).detach();
    glommio::spawn_local(tps::run(broker.clone(), stop.clone())).detach();
    if broker.cfg.namesrv_role {
        glommio::spawn_local(namesrv_expiry::run(broker.clone(), stop.clone())).detach();
    }
    if broker.cfg.enable_controller_mode {
        // Either role, as the controller says: follow while a slave (ha_slave idles otherwise),
        // apply the assignment. The delay scheduler and the transaction check start with the
        // shard's first promotion (a slave's store refuses their writes; after a demotion their
        // writes fail and are retried, as on any refused append).
        glommio::spawn_local(failover::run(broker.clone(), stop.clone())).detach();
        let (b, s) = (broker.clone(), stop.clone());
        glommio::spawn_local(async move {
            if failover::until_master(&b, &s).await {
                transaction_check::run(b, s).await;
            }
        })
        .detach();
        let (b, s) = (broker.clone(), stop.clone());
        return vec![
            glommio::spawn_local(ha_slave::run(broker.clone(), stop.clone())).detach(),
            glommio::spawn_local(async move {
                if failover::until_master(&b, &s).await {
                    scheduler::run(b, s).await;
                }
            })
            .detach(),
        ];
    }
    if broker.cfg.broker_role == crate::config::BrokerRole::Slave {
        return vec![glommio::spawn_local(ha_slave::run(broker.clone(), stop.clone())).detach()];
    }
    glommio::spawn_local(transaction_check::run(broker.clone(), stop.clone())).detach();
    vec![glommio::spawn_local(scheduler::run(broker.clone(), stop.clone())).detach()]
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
