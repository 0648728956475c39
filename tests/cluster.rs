//! Several brokers under one NameServer, with real processes on loopback (ports 23760-23799,
//! 24400-24414 and 24445-24449, data under the target directory): brokers with the NameServer role off register with a standalone
//! `bolide namesrv` or with a `bolide serve` that keeps the role; routes and cluster info list every
//! broker; a broker killed with SIGKILL leaves the routes when its connection closes, one stopped
//! with SIGTERM unregisters, and one that stops registering expires (after 120 s or the
//! `brokerNotActiveTimeoutMillis` it registered with), unless it keeps itself alive with
//! QUERY_DATA_VERSION.
//!
//! Waits have generous deadlines and assert on content: registration is immediate on topic changes,
//! the expiry scan runs every 5 s.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide::client::Conn;
use bolide::remoting::body::{DataVersion, RegisterBrokerBody, TopicConfig, TopicRouteData};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{CreateTopicHeader, KvConfigHeader, RegisterBrokerHeader};
use bolide::remoting::RemotingCommand;

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{addr, fresh_dir, on_glommio, sets, strings, test_dir, BrokerProcess};

const TIMEOUT: Duration = Duration::from_secs(10);
const DEADLINE: Duration = Duration::from_secs(60);

/// A standalone `bolide namesrv` on `port`; killed on drop.
fn namesrv(port: u16) -> BrokerProcess {
    let dir = test_dir(&format!("cluster-it-ns-{port}"));
    let args = strings(&[
        "namesrv",
        "--listen-ip",
        "127.0.0.1",
        "--port",
        &port.to_string(),
    ]);
    BrokerProcess::spawn(args, &dir, &dir.with_extension("log"), &[port], &[])
}

/// A broker named `name` on `port`; `namesrv_port`: its own NameServer role, else off. Killed,
/// and its data directory removed, on drop.
fn broker(name: &str, port: u16, namesrv_port: Option<u16>, register_with: &str) -> BrokerProcess {
    broker_with(name, port, namesrv_port, register_with, &[])
}

/// [`broker`] with more `--set KEY=VALUE` settings.
fn broker_with(
    name: &str,
    port: u16,
    namesrv_port: Option<u16>,
    register_with: &str,
    settings: &[&str],
) -> BrokerProcess {
    let dir = test_dir(&format!("cluster-it-{name}"));
    fresh_dir(&dir);
    let mut args = strings(&[
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
    ]);
    args.extend(sets(&[
        &format!("brokerName={name}"),
        "maxMessageSize=1048576",
        "autoCreateTopicEnable=false",
    ]));
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
    args.extend(sets(settings));
    BrokerProcess::spawn(args, &dir, &dir.with_extension("log"), &ports, &[])
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
        attributes: None,
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

/// mqadmin deleteTopic: DELETE_TOPIC_IN_BROKER to each broker, then DELETE_TOPIC_IN_NAMESRV for
/// the cluster.
async fn delete_topic(namesrv: &Conn, broker_ports: &[u16], topic: &str) {
    for p in broker_ports {
        let b = Conn::connect(&addr(*p), TIMEOUT).await.unwrap();
        let mut cmd = RemotingCommand::request(request::DELETE_TOPIC_IN_BROKER);
        cmd.set_ext("topic", topic);
        assert_eq!(b.call(cmd).await.unwrap().code, response::SUCCESS);
        b.close();
    }
    let mut cmd = RemotingCommand::request(request::DELETE_TOPIC_IN_NAMESRV);
    cmd.set_ext("topic", topic);
    cmd.set_ext("clusterName", "DefaultCluster");
    assert_eq!(namesrv.call(cmd).await.unwrap().code, response::SUCCESS);
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
    let _namesrv = namesrv(ns);
    let a = broker("a", 23764, None, &addr(ns));
    let mut b = broker("b", 23768, None, &addr(ns));
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

        // Deleted on both brokers and in the NameServer: the route goes and stays gone (the
        // brokers' registrations no longer hold it).
        create_topic(23764, "GoneT", 2).await;
        create_topic(23768, "GoneT", 2).await;
        await_route(
            &conn,
            "GoneT",
            &[("a", addr(23764), 2), ("b", addr(23768), 2)],
        )
        .await;
        delete_topic(&conn, &[23764, 23768], "GoneT").await;
        assert_eq!(route_shape(&conn, "GoneT").await, []);
        create_topic(23764, "Later", 1).await; // a registration of a's whole table
        await_route(&conn, "Later", &[("a", addr(23764), 1)]).await;
        assert_eq!(route_shape(&conn, "GoneT").await, []);

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
    let _main = broker("main", own, Some(ns), "");
    let _other = broker("other", 23788, None, &addr(ns));
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

        // Deleted on both brokers and in the serving broker's NameServer role: gone from every
        // shard's routes.
        delete_topic(&conn, &[own, 23788], "Shared").await;
        for _ in 0..4 {
            // New connections land on either shard.
            let c = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
            assert_eq!(route_shape(&c, "Shared").await, []);
            c.close();
        }
    });
}

