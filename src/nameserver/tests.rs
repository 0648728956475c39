//! The merge table of the module comment, row by row, and the request/response shapes.

use super::settings::Change;
use super::*;
use crate::remoting::body::{perm, DataVersion};
use crate::remoting::headers::body_crc32;

fn topics(list: &[(&str, i32)]) -> BTreeMap<String, TopicConfig> {
    list.iter()
        .map(|(t, q)| (t.to_string(), TopicConfig::new(t, *q, perm::READ_WRITE)))
        .collect()
}

fn me<'a>(table: &'a BTreeMap<String, TopicConfig>) -> LocalBroker<'a> {
    LocalBroker {
        cluster_name: "C",
        broker_name: "local",
        broker_id: 0,
        addr: "127.0.0.1:10911".parse().unwrap(),
        topics: table,
    }
}

fn registration(name: &str, id: i64, addr: &str, list: &[(&str, i32)]) -> Registration {
    Registration {
        cluster: "C".into(),
        broker_name: name.into(),
        broker_addr: addr.into(),
        broker_id: id,
        ha_server_addr: String::new(),
        timeout_ms: None,
        data_version: DataVersion::default(),
        topics: topics(list),
    }
}

/// (broker name, write queues) of each queue data, and (broker name, addresses) of each group.
type Shape = (Vec<(String, i32)>, Vec<(String, Vec<(i64, String)>)>);

fn shape(r: &TopicRouteData) -> Shape {
    (
        r.queue_datas
            .iter()
            .map(|q| (q.broker_name.clone(), q.write_queue_nums))
            .collect(),
        r.broker_datas
            .iter()
            .map(|b| {
                (
                    b.broker_name.clone(),
                    b.broker_addrs
                        .iter()
                        .map(|(i, a)| (*i, a.clone()))
                        .collect(),
                )
            })
            .collect(),
    )
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn row_empty_registry_is_the_local_broker_alone() {
    let table = topics(&[("T", 4)]);
    let reg = Registry::default();
    let r = route(Some(&me(&table)), &reg, "T").unwrap();
    assert_eq!(
        shape(&r),
        (
            vec![(s("local"), 4)],
            vec![(s("local"), vec![(0, s("127.0.0.1:10911"))])]
        )
    );
    assert!(route(Some(&me(&table)), &reg, "Other").is_none());
    // The general path gives the same answer as the fast path.
    let mut other = Registry::default();
    other.register(&registration("x", 0, "h:9", &[("Unrelated", 1)]), None, 0);
    assert_eq!(route(Some(&me(&table)), &other, "T"), Some(r));
}

#[test]
fn row_other_groups_only() {
    let table = topics(&[]);
    let mut reg = Registry::default();
    reg.register(&registration("b", 0, "h:2", &[("T", 8)]), None, 0);
    let r = route(Some(&me(&table)), &reg, "T").unwrap();
    assert_eq!(
        shape(&r),
        (vec![(s("b"), 8)], vec![(s("b"), vec![(0, s("h:2"))])])
    );
    assert_eq!(
        route(None, &reg, "T"),
        Some(r),
        "standalone: the registry's route"
    );
}

#[test]
fn row_other_groups_and_the_local_one() {
    let table = topics(&[("T", 4)]);
    let mut reg = Registry::default();
    reg.register(&registration("b", 0, "h:2", &[("T", 8)]), None, 0);
    let r = route(Some(&me(&table)), &reg, "T").unwrap();
    assert_eq!(
        shape(&r),
        (
            vec![(s("b"), 8), (s("local"), 4)],
            vec![
                (s("b"), vec![(0, s("h:2"))]),
                (s("local"), vec![(0, s("127.0.0.1:10911"))])
            ]
        )
    );
}

#[test]
fn row_registry_lists_the_local_group_the_live_table_wins() {
    let table = topics(&[("T", 4)]);
    let mut reg = Registry::default();
    // A stale self-registration with 2 queues, and a slave of the local group.
    reg.register(
        &registration("local", 0, "127.0.0.1:10911", &[("T", 2)]),
        None,
        0,
    );
    reg.register(&registration("local", 1, "h:slave", &[]), None, 0);
    let r = route(Some(&me(&table)), &reg, "T").unwrap();
    assert_eq!(
        shape(&r),
        (
            vec![(s("local"), 4)],
            vec![(
                s("local"),
                vec![(0, s("127.0.0.1:10911")), (1, s("h:slave"))]
            )]
        )
    );
}

#[test]
fn row_registry_lists_only_the_local_group_for_a_topic_it_no_longer_serves() {
    let table = topics(&[]);
    let mut reg = Registry::default();
    reg.register(
        &registration("local", 0, "127.0.0.1:10911", &[("Gone", 2)]),
        None,
        0,
    );
    assert!(route(Some(&me(&table)), &reg, "Gone").is_none());
}

#[test]
fn a_local_slave_takes_queues_from_the_registry() {
    let table = topics(&[("T", 4)]);
    let mut local = me(&table);
    local.broker_id = 1;
    let mut reg = Registry::default();
    assert!(
        route(Some(&local), &reg, "T").is_none(),
        "a slave alone routes nothing"
    );
    reg.register(&registration("local", 0, "h:master", &[("T", 8)]), None, 0);
    let r = route(Some(&local), &reg, "T").unwrap();
    assert_eq!(
        shape(&r),
        (
            vec![(s("local"), 8)],
            vec![(
                s("local"),
                vec![(0, s("h:master")), (1, s("127.0.0.1:10911"))]
            )]
        )
    );
}

#[test]
fn cluster_info_and_topic_list_merge_the_local_broker() {
    let table = topics(&[("T", 4), ("Mine", 1)]);
    let mut reg = Registry::default();
    reg.register(
        &registration("b", 0, "h:2", &[("T", 8), ("Theirs", 1)]),
        None,
        0,
    );
    let info = cluster_info(Some(&me(&table)), &reg);
    assert_eq!(info.cluster_addr_table["C"], vec![s("b"), s("local")]);
    assert_eq!(
        info.broker_addr_table["local"].master_addr(),
        Some("127.0.0.1:10911")
    );
    assert_eq!(info.broker_addr_table["b"].master_addr(), Some("h:2"));
    assert_eq!(
        topic_list(Some(&me(&table)), &reg),
        vec![s("Mine"), s("T"), s("Theirs")]
    );
    assert_eq!(topic_list(None, &reg), vec![s("T"), s("Theirs")]);
}

fn register_cmd(body: &[u8], crc: i32) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(rq::REGISTER_BROKER).with_body(body.to_vec());
    RegisterBrokerHeader {
        broker_name: s("b"),
        broker_addr: s("h:2"),
        cluster_name: s("C"),
        ha_server_addr: s("h:3"),
        broker_id: 0,
        heartbeat_timeout_ms: None,
        compressed: false,
        body_crc32: crc,
    }
    .write_to(&mut cmd);
    cmd
}

