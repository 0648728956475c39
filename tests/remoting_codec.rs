//! Property and replay tests of the remoting codec (`src/remoting`).
//!
//! - encode/decode round trips for JSON and ROCKETMQ headers;
//! - arbitrary bytes never panic the frame decoder or the body parsers;
//! - a stream split at every byte boundary decodes to the same commands;
//! - the official C++ client's frames (tests/fixtures/cpp_client_frames.hex, copied from
//!   shared/captures/cpp-client-flow.txt) decode with the right fields.

use bolide::remoting::batch::{decode_batch, encode_batch, BatchEntry};
use bolide::remoting::body::{
    ConsumeFromWhere, ConsumeType, HeartbeatData, LockBatchRequestBody, MessageModel,
    TopicRouteData,
};
use bolide::remoting::codes::request;
use bolide::remoting::headers::{
    PullMessageHeader, QueryConsumerOffsetHeader, QueueHeader, SendMessageHeader,
    UnregisterClientHeader, UpdateConsumerOffsetHeader,
};
use bolide::remoting::{
    decode_frame, encode_frame, encode_frame_ref, CommandRef, RemotingCommand, SerializeType,
    FRAME_MAX_BYTES, LANGUAGE_NAMES,
};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

fn dedup(fields: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in fields {
        if !out.iter().any(|(k2, _)| *k2 == k) {
            out.push((k, v));
        }
    }
    out
}

fn json_command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i32>(),
        prop_oneof![
            prop::sample::select(LANGUAGE_NAMES.to_vec()).prop_map(String::from),
            ".{0,8}"
        ],
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(".{0,40}"),
        prop::collection::vec((".{0,12}", ".{0,40}"), 0..8),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(code, language, version, opaque, flag, remark, ext, body)| RemotingCommand {
                code,
                language: language.into(),
                version,
                opaque,
                flag,
                remark,
                ext_fields: dedup(ext).into_iter().collect(),
                body: Bytes::from(body),
                serialize_type: SerializeType::Json,
            },
        )
}

fn binary_command() -> impl Strategy<Value = RemotingCommand> {
    (
        any::<i16>(),
        prop::sample::select(LANGUAGE_NAMES.to_vec()),
        any::<i16>(),
        any::<i32>(),
        any::<i32>(),
        proptest::option::of(".{1,40}"),
        prop::collection::vec((".{1,12}", ".{1,40}"), 0..8),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(code, language, version, opaque, flag, remark, ext, body)| RemotingCommand {
                code: code as i32,
                language: language.into(),
                version: version as i32,
                opaque,
                flag,
                remark,
                ext_fields: dedup(ext).into_iter().collect(),
                body: Bytes::from(body),
                serialize_type: SerializeType::RocketMq,
            },
        )
}

fn any_command() -> impl Strategy<Value = RemotingCommand> {
    prop_oneof![json_command(), binary_command()]
}

fn decode_all(buf: &mut BytesMut) -> Vec<RemotingCommand> {
    let mut out = Vec::new();
    while let Some(cmd) = decode_frame(buf, FRAME_MAX_BYTES).expect("valid frames") {
        out.push(cmd);
    }
    out
}

