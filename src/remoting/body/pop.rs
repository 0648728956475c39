//! POP bodies (RocketMQ 5): BATCH_ACK_MESSAGE (200151), the acks of many popped messages in one
//! request, as RocketMQ's proxy sends them with `enableBatchAck`.
//!
//! Each [`BatchAck`] names one queue, the queue offset of the pop's checkpoint (`so`) and a bit set
//! of the offsets acked, relative to it: bit `i` acks offset `so + i`. Keys are fastjson's short
//! names (`c`, `t`, `r`, `so`, `q`, `rq`, `pt`, `it`, `b`); the long names are accepted too, as
//! Java accepts both. The bit set is Java's `BitSet.toByteArray()` (little-endian: bit `i` is bit
//! `i % 8` of byte `i / 8`), written by fastjson as a Base64 string; a JSON array of byte values is
//! accepted as well.

use std::fmt;

use base64::Engine;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::lenient::{lenient_i32, lenient_i64, null_as_empty, null_as_empty_string};
use super::{parse_json, to_json, BodyError};

/// BATCH_ACK_MESSAGE (200151) request body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchAckMessageRequestBody {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub acks: Vec<BatchAck>,
    #[serde(default, deserialize_with = "null_as_empty_string")]
    pub broker_name: String,
}

impl BatchAckMessageRequestBody {
    pub fn parse(body: &[u8]) -> Result<BatchAckMessageRequestBody, BodyError> {
        parse_json("batch ack", body)
    }

    /// fastjson's form (short keys, the bit set in Base64).
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

/// The acks of one pop on one queue.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct BatchAck {
    #[serde(
        rename = "b",
        alias = "bitSet",
        default,
        deserialize_with = "bit_set_bytes",
        serialize_with = "base64_bytes"
    )]
    pub bit_set: Vec<u8>,
    #[serde(
        rename = "c",
        alias = "consumerGroup",
        default,
        deserialize_with = "null_as_empty_string"
    )]
    pub consumer_group: String,
    /// The invisible time of the pop (ms).
    #[serde(
        rename = "it",
        alias = "invisibleTime",
        default,
        deserialize_with = "lenient_i64"
    )]
    pub invisible_time_ms: i64,
    /// The pop time the receipts carry (ms).
    #[serde(
        rename = "pt",
        alias = "popTime",
        default,
        deserialize_with = "lenient_i64"
    )]
    pub pop_time_ms: i64,
    #[serde(rename = "q", alias = "queueId", deserialize_with = "lenient_i32")]
    pub queue_id: i32,
    /// "0" for the topic itself, "1" and "2" for Java's POP retry topics (v1, v2).
    #[serde(
        rename = "r",
        alias = "retry",
        default,
        deserialize_with = "null_as_empty_string"
    )]
    pub retry: String,
    #[serde(
        rename = "rq",
        alias = "reviveQueueId",
        default,
        deserialize_with = "lenient_i32"
    )]
    pub revive_queue_id: i32,
    /// The queue offset bit 0 stands for.
    #[serde(
        rename = "so",
        alias = "startOffset",
        default,
        deserialize_with = "lenient_i64"
    )]
    pub start_offset: i64,
    #[serde(
        rename = "t",
        alias = "topic",
        default,
        deserialize_with = "null_as_empty_string"
    )]
    pub topic: String,
}

impl BatchAck {
    /// The topic the acked messages were popped from (Java's `ExtraInfoUtil.getRealTopic`); `None`
    /// for a `retry` value that is none of "0", "1", "2" (an empty one counts as "0").
    pub fn real_topic(&self) -> Option<String> {
        match self.retry.as_str() {
            "" | "0" => Some(self.topic.clone()),
            "1" => Some(format!("%RETRY%{}_{}", self.consumer_group, self.topic)),
            "2" => Some(format!("%RETRY%{}+{}", self.consumer_group, self.topic)),
            _ => None,
        }
    }

    /// The bits set, in order, as offsets from `start_offset`, stopping before `limit` bits.
    pub fn set_bits(&self, limit: u64) -> impl Iterator<Item = u64> + '_ {
        set_bits(&self.bit_set, limit)
    }
}

