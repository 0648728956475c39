//! Client expiry: clients that have not heartbeated for `CLIENT_EXPIRY_MS` are dropped from this
//! shard's registry replica, their queue locks released, and (on shard 0) their groups told to
//! rebalance. Every shard runs it on its own replica; the same clock rule gives the same result.

use std::rc::Rc;
use std::time::Duration;

use super::tick;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::net::StopSignal;

/// How often silent clients are looked for.
pub const EXPIRY_CHECK_INTERVAL_MS: u64 = 10_000;

/// The service loop. See the module comment.
pub async fn run(broker: Rc<Broker>, stop: StopSignal) {
    while tick(Duration::from_millis(EXPIRY_CHECK_INTERVAL_MS), &stop).await {
        let (changed, gone) = broker.clients.borrow_mut().expire(now_ms());
        if !gone.is_empty() {
            broker.locks.borrow_mut().release_clients(&gone);
            tracing::info!(shard = %broker.shard, clients = ?gone, "expired silent clients");
        }
        broker.notify_groups(&changed);
    }
}
