//! What the master/slave tests (`replication.rs`, `failover.rs`, `replication_slave_read.rs`) do
//! the same way against real brokers: data and log paths under the target directory, a connection,
//! a topic of [`QUEUES`] queues, a plain send answered by its status, and reading back every body
//! of a topic. Kept apart from `broker_process.rs` (processes) because these are protocol steps.

#![allow(dead_code)]

use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use bolide::client::{ClientError, Conn, SendRequest, SendStatus};
use bolide::clock::now_ms;
use bolide::remoting::headers::{pull_sys_flag, CreateTopicHeader, PullMessageHeader};

/// Queues of every topic these tests create (two shards: both own some).
pub const QUEUES: i32 = 4;

/// The data directory and log file of process `name` of test file `prefix`.
pub fn dir(prefix: &str, name: &str) -> (PathBuf, PathBuf) {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let pid = std::process::id();
    (
        base.join(format!("{prefix}-{pid}-{name}")),
        base.join(format!("{prefix}-{pid}-{name}.log")),
    )
}

pub async fn connect(port: u16, timeout: Duration) -> Rc<Conn> {
    Conn::connect(&format!("127.0.0.1:{port}"), timeout)
        .await
        .unwrap()
}

pub async fn create_topic(conn: &Conn, topic: &str) {
    let h = CreateTopicHeader {
        topic: topic.into(),
        default_topic: "TBW102".into(),
        read_queue_nums: QUEUES,
        write_queue_nums: QUEUES,
        perm: 6,
        topic_filter_type: "SINGLE_TAG".into(),
        topic_sys_flag: 0,
        order: false,
        attributes: None,
    };
    conn.create_topic(&h).await.unwrap();
}

/// One send of `body` to `queue_id`, answered by its status.
pub async fn send(
    conn: &Conn,
    producer_group: &str,
    topic: &str,
    queue_id: i32,
    body: &str,
) -> Result<SendStatus, ClientError> {
    conn.send(&SendRequest {
        producer_group,
        topic,
        queue_id,
        born_timestamp_ms: now_ms(),
        properties: "",
        body: body.as_bytes(),
        batch: false,
    })
    .await
    .map(|r| r.status)
}

/// Every body stored in queue `queue_id` of `topic` on the broker at `conn`, from offset 0; a
/// refused pull (an unknown topic, say) is the error.
pub async fn read_queue(
    conn: &Conn,
    group: &str,
    topic: &str,
    queue_id: i32,
) -> Result<Vec<String>, ClientError> {
    read_queue_from(conn, group, topic, queue_id, 0).await
}

/// [`read_queue`] from queue offset `from`.
#[allow(dead_code)] // not every test binary that includes this file reads from an offset
pub async fn read_queue_from(
    conn: &Conn,
    group: &str,
    topic: &str,
    queue_id: i32,
    from: i64,
) -> Result<Vec<String>, ClientError> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let h = PullMessageHeader {
            consumer_group: group.into(),
            topic: topic.into(),
            queue_id,
            queue_offset: offset,
            max_msg_nums: 32,
            sys_flag: pull_sys_flag::SUBSCRIPTION,
            commit_offset: 0,
            suspend_timeout_ms: 0,
            subscription: Some("*".into()),
            sub_version: 0,
            expression_type: Some("TAG".into()),
        };
        let r = conn.pull(&h).await?;
        let mut n = 0;
        for rec in r.records() {
            let rec = rec.unwrap();
            out.push(String::from_utf8(rec.body.to_vec()).unwrap());
            n += 1;
        }
        if n == 0 {
            return Ok(out);
        }
        offset = r.header.next_begin_offset;
    }
}
