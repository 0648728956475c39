//! Typed custom headers (the `extFields` of a command) for the codes the broker serves
//! (remoting-protocol.md §3, §5, §6, §7, §8, §11, §12, §13).
//!
//! Each request header has `parse(&RemotingCommand)` (lenient where real clients differ, strict
//! about required fields) and `write_to(&mut RemotingCommand)` (what a Java 4.9.8 client sends; used
//! by our load generator and tests). Response headers the broker emits have `write_to` and `parse`.
//!
//! Number parsing follows Java `Integer.parseInt`/`Long.parseLong` (surrounding whitespace is
//! tolerated); booleans follow `Boolean.parseBoolean`: `"true"` in any case is true, anything else
//! (including C++'s `"0"`/`"1"`) is false. Errors name the extFields key as sent (`b`, not `topic`,
//! for a V2 send header).

use super::codes::request;
use super::RemotingCommand;

/// Why a command's custom header is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("required header field `{field}` is missing")]
    Missing { field: &'static str },
    #[error("header field `{field}` has invalid value {value:?}")]
    Invalid { field: &'static str, value: String },
}

/// Required text field.
pub fn ext_str<'a>(cmd: &'a RemotingCommand, key: &'static str) -> Result<&'a str, HeaderError> {
    cmd.ext(key).ok_or(HeaderError::Missing { field: key })
}

/// Required i32 field.
pub fn ext_i32(cmd: &RemotingCommand, key: &'static str) -> Result<i32, HeaderError> {
    parse_num(key, ext_str(cmd, key)?)
}

/// Required i64 field.
pub fn ext_i64(cmd: &RemotingCommand, key: &'static str) -> Result<i64, HeaderError> {
    parse_num(key, ext_str(cmd, key)?)
}

/// Boolean field with Java `Boolean.parseBoolean` semantics; absent is false.
pub fn ext_bool(cmd: &RemotingCommand, key: &'static str) -> bool {
    cmd.ext(key).is_some_and(parse_bool)
}

/// Optional text field (absent -> `None`).
pub fn opt_str<'a>(cmd: &'a RemotingCommand, key: &'static str) -> Option<&'a str> {
    cmd.ext(key)
}

/// Optional i32 field: absent -> `None`, present but not a number -> error.
pub fn opt_i32(cmd: &RemotingCommand, key: &'static str) -> Result<Option<i32>, HeaderError> {
    cmd.ext(key).map(|v| parse_num(key, v)).transpose()
}

/// Optional i64 field: absent -> `None`, present but not a number -> error.
pub fn opt_i64(cmd: &RemotingCommand, key: &'static str) -> Result<Option<i64>, HeaderError> {
    cmd.ext(key).map(|v| parse_num(key, v)).transpose()
}

/// Java `Boolean.parseBoolean`.
pub fn parse_bool(v: &str) -> bool {
    v.eq_ignore_ascii_case("true")
}

fn parse_num<T: std::str::FromStr>(field: &'static str, v: &str) -> Result<T, HeaderError> {
    v.trim().parse::<T>().map_err(|_| HeaderError::Invalid {
        field,
        value: v.to_string(),
    })
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_string)
}

/// PullSysFlag bits (§7.1).
pub mod pull_sys_flag {
    pub const COMMIT_OFFSET: i32 = 0x1;
    pub const SUSPEND: i32 = 0x2;
    pub const SUBSCRIPTION: i32 = 0x4;
    pub const CLASS_FILTER: i32 = 0x8;
    pub const LITE_PULL: i32 = 0x10;
}

/// The auto-create template topic (§3.1).
pub const DEFAULT_TOPIC: &str = "TBW102";

// ---------------------------------------------------------------------------------------------
// Send (§5)

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

