//! Unit tests of the frame codec: worked examples from the protocol doc, lenient input, limits.

use bytes::BytesMut;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn frame(header: &[u8], body: &[u8], type_byte: u8) -> BytesMut {
    let mut b = BytesMut::new();
    b.extend_from_slice(&((4 + header.len() + body.len()) as u32).to_be_bytes());
    b.extend_from_slice(&(((type_byte as u32) << 24) | header.len() as u32).to_be_bytes());
    b.extend_from_slice(header);
    b.extend_from_slice(body);
    b
}

#[test]
fn java_route_query_json_example_round_trips_byte_for_byte() {
    let header = br#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":409}"#;
    assert_eq!(header.len(), 0x83);
    let mut buf = frame(header, b"", 0);
    let wire = buf.to_vec();
    let cmd = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap();
    assert!(buf.is_empty());
    assert_eq!(cmd.code, 105);
    assert_eq!(cmd.opaque, 3);
    assert_eq!(cmd.ext("topic"), Some("TopicTest"));
    assert_eq!(cmd.language, "JAVA");
    assert_eq!(cmd.version, 409);
    assert_eq!(cmd.remark, None);
    assert_eq!(encode_to_vec(&cmd), wire);
}

#[test]
fn java_route_query_binary_example_round_trips_byte_for_byte() {
    let wire = hex(
        "0000002d 01000029 0069 00 0199 00000003 00000000 00000000 00000014 0005 746f706963 \
         00000009 546f70696354657374",
    );
    let mut buf = BytesMut::from(&wire[..]);
    let cmd = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap();
    assert_eq!(cmd.serialize_type, SerializeType::RocketMq);
    assert_eq!(cmd.code, 105);
    assert_eq!(cmd.language, "JAVA");
    assert_eq!(cmd.version, 409);
    assert_eq!(cmd.opaque, 3);
    assert_eq!(
        cmd.ext_fields.to_vec(),
        vec![("topic".into(), "TopicTest".into())]
    );
    assert_eq!(encode_to_vec(&cmd), wire);
}

#[test]
fn lenient_json_input() {
    let header =
        br#"{"code":"10","language":"CPP","version":63,"opaque":"7","flag":0,"remark":null,
        "extFields":{"queueId":3,"batch":false,"ratio":1.5,"nested":{"a":[1,"x"]},"gone":null},
        "unknown":{"x":[1,2,3]},"serializeTypeCurrentRPC":"JSON"}
"#;
    let mut buf = frame(header, b"body", 0);
    let cmd = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap();
    assert_eq!(cmd.code, 10);
    assert_eq!(cmd.opaque, 7);
    assert_eq!(cmd.language, "CPP");
    assert_eq!(cmd.remark, None);
    assert_eq!(
        cmd.ext_fields.to_vec(),
        vec![
            ("queueId".to_string(), "3".to_string()),
            ("batch".to_string(), "false".to_string()),
            ("ratio".to_string(), "1.5".to_string()),
            ("nested".to_string(), r#"{"a":[1,"x"]}"#.to_string()),
        ]
    );
    assert_eq!(&cmd.body[..], b"body");
}

#[test]
fn minimal_json_header() {
    let mut buf = frame(br#"{"code":34}"#, b"", 0);
    let cmd = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap();
    assert_eq!(cmd.code, 34);
    assert!(cmd.ext_fields.is_empty());
    assert_eq!(cmd.language, "OTHER");
}

#[test]
fn bad_json_is_an_error() {
    for h in [
        &b"{"[..],
        b"[]",
        b"{\"code\":\"x\"}",
        b"{\"code\":99999999999}",
        b"{\"extFields\":\"s\"}",
        b"{} trailing",
        b"\xff\xfe",
    ] {
        let mut buf = frame(h, b"", 0);
        assert!(
            matches!(
                decode_frame(&mut buf, FRAME_MAX_BYTES),
                Err(DecodeError::BadJson(_))
            ),
            "{:?}",
            String::from_utf8_lossy(h)
        );
    }
}

#[test]
fn need_more_bytes_is_none() {
    let cmd = RemotingCommand::request(codes::request::HEART_BEAT)
        .with_opaque(9)
        .with_body(&b"{}"[..]);
    let wire = encode_to_vec(&cmd);
    for cut in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..cut]);
        assert_eq!(
            decode_frame(&mut buf, FRAME_MAX_BYTES),
            Ok(None),
            "cut {cut}"
        );
        assert_eq!(buf.len(), cut);
    }
}

