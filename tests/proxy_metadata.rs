//! What RocketMQ's proxy (the gRPC clients' entry, in front of any remoting broker) reads from a
//! broker besides messages, over the wire: the `bolide` binary as a child process (2 shards,
//! loopback ports 24600/24611, data under the target directory).
//!
//! - RocketMQ 5 topic attributes (`mqadmin updateTopic -a +message.type=FIFO`): UPDATE_AND_CREATE_TOPIC's
//!   `attributes` modification is applied by Java's rules, every shard answers GET_TOPIC_CONFIG (the
//!   proxy reads `message.type` there) and GET_ALL_TOPIC_CONFIG with the result, a refused
//!   modification changes nothing, and the attributes are kept through kill -9.
//! - GET_SUBSCRIPTIONGROUP_CONFIG (352): a group's config, a new group created as Java does, an
//!   invalid name SUBSCRIPTION_GROUP_NOT_EXIST.
//! - The topics named after the cluster and the broker (Java's `TopicConfigManager.init`): the proxy
//!   finds the cluster's brokers and a broker's address by their routes.

use std::time::Duration;

use bolide::client::Conn;
use bolide::remoting::body::{perm, TopicConfigSerializeWrapper};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{CreateTopicHeader, GroupHeader, TopicHeader};
use bolide::remoting::RemotingCommand;

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{on_glommio, test_dir, BrokerProcess};

const NAMESRV_PORT: u16 = 24600;
const BROKER_PORT: u16 = 24611;
const T: Duration = Duration::from_secs(20);

fn create(topic: &str, queues: i32, attributes: Option<&str>) -> (i32, String) {
    let h = CreateTopicHeader {
        topic: topic.to_string(),
        default_topic: "TBW102".to_string(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm: perm::READ_WRITE,
        topic_filter_type: "SINGLE_TAG".to_string(),
        topic_sys_flag: 0,
        order: false,
        attributes: attributes.map(str::to_string),
    };
    on_glommio(move || async move {
        let conn = Conn::connect(&broker_process::addr(BROKER_PORT), T)
            .await
            .unwrap();
        let mut cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC);
        h.write_to(&mut cmd);
        let r = conn.call(cmd).await.unwrap();
        conn.close();
        (r.code, r.remark.unwrap_or_default())
    })
}

/// The topic's attributes as GET_TOPIC_CONFIG answers them on four connections (connections are
/// spread over the shards, and each answers from its own replica); `None` for TOPIC_NOT_EXIST.
fn attributes(topic: &str) -> Option<Vec<(String, String)>> {
    let topic = topic.to_string();
    on_glommio(move || async move {
        let mut seen = Vec::new();
        for _ in 0..4 {
            let conn = Conn::connect(&broker_process::addr(BROKER_PORT), T)
                .await
                .unwrap();
            let mut cmd = RemotingCommand::request(request::GET_TOPIC_CONFIG);
            TopicHeader {
                topic: topic.clone(),
            }
            .write_to(&mut cmd);
            let r = conn.call(cmd).await.unwrap();
            conn.close();
            seen.push(match r.code {
                response::TOPIC_NOT_EXIST => None,
                response::SUCCESS => {
                    let v: serde_json::Value = serde_json::from_slice(r.body.as_ref()).unwrap();
                    let a = v["attributes"].as_object().expect("attributes object");
                    Some(
                        a.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                            .collect::<Vec<_>>(),
                    )
                }
                c => panic!("GET_TOPIC_CONFIG answered {c}: {:?}", r.remark),
            });
        }
        assert!(
            seen.windows(2).all(|w| w[0] == w[1]),
            "shards differ: {seen:?}"
        );
        seen.pop().unwrap()
    })
}

fn all_topic_config() -> TopicConfigSerializeWrapper {
    on_glommio(|| async {
        let conn = Conn::connect(&broker_process::addr(BROKER_PORT), T)
            .await
            .unwrap();
        let r = conn
            .call(RemotingCommand::request(request::GET_ALL_TOPIC_CONFIG))
            .await
            .unwrap();
        conn.close();
        assert_eq!(r.code, response::SUCCESS);
        TopicConfigSerializeWrapper::parse(r.body.as_ref()).unwrap()
    })
}

/// GET_SUBSCRIPTIONGROUP_CONFIG: (code, the config's JSON).
fn group_config(group: &str) -> (i32, serde_json::Value) {
    let group = group.to_string();
    on_glommio(move || async move {
        let conn = Conn::connect(&broker_process::addr(BROKER_PORT), T)
            .await
            .unwrap();
        let mut cmd = RemotingCommand::request(request::GET_SUBSCRIPTIONGROUP_CONFIG);
        GroupHeader { group }.write_to(&mut cmd);
        let r = conn.call(cmd).await.unwrap();
        conn.close();
        let v = serde_json::from_slice(r.body.as_ref()).unwrap_or(serde_json::Value::Null);
        (r.code, v)
    })
}

