//! Typed requests on a [`Conn`]: each builds its request from the typed headers and bodies of
//! [`crate::remoting`], writes it at once (see the contract in [`crate::client`]) and maps the
//! response to a typed result or a [`ClientError`].
//!
//! | method                    | request code            | accepted response codes -> result            |
//! |---------------------------|-------------------------|----------------------------------------------|
//! | `send`                    | SEND_MESSAGE_V2 / _BATCH| [`send_status`] table -> [`SendResult`]      |
//! | `send_oneway`             | same, oneway            | none                                         |
//! | `pull`                    | PULL_MESSAGE            | [`PullStatus::from_code`] table -> [`PullResult`] |
//! | `query_consumer_offset`   | QUERY_CONSUMER_OFFSET   | SUCCESS -> Some(offset), QUERY_NOT_FOUND -> None |
//! | `update_consumer_offset`  | UPDATE_CONSUMER_OFFSET  | SUCCESS                                      |
//! | `max_offset`/`min_offset` | GET_MAX/MIN_OFFSET      | SUCCESS -> offset                            |
//! | `heartbeat`               | HEART_BEAT              | SUCCESS                                      |
//! | `get_route`               | GET_ROUTEINFO_BY_TOPIC  | SUCCESS -> Some(route), TOPIC_NOT_EXIST -> None |
//! | `create_topic`            | UPDATE_AND_CREATE_TOPIC | SUCCESS                                      |
//!
//! Any other response code is [`ClientError::Refused`] with the code and remark.
//!
//! Sends are encoded by [`SendRequest::encode`] from borrowed fields straight into the output buffer,
//! exactly as a Java 4.9.x producer writes SEND_MESSAGE_V2 (letter keys): the load generator's hot
//! path uses it through [`Conn::call_with`] without allocating per message.

use std::future::Future;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use crate::message::{decode_record, RecordError, RecordView};
use crate::remoting::body::{HeartbeatData, TopicRouteData};
use crate::remoting::codes::{request, response};
use crate::remoting::headers::{
    parse_offset, CreateTopicHeader, GetRouteInfoHeader, PullMessageHeader, PullResultHeader,
    QueryConsumerOffsetHeader, QueueHeader, SendResultHeader, UpdateConsumerOffsetHeader,
    DEFAULT_TOPIC,
};
use crate::remoting::{encode_frame_ref, CommandRef, RemotingCommand};

use super::{ClientError, Conn};

/// One send request (single message, or an encoded batch), borrowing every field.
///
/// Fixed on the wire as a Java producer sends them: default topic `TBW102` with 4 queues, sysFlag 0,
/// flag 0, reconsumeTimes 0, unitMode false.
#[derive(Debug, Clone, Copy)]
pub struct SendRequest<'a> {
    pub producer_group: &'a str,
    pub topic: &'a str,
    /// `< 0` lets the broker pick a queue.
    pub queue_id: i32,
    pub born_timestamp_ms: i64,
    /// Properties string (`key\u{1}value\u{2}...`); for a batch, the batch-level properties.
    pub properties: &'a str,
    /// The message body, or with `batch` an encoded batch ([`crate::remoting::batch::encode_batch`]).
    pub body: &'a [u8],
    /// SEND_BATCH_MESSAGE instead of SEND_MESSAGE_V2.
    pub batch: bool,
}

/// Decimal text of `v` in `buf` (no allocation).
fn decimal(v: i64, buf: &mut [u8; 20]) -> &str {
    use std::io::Write as _;
    let mut cursor = &mut buf[..];
    // 20 bytes hold every i64 ("-9223372036854775808").
    let _ = write!(cursor, "{v}");
    let len = 20 - cursor.len();
    std::str::from_utf8(&buf[..len]).unwrap_or("0")
}

