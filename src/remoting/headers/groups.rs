//! Consumer-group administration and offset reset (§20): DELETE_SUBSCRIPTIONGROUP (207),
//! INVOKE_BROKER_TO_RESET_OFFSET (222) and the broker-to-client RESET_CONSUMER_CLIENT_OFFSET (220).
//! GET_SUBSCRIPTIONGROUP_CONFIG (352) names a group. UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200) and
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) carry no
//! header (200's config is the body, `body::SubscriptionGroupConfig`).

use super::{ext_bool, ext_i64, ext_str, opt_i32, opt_i64, HeaderError};
use crate::remoting::RemotingCommand;

/// GET_SUBSCRIPTIONGROUP_CONFIG (352): the group asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupHeader {
    pub group: String,
}

impl GroupHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<GroupHeader, HeaderError> {
        Ok(GroupHeader {
            group: ext_str(cmd, "group")?.to_string(),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("group", &self.group);
    }
}

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

/// CLONE_GROUP_OFFSET (314, mqadmin cloneGroupOffset): copy `src_group`'s committed offsets of
/// `topic` (every topic it has offsets for when absent) to `dest_group`. `offline`: copy even
/// when the source group's live consumers do not subscribe to the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneGroupOffsetHeader {
    pub src_group: String,
    pub dest_group: String,
    pub topic: Option<String>,
    pub offline: bool,
}

impl CloneGroupOffsetHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<CloneGroupOffsetHeader, HeaderError> {
        Ok(CloneGroupOffsetHeader {
            src_group: ext_str(cmd, "srcGroup")?.to_string(),
            dest_group: ext_str(cmd, "destGroup")?.to_string(),
            topic: super::non_empty(super::opt_str(cmd, "topic")),
            offline: ext_bool(cmd, "offline"),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("srcGroup", &self.src_group);
        cmd.set_ext("destGroup", &self.dest_group);
        if let Some(t) = &self.topic {
            cmd.set_ext("topic", t);
        }
        cmd.set_ext("offline", self.offline);
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
    fn clone_header_round_trips_and_needs_both_groups() {
        let h = CloneGroupOffsetHeader {
            src_group: "A".into(),
            dest_group: "B".into(),
            topic: Some("T".into()),
            offline: true,
        };
        let mut c = RemotingCommand::request(request::CLONE_GROUP_OFFSET);
        h.write_to(&mut c);
        assert_eq!(CloneGroupOffsetHeader::parse(&c).unwrap(), h);
        let mut c = RemotingCommand::request(request::CLONE_GROUP_OFFSET);
        c.set_ext("srcGroup", "A");
        c.set_ext("destGroup", "B");
        c.set_ext("topic", "");
        let parsed = CloneGroupOffsetHeader::parse(&c).unwrap();
        assert_eq!((parsed.topic, parsed.offline), (None, false));
        let mut c = RemotingCommand::request(request::CLONE_GROUP_OFFSET);
        c.set_ext("srcGroup", "A");
        assert!(CloneGroupOffsetHeader::parse(&c).is_err());
    }

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
