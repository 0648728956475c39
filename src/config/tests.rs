//! Config tests: defaults, both file formats, RocketMQ key names, validation, row by row.

use super::*;

#[test]
fn rocketmq_names_map_to_ours() {
    let mut c = BrokerConfig::default();
    assert!(c.set("flushDiskType", "SYNC_FLUSH").unwrap());
    assert!(c.set("listenPort", "20911").unwrap());
    assert!(c.set("storePathRootDir", "/data/x").unwrap());
    assert!(c.set("autoCreateTopicEnable", "false").unwrap());
    assert!(c.set("namesrvAddr", "1.2.3.4:9876").unwrap());
    assert!(c.set("deleteWhen", "04").unwrap(), "known, ignored");
    assert!(!c.set("noSuchKey", "1").unwrap());
    assert_eq!(c.flush_mode, FlushMode::Sync);
    assert_eq!(c.broker_port, 20911);
    assert_eq!(c.data_dir, PathBuf::from("/data/x"));
    assert!(!c.auto_create_topic);
}

#[test]
fn transaction_keys() {
    let mut c = BrokerConfig::default();
    assert_eq!(
        (c.transaction_timeout_ms, c.transaction_check_max),
        (6_000, 15)
    );
    assert!(c.set("transactionTimeOut", "2000").unwrap());
    assert!(c.set("transactionCheckMax", "3").unwrap());
    assert!(c.set("transactionCheckInterval", "1000").unwrap());
    assert_eq!(c.transaction_timeout_ms, 2_000);
    assert_eq!(c.transaction_check_max, 3);
    assert_eq!(c.transaction_check_interval_ms, 1_000);
    assert!(c.validate().is_ok());
    c.transaction_check_interval_ms = 0;
    assert!(c.validate().is_err(), "a zero interval would spin");
}

#[test]
fn delay_levels_and_timer_limit() {
    let c = BrokerConfig::default();
    assert_eq!(c.message_delay_level_ms.len(), 18);
    assert_eq!(c.message_delay_level_ms[0], 1_000);
    assert_eq!(c.message_delay_level_ms[17], 7_200_000);
    assert!(c.timer_max_delay_sec >= 30 * 24 * 3600);
    let mut c = BrokerConfig::default();
    assert!(c.set("messageDelayLevel", "1s 2s 3s 500ms 1d").unwrap());
    assert_eq!(
        c.message_delay_level_ms,
        vec![1_000, 2_000, 3_000, 500, 86_400_000]
    );
    assert!(c.set("timerMaxDelaySec", "60").unwrap());
    assert_eq!(c.timer_max_delay_sec, 60);
    c.validate().unwrap();
    assert!(c.set("messageDelayLevel", "1s 5x").is_err());
    assert!(c.set("message_delay_level", "1s five").is_err());
    c.set("message_delay_level", "").unwrap();
    assert!(c.validate().is_err(), "no levels");
    c.set("message_delay_level", "0s").unwrap();
    assert!(c.validate().is_err(), "a zero delay");
    let mut c = BrokerConfig::default();
    c.set("timer_max_delay_sec", "0").unwrap();
    assert!(c.validate().is_err());
}

