//! The settings an operator may change while the broker runs (UPDATE_BROKER_CONFIG, `mqadmin
//! updateBrokerConfig`), and the listing GET_BROKER_CONFIG reports.
//!
//! Everything else in [`BrokerConfig`] is read once at start (sizes of buffers, ports, the shard
//! count, storage layout) and changing it means a restart, so the broker refuses it with a remark
//! naming the keys it does take. A runtime change lives in memory: it is not written back to the
//! config file (the file is the operator's; say it there too to keep it after a restart).
//!
//! | key (RocketMQ name) | ours | takes effect |
//! |---|---|---|
//! | autoCreateTopicEnable | auto_create_topic | next send to an unknown topic |
//! | maxMessageSize | message_size_max_bytes | next send (at most [`MESSAGE_SIZE_MAX_BYTES`]) |
//! | longPollingEnable | long_polling | next pull |

use super::{canonical_key, BrokerConfig, ConfigError, KEYS, MESSAGE_SIZE_MAX_BYTES};

/// The runtime-changeable part of the config; each shard holds a copy (`Cell`, it is `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    pub auto_create_topic: bool,
    pub message_size_max_bytes: usize,
    pub long_polling: bool,
}

/// Our names of the keys [`RuntimeConfig`] holds.
pub const RUNTIME_KEYS: &[&str] = &[
    "auto_create_topic",
    "message_size_max_bytes",
    "long_polling",
];

impl RuntimeConfig {
    pub fn from_config(c: &BrokerConfig) -> RuntimeConfig {
        RuntimeConfig {
            auto_create_topic: c.auto_create_topic,
            message_size_max_bytes: c.message_size_max_bytes,
            long_polling: c.long_polling,
        }
    }

    /// `base` with these values in place of its own.
    pub fn overlay(&self, base: &BrokerConfig) -> BrokerConfig {
        BrokerConfig {
            auto_create_topic: self.auto_create_topic,
            message_size_max_bytes: self.message_size_max_bytes,
            long_polling: self.long_polling,
            ..base.clone()
        }
    }

    /// Applies `key=value` pairs (our names or RocketMQ's) to a copy of `self` over `base`; the
    /// first key that is unknown, not changeable at runtime, or badly valued refuses all of them.
    pub fn update(
        &self,
        base: &BrokerConfig,
        pairs: &[(String, String)],
    ) -> Result<RuntimeConfig, ConfigError> {
        let mut c = self.overlay(base);
        for (k, v) in pairs {
            let Some(name) = canonical_key(k) else {
                return Err(ConfigError::Invalid(format!("unknown config key `{k}`")));
            };
            if !RUNTIME_KEYS.contains(&name) {
                return Err(ConfigError::Invalid(format!(
                    "`{k}` cannot change while the broker runs (restart with it in the config file); \
                     changeable now: {}",
                    runtime_key_names().join(", ")
                )));
            }
            c.set(k, v)?;
        }
        if c.message_size_max_bytes == 0 || c.message_size_max_bytes > MESSAGE_SIZE_MAX_BYTES {
            return Err(ConfigError::Invalid(format!(
                "maxMessageSize must be between 1 and {MESSAGE_SIZE_MAX_BYTES}"
            )));
        }
        Ok(RuntimeConfig::from_config(&c))
    }
}

/// The RocketMQ name of each runtime key (ours when it has none).
pub fn runtime_key_names() -> Vec<&'static str> {
    RUNTIME_KEYS.iter().map(|n| display_name(n)).collect()
}

fn display_name(name: &str) -> &'static str {
    let k = KEYS
        .iter()
        .find(|k| k.name == name)
        .expect("a name from KEYS");
    k.rocketmq.first().copied().unwrap_or(k.name)
}

