//! Headers of the operator codes `mqadmin` sends a broker or a NameServer (§20): topic deletion,
//! topic and consumer statistics, connections, who consumes a topic, topics by cluster, consume
//! time span. Broker runtime info (28) and broker config (25, 26) have no request header.

use super::{ext_str, opt_str, HeaderError};
use crate::remoting::RemotingCommand;

/// A request whose only field is `topic`: DELETE_TOPIC_IN_BROKER (215), GET_TOPIC_STATS_INFO (202),
/// QUERY_TOPIC_CONSUME_BY_WHO (300).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicHeader {
    pub topic: String,
}

impl TopicHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<TopicHeader, HeaderError> {
        Ok(TopicHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("topic", &self.topic);
    }
}

/// DELETE_TOPIC_IN_NAMESRV (216): `topic`, and `clusterName` to delete it from that cluster's
/// brokers only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicFromNamesrvHeader {
    pub topic: String,
    pub cluster_name: Option<String>,
}

impl DeleteTopicFromNamesrvHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<DeleteTopicFromNamesrvHeader, HeaderError> {
        Ok(DeleteTopicFromNamesrvHeader {
            topic: ext_str(cmd, "topic")?.to_string(),
            cluster_name: super::non_empty(opt_str(cmd, "clusterName")),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("topic", &self.topic);
        if let Some(c) = &self.cluster_name {
            cmd.set_ext("clusterName", c);
        }
    }
}

/// GET_CONSUME_STATS (208): the group, and optionally one topic (else every topic the group has
/// offsets for). QUERY_CONSUME_TIME_SPAN (303) has the same fields, `group` instead of
/// `consumerGroup`, topic required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeStatsHeader {
    pub consumer_group: String,
    pub topic: Option<String>,
}

impl ConsumeStatsHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ConsumeStatsHeader, HeaderError> {
        Ok(ConsumeStatsHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
            topic: super::non_empty(opt_str(cmd, "topic")),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("consumerGroup", &self.consumer_group);
        if let Some(t) = &self.topic {
            cmd.set_ext("topic", t);
        }
    }

    /// QUERY_CONSUME_TIME_SPAN's form (`topic`, `group`).
    pub fn parse_time_span(cmd: &RemotingCommand) -> Result<ConsumeStatsHeader, HeaderError> {
        Ok(ConsumeStatsHeader {
            consumer_group: ext_str(cmd, "group")?.to_string(),
            topic: Some(ext_str(cmd, "topic")?.to_string()),
        })
    }

    pub fn write_time_span(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("group", &self.consumer_group);
        cmd.set_ext("topic", self.topic.as_deref().unwrap_or_default());
    }
}

/// GET_TOPICS_BY_CLUSTER (224): `cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHeader {
    pub cluster: String,
}

impl ClusterHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ClusterHeader, HeaderError> {
        Ok(ClusterHeader {
            cluster: ext_str(cmd, "cluster")?.to_string(),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("cluster", &self.cluster);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_back_what_they_write() {
        let mut c = RemotingCommand::request(208);
        let h = ConsumeStatsHeader {
            consumer_group: "g".into(),
            topic: Some("T".into()),
        };
        h.write_to(&mut c);
        assert_eq!(ConsumeStatsHeader::parse(&c).unwrap(), h);
        let mut c = RemotingCommand::request(303);
        h.write_time_span(&mut c);
        assert_eq!(ConsumeStatsHeader::parse_time_span(&c).unwrap(), h);
        let mut c = RemotingCommand::request(216);
        let d = DeleteTopicFromNamesrvHeader {
            topic: "T".into(),
            cluster_name: None,
        };
        d.write_to(&mut c);
        assert_eq!(DeleteTopicFromNamesrvHeader::parse(&c).unwrap(), d);
        assert_eq!(
            TopicHeader::parse(&RemotingCommand::request(202)),
            Err(HeaderError::Missing { field: "topic" })
        );
        let mut c = RemotingCommand::request(224);
        ClusterHeader {
            cluster: "C".into(),
        }
        .write_to(&mut c);
        assert_eq!(ClusterHeader::parse(&c).unwrap().cluster, "C");
    }

    #[test]
    fn consume_stats_topic_is_optional_and_empty_means_absent() {
        let mut c = RemotingCommand::request(208);
        c.set_ext("consumerGroup", "g");
        c.set_ext("topic", "");
        assert_eq!(ConsumeStatsHeader::parse(&c).unwrap().topic, None);
    }
}

/// VIEW_BROKER_STATS_DATA (315): one statistics item, by Java's stats name (`TOPIC_PUT_NUMS`, ...)
/// and key (a topic, `topic@group`, or the cluster name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewBrokerStatsDataHeader {
    pub stats_name: String,
    pub stats_key: String,
}

impl ViewBrokerStatsDataHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ViewBrokerStatsDataHeader, HeaderError> {
        Ok(ViewBrokerStatsDataHeader {
            stats_name: ext_str(cmd, "statsName")?.to_string(),
            stats_key: ext_str(cmd, "statsKey")?.to_string(),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("statsName", &self.stats_name);
        cmd.set_ext("statsKey", &self.stats_key);
    }
}

/// GET_BROKER_CONSUME_STATS (317): `isOrder` limits the answer to ordered topics (Java sends it
/// always; a missing one reads as false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConsumeStatsHeader {
    pub is_order: bool,
}

impl BrokerConsumeStatsHeader {
    pub fn parse(cmd: &RemotingCommand) -> BrokerConsumeStatsHeader {
        BrokerConsumeStatsHeader {
            is_order: super::ext_bool(cmd, "isOrder"),
        }
    }
}