#[test]
fn cluster_keys() {
    let mut c = BrokerConfig::default();
    assert!(c
        .set("namesrvAddr", " 10.0.0.1:9876; 10.0.0.2:9876 ;")
        .unwrap());
    assert_eq!(c.namesrv_addr, vec!["10.0.0.1:9876", "10.0.0.2:9876"]);
    assert!(c.set("brokerId", "0").unwrap());
    assert!(c.set("registerNameServerPeriod", "10000").unwrap());
    assert!(c.set("namesrv_role", "off").unwrap());
    assert!(!c.namesrv_role);
    c.namesrv_port = c.broker_port;
    assert!(c.validate().is_ok(), "no NameServer port without the role");
    let refused = |f: &dyn Fn(&mut BrokerConfig)| {
        let mut c = BrokerConfig::default();
        f(&mut c);
        c.validate().unwrap_err().to_string()
    };
    let e = refused(&|c| c.namesrv_addr = vec!["nohost".into()]);
    assert!(e.contains("namesrv_addr"), "{e}");
    let e = refused(&|c| c.broker_id = 1);
    assert!(e.contains("brokerRole=SLAVE"), "{e}");
    let e = refused(&|c| c.broker_role = BrokerRole::Slave);
    assert!(e.contains("1 or more"), "{e}");
    let e = refused(&|c| c.ha_master_address = Some("nohost".into()));
    assert!(e.contains("ha_master_address"), "{e}");
    let e = refused(&|c| c.register_period_ms = 120_000);
    assert!(e.contains("register_period_ms"), "{e}");
    assert!(c.set("brokerNotActiveTimeoutMillis", "6000").unwrap());
    assert_eq!(c.broker_not_active_timeout_ms, 6000);
    let e = refused(&|c| c.broker_not_active_timeout_ms = c.register_period_ms);
    assert!(e.contains("broker_not_active_timeout_ms"), "{e}");
}

#[test]
fn replication_keys_take_rocketmq_names() {
    let mut c = BrokerConfig::default();
    assert_eq!(c.broker_role, BrokerRole::AsyncMaster);
    assert_eq!(c.ha_port(), c.broker_port + 1);
    for (k, v) in [
        ("brokerRole", "slave"),
        ("brokerId", "1"),
        ("haListenPort", "20912"),
        ("haMasterAddress", "10.0.0.1:10912"),
        ("haSendHeartbeatInterval", "1000"),
        ("slaveTimeout", "500"),
        ("haSlaveFallbehindMax", "1024"),
    ] {
        assert!(c.set(k, v).unwrap(), "{k}");
    }
    assert_eq!(c.broker_role, BrokerRole::Slave);
    assert_eq!(c.ha_port(), 20912);
    assert_eq!(c.ha_master_address.as_deref(), Some("10.0.0.1:10912"));
    assert_eq!(c.ha_send_heartbeat_interval_ms, 1000);
    assert_eq!(c.slave_timeout_ms, 500);
    assert_eq!(c.ha_slave_fallbehind_max_bytes, 1024);
    c.validate().unwrap();
    assert!(c.set("brokerRole", "SYNC_MASTER").unwrap());
    assert_eq!(c.broker_role, BrokerRole::SyncMaster);
    assert!(c.set("brokerRole", "LEADER").is_err());
    // Who listens for slaves: a SYNC_MASTER; an ASYNC_MASTER given a port; never a slave.
    assert!(c.ha_listens());
    c.broker_id = 0;
    c.broker_role = BrokerRole::AsyncMaster;
    assert!(c.ha_listens());
    c.ha_listen_port = 0;
    assert!(!c.ha_listens());
    c.broker_role = BrokerRole::Slave;
    assert!(!c.ha_listens());
}

#[test]
fn bad_values_are_named() {
    let mut c = BrokerConfig::default();
    let e = c.set("flush_mode", "sometimes").unwrap_err().to_string();
    assert!(e.contains("flush_mode") && e.contains("sometimes"), "{e}");
    assert!(c.set("broker_port", "x").is_err());
}

