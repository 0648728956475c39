//! Consumer-group administration and offset reset (§20): DELETE_SUBSCRIPTIONGROUP (207),
//! INVOKE_BROKER_TO_RESET_OFFSET (222) and the broker-to-client RESET_CONSUMER_CLIENT_OFFSET (220).
//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200) and GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) carry no
//! header (200's config is the body, `body::SubscriptionGroupConfig`).

use super::{ext_bool, ext_i64, ext_str, opt_i32, opt_i64, HeaderError};
use crate::remoting::RemotingCommand;

/// DELETE_SUBSCRIPTIONGROUP (207): J4 names the offset flag `removeOffset`, J5 `cleanOffset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSubscriptionGroupHeader {
    pub group_name: String,
    /// Also drop the group's committed offsets.
    pub clean_offset: bool,
}

impl DeleteSubscriptionGroupHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<DeleteSubscriptionGroupHeader, HeaderError> {
        Ok(DeleteSubscriptionGroupHeader {
            group_name: ext_str(cmd, "groupName")?.to_string(),
            clean_offset: ext_bool(cmd, "cleanOffset") || ext_bool(cmd, "removeOffset"),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("groupName", &self.group_name);
        cmd.set_ext("cleanOffset", self.clean_offset);
        cmd.set_ext("removeOffset", self.clean_offset);
    }
}

/// INVOKE_BROKER_TO_RESET_OFFSET (222) request header; RESET_CONSUMER_CLIENT_OFFSET (220) sends
/// the same fields to each consumer. `timestamp == -1` means the queues' max offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOffsetHeader {
    pub topic: String,
    pub group: String,
    pub timestamp_ms: i64,
    /// Reset even when the target is ahead of the committed offset.
    pub is_force: bool,
    /// J5: one queue only (with `offset`); `None` or negative means every queue.
    pub queue_id: Option<i32>,
    /// J5: the offset to set for `queue_id` (instead of looking it up by time).
    pub offset: Option<i64>,
}

impl ResetOffsetHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ResetOffsetHeader, HeaderError> {
        Ok(ResetOffsetHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            group: ext_str(cmd, "group")?.to_string(),
            timestamp_ms: ext_i64(cmd, "timestamp")?,
            is_force: ext_bool(cmd, "isForce"),
            queue_id: opt_i32(cmd, "queueId")?,
            offset: opt_i64(cmd, "offset")?,
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("group", &self.group);
        cmd.set_ext("timestamp", self.timestamp_ms);
        cmd.set_ext("isForce", self.is_force);
        if let Some(q) = self.queue_id {
            cmd.set_ext("queueId", q);
        }
        if let Some(o) = self.offset {
            cmd.set_ext("offset", o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::codes::request;

    #[test]
    fn reset_header_round_trips() {
        let h = ResetOffsetHeader {
            topic: "T".into(),
            group: "g".into(),
            timestamp_ms: -1,
            is_force: true,
            queue_id: None,
            offset: None,
        };
        let mut c = RemotingCommand::request(request::INVOKE_BROKER_TO_RESET_OFFSET);
        h.write_to(&mut c);
        assert_eq!(ResetOffsetHeader::parse(&c).unwrap(), h);
        let c = RemotingCommand::request(request::INVOKE_BROKER_TO_RESET_OFFSET);
        assert_eq!(
            ResetOffsetHeader::parse(&c),
            Err(HeaderError::Missing { field: "topic" })
        );
    }

    #[test]
    fn delete_group_reads_either_offset_flag() {
        let mut c = RemotingCommand::request(request::DELETE_SUBSCRIPTIONGROUP);
        c.set_ext("groupName", "g");
        c.set_ext("removeOffset", "true");
        assert!(
            DeleteSubscriptionGroupHeader::parse(&c)
                .unwrap()
                .clean_offset
        );
        let mut c = RemotingCommand::request(request::DELETE_SUBSCRIPTIONGROUP);
        c.set_ext("groupName", "g");
        assert!(
            !DeleteSubscriptionGroupHeader::parse(&c)
                .unwrap()
                .clean_offset
        );
    }
}
