//! Unit tests of the admin commands' pure parts: time formats, resend properties, trace rows.

use super::dlq::resend_properties;
use super::query::trace_rows;
use super::time::{civil_from_days, days_from_civil};
use super::*;

#[test]
fn time_formats_round_trip() {
    assert_eq!(fmt_time(0), "-");
    assert_eq!(fmt_time(1_700_000_000_123), "2023-11-14 22:13:20.123");
    assert_eq!(
        parse_timestamp("2023-11-14#22:13:20:123").unwrap(),
        1_700_000_000_123
    );
    assert_eq!(parse_timestamp("42").unwrap(), 42);
    assert!(parse_timestamp("yesterday").is_err());
    assert!(parse_timestamp("2023-11-14#22:13").is_err());
    for d in [-1000, 0, 59, 11_000, 20_000, 30_000] {
        let (y, m, dd) = civil_from_days(d);
        assert_eq!(days_from_civil(y, m, dd), d);
    }
}

#[test]
fn resend_keeps_user_properties_and_drops_bookkeeping() {
    let p = Properties::parse(
        "KEYS\u{1}k1\u{2}TAGS\u{1}A\u{2}UNIQ_KEY\u{1}U1\u{2}RETRY_TOPIC\u{1}T\u{2}ORIGIN_MESSAGE_ID\u{1}O1\u{2}REAL_TOPIC\u{1}%RETRY%g\u{2}DELAY\u{1}3\u{2}mine\u{1}v\u{2}",
    );
    let r = resend_properties(&p);
    for (k, want) in [
        ("KEYS", Some("k1")),
        ("TAGS", Some("A")),
        ("UNIQ_KEY", Some("U1")),
        ("ORIGIN_MESSAGE_ID", Some("O1")),
        ("mine", Some("v")),
        ("RETRY_TOPIC", None),
        ("REAL_TOPIC", None),
        ("DELAY", None),
    ] {
        assert_eq!(r.get(k), want, "{k}");
    }
}

#[test]
fn trace_rows_pick_the_messages_records() {
    let body = "Pub\u{1}1700000000123\u{1}DefaultRegion\u{1}pg\u{1}T\u{1}M1\u{1}tag\u{2}SubAfter\u{1}1700000000200\u{1}r\u{1}cg\u{1}M2\u{2}";
    let rows = trace_rows(body, "M1");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "Pub");
    assert_eq!(rows[0][2], "pg");
}

#[test]
fn cluster_brokers_are_masters_or_with_slaves_everyone() {
    use crate::remoting::body::BrokerData;
    let b = |c: &str, n: &str, addrs: &[(i64, &str)]| BrokerData {
        cluster: c.into(),
        broker_name: n.into(),
        broker_addrs: addrs.iter().map(|(i, a)| (*i, a.to_string())).collect(),
    };
    let info = ClusterInfo {
        broker_addr_table: [
            ("a".to_string(), b("C1", "a", &[(0, "m1:1"), (1, "s1:1")])),
            ("b".to_string(), b("C1", "b", &[(1, "s2:1")])),
            ("c".to_string(), b("C2", "c", &[(0, "m3:1")])),
        ]
        .into(),
        cluster_addr_table: [
            ("C1".to_string(), vec!["a".to_string(), "b".to_string()]),
            ("C2".to_string(), vec!["c".to_string()]),
        ]
        .into(),
    };
    let addrs = |cluster, slaves| -> Vec<String> {
        brokers_of(&info, cluster, slaves)
            .into_iter()
            .map(|(_, _, a)| a)
            .collect()
    };
    assert_eq!(addrs(Some("C1"), false), ["m1:1"]);
    assert_eq!(addrs(Some("C1"), true), ["m1:1", "s1:1", "s2:1"]);
    assert_eq!(addrs(None, false), ["m1:1", "m3:1"]);
    assert_eq!(addrs(Some("C3"), true), Vec::<String>::new());
}