impl SendMessageHeader {
    /// Parses a send header. Dialect: code 10 uses the V1 long names, 310 and 320 the V2 letters;
    /// because clients are not uniform (§14.15), any of the three codes falls back to the other
    /// dialect when its topic key is absent and the other dialect's is present.
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
                *slot = Some(v.as_str());
            }
        }
        let use_v2 = match cmd.code {
            request::SEND_MESSAGE => v1[1].is_none() && v2[1].is_some(),
            _ => v2[1].is_some() || v1[1].is_none(),
        };
        let (vals, keys) = if use_v2 {
            (&v2, &V2_KEYS)
        } else {
            (&v1, &V1_KEYS)
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

// ---------------------------------------------------------------------------------------------
// Pull (§7.1, §7.3)

/// PULL_MESSAGE (11) / LITE_PULL_MESSAGE (361) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullMessageHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub max_msg_nums: i32,
    /// [`pull_sys_flag`] bits.
    pub sys_flag: i32,
    /// Valid when `sys_flag` has [`pull_sys_flag::COMMIT_OFFSET`].
    pub commit_offset: i64,
    pub suspend_timeout_ms: i64,
    /// Valid when `sys_flag` has [`pull_sys_flag::SUBSCRIPTION`].
    pub subscription: Option<String>,
    pub sub_version: i64,
    /// `None` means TAG.
    pub expression_type: Option<String>,
}

impl PullMessageHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<PullMessageHeader, HeaderError> {
        Ok(PullMessageHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            queue_offset: ext_i64(cmd, "queueOffset")?,
            max_msg_nums: ext_i32(cmd, "maxMsgNums")?,
            sys_flag: ext_i32(cmd, "sysFlag")?,
            commit_offset: opt_i64(cmd, "commitOffset")?.unwrap_or(0),
            suspend_timeout_ms: opt_i64(cmd, "suspendTimeoutMillis")?.unwrap_or(0),
            subscription: opt_str(cmd, "subscription").map(str::to_string),
            sub_version: opt_i64(cmd, "subVersion")?.unwrap_or(0),
            expression_type: non_empty(cmd.ext("expressionType")),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("consumerGroup", &self.consumer_group);
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
        cmd.set_ext("queueOffset", self.queue_offset);
        cmd.set_ext("maxMsgNums", self.max_msg_nums);
        cmd.set_ext("sysFlag", self.sys_flag);
        cmd.set_ext("commitOffset", self.commit_offset);
        cmd.set_ext("suspendTimeoutMillis", self.suspend_timeout_ms);
        if let Some(s) = &self.subscription {
            cmd.set_ext("subscription", s);
        }
        cmd.set_ext("subVersion", self.sub_version);
        if let Some(e) = &self.expression_type {
            cmd.set_ext("expressionType", e);
        }
    }

    pub fn has_commit_offset(&self) -> bool {
        self.sys_flag & pull_sys_flag::COMMIT_OFFSET != 0
    }

    pub fn suspend(&self) -> bool {
        self.sys_flag & pull_sys_flag::SUSPEND != 0
    }

    pub fn has_subscription(&self) -> bool {
        self.sys_flag & pull_sys_flag::SUBSCRIPTION != 0
    }
}

/// Pull response header (§7.3): all four mandatory for SUCCESS, PULL_NOT_FOUND,
/// PULL_RETRY_IMMEDIATELY and PULL_OFFSET_MOVED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullResultHeader {
    pub suggest_which_broker_id: i64,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
}

impl PullResultHeader {
    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("suggestWhichBrokerId", self.suggest_which_broker_id);
        cmd.set_ext("nextBeginOffset", self.next_begin_offset);
        cmd.set_ext("minOffset", self.min_offset);
        cmd.set_ext("maxOffset", self.max_offset);
    }

    pub fn parse(cmd: &RemotingCommand) -> Result<PullResultHeader, HeaderError> {
        Ok(PullResultHeader {
            suggest_which_broker_id: opt_i64(cmd, "suggestWhichBrokerId")?.unwrap_or(0),
            next_begin_offset: ext_i64(cmd, "nextBeginOffset")?,
            min_offset: ext_i64(cmd, "minOffset")?,
            max_offset: ext_i64(cmd, "maxOffset")?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Routes (§3.1)

/// GET_ROUTEINFO_BY_TOPIC (105) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRouteInfoHeader {
    pub topic: String,
    pub accept_standard_json_only: bool,
}

impl GetRouteInfoHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<GetRouteInfoHeader, HeaderError> {
        Ok(GetRouteInfoHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            accept_standard_json_only: ext_bool(cmd, "acceptStandardJsonOnly"),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("topic", &self.topic);
        if self.accept_standard_json_only {
            cmd.set_ext("acceptStandardJsonOnly", "true");
        }
    }
}

/// Whether route/cluster JSON for this request must be standard JSON (quoted `brokerAddrs` keys):
/// request version >= 401 (V4_9_4) or `acceptStandardJsonOnly=true` (§3.1).
pub fn wants_standard_json(cmd: &RemotingCommand) -> bool {
    cmd.version >= 401 || ext_bool(cmd, "acceptStandardJsonOnly")
}

// ---------------------------------------------------------------------------------------------
// Offsets (§7.6, §7.7)

/// QUERY_CONSUMER_OFFSET (14) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConsumerOffsetHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    /// J5 `setZeroIfNotFound` (absent in 4.x).
    pub set_zero_if_not_found: Option<bool>,
}

impl QueryConsumerOffsetHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<QueryConsumerOffsetHeader, HeaderError> {
        Ok(QueryConsumerOffsetHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            set_zero_if_not_found: cmd.ext("setZeroIfNotFound").map(parse_bool),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("consumerGroup", &self.consumer_group);
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
        if let Some(z) = self.set_zero_if_not_found {
            cmd.set_ext("setZeroIfNotFound", z);
        }
    }
}

/// UPDATE_CONSUMER_OFFSET (15) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateConsumerOffsetHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    /// Next offset to consume.
    pub commit_offset: i64,
}

impl UpdateConsumerOffsetHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<UpdateConsumerOffsetHeader, HeaderError> {
        Ok(UpdateConsumerOffsetHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            commit_offset: ext_i64(cmd, "commitOffset")?,
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("consumerGroup", &self.consumer_group);
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
        cmd.set_ext("commitOffset", self.commit_offset);
    }
}

/// `topic` + `queueId`: GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueHeader {
    pub topic: String,
    pub queue_id: i32,
}

pub type GetMaxOffsetHeader = QueueHeader;
pub type GetMinOffsetHeader = QueueHeader;
pub type GetEarliestMsgStoreTimeHeader = QueueHeader;

impl QueueHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<QueueHeader, HeaderError> {
        Ok(QueueHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
    }
}

/// Which end SEARCH_OFFSET_BY_TIMESTAMP resolves to (J5 `boundaryType`, default LOWER).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoundaryType {
    /// First message with store time >= timestamp.
    #[default]
    Lower,
    /// Last message with store time <= timestamp.
    Upper,
}

/// SEARCH_OFFSET_BY_TIMESTAMP (29) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchOffsetHeader {
    pub topic: String,
    pub queue_id: i32,
    pub timestamp_ms: i64,
    pub boundary_type: BoundaryType,
}

impl SearchOffsetHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<SearchOffsetHeader, HeaderError> {
        let boundary_type = match cmd.ext("boundaryType") {
            Some(b) if b.eq_ignore_ascii_case("upper") => BoundaryType::Upper,
            _ => BoundaryType::Lower,
        };
        Ok(SearchOffsetHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            timestamp_ms: ext_i64(cmd, "timestamp")?,
            boundary_type,
        })
    }
}

/// Response header with a single `offset` (QUERY_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET, SEARCH_OFFSET).
pub fn write_offset(cmd: &mut RemotingCommand, offset: i64) {
    cmd.set_ext("offset", offset);
}

/// Reads the `offset` of a response.
pub fn parse_offset(cmd: &RemotingCommand) -> Result<i64, HeaderError> {
    ext_i64(cmd, "offset")
}

// ---------------------------------------------------------------------------------------------
// Clients, queries, admin

/// UNREGISTER_CLIENT (35) request header. Empty group strings (C++ sends `""`) are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnregisterClientHeader {
    pub client_id: String,
    pub producer_group: Option<String>,
    pub consumer_group: Option<String>,
}

impl UnregisterClientHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<UnregisterClientHeader, HeaderError> {
        Ok(UnregisterClientHeader {
            client_id: ext_str(cmd, "clientID")?.to_string(),
            producer_group: non_empty(cmd.ext("producerGroup")),
            consumer_group: non_empty(cmd.ext("consumerGroup")),
        })
    }
}

/// GET_CONSUMER_LIST_BY_GROUP (38) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupHeader {
    pub consumer_group: String,
}

impl ConsumerGroupHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ConsumerGroupHeader, HeaderError> {
        Ok(ConsumerGroupHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
        })
    }
}

/// VIEW_MESSAGE_BY_ID (33) request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewMessageByIdHeader {
    /// Physical offset from the offset msgId.
    pub offset: i64,
}

impl ViewMessageByIdHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ViewMessageByIdHeader, HeaderError> {
        Ok(ViewMessageByIdHeader {
            offset: ext_i64(cmd, "offset")?,
        })
    }
}

