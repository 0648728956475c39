//! One controller node: the openraft instance, the listener that serves raft RPCs from peers and
//! heartbeats from brokers on the same port, and, while this node is the raft leader, the broker
//! liveness table and the lapse check that promotes a slave.
//!
//! Heartbeat on the leader (followers answer `NotLeader` with the leader's address):
//! 1. note the broker live now, with its durable offsets (memory only, see `state.rs`);
//! 2. read linearizably (`ensure_linearizable`: everything committed by earlier leaders is applied);
//! 3. a broker unknown to its group, or at a new address: propose `Register`;
//! 4. run [`decide`] for its group and propose `Elect` if it says so;
//! 5. answer the broker's [`Assignment`] from the applied state.
//!
//! Lapse check: every quarter of the broker timeout the leader runs [`decide`] for every group. A
//! member is live when the leader saw its heartbeat within the broker timeout, counting from when this
//! node became leader for members it has not heard yet (a new leader waits a full timeout before
//! declaring anyone dead). Decisions and proposals are serialized by one lock; `Elect` also carries the
//! epoch it was decided at, so a decision made on a stale view is refused when applied.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::net::TcpStream;
use tokio::task::{JoinHandle, JoinSet};

use super::decide::{decide, durable_bytes, Candidate, Decision};
use super::network::Network;
use super::state::{Assignment, Command};
use super::store::{LogStore, StateMachineStore, SNAPSHOT_EVERY_LOGS};
use super::wire::{
    read_frame, write_frame, BrokerHeartbeat, HeartbeatReply, NodeStatus, Request, Response,
};
use super::{ControllerConfig, ControllerError, TypeConfig};

/// What the leader saw of one broker.
struct Seen {
    at: Instant,
    durable_offsets: Vec<u64>,
}

/// The leader's volatile view of broker liveness, reset when this node (re)gains leadership.
struct Liveness {
    term: Option<u64>,
    leader_since: Instant,
    seen: HashMap<(String, u64), Seen>,
}

struct Shared {
    id: u64,
    peers: BTreeMap<u64, String>,
    raft: Raft<TypeConfig>,
    sm: StateMachineStore,
    broker_timeout: Duration,
    liveness: Mutex<Liveness>,
    decide_lock: tokio::sync::Mutex<()>,
}

/// A running controller node. Dropping it does not stop it: call [`Controller::shutdown`].
pub struct Controller {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

enum ProposeError {
    NotLeader(HeartbeatReply),
    Unavailable(String),
}

impl Controller {
    /// Starts a node on `listener` (already bound to `cfg.peers[cfg.id]`'s port). Must run inside a
    /// tokio runtime. Every node of a new group initializes the same membership (`cfg.peers`), which
    /// openraft allows; a node with a log already just resumes.
    pub async fn start(
        cfg: ControllerConfig,
        listener: std::net::TcpListener,
    ) -> Result<Controller, ControllerError> {
        cfg.validate()?;
        let io = |op, source| ControllerError::Io {
            op,
            path: cfg.data_dir.clone(),
            source,
        };
        let log = LogStore::open(&cfg.data_dir).map_err(|e| io("open raft log", e))?;
        let sm = StateMachineStore::open(&cfg.data_dir).map_err(|e| io("open state", e))?;
        let hb_ms = cfg.raft_heartbeat_interval.as_millis() as u64;
        let raft_config = Config {
            cluster_name: "bolide-controller".into(),
            heartbeat_interval: hb_ms,
            election_timeout_min: hb_ms * 4,
            election_timeout_max: hb_ms * 8,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY_LOGS),
            max_in_snapshot_log_to_keep: 0,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ControllerError::Raft(e.to_string()))?;
        let raft = Raft::new(cfg.id, Arc::new(raft_config), Network, log, sm.clone())
            .await
            .map_err(|e| ControllerError::Raft(e.to_string()))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| ControllerError::Raft(e.to_string()))?;
        if !initialized {
            let members: BTreeMap<u64, BasicNode> = cfg
                .peers
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            // NotAllowed means a peer's membership already reached us: the goal of initialize.
            if let Err(e) = raft.initialize(members).await {
                tracing::debug!(error = %e, "controller initialize");
            }
        }
        listener
            .set_nonblocking(true)
            .map_err(|e| io("listen", e))?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| io("listen", e))?;
        let shared = Arc::new(Shared {
            id: cfg.id,
            peers: cfg.peers.clone(),
            raft,
            sm,
            broker_timeout: cfg.broker_timeout,
            liveness: Mutex::new(Liveness {
                term: None,
                leader_since: Instant::now(),
                seen: HashMap::new(),
            }),
            decide_lock: tokio::sync::Mutex::new(()),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        let lapse = tokio::spawn(lapse_loop(shared.clone()));
        tracing::info!(id = cfg.id, peers = ?cfg.peers, "controller node started");
        Ok(Controller {
            shared,
            tasks: vec![accept, lapse],
        })
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// This node's view (term, leader, applied state).
    pub fn status(&self) -> NodeStatus {
        self.shared.status()
    }

    /// Stops serving (listener and connections closed) and stops raft. The data directory stays.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        if let Err(e) = self.shared.raft.shutdown().await {
            tracing::warn!(error = %e, "controller raft shutdown");
        }
    }
}

