//! RocketMQ's remoting protocol: frames, JSON and ROCKETMQ binary headers, request/response codes,
//! typed request headers and JSON bodies (`shared/docs/remoting-protocol.md`).
//!
//! Pure: no I/O, no clock. The codec `check`s that a whole frame is buffered before it parses or
//! allocates anything; "need more bytes" is `Ok(None)`, not an error.
//!
//! CONTRACT (the broker codes against this; the remoting work fills in the bodies and may add to it):
//! - Input is lenient (numbers/booleans in extFields become text, unknown keys ignored, missing remark
//!   and extFields accepted). Output is strict: every extFields value a JSON string, compact JSON,
//!   answered in the request's serialize type.
//!
//! Invariants of the frame codec (§1.2):
//! - A frame larger than `frame_max_bytes` (length word + 4) is refused as soon as its length word is
//!   buffered, before any of it is buffered or parsed, so a peer cannot make us hold more than that.
//! - The serialize-type byte and the header length are checked as soon as the first 8 bytes arrive.
//! - A decoded command's `body` is a zero-copy slice of the frame.
//! - Nothing here panics on any input; every malformed frame is a [`DecodeError`].
//!
//! Module map: [`codes`] request/response codes, [`headers`] typed request/response headers and
//! [`body`] JSON bodies, each one file per command family (send, pull, offsets, route, client, query,
//! admin, ... re-exported flat, so `headers::SendMessageHeader` is the path to use), [`batch`]
//! SEND_BATCH_MESSAGE bodies; `json` and `binary` (private) are the two header serializations.
//! Shared vocabulary lives here once: [`body::TopicConfig`] and [`body::perm`] (also the broker's
//! topic table), [`headers::DEFAULT_TOPIC`] (TBW102), [`headers::pull_sys_flag`], [`body::split_tags`].
//!
//! Rejected: parsing the JSON header through `serde_json::Value`: it allocates a map per header and
//! loses the arrival order of extFields; a streaming visitor does the same lenient conversion in one pass.

use std::borrow::Cow;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub mod batch;
mod binary;
pub mod body;
pub mod codes;
pub mod headers;
mod json;
mod json_fast;

/// A command's extFields: ordered text pairs in one buffer ([`crate::pairs`]).
pub use crate::pairs::Pairs as ExtFields;

/// Header serialization of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerializeType {
    #[default]
    Json,
    RocketMq,
}

/// `flag` bit 0: this is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// `flag` bit 1: oneway request (never answered).
pub const FLAG_ONEWAY: i32 = 2;
/// The `version` we put on everything we send (V4_9_8).
pub const OUR_VERSION: i32 = 409;
/// Largest frame a Java peer accepts; we never send more and refuse larger input.
pub const FRAME_MAX_BYTES: usize = 16 << 20;