#[test]
fn files_in_both_dialects() {
    let dir = std::env::temp_dir().join(format!("bolide-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("broker.conf");
    std::fs::write(&conf, "# comment\nbrokerClusterName = C1\nbrokerName=b1\nflushDiskType=ASYNC_FLUSH\ndeleteWhen=04\nweird=1\n").unwrap();
    let mut c = BrokerConfig::default();
    let unknown = c.apply_file(&conf).unwrap();
    assert_eq!(unknown, vec!["weird".to_string()]);
    assert_eq!(
        (c.cluster_name.as_str(), c.broker_name.as_str()),
        ("C1", "b1")
    );
    let toml_path = dir.join("bolide.toml");
    std::fs::write(
        &toml_path,
        "shards = 3\nlong_polling = false\nsegment_size_bytes = 1048576\n",
    )
    .unwrap();
    c.apply_file(&toml_path).unwrap();
    assert_eq!(c.shards, 3);
    assert!(!c.long_polling);
    std::fs::write(&toml_path, "shards = [1]").unwrap();
    assert!(c.apply_file(&toml_path).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validation_catches_collisions_and_limits() {
    let mut c = BrokerConfig::default();
    assert!(c.validate().is_ok());
    c.namesrv_port = c.broker_port - 2;
    assert!(c.validate().is_err());
    let mut c = BrokerConfig {
        segment_size_bytes: 1000,
        ..Default::default()
    };
    assert!(c.validate().is_err());
    c.segment_size_bytes = 1 << 20;
    assert!(c.validate().is_err(), "1 MiB cannot hold a 4 MiB message");
}

#[test]
fn retention_interval_takes_the_rocketmq_name_and_a_floor() {
    let mut c = BrokerConfig::default();
    assert_eq!(c.retention_interval_ms, 10_000);
    assert!(c.set("cleanResourceInterval", "3600000").unwrap());
    assert_eq!(c.retention_interval_ms, 3_600_000);
    assert!(c.validate().is_ok());
    c.retention_interval_ms = 99;
    assert!(c.validate().is_err(), "a busy loop");
}

#[test]
fn edge_limits_are_keys_and_are_checked() {
    let mut c = BrokerConfig::default();
    assert!(c.set("writeBufferHighWaterMark", "65536").unwrap());
    assert_eq!(c.connection_outbound_bytes_max, 65536);
    assert!(c.set("serverChannelMaxIdleTimeSeconds", "90").unwrap());
    assert_eq!(c.connection_idle_timeout_ms, 90_000, "seconds become ms");
    assert!(c.set("connection_idle_timeout_ms", "0").unwrap());
    assert_eq!(c.connection_idle_timeout_ms, 0);
    assert!(c.set("connections_max", "10").unwrap());
    assert!(c.set("frame_timeout_ms", "2000").unwrap());
    assert!(c.set("shard_frame_buffer_bytes_max", "33554432").unwrap());
    assert!(c.set("peer_frame_buffer_bytes_max", "16777216").unwrap());
    assert!(c.validate().is_ok());
    c.shards = 4;
    assert_eq!(c.shard_connections_max(), 3, "10 over 4 shards, rounded up");

    let refused = |f: &dyn Fn(&mut BrokerConfig)| {
        let mut c = BrokerConfig::default();
        f(&mut c);
        c.validate().unwrap_err().to_string()
    };
    let e = refused(&|c| c.shard_frame_buffer_bytes_max = (16 << 20) - 1);
    assert!(e.contains("shard_frame_buffer_bytes_max"), "{e}");
    let e = refused(&|c| c.peer_frame_buffer_bytes_max = (16 << 20) - 1);
    assert!(e.contains("peer_frame_buffer_bytes_max"), "{e}");
    let e = refused(&|c| c.peer_frame_buffer_bytes_max = (64 << 20) + 1);
    assert!(e.contains("peer_frame_buffer_bytes_max"), "{e}");
    let e = refused(&|c| c.frame_max_bytes = (16 << 20) + 1);
    assert!(e.contains("frame_max_bytes"), "{e}");
    let e = refused(&|c| c.frame_max_bytes = 1 << 20);
    assert!(e.contains("largest message"), "{e}");
    let e = refused(&|c| c.connections_max = 0);
    assert!(e.contains("connections_max"), "{e}");
    let e = refused(&|c| c.frame_timeout_ms = 10);
    assert!(e.contains("frame_timeout_ms"), "{e}");
    let e = refused(&|c| c.outbound_stall_timeout_ms = 0);
    assert!(e.contains("outbound_stall_timeout_ms"), "{e}");
    let e = refused(&|c| c.connection_idle_timeout_ms = 5);
    assert!(e.contains("connection_idle_timeout_ms"), "{e}");
    let e = refused(&|c| c.connection_outbound_bytes_max = 100);
    assert!(e.contains("connection_outbound_bytes_max"), "{e}");
    let e = refused(&|c| c.shard_outbound_bytes_max = 1000);
    assert!(e.contains("shard_outbound_bytes_max"), "{e}");
}

#[test]
fn prewrite_segments_is_auto_true_or_false_and_reaches_the_store() {
    let mut c = BrokerConfig::default();
    assert_eq!(c.prewrite_segments, None);
    assert_eq!(c.store_config(0).prewrite_segments, None);
    assert!(c.set("warmMapedFileEnable", "true").unwrap());
    assert_eq!(c.store_config(1).prewrite_segments, Some(true));
    assert!(c.set("prewrite_segments", "false").unwrap());
    assert_eq!(c.prewrite_segments, Some(false));
    assert!(c.set("prewrite_segments", "auto").unwrap());
    assert_eq!(c.prewrite_segments, None);
    assert!(c.set("prewrite_segments", "sometimes").is_err());
}

/// Reads one boolean setting of a config.
type Switch = fn(&BrokerConfig) -> bool;

/// Process-level switches that are on unless turned off: (key, its value in the config).
#[test]
fn process_switches_are_on_by_default_and_can_be_turned_off() {
    let rows: [(&str, Switch); 2] = [
        ("disable_thp", |c| c.disable_thp),
        ("spread_connections", |c| c.spread_connections),
    ];
    for (key, get) in rows {
        let mut c = BrokerConfig::default();
        assert!(get(&c), "{key} default");
        assert!(c.set(key, "false").unwrap(), "{key}");
        assert!(!get(&c), "{key} off");
        assert!(c.set(key, "maybe").is_err(), "{key} takes a boolean");
    }
}

#[test]
fn write_behind_is_auto_or_bytes_split_over_the_shards() {
    let mut c = BrokerConfig::default();
    assert_eq!(c.write_behind_bytes_max, None);
    assert_eq!(c.store_config(0).write_behind_bytes_max, None);
    c.shards = 2;
    assert!(c.set("write_behind_bytes_max", "536870912").unwrap());
    assert_eq!(c.write_behind_bytes_max, Some(512 << 20));
    assert_eq!(c.store_config(1).write_behind_bytes_max, Some(256 << 20));
    assert!(c.set("write_behind_bytes_max", "auto").unwrap());
    assert_eq!(c.store_config(0).write_behind_bytes_max, None);
    assert!(c.set("write_behind_bytes_max", "lots").is_err());
}

#[test]
fn open_consume_queue_files_are_auto_or_a_number_split_over_the_shards() {
    // (descriptor limit, connections_max, shards) -> the automatic total.
    let rows: &[((u64, usize, usize), usize)] = &[
        ((1 << 20, 4096, 2), 65_536), // a generous limit: capped
        ((20_000, 4096, 2), 7_440),   // (20000 - 4096 - 1024) / 2
        ((65_536, 4096, 4), 30_208),  // (65536 - 4096 - 1024) / 2
        ((1_024, 64, 2), 256),        // nothing left: 128 per shard
        ((1_024, 4096, 8), 1_024),    // connections over the limit: 128 per shard
    ];
    for &((limit, conns, shards), want) in rows {
        assert_eq!(
            super::cq_open_files_auto(limit, conns, shards),
            want,
            "limit {limit}, {conns} connections, {shards} shards"
        );
    }
    let mut c = BrokerConfig::default();
    assert_eq!(c.cq_open_files_max, None);
    c.shards = 2;
    assert!(c.set("cq_open_files_max", "1000").unwrap());
    assert_eq!(c.shard_cq_open_files_max(), 500);
    assert!(c.set("cq_open_files_max", "1").unwrap());
    assert_eq!(c.shard_cq_open_files_max(), 1, "at least one per shard");
    assert!(c.set("cq_open_files_max", "auto").unwrap());
    assert_eq!(c.cq_open_files_max, None);
    assert!(c.shard_cq_open_files_max() >= 128);
    assert!(c.set("cq_open_files_max", "many").is_err());
}
