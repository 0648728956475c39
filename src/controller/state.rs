//! The replicated state machine's data: per broker group (brokerName), its members, the current master
//! and the epoch. Plain data and one pure [`ClusterState::apply`]; every controller node applies the
//! same committed [`Command`]s in the same order (`store.rs` feeds them from the raft log), so every node
//! holds the same state.
//!
//! What is in the log and what is not: a member's registration (id, address, offsets when it joined)
//! and every master change (with the offsets the decision saw) are log entries. Heartbeats are not:
//! liveness and the freshest offsets live on the raft leader only (`node.rs`), since a log entry per
//! heartbeat would turn the log into a clock. A new raft leader gives every member a full broker
//! timeout before judging it dead.
//!
//! Epoch rule: `epoch` grows by one at each master change, and only there. [`Command::Elect`] carries
//! the epoch it was decided at and is refused (state unchanged) when the group has moved on, so two
//! proposals decided on the same view cannot both apply.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every broker group the controller knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    pub groups: BTreeMap<String, GroupState>,
}

/// One broker group: a master and its slaves sharing a brokerName.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub members: BTreeMap<u64, Member>,
    /// brokerId of the master, `None` until the first election.
    pub master: Option<u64>,
    /// Incremented at each master change; 0 before the first master.
    pub epoch: u64,
}

/// A member as the log last recorded it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Broker address (`ip:port`) that clients use.
    pub address: String,
    /// Its replication listener (`ip:port` of shard 0), where slaves connect when it is master.
    #[serde(default)]
    pub ha_address: String,
    /// Durable physical offset per shard, as last recorded (at registration or at an election).
    pub durable_offsets: Vec<u64>,
}

/// A change to the state machine: the raft log's application data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A broker joined its group or changed its address.
    Register {
        broker_name: String,
        broker_id: u64,
        address: String,
        #[serde(default)]
        ha_address: String,
        durable_offsets: Vec<u64>,
    },
    /// Make `master` the group's master at `decided_at_epoch + 1`; refused if the group's epoch is no
    /// longer `decided_at_epoch`. `offsets` are the live members' offsets the decision saw.
    Elect {
        broker_name: String,
        decided_at_epoch: u64,
        master: u64,
        offsets: Vec<(u64, Vec<u64>)>,
    },
}

/// What applying a command did: the group's master and epoch afterwards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// False when an `Elect` was refused (stale epoch, unknown group or member).
    pub applied: bool,
    pub master: Option<u64>,
    pub epoch: u64,
}

/// A broker's role, as the controller tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Master,
    Slave,
}

/// The answer to a broker's heartbeat: who is master of its group, at which epoch, and so its own role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub broker_name: String,
    pub master_id: Option<u64>,
    pub master_address: Option<String>,
    /// The master's replication listener (`ip:port` of its shard 0), where a slave connects.
    #[serde(default)]
    pub master_ha_address: Option<String>,
    pub epoch: u64,
    /// `Master` only for the broker that is the master at `epoch`; a broker whose own epoch is older
    /// and that believed it was master learns here that it is not.
    pub role: Role,
    /// The controller's broker timeout: a master that has had no assignment for this long (counted
    /// from the start of its last successful heartbeat) must stop accepting writes, since the
    /// controller may have promoted another member by then. 0: not said (state machine answers;
    /// the node fills it in).
    #[serde(default)]
    pub lease_ms: u64,
}

impl ClusterState {
    /// Applies one committed command. Pure and deterministic: the same commands in the same order
    /// give the same state on every node.
    pub fn apply(&mut self, cmd: &Command) -> CommandResult {
        match cmd {
            Command::Register {
                broker_name,
                broker_id,
                address,
                ha_address,
                durable_offsets,
            } => {
                let group = self.groups.entry(broker_name.clone()).or_default();
                let member = group.members.entry(*broker_id).or_default();
                member.address = address.clone();
                member.ha_address = ha_address.clone();
                member.durable_offsets = durable_offsets.clone();
                CommandResult {
                    applied: true,
                    master: group.master,
                    epoch: group.epoch,
                }
            }
            Command::Elect {
                broker_name,
                decided_at_epoch,
                master,
                offsets,
            } => {
                let Some(group) = self.groups.get_mut(broker_name) else {
                    return CommandResult::default();
                };
                if group.epoch != *decided_at_epoch || !group.members.contains_key(master) {
                    return CommandResult {
                        applied: false,
                        master: group.master,
                        epoch: group.epoch,
                    };
                }
                for (id, durable) in offsets {
                    if let Some(m) = group.members.get_mut(id) {
                        m.durable_offsets = durable.clone();
                    }
                }
                group.master = Some(*master);
                group.epoch += 1;
                CommandResult {
                    applied: true,
                    master: group.master,
                    epoch: group.epoch,
                }
            }
        }
    }

