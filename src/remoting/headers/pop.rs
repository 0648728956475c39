//! POP consumption (RocketMQ 5): POP_MESSAGE (200050), ACK_MESSAGE (200051) and
//! CHANGE_MESSAGE_INVISIBLETIME (200053), and the receipt a popped message carries.
//!
//! The receipt (`extraInfo`, the message property `POP_CK`) is what the client built from a pop's
//! answer and sends back with its ack: space-separated `ckOffset popTime invisibleTime reviveQid
//! retry brokerName queueId queueOffset` (the Java client's `ExtraInfoUtil`). The broker reads the
//! pop time from it, to tell an ack of the current delivery from one of an earlier delivery.

use super::{ext_i32, ext_i64, ext_str, opt_str, parse_bool, HeaderError};
use crate::remoting::RemotingCommand;

/// POP_MESSAGE (200050) request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopMessageHeader {
    pub consumer_group: String,
    pub topic: String,
    /// -1: any queue of the topic on this broker.
    pub queue_id: i32,
    pub max_msg_nums: i32,
    /// How long popped messages stay invisible to other pops unless acked (ms).
    pub invisible_time_ms: i64,
    /// Long-polling hold (ms); 0 answers at once.
    pub poll_time_ms: i64,
    pub born_time_ms: i64,
    /// 0 (`ConsumeInitMode.MIN`): a group new to a queue starts at its first message; 1 (`MAX`):
    /// at its end.
    pub init_mode: i32,
    /// `TAG` or `SQL92`; absent means TAG.
    pub exp_type: Option<String>,
    pub exp: Option<String>,
    /// Orderly pop: a queue with messages in flight gives nothing new until they are acked.
    pub order: bool,
}

impl PopMessageHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<PopMessageHeader, HeaderError> {
        Ok(PopMessageHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            max_msg_nums: ext_i32(cmd, "maxMsgNums")?,
            invisible_time_ms: ext_i64(cmd, "invisibleTime")?,
            poll_time_ms: ext_i64(cmd, "pollTime")?,
            born_time_ms: ext_i64(cmd, "bornTime")?,
            init_mode: ext_i32(cmd, "initMode")?,
            exp_type: opt_str(cmd, "expType").map(str::to_string),
            exp: opt_str(cmd, "exp").map(str::to_string),
            order: cmd.ext("order").is_some_and(parse_bool),
        })
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("consumerGroup", &self.consumer_group);
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
        cmd.set_ext("maxMsgNums", self.max_msg_nums);
        cmd.set_ext("invisibleTime", self.invisible_time_ms);
        cmd.set_ext("pollTime", self.poll_time_ms);
        cmd.set_ext("bornTime", self.born_time_ms);
        cmd.set_ext("initMode", self.init_mode);
        if let Some(t) = &self.exp_type {
            cmd.set_ext("expType", t);
        }
        if let Some(e) = &self.exp {
            cmd.set_ext("exp", e);
        }
        cmd.set_ext("order", self.order);
    }
}

/// POP_MESSAGE (200050) response header; every field is written on every answer, found or not
/// (the Java client decodes it whatever the code, and these four are required there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PopResultHeader {
    pub pop_time_ms: i64,
    pub invisible_time_ms: i64,
    pub revive_qid: i32,
    /// Messages left behind the popped ones in the queues looked at.
    pub rest_num: i64,
}

impl PopResultHeader {
    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("popTime", self.pop_time_ms);
        cmd.set_ext("invisibleTime", self.invisible_time_ms);
        cmd.set_ext("reviveQid", self.revive_qid);
        cmd.set_ext("restNum", self.rest_num);
    }

    pub fn parse(cmd: &RemotingCommand) -> Result<PopResultHeader, HeaderError> {
        Ok(PopResultHeader {
            pop_time_ms: ext_i64(cmd, "popTime")?,
            invisible_time_ms: ext_i64(cmd, "invisibleTime")?,
            revive_qid: ext_i32(cmd, "reviveQid")?,
            rest_num: ext_i64(cmd, "restNum")?,
        })
    }
}

/// ACK_MESSAGE (200051) request header; CHANGE_MESSAGE_INVISIBLETIME (200053) adds
/// `invisibleTime`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckMessageHeader {
    pub consumer_group: String,
    pub topic: String,
    pub queue_id: i32,
    /// The queue offset of the message acked.
    pub offset: i64,
    /// The receipt ([`PopReceipt`]).
    pub extra_info: String,
    /// CHANGE_MESSAGE_INVISIBLETIME only: the new invisible time from now (ms).
    pub invisible_time_ms: Option<i64>,
}

impl AckMessageHeader {
    pub fn parse(cmd: &RemotingCommand) -> Result<AckMessageHeader, HeaderError> {
        Ok(AckMessageHeader {
            consumer_group: ext_str(cmd, "consumerGroup")?.to_string(),
            topic: ext_str(cmd, "topic")?.to_string(),
            queue_id: ext_i32(cmd, "queueId")?,
            offset: ext_i64(cmd, "offset")?,
            extra_info: ext_str(cmd, "extraInfo")?.to_string(),
            invisible_time_ms: None,
        })
    }

