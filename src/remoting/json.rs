//! The JSON header serialization (remoting-protocol.md §1.3).
//!
//! Decoding is lenient in exactly the ways real clients need: extFields values may be strings,
//! numbers or booleans (C++ sends numbers) and become text; `null` extFields values are dropped
//! (Java treats them as absent); nested arrays/objects become their compact JSON text;
//! `code`/`opaque`/`flag`/`version` may be numbers or numeric strings; missing or null `remark` and
//! `extFields` are fine; unknown keys are skipped; trailing whitespace (the C++ client's `"\n"`,
//! counted in the header length) is allowed. Parsing streams through one serde visitor: no
//! intermediate `serde_json::Value`, extFields kept in arrival order. That visitor defines what a
//! header means; `json_fast` reads the common shape first (a Java V2 send in 0.63 µs, not 1.08)
//! and leaves everything else to it.
//!
//! Encoding is strict and byte-stable: compact, keys in fastjson's alphabetical order
//! (`code, extFields, flag, language, opaque, remark, serializeTypeCurrentRPC, version`), `remark`
//! omitted when `None`, every extFields value a JSON string (the C++ client ignores anything else).
//! A header with nothing to escape (nearly every one) is written into a buffer sized once from an
//! upper bound of its length; the general writer escapes. `tests` checks by proptest that the two
//! write the same bytes.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, BytesMut};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{DecodeError, ExtFields, Head, RemotingCommand, LANGUAGE_NAMES};

pub(super) fn decode_header(header: &[u8]) -> Result<RemotingCommand, DecodeError> {
    match super::json_fast::decode(header) {
        Some(cmd) => Ok(cmd),
        None => decode_header_serde(header),
    }
}

/// The reference decoder: every header the fast path gives up on, and what the fast path must agree
/// with (`json_fast` module docs).
pub(super) fn decode_header_serde(header: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(header);
    let cmd = de
        .deserialize_map(HeaderVisitor {
            text_hint: header.len(),
        })
        .map_err(|e| DecodeError::BadJson(e.to_string()))?;
    de.end().map_err(|e| DecodeError::BadJson(e.to_string()))?;
    Ok(cmd)
}

