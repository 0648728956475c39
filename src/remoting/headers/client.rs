//! Client registry requests: unregister, consumer list (§6).

use super::{ext_str, non_empty, HeaderError};
use crate::remoting::RemotingCommand;

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

/// GET_PRODUCER_CONNECTION_LIST (204) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerGroupHeader {
    pub producer_group: String,
}

impl ProducerGroupHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<ProducerGroupHeader, HeaderError> {
        Ok(ProducerGroupHeader {
            producer_group: ext_str(cmd, "producerGroup")?.to_string(),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("producerGroup", &self.producer_group);
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
