//! Message queries: VIEW_MESSAGE_BY_ID (33), on the shard whose commit log holds the offset (the
//! routing checked that shard exists). QUERY_MESSAGE (by key) will land here.

use crate::broker::status::storage_error;
use crate::broker::Broker;
use crate::remoting::codes::response as rs;
use crate::remoting::headers::ViewMessageByIdHeader;
use crate::remoting::RemotingCommand;
use crate::storage::PhysicalOffset;

impl Broker {
    pub(crate) async fn view_message(
        &self,
        h: ViewMessageByIdHeader,
        cmd: &RemotingCommand,
    ) -> RemotingCommand {
        let off = h.offset as u64;
        match self.store.read_record(PhysicalOffset(off)).await {
            Ok(bytes) => cmd.response(rs::SUCCESS).with_body(bytes),
            Err(e) => storage_error(
                cmd,
                &format!("can not find message by the offset, {off}: "),
                &e,
            ),
        }
    }
}
