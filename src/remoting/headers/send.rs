//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) headers and the send response
//! header (§5).

use super::{
    ext_i32, ext_i64, ext_str, non_empty, parse_bool, parse_num, HeaderError, DEFAULT_TOPIC,
};
use crate::remoting::codes::request;
use crate::remoting::RemotingCommand;

/// SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMessageHeader {
    pub producer_group: String,
    pub topic: String,
    pub default_topic: String,
    pub default_topic_queue_nums: i32,
    /// `< 0`: the broker picks a queue.
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp_ms: i64,
    pub flag: i32,
    /// Properties string (§9.3); for batches, the batch-level properties.
    pub properties: String,
    pub reconsume_times: i32,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
    pub batch: bool,
}

/// Field keys of one send-header dialect.
struct SendKeys {
    producer_group: &'static str,
    topic: &'static str,
    default_topic: &'static str,
    default_topic_queue_nums: &'static str,
    queue_id: &'static str,
    sys_flag: &'static str,
    born_timestamp: &'static str,
    flag: &'static str,
    properties: &'static str,
    reconsume_times: &'static str,
    unit_mode: &'static str,
    max_reconsume_times: &'static str,
    batch: &'static str,
}

const V1: SendKeys = SendKeys {
    producer_group: "producerGroup",
    topic: "topic",
    default_topic: "defaultTopic",
    default_topic_queue_nums: "defaultTopicQueueNums",
    queue_id: "queueId",
    sys_flag: "sysFlag",
    born_timestamp: "bornTimestamp",
    flag: "flag",
    properties: "properties",
    reconsume_times: "reconsumeTimes",
    unit_mode: "unitMode",
    max_reconsume_times: "maxReconsumeTimes",
    batch: "batch",
};

const V2: SendKeys = SendKeys {
    producer_group: "a",
    topic: "b",
    default_topic: "c",
    default_topic_queue_nums: "d",
    queue_id: "e",
    sys_flag: "f",
    born_timestamp: "g",
    flag: "h",
    properties: "i",
    reconsume_times: "j",
    unit_mode: "k",
    max_reconsume_times: "l",
    batch: "m",
};

/// V1 names in [`SendKeys`] order (index = V2 letter - 'a').
const V1_KEYS: [&str; 13] = [
    "producerGroup",
    "topic",
    "defaultTopic",
    "defaultTopicQueueNums",
    "queueId",
    "sysFlag",
    "bornTimestamp",
    "flag",
    "properties",
    "reconsumeTimes",
    "unitMode",
    "maxReconsumeTimes",
    "batch",
];
const V2_KEYS: [&str; 13] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
];

/// The two key sets of a send header: V1 long names (`topic`) or V2 letters (`b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendDialect {
    V1,
    V2,
}

/// The one rule for a send header's dialect. Codes 10 and 324 mean V1 names, 310, 320 and 325 mean
/// V2 letters;
/// because clients are not uniform (§14.15), a request falls back to the other dialect when its own
/// topic key is absent and the other's is present. With neither, the code's own dialect is kept, so
/// the "missing field" error names the key the client should have sent.
///
/// | code | `topic` (V1) | `b` (V2) | dialect |
/// |---|---|---|---|
/// | SEND_MESSAGE (10), SEND_REPLY_MESSAGE (324) | present | any | V1 |
/// | SEND_MESSAGE (10), SEND_REPLY_MESSAGE (324) | absent | present | V2 |
/// | SEND_MESSAGE (10), SEND_REPLY_MESSAGE (324) | absent | absent | V1 |
/// | 310, 320, SEND_REPLY_MESSAGE_V2 (325) | any | present | V2 |
/// | 310, 320, SEND_REPLY_MESSAGE_V2 (325) | present | absent | V1 |
/// | 310, 320, SEND_REPLY_MESSAGE_V2 (325) | absent | absent | V2 |
pub fn send_dialect(code: i32, has_v1_topic: bool, has_v2_topic: bool) -> SendDialect {
    let own_is_v1 = matches!(code, request::SEND_MESSAGE | request::SEND_REPLY_MESSAGE);
    let (own_present, other_present) = if own_is_v1 {
        (has_v1_topic, has_v2_topic)
    } else {
        (has_v2_topic, has_v1_topic)
    };
    let use_own = own_present || !other_present;
    match (own_is_v1, use_own) {
        (true, true) | (false, false) => SendDialect::V1,
        (true, false) | (false, true) => SendDialect::V2,
    }
}

