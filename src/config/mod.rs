//! Every setting of a Bolide process and every limit, in one place.
//!
//! Sources, later ones win: built-in defaults < a config file (`--config`) < command-line flags.
//! The file is TOML, or a RocketMQ `broker.conf` (Java properties, `key=value`) when its name ends in
//! `.conf` or `.properties`. Keys may be our snake_case names or RocketMQ's broker.conf names (see
//! [`KEYS`]), so users can bring the config they run today. Unknown keys are reported, not fatal:
//! a broker.conf carries many Java-only settings.
//!
//! Invariant: a [`BrokerConfig`] that passed [`BrokerConfig::validate`] is internally consistent
//! (shard count ≥ 1, ports distinct, sizes within their `*_max`); nothing downstream re-checks.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::storage::FlushMode;

mod keys;
mod parse;
mod runtime;
use keys::{canonical_key, ROCKETMQ_IGNORED};
pub use keys::{Key, KEYS};
use parse::{parse_bool, parse_ip, parse_num, parse_properties_file, parse_toml_file};
pub use parse::{parse_flush_mode, parse_namesrv_addr};
pub use runtime::{runtime_key_names, RuntimeConfig, RUNTIME_KEYS};

/// Largest segment we accept (RocketMQ's default is 1 GiB; physical offsets leave 48 bits per shard).
pub const SEGMENT_SIZE_MAX_BYTES: u64 = 64 << 30;
/// Smallest segment (tests use small ones; must hold the largest message).
pub const SEGMENT_SIZE_MIN_BYTES: u64 = 1 << 20;
/// Most shards a process runs (queue placement and offsets use 16 bits).
pub const SHARDS_MAX: usize = 256;
/// Largest message body we accept, like RocketMQ's `maxMessageSize` ceiling.
pub const MESSAGE_SIZE_MAX_BYTES: usize = 15 << 20;
/// Longest a pull may be held (clients time out at 30 s).
pub const LONG_POLL_MAX_MS: u64 = 25_000;
/// Registration period bounds: Java clamps `registerNameServerPeriod` to 10..60 s; we allow
/// shorter periods (tests), never longer (a NameServer drops a broker silent for 120 s).
pub const REGISTER_PERIOD_MIN_MS: u64 = 1_000;
pub const REGISTER_PERIOD_MAX_MS: u64 = 60_000;
/// Ceiling of `query_max_num` (a query's answer is also bounded in bytes by the broker).
pub const QUERY_MAX_NUM_MAX: usize = 1024;
/// Shortest timeout of the network edge (frame, outbound stall, idle): its sweeper looks every 100 ms.
pub const EDGE_TIMEOUT_MIN_MS: u64 = 500;