proptest! {
    #[test]
    fn json_round_trip(cmd in json_command()) {
        let mut buf = BytesMut::new();
        encode_frame(&cmd, &mut buf);
        let back = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap();
        prop_assert_eq!(back, cmd);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn binary_round_trip(cmd in binary_command()) {
        let mut buf = BytesMut::new();
        encode_frame(&cmd, &mut buf);
        let back = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap();
        prop_assert_eq!(back, cmd);
        prop_assert!(buf.is_empty());
    }

    /// The borrowed encoder writes exactly what the owned one writes.
    #[test]
    fn borrowed_encoder_matches(cmd in any_command()) {
        let ext: Vec<(&str, &str)> =
            cmd.ext_fields.iter().collect();
        let r = CommandRef {
            code: cmd.code,
            language: &cmd.language,
            version: cmd.version,
            opaque: cmd.opaque,
            flag: cmd.flag,
            remark: cmd.remark.as_deref(),
            ext_fields: &ext,
            body: &cmd.body,
            serialize_type: cmd.serialize_type,
        };
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        encode_frame(&cmd, &mut a);
        encode_frame_ref(&r, &mut b);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decode_frame(&mut buf, 4096) {}
        let _ = HeartbeatData::parse(&bytes);
        let _ = TopicRouteData::parse(&bytes);
        let _ = LockBatchRequestBody::parse(&bytes);
        let _ = decode_batch(&bytes);
    }

    /// Garbage behind a plausible prefix reaches the header parsers instead of failing on length.
    #[test]
    fn garbage_headers_never_panic(
        type_byte in 0u8..2,
        header in prop::collection::vec(any::<u8>(), 0..256),
        body in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
        buf.extend_from_slice(&(((type_byte as u32) << 24) | header.len() as u32).to_be_bytes());
        buf.extend_from_slice(&header);
        buf.extend_from_slice(&body);
        if let Ok(Some(cmd)) = decode_frame(&mut buf, FRAME_MAX_BYTES) {
            prop_assert_eq!(&cmd.body[..], &body[..]);
            let _ = SendMessageHeader::parse(&cmd);
            let _ = PullMessageHeader::parse(&cmd);
        }
    }

    #[test]
    fn split_at_every_boundary_decodes_the_same(cmds in prop::collection::vec(any_command(), 1..4)) {
        let mut wire = BytesMut::new();
        for c in &cmds {
            encode_frame(c, &mut wire);
        }
        for cut in 0..=wire.len() {
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = decode_all(&mut buf);
            buf.extend_from_slice(&wire[cut..]);
            got.extend(decode_all(&mut buf));
            prop_assert!(buf.is_empty());
            prop_assert_eq!(&got, &cmds);
        }
    }

    #[test]
    fn send_header_round_trip_v1_and_v2(
        queue_id in any::<i32>(), sys_flag in any::<i32>(), born in any::<i64>(), flag in any::<i32>(),
        topic in "[A-Za-z0-9_%-]{1,20}", props in ".{0,30}", max in proptest::option::of(any::<i32>()),
        unit_mode in any::<bool>(), batch in any::<bool>(),
    ) {
        let h = SendMessageHeader {
            producer_group: "pg".into(), topic, default_topic: "TBW102".into(),
            default_topic_queue_nums: 4, queue_id, sys_flag, born_timestamp_ms: born, flag,
            properties: props, reconsume_times: 0, unit_mode, max_reconsume_times: max, batch,
        };
        for (code, v2) in [(request::SEND_MESSAGE, false), (request::SEND_MESSAGE_V2, true)] {
            let mut cmd = RemotingCommand::request(code);
            if v2 { h.write_v2(&mut cmd) } else { h.write_v1(&mut cmd) }
            // Through the wire, both serializations.
            for st in [SerializeType::Json, SerializeType::RocketMq] {
                let mut c = cmd.clone();
                c.serialize_type = st;
                let mut buf = BytesMut::new();
                encode_frame(&c, &mut buf);
                let back = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap();
                prop_assert_eq!(SendMessageHeader::parse(&back).unwrap(), h.clone());
            }
        }
    }

    #[test]
    fn batch_round_trip(entries in prop::collection::vec(
        (any::<i32>(), prop::collection::vec(any::<u8>(), 0..40), ".{0,30}"), 0..6)
    ) {
        let list: Vec<BatchEntry<'_>> = entries
            .iter()
            .map(|(flag, body, props)| BatchEntry { flag: *flag, body, properties: props })
            .collect();
        let mut out = BytesMut::new();
        encode_batch(&list, &mut out).unwrap();
        prop_assert_eq!(decode_batch(&out).unwrap(), list);
    }
}

// ---------------------------------------------------------------------------------------------
// Replay of the C++ client capture

struct Fixture {
    frame_no: u32,
    bytes: Vec<u8>,
}

fn fixtures() -> Vec<Fixture> {
    let text = include_str!("fixtures/cpp_client_frames.hex");
    let mut out: Vec<Fixture> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# frame ") {
            let no = rest.split_whitespace().next().unwrap().parse().unwrap();
            out.push(Fixture {
                frame_no: no,
                bytes: Vec::new(),
            });
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let f = out.last_mut().expect("hex before the first frame line");
            let l = line.trim();
            for i in (0..l.len()).step_by(2) {
                f.bytes.push(u8::from_str_radix(&l[i..i + 2], 16).unwrap());
            }
        }
    }
    out
}

fn frame(no: u32) -> RemotingCommand {
    let f = fixtures().into_iter().find(|f| f.frame_no == no).unwrap();
    let mut buf = BytesMut::from(&f.bytes[..]);
    let cmd = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap();
    assert!(buf.is_empty(), "frame {no} left bytes");
    cmd
}

#[test]
fn every_captured_frame_decodes_and_split_stream_matches() {
    let all = fixtures();
    assert!(all.len() >= 30);
    let mut wire = BytesMut::new();
    let mut one_by_one = Vec::new();
    for f in &all {
        let mut buf = BytesMut::from(&f.bytes[..]);
        let cmd = decode_frame(&mut buf, FRAME_MAX_BYTES)
            .unwrap_or_else(|e| panic!("frame {}: {e}", f.frame_no))
            .unwrap();
        assert!(buf.is_empty());
        one_by_one.push(cmd);
        wire.extend_from_slice(&f.bytes);
    }
    // The whole capture as one stream, fed 7 bytes at a time.
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for chunk in wire.chunks(7) {
        buf.extend_from_slice(chunk);
        got.extend(decode_all(&mut buf));
    }
    assert_eq!(got, one_by_one);
}

#[test]
fn cpp_route_query() {
    let c = frame(0);
    assert_eq!(c.code, request::GET_ROUTEINFO_BY_TOPIC);
    assert_eq!(c.language, "CPP");
    assert_eq!(c.version, 63);
    assert_eq!(c.opaque, 0);
    assert_eq!(c.remark.as_deref(), Some(""));
    assert_eq!(c.ext("topic"), Some("CapTopic2"));
    assert_eq!(c.ext("AccessKey"), Some(""));
    assert_eq!(c.serialize_type, SerializeType::Json);
}

