//! The operator statistics that span shards, against a real `bolide serve` with two shards (ports
//! 24415-24417, 24415 being its old-client VIP port; data under the target directory):
//! VIEW_BROKER_STATS_DATA sums both shards' parts of an item once the shards have sampled their
//! counters (every 10 s), GET_BROKER_CONSUME_STATS gives every group's lag over queues of both
//! shards, QUERY_CONSUME_QUEUE reaches each queue's owner, GET_ALL_PRODUCER_INFO lists a live
//! producer, CLONE_GROUP_OFFSET copies a group's offsets on both shards. `scripts/test-mqadmin.sh` shows the same codes through the Java mqadmin (statsAll,
//! brokerConsumeStats, queryCq, producer) on Bolide and on the Apache RocketMQ broker.

use std::time::{Duration, Instant};

use bolide::remoting::body::{
    fastjson_to_json, BrokerStatsData, ConsumerData, HeartbeatData, ProducerData,
    ProducerTableInfo, QueryConsumeQueueBody, SubscriptionData,
};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{
    CloneGroupOffsetHeader, QueryConsumeQueueHeader, ViewBrokerStatsDataHeader,
};
use bolide::remoting::RemotingCommand;

#[path = "common/broker_process.rs"]
mod broker_process;
#[path = "common/replication_helpers.rs"]
mod replication_helpers;
use broker_process::{on_glommio, strings, BrokerProcess};
use replication_helpers::{connect, create_topic, dir, send, QUEUES};

const NS: u16 = 24416;
const BROKER: u16 = 24417;
const TIMEOUT: Duration = Duration::from_secs(10);

fn stats_request(name: &str, key: &str) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(request::VIEW_BROKER_STATS_DATA);
    ViewBrokerStatsDataHeader {
        stats_name: name.into(),
        stats_key: key.into(),
    }
    .write_to(&mut cmd);
    cmd
}

