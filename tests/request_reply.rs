//! Request-reply against a real broker process, in raw frames: a reply (SEND_REPLY_MESSAGE_V2 325
//! and the V1 324 that client-go sends) is pushed to the requesting client's connection
//! (PUSH_REPLY_MESSAGE_TO_CLIENT 326) with the fields and body the Java client reads, the replier
//! is answered after the requester took it, and a copy is stored in the cluster's reply topic.
//! A requester that is not connected, has gone, refuses the push, or is not named gets
//! SYSTEM_ERROR, as from the Java broker, and the copy is stored all the same.
//!
//! The broker has 2 shards: connections are spread over them, so the requester (first) and the
//! replier (second) are served by different shards and the push crosses the router. Ports
//! 24490-24499. The Java and Go clients' own request APIs are in tests/java and tests/go.

use std::time::Duration;

use bolide::message::decode_record;
use bolide::message::properties::{keys, Properties};
use bolide::remoting::codes::{request, response};
use bolide::remoting::headers::{PullMessageHeader, SendMessageHeader, SendResultHeader};
use bolide::remoting::RemotingCommand;

#[path = "common/broker_process.rs"]
mod broker_process;
#[path = "common/raw_conn.rs"]
mod raw_conn;
use broker_process::{strings, test_dir, BrokerProcess};
use raw_conn::Raw;

const REPLY_TOPIC: &str = "DefaultCluster_REPLY_TOPIC";

fn reply(code: i32, to: Option<&str>, correlation: &str, body: &str) -> RemotingCommand {
    let mut props = Properties::default();
    props.set("MSG_TYPE", "reply");
    props.set(keys::CORRELATION_ID, correlation);
    if let Some(to) = to {
        props.set(keys::REPLY_TO_CLIENT, to);
    }
    props.set("TTL", "3000");
    let h = SendMessageHeader {
        producer_group: "reply-it-replier".into(),
        topic: REPLY_TOPIC.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        sys_flag: 0,
        born_timestamp_ms: 1_700_000_000_000,
        flag: 0,
        properties: props.to_wire(),
        reconsume_times: 0,
        unit_mode: false,
        max_reconsume_times: None,
        batch: false,
    };
    let mut cmd = RemotingCommand::request(code);
    if code == request::SEND_REPLY_MESSAGE {
        h.write_v1(&mut cmd);
    } else {
        h.write_v2(&mut cmd);
    }
    cmd.with_body(body.as_bytes().to_vec())
}

fn max_offset(c: &mut Raw) -> i64 {
    let r = c.call(
        RemotingCommand::request(request::GET_MAX_OFFSET)
            .with_ext("topic", REPLY_TOPIC)
            .with_ext("queueId", 0),
    );
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    r.ext("offset").unwrap().parse().unwrap()
}

/// The stored record at `offset` of the reply topic: (body, properties).
fn stored_at(c: &mut Raw, offset: i64) -> (String, Properties) {
    let mut cmd = RemotingCommand::request(request::PULL_MESSAGE);
    PullMessageHeader::all_tags("reply-it-cg", REPLY_TOPIC, 0, offset, 1).write_to(&mut cmd);
    let r = c.call(cmd);
    assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    let v = decode_record(&r.body, true).unwrap();
    (
        String::from_utf8(v.body.to_vec()).unwrap(),
        Properties::parse(v.properties),
    )
}