#[test]
fn limits_are_checked_before_buffering() {
    // A length word announcing 1 GiB is refused with only 4 bytes buffered.
    let mut buf = BytesMut::from(&(1u32 << 30).to_be_bytes()[..]);
    assert_eq!(
        decode_frame(&mut buf, FRAME_MAX_BYTES),
        Err(DecodeError::FrameTooLarge {
            len: (1 << 30) + 4,
            max: FRAME_MAX_BYTES
        })
    );
    // Exactly at the limit is fine (frame length includes the length word).
    let mut buf = BytesMut::from(&((FRAME_MAX_BYTES - 4) as u32).to_be_bytes()[..]);
    assert_eq!(decode_frame(&mut buf, FRAME_MAX_BYTES), Ok(None));
    // Header longer than the frame, detected from the 8-byte prefix.
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&10u32.to_be_bytes());
    buf.extend_from_slice(&7u32.to_be_bytes());
    assert_eq!(
        decode_frame(&mut buf, FRAME_MAX_BYTES),
        Err(DecodeError::BadHeaderLength {
            total: 10,
            header: 7
        })
    );
    // Total too small for the header-length word.
    let mut buf = BytesMut::from(&3u32.to_be_bytes()[..]);
    assert!(matches!(
        decode_frame(&mut buf, FRAME_MAX_BYTES),
        Err(DecodeError::BadHeaderLength { total: 3, .. })
    ));
    // Unknown serialize type.
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&10u32.to_be_bytes());
    buf.extend_from_slice(&0x0200_0002u32.to_be_bytes());
    assert_eq!(
        decode_frame(&mut buf, FRAME_MAX_BYTES),
        Err(DecodeError::UnknownSerializeType(2))
    );
}

#[test]
fn response_copies_opaque_and_serialize_type() {
    let mut req = RemotingCommand::request(codes::request::SEND_MESSAGE_V2)
        .with_opaque(77)
        .with_serialize_type(SerializeType::RocketMq);
    req.language = "CPP".into();
    req.version = 63;
    let resp = req.response(codes::response::SUCCESS);
    assert_eq!(resp.opaque, 77);
    assert_eq!(resp.serialize_type, SerializeType::RocketMq);
    assert!(resp.is_response());
    assert!(!resp.is_oneway());
    assert_eq!(resp.language, "JAVA");
    assert_eq!(resp.version, OUR_VERSION);
    assert!(req.clone().with_oneway().is_oneway());
}

#[test]
fn set_ext_replaces() {
    let mut c = RemotingCommand::request(1);
    c.set_ext("a", 1);
    c.set_ext("b", "x");
    c.set_ext("a", true);
    assert_eq!(
        c.ext_fields.to_vec(),
        vec![("a".into(), "true".into()), ("b".into(), "x".into())]
    );
    assert_eq!(c.remove_ext("a").as_deref(), Some("true"));
    assert_eq!(c.ext("a"), None);
}

#[test]
fn json_output_is_strict_and_escaped() {
    let mut c = RemotingCommand::request(0)
        .with_remark("line\n\"q\"\u{1}é")
        .with_opaque(-5);
    c.flag = FLAG_RESPONSE;
    c.set_ext("queueOffset", 12);
    let wire = encode_to_vec(&c);
    let header = std::str::from_utf8(&wire[8..]).unwrap();
    assert_eq!(
        header,
        r#"{"code":0,"extFields":{"queueOffset":"12"},"flag":1,"language":"JAVA","opaque":-5,"remark":"line\n\"q\"\u0001é","serializeTypeCurrentRPC":"JSON","version":409}"#
    );
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap(), c);
}

#[test]
fn binary_header_garbage_is_an_error() {
    // remark length points past the end.
    let mut h = Vec::new();
    h.extend_from_slice(&[0, 10, 0, 1, 0x99]);
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&100i32.to_be_bytes());
    let mut buf = frame(&h, b"", 1);
    assert!(matches!(
        decode_frame(&mut buf, FRAME_MAX_BYTES),
        Err(DecodeError::BadBinaryHeader { offset: 17, .. })
    ));
    // A truncated key inside extFields reports its absolute offset.
    let mut h = Vec::new();
    h.extend_from_slice(&[0, 10, 0, 1, 0x99]);
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&0i32.to_be_bytes());
    h.extend_from_slice(&4i32.to_be_bytes());
    h.extend_from_slice(&[0, 9, b'a', b'b']);
    let mut buf = frame(&h, b"", 1);
    assert!(matches!(
        decode_frame(&mut buf, FRAME_MAX_BYTES),
        Err(DecodeError::BadBinaryHeader { offset: 23, .. })
    ));
}

#[test]
fn two_frames_in_one_buffer() {
    let a = RemotingCommand::request(11).with_opaque(1);
    let b = RemotingCommand::request(12)
        .with_opaque(2)
        .with_serialize_type(SerializeType::RocketMq)
        .with_body(&b"xyz"[..]);
    let mut buf = BytesMut::new();
    encode_frame(&a, &mut buf);
    encode_frame(&b, &mut buf);
    assert_eq!(decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap(), a);
    assert_eq!(decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap(), b);
    assert_eq!(decode_frame(&mut buf, FRAME_MAX_BYTES), Ok(None));
}

#[test]
fn repeated_ext_keys_keep_the_last_value_in_first_position() {
    let h = br#"{"code":1,"extFields":{"a":"1","b":"2","a":"3","topic":"x","topic":"y"}}"#;
    let mut buf = frame(h, b"", 0);
    let cmd = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap();
    assert_eq!(
        cmd.ext_fields.to_vec(),
        vec![
            ("a".to_string(), "3".to_string()),
            ("b".to_string(), "2".to_string()),
            ("topic".to_string(), "y".to_string()),
        ]
    );
}