/// One remoting command (request or response).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemotingCommand {
    pub code: i32,
    /// As sent by the peer (`JAVA`, `CPP`, `GO`, ...); we send `JAVA`. The known names are static,
    /// so that neither a decoded request nor a response allocates for it.
    pub language: Cow<'static, str>,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    /// The custom header, in arrival order; values already converted to text.
    pub ext_fields: ExtFields,
    pub body: Bytes,
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A new request with our language and version.
    pub fn request(code: i32) -> RemotingCommand {
        RemotingCommand {
            code,
            language: Cow::Borrowed(OUR_LANGUAGE),
            version: OUR_VERSION,
            ..RemotingCommand::default()
        }
    }

    /// A response to `self`: same opaque and serialize type, response flag set, our language/version.
    pub fn response(&self, code: i32) -> RemotingCommand {
        RemotingCommand {
            code,
            language: Cow::Borrowed(OUR_LANGUAGE),
            version: OUR_VERSION,
            opaque: self.opaque,
            flag: FLAG_RESPONSE,
            serialize_type: self.serialize_type,
            ..RemotingCommand::default()
        }
    }

    /// Sets the request id (builder form).
    pub fn with_opaque(mut self, opaque: i32) -> RemotingCommand {
        self.opaque = opaque;
        self
    }

    /// Marks a request oneway (builder form).
    pub fn with_oneway(mut self) -> RemotingCommand {
        self.flag |= FLAG_ONEWAY;
        self
    }

    /// Sets the header serialization (builder form).
    pub fn with_serialize_type(mut self, serialize_type: SerializeType) -> RemotingCommand {
        self.serialize_type = serialize_type;
        self
    }

    /// Sets (replacing) an extFields key (builder form).
    pub fn with_ext(mut self, key: &str, value: impl std::fmt::Display) -> RemotingCommand {
        self.set_ext(key, value);
        self
    }

    /// Removes an extFields key, returning its value.
    pub fn remove_ext(&mut self, key: &str) -> Option<String> {
        self.ext_fields.remove(key)
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Value of an extFields key.
    pub fn ext(&self, key: &str) -> Option<&str> {
        self.ext_fields.get(key)
    }

    /// Sets (replacing) an extFields key.
    pub fn set_ext(&mut self, key: &str, value: impl std::fmt::Display) {
        self.ext_fields.set_display(key, value);
    }

    /// A response to `self` with a (usually error) code and a remark saying why.
    pub fn error_response(&self, code: i32, remark: impl Into<String>) -> RemotingCommand {
        self.response(code).with_remark(remark)
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> RemotingCommand {
        self.remark = Some(remark.into());
        self
    }

    pub fn with_body(mut self, body: impl Into<Bytes>) -> RemotingCommand {
        self.body = body.into();
        self
    }
}

/// Why bytes are not a frame. Any of these closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge { len: usize, max: usize },
    #[error("frame length {total} is smaller than its header length {header}")]
    BadHeaderLength { total: usize, header: usize },
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    #[error("bad JSON header: {0}")]
    BadJson(String),
    #[error("bad ROCKETMQ header at byte {offset}: {reason}")]
    BadBinaryHeader { offset: usize, reason: &'static str },
}

/// The `language` we put on everything we send (what the Java broker sends, §1.3 rule 2).
pub const OUR_LANGUAGE: &str = "JAVA";

/// `LanguageCode` names by ordinal (the ROCKETMQ binary header carries the ordinal, §1.3).
pub const LANGUAGE_NAMES: [&str; 13] = [
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP",
    "OMS", "RUST",
];

/// Ordinal of a language name; unknown names map to `OTHER` (7).
pub fn language_ordinal(name: &str) -> u8 {
    LANGUAGE_NAMES
        .iter()
        .position(|n| *n == name)
        .map_or(7, |i| i as u8)
}

/// Name of a language ordinal; unknown ordinals map to `OTHER`.
pub fn language_name(ordinal: u8) -> &'static str {
    LANGUAGE_NAMES
        .get(ordinal as usize)
        .copied()
        .unwrap_or("OTHER")
}

/// Bytes before the header: the total-length word and the serialize-type/header-length word.
pub const FRAME_PREFIX_BYTES: usize = 8;

/// Checks whether `buf` starts with a whole frame without consuming or allocating anything.
///
/// Returns `Ok(Some(len))` with the frame's full length (including the length word) when it is all
/// buffered, `Ok(None)` when more bytes are needed, and an error as soon as the prefix proves the
/// frame invalid (too large, header longer than the frame, unknown serialize type).
pub fn check_frame(buf: &[u8], frame_max_bytes: usize) -> Result<Option<usize>, DecodeError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let total = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let frame_len = total + 4;
    if frame_len > frame_max_bytes {
        return Err(DecodeError::FrameTooLarge {
            len: frame_len,
            max: frame_max_bytes,
        });
    }
    if total < 4 {
        // Not even room for the header-length word.
        return Err(DecodeError::BadHeaderLength { total, header: 4 });
    }
    if buf.len() < FRAME_PREFIX_BYTES {
        return Ok(None);
    }
    let word = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    serialize_type_of(word)?;
    let header = (word & 0x00FF_FFFF) as usize;
    if header > total - 4 {
        return Err(DecodeError::BadHeaderLength { total, header });
    }
    if buf.len() < frame_len {
        return Ok(None);
    }
    Ok(Some(frame_len))
}

fn serialize_type_of(word: u32) -> Result<SerializeType, DecodeError> {
    match (word >> 24) as u8 {
        0 => Ok(SerializeType::Json),
        1 => Ok(SerializeType::RocketMq),
        other => Err(DecodeError::UnknownSerializeType(other)),
    }
}

/// Takes one whole frame off the front of `buf`, or `Ok(None)` if more bytes are needed.
///
/// On error `buf` is left as it was; the caller closes the connection.
pub fn decode_frame(
    buf: &mut BytesMut,
    frame_max_bytes: usize,
) -> Result<Option<RemotingCommand>, DecodeError> {
    let Some(frame_len) = check_frame(buf, frame_max_bytes)? else {
        return Ok(None);
    };
    // check_frame proved: frame_len >= 8, header fits, type byte valid.
    let word = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let serialize_type = serialize_type_of(word)?;
    let header_len = (word & 0x00FF_FFFF) as usize;
    let header_end = FRAME_PREFIX_BYTES + header_len;
    let mut cmd = match serialize_type {
        SerializeType::Json => json::decode_header(&buf[FRAME_PREFIX_BYTES..header_end])?,
        SerializeType::RocketMq => binary::decode_header(&buf[FRAME_PREFIX_BYTES..header_end])?,
    };
    let mut frame = buf.split_to(frame_len);
    frame.advance(header_end);
    cmd.body = frame.freeze();
    cmd.serialize_type = serialize_type;
    Ok(Some(cmd))
}

