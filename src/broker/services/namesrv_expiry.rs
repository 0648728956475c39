//! NameServer role: brokers that have not registered within their timeout (120 s unless their
//! registration said otherwise) leave this shard's registry replica. Every shard runs it on its own
//! replica with the same rule, as `client_expiry` does for clients; the period is Java 5.x's
//! `scanNotActiveBrokerInterval`.

use std::rc::Rc;
use std::time::Duration;

use super::tick;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::nameserver::server::EXPIRY_SCAN_INTERVAL_MS;
use crate::net::StopSignal;
use crate::shard::ShardId;

/// The service loop. See the module comment.
pub async fn run(broker: Rc<Broker>, stop: StopSignal) {
    while tick(Duration::from_millis(EXPIRY_SCAN_INTERVAL_MS), &stop).await {
        if broker.registry.borrow().is_empty() {
            continue;
        }
        let gone = broker.registry.borrow_mut().expire(now_ms());
        if broker.shard == ShardId(0) {
            for r in gone {
                tracing::warn!(cluster = %r.cluster, broker = %r.broker_name, addr = %r.broker_addr, "broker expired: no registration within its timeout");
            }
        }
    }
}