impl SendRequest<'_> {
    /// The request code this request is sent with.
    pub fn code(&self) -> i32 {
        if self.batch {
            request::SEND_BATCH_MESSAGE
        } else {
            request::SEND_MESSAGE_V2
        }
    }

    /// Writes the whole frame with the given opaque and flag (0, or [`crate::remoting::FLAG_ONEWAY`]).
    pub fn encode(&self, opaque: i32, flag: i32, out: &mut BytesMut) {
        let (mut queue_buf, mut born_buf) = ([0u8; 20], [0u8; 20]);
        let queue_id = decimal(self.queue_id as i64, &mut queue_buf);
        let born = decimal(self.born_timestamp_ms, &mut born_buf);
        let ext: [(&str, &str); 12] = [
            ("a", self.producer_group),
            ("b", self.topic),
            ("c", DEFAULT_TOPIC),
            ("d", "4"),
            ("e", queue_id),
            ("f", "0"),
            ("g", born),
            ("h", "0"),
            ("i", self.properties),
            ("j", "0"),
            ("k", "false"),
            ("m", if self.batch { "true" } else { "false" }),
        ];
        let mut cmd = CommandRef::request(self.code(), &ext, self.body);
        cmd.opaque = opaque;
        cmd.flag = flag;
        encode_frame_ref(&cmd, out);
    }
}

impl SendRequest<'_> {
    /// The same request as an owned command (the slower path, for signing it).
    pub fn to_command(&self) -> RemotingCommand {
        let mut buf = BytesMut::new();
        self.encode(0, 0, &mut buf);
        crate::remoting::decode_frame(&mut buf, usize::MAX)
            .ok()
            .flatten()
            .expect("a frame we encoded decodes")
    }
}

/// How a broker stored a message it accepted (RocketMQ's `SendStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    Ok,
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
}

/// Send response code to status; `None` means the send was refused.
///
/// | response code        | status            |
/// |----------------------|-------------------|
/// | SUCCESS              | Ok                |
/// | FLUSH_DISK_TIMEOUT   | FlushDiskTimeout  |
/// | FLUSH_SLAVE_TIMEOUT  | FlushSlaveTimeout |
/// | SLAVE_NOT_AVAILABLE  | SlaveNotAvailable |
/// | anything else        | refused           |
pub fn send_status(code: i32) -> Option<SendStatus> {
    match code {
        response::SUCCESS => Some(SendStatus::Ok),
        response::FLUSH_DISK_TIMEOUT => Some(SendStatus::FlushDiskTimeout),
        response::FLUSH_SLAVE_TIMEOUT => Some(SendStatus::FlushSlaveTimeout),
        response::SLAVE_NOT_AVAILABLE => Some(SendStatus::SlaveNotAvailable),
        _ => None,
    }
}

/// An accepted send: where the (first) message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub status: SendStatus,
    pub header: SendResultHeader,
}

/// Outcome of a pull the broker answered normally (RocketMQ's `PullStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    /// Messages in the body.
    Found,
    /// Nothing at or after the offset (yet).
    NoNewMessage,
    /// Messages there, none matched the filter; pull again from `next_begin_offset`.
    NoMatchedMessage,
    /// The offset is outside the queue; continue from `next_begin_offset`.
    OffsetIllegal,
}

impl PullStatus {
    /// Pull response code to status; `None` means the pull was refused.
    ///
    /// | response code          | status           |
    /// |------------------------|------------------|
    /// | SUCCESS                | Found            |
    /// | PULL_NOT_FOUND         | NoNewMessage     |
    /// | PULL_RETRY_IMMEDIATELY | NoMatchedMessage |
    /// | PULL_OFFSET_MOVED      | OffsetIllegal    |
    /// | anything else          | refused          |
    pub fn from_code(code: i32) -> Option<PullStatus> {
        match code {
            response::SUCCESS => Some(PullStatus::Found),
            response::PULL_NOT_FOUND => Some(PullStatus::NoNewMessage),
            response::PULL_RETRY_IMMEDIATELY => Some(PullStatus::NoMatchedMessage),
            response::PULL_OFFSET_MOVED => Some(PullStatus::OffsetIllegal),
            _ => None,
        }
    }
}

/// A pull the broker answered with one of the [`PullStatus`] codes.
#[derive(Debug, Clone)]
pub struct PullResult {
    pub status: PullStatus,
    pub header: PullResultHeader,
    /// Stored-message records back to back (only with [`PullStatus::Found`]).
    pub body: Bytes,
}

