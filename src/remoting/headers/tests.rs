//! Unit tests of the typed headers.

use super::*;
use crate::remoting::codes::request;

fn cmd(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut c = RemotingCommand::request(code);
    for (k, v) in fields {
        c.set_ext(k, v);
    }
    c
}

#[test]
fn send_v2_letters() {
    let c = cmd(
        request::SEND_MESSAGE_V2,
        &[
            ("a", "pg"),
            ("b", "T"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "3"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", "TAGS\u{1}A"),
            ("j", "0"),
            ("k", "false"),
            ("l", "16"),
            ("m", "false"),
            ("n", "broker-a"),
        ],
    );
    let h = SendMessageHeader::parse(&c).unwrap();
    assert_eq!(h.topic, "T");
    assert_eq!(h.queue_id, 3);
    assert_eq!(h.born_timestamp_ms, 1_700_000_000_000);
    assert_eq!(h.max_reconsume_times, Some(16));
    assert!(!h.batch);
    assert_eq!(h.properties, "TAGS\u{1}A");
}

#[test]
fn batch_falls_back_to_v1_names() {
    let c = cmd(
        request::SEND_BATCH_MESSAGE,
        &[
            ("producerGroup", "pg"),
            ("topic", "T"),
            ("queueId", "1"),
            ("bornTimestamp", "5"),
        ],
    );
    let h = SendMessageHeader::parse(&c).unwrap();
    assert_eq!(h.topic, "T");
    assert!(h.batch);
    assert_eq!(h.default_topic, "TBW102");
    assert_eq!(h.default_topic_queue_nums, 4);
}

#[test]
fn send_header_round_trips_both_dialects() {
    let h = SendMessageHeader {
        producer_group: "pg".into(),
        topic: "T".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 8,
        queue_id: -1,
        sys_flag: 4,
        born_timestamp_ms: 42,
        flag: 7,
        properties: "WAIT\u{1}true".into(),
        reconsume_times: 2,
        unit_mode: true,
        max_reconsume_times: Some(3),
        batch: false,
    };
    let mut c = RemotingCommand::request(request::SEND_MESSAGE_V2);
    h.write_v2(&mut c);
    assert_eq!(SendMessageHeader::parse(&c).unwrap(), h);
    let mut c = RemotingCommand::request(request::SEND_MESSAGE);
    h.write_v1(&mut c);
    assert_eq!(SendMessageHeader::parse(&c).unwrap(), h);
}

#[test]
fn missing_and_invalid_fields_are_named() {
    let c = cmd(request::SEND_MESSAGE_V2, &[("a", "pg"), ("b", "T")]);
    assert_eq!(
        SendMessageHeader::parse(&c),
        Err(HeaderError::Missing { field: "e" })
    );
    let c = cmd(
        request::PULL_MESSAGE,
        &[("consumerGroup", "g"), ("topic", "T"), ("queueId", "x1")],
    );
    assert_eq!(
        PullMessageHeader::parse(&c),
        Err(HeaderError::Invalid {
            field: "queueId",
            value: "x1".into()
        })
    );
}

#[test]
fn java_parse_boolean() {
    assert!(parse_bool("TRUE"));
    assert!(parse_bool("true"));
    assert!(!parse_bool("1"));
    assert!(!parse_bool("yes"));
    assert!(!parse_bool(" true"));
}

#[test]
fn pull_header_round_trip_and_flags() {
    let h = PullMessageHeader {
        consumer_group: "g".into(),
        topic: "T".into(),
        queue_id: 1,
        queue_offset: 99,
        max_msg_nums: 32,
        sys_flag: pull_sys_flag::SUSPEND | pull_sys_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_ms: 15000,
        subscription: Some("TagA || TagB".into()),
        sub_version: 0,
        expression_type: Some("TAG".into()),
    };
    let mut c = RemotingCommand::request(request::PULL_MESSAGE);
    h.write_to(&mut c);
    let p = PullMessageHeader::parse(&c).unwrap();
    assert_eq!(p, h);
    assert!(p.suspend() && p.has_subscription() && !p.has_commit_offset());
}

#[test]
fn all_tags_pull_subscribes_to_star_without_suspending() {
    let h = PullMessageHeader::all_tags("g", "T", 2, 7, 16);
    let mut c = RemotingCommand::request(request::PULL_MESSAGE);
    h.write_to(&mut c);
    let p = PullMessageHeader::parse(&c).unwrap();
    assert_eq!(p, h);
    assert_eq!((p.queue_id, p.queue_offset, p.max_msg_nums), (2, 7, 16));
    assert_eq!(p.subscription.as_deref(), Some("*"));
    assert_eq!(p.expression_type.as_deref(), Some("TAG"));
    assert!(p.has_subscription() && !p.suspend() && !p.has_commit_offset());
    assert_eq!((p.commit_offset, p.suspend_timeout_ms), (0, 0));
}

#[test]
fn unregister_empty_groups_are_none() {
    let c = cmd(
        request::UNREGISTER_CLIENT,
        &[
            ("clientID", "c1"),
            ("consumerGroup", "CG"),
            ("producerGroup", ""),
        ],
    );
    let h = UnregisterClientHeader::parse(&c).unwrap();
    assert_eq!(h.consumer_group.as_deref(), Some("CG"));
    assert_eq!(h.producer_group, None);
}

#[test]
fn route_dialect_rule() {
    let mut c = cmd(request::GET_ROUTEINFO_BY_TOPIC, &[("topic", "T")]);
    c.version = 317;
    assert!(!wants_standard_json(&c));
    c.version = 401;
    assert!(wants_standard_json(&c));
    c.version = 63;
    c.set_ext("acceptStandardJsonOnly", "true");
    assert!(wants_standard_json(&c));
}

#[test]
fn send_dialect_rule_row_by_row() {
    use SendDialect::{V1, V2};
    // (code, V1 topic present, V2 topic present, dialect): the table of `send_dialect`.
    let rows = [
        (request::SEND_MESSAGE, true, false, V1),
        (request::SEND_MESSAGE, true, true, V1),
        (request::SEND_MESSAGE, false, true, V2),
        (request::SEND_MESSAGE, false, false, V1),
        (request::SEND_MESSAGE_V2, false, true, V2),
        (request::SEND_MESSAGE_V2, true, true, V2),
        (request::SEND_MESSAGE_V2, true, false, V1),
        (request::SEND_MESSAGE_V2, false, false, V2),
        (request::SEND_BATCH_MESSAGE, true, true, V2),
        (request::SEND_BATCH_MESSAGE, true, false, V1),
        (request::SEND_BATCH_MESSAGE, false, false, V2),
        (request::SEND_REPLY_MESSAGE, true, true, V1),
        (request::SEND_REPLY_MESSAGE, false, true, V2),
        (request::SEND_REPLY_MESSAGE, false, false, V1),
        (request::SEND_REPLY_MESSAGE_V2, true, true, V2),
        (request::SEND_REPLY_MESSAGE_V2, true, false, V1),
        (request::SEND_REPLY_MESSAGE_V2, false, false, V2),
    ];
    for (code, v1, v2, want) in rows {
        assert_eq!(
            send_dialect(code, v1, v2),
            want,
            "code {code}, v1 {v1}, v2 {v2}"
        );
    }
}

#[test]
fn send_v1_code_with_only_v2_keys_is_read_as_v2() {
    let c = cmd(
        request::SEND_MESSAGE,
        &[("a", "pg"), ("b", "T"), ("e", "2"), ("g", "9")],
    );
    let h = SendMessageHeader::parse(&c).unwrap();
    assert_eq!((h.topic.as_str(), h.queue_id), ("T", 2));
    let c = cmd(request::SEND_MESSAGE_V2, &[]);
    assert_eq!(
        SendMessageHeader::parse(&c),
        Err(HeaderError::Missing { field: "a" })
    );
}