/// The NameServer's route of a topic: (broker names, queues per broker); `None`: no route.
fn route(topic: &str) -> Option<(Vec<String>, Vec<u32>)> {
    let topic = topic.to_string();
    on_glommio(move || async move {
        let conn = Conn::connect(&broker_process::addr(NAMESRV_PORT), T)
            .await
            .unwrap();
        let r = conn.get_route(&topic).await.unwrap();
        conn.close();
        r.map(|r| {
            (
                r.broker_datas
                    .iter()
                    .map(|b| b.broker_name.clone())
                    .collect(),
                r.queue_datas
                    .iter()
                    .map(|q| q.write_queue_nums as u32)
                    .collect(),
            )
        })
    })
}

fn kv(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn what_the_proxy_reads() {
    let dir = test_dir("topic-attributes");
    let mut broker = BrokerProcess::start_answering(
        &dir,
        &dir.with_extension("log"),
        NAMESRV_PORT,
        BROKER_PORT,
        &["--shards".to_string(), "2".to_string()],
    );

    // Created with a type; a topic created without attributes has none.
    assert_eq!(
        create("AttrFifo", 4, Some("+message.type=FIFO")).0,
        response::SUCCESS
    );
    assert_eq!(attributes("AttrFifo"), kv(&[("message.type", "FIFO")]));
    assert_eq!(create("AttrPlain", 4, None).0, response::SUCCESS);
    assert_eq!(attributes("AttrPlain"), kv(&[]));
    let all = all_topic_config();
    let fifo = &all.topic_config_table["AttrFifo"].attributes;
    assert_eq!(fifo.get("message.type").map(String::as_str), Some("FIFO"));

    // An update without attributes keeps them; one with `+` changes a changeable key.
    assert_eq!(create("AttrFifo", 8, None).0, response::SUCCESS);
    assert_eq!(attributes("AttrFifo"), kv(&[("message.type", "FIFO")]));
    assert_eq!(
        create("AttrFifo", 8, Some("+message.type=DELAY")).0,
        response::SUCCESS
    );
    assert_eq!(attributes("AttrFifo"), kv(&[("message.type", "DELAY")]));

    // Refusals change nothing: an unchangeable key after creation, a nonexistent key removed, an
    // unknown key, a value outside the set, what Bolide does not implement, MIXED.
    let refused = [
        (
            "AttrFifo",
            "+message.type=FIFO,+queue.type=SimpleCQ",
            response::SYSTEM_ERROR,
            "attempt to update an unchangeable attribute. key: queue.type",
        ),
        (
            "AttrPlain",
            "-message.type",
            response::SYSTEM_ERROR,
            "attempt to delete a nonexistent key: message.type",
        ),
        (
            "AttrNew",
            "+color=red",
            response::SYSTEM_ERROR,
            "unsupported key: color",
        ),
        (
            "AttrNew",
            "+message.type=URGENT",
            response::SYSTEM_ERROR,
            "value is not in set",
        ),
        (
            "AttrNew",
            "+cleanup.policy=COMPACTION",
            response::SYSTEM_ERROR,
            "Bolide does not compact topics",
        ),
        (
            "AttrNew",
            "+message.type=MIXED",
            response::INVALID_PARAMETER,
            "MIXED message type is not supported.",
        ),
    ];
    for (topic, m, code, remark) in refused {
        let (c, r) = create(topic, 4, Some(m));
        assert_eq!(c, code, "{topic} {m}: {r}");
        assert!(r.contains(remark), "{topic} {m}: {r}");
    }
    assert_eq!(attributes("AttrFifo"), kv(&[("message.type", "DELAY")]));
    assert_eq!(attributes("AttrNew"), None);

    // `-` removes; a new topic may set unchangeable keys.
    assert_eq!(
        create("AttrFifo", 8, Some("-message.type")).0,
        response::SUCCESS
    );
    assert_eq!(attributes("AttrFifo"), kv(&[]));
    let (c, r) = create(
        "AttrTxn",
        2,
        Some("+cleanup.policy=DELETE,+message.type=TRANSACTION"),
    );
    assert_eq!(c, response::SUCCESS, "{r}");

    broker.kill_9_and_restart();
    assert_eq!(attributes("AttrFifo"), kv(&[]));
    assert_eq!(
        attributes("AttrTxn"),
        kv(&[
            ("cleanup.policy", "DELETE"),
            ("message.type", "TRANSACTION")
        ])
    );

    // A group's config: a new group is created with the defaults; an invalid name is not a group.
    let (code, cfg) = group_config("ProxyNewGroup");
    assert_eq!(code, response::SUCCESS);
    assert_eq!(cfg["groupName"], "ProxyNewGroup");
    assert_eq!(cfg["retryMaxTimes"], 16);
    assert_eq!(cfg["consumeMessageOrderly"], false);
    let (code, _) = group_config("bad group!");
    assert_eq!(code, response::SUBSCRIPTION_GROUP_NOT_EXIST);

    // The cluster's and the broker's own topics, routed by the NameServer.
    let (brokers, queues) = route("DefaultCluster").expect("a route of the cluster's topic");
    assert_eq!((brokers, queues), (vec!["broker-a".to_string()], vec![16]));
    let (brokers, queues) = route("broker-a").expect("a route of the broker's topic");
    assert_eq!((brokers, queues), (vec!["broker-a".to_string()], vec![1]));
}
