//! REGISTER_BROKER (103) body (§21.1): what a broker tells a NameServer it serves.
//!
//! Three forms arrive, chosen by the sender:
//! - JSON `RegisterBrokerBody` (`{"filterServerList":[],"topicConfigSerializeWrapper":{...}}`), what
//!   every broker sends by default and what Bolide sends;
//! - the same content zlib-compressed in a binary layout (header `compressed=true`, Java broker
//!   `compressedRegister=true`): int32 length + DataVersion JSON; int32 topic count; per topic int32
//!   length + `"name read write perm filterType [attributes]"`; int32 length + filter server JSON
//!   (J5 adds static-topic mappings after it, which we do not read). Ints big-endian. The text form
//!   carries neither `topicSysFlag` nor `order`;
//! - a bare `TopicConfigSerializeWrapper`, from brokers older than V3_0_11 (request version < 39).
//!
//! Pure: bytes in, values out. Inflating is bounded by [`REGISTER_BODY_INFLATED_MAX_BYTES`].

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

use super::lenient::null_as_empty;
use super::{
    parse_json, to_json, BodyError, DataVersion, TopicConfig, TopicConfigSerializeWrapper,
};

/// Request version of V3_0_11 (`MQVersion.Version` ordinal): older brokers send a bare wrapper.
pub const REGISTER_BODY_VERSION_MIN: i32 = 39;
/// Most bytes a compressed registration may inflate to (a table of ~100k topics).
pub const REGISTER_BODY_INFLATED_MAX_BYTES: u64 = 64 << 20;

/// REGISTER_BROKER body: the broker's topic table and its version.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBrokerBody {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub filter_server_list: Vec<String>,
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

impl RegisterBrokerBody {
    pub fn new(
        data_version: DataVersion,
        topics: BTreeMap<String, TopicConfig>,
    ) -> RegisterBrokerBody {
        RegisterBrokerBody {
            filter_server_list: Vec::new(),
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version,
                topic_config_table: topics,
            },
        }
    }

    /// The JSON form (what Bolide sends).
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    /// Reads any of the three forms (see the module comment). An empty body is an empty table.
    pub fn parse(
        body: &[u8],
        compressed: bool,
        request_version: i32,
    ) -> Result<RegisterBrokerBody, BodyError> {
        if body.is_empty() {
            return Ok(RegisterBrokerBody::default());
        }
        if request_version < REGISTER_BODY_VERSION_MIN {
            let w = TopicConfigSerializeWrapper::parse(body)?;
            return Ok(RegisterBrokerBody {
                filter_server_list: Vec::new(),
                topic_config_serialize_wrapper: w,
            });
        }
        if compressed {
            return parse_compressed(body);
        }
        parse_json("register broker", body)
    }
}

fn bad(reason: &'static str) -> BodyError {
    BodyError::Compressed {
        body: "register broker",
        reason,
    }
}

fn parse_compressed(body: &[u8]) -> Result<RegisterBrokerBody, BodyError> {
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(body)
        .take(REGISTER_BODY_INFLATED_MAX_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|_| bad("not a zlib stream"))?;
    if raw.len() as u64 > REGISTER_BODY_INFLATED_MAX_BYTES {
        return Err(bad("inflates past 64 MiB"));
    }
    let mut r = Reader { buf: &raw, at: 0 };
    let version = r.chunk()?;
    let data_version: DataVersion = parse_json("register broker data version", version)?;
    let count = r.int()?;
    let mut topics = BTreeMap::new();
    for _ in 0..count {
        let text = std::str::from_utf8(r.chunk()?).map_err(|_| bad("topic entry is not UTF-8"))?;
        let t = parse_topic_text(text).ok_or(bad("topic entry has fewer than 5 fields"))?;
        topics.insert(t.topic_name.clone(), t);
    }
    let filter_server_list = serde_json::from_slice(r.chunk()?).unwrap_or_default();
    Ok(RegisterBrokerBody {
        filter_server_list,
        topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
            data_version,
            topic_config_table: topics,
        },
    })
}