/// Appends the encoding of `cmd` (in `cmd.serialize_type`) to `out`.
///
/// The caller keeps frames within [`FRAME_MAX_BYTES`] (pull responses are capped well below it);
/// a header longer than 16 MiB - 1 cannot be represented and is a programmer error.
pub fn encode_frame(cmd: &RemotingCommand, out: &mut BytesMut) {
    let head = Head {
        code: cmd.code,
        language: &cmd.language,
        version: cmd.version,
        opaque: cmd.opaque,
        flag: cmd.flag,
        remark: cmd.remark.as_deref(),
        serialize_type: cmd.serialize_type,
    };
    encode_parts(&head, cmd.ext_fields.iter(), &cmd.body, out);
}

/// A command whose parts are borrowed, for hot paths that should not allocate a `String` per
/// extFields entry (the load generator's sends; responses built from numbers on the stack).
/// Encodes exactly like the equivalent [`RemotingCommand`].
#[derive(Debug, Clone, Copy)]
pub struct CommandRef<'a> {
    pub code: i32,
    pub language: &'a str,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<&'a str>,
    pub ext_fields: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    pub serialize_type: SerializeType,
}

impl<'a> CommandRef<'a> {
    /// A request with our language and version, JSON-serialized, no remark.
    pub fn request(code: i32, ext_fields: &'a [(&'a str, &'a str)], body: &'a [u8]) -> Self {
        CommandRef {
            code,
            language: OUR_LANGUAGE,
            version: OUR_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields,
            body,
            serialize_type: SerializeType::Json,
        }
    }
}

/// Appends the encoding of a borrowed command to `out` (see [`encode_frame`]).
pub fn encode_frame_ref(cmd: &CommandRef<'_>, out: &mut BytesMut) {
    let head = Head {
        code: cmd.code,
        language: cmd.language,
        version: cmd.version,
        opaque: cmd.opaque,
        flag: cmd.flag,
        remark: cmd.remark,
        serialize_type: cmd.serialize_type,
    };
    encode_parts(&head, cmd.ext_fields.iter().copied(), cmd.body, out);
}

/// The fixed fields of a header, borrowed.
pub(crate) struct Head<'a> {
    pub(crate) code: i32,
    pub(crate) language: &'a str,
    pub(crate) version: i32,
    pub(crate) opaque: i32,
    pub(crate) flag: i32,
    pub(crate) remark: Option<&'a str>,
    pub(crate) serialize_type: SerializeType,
}

fn encode_parts<'a>(
    head: &Head<'_>,
    ext: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    body: &[u8],
    out: &mut BytesMut,
) {
    let start = out.len();
    let header_hint = match head.serialize_type {
        SerializeType::Json => json::header_len_hint(head, ext.clone()),
        SerializeType::RocketMq => {
            64 + ext
                .clone()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>()
        }
    };
    out.reserve(FRAME_PREFIX_BYTES + header_hint + body.len());
    out.put_u32(0); // total length, patched below
    out.put_u32(0); // type | header length, patched below
    match head.serialize_type {
        SerializeType::Json => json::encode_header(head, ext, out),
        SerializeType::RocketMq => binary::encode_header(head, ext, out),
    }
    let header_len = out.len() - start - FRAME_PREFIX_BYTES;
    assert!(
        header_len <= 0x00FF_FFFF,
        "remoting header of {header_len} bytes exceeds 24 bits"
    );
    out.extend_from_slice(body);
    let total = out.len() - start - 4;
    let type_byte: u32 = match head.serialize_type {
        SerializeType::Json => 0,
        SerializeType::RocketMq => 1,
    };
    out[start..start + 4].copy_from_slice(&(total as u32).to_be_bytes());
    out[start + 4..start + 8]
        .copy_from_slice(&((type_byte << 24) | header_len as u32).to_be_bytes());
}

/// Encodes `cmd` into a fresh buffer (convenience for tests and tools).
pub fn encode_to_vec(cmd: &RemotingCommand) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_frame(cmd, &mut out);
    out.to_vec()
}

#[cfg(test)]
mod tests;