#[test]
fn statistics_and_consume_stats_add_up_over_the_shards() {
    let (data, log) = dir("broker-stats-it", "b");
    let _b = BrokerProcess::start(&data, &log, NS, BROKER, &strings(&["--shards", "2"]), &[]);
    on_glommio(|| async {
        let conn = connect(BROKER, TIMEOUT).await;
        create_topic(&conn, "St").await;
        // One client: producer of st-pg, consumer of St in st-cg (an online group is in
        // GET_BROKER_CONSUME_STATS with its config or without).
        let hb = HeartbeatData {
            client_id: "127.0.0.1@stats-it".into(),
            producer_data_set: vec![ProducerData {
                group_name: "st-pg".into(),
            }],
            consumer_data_set: vec![ConsumerData {
                group_name: "st-cg".into(),
                subscription_data_set: vec![SubscriptionData::from_expression(
                    "St",
                    "*",
                    Default::default(),
                )],
                ..Default::default()
            }],
        };
        conn.heartbeat(&hb).await.unwrap();
        // Three messages on every queue: both shards own some of them.
        for q in 0..QUEUES {
            for _ in 0..3 {
                send(&conn, "st-pg", "St", q, "0123456789").await.unwrap();
            }
        }
        let total = 3 * QUEUES as i64;

        // Within 10 s of the sends at least one shard has not sampled them yet; wait for both.
        let deadline = Instant::now() + Duration::from_secs(30);
        let figures = loop {
            let resp = conn
                .call(stats_request("TOPIC_PUT_NUMS", "St"))
                .await
                .unwrap();
            if resp.code == response::SUCCESS {
                let d = BrokerStatsData::parse(&resp.body).unwrap();
                if d.stats_minute.sum == total || Instant::now() > deadline {
                    break d;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no statistics: {:?}",
                resp.remark
            );
            glommio::timer::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(figures.stats_minute.sum, total, "{figures:?}");
        assert_eq!(figures.stats_hour.sum, total);
        assert_eq!(figures.stats_day.sum, total);
        assert!(figures.stats_minute.tps > 0.0);
        assert_eq!(figures.stats_minute.avgpt, 1.0, "one message per send");
        let size = conn
            .call(stats_request("TOPIC_PUT_SIZE", "St"))
            .await
            .unwrap();
        let size = BrokerStatsData::parse(&size.body).unwrap();
        assert_eq!(size.stats_minute.sum, total * 10, "body bytes");
        let broker = conn
            .call(stats_request("BROKER_PUT_NUMS", "DefaultCluster"))
            .await
            .unwrap();
        assert_eq!(broker.code, response::SUCCESS, "{:?}", broker.remark);
        assert!(BrokerStatsData::parse(&broker.body).unwrap().stats_day.sum >= total);
        for (name, key) in [
            ("TOPIC_PUT_NUMS", "NoSuchTopic"),
            ("BROKER_PUT_NUMS", "OtherCluster"),
            ("NO_SUCH_STATS", "St"),
        ] {
            let r = conn.call(stats_request(name, key)).await.unwrap();
            assert_eq!(r.code, response::SYSTEM_ERROR, "{name} {key}");
            assert_eq!(
                r.remark.as_deref(),
                Some(format!("The stats <{name}> <{key}> not exist").as_str())
            );
        }

        // A group that committed 1 of 3 on every queue lags 2 per queue, over both shards.
        for q in 0..QUEUES {
            conn.update_consumer_offset("st-cg", "St", q, 1)
                .await
                .unwrap();
        }
        let mut cmd = RemotingCommand::request(request::GET_BROKER_CONSUME_STATS);
        cmd.set_ext("isOrder", "false");
        let resp = conn.call(cmd).await.unwrap();
        assert_eq!(resp.code, response::SUCCESS, "{:?}", resp.remark);
        let text = fastjson_to_json(&String::from_utf8_lossy(&resp.body));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["totalDiff"], 2 * QUEUES as i64, "{text}");
        let groups = v["consumeStatsList"].as_array().unwrap();
        let ours = groups
            .iter()
            .find_map(|g| g.get("st-cg"))
            .unwrap_or_else(|| panic!("st-cg missing: {text}"));
        let offsets = ours[0]["offsetTable"].as_object().unwrap();
        assert_eq!(offsets.len(), QUEUES as usize, "{text}");
        assert!(offsets
            .values()
            .all(|o| o["brokerOffset"] == 3 && o["consumerOffset"] == 1));
        // Only ordered topics: St is not one.
        let mut cmd = RemotingCommand::request(request::GET_BROKER_CONSUME_STATS);
        cmd.set_ext("isOrder", "true");
        let resp = conn.call(cmd).await.unwrap();
        let text = fastjson_to_json(&String::from_utf8_lossy(&resp.body));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["totalDiff"], 0, "{text}");

        // A group without live clients, with offsets on two topics: one ConsumeStats per topic,
        // each with that topic's queues only (both shards' parts, from one round of questions).
        create_topic(&conn, "St2").await;
        // Listed by GET_BROKER_CONSUME_STATS for its config, as in Java.
        let cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP)
            .with_body(br#"{"groupName":"st-off"}"#.to_vec());
        let r = conn.call(cmd).await.unwrap();
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        for q in 0..QUEUES {
            send(&conn, "st-pg", "St2", q, "x").await.unwrap();
            conn.update_consumer_offset("st-off", "St", q, 2)
                .await
                .unwrap();
            conn.update_consumer_offset("st-off", "St2", q, 0)
                .await
                .unwrap();
            conn.update_consumer_offset("st-cg", "St2", q, 1)
                .await
                .unwrap();
        }
        let mut cmd = RemotingCommand::request(request::GET_BROKER_CONSUME_STATS);
        cmd.set_ext("isOrder", "false");
        let resp = conn.call(cmd).await.unwrap();
        let text = fastjson_to_json(&String::from_utf8_lossy(&resp.body));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let off = v["consumeStatsList"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|g| g.get("st-off"))
            .unwrap_or_else(|| panic!("st-off missing: {text}"));
        let per_topic = off.as_array().unwrap();
        assert_eq!(per_topic.len(), 2, "{text}");
        for (stats, topic) in per_topic.iter().zip(["St", "St2"]) {
            let offsets = stats["offsetTable"].as_object().unwrap();
            assert_eq!(offsets.len(), QUEUES as usize, "{topic}: {text}");
            let mark = format!("\"topic\":\"{topic}\"");
            assert!(offsets.keys().all(|k| k.contains(&mark)), "{topic}: {text}");
            assert!(
                offsets.values().all(|o| o["brokerOffset"].as_i64().unwrap()
                    - o["consumerOffset"].as_i64().unwrap()
                    == 1),
                "{topic}: {text}"
            );
        }

        // CLONE_GROUP_OFFSET copies on both shards. st-cg's live subscription is St only, so St2
        // is copied only when the clone says the group is offline; an unknown topic is skipped.
        let clone = |topic: Option<&str>, offline: bool| {
            let mut cmd = RemotingCommand::request(request::CLONE_GROUP_OFFSET);
            CloneGroupOffsetHeader {
                src_group: "st-cg".into(),
                dest_group: "st-copy".into(),
                topic: topic.map(str::to_string),
                offline,
            }
            .write_to(&mut cmd);
            conn.call(cmd)
        };
        for topic in [None, Some("NoSuchTopic")] {
            let r = clone(topic, false).await.unwrap();
            assert_eq!(r.code, response::SUCCESS, "{topic:?}: {:?}", r.remark);
        }
        for q in 0..QUEUES {
            let st = conn
                .query_consumer_offset("st-copy", "St", q)
                .await
                .unwrap();
            let st2 = conn
                .query_consumer_offset("st-copy", "St2", q)
                .await
                .unwrap();
            assert_eq!((st, st2 == Some(1)), (Some(1), false), "queue {q}");
        }
        let r = clone(Some("St2"), true).await.unwrap();
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
        for q in 0..QUEUES {
            let st2 = conn
                .query_consumer_offset("st-copy", "St2", q)
                .await
                .unwrap();
            assert_eq!(st2, Some(1), "queue {q}");
        }

        // QUERY_CONSUME_QUEUE goes to each queue's owner: its entries, with the group's subscription.
        for q in 0..QUEUES {
            let mut cmd = RemotingCommand::request(request::QUERY_CONSUME_QUEUE);
            QueryConsumeQueueHeader {
                topic: "St".into(),
                queue_id: q,
                index: 1,
                count: 5,
                consumer_group: Some("st-cg".into()),
            }
            .write_to(&mut cmd);
            let resp = conn.call(cmd).await.unwrap();
            assert_eq!(resp.code, response::SUCCESS, "{:?}", resp.remark);
            let body = QueryConsumeQueueBody::parse(&resp.body).unwrap();
            assert_eq!((body.min_queue_index, body.max_queue_index), (0, 3));
            let entries = body.queue_data.unwrap();
            assert_eq!(entries.len(), 2, "entries 1 and 2 of queue {q}");
            assert!(entries[0].physic_offset < entries[1].physic_offset);
            assert!(entries.iter().all(|e| e.physic_size > 0));
            assert_eq!(body.subscription_data.unwrap().topic, "St");
        }
        let mut cmd = RemotingCommand::request(request::QUERY_CONSUME_QUEUE);
        QueryConsumeQueueHeader {
            topic: "St".into(),
            queue_id: QUEUES,
            index: 0,
            count: 1,
            consumer_group: None,
        }
        .write_to(&mut cmd);
        let resp = conn.call(cmd).await.unwrap();
        assert_eq!(resp.code, response::SYSTEM_ERROR);
        assert_eq!(
            resp.remark.as_deref(),
            Some(format!("{QUEUES}@St is not exist!").as_str())
        );

        // The producer that sent a heartbeat is listed with its group.
        let resp = conn
            .call(RemotingCommand::request(request::GET_ALL_PRODUCER_INFO))
            .await
            .unwrap();
        assert_eq!(resp.code, response::SUCCESS);
        let table = ProducerTableInfo::parse(&resp.body).unwrap();
        let members = &table.data["st-pg"];
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].client_id, "127.0.0.1@stats-it");
        assert!(members[0].last_update_timestamp > 0);
    });
}