#[test]
fn registration_requests_are_checked_and_answered() {
    let body = RegisterBrokerBody::new(
        DataVersion {
            counter: 2,
            timestamp: 3,
        },
        topics(&[("T", 4)]),
    )
    .to_json();
    let ok =
        parse_registration(&register_cmd(body.as_bytes(), body_crc32(body.as_bytes()))).unwrap();
    assert_eq!(
        (ok.broker_name.as_str(), ok.broker_id, ok.topics.len()),
        ("b", 0, 1)
    );
    assert_eq!(ok.data_version.counter, 2);
    let unchecked = parse_registration(&register_cmd(body.as_bytes(), 0)).unwrap();
    assert_eq!(unchecked, ok, "crc 0 is not checked");
    let bad = parse_registration(&register_cmd(body.as_bytes(), 12345)).unwrap_err();
    assert_eq!(
        (bad.code, bad.remark.as_deref()),
        (rs::SYSTEM_ERROR, Some("crc32 not match"))
    );
    let garbage = parse_registration(&register_cmd(b"{nope", 0)).unwrap_err();
    assert_eq!(garbage.code, rs::SYSTEM_ERROR);

    let cmd = register_cmd(body.as_bytes(), 0);
    let resp = registered_response(
        &cmd,
        &Registered {
            master_addr: Some(s("h:1")),
            master_ha_server_addr: Some(s("h:1ha")),
        },
        &Settings::default(),
    );
    assert_eq!(resp.code, rs::SUCCESS);
    assert_eq!(resp.ext("masterAddr"), Some("h:1"));
    assert_eq!(resp.ext("haServerAddr"), Some("h:1ha"));
    assert_eq!(&resp.body[..], br#"{"table":{}}"#, "no order config yet");
    let mut with_order = Settings::default();
    with_order.apply(&Change::Put {
        namespace: s(settings::ORDER_TOPIC_CONFIG),
        key: s("T"),
        value: s("broker-a:2"),
    });
    let resp = registered_response(&cmd, &Registered::default(), &with_order);
    assert_eq!(&resp.body[..], br#"{"table":{"T":"broker-a:2"}}"#);
}

#[test]
fn answers_route_and_refuse_unknown_topics() {
    let table = topics(&[("T", 4)]);
    let reg = Registry::default();
    let mut cmd = RemotingCommand::request(rq::GET_ROUTEINFO_BY_TOPIC);
    GetRouteInfoHeader {
        topic: s("T"),
        accept_standard_json_only: true,
    }
    .write_to(&mut cmd);
    let none = Settings::default();
    let resp = answer(Some(&me(&table)), &reg, &none, &cmd);
    assert_eq!(resp.code, rs::SUCCESS);
    let parsed = TopicRouteData::parse(&resp.body).unwrap();
    assert_eq!(parsed.queue_datas[0].write_queue_nums, 4);
    assert_eq!(parsed.order_topic_conf, None);
    let resp = answer(None, &reg, &none, &cmd);
    assert_eq!(resp.code, rs::TOPIC_NOT_EXIST);
}

/// The route carries the topic's ORDER_TOPIC_CONFIG entry once `orderMessageEnable` is on (the
/// rows are `settings`'s table); the KV reads answer what was put, QUERY_NOT_FOUND otherwise.
#[test]
fn kv_reads_and_the_order_topic_conf_in_routes() {
    let table = topics(&[("T", 4)]);
    let reg = Registry::default();
    let mut st = Settings::default();
    st.apply(&Change::Put {
        namespace: s(settings::ORDER_TOPIC_CONFIG),
        key: s("T"),
        value: s("broker-a:2"),
    });
    let mut route = RemotingCommand::request(rq::GET_ROUTEINFO_BY_TOPIC);
    GetRouteInfoHeader {
        topic: s("T"),
        accept_standard_json_only: true,
    }
    .write_to(&mut route);
    for (on, want) in [(false, None), (true, Some(s("broker-a:2")))] {
        st.apply(&Change::OrderMessageEnable(on));
        let r = answer(Some(&me(&table)), &reg, &st, &route);
        assert_eq!(
            TopicRouteData::parse(&r.body).unwrap().order_topic_conf,
            want,
            "orderMessageEnable={on}"
        );
    }
    let get = |ns: &str, key: &str| {
        let mut c = RemotingCommand::request(rq::GET_KV_CONFIG);
        c.set_ext("namespace", ns);
        c.set_ext("key", key);
        answer(None, &reg, &st, &c)
    };
    let found = get(settings::ORDER_TOPIC_CONFIG, "T");
    assert_eq!(
        (found.code, found.ext("value")),
        (rs::SUCCESS, Some("broker-a:2"))
    );
    let missing = get(settings::ORDER_TOPIC_CONFIG, "U");
    assert_eq!(missing.code, rs::QUERY_NOT_FOUND);
    assert_eq!(
        missing.remark.as_deref(),
        Some("No config item, Namespace: ORDER_TOPIC_CONFIG Key: U")
    );
    let list = |ns: &str| {
        let mut c = RemotingCommand::request(rq::GET_KVLIST_BY_NAMESPACE);
        c.set_ext("namespace", ns);
        answer(None, &reg, &st, &c)
    };
    let l = list(settings::ORDER_TOPIC_CONFIG);
    assert_eq!(
        (l.code, &l.body[..]),
        (rs::SUCCESS, &br#"{"table":{"T":"broker-a:2"}}"#[..])
    );
    assert_eq!(list("N").code, rs::QUERY_NOT_FOUND);
    let conf = answer(
        None,
        &reg,
        &st,
        &RemotingCommand::request(rq::GET_NAMESRV_CONFIG),
    );
    assert!(std::str::from_utf8(&conf.body)
        .unwrap()
        .contains("orderMessageEnable=true"));
}

/// GET_TOPICS_BY_CLUSTER: this cluster's topics (local and registered), none for another.
#[test]
fn topics_by_cluster() {
    let table = topics(&[("T", 4)]);
    let local = me(&table);
    let mut reg = Registry::default();
    reg.register(&registration("remote", 0, "h:3", &[("R", 2)]), None, 0);
    for (cluster, want) in [
        ("C", vec!["R".to_string(), "T".to_string()]),
        ("Other", vec![]),
    ] {
        let mut c = RemotingCommand::request(rq::GET_TOPICS_BY_CLUSTER);
        c.set_ext("cluster", cluster);
        let r = answer(Some(&local), &reg, &Settings::default(), &c);
        assert_eq!(r.code, rs::SUCCESS);
        assert_eq!(
            TopicList::parse(&r.body).unwrap().topic_list,
            want,
            "{cluster}"
        );
    }
}

/// DELETE_TOPIC_IN_NAMESRV: the topic leaves the routes of the named cluster's groups (all groups
/// without one); a route left with no group goes; the local broker's own topics stay (they go with
/// DELETE_TOPIC_IN_BROKER); a registration that still holds the topic brings it back. The request
/// wants its topic.
#[test]
fn namesrv_delete_topic() {
    let table = topics(&[("L", 4)]);
    let local = me(&table);
    let mut reg = Registry::default();
    reg.register(&registration("a", 0, "h:1", &[("R", 2), ("S", 2)]), None, 0);
    let mut other = registration("b", 0, "h:2", &[("R", 2)]);
    other.cluster = "D".into();
    reg.register(&other, None, 0);
    let groups = |reg: &Registry, t: &str| -> Vec<String> {
        route(Some(&local), reg, t).map_or(Vec::new(), |r| {
            r.broker_datas
                .iter()
                .map(|b| b.broker_name.clone())
                .collect()
        })
    };
    assert_eq!(groups(&reg, "R"), ["a", "b"]);
    // | cluster C | only C's groups leave the route |
    assert!(reg.delete_topic("R", Some("C")));
    assert_eq!(groups(&reg, "R"), ["b"]);
    // | an unknown cluster | nothing changes |
    assert!(!reg.delete_topic("R", Some("Nope")));
    assert_eq!(groups(&reg, "R"), ["b"]);
    // | no cluster | every group leaves, the route goes |
    assert!(reg.delete_topic("R", None));
    assert_eq!(route(Some(&local), &reg, "R"), None);
    assert!(!reg.delete_topic("R", None));
    // | the local broker's topic | not the registry's: stays |
    assert!(!reg.delete_topic("L", None));
    assert_eq!(groups(&reg, "L"), ["local"]);
    // | registered again with it | back |
    reg.register(&registration("a", 0, "h:1", &[("R", 2)]), None, 1);
    assert_eq!(groups(&reg, "R"), ["a"]);
    assert_eq!(groups(&reg, "S"), ["a"]);

    let mut c = RemotingCommand::request(rq::DELETE_TOPIC_IN_NAMESRV);
    c.set_ext("topic", "T");
    c.set_ext("clusterName", "C");
    let h = parse_topic_deletion(&c).unwrap();
    assert_eq!(
        (h.topic.as_str(), h.cluster_name.as_deref()),
        ("T", Some("C"))
    );
    let c = RemotingCommand::request(rq::DELETE_TOPIC_IN_NAMESRV);
    assert_eq!(parse_topic_deletion(&c).unwrap_err().code, rs::SYSTEM_ERROR);
}

/// WIPE/ADD_WRITE_PERM_OF_BROKER: a wiped group is routed read-only (registered and local groups
/// alike, the other groups untouched) until added back or until it leaves the registry; the
/// answer counts the group's topics, the local broker's included when it is the group.
#[test]
fn write_perm_wipe_and_add() {
    let table = topics(&[("T", 4), ("L", 1)]);
    let local = me(&table);
    let mut reg = Registry::default();
    reg.register(&registration("remote", 0, "h:3", &[("T", 2)]), None, 0);
    let perms = |reg: &Registry| -> Vec<(String, i32)> {
        route(Some(&local), reg, "T")
            .unwrap()
            .queue_datas
            .iter()
            .map(|q| (q.broker_name.clone(), q.perm))
            .collect()
    };
    assert_eq!(perms(&reg), vec![(s("local"), 6), (s("remote"), 6)]);
    let wipe = |name: &str| {
        let mut c = RemotingCommand::request(rq::WIPE_WRITE_PERM_OF_BROKER);
        c.set_ext("brokerName", name);
        c
    };
    let (name, writable) = parse_write_perm(&wipe("remote")).unwrap();
    assert!(!writable);
    let topics_of_remote = reg.set_writable(&name, writable);
    let answer = write_perm_response(&wipe("remote"), Some(&local), &name, topics_of_remote);
    assert_eq!(answer.ext("wipeTopicCount"), Some("1"));
    assert_eq!(perms(&reg), vec![(s("local"), 6), (s("remote"), 4)]);

    let got = reg.set_writable("local", false);
    let answer = write_perm_response(&wipe("local"), Some(&local), "local", got);
    assert_eq!(answer.ext("wipeTopicCount"), Some("2"), "T and L");
    assert_eq!(perms(&reg), vec![(s("local"), 4), (s("remote"), 4)]);
    assert_eq!(
        route(Some(&local), &Registry::default(), "L")
            .unwrap()
            .queue_datas[0]
            .perm,
        6,
        "another replica without the wipe"
    );

    let mut add = RemotingCommand::request(rq::ADD_WRITE_PERM_OF_BROKER);
    add.set_ext("brokerName", "local");
    let (name, writable) = parse_write_perm(&add).unwrap();
    assert!(writable);
    let got = reg.set_writable(&name, writable);
    assert_eq!(
        write_perm_response(&add, Some(&local), &name, got).ext("addTopicCount"),
        Some("2")
    );
    assert_eq!(perms(&reg), vec![(s("local"), 6), (s("remote"), 4)]);

    // The group leaves (its last address unregisters) and comes back: writable again.
    reg.unregister("C", "remote", "h:3");
    reg.register(&registration("remote", 0, "h:3", &[("T", 2)]), None, 0);
    assert_eq!(perms(&reg), vec![(s("local"), 6), (s("remote"), 6)]);

    let missing = RemotingCommand::request(rq::WIPE_WRITE_PERM_OF_BROKER);
    assert_eq!(
        parse_write_perm(&missing).unwrap_err().code,
        rs::SYSTEM_ERROR
    );
}

fn notice_cmd(code: i32, body: &[u8]) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(code).with_body(body.to_vec());
    BrokerNoticeHeader {
        cluster_name: "C".into(),
        broker_addr: "10.0.0.1:10911".into(),
    }
    .write_to(&mut cmd);
    cmd.set_ext("brokerName", "b");
    cmd.set_ext("brokerId", 0);
    cmd
}

#[test]
fn data_version_queries_and_heartbeats_keep_a_broker_alive() {
    let mut reg = Registry::default();
    let mut r = registration("b", 0, "10.0.0.1:10911", &[("T", 4)]);
    r.timeout_ms = Some(10_000);
    r.data_version = DataVersion {
        counter: 5,
        timestamp: 77,
    };
    reg.register(&r, None, 1_000);
    // What a 5.x Java broker sends (fastjson: stateVersion too).
    let same = br#"{"counter":5,"stateVersion":0,"timestamp":77}"#;
    let newer = br#"{"counter":6,"stateVersion":0,"timestamp":77}"#;
    let q = BrokerNotice::parse(&notice_cmd(rq::QUERY_DATA_VERSION, same)).unwrap();
    q.apply(&mut reg, 9_000);
    let resp = q.response(&notice_cmd(rq::QUERY_DATA_VERSION, same), &reg);
    assert_eq!(resp.code, rs::SUCCESS);
    assert_eq!(resp.ext("changed"), Some("false"));
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(
        (body["counter"].as_i64(), body["timestamp"].as_i64()),
        (Some(5), Some(77))
    );
    // Renewed at 9 s: alive at 18 s (it would have expired at 11 s).
    assert!(reg.expire(18_000).is_empty());
    let n = BrokerNotice::parse(&notice_cmd(rq::QUERY_DATA_VERSION, newer)).unwrap();
    n.apply(&mut reg, 18_000);
    let resp = n.response(&notice_cmd(rq::QUERY_DATA_VERSION, newer), &reg);
    assert_eq!(
        resp.ext("changed"),
        Some("true"),
        "the broker then registers"
    );
    let hb = BrokerNotice::parse(&notice_cmd(rq::BROKER_HEARTBEAT, b"")).unwrap();
    hb.apply(&mut reg, 27_000);
    assert!(reg.expire(36_000).is_empty());
    assert_eq!(
        reg.expire(37_001).len(),
        1,
        "silent for more than its timeout"
    );
    // An address never registered: changed, no body, nothing created.
    let q = BrokerNotice::parse(&notice_cmd(rq::QUERY_DATA_VERSION, same)).unwrap();
    q.apply(&mut reg, 40_000);
    let resp = q.response(&notice_cmd(rq::QUERY_DATA_VERSION, same), &reg);
    assert_eq!(
        (resp.ext("changed"), resp.body.is_empty()),
        (Some("true"), true)
    );
    assert!(reg.is_empty());
    // A body that is not a DataVersion is refused with the reason.
    let bad = BrokerNotice::parse(&notice_cmd(rq::QUERY_DATA_VERSION, b"{")).unwrap_err();
    assert_eq!(bad.code, rs::SYSTEM_ERROR);
}

#[test]
fn a_single_topic_registration_adds_its_route_for_known_groups_only() {
    let mut reg = Registry::default();
    reg.register(
        &registration("b", 0, "10.0.0.1:10911", &[("T", 4)]),
        None,
        0,
    );
    let announce = |topic: &str, broker: &str| {
        let body = format!(
            r#"{{"queueDatas":[{{"brokerName":"{broker}","perm":6,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}}]}}"#
        );
        let mut cmd =
            RemotingCommand::request(rq::REGISTER_TOPIC_IN_NAMESRV).with_body(body.into_bytes());
        cmd.set_ext("topic", topic);
        cmd
    };
    let cmd = announce("New", "b");
    let n = BrokerNotice::parse(&cmd).unwrap();
    n.apply(&mut reg, 1);
    assert_eq!(n.response(&cmd, &reg).code, rs::SUCCESS);
    let route = reg.route("New").expect("routed at once");
    assert_eq!(shape(&route).0, vec![(s("b"), 8)]);
    // A group that never registered: ignored as a whole (Java's rule), still SUCCESS.
    let cmd = announce("Other", "stranger");
    let n = BrokerNotice::parse(&cmd).unwrap();
    n.apply(&mut reg, 2);
    assert_eq!(n.response(&cmd, &reg).code, rs::SUCCESS);
    assert!(reg.route("Other").is_none());
    // No topic: refused.
    let mut bad = RemotingCommand::request(rq::REGISTER_TOPIC_IN_NAMESRV);
    bad.body = b"{}".to_vec().into();
    assert_eq!(
        BrokerNotice::parse(&bad).unwrap_err().code,
        rs::SYSTEM_ERROR
    );
}

#[test]
fn member_group_lists_the_groups_addresses() {
    let mut reg = Registry::default();
    reg.register(
        &registration("b", 0, "10.0.0.1:10911", &[("T", 4)]),
        None,
        0,
    );
    reg.register(&registration("b", 1, "10.0.0.2:10911", &[]), None, 0);
    let ask = |name: &str| {
        let mut cmd = RemotingCommand::request(rq::GET_BROKER_MEMBER_GROUP);
        cmd.set_ext("clusterName", "C");
        cmd.set_ext("brokerName", name);
        cmd
    };
    let body = |r: RemotingCommand| -> serde_json::Value {
        assert_eq!(r.code, rs::SUCCESS);
        serde_json::from_slice(&r.body).unwrap()
    };
    let s = Settings::default();
    let v = body(answer(None, &reg, &s, &ask("b")));
    let g = &v["brokerMemberGroup"];
    assert_eq!(
        (g["cluster"].as_str(), g["brokerName"].as_str()),
        (Some("C"), Some("b"))
    );
    assert_eq!(g["brokerAddrs"]["0"], "10.0.0.1:10911");
    assert_eq!(g["brokerAddrs"]["1"], "10.0.0.2:10911");
    let v = body(answer(None, &reg, &s, &ask("nobody")));
    assert_eq!(v["brokerMemberGroup"]["brokerAddrs"], serde_json::json!({}));
    // The in-process broker answers for its own group.
    let table = topics(&[("T", 4)]);
    let v = body(answer(Some(&me(&table)), &reg, &s, &ask("local")));
    assert_eq!(
        v["brokerMemberGroup"]["brokerAddrs"]["0"],
        "127.0.0.1:10911"
    );
}
