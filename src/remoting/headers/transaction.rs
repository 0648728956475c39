//! Transactional messages (§11).

use super::{ext_bool, ext_i32, ext_i64, ext_str, non_empty, HeaderError};
use crate::remoting::RemotingCommand;

/// END_TRANSACTION (37) request header (§11.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTransactionHeader {
    pub producer_group: String,
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    /// 8 = commit, 12 = rollback, 0 = unknown.
    pub commit_or_rollback: i32,
    pub from_transaction_check: bool,
    pub msg_id: Option<String>,
    pub transaction_id: Option<String>,
}

impl EndTransactionHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<EndTransactionHeader, HeaderError> {
        Ok(EndTransactionHeader {
            producer_group: ext_str(cmd, "producerGroup")?.to_string(),
            tran_state_table_offset: ext_i64(cmd, "tranStateTableOffset")?,
            commit_log_offset: ext_i64(cmd, "commitLogOffset")?,
            commit_or_rollback: ext_i32(cmd, "commitOrRollback")?,
            from_transaction_check: ext_bool(cmd, "fromTransactionCheck"),
            msg_id: non_empty(cmd.ext("msgId")),
            transaction_id: non_empty(cmd.ext("transactionId")),
        })
    }
}
