//! The key table: every setting a config file or `--set` may name, under our snake_case name and
//! the RocketMQ broker.conf names that mean the same, and the Java-only keys accepted silently.

/// A config key: our name, the RocketMQ broker.conf names that mean the same.
pub struct Key {
    pub name: &'static str,
    pub rocketmq: &'static [&'static str],
}

/// Every key a config file may set.
pub const KEYS: &[Key] = &[
    Key {
        name: "data_dir",
        rocketmq: &["storePathRootDir"],
    },
    Key {
        name: "listen_ip",
        rocketmq: &[],
    },
    Key {
        name: "broker_ip",
        rocketmq: &["brokerIP1"],
    },
    Key {
        name: "namesrv_port",
        rocketmq: &[],
    },
    Key {
        name: "broker_port",
        rocketmq: &["listenPort"],
    },
    Key {
        name: "vip_channel",
        rocketmq: &[],
    },
    Key {
        name: "broker_name",
        rocketmq: &["brokerName"],
    },
    Key {
        name: "cluster_name",
        rocketmq: &["brokerClusterName"],
    },
    Key {
        name: "shards",
        rocketmq: &[],
    },
    Key {
        name: "flush_mode",
        rocketmq: &["flushDiskType"],
    },
    Key {
        name: "flush_interval_ms",
        rocketmq: &["flushIntervalCommitLog"],
    },
    Key {
        name: "prewrite_segments",
        rocketmq: &["warmMapedFileEnable"],
    },
    Key {
        name: "flush_timeout_ms",
        rocketmq: &["syncFlushTimeout"],
    },
    Key {
        name: "segment_size_bytes",
        rocketmq: &["mappedFileSizeCommitLog", "mapedFileSizeCommitLog"],
    },
    Key {
        name: "cache_bytes_max",
        rocketmq: &[],
    },
    Key {
        name: "write_behind_bytes_max",
        rocketmq: &[],
    },
    Key {
        name: "cq_open_files_max",
        rocketmq: &[],
    },
    Key {
        name: "retention_hours",
        rocketmq: &["fileReservedTime"],
    },
    Key {
        name: "retention_interval_ms",
        rocketmq: &["cleanResourceInterval"],
    },
    Key {
        name: "disk_usage_max_percent",
        rocketmq: &["diskMaxUsedSpaceRatio"],
    },
    Key {
        name: "disk_refuse_writes_percent",
        rocketmq: &["diskSpaceWarningLevelRatio"],
    },
    Key {
        name: "clean_file_forcibly",
        rocketmq: &["cleanFileForciblyEnable"],
    },
    Key {
        name: "auto_create_topic",
        rocketmq: &["autoCreateTopicEnable"],
    },
    Key {
        name: "default_topic_queue_nums",
        rocketmq: &["defaultTopicQueueNums"],
    },
    Key {
        name: "message_size_max_bytes",
        rocketmq: &["maxMessageSize"],
    },
    Key {
        name: "long_polling",
        rocketmq: &["longPollingEnable"],
    },
    Key {
        name: "connection_inflight_max",
        rocketmq: &[],
    },
    Key {
        name: "frame_max_bytes",
        rocketmq: &[],
    },
    Key {
        name: "connections_max",
        rocketmq: &[],
    },
    Key {
        name: "shard_frame_buffer_bytes_max",
        rocketmq: &[],
    },
    Key {
        name: "peer_frame_buffer_bytes_max",
        rocketmq: &[],
    },
    Key {
        name: "frame_timeout_ms",
        rocketmq: &[],
    },
    Key {
        name: "connection_outbound_bytes_max",
        rocketmq: &["writeBufferHighWaterMark"],
    },
    Key {
        name: "shard_outbound_bytes_max",
        rocketmq: &[],
    },
    Key {
        name: "outbound_stall_timeout_ms",
        rocketmq: &[],
    },
    Key {
        // RocketMQ's name counts seconds; `set` converts.
        name: "connection_idle_timeout_ms",
        rocketmq: &["serverChannelMaxIdleTimeSeconds"],
    },
    Key {
        name: "offset_persist_interval_ms",
        rocketmq: &["flushConsumerOffsetInterval"],
    },
    Key {
        name: "spin_before_park_us",
        rocketmq: &[],
    },
    Key {
        name: "spread_connections",
        rocketmq: &[],
    },
    Key {
        // Redis's `disable-thp`; RocketMQ has no key for it.
        name: "disable_thp",
        rocketmq: &[],
    },
    Key {
        name: "enable_property_filter",
        rocketmq: &["enablePropertyFilter"],
    },
    Key {
        name: "query_max_num",
        rocketmq: &["maxMsgsNumBatch"],
    },
    Key {
        name: "unique_key_query_max_num",
        rocketmq: &["defaultQueryMaxNum"],
    },
    Key {
        name: "trace_topic_enable",
        rocketmq: &["traceTopicEnable"],
    },
    Key {
        name: "msg_trace_topic_name",
        rocketmq: &["msgTraceTopicName"],
    },
    Key {
        name: "acl_enable",
        rocketmq: &["aclEnable"],
    },
    Key {
        name: "acl_file",
        rocketmq: &["aclFile"],
    },
    Key {
        name: "console_access_key",
        rocketmq: &[],
    },
    Key {
        name: "console_secret_key",
        rocketmq: &[],
    },
    Key {
        name: "transaction_timeout_ms",
        rocketmq: &["transactionTimeOut"],
    },
    Key {
        name: "transaction_check_max",
        rocketmq: &["transactionCheckMax"],
    },
    Key {
        name: "transaction_check_interval_ms",
        rocketmq: &["transactionCheckInterval"],
    },
    Key {
        name: "transaction_check_round_max",
        rocketmq: &[],
    },
    Key {
        name: "message_delay_level",
        rocketmq: &["messageDelayLevel"],
    },
    Key {
        name: "timer_max_delay_sec",
        rocketmq: &["timerMaxDelaySec"],
    },
    Key {
        name: "http_port",
        rocketmq: &["httpPort", "metricsExporterPort"],
    },
    Key {
        name: "http_listen_ip",
        rocketmq: &["httpListenIp"],
    },
    Key {
        name: "namesrv_role",
        rocketmq: &[],
    },
    Key {
        name: "namesrv_addr",
        rocketmq: &["namesrvAddr"],
    },
    Key {
        name: "kv_config_path",
        rocketmq: &["kvConfigPath"],
    },
    Key {
        name: "order_message_enable",
        rocketmq: &["orderMessageEnable"],
    },
    Key {
        name: "broker_id",
        rocketmq: &["brokerId"],
    },
    Key {
        name: "register_period_ms",
        rocketmq: &["registerNameServerPeriod"],
    },
    Key {
        name: "register_timeout_ms",
        rocketmq: &["registerBrokerTimeoutMills"],
    },
    Key {
        name: "broker_role",
        rocketmq: &["brokerRole"],
    },
    Key {
        name: "ha_listen_port",
        rocketmq: &["haListenPort"],
    },
    Key {
        name: "ha_master_address",
        rocketmq: &["haMasterAddress"],
    },
    Key {
        name: "ha_send_heartbeat_interval_ms",
        rocketmq: &["haSendHeartbeatInterval"],
    },
    Key {
        name: "slave_timeout_ms",
        rocketmq: &["slaveTimeout"],
    },
    Key {
        name: "ha_slave_fallbehind_max_bytes",
        rocketmq: &["haSlaveFallbehindMax"],
    },
    Key {
        name: "broker_not_active_timeout_ms",
        rocketmq: &["brokerNotActiveTimeoutMillis"],
    },
    Key {
        name: "slave_read_enable",
        rocketmq: &["slaveReadEnable"],
    },
    Key {
        name: "enable_controller_mode",
        rocketmq: &["enableControllerMode"],
    },
    Key {
        name: "controller_addr",
        rocketmq: &["controllerAddr"],
    },
    Key {
        name: "controller_heartbeat_interval_ms",
        rocketmq: &["controllerHeartbeatInterval"],
    },
];

/// RocketMQ keys we understand but that need no setting here (accepted silently).
pub(super) const ROCKETMQ_IGNORED: &[&str] = &[
    "deleteWhen",
    "storePathCommitLog",
    "storePathConsumeQueue",
    "autoCreateSubscriptionGroup",
    "sendMessageThreadPoolNums",
    "pullMessageThreadPoolNums",
];

pub(super) fn canonical_key(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .find(|k| k.name == key || k.rocketmq.contains(&key))
        .map(|k| k.name)
}
