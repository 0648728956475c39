//! The ROCKETMQ binary header serialization (remoting-protocol.md §1.4).
//!
//! Layout: `code i16, language u8, version i16, opaque i32, flag i32, remarkLen i32, remark,
//! extLen i32, { keyLen i16, key, valueLen i32, value }*` (big-endian, 21 fixed bytes).
//!
//! Invariants: every length is checked against the bytes that remain before it is used, so garbage
//! is a [`DecodeError::BadBinaryHeader`] naming the byte offset, never a panic or a large allocation.
//! As in Java, a zero-length remark is `None` and a pair with a zero-length key or value is absent;
//! invalid UTF-8 is replaced (Java's `new String(bytes, UTF_8)` does the same). On output, pairs whose
//! key or value is empty, or whose key does not fit an i16 length, are skipped (Java skips nulls).

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use super::{language_name, language_ordinal, DecodeError, ExtFields, Head, RemotingCommand};

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        match self.buf.get(self.pos..).and_then(|rest| rest.get(..n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(DecodeError::BadBinaryHeader {
                offset: self.pos,
                reason: what,
            }),
        }
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len(&mut self, len: i64, what: &'static str) -> Result<usize, DecodeError> {
        if len < 0 {
            return Err(DecodeError::BadBinaryHeader {
                offset: self.pos,
                reason: what,
            });
        }
        Ok(len as usize)
    }
}

pub(super) fn decode_header(header: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let mut r = Reader {
        buf: header,
        pos: 0,
    };
    let code = r.i16("truncated code")? as i32;
    let language = Cow::Borrowed(language_name(r.u8("truncated language")?));
    let version = r.i16("truncated version")? as i32;
    let opaque = r.i32("truncated opaque")?;
    let flag = r.i32("truncated flag")?;
    let remark_len = r.i32("truncated remark length")?;
    let remark_len = r.len(remark_len as i64, "negative remark length")?;
    let remark = match remark_len {
        0 => None,
        n => Some(String::from_utf8_lossy(r.take(n, "remark longer than header")?).into_owned()),
    };
    let ext_len = r.i32("truncated extFields length")?;
    let ext_len = r.len(ext_len as i64, "negative extFields length")?;
    let ext_start = r.pos;
    let ext = r.take(ext_len, "extFields longer than header")?;
    let mut m = Reader { buf: ext, pos: 0 };
    let mut ext_fields = ExtFields::with_capacity(16, ext.len());
    while m.pos < ext.len() {
        let (key, val) = read_pair(&mut m).map_err(|e| match e {
            DecodeError::BadBinaryHeader { offset, reason } => DecodeError::BadBinaryHeader {
                offset: ext_start + offset,
                reason,
            },
            other => other,
        })?;
        if key.is_empty() || val.is_empty() {
            continue;
        }
        // A repeated key: the later value replaces the earlier one.
        ext_fields.set(&String::from_utf8_lossy(key), &String::from_utf8_lossy(val));
    }
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        ..RemotingCommand::default()
    })
}

fn read_pair<'a>(m: &mut Reader<'a>) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
    let key_len = m.i16("truncated key length")?;
    let key_len = m.len(key_len as i64, "negative key length")?;
    let key = m.take(key_len, "key longer than extFields")?;
    let val_len = m.i32("truncated value length")?;
    let val_len = m.len(val_len as i64, "negative value length")?;
    let val = m.take(val_len, "value longer than extFields")?;
    Ok((key, val))
}

fn encodable(k: &str, v: &str) -> bool {
    !k.is_empty() && !v.is_empty() && k.len() <= i16::MAX as usize && v.len() <= i32::MAX as usize
}

pub(super) fn encode_header<'a>(
    head: &Head<'_>,
    ext: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    out: &mut BytesMut,
) {
    out.put_i16(head.code as i16);
    out.put_u8(language_ordinal(head.language));
    out.put_i16(head.version as i16);
    out.put_i32(head.opaque);
    out.put_i32(head.flag);
    match head.remark {
        Some(r) if !r.is_empty() => {
            out.put_i32(r.len() as i32);
            out.put_slice(r.as_bytes());
        }
        _ => out.put_i32(0),
    }
    let ext_len: usize = ext
        .clone()
        .filter(|(k, v)| encodable(k, v))
        .map(|(k, v)| 2 + k.len() + 4 + v.len())
        .sum();
    out.put_i32(ext_len as i32);
    for (k, v) in ext.filter(|(k, v)| encodable(k, v)) {
        out.put_i16(k.len() as i16);
        out.put_slice(k.as_bytes());
        out.put_i32(v.len() as i32);
        out.put_slice(v.as_bytes());
    }
}