/// `text_hint`: the header's length, an upper bound of its extFields text (numbers keep their
/// length, escapes and re-serialised nested values only shrink), so that the text is allocated once.
struct HeaderVisitor {
    text_hint: usize,
}

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = RemotingCommand;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a remoting command header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RemotingCommand, A::Error> {
        let mut cmd = RemotingCommand::default();
        let mut language = Cow::Borrowed("OTHER");
        while let Some(key) = map.next_key_seed(StrSeed)? {
            match key.as_ref() {
                "code" => cmd.code = map.next_value_seed(IntSeed("code"))?,
                "opaque" => cmd.opaque = map.next_value_seed(IntSeed("opaque"))?,
                "flag" => cmd.flag = map.next_value_seed(IntSeed("flag"))?,
                "version" => cmd.version = map.next_value_seed(IntSeed("version"))?,
                "language" => {
                    if let Some(l) = map.next_value_seed(TextSeed)? {
                        language = language_of(l);
                    }
                }
                "remark" => cmd.remark = map.next_value_seed(TextSeed)?.map(Cow::into_owned),
                "extFields" => {
                    cmd.ext_fields = map.next_value_seed(ExtFieldsSeed {
                        text_hint: self.text_hint,
                    })?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        cmd.language = language;
        Ok(cmd)
    }
}

/// An i32 that may arrive as a JSON number or a numeric string.
struct IntSeed(&'static str);

impl<'de> DeserializeSeed<'de> for IntSeed {
    type Value = i32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i32, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for IntSeed {
    type Value = i32;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "`{}` as a 32-bit integer or numeric string", self.0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
        i32::try_from(v).map_err(|_| E::custom(format!("`{}` out of range: {v}", self.0)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
        i32::try_from(v).map_err(|_| E::custom(format!("`{}` out of range: {v}", self.0)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i32, E> {
        if v.fract() == 0.0 && v >= i32::MIN as f64 && v <= i32::MAX as f64 {
            Ok(v as i32)
        } else {
            Err(E::custom(format!("`{}` is not an integer: {v}", self.0)))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
        v.trim()
            .parse::<i32>()
            .map_err(|_| E::custom(format!("`{}` is not an integer: {v:?}", self.0)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
        Ok(0)
    }
}

/// A string, borrowed from the header when it has no escapes (serde's own `Cow<str>` always copies).
struct StrSeed;

impl<'de> DeserializeSeed<'de> for StrSeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// A decoded `language`: one of RocketMQ's `LanguageCode` names as a static string, any other name
/// as sent.
pub(super) fn language_of(l: Cow<'_, str>) -> Cow<'static, str> {
    match LANGUAGE_NAMES.iter().find(|k| **k == l) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(l.into_owned()),
    }
}

/// Any scalar as text; `null` as `None`; arrays/objects as their compact JSON text. Borrowed from
/// the header where it can be (a string without escapes, a boolean).
struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number, boolean or null")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v: serde_json::Value =
            serde::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Some(Cow::Owned(v.to_string())))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v: serde_json::Value =
            serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Some(Cow::Owned(v.to_string())))
    }
}

/// The extFields object (or null) as ordered text pairs.
struct ExtFieldsSeed {
    text_hint: usize,
}

impl<'de> DeserializeSeed<'de> for ExtFieldsSeed {
    type Value = ExtFields;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ExtFieldsSeed {
    type Value = ExtFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("extFields as an object or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ExtFields::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = ExtFields::with_capacity(map.size_hint().unwrap_or(16), self.text_hint);
        let mut seen = SeenKeys::default();
        while let Some(key) = map.next_key_seed(StrSeed)? {
            let Some(value) = map.next_value_seed(TextSeed)? else {
                continue;
            };
            seen.add(&mut out, &key, &value);
        }
        Ok(out)
    }
}

/// Upper bound of the encoded header length (assuming no escapes), to reserve once.
pub(super) fn header_len_hint<'a>(
    head: &Head<'_>,
    ext: impl Iterator<Item = (&'a str, &'a str)>,
) -> usize {
    let ext: usize = ext.map(|(k, v)| k.len() + v.len() + 6).sum();
    150 + ext + head.language.len() + head.remark.map_or(0, |r| r.len() + 12)
}

/// The extFields keys added so far, as a 64-bit Bloom filter over (length, first byte, last byte):
/// a repeated key is rare, and this keeps the common case free of pairwise string comparisons. Both
/// decoders add pairs through it, so that a repeated key means the same in both.
#[derive(Default)]
pub(super) struct SeenKeys(u64);

impl SeenKeys {
    /// Adds a pair: a possibly repeated key replaces the earlier value (like a JSON map), a new one
    /// is appended.
    pub(super) fn add(&mut self, out: &mut ExtFields, key: &str, value: &str) {
        let bit = key_bit(key);
        if self.0 & bit != 0 {
            out.set(key, value);
        } else {
            self.0 |= bit;
            out.push(key, value);
        }
    }
}

fn key_bit(key: &str) -> u64 {
    let b = key.as_bytes();
    let (first, last) = (
        b.first().copied().unwrap_or(0),
        b.last().copied().unwrap_or(0),
    );
    let h = (b.len() as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((first as u64) << 8 | last as u64)
        .wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    1u64 << (h >> 58)
}

/// Writes the header. Headers with nothing to escape (nearly all) are written by [`encode_plain`];
/// the rest by [`encode_escaped`]. Both write the same bytes where both apply (`tests`).
pub(super) fn encode_header<'a>(
    head: &Head<'_>,
    ext: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    out: &mut BytesMut,
) {
    match plain_bound(head, ext.clone()) {
        Some(bound) => encode_plain(head, ext, bound, out),
        None => encode_escaped(head, ext, out),
    }
}

/// An upper bound of the header's length when no string in it needs escaping, else `None`.
fn plain_bound<'a>(
    head: &Head<'_>,
    ext: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<usize> {
    let plain = |s: &str| super::json_fast::special(s.as_bytes(), 0).is_none();
    let mut text = 0;
    for (k, v) in ext {
        if !plain(k) || !plain(v) {
            return None;
        }
        text += k.len() + v.len() + 6; // "k":"v",
    }
    if !plain(head.language) || !head.remark.is_none_or(plain) {
        return None;
    }
    let remark = head.remark.map_or(0, |r| REMARK.len() + r.len() + 2);
    Some(FIXED + 4 * I32_DIGITS_MAX + text + head.language.len() + remark)
}

// The fixed parts of a header, in fastjson's key order.
const CODE: &[u8] = b"{\"code\":";
const EXT: &[u8] = b",\"extFields\":{";
const FLAG: &[u8] = b"},\"flag\":";
const LANGUAGE: &[u8] = b",\"language\":";
const OPAQUE: &[u8] = b",\"opaque\":";
const REMARK: &[u8] = b",\"remark\":";
const TAIL: &[u8] = b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":";
/// Every header has these bytes besides its integers and strings: the parts above but the remark,
/// the language's quotes and the closing brace.
const FIXED: usize =
    CODE.len() + EXT.len() + FLAG.len() + LANGUAGE.len() + 2 + OPAQUE.len() + TAIL.len() + 1;
/// `-2147483648`.
const I32_DIGITS_MAX: usize = 11;

/// The header written into `bound` zeroed bytes, then cut to its length: a copy per string and
/// no capacity check per piece. The answer to a send (250 bytes) took 370 ns through `put_slice`
/// per piece and takes 180 ns so (`examples/header_decode.rs`).
fn encode_plain<'a>(
    head: &Head<'_>,
    ext: impl Iterator<Item = (&'a str, &'a str)>,
    bound: usize,
    out: &mut BytesMut,
) {
    let start = out.len();
    out.resize(start + bound, 0);
    let mut w = Cursor {
        buf: &mut out[start..],
        at: 0,
    };
    w.put(CODE);
    w.int(head.code);
    w.put(EXT);
    for (i, (k, v)) in ext.enumerate() {
        if i > 0 {
            w.byte(b',');
        }
        w.string(k);
        w.byte(b':');
        w.string(v);
    }
    w.put(FLAG);
    w.int(head.flag);
    w.put(LANGUAGE);
    w.string(head.language);
    w.put(OPAQUE);
    w.int(head.opaque);
    if let Some(remark) = head.remark {
        w.put(REMARK);
        w.string(remark);
    }
    w.put(TAIL);
    w.int(head.version);
    w.byte(b'}');
    let len = w.at;
    out.truncate(start + len);
}

/// A write position in a slice known to be long enough ([`plain_bound`]).
struct Cursor<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Cursor<'_> {
    #[inline]
    fn put(&mut self, s: &[u8]) {
        self.buf[self.at..self.at + s.len()].copy_from_slice(s);
        self.at += s.len();
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        self.buf[self.at] = b;
        self.at += 1;
    }

    /// A string with nothing to escape.
    #[inline]
    fn string(&mut self, s: &str) {
        self.byte(b'"');
        self.put(s.as_bytes());
        self.byte(b'"');
    }

    fn int(&mut self, v: i32) {
        let mut buf = [0u8; I32_DIGITS_MAX];
        self.put(decimal(v, &mut buf));
    }
}

/// The header with escapes where strings need them (a remark with a newline, a property separator
/// in a value): the general writer.
fn encode_escaped<'a>(
    head: &Head<'_>,
    ext: impl Iterator<Item = (&'a str, &'a str)>,
    out: &mut BytesMut,
) {
    out.put_slice(CODE);
    put_int(out, head.code);
    out.put_slice(EXT);
    for (i, (k, v)) in ext.enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        put_json_str(out, k);
        out.put_u8(b':');
        put_json_str(out, v);
    }
    out.put_slice(FLAG);
    put_int(out, head.flag);
    out.put_slice(LANGUAGE);
    put_json_str(out, head.language);
    out.put_slice(OPAQUE);
    put_int(out, head.opaque);
    if let Some(remark) = head.remark {
        out.put_slice(REMARK);
        put_json_str(out, remark);
    }
    out.put_slice(TAIL);
    put_int(out, head.version);
    out.put_u8(b'}');
}

fn put_int(out: &mut BytesMut, v: i32) {
    let mut buf = [0u8; I32_DIGITS_MAX];
    out.put_slice(decimal(v, &mut buf));
}

/// `v` in decimal, written at the end of `buf`.
fn decimal(v: i32, buf: &mut [u8; I32_DIGITS_MAX]) -> &[u8] {
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Writes `s` as a JSON string literal (RFC 8259 escaping; non-ASCII passes through as UTF-8).
pub(crate) fn put_json_str(out: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        // Fast path: nothing to escape (almost every header value). The caller reserved the header.
        out.put_u8(b'"');
        out.put_slice(bytes);
        out.put_u8(b'"');
        return;
    }
    out.put_u8(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.put_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.put_slice(b"\\u00");
            out.put_u8(HEX[(b >> 4) as usize]);
            out.put_u8(HEX[(b & 0xf) as usize]);
        } else {
            out.put_slice(esc);
        }
        start = i + 1;
    }
    out.put_slice(&bytes[start..]);
    out.put_u8(b'"');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::remoting::SerializeType;

    fn head<'a>(ints: [i32; 4], language: &'a str, remark: Option<&'a str>) -> Head<'a> {
        Head {
            code: ints[0],
            flag: ints[1],
            opaque: ints[2],
            version: ints[3],
            language,
            remark,
            serialize_type: SerializeType::Json,
        }
    }

    /// Both writers on the same header, and the header read back (serde_json) as the same values.
    fn same_both_ways(h: &Head<'_>, ext: &[(&str, &str)]) -> Result<bool, TestCaseError> {
        let (mut fast, mut general) = (BytesMut::new(), BytesMut::new());
        encode_header(h, ext.iter().copied(), &mut fast);
        encode_escaped(h, ext.iter().copied(), &mut general);
        prop_assert_eq!(&fast[..], &general[..]);
        let v: serde_json::Value = serde_json::from_slice(&fast).unwrap();
        prop_assert_eq!(v["code"].as_i64(), Some(h.code as i64));
        prop_assert_eq!(v["opaque"].as_i64(), Some(h.opaque as i64));
        prop_assert_eq!(v["language"].as_str(), Some(h.language));
        prop_assert_eq!(v["remark"].as_str(), h.remark);
        for (k, val) in ext {
            prop_assert_eq!(v["extFields"][*k].as_str(), Some(*val));
        }
        Ok(plain_bound(h, ext.iter().copied()).is_some())
    }

    /// The bound holds at its edge: no extFields, every integer at its longest, and both paths.
    #[test]
    fn the_plain_writer_and_its_bound_row_by_row() {
        let min = [i32::MIN; 4];
        type Row<'a> = (Head<'a>, &'a [(&'a str, &'a str)], bool);
        let rows: &[Row] = &[
            (head(min, "", None), &[], true),
            (head(min, "JAVA", Some("")), &[("", "")], true),
            (
                head([0; 4], "RUST", None),
                &[("msgId", "7F00"), ("queueId", "3")],
                true,
            ),
            (
                head([1, 2, 3, 4], "RUST", Some("a\nb")),
                &[("k", "v")],
                false,
            ),
            (
                head([1, 2, 3, 4], "RUST", None),
                &[("i", "K\u{1}V\u{2}")],
                false,
            ),
            (head([1, 2, 3, 4], "RUST", None), &[("q\"", "v")], false),
            (head([1, 2, 3, 4], "RU\\ST", None), &[], false),
        ];
        for (h, ext, plain) in rows {
            assert_eq!(same_both_ways(h, ext).unwrap(), *plain, "{ext:?}");
        }
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => "[a-zA-Z0-9_ .:=-]{0,40}",
            1 => "[a-z\"\\\\\u{1}\u{2}\n\té€😀]{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_plain_writer_writes_what_the_general_one_does(
            ints in any::<[i32; 4]>(),
            language in text(),
            remark in prop::option::of(text()),
            ext in prop::collection::vec((text(), text()), 0..14),
        ) {
            // Keys are unique in a command.
            let mut seen = std::collections::HashSet::new();
            let ext: Vec<(&str, &str)> = ext
                .iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            same_both_ways(&head(ints, &language, remark.as_deref()), &ext)?;
        }
    }
}