impl PullResult {
    /// The records of the body, without CRC checks. Stops after the first undecodable record.
    pub fn records(&self) -> Records<'_> {
        Records { buf: &self.body }
    }
}

/// Iterator over stored-message records laid back to back.
pub struct Records<'a> {
    buf: &'a [u8],
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordView<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        match decode_record(self.buf, false) {
            Ok(r) => {
                self.buf = &self.buf[(r.total_size as usize).min(self.buf.len())..];
                Some(Ok(r))
            }
            Err(e) => {
                self.buf = &[];
                Some(Err(e))
            }
        }
    }
}

/// Who was asked what: the context every error of one request carries.
#[derive(Clone)]
struct Asked {
    addr: Rc<str>,
    request: i32,
}

impl Asked {
    fn refused(&self, resp: &RemotingCommand) -> ClientError {
        ClientError::Refused {
            addr: self.addr.to_string(),
            request: self.request,
            code: resp.code,
            remark: resp.remark.clone().unwrap_or_default(),
        }
    }

    fn bad(&self, reason: impl std::fmt::Display) -> ClientError {
        ClientError::BadResponse {
            addr: self.addr.to_string(),
            request: self.request,
            reason: reason.to_string(),
        }
    }

    /// The response if its code is SUCCESS, else `Refused`.
    fn success(&self, resp: RemotingCommand) -> Result<RemotingCommand, ClientError> {
        if resp.code == response::SUCCESS {
            Ok(resp)
        } else {
            Err(self.refused(&resp))
        }
    }
}

impl Conn {
    /// Writes `cmd` and returns who was asked plus the pending response.
    fn ask(
        &self,
        cmd: RemotingCommand,
    ) -> (
        Asked,
        impl Future<Output = Result<RemotingCommand, ClientError>>,
    ) {
        let asked = Asked {
            addr: self.addr_rc(),
            request: cmd.code,
        };
        (asked, self.call(cmd))
    }