impl SendMessageHeader {
    /// Parses a send header in the dialect [`send_dialect`] picks, in one pass over extFields.
    pub fn parse(cmd: &RemotingCommand) -> Result<SendMessageHeader, HeaderError> {
        // One pass over extFields collects both dialects (the send path is the hottest header).
        let mut v1: [Option<&str>; 13] = [None; 13];
        let mut v2: [Option<&str>; 13] = [None; 13];
        for (k, v) in &cmd.ext_fields {
            let slot = match k.as_bytes() {
                [c @ b'a'..=b'm'] => &mut v2[(c - b'a') as usize],
                _ => match V1_KEYS.iter().position(|n| *n == k) {
                    Some(i) => &mut v1[i],
                    None => continue,
                },
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        let (vals, keys) = match send_dialect(cmd.code, v1[1].is_some(), v2[1].is_some()) {
            SendDialect::V2 => (&v2, &V2_KEYS),
            SendDialect::V1 => (&v1, &V1_KEYS),
        };
        let req = |i: usize| vals[i].ok_or(HeaderError::Missing { field: keys[i] });
        let num_i32 = |i: usize| vals[i].map(|v| parse_num::<i32>(keys[i], v)).transpose();
        Ok(SendMessageHeader {
            producer_group: req(0)?.to_string(),
            topic: req(1)?.to_string(),
            default_topic: vals[2].unwrap_or(DEFAULT_TOPIC).to_string(),
            default_topic_queue_nums: num_i32(3)?.unwrap_or(4),
            queue_id: parse_num(keys[4], req(4)?)?,
            sys_flag: num_i32(5)?.unwrap_or(0),
            born_timestamp_ms: parse_num(keys[6], req(6)?)?,
            flag: num_i32(7)?.unwrap_or(0),
            properties: vals[8].unwrap_or("").to_string(),
            reconsume_times: num_i32(9)?.unwrap_or(0),
            unit_mode: vals[10].is_some_and(parse_bool),
            max_reconsume_times: num_i32(11)?,
            // The C++ client sends batches as code 10 with `batch: "1"` (Java would read false and
            // store the encoded batch as one message; users expect the messages).
            batch: vals[12].is_some_and(|v| parse_bool(v) || v == "1")
                || cmd.code == request::SEND_BATCH_MESSAGE,
        })
    }

    /// Writes the header with V2 letters (what Java sends with 310/320).
    pub fn write_v2(&self, cmd: &mut RemotingCommand) {
        self.write(cmd, &V2);
    }

    /// Writes the header with V1 names (what Go sends with 10).
    pub fn write_v1(&self, cmd: &mut RemotingCommand) {
        self.write(cmd, &V1);
    }

    fn write(&self, cmd: &mut RemotingCommand, k: &SendKeys) {
        cmd.set_ext(k.producer_group, &self.producer_group);
        cmd.set_ext(k.topic, &self.topic);
        cmd.set_ext(k.default_topic, &self.default_topic);
        cmd.set_ext(k.default_topic_queue_nums, self.default_topic_queue_nums);
        cmd.set_ext(k.queue_id, self.queue_id);
        cmd.set_ext(k.sys_flag, self.sys_flag);
        cmd.set_ext(k.born_timestamp, self.born_timestamp_ms);
        cmd.set_ext(k.flag, self.flag);
        if !self.properties.is_empty() {
            cmd.set_ext(k.properties, &self.properties);
        }
        cmd.set_ext(k.reconsume_times, self.reconsume_times);
        cmd.set_ext(k.unit_mode, self.unit_mode);
        if let Some(m) = self.max_reconsume_times {
            cmd.set_ext(k.max_reconsume_times, m);
        }
        cmd.set_ext(k.batch, self.batch);
    }
}

/// Send response header (§5.5): mandatory for SUCCESS, FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT and
/// SLAVE_NOT_AVAILABLE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResultHeader {
    /// Offset msgId; comma-joined for batches.
    pub msg_id: String,
    pub queue_id: i32,
    /// Queue offset of the (first) stored message.
    pub queue_offset: i64,
    pub transaction_id: Option<String>,
}

impl SendResultHeader {
    /// Writes the fields plus `MSG_REGION=DefaultRegion` and `TRACE_ON=true`, as the Java broker does.
    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("msgId", &self.msg_id);
        cmd.set_ext("queueId", self.queue_id);
        cmd.set_ext("queueOffset", self.queue_offset);
        if let Some(t) = &self.transaction_id {
            cmd.set_ext("transactionId", t);
        }
        cmd.set_ext("MSG_REGION", "DefaultRegion");
        cmd.set_ext("TRACE_ON", "true");
    }

    pub fn parse(cmd: &RemotingCommand) -> Result<SendResultHeader, HeaderError> {
        Ok(SendResultHeader {
            msg_id: ext_str(cmd, "msgId")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            queue_offset: ext_i64(cmd, "queueOffset")?,
            transaction_id: non_empty(cmd.ext("transactionId")),
        })
    }
}
