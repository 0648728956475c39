//! The NameServer role's codes, answered on the accepting shard from its topic replica by the pure
//! [`crate::nameserver`] module (which knows nothing of the broker).

use crate::broker::Broker;
use crate::nameserver::{self, LocalBroker};
use crate::remoting::RemotingCommand;

impl Broker {
    pub(crate) fn nameserver(&self, cmd: &RemotingCommand) -> RemotingCommand {
        let me = LocalBroker {
            cluster_name: &self.cfg.cluster_name,
            broker_name: &self.cfg.broker_name,
            addr: self.store_host,
        };
        nameserver::handle(&me, &self.topics.borrow().topics, cmd)
    }
}