    /// SEND_MESSAGE_V2 or SEND_BATCH_MESSAGE; see [`send_status`] for what counts as accepted.
    pub fn send(
        &self,
        req: &SendRequest<'_>,
    ) -> impl Future<Output = Result<SendResult, ClientError>> + 'static {
        let asked = Asked {
            addr: self.addr_rc(),
            request: req.code(),
        };
        let resp = match self.credentials() {
            None => self.call_with(|opaque, out| req.encode(opaque, 0, out)),
            Some(_) => self.call(req.to_command()),
        };
        async move {
            let resp = resp.await?;
            let status = send_status(resp.code).ok_or_else(|| asked.refused(&resp))?;
            let header = SendResultHeader::parse(&resp).map_err(|e| asked.bad(e))?;
            Ok(SendResult { status, header })
        }
    }

    /// The same request as [`Conn::send`], oneway: Ok means written to the output buffer.
    pub fn send_oneway(&self, req: &SendRequest<'_>) -> Result<(), ClientError> {
        match self.credentials() {
            None => self.send_oneway_with(|opaque, flag, out| req.encode(opaque, flag, out)),
            Some(c) => {
                // The opaque and flag are not signed: sign once, then stamp them.
                let mut cmd = req.to_command();
                crate::acl::sign::sign_command(&mut cmd, &c);
                self.send_oneway_with(|opaque, flag, out| {
                    cmd.opaque = opaque;
                    cmd.flag = flag;
                    crate::remoting::encode_frame(&cmd, out);
                })
            }
        }
    }

    /// PULL_MESSAGE. With SUSPEND in `header.sys_flag` the broker holds the request up to
    /// `suspend_timeout_ms`: keep the connection's timeout above it.
    pub fn pull(
        &self,
        header: &PullMessageHeader,
    ) -> impl Future<Output = Result<PullResult, ClientError>> + 'static {
        let mut cmd = RemotingCommand::request(request::PULL_MESSAGE);
        header.write_to(&mut cmd);
        let (asked, resp) = self.ask(cmd);
        async move {
            let resp = resp.await?;
            let status = PullStatus::from_code(resp.code).ok_or_else(|| asked.refused(&resp))?;
            let header = PullResultHeader::parse(&resp).map_err(|e| asked.bad(e))?;
            Ok(PullResult {
                status,
                header,
                body: resp.body,
            })
        }
    }

    /// QUERY_CONSUMER_OFFSET: the group's committed offset, `None` when it has none.
    pub fn query_consumer_offset(
        &self,
        consumer_group: &str,
        topic: &str,
        queue_id: i32,
    ) -> impl Future<Output = Result<Option<i64>, ClientError>> + 'static {
        let mut cmd = RemotingCommand::request(request::QUERY_CONSUMER_OFFSET);
        QueryConsumerOffsetHeader {
            consumer_group: consumer_group.to_string(),
            topic: topic.to_string(),
            queue_id,
            set_zero_if_not_found: None,
        }
        .write_to(&mut cmd);
        let (asked, resp) = self.ask(cmd);
        async move {
            let resp = resp.await?;
            match resp.code {
                response::QUERY_NOT_FOUND => Ok(None),
                _ => parse_offset(&asked.success(resp)?)
                    .map(Some)
                    .map_err(|e| asked.bad(e)),
            }
        }
    }

    /// UPDATE_CONSUMER_OFFSET (as a request with a response, not oneway as Java's timer sends it).
    pub fn update_consumer_offset(
        &self,
        consumer_group: &str,
        topic: &str,
        queue_id: i32,
        commit_offset: i64,
    ) -> impl Future<Output = Result<(), ClientError>> + 'static {
        let mut cmd = RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET);
        UpdateConsumerOffsetHeader {
            consumer_group: consumer_group.to_string(),
            topic: topic.to_string(),
            queue_id,
            commit_offset,
        }
        .write_to(&mut cmd);
        self.expect_success(cmd)
    }

    /// GET_MAX_OFFSET: the queue's next offset to be written.
    pub fn max_offset(
        &self,
        topic: &str,
        queue_id: i32,
    ) -> impl Future<Output = Result<i64, ClientError>> + 'static {
        self.queue_offset(request::GET_MAX_OFFSET, topic, queue_id)
    }

    /// GET_MIN_OFFSET: the queue's oldest offset still stored.
    pub fn min_offset(
        &self,
        topic: &str,
        queue_id: i32,
    ) -> impl Future<Output = Result<i64, ClientError>> + 'static {
        self.queue_offset(request::GET_MIN_OFFSET, topic, queue_id)
    }

    fn queue_offset(
        &self,
        code: i32,
        topic: &str,
        queue_id: i32,
    ) -> impl Future<Output = Result<i64, ClientError>> + 'static {
        let mut cmd = RemotingCommand::request(code);
        QueueHeader {
            topic: topic.to_string(),
            queue_id,
        }
        .write_to(&mut cmd);
        let (asked, resp) = self.ask(cmd);
        async move { parse_offset(&asked.success(resp.await?)?).map_err(|e| asked.bad(e)) }
    }

    /// HEART_BEAT: registers the client's producer and consumer groups.
    pub fn heartbeat(
        &self,
        data: &HeartbeatData,
    ) -> impl Future<Output = Result<(), ClientError>> + 'static {
        let cmd = RemotingCommand::request(request::HEART_BEAT).with_body(data.to_json());
        self.expect_success(cmd)
    }

    /// GET_ROUTEINFO_BY_TOPIC (to a NameServer), asking for standard JSON. `None`: no such topic.
    pub fn get_route(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<TopicRouteData>, ClientError>> + 'static {
        let mut cmd = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC);
        GetRouteInfoHeader {
            topic: topic.to_string(),
            accept_standard_json_only: true,
        }
        .write_to(&mut cmd);
        let (asked, resp) = self.ask(cmd);
        async move {
            let resp = resp.await?;
            match resp.code {
                response::TOPIC_NOT_EXIST => Ok(None),
                _ => TopicRouteData::parse(&asked.success(resp)?.body)
                    .map(Some)
                    .map_err(|e| asked.bad(e)),
            }
        }
    }

    /// UPDATE_AND_CREATE_TOPIC (to a broker): creates or updates the topic on that broker.
    pub fn create_topic(
        &self,
        header: &CreateTopicHeader,
    ) -> impl Future<Output = Result<(), ClientError>> + 'static {
        let mut cmd = RemotingCommand::request(request::UPDATE_AND_CREATE_TOPIC);
        header.write_to(&mut cmd);
        self.expect_success(cmd)
    }

    fn expect_success(
        &self,
        cmd: RemotingCommand,
    ) -> impl Future<Output = Result<(), ClientError>> + 'static {
        let (asked, resp) = self.ask(cmd);
        async move { asked.success(resp.await?).map(drop) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::headers::SendMessageHeader;
    use crate::remoting::{decode_frame, FLAG_ONEWAY, FRAME_MAX_BYTES};

    #[test]
    fn send_status_table() {
        let rows = [
            (response::SUCCESS, Some(SendStatus::Ok)),
            (
                response::FLUSH_DISK_TIMEOUT,
                Some(SendStatus::FlushDiskTimeout),
            ),
            (
                response::FLUSH_SLAVE_TIMEOUT,
                Some(SendStatus::FlushSlaveTimeout),
            ),
            (
                response::SLAVE_NOT_AVAILABLE,
                Some(SendStatus::SlaveNotAvailable),
            ),
            (response::TOPIC_NOT_EXIST, None),
            (response::SYSTEM_ERROR, None),
        ];
        for (code, want) in rows {
            assert_eq!(send_status(code), want, "code {code}");
        }
    }

    #[test]
    fn pull_status_table() {
        let rows = [
            (response::SUCCESS, Some(PullStatus::Found)),
            (response::PULL_NOT_FOUND, Some(PullStatus::NoNewMessage)),
            (
                response::PULL_RETRY_IMMEDIATELY,
                Some(PullStatus::NoMatchedMessage),
            ),
            (response::PULL_OFFSET_MOVED, Some(PullStatus::OffsetIllegal)),
            (response::TOPIC_NOT_EXIST, None),
            (response::SYSTEM_ERROR, None),
        ];
        for (code, want) in rows {
            assert_eq!(PullStatus::from_code(code), want, "code {code}");
        }
    }

    #[test]
    fn decimal_covers_the_i64_range() {
        let mut b = [0u8; 20];
        for v in [0, 7, -1, 1_700_000_000_123, i64::MAX, i64::MIN] {
            assert_eq!(decimal(v, &mut b), v.to_string());
        }
    }

    /// What `encode` writes is what the broker's typed header reads back.
    #[test]
    fn send_request_encodes_a_v2_header() {
        for (batch, flag) in [(false, 0), (true, FLAG_ONEWAY)] {
            let req = SendRequest {
                producer_group: "pg",
                topic: "T",
                queue_id: 3,
                born_timestamp_ms: 1_700_000_000_123,
                properties: "UNIQ_KEY\u{1}ABC\u{2}WAIT\u{1}true",
                body: b"hello",
                batch,
            };
            let mut out = BytesMut::new();
            req.encode(41, flag, &mut out);
            let cmd = decode_frame(&mut out, FRAME_MAX_BYTES).unwrap().unwrap();
            assert!(out.is_empty());
            assert_eq!(cmd.code, req.code());
            assert_eq!((cmd.opaque, cmd.flag), (41, flag));
            assert_eq!(&cmd.body[..], b"hello");
            assert_eq!(cmd.ext("b"), Some("T"), "V2 letter keys");
            let h = SendMessageHeader::parse(&cmd).unwrap();
            assert_eq!(h.producer_group, "pg");
            assert_eq!(h.topic, "T");
            assert_eq!(h.default_topic, DEFAULT_TOPIC);
            assert_eq!(h.default_topic_queue_nums, 4);
            assert_eq!(h.queue_id, 3);
            assert_eq!(h.born_timestamp_ms, 1_700_000_000_123);
            assert_eq!(h.properties, req.properties);
            assert_eq!(h.batch, batch);
            assert_eq!((h.sys_flag, h.flag, h.reconsume_times), (0, 0, 0));
        }
    }
}
