//! Several brokers under one NameServer, with real processes on loopback (ports 23760-23799 and
//! 24400-24409, data under the target directory): brokers with the NameServer role off register with a standalone
//! `bolide namesrv` or with a `bolide serve` that keeps the role; routes and cluster info list every
//! broker; a broker killed with SIGKILL leaves the routes when its connection closes, one stopped
//! with SIGTERM unregisters, and one that stops registering expires (after 120 s or the
//! `brokerNotActiveTimeoutMillis` it registered with).
//!
//! Waits have generous deadlines and assert on content: registration is immediate on topic changes,
//! the expiry scan runs every 5 s.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide::client::Conn;
use bolide::remoting::body::{DataVersion, RegisterBrokerBody, TopicConfig, TopicRouteData};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{CreateTopicHeader, RegisterBrokerHeader};
use bolide::remoting::RemotingCommand;

const TIMEOUT: Duration = Duration::from_secs(10);
const DEADLINE: Duration = Duration::from_secs(60);

/// A child process (and its data directory); killed and removed on drop.
struct Proc {
    child: Child,
    dir: Option<PathBuf>,
}

impl Proc {
    fn spawn(args: &[String], dir: Option<PathBuf>, wait_ports: &[u16]) -> Proc {
        let child = Command::new(env!("CARGO_BIN_EXE_bolide"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut p = Proc { child, dir };
        let deadline = Instant::now() + DEADLINE;
        for port in wait_ports {
            while TcpStream::connect(("127.0.0.1", *port)).is_err() {
                if let Ok(Some(status)) = p.child.try_wait() {
                    panic!("{args:?} exited early: {status}");
                }
                assert!(
                    Instant::now() < deadline,
                    "{args:?} did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        p
    }

    fn namesrv(port: u16) -> Proc {
        let args = [
            "namesrv",
            "--listen-ip",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ];
        Proc::spawn(&args.map(String::from), None, &[port])
    }

    /// A broker named `name` on `port`; `namesrv_port`: its own NameServer role, else off.
    fn broker(name: &str, port: u16, namesrv_port: Option<u16>, register_with: &str) -> Proc {
        Proc::broker_with(name, port, namesrv_port, register_with, &[])
    }

    /// [`Proc::broker`] with more `--set KEY=VALUE` settings.
    fn broker_with(
        name: &str,
        port: u16,
        namesrv_port: Option<u16>,
        register_with: &str,
        sets: &[&str],
    ) -> Proc {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cluster-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut args: Vec<String> = [
            "serve",
            "--data-dir",
            dir.to_str().unwrap(),
            "--broker-port",
            &port.to_string(),
            "--listen-ip",
            "127.0.0.1",
            "--broker-ip",
            "127.0.0.1",
            "--segment-size",
            &(4u64 << 20).to_string(),
            "--shards",
            "2",
            "--set",
            &format!("brokerName={name}"),
            "--set",
            "maxMessageSize=1048576",
            "--set",
            "autoCreateTopicEnable=false",
        ]
        .map(String::from)
        .to_vec();
        let mut ports = vec![port];
        match namesrv_port {
            Some(p) => {
                args.extend(["--namesrv-port".into(), p.to_string()]);
                ports.push(p);
            }
            None => args.extend(["--namesrv-role".into(), "off".into()]),
        }
        if !register_with.is_empty() {
            args.extend(["--namesrv-addr".into(), register_with.into()]);
        }
        for kv in sets {
            args.extend(["--set".into(), kv.to_string()]);
        }
        Proc::spawn(&args, Some(dir), &ports)
    }

    fn signal(&self, sig: i32) {
        // SAFETY: plain libc call on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    fn wait_exit(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "process did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn on_glommio<T: Send + 'static, Fut>(f: impl FnOnce() -> Fut + Send + 'static) -> T
where
    Fut: std::future::Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

async fn create_topic(broker_port: u16, topic: &str, queues: i32) {
    let conn = Conn::connect(&addr(broker_port), TIMEOUT).await.unwrap();
    let h = CreateTopicHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: 0,
        order: false,
    };
    conn.create_topic(&h).await.unwrap();
}

/// (broker name, master address, write queues) of each group serving the topic, by name.
async fn route_shape(namesrv: &Conn, topic: &str) -> Vec<(String, String, i32)> {
    let Some(r): Option<TopicRouteData> = namesrv.get_route(topic).await.unwrap() else {
        return Vec::new();
    };
    let mut out: Vec<_> = r
        .queue_datas
        .iter()
        .map(|q| {
            let b = r
                .broker_datas
                .iter()
                .find(|b| b.broker_name == q.broker_name);
            let master = b.and_then(|b| b.master_addr()).unwrap_or("").to_string();
            (q.broker_name.clone(), master, q.write_queue_nums)
        })
        .collect();
    out.sort();
    out
}

/// Polls the route until it has the expected shape.
async fn await_route(namesrv: &Conn, topic: &str, want: &[(&str, String, i32)]) {
    let want: Vec<(String, String, i32)> = want
        .iter()
        .map(|(n, a, q)| (n.to_string(), a.clone(), *q))
        .collect();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let got = route_shape(namesrv, topic).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "route of {topic}: {got:?}, want {want:?}"
        );
        glommio::timer::sleep(Duration::from_millis(100)).await;
    }
}

async fn cluster_brokers(namesrv: &Conn) -> serde_json::Value {
    let mut cmd = RemotingCommand::request(request::GET_BROKER_CLUSTER_INFO);
    cmd.version = 500;
    let resp = namesrv.call(cmd).await.unwrap();
    assert_eq!(resp.code, response::SUCCESS);
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    v["clusterAddrTable"]["DefaultCluster"].clone()
}

#[test]
fn two_masters_under_a_standalone_namesrv() {
    let ns = 23760;
    let _namesrv = Proc::namesrv(ns);
    let a = Proc::broker("a", 23764, None, &addr(ns));
    let mut b = Proc::broker("b", 23768, None, &addr(ns));
    on_glommio(move || async move {
        let conn: Rc<Conn> = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
        create_topic(23764, "ClusterT", 2).await;
        create_topic(23768, "ClusterT", 3).await;
        create_topic(23768, "OnlyB", 1).await;
        await_route(
            &conn,
            "ClusterT",
            &[("a", addr(23764), 2), ("b", addr(23768), 3)],
        )
        .await;
        await_route(&conn, "OnlyB", &[("b", addr(23768), 1)]).await;
        assert_eq!(cluster_brokers(&conn).await, serde_json::json!(["a", "b"]));

        // SIGKILL: b's registering connection closes, and b leaves at once (no 120 s wait).
        b.signal(libc::SIGKILL);
        b.wait_exit();
        await_route(&conn, "ClusterT", &[("a", addr(23764), 2)]).await;
        await_route(&conn, "OnlyB", &[]).await;
        assert_eq!(cluster_brokers(&conn).await, serde_json::json!(["a"]));

        // SIGTERM: a unregisters on its way out.
        let mut a = a;
        a.signal(libc::SIGTERM);
        a.wait_exit();
        await_route(&conn, "ClusterT", &[]).await;
    });
}

#[test]
fn a_broker_registers_with_a_serving_broker_namesrv() {
    let (ns, own) = (23780, 23784);
    let _main = Proc::broker("main", own, Some(ns), "");
    let _other = Proc::broker("other", 23788, None, &addr(ns));
    on_glommio(move || async move {
        let conn = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
        create_topic(own, "Shared", 4).await;
        create_topic(23788, "Shared", 2).await;
        create_topic(own, "MainOnly", 1).await;
        await_route(
            &conn,
            "Shared",
            &[("main", addr(own), 4), ("other", addr(23788), 2)],
        )
        .await;
        await_route(&conn, "MainOnly", &[("main", addr(own), 1)]).await;
        assert_eq!(
            cluster_brokers(&conn).await,
            serde_json::json!(["main", "other"])
        );
    });
}

#[test]
fn a_broker_that_stops_registering_expires() {
    let ns = 23792;
    let _namesrv = Proc::namesrv(ns);
    on_glommio(move || async move {
        let conn = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
        let table = [("Ephemeral".to_string(), TopicConfig::new("Ephemeral", 2, 6))]
            .into_iter()
            .collect();
        let header = RegisterBrokerHeader {
            broker_name: "ghost".into(),
            broker_addr: "127.0.0.1:1".into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: "127.0.0.1:2".into(),
            broker_id: 0,
            heartbeat_timeout_ms: Some(5_000),
            compressed: false,
            body_crc32: 0,
        };
        conn.register_broker(
            &header,
            &RegisterBrokerBody::new(DataVersion::default(), table),
        )
        .await
        .unwrap();
        assert_eq!(route_shape(&conn, "Ephemeral").await.len(), 1);
        // The connection stays open: only the expiry scan (every 5 s) can drop it.
        await_route(&conn, "Ephemeral", &[]).await;
        assert!(!conn.is_closed());
    });
}

/// `brokerNotActiveTimeoutMillis` reaches the NameServer with each registration: a broker that
/// stops (SIGSTOP: its registering connection stays open, silent) is dropped after that long, not
/// after 120 s. Ports 24400-24409.
#[test]
fn a_silent_broker_leaves_after_its_not_active_timeout() {
    let ns = 24400;
    let _namesrv = Proc::namesrv(ns);
    let b = Proc::broker_with(
        "quiet",
        24404,
        None,
        &addr(ns),
        &[
            "registerNameServerPeriod=1000",
            "brokerNotActiveTimeoutMillis=10000",
        ],
    );
    on_glommio(move || async move {
        let conn = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
        create_topic(24404, "Quiet", 1).await;
        await_route(&conn, "Quiet", &[("quiet", addr(24404), 1)]).await;
        b.signal(libc::SIGSTOP);
        // await_route gives up after 60 s: well before the NameServer's own 120 s.
        await_route(&conn, "Quiet", &[]).await;
    });
}