#[test]
fn cpp_send_message_code_10_with_numbers() {
    let c = frame(4);
    assert_eq!(c.code, request::SEND_MESSAGE);
    assert_eq!(&c.body[..], b"hello rocketmq");
    let h = SendMessageHeader::parse(&c).unwrap();
    assert_eq!(h.producer_group, "CapPG");
    assert_eq!(h.topic, "CapTopic2");
    assert_eq!(h.default_topic, "TBW102");
    assert_eq!(h.default_topic_queue_nums, 4);
    assert_eq!(h.queue_id, 0);
    assert_eq!(h.sys_flag, 0);
    assert_eq!(h.born_timestamp_ms, 1_795_260_997_414);
    assert!(!h.batch && !h.unit_mode);
    assert_eq!(h.max_reconsume_times, None);
    assert_eq!(
        h.properties,
        "KEYS\u{1}key-1\u{2}TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}0100007F0000D52D0000A641DA6E0100\u{2}WAIT\u{1}true\u{2}myprop\u{1}myval\u{2}"
    );
}

#[test]
fn cpp_heartbeat_body() {
    let c = frame(9);
    assert_eq!(c.code, request::HEART_BEAT);
    let hb = HeartbeatData::parse(&c.body).unwrap();
    assert_eq!(hb.client_id, "27458-127.0.0.1@DEFAULT");
    let cd = &hb.consumer_data_set[0];
    assert_eq!(cd.group_name, "CapCG");
    assert_eq!(cd.consume_type, ConsumeType::ConsumePassively);
    assert_eq!(cd.message_model, MessageModel::Clustering);
    assert_eq!(
        cd.consume_from_where,
        ConsumeFromWhere::ConsumeFromLastOffset
    );
    assert_eq!(cd.subscription_data_set.len(), 2);
    assert_eq!(cd.subscription_data_set[1].tags, vec!["TagA", "TagB"]);
    assert_eq!(hb.producer_data_set[0].group_name, "CapPG");
}

#[test]
fn cpp_offsets_and_pulls() {
    let q = QueryConsumerOffsetHeader::parse(&frame(18)).unwrap();
    assert_eq!(
        (q.consumer_group.as_str(), q.topic.as_str(), q.queue_id),
        ("CapCG", "%RETRY%CapCG", 0)
    );

    let m = QueueHeader::parse(&frame(27)).unwrap();
    assert_eq!((m.topic.as_str(), m.queue_id), ("CapTopic2", 1));

    let p = PullMessageHeader::parse(&frame(24)).unwrap();
    assert_eq!(p.topic, "%RETRY%CapCG");
    assert_eq!(p.commit_offset, -1);
    assert_eq!(p.max_msg_nums, 32);
    assert_eq!(p.sys_flag, 6);
    assert!(p.suspend() && p.has_subscription() && !p.has_commit_offset());
    assert_eq!(p.suspend_timeout_ms, 15_000);
    assert_eq!(p.sub_version, 1_795_260_997_422);
    assert_eq!(p.subscription.as_deref(), Some("*"));
    assert_eq!(p.expression_type, None);

    let p = PullMessageHeader::parse(&frame(52)).unwrap();
    assert_eq!((p.queue_offset, p.commit_offset, p.sys_flag), (2, 1, 7));
    assert!(p.has_commit_offset());
    assert_eq!(p.subscription.as_deref(), Some("TagA||TagB"));

    let u = UpdateConsumerOffsetHeader::parse(&frame(53)).unwrap();
    assert_eq!((u.queue_id, u.commit_offset), (0, 2));

    let un = UnregisterClientHeader::parse(&frame(54)).unwrap();
    assert_eq!(un.client_id, "27458-127.0.0.1@DEFAULT");
    assert_eq!(un.consumer_group.as_deref(), Some("CapCG"));
    assert_eq!(un.producer_group, None);
}

#[test]
fn foreign_broker_responses_decode() {
    let r = frame(3);
    assert!(r.is_response());
    assert_eq!(r.remark, None);
    assert!(r.ext_fields.is_empty());
    let route = TopicRouteData::parse(&r.body).unwrap();
    assert_eq!(route.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
    let s = frame(7);
    assert_eq!(s.ext("queueOffset"), Some("0"));
    assert_eq!(s.ext("MSG_REGION"), Some("DefaultRegion"));
}

#[test]
fn answers_to_cpp_are_json_with_string_ext_fields() {
    let req = frame(18);
    let mut resp = req.response(0);
    resp.set_ext("offset", 5i64);
    let mut buf = BytesMut::new();
    encode_frame(&resp, &mut buf);
    // Type byte 0: the C++ client treats the whole word as the header length.
    assert_eq!(buf[4], 0);
    let header = std::str::from_utf8(&buf[8..]).unwrap();
    assert!(header.contains(r#""extFields":{"offset":"5"}"#), "{header}");
    assert!(header.contains(r#""opaque":8"#));
}
