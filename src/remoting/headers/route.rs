//! NameServer requests: routes (§3.1), broker registration (§21.1, §21.2), and the route-JSON dialect rule.

use super::{ext_bool, ext_i64, ext_str, opt_i32, opt_i64, opt_str, HeaderError};
use crate::remoting::RemotingCommand;

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

/// First client version (V4_9_4) that gets standard JSON routes.
pub const STANDARD_JSON_VERSION: i32 = 401;

/// Whether route/cluster JSON for this request must be standard JSON (quoted `brokerAddrs` keys):
/// request version >= 401 (V4_9_4) or `acceptStandardJsonOnly=true` (§3.1).
pub fn wants_standard_json(cmd: &RemotingCommand) -> bool {
    cmd.version >= STANDARD_JSON_VERSION || ext_bool(cmd, "acceptStandardJsonOnly")
}

/// REGISTER_BROKER (103) request header (§21.1): a broker tells a NameServer who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBrokerHeader {
    pub broker_name: String,
    /// `ip:port` clients reach the broker at (brokerIP1:listenPort).
    pub broker_addr: String,
    pub cluster_name: String,
    /// `ip:port` of the broker's HA (replication) listener.
    pub ha_server_addr: String,
    /// 0 = master, 1.. = slaves.
    pub broker_id: i64,
    /// Per-broker expiry (J5, sent with `enableSlaveActingMaster` only); absent: the NameServer's 120 s.
    pub heartbeat_timeout_ms: Option<i64>,
    /// The body is the zlib binary form, not JSON.
    pub compressed: bool,
    /// CRC32 of the body masked to 31 bits (Java `UtilAll.crc32`); 0 = not checked.
    pub body_crc32: i32,
}

impl RegisterBrokerHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<RegisterBrokerHeader, HeaderError> {
        Ok(RegisterBrokerHeader {
            broker_name: ext_str(cmd, "brokerName")?.to_string(),
            broker_addr: ext_str(cmd, "brokerAddr")?.to_string(),
            cluster_name: ext_str(cmd, "clusterName")?.to_string(),
            ha_server_addr: opt_str(cmd, "haServerAddr").unwrap_or("").to_string(),
            broker_id: ext_i64(cmd, "brokerId")?,
            heartbeat_timeout_ms: opt_i64(cmd, "heartbeatTimeoutMillis")?,
            compressed: ext_bool(cmd, "compressed"),
            body_crc32: opt_i32(cmd, "bodyCrc32")?.unwrap_or(0),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("brokerName", &self.broker_name);
        cmd.set_ext("brokerAddr", &self.broker_addr);
        cmd.set_ext("clusterName", &self.cluster_name);
        cmd.set_ext("haServerAddr", &self.ha_server_addr);
        cmd.set_ext("brokerId", self.broker_id);
        if let Some(ms) = self.heartbeat_timeout_ms {
            cmd.set_ext("heartbeatTimeoutMillis", ms);
        }
        cmd.set_ext("compressed", self.compressed);
        cmd.set_ext("bodyCrc32", self.body_crc32);
    }
}

/// CRC32 of a body as RocketMQ puts it in `bodyCrc32`: the IEEE CRC masked to 31 bits, so that it
/// fits a positive Java `int` (Java `UtilAll.crc32`).
pub fn body_crc32(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

/// REGISTER_BROKER (103) response header: for a slave, its group's master (both absent otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterBrokerResponseHeader {
    pub ha_server_addr: Option<String>,
    pub master_addr: Option<String>,
}

impl RegisterBrokerResponseHeader {
    pub fn parse(cmd: &RemotingCommand) -> RegisterBrokerResponseHeader {
        RegisterBrokerResponseHeader {
            ha_server_addr: opt_str(cmd, "haServerAddr").map(str::to_string),
            master_addr: opt_str(cmd, "masterAddr").map(str::to_string),
        }
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        if let Some(a) = &self.ha_server_addr {
            cmd.set_ext("haServerAddr", a);
        }
        if let Some(a) = &self.master_addr {
            cmd.set_ext("masterAddr", a);
        }
    }
}

/// UNREGISTER_BROKER (104) request header (§21.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnregisterBrokerHeader {
    pub broker_name: String,
    pub broker_addr: String,
    pub cluster_name: String,
    pub broker_id: i64,
}

/// QUERY_DATA_VERSION (322, body: the broker's DataVersion) and BROKER_HEARTBEAT (904): the
/// broker's identity. Java's headers carry more (brokerId, epoch, offsets); the NameServer reads
/// these two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNoticeHeader {
    pub cluster_name: String,
    pub broker_addr: String,
}

impl BrokerNoticeHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<BrokerNoticeHeader, HeaderError> {
        Ok(BrokerNoticeHeader {
            cluster_name: ext_str(cmd, "clusterName")?.to_string(),
            broker_addr: ext_str(cmd, "brokerAddr")?.to_string(),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("clusterName", &self.cluster_name);
        cmd.set_ext("brokerAddr", &self.broker_addr);
    }
}

impl UnregisterBrokerHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<UnregisterBrokerHeader, HeaderError> {
        Ok(UnregisterBrokerHeader {
            broker_name: ext_str(cmd, "brokerName")?.to_string(),
            broker_addr: ext_str(cmd, "brokerAddr")?.to_string(),
            cluster_name: ext_str(cmd, "clusterName")?.to_string(),
            broker_id: ext_i64(cmd, "brokerId")?,
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("brokerName", &self.broker_name);
        cmd.set_ext("brokerAddr", &self.broker_addr);
        cmd.set_ext("clusterName", &self.cluster_name);
        cmd.set_ext("brokerId", self.broker_id);
    }
}