/// Whether a member counts as live on this leader:
///
/// | heartbeat seen by this leader | live when                                    |
/// |-------------------------------|----------------------------------------------|
/// | no                            | `now - leader_since < timeout` (grace)       |
/// | yes, at `t`                   | `now - max(t, leader_since) < timeout`       |
///
/// A heartbeat from before this leadership (`t < leader_since`) cannot exist, as the table is reset
/// then; the `max` keeps the rule total.
fn is_live(
    now: Instant,
    seen_at: Option<Instant>,
    leader_since: Instant,
    timeout: Duration,
) -> bool {
    let since = seen_at.map_or(leader_since, |t| t.max(leader_since));
    now.saturating_duration_since(since) < timeout
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    // Connections live in the set: aborting this task drops them all.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_conn(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "controller accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_conn(mut stream: TcpStream, shared: Arc<Shared>) {
    loop {
        let req: Request = match read_frame(&mut stream).await {
            Ok(r) => r,
            Err(_) => return, // closed or malformed: this connection only
        };
        let resp = shared.handle(req).await;
        if write_frame(&mut stream, &resp).await.is_err() {
            return;
        }
    }
}

async fn lapse_loop(shared: Arc<Shared>) {
    let period = (shared.broker_timeout / 4).max(Duration::from_millis(25));
    loop {
        tokio::time::sleep(period).await;
        if !shared.note_leadership() {
            continue;
        }
        let _guard = shared.decide_lock.lock().await;
        let names: Vec<String> = shared.sm.state().groups.keys().cloned().collect();
        for name in names {
            if let Err(ProposeError::Unavailable(reason)) = shared.decide_group(&name).await {
                tracing::warn!(group = %name, %reason, "controller lapse check");
            }
        }
    }
}

impl Shared {
    async fn handle(&self, req: Request) -> Response {
        match req {
            Request::AppendEntries(rpc) => {
                Response::AppendEntries(self.raft.append_entries(rpc).await)
            }
            Request::Vote(rpc) => Response::Vote(self.raft.vote(rpc).await),
            Request::InstallSnapshot(rpc) => {
                Response::InstallSnapshot(self.raft.install_snapshot(rpc).await)
            }
            Request::Heartbeat(hb) => Response::Heartbeat(self.heartbeat(hb).await),
            Request::Status => Response::Status(self.status()),
        }
    }

    fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        NodeStatus {
            id: self.id,
            term: m.current_term,
            leader: m.current_leader,
            last_applied_index: m.last_applied.map(|l| l.index),
            state: self.sm.state(),
        }
    }

    fn not_leader(&self, leader: Option<u64>) -> HeartbeatReply {
        HeartbeatReply::NotLeader {
            leader: leader.and_then(|l| self.peers.get(&l).map(|a| (l, a.clone()))),
        }
    }

    /// True when this node is the raft leader; on a new term of leadership, restarts the liveness
    /// table (every member gets a full timeout from now).
    fn note_leadership(&self) -> bool {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(self.id) {
            return false;
        }
        let mut live = self.liveness.lock().unwrap_or_else(|p| p.into_inner());
        if live.term != Some(m.current_term) {
            live.term = Some(m.current_term);
            live.leader_since = Instant::now();
            live.seen.clear();
        }
        true
    }

    async fn heartbeat(&self, hb: BrokerHeartbeat) -> HeartbeatReply {
        if !self.note_leadership() {
            return self.not_leader(self.raft.metrics().borrow().current_leader);
        }
        {
            let mut live = self.liveness.lock().unwrap_or_else(|p| p.into_inner());
            live.seen.insert(
                (hb.broker_name.clone(), hb.broker_id),
                Seen {
                    at: Instant::now(),
                    durable_offsets: hb.durable_offsets.clone(),
                },
            );
        }
        match self.heartbeat_inner(&hb).await {
            Ok(a) => {
                if a.epoch > hb.epoch {
                    tracing::debug!(group = %hb.broker_name, broker = hb.broker_id, their_epoch = hb.epoch,
                        epoch = a.epoch, role = ?a.role, "broker told of a newer epoch");
                }
                HeartbeatReply::Assignment(a)
            }
            Err(ProposeError::NotLeader(reply)) => reply,
            Err(ProposeError::Unavailable(reason)) => HeartbeatReply::Unavailable { reason },
        }
    }

    async fn heartbeat_inner(&self, hb: &BrokerHeartbeat) -> Result<Assignment, ProposeError> {
        let _guard = self.decide_lock.lock().await;
        match tokio::time::timeout(self.broker_timeout, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(match e.forward_to_leader() {
                    Some(f) => ProposeError::NotLeader(self.not_leader(f.leader_id)),
                    None => ProposeError::Unavailable(e.to_string()),
                })
            }
            Err(_) => {
                return Err(ProposeError::Unavailable(
                    "no quorum within the broker timeout".into(),
                ))
            }
        }
        let state = self.sm.state();
        let known = state
            .groups
            .get(&hb.broker_name)
            .and_then(|g| g.members.get(&hb.broker_id))
            .map(|m| (m.address.as_str(), m.ha_address.as_str()));
        if known != Some((hb.address.as_str(), hb.ha_address.as_str())) {
            self.propose(Command::Register {
                broker_name: hb.broker_name.clone(),
                broker_id: hb.broker_id,
                address: hb.address.clone(),
                ha_address: hb.ha_address.clone(),
                durable_offsets: hb.durable_offsets.clone(),
            })
            .await?;
        }
        self.decide_group(&hb.broker_name).await?;
        let mut a = self.sm.state().assignment(&hb.broker_name, hb.broker_id);
        a.lease_ms = self.broker_timeout.as_millis() as u64;
        Ok(a)
    }

    /// Runs [`decide`] for one group on the leader's liveness view and proposes the change it names.
    /// The caller holds `decide_lock`.
    async fn decide_group(&self, name: &str) -> Result<(), ProposeError> {
        let state = self.sm.state();
        let Some(group) = state.groups.get(name) else {
            return Ok(());
        };
        let now = Instant::now();
        let (candidates, offsets): (Vec<Candidate>, Vec<(u64, Vec<u64>)>) = {
            let live = self.liveness.lock().unwrap_or_else(|p| p.into_inner());
            group
                .members
                .iter()
                .map(|(&id, member)| {
                    let seen = live.seen.get(&(name.to_string(), id));
                    let offsets = seen.map_or(&member.durable_offsets, |s| &s.durable_offsets);
                    let candidate = Candidate {
                        broker_id: id,
                        live: is_live(
                            now,
                            seen.map(|s| s.at),
                            live.leader_since,
                            self.broker_timeout,
                        ),
                        durable_bytes: durable_bytes(offsets),
                    };
                    (candidate, (id, offsets.clone()))
                })
                .unzip()
        };
        let Decision::Elect(master) = decide(group.master, &candidates) else {
            return Ok(());
        };
        let offsets = offsets
            .into_iter()
            .zip(&candidates)
            .filter(|(_, c)| c.live)
            .map(|(o, _)| o)
            .collect();
        let result = self
            .propose(Command::Elect {
                broker_name: name.to_string(),
                decided_at_epoch: group.epoch,
                master,
                offsets,
            })
            .await?;
        tracing::info!(group = %name, old = ?group.master, new = master, epoch = result.epoch,
            applied = result.applied, "controller master change");
        Ok(())
    }

    async fn propose(&self, cmd: Command) -> Result<super::state::CommandResult, ProposeError> {
        // A leader cut off from its quorum would wait for ever; brokers ask another node meanwhile.
        let written = tokio::time::timeout(self.broker_timeout, self.raft.client_write(cmd)).await;
        let Ok(written) = written else {
            return Err(ProposeError::Unavailable(
                "no quorum within the broker timeout".into(),
            ));
        };
        match written {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ProposeError::NotLeader(self.not_leader(f.leader_id)))
            }
            Err(e) => Err(ProposeError::Unavailable(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_table_row_by_row() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let timeout = s(10);
        // (name, now, seen_at, leader_since, live)
        let rows = [
            ("never seen, within the grace", t0 + s(9), None, t0, true),
            ("never seen, grace over", t0 + s(10), None, t0, false),
            ("seen recently", t0 + s(25), Some(t0 + s(20)), t0, true),
            ("seen too long ago", t0 + s(31), Some(t0 + s(20)), t0, false),
            (
                "seen before this leadership: grace from leadership",
                t0 + s(15),
                Some(t0),
                t0 + s(10),
                true,
            ),
            ("clock reads before leader_since", t0, None, t0 + s(1), true),
        ];
        for (name, now, seen_at, leader_since, want) in rows {
            assert_eq!(
                is_live(now, seen_at, leader_since, timeout),
                want,
                "row: {name}"
            );
        }
    }
}