/// The whole configuration of one process (broker + NameServer roles).
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    pub data_dir: PathBuf,
    /// Address the listeners bind to.
    pub listen_ip: Ipv4Addr,
    /// Address clients are told to connect to (RocketMQ `brokerIP1`), embedded in message ids.
    pub broker_ip: Ipv4Addr,
    pub namesrv_port: u16,
    pub broker_port: u16,
    /// Also listen on `broker_port - 2` for old Java clients' VIP channel.
    pub vip_channel: bool,
    pub broker_name: String,
    pub cluster_name: String,
    /// Executors, one per core; 0 = one per available core.
    pub shards: usize,
    pub flush_mode: FlushMode,
    pub flush_interval_ms: u64,
    /// Overwrite new commit-log segments with zeros ahead of need: `None` ("auto") only in
    /// SYNC_FLUSH (see `storage::StoreConfig::prewrite_segments`).
    pub prewrite_segments: Option<bool>,
    pub flush_timeout_ms: u64,
    pub segment_size_bytes: u64,
    pub cache_bytes_max: usize,
    /// Commit-log bytes the shards may hold not yet written before appends wait, over all shards
    /// (split like `cache_bytes_max`, and at most half of each shard's share of it). `None` ("auto"):
    /// 64 MiB per shard. More rides out a longer disk stall in ASYNC_FLUSH, and loses more in a
    /// process crash (unwritten bytes live in the process, not in the page cache).
    pub write_behind_bytes_max: Option<u64>,
    /// Consume-queue files the shards keep open, over all shards (split like `cache_bytes_max`).
    /// `None` ("auto"): half of what the descriptor limit leaves after `connections_max` and 1,024
    /// for everything else, at least 128 per shard and at most 65,536 ([`cq_open_files_auto`]).
    /// More means fewer reopens when many queues are written or read.
    pub cq_open_files_max: Option<usize>,
    pub retention_hours: u64,
    /// How often retention runs (RocketMQ's `cleanResourceInterval`); DELETE_EXPIRED_COMMITLOG and
    /// CLEAN_EXPIRED_CONSUMEQUEUE run it at once.
    pub retention_interval_ms: u64,
    pub disk_usage_max_percent: u8,
    /// Disk usage (percent) from which sends are refused (SERVICE_NOT_AVAILABLE, the Java full-disk
    /// remark) until space comes back.
    pub disk_refuse_writes_percent: u8,
    /// RocketMQ's forced deletion: over `disk_usage_max_percent`, retention may delete segments
    /// holding unconsumed messages younger than `retention_hours` (logged and counted). Off by default.
    pub clean_file_forcibly: bool,
    pub auto_create_topic: bool,
    /// Queues of a topic created by `TBW102` auto-creation when the client asks for more.
    pub default_topic_queue_nums: u32,
    pub message_size_max_bytes: usize,
    pub long_polling: bool,
    /// Requests of one connection being processed at once; reading pauses beyond it.
    pub connection_inflight_max: usize,
    /// Largest request frame (length word included); larger ones close the connection unread.
    pub frame_max_bytes: usize,
    /// Connections the process keeps open, split evenly over the shards (each accepts at most
    /// `ceil(connections_max / shards)`); past it a new connection is accepted and reset at once.
    pub connections_max: usize,
    /// Per shard: bytes of request frames larger than the unbudgeted size (`net::FRAME_UNBUDGETED_BYTES`)
    /// that the shard holds at once, being received or being served. A frame waits for its whole
    /// length before it is read further. At least `frame_max_bytes`.
    pub shard_frame_buffer_bytes_max: usize,
    /// Per shard and peer address: the part of `shard_frame_buffer_bytes_max` one address may hold
    /// or wait for, so that one flooding host cannot starve the large frames of the others.
    /// At least `frame_max_bytes`, at most `shard_frame_buffer_bytes_max`.
    pub peer_frame_buffer_bytes_max: usize,
    /// A frame must arrive whole within this time once it started (or once it got budget), and may
    /// wait this long for budget; otherwise its connection is closed.
    pub frame_timeout_ms: u64,
    /// Response bytes queued for one connection above which its requests are no longer read
    /// (RocketMQ `writeBufferHighWaterMark`); reading resumes below half of it.
    pub connection_outbound_bytes_max: usize,
    /// Per shard: response bytes queued for all connections. Past it, a connection over its own
    /// `connection_outbound_bytes_max` whose peer read nothing since the last sweep is closed at once.
    pub shard_outbound_bytes_max: usize,
    /// A connection over `connection_outbound_bytes_max` whose peer reads nothing for this long is closed.
    pub outbound_stall_timeout_ms: u64,
    /// A connection with no complete frame and no write for this long is closed; 0 = never
    /// (RocketMQ `serverChannelMaxIdleTimeSeconds`, given in seconds).
    pub connection_idle_timeout_ms: u64,
    /// How often consumer offsets are written to disk.
    pub offset_persist_interval_ms: u64,
    /// An idle shard polls this long before it sleeps (0 = sleep at once). Spinning saves the
    /// wake-up of cross-shard messages but burns CPU that a co-located client could use.
    pub spin_before_park_us: u64,
    /// Turn transparent huge pages off for this process (`prctl(PR_SET_THP_DISABLE)`), as Redis
    /// does by default (`disable-thp`). The allocator asks for huge pages on its arenas; each
    /// first touch then zeroes 2 MiB on a shard's thread, and a fresh broker under load spent 44 %
    /// of its first second in those faults (#12, perf/README.md).
    pub disable_thp: bool,
    /// Hand a new connection to the shard serving the fewest when the accepting shard serves more
    /// (`net::spread`); off leaves placement to SO_REUSEPORT's hash alone.
    pub spread_connections: bool,
    /// Serve SQL92 subscriptions (RocketMQ `enablePropertyFilter`, off there by default, on here).
    pub enable_property_filter: bool,
    /// Most messages one QUERY_MESSAGE answers (RocketMQ `maxMsgsNumBatch`); a larger `maxNum` is cut.
    pub query_max_num: usize,
    /// `maxNum` of a unique-key QUERY_MESSAGE, whatever the client asked (RocketMQ `defaultQueryMaxNum`).
    pub unique_key_query_max_num: usize,
    /// Create the message-trace topic at start (RocketMQ `traceTopicEnable`), so traces work even
    /// with auto-creation off.
    pub trace_topic_enable: bool,
    /// Its name (RocketMQ `msgTraceTopicName`).
    pub msg_trace_topic_name: String,
    /// RocketMQ ACL 1.0 (`aclEnable`): every request to the broker port must be signed by an
    /// account of `acl_file` with the permissions it needs; the NameServer port stays open, as
    /// RocketMQ's NameServer does.
    pub acl_enable: bool,
    /// The accounts (`aclFile`): RocketMQ's `plain_acl.yml` format, reloaded when it changes.
    pub acl_file: Option<PathBuf>,
    /// The account the web console signs its requests to this broker with when ACL is on
    /// (`console_access_key` / `console_secret_key`, like the RocketMQ dashboard's
    /// `rocketmq.config.accessKey` / `secretKey`). The secret is never listed by GET_BROKER_CONFIG.
    pub console_access_key: Option<String>,
    pub console_secret_key: Option<Secret>,
    /// A half message is first checked this long after it was born (RocketMQ `transactionTimeOut`),
    /// or after its CHECK_IMMUNITY_TIME_IN_SECONDS when longer.
    pub transaction_timeout_ms: u64,
    /// Checks per half message before it is moved to TRANS_CHECK_MAX_TIME_TOPIC.
    pub transaction_check_max: u32,
    /// Time between two checks of one half message (RocketMQ `transactionCheckInterval`).
    pub transaction_check_interval_ms: u64,
    /// Checks a shard sends in one round (one round a second) at most; the rest wait (no storm).
    pub transaction_check_round_max: usize,
    /// Delay of each DELAY level, level 1 first, in ms (RocketMQ `messageDelayLevel`, written
    /// "1s 5s 10s ... 2h"; units ms, s, m, h, d). A level above the last is the last.
    pub message_delay_level_ms: Vec<u64>,
    /// How far ahead a timer message (TIMER_DELIVER_MS, TIMER_DELAY_SEC, TIMER_DELAY_MS) may be due;
    /// further ones are refused with MESSAGE_ILLEGAL (RocketMQ `timerMaxDelaySec`, 3 days there).
    pub timer_max_delay_sec: u64,
    /// HTTP port for `/metrics` (Prometheus) and the web console; 0 = no HTTP server (the default).
    pub http_port: u16,
    /// Address the HTTP server binds to. Loopback by default: the console can resend messages and
    /// has no login of its own.
    pub http_listen_ip: Ipv4Addr,
    /// Serve the NameServer role on `namesrv_port` in this process (routes from this broker and from
    /// every broker that registers here). Off: a broker only, registering with `namesrv_addr`.
    pub namesrv_role: bool,
    /// NameServers this broker registers with (RocketMQ `namesrvAddr`, `host:port;host:port`).
    pub namesrv_addr: Vec<String>,
    /// The NameServer's KV config file (RocketMQ `kvConfigPath`); none = `kvConfig.json` in
    /// `data_dir` ([`BrokerConfig::kv_config_path`]).
    pub kv_config_path: Option<PathBuf>,
    /// NameServer: routes carry the topic's `ORDER_TOPIC_CONFIG` KV entry as `orderTopicConf`
    /// (RocketMQ `orderMessageEnable`, off by default as there).
    pub order_message_enable: bool,
    /// 0 = master; 1.. = slave of the group `broker_name` (RocketMQ `brokerId`).
    pub broker_id: i64,
    /// How often the broker registers with each NameServer (RocketMQ `registerNameServerPeriod`),
    /// and at once when its topics change.
    pub register_period_ms: u64,
    /// How long one registration may take (RocketMQ `registerBrokerTimeoutMills`).
    pub register_timeout_ms: u64,
    /// Replication role (RocketMQ `brokerRole`): see [`BrokerRole`] and `docs/REPLICATION.md`.
    pub broker_role: BrokerRole,
    /// First port of the replication listeners (RocketMQ `haListenPort`); shard k listens on this
    /// port + k. 0 = `broker_port + 1`, as Java; an ASYNC_MASTER listens only when it is set
    /// ([`BrokerConfig::ha_listens`]).
    pub ha_listen_port: u16,
    /// A slave's master replication address `host:port` (RocketMQ `haMasterAddress`); shard k
    /// connects to port + k. Unset: learnt from the NameServer's REGISTER_BROKER answer (the master's
    /// `haServerAddr`), as Java does.
    pub ha_master_address: Option<String>,
    /// Heartbeat and acknowledgement period of an idle replication link (RocketMQ
    /// `haSendHeartbeatInterval`).
    pub ha_send_heartbeat_interval_ms: u64,
    /// SYNC_MASTER: how long a send waits for the slave's acknowledgement before FLUSH_SLAVE_TIMEOUT
    /// (RocketMQ 5 `slaveTimeout`).
    pub slave_timeout_ms: u64,
    /// SYNC_MASTER: a slave further behind than this counts as not available (RocketMQ
    /// `haSlaveFallbehindMax`).
    pub ha_slave_fallbehind_max_bytes: u64,
    /// How long a NameServer may go without hearing from this broker before dropping it, sent with
    /// every registration (RocketMQ `brokerNotActiveTimeoutMillis`, carried as the header's
    /// `heartbeatTimeoutMillis`). 0, the default: not sent, so the NameServer applies its own 120 s.
    /// Java sends it only with `enableSlaveActingMaster`; here setting it is enough. Must exceed
    /// `register_period_ms`, or a healthy broker would be dropped between two registrations.
    pub broker_not_active_timeout_ms: u64,
    /// Reads from the slave (RocketMQ `slaveReadEnable`): a master's pull answer points a consumer
    /// whose data is no longer in memory at the slave (`suggestWhichBrokerId`); see
    /// `broker::processors::pull::suggest_broker`.
    pub slave_read_enable: bool,
    /// Failover (RocketMQ `enableControllerMode`): the role comes from the controller group
    /// (`controller_addr`) instead of `broker_role`, which then only says SYNC or ASYNC replication
    /// (`broker::failover`, docs/REPLICATION.md "Failover and epochs"). Off: nothing changes.
    pub enable_controller_mode: bool,
    /// Every controller node, `host:port` (RocketMQ `controllerAddr`, `;`-separated).
    pub controller_addr: Vec<String>,
    /// How often the broker heartbeats the controller (RocketMQ `controllerHeartbeatInterval`).
    pub controller_heartbeat_interval_ms: u64,
}