/// The indexes of the bits set in `bytes` (Java `BitSet.toByteArray()` order), those below
/// `limit`, ascending.
pub fn set_bits(bytes: &[u8], limit: u64) -> impl Iterator<Item = u64> + '_ {
    bytes
        .iter()
        .enumerate()
        .take_while(move |(i, _)| (*i as u64) * 8 < limit)
        .flat_map(|(i, b)| {
            (0..8u64)
                .filter(move |k| b >> k & 1 == 1)
                .map(move |k| i as u64 * 8 + k)
        })
        .filter(move |bit| *bit < limit)
}

fn base64_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A Base64 string (fastjson's `byte[]`), an array of byte values, or null (no bits).
fn bit_set_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a Base64 string or an array of bytes")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .map_err(|e| E::custom(format!("bit set is not Base64: {e}")))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element::<i16>()? {
                // Java bytes are signed.
                out.push(b as u8);
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<u8>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxys_body_parses() {
        // What fastjson writes for a BatchAck acking offsets 5, 6 and 14 from checkpoint 5
        // (bits 0, 1, 9: bytes 0x03 0x02, "AwI=").
        let raw = br#"{"acks":[{"b":"AwI=","c":"g1","it":30000,"pt":1700000000000,"q":2,"r":"0","rq":0,"so":5,"t":"T"}],"brokerName":"broker-a"}"#;
        let body = BatchAckMessageRequestBody::parse(raw).unwrap();
        assert_eq!(body.broker_name, "broker-a");
        let a = &body.acks[0];
        assert_eq!((a.consumer_group.as_str(), a.topic.as_str()), ("g1", "T"));
        assert_eq!(
            (a.queue_id, a.start_offset, a.pop_time_ms),
            (2, 5, 1_700_000_000_000)
        );
        assert_eq!(a.set_bits(u64::MAX).collect::<Vec<_>>(), vec![0, 1, 9]);
        assert_eq!(a.real_topic().as_deref(), Some("T"));
        assert_eq!(
            BatchAckMessageRequestBody::parse(body.to_json().as_bytes()).unwrap(),
            body
        );
    }

    #[test]
    fn long_names_and_byte_arrays_parse() {
        let raw = br#"{"acks":[{"bitSet":[-128],"consumerGroup":"g","queueId":"1","startOffset":"10","popTime":7,"retry":"1","topic":"T"}]}"#;
        let a = &BatchAckMessageRequestBody::parse(raw).unwrap().acks[0];
        assert_eq!(a.set_bits(u64::MAX).collect::<Vec<_>>(), vec![7]);
        assert_eq!((a.queue_id, a.start_offset), (1, 10));
        assert_eq!(a.real_topic().as_deref(), Some("%RETRY%g_T"));
    }

    #[test]
    fn retry_values_name_the_topic() {
        let mut a = BatchAck {
            consumer_group: "g".into(),
            topic: "T".into(),
            ..BatchAck::default()
        };
        for (retry, want) in [
            ("", Some("T")),
            ("0", Some("T")),
            ("1", Some("%RETRY%g_T")),
            ("2", Some("%RETRY%g+T")),
            ("x", None),
        ] {
            a.retry = retry.into();
            assert_eq!(a.real_topic().as_deref(), want, "{retry:?}");
        }
    }

    #[test]
    fn bits_stop_at_the_limit() {
        let bytes = [0xffu8, 0xff, 0xff];
        assert_eq!(set_bits(&bytes, 3).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(set_bits(&bytes, 0).count(), 0);
        assert_eq!(set_bits(&bytes, u64::MAX).count(), 24);
        assert_eq!(set_bits(&[], 10).count(), 0);
    }

    #[test]
    fn a_bad_bit_set_is_an_error() {
        let raw = br#"{"acks":[{"b":"%%%","c":"g","q":0,"t":"T"}]}"#;
        assert!(BatchAckMessageRequestBody::parse(raw).is_err());
    }
}
