//! The failover controller (`bolide::controller`) as a group: three controller nodes in this test
//! process on loopback (ports picked by the OS, data under the target directory), driven by brokers'
//! heartbeats through the blocking client; and one `bolide controller` process restarted on its data.
//!
//! What it shows: a raft leader is elected; killing it, another takes over and the state (master,
//! epoch) survives; a master that stops heartbeating is replaced by its slave at epoch + 1; the old
//! master, back with its stale epoch, is told it is a slave; a restarted node catches up; a node left
//! without a quorum gives no assignment.
//!
//! Waits have generous deadlines (60 s) and assert on content, never on speed.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bolide::controller::client::{self, ControllerClient};
use bolide::controller::wire::NodeStatus;
use bolide::controller::{Assignment, BrokerHeartbeat, Controller, ControllerConfig, Role};

const DEADLINE: Duration = Duration::from_secs(60);
const RPC_TIMEOUT: Duration = Duration::from_secs(3);
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

fn data_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("controller-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Three controller nodes on one tokio runtime driven by its own thread.
struct Group {
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    driver: Option<std::thread::JoinHandle<()>>,
    peers: BTreeMap<u64, String>,
    dirs: BTreeMap<u64, PathBuf>,
    nodes: BTreeMap<u64, Controller>,
}

impl Group {
    fn start(n: u64) -> Group {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let runtime = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let driver = std::thread::spawn(move || {
            let _ = rt.block_on(stopped);
        });
        let listeners: BTreeMap<u64, TcpListener> = (1..=n)
            .map(|id| (id, TcpListener::bind("127.0.0.1:0").unwrap()))
            .collect();
        let peers = listeners
            .iter()
            .map(|(id, l)| (*id, l.local_addr().unwrap().to_string()))
            .collect();
        let dirs = (1..=n)
            .map(|id| (id, data_dir(&format!("group-n{id}"))))
            .collect();
        let mut g = Group {
            runtime,
            stop: Some(stop),
            driver: Some(driver),
            peers,
            dirs,
            nodes: BTreeMap::new(),
        };
        for (id, l) in listeners {
            g.start_node(id, l);
        }
        g
    }

    fn start_node(&mut self, id: u64, listener: TcpListener) {
        let cfg = ControllerConfig {
            id,
            peers: self.peers.clone(),
            data_dir: self.dirs[&id].clone(),
            broker_timeout: BROKER_TIMEOUT,
            raft_heartbeat_interval: Duration::from_millis(200),
        };
        let node = self
            .runtime
            .block_on(Controller::start(cfg, listener))
            .unwrap();
        self.nodes.insert(id, node);
    }

    fn restart_node(&mut self, id: u64) {
        let listener = TcpListener::bind(&self.peers[&id]).unwrap();
        self.start_node(id, listener);
    }

    fn kill(&mut self, id: u64) {
        let node = self.nodes.remove(&id).unwrap();
        self.runtime.block_on(node.shutdown());
    }

    fn addrs(&self) -> Vec<String> {
        self.peers.values().cloned().collect()
    }

    fn status(&self, id: u64) -> Option<NodeStatus> {
        client::status(&self.peers[&id], RPC_TIMEOUT).ok()
    }

    /// The leader every running node agrees on.
    fn agreed_leader(&self) -> Option<u64> {
        let leaders: Vec<Option<u64>> = self
            .nodes
            .keys()
            .map(|id| self.status(*id).and_then(|s| s.leader))
            .collect();
        let first = (*leaders.first()?)?;
        (self.nodes.contains_key(&first) && leaders.iter().all(|l| *l == Some(first)))
            .then_some(first)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            self.kill(id);
        }
        drop(self.stop.take());
        if let Some(d) = self.driver.take() {
            let _ = d.join();
        }
        for dir in self.dirs.values() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn hb(id: u64, epoch: u64, durable: u64) -> BrokerHeartbeat {
    BrokerHeartbeat {
        broker_name: "broker-a".into(),
        broker_id: id,
        address: format!("127.0.0.1:{}", 10911 + id),
        ha_address: String::new(),
        epoch,
        durable_offsets: vec![durable, 1 << 48],
    }
}

#[test]
fn three_nodes_fail_over_a_master_and_survive_losing_the_raft_leader() {
    let mut group = Group::start(3);
    let leader = wait_until("a raft leader", || group.agreed_leader());

    // Broker 0 heartbeats first: the only live member of a new group, it becomes master at epoch 1.
    let mut broker0 = ControllerClient::new(group.addrs(), RPC_TIMEOUT);
    let mut broker1 = ControllerClient::new(group.addrs(), RPC_TIMEOUT);
    let a0 = wait_until("broker 0 assigned", || {
        broker0.heartbeat(&hb(0, 0, 100)).ok()
    });
    assert_eq!(
        (a0.role, a0.epoch, a0.master_id),
        (Role::Master, 1, Some(0))
    );
    let a1 = wait_until("broker 1 assigned", || {
        broker1.heartbeat(&hb(1, 0, 90)).ok()
    });
    assert_eq!((a1.role, a1.epoch, a1.master_id), (Role::Slave, 1, Some(0)));
    assert_eq!(a1.master_address.as_deref(), Some("127.0.0.1:10911"));

    // Kill the raft leader; both brokers keep heartbeating; another node leads with the same state.
    group.kill(leader);
    let new_leader = wait_until("a new raft leader", || {
        let _ = broker0.heartbeat(&hb(0, 1, 200));
        let _ = broker1.heartbeat(&hb(1, 1, 190));
        group.agreed_leader().filter(|l| *l != leader)
    });
    let st = group.status(new_leader).unwrap();
    let g = &st.state.groups["broker-a"];
    assert_eq!((g.master, g.epoch), (Some(0), 1), "state survived: {st:?}");
    assert_eq!(g.members.len(), 2);
    let a0 = wait_until("broker 0 answered by the new leader", || {
        broker0.heartbeat(&hb(0, 1, 200)).ok()
    });
    assert_eq!(
        (a0.role, a0.epoch),
        (Role::Master, 1),
        "no spurious failover"
    );

    // Broker 0 (the master) stops heartbeating: broker 1 is promoted at epoch 2.
    let promoted: Assignment = wait_until("broker 1 promoted", || {
        broker1
            .heartbeat(&hb(1, 1, 300))
            .ok()
            .filter(|a| a.role == Role::Master)
    });
    assert_eq!((promoted.epoch, promoted.master_id), (2, Some(1)));
    assert_eq!(promoted.master_address.as_deref(), Some("127.0.0.1:10912"));

    // The old master comes back with its stale epoch: it is told it is a slave of broker 1.
    let old = broker0.heartbeat(&hb(0, 1, 250)).unwrap();
    assert_eq!(
        (old.role, old.epoch, old.master_id),
        (Role::Slave, 2, Some(1))
    );
    // And it stays one while broker 1 lives: no flip-back.
    let again = broker1.heartbeat(&hb(1, 2, 310)).unwrap();
    assert_eq!((again.role, again.epoch), (Role::Master, 2));

    // The killed node restarts on its data directory and catches up with the group's state.
    group.restart_node(leader);
    let caught_up = wait_until("restarted node caught up", || {
        let _ = broker1.heartbeat(&hb(1, 2, 320));
        let _ = broker0.heartbeat(&hb(0, 2, 250));
        group
            .status(leader)
            .filter(|s| s.state.groups.get("broker-a").map(|g| g.epoch) == Some(2))
    });
    let g = &caught_up.state.groups["broker-a"];
    assert_eq!(g.master, Some(1));
    let leader_now = wait_until("agreed leader", || group.agreed_leader());
    let leader_state = group.status(leader_now).unwrap().state;
    assert_eq!(
        caught_up.state.groups["broker-a"],
        leader_state.groups["broker-a"]
    );

    // Two of three nodes gone: no quorum, so no assignment and no decision at all.
    let survivor = *group.nodes.keys().next().unwrap();
    let others: Vec<u64> = group
        .nodes
        .keys()
        .copied()
        .filter(|id| *id != survivor)
        .collect();
    for id in others {
        group.kill(id);
    }
    let refused = broker1.heartbeat(&hb(1, 2, 330));
    assert!(
        refused.is_err(),
        "no quorum must give no assignment: {refused:?}"
    );
    let st = group.status(survivor).unwrap();
    assert_eq!(
        st.state.groups["broker-a"].epoch, 2,
        "nothing decided without a quorum"
    );
}

/// `bolide controller` as a real process, one node: assigns a master, and after SIGKILL and a restart
/// on the same data directory still knows it (no new epoch).
#[test]
fn single_node_process_keeps_its_state_across_a_restart() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = data_dir("process");
    let addr = format!("127.0.0.1:{port}");
    let spawn = || -> Child {
        Command::new(env!("CARGO_BIN_EXE_bolide"))
            .args([
                "controller",
                "--id",
                "1",
                "--peers",
                &format!("1={addr}"),
                "--data-dir",
                dir.to_str().unwrap(),
                "--broker-timeout-ms",
                "5000",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let addrs = vec![addr.clone()];
    let first = Kill(spawn());
    let a = wait_until("assignment", || {
        client::heartbeat(&addrs, &hb(0, 0, 10), RPC_TIMEOUT).ok()
    });
    assert_eq!((a.role, a.epoch), (Role::Master, 1));
    let b = client::heartbeat(&addrs, &hb(1, 0, 5), RPC_TIMEOUT).unwrap();
    assert_eq!((b.role, b.master_id), (Role::Slave, Some(0)));
    drop(first);

    let _second = Kill(spawn());
    let st = wait_until("restarted state", || {
        client::status(&addr, RPC_TIMEOUT)
            .ok()
            .filter(|s| s.leader == Some(1) && !s.state.groups.is_empty())
    });
    let g = &st.state.groups["broker-a"];
    assert_eq!((g.master, g.epoch, g.members.len()), (Some(0), 1, 2));
    let a = wait_until("assignment after restart", || {
        client::heartbeat(&addrs, &hb(0, 1, 10), RPC_TIMEOUT).ok()
    });
    assert_eq!((a.role, a.epoch), (Role::Master, 1));
    let _ = std::fs::remove_dir_all(&dir);
}
