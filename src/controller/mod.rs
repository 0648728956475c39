//! The failover controller (issue #13): a group of 1 or 3 `bolide controller` processes that decides,
//! per broker group (brokerName), which broker is master and at which epoch, and promotes a slave when
//! the master stops heartbeating. The decision is replicated with Raft from openraft (a proven library,
//! never a home-made election); protocol and broker usage: `docs/REPLICATION.md`, "Failover and epochs".
//!
//! Layout, from the pure core out:
//! - [`decide`]: the election decision (a table, one function). Pure.
//! - [`state`]: the state machine's data and its `apply`. Pure.
//! - [`store`]: openraft's log storage and state machine, persisted as small JSON files in the data dir.
//! - [`wire`]: the TCP frames (length + JSON) between controller nodes and from brokers.
//! - [`network`]: openraft's network over [`wire`].
//! - [`node`]: one controller node: raft, the listener, heartbeat handling, the lapse check.
//! - [`client`]: what a broker calls: [`client::heartbeat`] → [`Assignment`].
//!
//! Why its own process and not a role inside `bolide namesrv`: openraft runs on tokio while the
//! NameServer is a glommio executor with no storage; the controller needs an fsynced log in a data
//! directory and a quorum whose failure domain an operator chooses apart from the brokers' (as
//! RocketMQ 5 lets its controller run standalone). It can share hosts with the NameServers.
//!
//! Runs on a tokio runtime (openraft's); never on a shard. Nothing here touches broker state.

pub mod client;
pub mod decide;
pub mod network;
pub mod node;
pub mod state;
pub mod store;
pub mod wire;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::time::Duration;

pub use node::Controller;
pub use state::{Assignment, Role};
pub use wire::BrokerHeartbeat;

openraft::declare_raft_types!(
    /// The controller's raft types: commands in, command results out, nodes named by id and address.
    pub TypeConfig:
        D = state::Command,
        R = state::CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

/// One controller node's settings.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// This node's id: a key of `peers`.
    pub id: u64,
    /// Every node of the group (1 or 3, this one included): id → `ip:port`. The same on every node.
    pub peers: BTreeMap<u64, String>,
    /// Where the raft log, vote and snapshot live.
    pub data_dir: PathBuf,
    /// A broker whose heartbeat the raft leader has not seen for this long is not live (RocketMQ's
    /// controller: 10 s).
    pub broker_timeout: Duration,
    /// Raft leader heartbeat interval; elections time out after 4 to 8 of them.
    pub raft_heartbeat_interval: Duration,
}

impl ControllerConfig {
    pub const BROKER_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
    pub const RAFT_HEARTBEAT_DEFAULT: Duration = Duration::from_millis(250);

    /// Checks the settings (a bad one is a one-line error before anything starts).
    pub fn validate(&self) -> Result<(), ControllerError> {
        if !(self.peers.len() == 1 || self.peers.len() == 3) {
            return Err(ControllerError::Config(format!(
                "a controller group has 1 or 3 nodes, got {}",
                self.peers.len()
            )));
        }
        if !self.peers.contains_key(&self.id) {
            return Err(ControllerError::Config(format!(
                "--id {} is not one of the peers",
                self.id
            )));
        }
        if self.broker_timeout < Duration::from_millis(100)
            || self.raft_heartbeat_interval < Duration::from_millis(10)
        {
            return Err(ControllerError::Config(
                "broker timeout must be >= 100 ms and raft heartbeat >= 10 ms".into(),
            ));
        }
        Ok(())
    }
}

/// Parses `1=127.0.0.1:9878;2=127.0.0.1:9879` (`;` or `,` between nodes).
pub fn parse_peers(text: &str) -> Result<BTreeMap<u64, String>, ControllerError> {
    let mut peers = BTreeMap::new();
    for part in text
        .split([';', ','])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let bad = || ControllerError::Config(format!("peer `{part}` is not ID=HOST:PORT"));
        let (id, addr) = part.split_once('=').ok_or_else(bad)?;
        let id: u64 = id.trim().parse().map_err(|_| bad())?;
        let addr = addr.trim();
        if addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            return Err(bad());
        }
        if peers.insert(id, addr.to_string()).is_some() {
            return Err(ControllerError::Config(format!("peer id {id} given twice")));
        }
    }
    Ok(peers)
}

/// Why a controller node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("controller config: {0}")]
    Config(String),
    #[error("controller {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("raft: {0}")]
    Raft(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_validate() {
        let p = parse_peers("1=127.0.0.1:9878; 2=127.0.0.1:9879,3=h:1").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[&2], "127.0.0.1:9879");
        for bad in ["1", "x=a:1", "1=a", "1=a:99999", "1=a:1;1=b:2"] {
            assert!(parse_peers(bad).is_err(), "{bad}");
        }
        let mut cfg = ControllerConfig {
            id: 2,
            peers: p,
            data_dir: PathBuf::from("d"),
            broker_timeout: ControllerConfig::BROKER_TIMEOUT_DEFAULT,
            raft_heartbeat_interval: ControllerConfig::RAFT_HEARTBEAT_DEFAULT,
        };
        cfg.validate().unwrap();
        cfg.id = 4;
        assert!(cfg.validate().is_err());
        cfg.id = 1;
        cfg.peers.remove(&3);
        assert!(cfg.validate().is_err(), "2 nodes cannot survive a loss");
    }
}