#[test]
fn a_broker_that_stops_registering_expires() {
    let ns = 23792;
    let _namesrv = namesrv(ns);
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
    let _namesrv = namesrv(ns);
    let b = broker_with(
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

/// A NameServer KV request on `conn`: PUT_KV_CONFIG with a value, GET_KV_CONFIG without.
async fn kv(conn: &Conn, namespace: &str, key: &str, value: Option<&str>) -> RemotingCommand {
    let code = if value.is_some() {
        request::PUT_KV_CONFIG
    } else {
        request::GET_KV_CONFIG
    };
    let mut cmd = RemotingCommand::request(code);
    KvConfigHeader {
        namespace: namespace.into(),
        key: Some(key.into()),
        value: value.map(str::to_string),
    }
    .write_to(&mut cmd);
    conn.call(cmd).await.unwrap()
}

/// Through four new connections (either shard): the entry `kv:2` of topic `Ordered` is there, and
/// the route carries `order_conf`.
async fn read_back_on_new_connections(ns: u16, order_conf: Option<&str>) {
    for _ in 0..4 {
        let c = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
        let got = kv(&c, "ORDER_TOPIC_CONFIG", "Ordered", None).await;
        assert_eq!(
            (got.code, got.ext("value")),
            (response::SUCCESS, Some("kv:2"))
        );
        let route: TopicRouteData = c.get_route("Ordered").await.unwrap().unwrap();
        assert_eq!(route.order_topic_conf.as_deref(), order_conf);
        c.close();
    }
}

/// The NameServer role inside `bolide serve` (two shards): a KV entry put and
/// `orderMessageEnable` turned on through one connection are read through new connections,
/// which land on either shard, and the route carries the entry as `orderTopicConf`. After kill
/// -9 the entry is still there (persisted before the answer) and `orderMessageEnable` is back to
/// the config's value (off), as after a Java NameServer's restart. Ports 24410-24414.
#[test]
fn the_kv_config_reaches_every_shard_and_survives_kill_9() {
    let (ns, port) = (24410, 24414);
    let mut b = broker("kv", port, Some(ns), "");
    on_glommio(move || async move {
        create_topic(port, "Ordered", 8).await;
        let conn = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
        let put = kv(&conn, "ORDER_TOPIC_CONFIG", "Ordered", Some("kv:2")).await;
        assert_eq!(put.code, response::SUCCESS, "{:?}", put.remark);
        let on = RemotingCommand::request(request::UPDATE_NAMESRV_CONFIG)
            .with_body(&b"orderMessageEnable=true\n"[..]);
        assert_eq!(conn.call(on).await.unwrap().code, response::SUCCESS);
        read_back_on_new_connections(ns, Some("kv:2")).await;
    });
    b.kill_9_and_restart();
    on_glommio(move || async move {
        // orderMessageEnable is off again.
        read_back_on_new_connections(ns, None).await;
    });
}

/// QUERY_DATA_VERSION `version` for the ghost broker of [`notices_reach_every_shard`], on a new
/// connection (either shard): whether the NameServer says it changed.
async fn query_data_version(ns: u16, version: &str) -> bool {
    let c = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
    let mut cmd = RemotingCommand::request(request::QUERY_DATA_VERSION)
        .with_body(version.as_bytes().to_vec());
    cmd.set_ext("clusterName", "DefaultCluster");
    cmd.set_ext("brokerAddr", "127.0.0.1:1");
    cmd.set_ext("brokerName", "notice-ghost");
    cmd.set_ext("brokerId", 0);
    let r = c.call(cmd).await.unwrap();
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    c.close();
    r.ext("changed") == Some("true")
}

/// Other brokers' notices on the NameServer role of `bolide serve` (two shards), as a Java broker
/// with `forceRegister=false` and `enableSingleTopicRegister` sends them: QUERY_DATA_VERSION keeps
/// a broker registered with a 3 s timeout alive for 12 s, through connections on either shard, and
/// answers `changed` only for another version; REGISTER_TOPIC_IN_NAMESRV routes a topic on every
/// shard; once the queries stop, the broker expires. Ports 24445-24449.
#[test]
fn notices_reach_every_shard() {
    let (ns, port) = (24445, 24449);
    let _b = broker("notice", port, Some(ns), "");
    on_glommio(move || async move {
        let conn = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
        let table = [("NoticeA".to_string(), TopicConfig::new("NoticeA", 2, 6))]
            .into_iter()
            .collect();
        let header = RegisterBrokerHeader {
            broker_name: "notice-ghost".into(),
            broker_addr: "127.0.0.1:1".into(),
            cluster_name: "DefaultCluster".into(),
            ha_server_addr: "127.0.0.1:2".into(),
            broker_id: 0,
            heartbeat_timeout_ms: Some(3_000),
            compressed: false,
            body_crc32: 0,
        };
        let version = DataVersion {
            counter: 7,
            timestamp: 1_700_000_000_000,
        };
        conn.register_broker(&header, &RegisterBrokerBody::new(version, table))
            .await
            .unwrap();
        let same = r#"{"counter":7,"stateVersion":0,"timestamp":1700000000000}"#;
        let newer = r#"{"counter":8,"stateVersion":0,"timestamp":1700000000000}"#;
        for _ in 0..12 {
            assert!(
                !query_data_version(ns, same).await,
                "the registered version"
            );
            assert_eq!(route_shape(&conn, "NoticeA").await.len(), 1, "expired");
            glommio::timer::sleep(Duration::from_secs(1)).await;
        }
        assert!(query_data_version(ns, newer).await);

        let body = r#"{"queueDatas":[{"brokerName":"notice-ghost","perm":6,"readQueueNums":3,"topicSysFlag":0,"writeQueueNums":3}]}"#;
        let mut cmd = RemotingCommand::request(request::REGISTER_TOPIC_IN_NAMESRV)
            .with_body(body.as_bytes().to_vec());
        cmd.set_ext("topic", "NoticeB");
        assert_eq!(conn.call(cmd).await.unwrap().code, response::SUCCESS);
        for _ in 0..4 {
            let c = Conn::connect(&addr(ns), TIMEOUT).await.unwrap();
            let shape = route_shape(&c, "NoticeB").await;
            assert_eq!(
                shape,
                vec![("notice-ghost".into(), "127.0.0.1:1".into(), 3)]
            );
            c.close();
        }
        // Silent now: gone after its 3 s timeout (the scan runs every 5 s).
        await_route(&conn, "NoticeA", &[]).await;
    });
}
