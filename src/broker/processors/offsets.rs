//! Consumer offsets and queue offsets, on the shard that owns the queue: QUERY_CONSUMER_OFFSET (14),
//! UPDATE_CONSUMER_OFFSET (15), SEARCH_OFFSET_BY_TIMESTAMP (29), GET_MAX_OFFSET (30),
//! GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32).
//!
//! Parse: the typed header, on the accepting shard ([`crate::broker::routing::OwnedRequest`]).
//! Apply and respond: here. The queue id is non-negative (checked when routed).

use crate::broker::status::storage_error;
use crate::broker::Broker;
use crate::remoting::codes::response as rs;
use crate::remoting::headers::{
    write_offset, QueryConsumerOffsetHeader, QueueHeader, SearchOffsetHeader,
    UpdateConsumerOffsetHeader,
};
use crate::remoting::RemotingCommand;

impl Broker {
    pub(crate) fn query_consumer_offset(
        &self,
        h: QueryConsumerOffsetHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let qid = h.queue_id as u32;
        let stored = self
            .offsets
            .borrow()
            .query(&h.consumer_group, &h.topic, qid);
        let mut resp = cmd.response(rs::SUCCESS);
        let min = self.store.min_offset(&h.topic, qid);
        match stored {
            Some(off) => write_offset(&mut resp, off),
            // As the Java broker: a group that never committed reads a queue that lost nothing to
            // retention from its beginning (a new group on a fresh topic sees everything). A queue
            // begins at 0, or where its topic's deletion left it (the Java broker starts it at 0
            // again; offsets here go on, see storage::deletions).
            None if min == self.store.queue_start(&h.topic, qid) => {
                write_offset(&mut resp, min.0 as i64)
            }
            None => {
                return cmd.error_response(
                    rs::QUERY_NOT_FOUND,
                    "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
                )
            }
        }
        resp
    }

    pub(crate) fn update_consumer_offset(
        &self,
        h: UpdateConsumerOffsetHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        self.offsets.borrow_mut().commit(
            &h.consumer_group,
            &h.topic,
            h.queue_id as u32,
            h.commit_offset,
        );
        cmd.response(rs::SUCCESS)
    }

    pub(crate) fn max_offset(&self, h: QueueHeader, cmd: &RemotingCommand) -> RemotingCommand {
        let mut resp = cmd.response(rs::SUCCESS);
        let max = self.store.max_offset(&h.topic, h.queue_id as u32).0;
        write_offset(&mut resp, max as i64);
        resp
    }

    pub(crate) fn min_offset(&self, h: QueueHeader, cmd: &RemotingCommand) -> RemotingCommand {
        let mut resp = cmd.response(rs::SUCCESS);
        let min = self.store.min_offset(&h.topic, h.queue_id as u32).0;
        write_offset(&mut resp, min as i64);
        resp
    }

    pub(crate) async fn search_offset_by_timestamp(
        &self,
        h: SearchOffsetHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        match self
            .store
            .offset_by_time(&h.topic, h.queue_id as u32, h.timestamp_ms)
            .await
        {
            Ok(off) => {
                let mut resp = cmd.response(rs::SUCCESS);
                write_offset(&mut resp, off.0 as i64);
                resp
            }
            Err(e) => storage_error(cmd, "", &e),
        }
    }

    pub(crate) async fn earliest_msg_store_time(
        &self,
        h: QueueHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        match self
            .store
            .earliest_store_time(&h.topic, h.queue_id as u32)
            .await
        {
            Ok(ts) => {
                let mut resp = cmd.response(rs::SUCCESS);
                resp.set_ext("timestamp", ts.unwrap_or(-1));
                resp
            }
            Err(e) => storage_error(cmd, "", &e),
        }
    }
}