#[test]
fn replies_reach_the_requester_and_are_stored() {
    let dir = test_dir("request-reply");
    let log = dir.with_extension("log");
    let _broker =
        BrokerProcess::start_answering(&dir, &log, 24490, 24495, &strings(&["--shards", "2"]));
    let mut requester = Raw::connect(24495);
    requester.heartbeat_producer("127.0.0.1@requester", "reply-it-pg");
    let mut replier = Raw::connect(24495);

    // The reply topic is there from the start, routed like any topic.
    let route = replier.call(
        RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC).with_ext("topic", REPLY_TOPIC),
    );
    assert_eq!(route.code, response::SUCCESS, "{:?}", route.remark);

    for (code, correlation) in [
        (request::SEND_REPLY_MESSAGE_V2, "corr-v2"),
        (request::SEND_REPLY_MESSAGE, "corr-v1"),
    ] {
        let before = max_offset(&mut replier);
        let opaque = replier.write(reply(
            code,
            Some("127.0.0.1@requester"),
            correlation,
            "pong",
        ));
        let push = requester
            .next_push(
                request::PUSH_REPLY_MESSAGE_TO_CLIENT,
                Duration::from_secs(10),
            )
            .expect("the reply is pushed to the requester");
        // Not answered before the requester took the reply.
        assert!(replier
            .response_to(opaque, Duration::from_millis(300))
            .is_none());
        assert_eq!(&push.body[..], b"pong");
        assert_eq!(push.ext("topic"), Some(REPLY_TOPIC));
        assert_eq!(push.ext("queueId"), Some("0"));
        assert_eq!(push.ext("producerGroup"), Some("reply-it-replier"));
        assert_eq!(push.ext("bornTimestamp"), Some("1700000000000"));
        for k in ["bornHost", "storeHost", "storeTimestamp", "sysFlag", "flag"] {
            assert!(push.ext(k).is_some(), "{k} missing from the push");
        }
        let props = Properties::parse(push.ext("properties").unwrap());
        assert_eq!(props.get(keys::CORRELATION_ID), Some(correlation));
        assert!(props.get(keys::PUSH_REPLY_TIME).is_some());
        requester.respond(push.response(response::SUCCESS));

        let answer = replier
            .response_to(opaque, Duration::from_secs(10))
            .expect("the replier is answered");
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
        let sent = SendResultHeader::parse(&answer).unwrap();
        assert_eq!((sent.queue_id, sent.queue_offset), (0, before));
        assert_ne!(sent.msg_id, "0", "the stored copy's id");
        let (body, stored) = stored_at(&mut replier, before);
        assert_eq!(body, "pong");
        assert_eq!(stored.get(keys::CORRELATION_ID), Some(correlation));
    }

    // Requesters that cannot take the reply: the replier gets SYSTEM_ERROR; the copy is stored.
    let mut gone = Raw::connect(24495);
    gone.heartbeat_producer("127.0.0.1@gone", "reply-it-pg");
    drop(gone);
    let cases: [(Option<&str>, &str); 3] = [
        (Some("127.0.0.1@never-connected"), "not found"),
        (Some("127.0.0.1@gone"), "127.0.0.1@gone"),
        (None, "REPLY_TO_CLIENT"),
    ];
    for (to, remark) in cases {
        let before = max_offset(&mut replier);
        let r = replier.call(reply(request::SEND_REPLY_MESSAGE_V2, to, "corr-x", "lost"));
        assert_eq!(r.code, response::SYSTEM_ERROR, "to {to:?}: {:?}", r.remark);
        assert!(
            r.remark.as_deref().unwrap_or("").contains(remark),
            "{:?}",
            r.remark
        );
        assert_eq!(
            max_offset(&mut replier),
            before + 1,
            "to {to:?}: stored anyway"
        );
    }

    // A requester that refuses the push.
    let opaque = replier.write(reply(
        request::SEND_REPLY_MESSAGE_V2,
        Some("127.0.0.1@requester"),
        "corr-refused",
        "pong",
    ));
    let push = requester
        .next_push(
            request::PUSH_REPLY_MESSAGE_TO_CLIENT,
            Duration::from_secs(10),
        )
        .expect("pushed");
    requester.respond(push.response(response::SYSTEM_ERROR));
    let answer = replier
        .response_to(opaque, Duration::from_secs(10))
        .unwrap();
    assert_eq!(answer.code, response::SYSTEM_ERROR, "{:?}", answer.remark);

    // Every other client kept being served: the requester still answers a plain request.
    assert_eq!(max_offset(&mut requester), max_offset(&mut replier));
}
