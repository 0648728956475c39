//! Deleting a topic deletes its messages (as the Java broker deletes the topic's consume queues), and
//! they stay deleted through kill -9: the `bolide` binary runs as a child process in SYNC_FLUSH
//! (2 shards, loopback ports 24560/24571, data under the target directory). A topic with messages on
//! every queue is deleted (DELETE_TOPIC_IN_BROKER) and created again under the same name; then every
//! queue is empty (min = max), a new group is told to start at the queue's start (QUERY_CONSUMER_OFFSET
//! answers it, as the Java broker answers 0 for its recreated queue), and only the messages sent after
//! the deletion are read. The same holds after kill -9 and after a second deletion with nothing
//! sent since.

use std::time::Duration;

use bolide::client::{Conn, PullStatus, SendRequest, SendStatus};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{PullMessageHeader, TopicHeader};
use bolide::remoting::RemotingCommand;

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{on_glommio, sets, test_dir, topic_conn, BrokerProcess};

const NAMESRV_PORT: u16 = 24560;
const BROKER_PORT: u16 = 24571;
const TOPIC: &str = "TopicDeleted";
const QUEUES: i32 = 4;
const T: Duration = Duration::from_secs(20);

fn start_broker(dir: &std::path::Path) -> BrokerProcess {
    let mut extra = vec!["--shards".to_string(), "2".to_string()];
    extra.extend(sets(&["flushDiskType=SYNC_FLUSH"]));
    BrokerProcess::start_answering(
        dir,
        &dir.with_extension("log"),
        NAMESRV_PORT,
        BROKER_PORT,
        &extra,
    )
}

/// Creates the topic (if needed) and sends `per_queue` messages to each queue, bodies `tag-q-i`.
fn send(tag: &str, per_queue: usize) {
    let tag = tag.to_string();
    on_glommio(move || async move {
        let conn = topic_conn(NAMESRV_PORT, BROKER_PORT, TOPIC, QUEUES, T).await;
        for q in 0..QUEUES {
            for i in 0..per_queue {
                let r = conn
                    .send(&SendRequest {
                        producer_group: "TopicDeleteP",
                        topic: TOPIC,
                        queue_id: q,
                        born_timestamp_ms: 1,
                        properties: &format!("UNIQ_KEY\u{1}{tag}{q}{i}\u{2}"),
                        body: format!("{tag}-{q}-{i}").as_bytes(),
                        batch: false,
                    })
                    .await
                    .unwrap();
                assert_eq!(r.status, SendStatus::Ok);
            }
        }
        conn.close();
    })
}

fn delete_topic() {
    on_glommio(|| async {
        let conn = Conn::connect(&broker_process::addr(BROKER_PORT), T)
            .await
            .unwrap();
        let mut cmd = RemotingCommand::request(request::DELETE_TOPIC_IN_BROKER);
        TopicHeader {
            topic: TOPIC.into(),
        }
        .write_to(&mut cmd);
        let r = conn.call(cmd).await.unwrap();
        assert_eq!(r.code, response::SUCCESS, "delete: {:?}", r.remark);
        conn.close();
    })
}

/// Per queue: (min, max, the offset a new group is told to start at, the bodies read from there).
fn queues(group: &str) -> Vec<(i64, i64, Option<i64>, Vec<String>)> {
    let group = group.to_string();
    on_glommio(move || async move {
        let conn = Conn::connect(&broker_process::addr(BROKER_PORT), T)
            .await
            .unwrap();
        let mut out = Vec::new();
        for q in 0..QUEUES {
            let min = conn.min_offset(TOPIC, q).await.unwrap();
            let max = conn.max_offset(TOPIC, q).await.unwrap();
            let start = conn.query_consumer_offset(&group, TOPIC, q).await.unwrap();
            let mut bodies = Vec::new();
            let h = PullMessageHeader::all_tags(&group, TOPIC, q, start.unwrap_or(0), 32);
            let r = conn.pull(&h).await.unwrap();
            if r.status == PullStatus::Found {
                for rec in r.records() {
                    bodies.push(String::from_utf8(rec.unwrap().body.to_vec()).unwrap());
                }
            }
            out.push((min, max, start, bodies));
        }
        conn.close();
        out
    })
}

fn expect(group: &str, old: i64, new: &[&str]) {
    for (q, (min, max, start, bodies)) in queues(group).into_iter().enumerate() {
        let want: Vec<String> = new.iter().map(|t| format!("{t}-{q}-0")).collect();
        assert_eq!(
            (min, max, start),
            (old, old + new.len() as i64, Some(old)),
            "queue {q}: (min, max, a new group's start)"
        );
        assert_eq!(bodies, want, "queue {q}: what a new group reads");
    }
}

#[test]
fn a_deleted_topics_messages_stay_deleted_through_kill_9() {
    let dir = test_dir("topic-delete");
    let mut broker = start_broker(&dir);
    send("old", 2);
    delete_topic();
    send("none", 0); // created again, empty
    expect("G1", 2, &[]);
    send("new", 1);
    expect("G2", 2, &["new"]);

    broker.kill_9_and_restart();
    broker.wait_answering();
    expect("G3", 2, &["new"]);

    // A second deletion with nothing sent since: the queues move on to the new end.
    delete_topic();
    send("newer", 1);
    expect("G4", 3, &["newer"]);
    broker.kill_9_and_restart();
    broker.wait_answering();
    expect("G5", 3, &["newer"]);
}