impl BrokerConfig {
    /// Every setting as (name, value text): RocketMQ's broker.conf name where there is one, ours
    /// otherwise; in [`KEYS`] order. What GET_BROKER_CONFIG reports.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        KEYS.iter()
            .map(|k| {
                let v = match k.name {
                    "data_dir" => self.data_dir.display().to_string(),
                    "listen_ip" => self.listen_ip.to_string(),
                    "broker_ip" => self.broker_ip.to_string(),
                    "namesrv_port" => self.namesrv_port.to_string(),
                    "broker_port" => self.broker_port.to_string(),
                    "vip_channel" => self.vip_channel.to_string(),
                    "broker_name" => self.broker_name.clone(),
                    "cluster_name" => self.cluster_name.clone(),
                    "shards" => self.shard_count().to_string(),
                    "flush_mode" => match self.flush_mode {
                        crate::storage::FlushMode::Sync => "SYNC_FLUSH".into(),
                        crate::storage::FlushMode::Async => "ASYNC_FLUSH".into(),
                    },
                    "flush_interval_ms" => self.flush_interval_ms.to_string(),
                    "prewrite_segments" => match self.prewrite_segments {
                        None => "auto".to_string(),
                        Some(b) => b.to_string(),
                    },
                    "flush_timeout_ms" => self.flush_timeout_ms.to_string(),
                    "segment_size_bytes" => self.segment_size_bytes.to_string(),
                    "cache_bytes_max" => self.cache_bytes_max.to_string(),
                    "write_behind_bytes_max" => match self.write_behind_bytes_max {
                        None => "auto".to_string(),
                        Some(b) => b.to_string(),
                    },
                    "cq_open_files_max" => match self.cq_open_files_max {
                        None => "auto".to_string(),
                        Some(n) => n.to_string(),
                    },
                    "retention_hours" => self.retention_hours.to_string(),
                    "retention_interval_ms" => self.retention_interval_ms.to_string(),
                    "disk_usage_max_percent" => self.disk_usage_max_percent.to_string(),
                    "disk_refuse_writes_percent" => self.disk_refuse_writes_percent.to_string(),
                    "clean_file_forcibly" => self.clean_file_forcibly.to_string(),
                    "auto_create_topic" => self.auto_create_topic.to_string(),
                    "default_topic_queue_nums" => self.default_topic_queue_nums.to_string(),
                    "message_size_max_bytes" => self.message_size_max_bytes.to_string(),
                    "long_polling" => self.long_polling.to_string(),
                    "connection_inflight_max" => self.connection_inflight_max.to_string(),
                    "frame_max_bytes" => self.frame_max_bytes.to_string(),
                    "connections_max" => self.connections_max.to_string(),
                    "shard_frame_buffer_bytes_max" => self.shard_frame_buffer_bytes_max.to_string(),
                    "peer_frame_buffer_bytes_max" => self.peer_frame_buffer_bytes_max.to_string(),
                    "frame_timeout_ms" => self.frame_timeout_ms.to_string(),
                    "connection_outbound_bytes_max" => {
                        self.connection_outbound_bytes_max.to_string()
                    }
                    "shard_outbound_bytes_max" => self.shard_outbound_bytes_max.to_string(),
                    "outbound_stall_timeout_ms" => self.outbound_stall_timeout_ms.to_string(),
                    // Its RocketMQ name counts seconds.
                    "connection_idle_timeout_ms" => {
                        (self.connection_idle_timeout_ms / 1000).to_string()
                    }
                    "offset_persist_interval_ms" => self.offset_persist_interval_ms.to_string(),
                    "spin_before_park_us" => self.spin_before_park_us.to_string(),
                    "disable_thp" => self.disable_thp.to_string(),
                    "spread_connections" => self.spread_connections.to_string(),
                    "acl_enable" => self.acl_enable.to_string(),
                    // Unset: no value (the accounts file itself is never shown, only its path).
                    "acl_file" => self
                        .acl_file
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    "console_access_key" => self.console_access_key.clone().unwrap_or_default(),
                    // Never shown: GET_BROKER_CONFIG answers any client.
                    "console_secret_key" => String::new(),
                    "transaction_timeout_ms" => self.transaction_timeout_ms.to_string(),
                    "transaction_check_max" => self.transaction_check_max.to_string(),
                    "transaction_check_interval_ms" => {
                        self.transaction_check_interval_ms.to_string()
                    }
                    "transaction_check_round_max" => self.transaction_check_round_max.to_string(),
                    "message_delay_level" => self
                        .message_delay_level_ms
                        .iter()
                        .map(|ms| match ms {
                            ms if ms % 86_400_000 == 0 => format!("{}d", ms / 86_400_000),
                            ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
                            ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
                            ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
                            ms => format!("{ms}ms"),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    "timer_max_delay_sec" => self.timer_max_delay_sec.to_string(),
                    "http_port" => self.http_port.to_string(),
                    "http_listen_ip" => self.http_listen_ip.to_string(),
                    "enable_property_filter" => self.enable_property_filter.to_string(),
                    "query_max_num" => self.query_max_num.to_string(),
                    "unique_key_query_max_num" => self.unique_key_query_max_num.to_string(),
                    "trace_topic_enable" => self.trace_topic_enable.to_string(),
                    "msg_trace_topic_name" => self.msg_trace_topic_name.clone(),
                    "namesrv_role" => self.namesrv_role.to_string(),
                    "namesrv_addr" => self.namesrv_addr.join(";"),
                    "kv_config_path" => self.kv_config_path().display().to_string(),
                    "order_message_enable" => self.order_message_enable.to_string(),
                    "broker_id" => self.broker_id.to_string(),
                    "broker_role" => self.broker_role.name().to_string(),
                    "ha_listen_port" => self.ha_port().to_string(),
                    "ha_master_address" => self.ha_master_address.clone().unwrap_or_default(),
                    "ha_send_heartbeat_interval_ms" => {
                        self.ha_send_heartbeat_interval_ms.to_string()
                    }
                    "slave_timeout_ms" => self.slave_timeout_ms.to_string(),
                    "ha_slave_fallbehind_max_bytes" => {
                        self.ha_slave_fallbehind_max_bytes.to_string()
                    }
                    "register_period_ms" => self.register_period_ms.to_string(),
                    "register_timeout_ms" => self.register_timeout_ms.to_string(),
                    "broker_not_active_timeout_ms" => self.broker_not_active_timeout_ms.to_string(),
                    "slave_read_enable" => self.slave_read_enable.to_string(),
                    "enable_controller_mode" => self.enable_controller_mode.to_string(),
                    "controller_addr" => self.controller_addr.join(";"),
                    "controller_heartbeat_interval_ms" => {
                        self.controller_heartbeat_interval_ms.to_string()
                    }
                    // A key added to KEYS without a line here still shows, with no value.
                    _ => String::new(),
                };
                (display_name(k.name), v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// One row per kind of update: (pairs, accepted?).
    #[test]
    fn update_table() {
        let base = BrokerConfig::default();
        let rt = RuntimeConfig::from_config(&base);
        let rows: &[(&[(&str, &str)], bool)] = &[
            (&[("autoCreateTopicEnable", "false")], true),
            (
                &[("maxMessageSize", "1024"), ("long_polling", "false")],
                true,
            ),
            (&[("maxMessageSize", "0")], false),
            (&[("maxMessageSize", "99999999999")], false),
            (&[("autoCreateTopicEnable", "maybe")], false),
            (&[("listenPort", "1")], false),
            (&[("noSuchKey", "1")], false),
            (
                &[("autoCreateTopicEnable", "false"), ("brokerName", "x")],
                false,
            ),
        ];
        for (kv, ok) in rows {
            assert_eq!(rt.update(&base, &pairs(kv)).is_ok(), *ok, "{kv:?}");
        }
        let new = rt
            .update(
                &base,
                &pairs(&[
                    ("maxMessageSize", "1024"),
                    ("autoCreateTopicEnable", "false"),
                ]),
            )
            .unwrap();
        assert_eq!(new.message_size_max_bytes, 1024);
        assert!(!new.auto_create_topic);
        assert!(new.long_polling);
        let err = rt
            .update(&base, &pairs(&[("listenPort", "1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("autoCreateTopicEnable, maxMessageSize, longPollingEnable"),
            "{err}"
        );
    }

    #[test]
    fn every_key_is_listed_with_a_value_that_reads_back() {
        let c = BrokerConfig::default();
        let e = c.entries();
        assert_eq!(e.len(), KEYS.len());
        for (k, v) in &e {
            if [
                "aclFile",
                "namesrvAddr",
                "haMasterAddress",
                "controllerAddr",
                "console_access_key",
                "console_secret_key",
            ]
            .contains(k)
            {
                assert!(v.is_empty(), "{k}: none by default");
                continue;
            }
            assert!(!v.is_empty() || *k == "listen_ip", "{k} has no value");
            let mut back = BrokerConfig::default();
            assert!(back.set(k, v).unwrap(), "{k} is a known key");
        }
        assert!(e.contains(&("brokerName", "broker-a".to_string())));
        assert!(e.contains(&("autoCreateTopicEnable", "true".to_string())));
    }
}
