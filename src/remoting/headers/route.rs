//! NameServer route requests (§3.1) and the route-JSON dialect rule.

use super::{ext_bool, ext_str, HeaderError};
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
