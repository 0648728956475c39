//! Transactional messages (§11): END_TRANSACTION (producer → broker) and CHECK_TRANSACTION_STATE
//! (broker → producer).

use super::{ext_bool, ext_i32, ext_i64, ext_str, non_empty, opt_str, HeaderError};
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

    /// What a Java client sends.
    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("producerGroup", &self.producer_group);
        cmd.set_ext("tranStateTableOffset", self.tran_state_table_offset);
        cmd.set_ext("commitLogOffset", self.commit_log_offset);
        cmd.set_ext("commitOrRollback", self.commit_or_rollback);
        cmd.set_ext("fromTransactionCheck", self.from_transaction_check);
        if let Some(id) = &self.msg_id {
            cmd.set_ext("msgId", id);
        }
        if let Some(id) = &self.transaction_id {
            cmd.set_ext("transactionId", id);
        }
    }
}

/// CHECK_TRANSACTION_STATE (39) request header, sent by the broker (§11.3). Every value is a JSON
/// string (C++ clients read them with `isString()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTransactionStateHeader {
    /// The real topic (5.x adds it; older clients ignore it).
    pub topic: Option<String>,
    pub tran_state_table_offset: i64,
    pub commit_log_offset: i64,
    /// The message's UNIQ_KEY.
    pub msg_id: Option<String>,
    /// Also the UNIQ_KEY, as the Java broker sends it.
    pub transaction_id: Option<String>,
    pub offset_msg_id: Option<String>,
}

impl CheckTransactionStateHeader {
    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        if let Some(t) = &self.topic {
            cmd.set_ext("topic", t);
        }
        cmd.set_ext("tranStateTableOffset", self.tran_state_table_offset);
        cmd.set_ext("commitLogOffset", self.commit_log_offset);
        if let Some(id) = &self.msg_id {
            cmd.set_ext("msgId", id);
        }
        if let Some(id) = &self.transaction_id {
            cmd.set_ext("transactionId", id);
        }
        if let Some(id) = &self.offset_msg_id {
            cmd.set_ext("offsetMsgId", id);
        }
    }

    pub fn parse(cmd: &RemotingCommand) -> Result<CheckTransactionStateHeader, HeaderError> {
        Ok(CheckTransactionStateHeader {
            topic: opt_str(cmd, "topic").map(String::from),
            tran_state_table_offset: ext_i64(cmd, "tranStateTableOffset")?,
            commit_log_offset: ext_i64(cmd, "commitLogOffset")?,
            msg_id: non_empty(cmd.ext("msgId")),
            transaction_id: non_empty(cmd.ext("transactionId")),
            offset_msg_id: non_empty(cmd.ext("offsetMsgId")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_transaction_round_trip() {
        let h = EndTransactionHeader {
            producer_group: "pg".into(),
            tran_state_table_offset: 3,
            commit_log_offset: 1 << 48,
            commit_or_rollback: 8,
            from_transaction_check: true,
            msg_id: Some("AB".into()),
            transaction_id: None,
        };
        let mut c = RemotingCommand::request(37);
        h.write_to(&mut c);
        assert_eq!(EndTransactionHeader::parse(&c), Ok(h));
    }

    #[test]
    fn check_header_round_trip() {
        let h = CheckTransactionStateHeader {
            topic: Some("T".into()),
            tran_state_table_offset: 4,
            commit_log_offset: 99,
            msg_id: Some("U".into()),
            transaction_id: Some("U".into()),
            offset_msg_id: Some("7F".into()),
        };
        let mut c = RemotingCommand::request(39);
        h.write_to(&mut c);
        assert_eq!(c.ext("commitLogOffset"), Some("99"));
        assert_eq!(CheckTransactionStateHeader::parse(&c), Ok(h));
    }
}