/// Java `TopicConfig.decode`: `"name read write perm filterType [attributes JSON]"`.
fn parse_topic_text(text: &str) -> Option<TopicConfig> {
    let mut f = text.split(' ');
    let name = f.next()?;
    let read = f.next()?.parse().ok()?;
    let write = f.next()?.parse().ok()?;
    let perm = f.next()?.parse().ok()?;
    let filter = f.next()?;
    // Java writes `{}` or the attributes' JSON (keys and values hold no space); unreadable: none.
    let attributes = f
        .next()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    Some(TopicConfig {
        topic_name: name.to_string(),
        read_queue_nums: read,
        write_queue_nums: write,
        perm,
        topic_filter_type: filter.to_string(),
        topic_sys_flag: 0,
        order: false,
        attributes,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn int(&mut self) -> Result<u32, BodyError> {
        let b = self
            .buf
            .get(self.at..self.at + 4)
            .ok_or(bad("truncated length"))?;
        self.at += 4;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn chunk(&mut self) -> Result<&'a [u8], BodyError> {
        let len = self.int()? as usize;
        let b = self
            .buf
            .get(self.at..self.at.saturating_add(len))
            .ok_or(bad("truncated entry"))?;
        self.at += len;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn be(n: usize) -> [u8; 4] {
        (n as u32).to_be_bytes()
    }

    /// The layout Java's `RegisterBrokerBody.encode(true)` writes, built by hand.
    fn compressed(version: &str, topics: &[&str], filters: &str) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&be(version.len()));
        raw.extend_from_slice(version.as_bytes());
        raw.extend_from_slice(&be(topics.len()));
        for t in topics {
            raw.extend_from_slice(&be(t.len()));
            raw.extend_from_slice(t.as_bytes());
        }
        raw.extend_from_slice(&be(filters.len()));
        raw.extend_from_slice(filters.as_bytes());
        raw.extend_from_slice(&be(0)); // J5: no static-topic mappings
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&raw).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn java_json_form_with_j5_extras() {
        let body = br#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},"mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":1},"topicConfigTable":{"T1":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T1","topicSysFlag":0,"writeQueueNums":4}},"topicQueueMappingInfoMap":{}}}"#;
        let b = RegisterBrokerBody::parse(body, false, 500).unwrap();
        let w = &b.topic_config_serialize_wrapper;
        assert_eq!(w.data_version.counter, 3);
        assert_eq!(w.topic_config_table["T1"].write_queue_nums, 4);
        let again = RegisterBrokerBody::parse(b.to_json().as_bytes(), false, 500).unwrap();
        assert_eq!(again, b, "our JSON reads back the same");
    }

    #[test]
    fn compressed_form() {
        let body = compressed(
            r#"{"counter":7,"stateVersion":0,"timestamp":5}"#,
            &[
                "A 8 8 6 SINGLE_TAG {}",
                "B 2 4 4 MULTI_TAG",
                r#"C 1 1 6 SINGLE_TAG {"message.type":"FIFO"}"#,
            ],
            "[]",
        );
        let b = RegisterBrokerBody::parse(&body, true, 500).unwrap();
        let w = &b.topic_config_serialize_wrapper;
        assert_eq!(w.data_version.counter, 7);
        assert_eq!(w.topic_config_table.len(), 3);
        let t = &w.topic_config_table["B"];
        assert_eq!((t.read_queue_nums, t.write_queue_nums, t.perm), (2, 4, 4));
        assert_eq!(t.topic_filter_type, "MULTI_TAG");
        assert!(t.attributes.is_empty());
        let c = &w.topic_config_table["C"].attributes;
        assert_eq!(c.get("message.type").map(String::as_str), Some("FIFO"));
    }

    #[test]
    fn bad_compressed_bodies_are_errors_not_panics() {
        assert!(RegisterBrokerBody::parse(b"not zlib", true, 500).is_err());
        let body = compressed(r#"{"counter":1,"timestamp":1}"#, &["onlyname"], "[]");
        assert!(RegisterBrokerBody::parse(&body, true, 500).is_err());
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&[0, 0, 0, 200, b'{']).unwrap();
        let truncated = e.finish().unwrap();
        assert!(RegisterBrokerBody::parse(&truncated, true, 500).is_err());
    }

    #[test]
    fn old_brokers_send_a_bare_wrapper_and_empty_is_empty() {
        let body = br#"{"dataVersion":{"counter":1,"timestamp":2},"topicConfigTable":{}}"#;
        let b = RegisterBrokerBody::parse(body, false, 10).unwrap();
        assert_eq!(b.topic_config_serialize_wrapper.data_version.counter, 1);
        assert_eq!(
            RegisterBrokerBody::parse(b"", false, 500).unwrap(),
            RegisterBrokerBody::default()
        );
    }
}