/// A broker's replication role (RocketMQ `brokerRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    /// Master; answers a send as a single broker does, slaves follow when they can.
    AsyncMaster,
    /// Master; a send is answered once a slave has the bytes (or FLUSH_SLAVE_TIMEOUT /
    /// SLAVE_NOT_AVAILABLE).
    SyncMaster,
    /// Follows its master shard by shard; refuses sends, serves pulls.
    Slave,
}

impl BrokerRole {
    pub fn parse(v: &str) -> Option<BrokerRole> {
        match v.trim().to_ascii_uppercase().as_str() {
            "ASYNC_MASTER" => Some(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Some(BrokerRole::SyncMaster),
            "SLAVE" => Some(BrokerRole::Slave),
            _ => None,
        }
    }

    /// RocketMQ's name.
    pub fn name(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

/// A secret setting: its `Debug` never shows it, so a logged config leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// RocketMQ's default `messageDelayLevel`.
pub const MESSAGE_DELAY_LEVEL_DEFAULT: &str =
    "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";
/// Most delay levels (RocketMQ's table has 18; a level is a queue of the schedule topic).
pub const DELAY_LEVELS_MAX: usize = 64;
/// Longest timer delay a config may allow (a year; the scheduler re-parks old timers, see
/// `broker::services::scheduler`).
pub const TIMER_MAX_DELAY_SEC_MAX: u64 = 366 * 24 * 3600;

/// Parses a `messageDelayLevel` table: space-separated durations with a unit (ms, s, m, h, d).
pub fn parse_delay_levels(text: &str) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    for tok in text.split_whitespace() {
        let (num, unit_ms) = if let Some(n) = tok.strip_suffix("ms") {
            (n, 1)
        } else if let Some(n) = tok.strip_suffix('s') {
            (n, 1_000)
        } else if let Some(n) = tok.strip_suffix('m') {
            (n, 60_000)
        } else if let Some(n) = tok.strip_suffix('h') {
            (n, 3_600_000)
        } else if let Some(n) = tok.strip_suffix('d') {
            (n, 86_400_000)
        } else {
            return None;
        };
        let n: u64 = num.parse().ok()?;
        out.push(n.checked_mul(unit_ms)?);
    }
    Some(out)
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            data_dir: PathBuf::from("bolide-data"),
            listen_ip: Ipv4Addr::UNSPECIFIED,
            broker_ip: Ipv4Addr::LOCALHOST,
            namesrv_port: 9876,
            broker_port: 10911,
            vip_channel: true,
            broker_name: "broker-a".into(),
            cluster_name: "DefaultCluster".into(),
            shards: 0,
            flush_mode: FlushMode::Async,
            flush_interval_ms: 500,
            prewrite_segments: None,
            flush_timeout_ms: 5_000,
            segment_size_bytes: 1 << 30,
            cache_bytes_max: 256 << 20,
            write_behind_bytes_max: None,
            cq_open_files_max: None,
            retention_hours: 72,
            retention_interval_ms: 10_000,
            disk_usage_max_percent: 90,
            disk_refuse_writes_percent: 95,
            clean_file_forcibly: false,
            auto_create_topic: true,
            default_topic_queue_nums: 8,
            message_size_max_bytes: 4 << 20,
            long_polling: true,
            connection_inflight_max: 4096,
            frame_max_bytes: crate::remoting::FRAME_MAX_BYTES,
            connections_max: 4096,
            shard_frame_buffer_bytes_max: 64 << 20,
            peer_frame_buffer_bytes_max: 32 << 20,
            frame_timeout_ms: 30_000,
            connection_outbound_bytes_max: 1 << 20,
            shard_outbound_bytes_max: 256 << 20,
            outbound_stall_timeout_ms: 30_000,
            connection_idle_timeout_ms: 120_000,
            offset_persist_interval_ms: 1_000,
            spin_before_park_us: 0,
            disable_thp: true,
            spread_connections: true,
            enable_property_filter: true,
            query_max_num: 64,
            unique_key_query_max_num: 32,
            trace_topic_enable: true,
            msg_trace_topic_name: "RMQ_SYS_TRACE_TOPIC".into(),
            acl_enable: false,
            acl_file: None,
            console_access_key: None,
            console_secret_key: None,
            transaction_timeout_ms: 6_000,
            transaction_check_max: 15,
            transaction_check_interval_ms: 30_000,
            transaction_check_round_max: 500,
            message_delay_level_ms: parse_delay_levels(MESSAGE_DELAY_LEVEL_DEFAULT)
                .expect("the default table parses"),
            timer_max_delay_sec: 30 * 24 * 3600,
            http_port: 0,
            http_listen_ip: Ipv4Addr::LOCALHOST,
            namesrv_role: true,
            namesrv_addr: Vec::new(),
            kv_config_path: None,
            order_message_enable: false,
            broker_id: 0,
            register_period_ms: 30_000,
            register_timeout_ms: 24_000,
            broker_role: BrokerRole::AsyncMaster,
            ha_listen_port: 0,
            ha_master_address: None,
            ha_send_heartbeat_interval_ms: 5_000,
            slave_timeout_ms: 3_000,
            ha_slave_fallbehind_max_bytes: 256 << 20,
            broker_not_active_timeout_ms: 0,
            slave_read_enable: false,
            enable_controller_mode: false,
            controller_addr: Vec::new(),
            controller_heartbeat_interval_ms: 2000,
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {reason}")]
    Toml { path: PathBuf, reason: String },
    #[error("config key `{key}`: `{value}` is not {expected}")]
    BadValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl BrokerConfig {
    /// Sets one key (our name or a RocketMQ name) from its text. Returns false for an unknown key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let Some(name) = canonical_key(key) else {
            return Ok(ROCKETMQ_IGNORED.contains(&key));
        };
        let v = value.trim();
        match name {
            "data_dir" => self.data_dir = PathBuf::from(v),
            "listen_ip" => self.listen_ip = parse_ip(key, v)?,
            "broker_ip" => self.broker_ip = parse_ip(key, v)?,
            "namesrv_port" => self.namesrv_port = parse_num(key, v)?,
            "broker_port" => self.broker_port = parse_num(key, v)?,
            "vip_channel" => self.vip_channel = parse_bool(key, v)?,
            "broker_name" => self.broker_name = v.into(),
            "cluster_name" => self.cluster_name = v.into(),
            "shards" => self.shards = parse_num(key, v)?,
            "flush_mode" => {
                self.flush_mode = parse_flush_mode(v).ok_or_else(|| ConfigError::BadValue {
                    key: key.into(),
                    value: v.into(),
                    expected: "SYNC_FLUSH or ASYNC_FLUSH",
                })?
            }
            "flush_interval_ms" => self.flush_interval_ms = parse_num(key, v)?,
            "prewrite_segments" => {
                self.prewrite_segments = match v.trim().to_ascii_lowercase().as_str() {
                    "auto" => None,
                    _ => Some(parse_bool(key, v)?),
                }
            }
            "flush_timeout_ms" => self.flush_timeout_ms = parse_num(key, v)?,
            "segment_size_bytes" => self.segment_size_bytes = parse_num(key, v)?,
            "cache_bytes_max" => self.cache_bytes_max = parse_num(key, v)?,
            "write_behind_bytes_max" => {
                self.write_behind_bytes_max = match v.trim().to_ascii_lowercase().as_str() {
                    "auto" => None,
                    _ => Some(parse_num(key, v)?),
                }
            }
            "cq_open_files_max" => {
                self.cq_open_files_max = match v.trim().to_ascii_lowercase().as_str() {
                    "auto" => None,
                    _ => Some(parse_num(key, v)?),
                }
            }
            "retention_hours" => self.retention_hours = parse_num(key, v)?,
            "retention_interval_ms" => self.retention_interval_ms = parse_num(key, v)?,
            "disk_usage_max_percent" => self.disk_usage_max_percent = parse_num(key, v)?,
            "disk_refuse_writes_percent" => self.disk_refuse_writes_percent = parse_num(key, v)?,
            "clean_file_forcibly" => self.clean_file_forcibly = parse_bool(key, v)?,
            "auto_create_topic" => self.auto_create_topic = parse_bool(key, v)?,
            "default_topic_queue_nums" => self.default_topic_queue_nums = parse_num(key, v)?,
            "message_size_max_bytes" => self.message_size_max_bytes = parse_num(key, v)?,
            "long_polling" => self.long_polling = parse_bool(key, v)?,
            "connection_inflight_max" => self.connection_inflight_max = parse_num(key, v)?,
            "frame_max_bytes" => self.frame_max_bytes = parse_num(key, v)?,
            "connections_max" => self.connections_max = parse_num(key, v)?,
            "shard_frame_buffer_bytes_max" => {
                self.shard_frame_buffer_bytes_max = parse_num(key, v)?
            }
            "peer_frame_buffer_bytes_max" => self.peer_frame_buffer_bytes_max = parse_num(key, v)?,
            "frame_timeout_ms" => self.frame_timeout_ms = parse_num(key, v)?,
            "connection_outbound_bytes_max" => {
                self.connection_outbound_bytes_max = parse_num(key, v)?
            }
            "shard_outbound_bytes_max" => self.shard_outbound_bytes_max = parse_num(key, v)?,
            "outbound_stall_timeout_ms" => self.outbound_stall_timeout_ms = parse_num(key, v)?,
            "connection_idle_timeout_ms" if key == "serverChannelMaxIdleTimeSeconds" => {
                let secs: u64 = parse_num(key, v)?;
                self.connection_idle_timeout_ms = secs.saturating_mul(1000);
            }
            "connection_idle_timeout_ms" => self.connection_idle_timeout_ms = parse_num(key, v)?,
            "offset_persist_interval_ms" => self.offset_persist_interval_ms = parse_num(key, v)?,
            "spin_before_park_us" => self.spin_before_park_us = parse_num(key, v)?,
            "disable_thp" => self.disable_thp = parse_bool(key, v)?,
            "spread_connections" => self.spread_connections = parse_bool(key, v)?,
            "enable_property_filter" => self.enable_property_filter = parse_bool(key, v)?,
            "query_max_num" => self.query_max_num = parse_num(key, v)?,
            "unique_key_query_max_num" => self.unique_key_query_max_num = parse_num(key, v)?,
            "trace_topic_enable" => self.trace_topic_enable = parse_bool(key, v)?,
            "msg_trace_topic_name" => self.msg_trace_topic_name = v.into(),
            "acl_enable" => self.acl_enable = parse_bool(key, v)?,
            "acl_file" => self.acl_file = Some(PathBuf::from(v)),
            "console_access_key" => self.console_access_key = Some(v.to_string()),
            "console_secret_key" => self.console_secret_key = Some(Secret(v.to_string())),
            "transaction_timeout_ms" => self.transaction_timeout_ms = parse_num(key, v)?,
            "transaction_check_max" => self.transaction_check_max = parse_num(key, v)?,
            "transaction_check_interval_ms" => {
                self.transaction_check_interval_ms = parse_num(key, v)?
            }
            "transaction_check_round_max" => self.transaction_check_round_max = parse_num(key, v)?,
            "message_delay_level" => {
                self.message_delay_level_ms =
                    parse_delay_levels(v).ok_or_else(|| ConfigError::BadValue {
                        key: key.into(),
                        value: v.into(),
                        expected: "durations like \"1s 5s 10s 1m 2h\" (units ms, s, m, h, d)",
                    })?
            }
            "timer_max_delay_sec" => self.timer_max_delay_sec = parse_num(key, v)?,
            "http_port" => self.http_port = parse_num(key, v)?,
            "http_listen_ip" => self.http_listen_ip = parse_ip(key, v)?,
            "namesrv_role" => self.namesrv_role = parse_bool(key, v)?,
            "namesrv_addr" => self.namesrv_addr = parse_namesrv_addr(v),
            "kv_config_path" => self.kv_config_path = Some(PathBuf::from(v)),
            "order_message_enable" => self.order_message_enable = parse_bool(key, v)?,
            "broker_id" => self.broker_id = parse_num(key, v)?,
            "register_period_ms" => self.register_period_ms = parse_num(key, v)?,
            "register_timeout_ms" => self.register_timeout_ms = parse_num(key, v)?,
            "broker_role" => {
                self.broker_role = BrokerRole::parse(v).ok_or_else(|| ConfigError::BadValue {
                    key: key.into(),
                    value: v.into(),
                    expected: "ASYNC_MASTER, SYNC_MASTER or SLAVE",
                })?
            }
            "ha_listen_port" => self.ha_listen_port = parse_num(key, v)?,
            "ha_master_address" => self.ha_master_address = (!v.is_empty()).then(|| v.to_string()),
            "ha_send_heartbeat_interval_ms" => {
                self.ha_send_heartbeat_interval_ms = parse_num(key, v)?
            }
            "slave_timeout_ms" => self.slave_timeout_ms = parse_num(key, v)?,
            "ha_slave_fallbehind_max_bytes" => {
                self.ha_slave_fallbehind_max_bytes = parse_num(key, v)?
            }
            "broker_not_active_timeout_ms" => {
                self.broker_not_active_timeout_ms = parse_num(key, v)?
            }
            "slave_read_enable" => self.slave_read_enable = parse_bool(key, v)?,
            "enable_controller_mode" => self.enable_controller_mode = parse_bool(key, v)?,
            "controller_addr" => self.controller_addr = parse_namesrv_addr(v),
            "controller_heartbeat_interval_ms" => {
                self.controller_heartbeat_interval_ms = parse_num(key, v)?
            }
            _ => unreachable!("every key in KEYS is handled"),
        }
        Ok(true)
    }

    /// Applies a config file; returns the keys it did not understand.
    pub fn apply_file(&mut self, path: &Path) -> Result<Vec<String>, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let java_style = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("conf") | Some("properties")
        );
        let pairs = if java_style {
            parse_properties_file(&text)
        } else {
            parse_toml_file(&text).map_err(|reason| ConfigError::Toml {
                path: path.into(),
                reason,
            })?
        };
        let mut unknown = Vec::new();
        for (k, v) in pairs {
            if !self.set(&k, &v)? {
                unknown.push(k);
            }
        }
        Ok(unknown)
    }

    /// The first replication port (shard k: this + k): `ha_listen_port`, or `broker_port + 1`.
    pub fn ha_port(&self) -> u16 {
        if self.ha_listen_port != 0 {
            self.ha_listen_port
        } else {
            self.broker_port.wrapping_add(1)
        }
    }

    /// Whether this broker opens replication listeners: a SYNC_MASTER always; an ASYNC_MASTER when
    /// `ha_listen_port` is set (a single broker takes no port it was not given); a slave never.
    pub fn ha_listens(&self) -> bool {
        if self.enable_controller_mode {
            // Any broker of the group may become master.
            return true;
        }
        match self.broker_role {
            BrokerRole::SyncMaster => true,
            BrokerRole::AsyncMaster => self.ha_listen_port != 0,
            BrokerRole::Slave => false,
        }
    }

    /// The NameServer's KV config file: `kv_config_path`, else `kvConfig.json` in `data_dir`.
    pub fn kv_config_path(&self) -> PathBuf {
        self.kv_config_path
            .clone()
            .unwrap_or_else(|| self.data_dir.join("kvConfig.json"))
    }

    /// Number of shards to run: the configured count, or one per available core. Resolve it on the
    /// main thread (`serve` pins it into `shards`): a shard's thread is bound to one core, where
    /// "available" is 1.
    pub fn shard_count(&self) -> usize {
        if self.shards > 0 {
            self.shards
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }

    /// Checks that the settings fit together and within their limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.shard_count() > SHARDS_MAX {
            return bad(format!("shards must be at most {SHARDS_MAX}"));
        }
        if self.namesrv_role && self.namesrv_port == self.broker_port {
            return bad("namesrv_port and broker_port must differ".into());
        }
        if self.http_port != 0
            && (self.http_port == self.namesrv_port
                || self.http_port == self.broker_port
                || (self.vip_channel && self.http_port == self.broker_port.wrapping_sub(2)))
        {
            return bad(format!(
                "http_port {} collides with a remoting port (namesrv_port, broker_port or its VIP port)",
                self.http_port
            ));
        }
        self.validate_cluster()?;
        if self.retention_interval_ms < 100 {
            return bad(format!(
                "retention_interval_ms must be at least 100, not {}",
                self.retention_interval_ms
            ));
        }
        if self.vip_channel {
            if self.broker_port < 3 {
                return bad("broker_port must be at least 3 when vip_channel is on".into());
            }
            let vip = self.broker_port - 2;
            if self.namesrv_role && vip == self.namesrv_port {
                return bad(format!(
                    "broker_port - 2 ({vip}) is the old-client VIP port and collides with namesrv_port; pick other ports or set vip_channel = false"
                ));
            }
        }
        if !(SEGMENT_SIZE_MIN_BYTES..=SEGMENT_SIZE_MAX_BYTES).contains(&self.segment_size_bytes)
            || !self.segment_size_bytes.is_multiple_of(4096)
        {
            return bad(format!(
                "segment_size_bytes must be a multiple of 4096 between {SEGMENT_SIZE_MIN_BYTES} and {SEGMENT_SIZE_MAX_BYTES}"
            ));
        }
        if !(1..=QUERY_MAX_NUM_MAX).contains(&self.query_max_num)
            || !(1..=QUERY_MAX_NUM_MAX).contains(&self.unique_key_query_max_num)
        {
            return bad(format!(
                "query_max_num and unique_key_query_max_num must be between 1 and {QUERY_MAX_NUM_MAX}"
            ));
        }
        if self.trace_topic_enable && self.msg_trace_topic_name.trim().is_empty() {
            return bad("msg_trace_topic_name must not be empty".into());
        }
        if self.message_size_max_bytes == 0 || self.message_size_max_bytes > MESSAGE_SIZE_MAX_BYTES
        {
            return bad(format!(
                "message_size_max_bytes must be between 1 and {MESSAGE_SIZE_MAX_BYTES}"
            ));
        }
        if (self.message_size_max_bytes as u64) + 65_536 > self.segment_size_bytes {
            return bad("segment_size_bytes must hold the largest message (message_size_max_bytes + 64 KiB)".into());
        }
        if self.disk_usage_max_percent == 0 || self.disk_usage_max_percent > 100 {
            return bad("disk_usage_max_percent must be between 1 and 100".into());
        }
        if self.disk_refuse_writes_percent == 0 || self.disk_refuse_writes_percent > 100 {
            return bad("disk_refuse_writes_percent must be between 1 and 100".into());
        }
        if self.default_topic_queue_nums == 0 || self.default_topic_queue_nums > 1024 {
            return bad("default_topic_queue_nums must be between 1 and 1024".into());
        }
        if self.connection_inflight_max == 0 {
            return bad("connection_inflight_max must be at least 1".into());
        }
        self.validate_edge()?;
        if self.transaction_check_interval_ms < 100 || self.transaction_check_round_max == 0 {
            return bad("transaction_check_interval_ms must be at least 100 and transaction_check_round_max at least 1".into());
        }
        if self.message_delay_level_ms.is_empty()
            || self.message_delay_level_ms.len() > DELAY_LEVELS_MAX
            || self.message_delay_level_ms.contains(&0)
        {
            return bad(format!(
                "message_delay_level must list 1 to {DELAY_LEVELS_MAX} delays, none zero"
            ));
        }
        if self.timer_max_delay_sec == 0 || self.timer_max_delay_sec > TIMER_MAX_DELAY_SEC_MAX {
            return bad(format!(
                "timer_max_delay_sec must be between 1 and {TIMER_MAX_DELAY_SEC_MAX}"
            ));
        }
        if self.broker_name.is_empty() || self.cluster_name.is_empty() {
            return bad("broker_name and cluster_name must not be empty".into());
        }
        if self.acl_enable && self.acl_file.is_none() {
            return bad(
                "aclEnable=true needs aclFile=<path of a plain_acl.yml with the accounts>".into(),
            );
        }
        Ok(())
    }

    /// Cluster membership: the NameServers to register with, this broker's id, the periods.
    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        for a in &self.namesrv_addr {
            let port = a
                .rsplit_once(':')
                .and_then(|(h, p)| (!h.is_empty()).then_some(p));
            if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
                return bad(format!("namesrv_addr: `{a}` is not host:port"));
            }
        }
        match (self.broker_role, self.broker_id) {
            _ if self.enable_controller_mode => {
                if self.broker_role == BrokerRole::Slave {
                    return bad("enable_controller_mode: the controller gives the role; brokerRole says SYNC_MASTER or ASYNC_MASTER (how a master replicates)".into());
                }
                if self.broker_id < 0 {
                    return bad(format!("broker_id {}: must be 0 or more", self.broker_id));
                }
                if self.controller_addr.is_empty() {
                    return bad("enable_controller_mode needs controller_addr".into());
                }
                if !(100..=60_000).contains(&self.controller_heartbeat_interval_ms) {
                    return bad(
                        "controller_heartbeat_interval_ms must be between 100 and 60000".into(),
                    );
                }
            }
            (BrokerRole::Slave, id) if id <= 0 => {
                return bad(format!(
                    "broker_id {id}: a slave (brokerRole=SLAVE) has broker_id 1 or more (0 is the master)"
                ))
            }
            (BrokerRole::AsyncMaster | BrokerRole::SyncMaster, id) if id != 0 => {
                return bad(format!(
                    "broker_id {id}: a master (brokerRole={}) has broker_id 0; a slave sets brokerRole=SLAVE",
                    self.broker_role.name()
                ))
            }
            _ => {}
        }
        if let Some(a) = &self.ha_master_address {
            let port = a
                .rsplit_once(':')
                .and_then(|(h, p)| (!h.is_empty()).then_some(p));
            if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
                return bad(format!("ha_master_address: `{a}` is not host:port"));
            }
        }
        if !(100..=60_000).contains(&self.ha_send_heartbeat_interval_ms) {
            return bad("ha_send_heartbeat_interval_ms must be between 100 and 60000".into());
        }
        if !(10..=600_000).contains(&self.slave_timeout_ms) {
            return bad("slave_timeout_ms must be between 10 and 600000".into());
        }
        let ha = self.ha_port() as usize;
        if self.ha_listens() && ha + self.shard_count() > 65_536 {
            return bad(format!(
                "ha_listen_port {ha} + shards must stay below 65536 (shard k listens on ha_listen_port + k)"
            ));
        }
        if !(REGISTER_PERIOD_MIN_MS..=REGISTER_PERIOD_MAX_MS).contains(&self.register_period_ms) {
            return bad(format!(
                "register_period_ms must be between {REGISTER_PERIOD_MIN_MS} and {REGISTER_PERIOD_MAX_MS} (a NameServer drops a broker silent for 120 s)"
            ));
        }
        if !(1_000..=60_000).contains(&self.register_timeout_ms) {
            return bad("register_timeout_ms must be between 1000 and 60000".into());
        }
        let not_active = self.broker_not_active_timeout_ms;
        if not_active != 0 && not_active <= self.register_period_ms {
            return bad(format!(
                "broker_not_active_timeout_ms ({not_active}) must be 0 (the NameServer's 120 s) or longer than register_period_ms ({})",
                self.register_period_ms
            ));
        }
        Ok(())
    }

    /// The limits of the network edge (`net`): frame sizes, budgets, caps, timeouts.
    fn validate_edge(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let frame_max = crate::remoting::FRAME_MAX_BYTES;
        if !(64 << 10..=frame_max).contains(&self.frame_max_bytes) {
            return bad(format!(
                "frame_max_bytes must be between 65536 and {frame_max} (what Java peers accept)"
            ));
        }
        if self.message_size_max_bytes + 65_536 > self.frame_max_bytes {
            return bad(
                "frame_max_bytes must hold the largest message (message_size_max_bytes + 64 KiB)"
                    .into(),
            );
        }
        if self.connections_max == 0 {
            return bad("connections_max must be at least 1".into());
        }
        if self.shard_frame_buffer_bytes_max < self.frame_max_bytes {
            return bad(format!(
                "shard_frame_buffer_bytes_max must hold one largest frame (frame_max_bytes = {})",
                self.frame_max_bytes
            ));
        }
        if !(self.frame_max_bytes..=self.shard_frame_buffer_bytes_max)
            .contains(&self.peer_frame_buffer_bytes_max)
        {
            return bad("peer_frame_buffer_bytes_max must be between frame_max_bytes and shard_frame_buffer_bytes_max".into());
        }
        if self.connection_outbound_bytes_max < 4096 {
            return bad("connection_outbound_bytes_max must be at least 4096".into());
        }
        if self.shard_outbound_bytes_max < self.connection_outbound_bytes_max {
            return bad(
                "shard_outbound_bytes_max must be at least connection_outbound_bytes_max".into(),
            );
        }
        for (name, ms) in [
            ("frame_timeout_ms", self.frame_timeout_ms),
            ("outbound_stall_timeout_ms", self.outbound_stall_timeout_ms),
        ] {
            if ms < EDGE_TIMEOUT_MIN_MS {
                return bad(format!("{name} must be at least {EDGE_TIMEOUT_MIN_MS}"));
            }
        }
        if self.connection_idle_timeout_ms != 0
            && self.connection_idle_timeout_ms < EDGE_TIMEOUT_MIN_MS
        {
            return bad(format!(
                "connection_idle_timeout_ms must be 0 (never) or at least {EDGE_TIMEOUT_MIN_MS}"
            ));
        }
        Ok(())
    }

    /// Connections one shard accepts: `connections_max` split evenly, rounded up.
    pub fn shard_connections_max(&self) -> usize {
        self.connections_max.div_ceil(self.shard_count().max(1))
    }

    /// Consume-queue files one shard keeps open: `cq_open_files_max` (or its automatic value for
    /// the process's descriptor limit) split over the shards, at least 1.
    pub fn shard_cq_open_files_max(&self) -> usize {
        let total = self.cq_open_files_max.unwrap_or_else(|| {
            cq_open_files_auto(fd_limit(), self.connections_max, self.shard_count())
        });
        (total / self.shard_count().max(1)).max(1)
    }

    /// The storage settings of one shard.
    pub fn store_config(&self, shard_id: u16) -> crate::storage::StoreConfig {
        let mut c = crate::storage::StoreConfig::new(
            self.data_dir.join(format!("shard-{shard_id}")),
            shard_id,
        );
        c.segment_size_bytes = self.segment_size_bytes;
        c.flush_mode = self.flush_mode;
        c.flush_interval_ms = self.flush_interval_ms;
        c.prewrite_segments = self.prewrite_segments;
        c.flush_timeout_ms = self.flush_timeout_ms;
        c.cache_bytes_max = self.cache_bytes_max / self.shard_count().max(1);
        c.write_behind_bytes_max = self
            .write_behind_bytes_max
            .map(|b| b / self.shard_count().max(1) as u64);
        c.retention_hours = self.retention_hours;
        c.disk_usage_max_percent = self.disk_usage_max_percent;
        c.disk_refuse_writes_percent = self.disk_refuse_writes_percent;
        c.delete_unconsumed_when_full = self.clean_file_forcibly;
        c.record_size_max_bytes = self.message_size_max_bytes + 64 * 1024;
        c
    }
}

/// The automatic `cq_open_files_max` for a descriptor limit: half of what is left after the
/// connections and 1,024 descriptors for the rest (segments, index files, sockets of the NameServer
/// role and replication), at least 128 per shard and at most 65,536.
pub fn cq_open_files_auto(fd_limit: u64, connections_max: usize, shards: usize) -> usize {
    let spare = fd_limit.saturating_sub(connections_max as u64 + 1024) / 2;
    (spare.min(65_536) as usize).max(128 * shards.max(1))
}

/// The process's soft limit on open descriptors (after `main` raised it to the hard limit).
pub fn fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid pointer to a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    }
}

#[cfg(test)]
mod tests;