    /// What the controller tells broker `broker_id` of `broker_name`.
    pub fn assignment(&self, broker_name: &str, broker_id: u64) -> Assignment {
        let group = self.groups.get(broker_name);
        let master_id = group.and_then(|g| g.master);
        let master = group.zip(master_id).and_then(|(g, m)| g.members.get(&m));
        let master_address = master.map(|m| m.address.clone());
        let master_ha_address = master
            .map(|m| m.ha_address.clone())
            .filter(|a| !a.is_empty());
        Assignment {
            broker_name: broker_name.to_string(),
            master_id,
            master_address,
            master_ha_address,
            epoch: group.map_or(0, |g| g.epoch),
            role: if master_id == Some(broker_id) {
                Role::Master
            } else {
                Role::Slave
            },
            lease_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(id: u64, addr: &str) -> Command {
        Command::Register {
            broker_name: "b".into(),
            broker_id: id,
            address: addr.into(),
            ha_address: format!("{addr}0"),
            durable_offsets: vec![0],
        }
    }

    fn elect(at: u64, master: u64) -> Command {
        Command::Elect {
            broker_name: "b".into(),
            decided_at_epoch: at,
            master,
            offsets: vec![(master, vec![42])],
        }
    }

    #[test]
    fn elect_bumps_epoch_once_and_refuses_a_stale_decision() {
        let mut s = ClusterState::default();
        s.apply(&register(0, "a:1"));
        s.apply(&register(1, "a:2"));
        assert_eq!(s.assignment("b", 0).master_id, None);
        let r = s.apply(&elect(0, 0));
        assert!(r.applied);
        assert_eq!((r.master, r.epoch), (Some(0), 1));
        // A second proposal decided on the same view (epoch 0) is refused.
        let r = s.apply(&elect(0, 1));
        assert!(!r.applied);
        assert_eq!((r.master, r.epoch), (Some(0), 1));
        let r = s.apply(&elect(1, 1));
        assert!(r.applied);
        assert_eq!((r.master, r.epoch), (Some(1), 2));
        assert_eq!(s.groups["b"].members[&1].durable_offsets, vec![42]);
        // Unknown member or group: refused.
        assert!(!s.apply(&elect(2, 9)).applied);
        let mut other = elect(0, 0);
        if let Command::Elect { broker_name, .. } = &mut other {
            *broker_name = "nope".into();
        }
        assert!(!s.apply(&other).applied);
    }

    #[test]
    fn assignment_tells_a_stale_master_it_is_a_slave() {
        let mut s = ClusterState::default();
        s.apply(&register(0, "a:1"));
        s.apply(&register(1, "a:2"));
        s.apply(&elect(0, 0));
        s.apply(&elect(1, 1));
        let old = s.assignment("b", 0);
        assert_eq!(old.role, Role::Slave);
        assert_eq!(old.epoch, 2);
        assert_eq!(old.master_id, Some(1));
        assert_eq!(old.master_address.as_deref(), Some("a:2"));
        assert_eq!(old.master_ha_address.as_deref(), Some("a:20"));
        assert_eq!(s.assignment("b", 1).role, Role::Master);
        // Re-registering with a new address keeps master and epoch.
        s.apply(&register(1, "a:3"));
        let a = s.assignment("b", 1);
        assert_eq!((a.role, a.epoch), (Role::Master, 2));
        assert_eq!(a.master_address.as_deref(), Some("a:3"));
        let none = s.assignment("unknown", 0);
        assert_eq!(
            (none.master_id, none.epoch, none.role),
            (None, 0, Role::Slave)
        );
    }
}