/// QUERY_MESSAGE (12) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryMessageHeader {
    pub topic: String,
    pub key: String,
    pub max_num: i32,
    pub begin_timestamp_ms: i64,
    pub end_timestamp_ms: i64,
    /// `_UNIQUE_KEY_QUERY`.
    pub unique_key_query: bool,
}

impl QueryMessageHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<QueryMessageHeader, HeaderError> {
        Ok(QueryMessageHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            key: ext_str(cmd, "key")?.to_string(),
            max_num: ext_i32(cmd, "maxNum")?,
            begin_timestamp_ms: ext_i64(cmd, "beginTimestamp")?,
            end_timestamp_ms: ext_i64(cmd, "endTimestamp")?,
            unique_key_query: ext_bool(cmd, "_UNIQUE_KEY_QUERY"),
        })
    }
}

/// UPDATE_AND_CREATE_TOPIC (17) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicHeader {
    pub topic: String,
    pub default_topic: String,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
    pub perm: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    pub topic_sys_flag: i32,
    pub order: bool,
}

impl CreateTopicHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<CreateTopicHeader, HeaderError> {
        Ok(CreateTopicHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            default_topic: opt_str(cmd, "defaultTopic")
                .unwrap_or(DEFAULT_TOPIC)
                .to_string(),
            read_queue_nums: ext_i32(cmd, "readQueueNums")?,
            write_queue_nums: ext_i32(cmd, "writeQueueNums")?,
            perm: ext_i32(cmd, "perm")?,
            topic_filter_type: opt_str(cmd, "topicFilterType")
                .unwrap_or("SINGLE_TAG")
                .to_string(),
            topic_sys_flag: opt_i32(cmd, "topicSysFlag")?.unwrap_or(0),
            order: ext_bool(cmd, "order"),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("defaultTopic", &self.default_topic);
        cmd.set_ext("readQueueNums", self.read_queue_nums);
        cmd.set_ext("writeQueueNums", self.write_queue_nums);
        cmd.set_ext("perm", self.perm);
        cmd.set_ext("topicFilterType", &self.topic_filter_type);
        cmd.set_ext("topicSysFlag", self.topic_sys_flag);
        cmd.set_ext("order", self.order);
    }
}

/// CONSUMER_SEND_MSG_BACK (36) request header (§8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSendMsgBackHeader {
    /// Physical offset of the consumed message.
    pub offset: i64,
    pub group: String,
    pub delay_level: i32,
    pub origin_msg_id: Option<String>,
    pub origin_topic: Option<String>,
    pub unit_mode: bool,
    pub max_reconsume_times: Option<i32>,
}

impl ConsumerSendMsgBackHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ConsumerSendMsgBackHeader, HeaderError> {
        Ok(ConsumerSendMsgBackHeader {
            offset: ext_i64(cmd, "offset")?,
            group: ext_str(cmd, "group")?.to_string(),
            delay_level: opt_i32(cmd, "delayLevel")?.unwrap_or(0),
            origin_msg_id: non_empty(cmd.ext("originMsgId")),
            origin_topic: non_empty(cmd.ext("originTopic")),
            unit_mode: ext_bool(cmd, "unitMode"),
            max_reconsume_times: opt_i32(cmd, "maxReconsumeTimes")?,
        })
    }
}

/// END_TRANSACTION (37) request header (§11.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTransactionHeader {
    pub producer_group: String,
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    /// 8 = commit, 12 = rollback, 0 = unknown.
    pub commit_or_rollback: i32,
    pub from_transaction_check: bool,
    pub msg_id: Option<String>,
    pub transaction_id: Option<String>,
}

impl EndTransactionHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<EndTransactionHeader, HeaderError> {
        Ok(EndTransactionHeader {
            producer_group: ext_str(cmd, "producerGroup")?.to_string(),
            tran_state_table_offset: ext_i64(cmd, "tranStateTableOffset")?,
            commit_log_offset: ext_i64(cmd, "commitLogOffset")?,
            commit_or_rollback: ext_i32(cmd, "commitOrRollback")?,
            from_transaction_check: ext_bool(cmd, "fromTransactionCheck"),
            msg_id: non_empty(cmd.ext("msgId")),
            transaction_id: non_empty(cmd.ext("transactionId")),
        })
    }
}

#[cfg(test)]
mod tests {
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
}
