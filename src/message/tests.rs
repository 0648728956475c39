use super::*;
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn sample<'a>(body: &'a [u8], topic: &'a str, props: &'a str) -> NewRecord<'a> {
    NewRecord {
        queue_id: 3,
        flag: -7,
        sys_flag: sys_flag::TRANSACTION_PREPARED,
        born_timestamp_ms: 1_700_000_000_123,
        born_host: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 54321),
        store_host: SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 2), 10911),
        reconsume_times: 2,
        prepared_tx_offset: 99,
        body,
        topic,
        properties: props,
    }
}

#[test]
fn java_hash_examples() {
    assert_eq!(java_hash("TagA"), 2_598_919);
    assert_eq!(java_hash("*"), 42);
    assert_eq!(java_hash(""), 0);
    // Wrapping, and UTF-16 code units (a surrogate pair counts twice).
    assert_eq!(java_hash("polygenelubricants"), i32::MIN);
    assert_eq!(java_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    assert_eq!(tags_code("T", Some("TagA")), 2_598_919);
    assert_eq!(tags_code("T", Some("")), 0);
    assert_eq!(tags_code("T", None), 0);
    assert_eq!(
        tags_code("T", Some("polygenelubricants")),
        i64::from(i32::MIN)
    );
}

#[test]
fn encode_layout_matches_protocol_table() {
    let rec = sample(b"hello", "TopicTest", "TAGS\u{1}TagA");
    let mut out = BytesMut::new();
    encode_record(&rec, &mut out).unwrap();
    assert_eq!(out.len(), record_size(5, 9, 9));
    assert_eq!(&out[0..4], &(out.len() as u32).to_be_bytes());
    assert_eq!(&out[4..8], &MAGIC_V1.to_be_bytes());
    assert_eq!(&out[8..12], &body_crc(b"hello").to_be_bytes());
    assert_eq!(&out[pos::QUEUE_ID..pos::QUEUE_ID + 4], &3u32.to_be_bytes());
    assert_eq!(
        &out[pos::BORN_HOST..pos::BORN_HOST + 8],
        &[10, 0, 0, 1, 0, 0, 0xD4, 0x31]
    );
    assert_eq!(
        &out[pos::BODY_LENGTH..pos::BODY_LENGTH + 4],
        &5u32.to_be_bytes()
    );
    assert_eq!(&out[88..93], b"hello");
    assert_eq!(out[93], 9);
    assert_eq!(&out[94..103], b"TopicTest");
    assert_eq!(&out[103..105], &9u16.to_be_bytes());
    patch_record(&mut out, 7, 0x0001_0000_0000_0040, 1_700_000_000_999);
    let v = decode_record(&out, true).unwrap();
    assert_eq!(v.queue_offset, 7);
    assert_eq!(v.physical_offset, 0x0001_0000_0000_0040);
    assert_eq!(v.store_timestamp_ms, 1_700_000_000_999);
    assert_eq!(v.body, b"hello");
    assert_eq!(v.topic, "TopicTest");
    assert_eq!(v.properties, "TAGS\u{1}TagA");
    assert_eq!(v.sys_flag, sys_flag::TRANSACTION_PREPARED);
    assert_eq!(v.born_host, rec.born_host);
    assert_eq!(v.store_host, rec.store_host);
}

#[test]
fn decode_rejects_bad_input() {
    let mut out = BytesMut::new();
    encode_record(&sample(b"body", "T", ""), &mut out).unwrap();
    let n = out.len();
    assert!(matches!(
        decode_record(&out[..n - 1], true),
        Err(RecordError::Truncated { .. })
    ));
    let mut bad = out.clone();
    bad[88] ^= 1;
    assert!(matches!(
        decode_record(&bad, true),
        Err(RecordError::ChecksumMismatch { .. })
    ));
    assert!(decode_record(&bad, false).is_ok());
    let mut bad = out.clone();
    bad[5] = 0;
    assert!(matches!(
        decode_record(&bad, true),
        Err(RecordError::BadMagic { .. })
    ));
    let mut bad = out.clone();
    bad[0..4].copy_from_slice(&(n as u32 + 1).to_be_bytes());
    bad.extend_from_slice(&[0]);
    assert!(matches!(
        decode_record(&bad, true),
        Err(RecordError::BadSize { .. })
    ));
    let long = "x".repeat(128);
    assert_eq!(
        encode_record(&sample(b"", &long, ""), &mut BytesMut::new()),
        Err(RecordError::TopicTooLong { len: 128 })
    );
}

#[test]
fn offset_msg_id_round_trip() {
    let host = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 10911);
    let id = offset_msg_id(host, 0x0001_0000_0000_1234);
    assert_eq!(id, "7F00000100002A9F0001000000001234");
    assert_eq!(
        decode_offset_msg_id(&id),
        Some((host, 0x0001_0000_0000_1234))
    );
    assert_eq!(
        decode_offset_msg_id(&id.to_lowercase()),
        Some((host, 0x0001_0000_0000_1234))
    );
    assert_eq!(decode_offset_msg_id("7F00"), None);
    assert_eq!(
        decode_offset_msg_id("ZZ00000100002A9F0001000000001234"),
        None
    );
}

proptest! {
    #[test]
    fn record_round_trip(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        topic in "[A-Za-z0-9%_-]{1,127}",
        props in "[a-zA-Z \u{1}\u{2}]{0,200}",
        queue_id in any::<u32>(),
        flag in any::<i32>(),
        qo in any::<u64>(),
        po in any::<u64>(),
        ts in any::<i64>(),
        ip in any::<[u8; 4]>(),
        port in any::<u16>(),
    ) {
        let mut rec = sample(&body, &topic, &props);
        rec.queue_id = queue_id;
        rec.flag = flag;
        rec.born_host = SocketAddrV4::new(ip.into(), port);
        let mut out = BytesMut::new();
        encode_record(&rec, &mut out).unwrap();
        prop_assert_eq!(out.len(), record_size(body.len(), topic.len(), props.len()));
        patch_record(&mut out, qo, po, ts);
        let v = decode_record(&out, true).unwrap();
        prop_assert_eq!(v.body, &body[..]);
        prop_assert_eq!(v.topic, &topic[..]);
        prop_assert_eq!(v.properties, &props[..]);
        prop_assert_eq!(v.queue_id, queue_id);
        prop_assert_eq!(v.flag, flag);
        prop_assert_eq!(v.queue_offset, qo);
        prop_assert_eq!(v.physical_offset, po);
        prop_assert_eq!(v.store_timestamp_ms, ts);
        prop_assert_eq!(v.born_host, rec.born_host);
        prop_assert_eq!(v.total_size as usize, out.len());
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_record(&bytes, true);
    }

    #[test]
    fn properties_round_trip(entries in proptest::collection::vec(("[A-Z_]{1,8}", "[a-z0-9 ]{1,8}"), 0..8)) {
        let mut p = properties::Properties::default();
        for (k, v) in &entries {
            p.set(k, v);
        }
        let wire = p.to_wire();
        let q = properties::Properties::parse(&wire);
        prop_assert_eq!(&q, &p);
        for (k, v) in &p.entries {
            prop_assert_eq!(properties::find(&wire, k), Some(v));
        }
    }
}

#[test]
fn fnv1a_64_reference_values() {
    // Published FNV-1a 64 test vectors; parts concatenate.
    assert_eq!(fnv1a_64(&[]), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a_64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a_64(&[b"foobar"]), 0x8594_4171_f739_67e8);
    assert_eq!(fnv1a_64(&[b"foo", b"", b"bar"]), fnv1a_64(&[b"foobar"]));
}