    /// CHANGE_MESSAGE_INVISIBLETIME: the ack fields and a required `invisibleTime`.
    pub fn parse_change(cmd: &RemotingCommand) -> Result<AckMessageHeader, HeaderError> {
        let mut h = AckMessageHeader::parse(cmd)?;
        h.invisible_time_ms = Some(ext_i64(cmd, "invisibleTime")?);
        Ok(h)
    }

    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("consumerGroup", &self.consumer_group);
        cmd.set_ext("topic", &self.topic);
        cmd.set_ext("queueId", self.queue_id);
        cmd.set_ext("offset", self.offset);
        cmd.set_ext("extraInfo", &self.extra_info);
        if let Some(t) = self.invisible_time_ms {
            cmd.set_ext("invisibleTime", t);
        }
    }

    /// The pop time the receipt names; an unreadable receipt is a header error.
    pub fn pop_time_ms(&self) -> Result<i64, HeaderError> {
        PopReceipt::parse(&self.extra_info)
            .map(|r| r.pop_time_ms)
            .ok_or_else(|| HeaderError::Invalid {
                field: "extraInfo",
                value: self.extra_info.clone(),
            })
    }
}

/// The fields of a receipt the broker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PopReceipt {
    pub ck_offset: i64,
    pub pop_time_ms: i64,
    pub invisible_time_ms: i64,
}

impl PopReceipt {
    /// `None` unless the first three space-separated fields are numbers.
    pub fn parse(extra_info: &str) -> Option<PopReceipt> {
        let mut it = extra_info.split(' ');
        let mut num = || it.next().and_then(|s| s.trim().parse::<i64>().ok());
        Some(PopReceipt {
            ck_offset: num()?,
            pop_time_ms: num()?,
            invisible_time_ms: num()?,
        })
    }
}

/// CHANGE_MESSAGE_INVISIBLETIME (200053) response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeInvisibleTimeResultHeader {
    pub pop_time_ms: i64,
    pub invisible_time_ms: i64,
    pub revive_qid: i32,
}

impl ChangeInvisibleTimeResultHeader {
    pub fn write_to(&self, cmd: &mut RemotingCommand) {
        cmd.set_ext("popTime", self.pop_time_ms);
        cmd.set_ext("invisibleTime", self.invisible_time_ms);
        cmd.set_ext("reviveQid", self.revive_qid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::codes::request as rq;

    #[test]
    fn a_java_pop_header_parses() {
        let mut c = RemotingCommand::request(rq::POP_MESSAGE);
        for (k, v) in [
            ("consumerGroup", "G"),
            ("topic", "T"),
            ("queueId", "-1"),
            ("maxMsgNums", "32"),
            ("invisibleTime", "60000"),
            ("pollTime", "15000"),
            ("bornTime", "1700000000000"),
            ("initMode", "1"),
            ("expType", "TAG"),
            ("exp", "*"),
            ("order", "false"),
            ("bname", "broker-a"),
        ] {
            c.set_ext(k, v);
        }
        let h = PopMessageHeader::parse(&c).unwrap();
        assert_eq!(h.queue_id, -1);
        assert_eq!(h.poll_time_ms, 15_000);
        assert_eq!(h.exp.as_deref(), Some("*"));
        assert!(!h.order);
        let mut again = RemotingCommand::request(rq::POP_MESSAGE);
        h.write_to(&mut again);
        assert_eq!(PopMessageHeader::parse(&again).unwrap(), h);
    }

    #[test]
    fn a_receipt_gives_its_pop_time() {
        let r = PopReceipt::parse("12 1700000000123 60000 0 0 broker-a 3 14").unwrap();
        assert_eq!(r.ck_offset, 12);
        assert_eq!(r.pop_time_ms, 1_700_000_000_123);
        assert_eq!(r.invisible_time_ms, 60_000);
        assert_eq!(PopReceipt::parse("12 x 60000"), None);
        assert_eq!(PopReceipt::parse("12"), None);
    }

    #[test]
    fn change_needs_its_invisible_time() {
        let mut c = RemotingCommand::request(rq::CHANGE_MESSAGE_INVISIBLETIME);
        for (k, v) in [
            ("consumerGroup", "G"),
            ("topic", "T"),
            ("queueId", "1"),
            ("offset", "7"),
            ("extraInfo", "7 5 1000 0 0 b 1 7"),
        ] {
            c.set_ext(k, v);
        }
        assert!(AckMessageHeader::parse(&c).is_ok());
        assert_eq!(
            AckMessageHeader::parse_change(&c),
            Err(HeaderError::Missing {
                field: "invisibleTime"
            })
        );
        c.set_ext("invisibleTime", "2000");
        let h = AckMessageHeader::parse_change(&c).unwrap();
        assert_eq!(h.invisible_time_ms, Some(2000));
        assert_eq!(h.pop_time_ms(), Ok(5));
    }
}
