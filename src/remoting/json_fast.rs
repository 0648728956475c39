//! A hand-written decoder for the JSON headers real clients send, tried before the serde visitor in
//! `json.rs`.
//!
//! Every request is decoded once, and a JSON header cost about 1.1 µs through serde_json (a Java
//! V2 send, 369 bytes): with consumers tailing the topic, 12 % of the broker's CPU. The headers
//! that arrive are nearly all one shape: an object of integers, plain strings and one flat
//! `extFields` object of strings, numbers and booleans. This decoder reads that shape in one pass
//! over bytes and gives up (`None`) on anything else, leaving it to the serde visitor, which stays
//! the definition of what a header means.
//!
//! The rule that keeps the two in step: whenever this returns `Some`, the serde visitor returns
//! `Ok` with the same command. `tests` checks it by proptest over generated headers (whitespace,
//! key orders, repeated keys, escapes, nulls, numbers at the edges, nested values, non-ASCII) and
//! over mutated bytes, and checks that the common shapes do take this path.
//!
//! What it gives up on, by value:
//!
//! | where                                | accepted                                    | gives up on                  |
//! |--------------------------------------|---------------------------------------------|------------------------------|
//! | `code` `opaque` `flag` `version`     | integer in i32, `null` (0)                  | strings, floats, out of range |
//! | `language`                           | string without escapes, `null` (unchanged)  | anything else                |
//! | `remark`                             | string, `null` (none)                       | anything else                |
//! | `extFields`                          | flat object, `null` (empty)                 | anything else                |
//! | an extFields value                   | string, integer, `true`/`false`, `null` (dropped) | arrays, objects, floats, `-0`, > 18 digits |
//! | any other top-level value            | string, integer, `true`/`false`/`null`      | arrays, objects, floats      |
//! | a key                                | string without escapes                      | escaped keys                 |
//! | a string                             | valid UTF-8, escapes other than surrogates  | `\uD800`-`\uDFFF`            |
//!
//! Integers with more than 18 digits, floats and `-0` are left to serde so that their text (which
//! serde_json derives from a parsed i64, u64 or f64) need not be reproduced here.

use std::borrow::Cow;

use super::json::{language_of, SeenKeys};
use super::{ExtFields, RemotingCommand};

/// Decodes `header` if it has the common shape (module docs), else `None`.
pub(super) fn decode(header: &[u8]) -> Option<RemotingCommand> {
    // Checked once for the whole header: every slice taken below starts and ends at an ASCII byte,
    // so it is valid UTF-8 too. Outside strings, non-ASCII is a syntax error either way.
    let text = std::str::from_utf8(header).ok()?;
    let mut p = Parser {
        s: text,
        b: header,
        i: 0,
        scratch: String::new(),
    };
    let cmd = p.header()?;
    p.ws();
    (p.i == p.b.len()).then_some(cmd)
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// Unescaped text of the string being read, when it had escapes.
    scratch: String,
}

/// A scalar as the serde visitor would see it.
enum Scalar<'a> {
    /// A string without escapes, borrowed from the header.
    Plain(&'a str),
    /// A string with escapes, unescaped into the parser's scratch.
    Escaped,
    /// An integer of at most 18 digits, as written (not `-0`).
    Int(&'a str),
    Bool(bool),
    Null,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn header(&mut self) -> Option<RemotingCommand> {
        self.eat(b'{')?;
        let mut cmd = RemotingCommand::default();
        let mut language: Cow<'static, str> = Cow::Borrowed("OTHER");
        if self.peek()? == b'}' {
            self.i += 1;
            cmd.language = language;
            return Some(cmd);
        }
        loop {
            let key = self.key()?;
            self.eat(b':')?;
            match key {
                "code" => cmd.code = self.int()?,
                "opaque" => cmd.opaque = self.int()?,
                "flag" => cmd.flag = self.int()?,
                "version" => cmd.version = self.int()?,
                "language" => match self.scalar()? {
                    Scalar::Plain(l) => language = language_of(Cow::Borrowed(l)),
                    Scalar::Null => {}
                    _ => return None,
                },
                "remark" => {
                    cmd.remark = match self.scalar()? {
                        Scalar::Plain(r) => Some(r.to_string()),
                        Scalar::Escaped => Some(self.scratch.clone()),
                        Scalar::Null => None,
                        _ => return None,
                    }
                }
                "extFields" => cmd.ext_fields = self.ext_fields()?,
                _ => {
                    self.scalar()?;
                }
            }
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        cmd.language = language;
        Some(cmd)
    }

    fn ext_fields(&mut self) -> Option<ExtFields> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(ExtFields::new());
        }
        self.eat(b'{')?;
        // As the serde visitor sizes it, though equality does not depend on capacity.
        let mut out = ExtFields::with_capacity(16, self.b.len());
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(out);
        }
        let mut seen = SeenKeys::default();
        loop {
            let key = self.key()?;
            self.eat(b':')?;
            let value = match self.scalar()? {
                Scalar::Plain(v) | Scalar::Int(v) => Some(v),
                Scalar::Escaped => None,
                Scalar::Bool(true) => Some("true"),
                Scalar::Bool(false) => Some("false"),
                Scalar::Null => {
                    if self.next_member()? {
                        continue;
                    }
                    break;
                }
            };
            seen.add(&mut out, key, value.unwrap_or(self.scratch.as_str()));
            if !self.next_member()? {
                break;
            }
        }
        Some(out)
    }

    /// After a member: `true` past a `,`, `false` past the closing `}`.
    fn next_member(&mut self) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(true)
            }
            b'}' => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    fn key(&mut self) -> Option<&'a str> {
        match self.string()? {
            Scalar::Plain(k) => Some(k),
            _ => None,
        }
    }

    fn int(&mut self) -> Option<i32> {
        match self.scalar()? {
            Scalar::Int(v) => v.parse().ok(),
            Scalar::Null => Some(0),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word.as_bytes()).then(|| self.i = end)
    }

    fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string(),
            b't' => self.literal("true").map(|_| Scalar::Bool(true)),
            b'f' => self.literal("false").map(|_| Scalar::Bool(false)),
            b'n' => self.literal("null").map(|_| Scalar::Null),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    /// `-?(0|[1-9][0-9]*)` of at most 18 digits, not `-0`, not followed by a fraction or exponent.
    fn integer(&mut self) -> Option<Scalar<'a>> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        let digits = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        let n = self.i - digits;
        let first = *self.b.get(digits)?;
        let leading_zero = first == b'0' && n > 1;
        let minus_zero = first == b'0' && digits > start;
        if n == 0 || n > 18 || leading_zero || minus_zero {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.b.get(self.i) {
            return None;
        }
        Some(Scalar::Int(&self.s[start..self.i]))
    }

    /// A string at the cursor (its opening quote next).
    fn string(&mut self) -> Option<Scalar<'a>> {
        self.eat(b'"')?;
        let start = self.i;
        self.i = special(self.b, self.i)?;
        match self.b[self.i] {
            b'"' => {
                self.i += 1;
                return Some(Scalar::Plain(&self.s[start..self.i - 1]));
            }
            b'\\' => {}
            _ => return None,
        }
        self.scratch.clear();
        // Unescaped text is never longer than the header: one allocation per header at most.
        self.scratch.reserve(self.b.len());
        self.scratch.push_str(&self.s[start..self.i]);
        loop {
            let run = self.i;
            self.i = special(self.b, self.i)?;
            if self.b[self.i] < 0x20 {
                return None;
            }
            self.scratch.push_str(&self.s[run..self.i]);
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Some(Scalar::Escaped);
            }
            self.i += 1;
            let c = match *self.b.get(self.i)? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let code = hex4(self.b.get(self.i + 1..self.i + 5)?)?;
                    self.i += 4;
                    // A surrogate (half of a pair, or alone) is left to serde.
                    char::from_u32(code)?
                }
                _ => return None,
            };
            self.i += 1;
            self.scratch.push(c);
        }
    }
}

/// Four hex digits (either case) as a number: the `XXXX` of `\uXXXX` (Java escapes the property
/// separators \u0001 and \u0002 in every send).
fn hex4(h: &[u8]) -> Option<u32> {
    h.iter().try_fold(0u32, |n, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        Some(n << 4 | d as u32)
    })
}

/// The index of the first `"`, `\\` or control character at or after `i`, if any: eight bytes at a
/// time (every string in a header is scanned, and most are a few to a few dozen bytes).
pub(super) fn special(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().ok()?);
        // A byte of `zero(v)` has its high bit set where `v`'s byte is 0 (exact for the lowest such
        // byte, which is all that is used); `x & HIGH` excludes non-ASCII bytes from `< 0x20`.
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let quote = zero(x ^ (ONES * b'"' as u64));
        let backslash = zero(x ^ (ONES * b'\\' as u64));
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let hits = quote | backslash | control;
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::json::decode_header_serde;
    use super::*;

    /// The rule of the module: the fast path answers only where serde answers the same.
    fn agrees(header: &str) -> Result<bool, TestCaseError> {
        let Some(fast) = decode(header.as_bytes()) else {
            return Ok(false);
        };
        let serde = decode_header_serde(header.as_bytes()).map_err(|e| e.to_string());
        prop_assert_eq!(Ok(fast), serde, "{}", header);
        Ok(true)
    }

    /// The module's table, row by row: a header whose one value is in the row's column, whether the
    /// fast path takes it, and whether it is a valid header at all (serde's answer).
    #[test]
    fn the_table_row_by_row() {
        let rows: &[(&str, bool, bool)] = &[
            // code, opaque, flag, version
            (r#"{"code":310}"#, true, true),
            (r#"{"opaque":-2147483648}"#, true, true),
            (r#"{"flag":null}"#, true, true),
            (r#"{"version":"409"}"#, false, true),
            (r#"{"code":1.0}"#, false, true),
            (r#"{"code":2147483648}"#, false, false),
            // language
            (r#"{"language":"JAVA"}"#, true, true),
            (r#"{"language":"ELIXIR"}"#, true, true),
            (r#"{"language":null}"#, true, true),
            (r#"{"language":"J\u0041VA"}"#, false, true),
            (r#"{"language":1}"#, false, true),
            // remark
            (
                r#"{"remark":"No topic route info\nSee https:\/\/x"}"#,
                true,
                true,
            ),
            (r#"{"remark":null}"#, true, true),
            (r#"{"remark":7}"#, false, true),
            // extFields
            (
                r#"{"extFields":{"a":"b","n":-12,"t":true,"f":false,"gone":null}}"#,
                true,
                true,
            ),
            (r#"{"extFields":null}"#, true, true),
            (r#"{"extFields":{}}"#, true, true),
            (r#"{"extFields":"a=b"}"#, false, false),
            // an extFields value
            (r#"{"extFields":{"i":"K\u0001V\u0002"}}"#, true, true),
            (r#"{"extFields":{"a":[1]}}"#, false, true),
            (r#"{"extFields":{"a":{"b":1}}}"#, false, true),
            (r#"{"extFields":{"a":1.5}}"#, false, true),
            (r#"{"extFields":{"a":-0}}"#, false, true),
            (r#"{"extFields":{"a":123456789012345678}}"#, true, true),
            (r#"{"extFields":{"a":1234567890123456789}}"#, false, true),
            // other top-level values
            (
                r#"{"serializeTypeCurrentRPC":"JSON","x":1,"y":true,"z":null}"#,
                true,
                true,
            ),
            (r#"{"x":[1]}"#, false, true),
            (r#"{"x":{}}"#, false, true),
            (r#"{"x":1e3}"#, false, true),
            // keys
            (r#"{"co\u0064e":1}"#, false, true),
            // strings
            (r#"{"remark":"é€😀 \u00e9 \t"}"#, true, true),
            (r#"{"remark":"\ud83d\ude00"}"#, false, true),
            (r#"{"remark":"\udc00"}"#, false, false),
        ];
        for (header, fast, valid) in rows {
            let took = agrees(header).unwrap();
            assert_eq!(took, *fast, "{header}");
            let serde = decode_header_serde(header.as_bytes());
            assert_eq!(serde.is_ok(), *valid, "{header}: {serde:?}");
        }
    }

    /// What real clients send takes the fast path: a Java 4.9.8 V2 send and pull, the C++
    /// client's route query (trailing newline counted in the header), an answer with a remark.
    #[test]
    fn real_client_headers_take_the_fast_path() {
        for header in [
            r#"{"code":310,"extFields":{"a":"please_rename_unique_group_name","b":"TopicTest","c":"TBW102","d":"4","e":"3","f":"0","g":"1700000000000","h":"0","i":"UNIQ_KEY\u00017F0000010001B4AAC00000000000000A\u0002WAIT\u0001true\u0002TAGS\u0001TagA","j":"0","k":"false","l":"16","m":"false"},"flag":0,"language":"JAVA","opaque":77,"serializeTypeCurrentRPC":"JSON","version":409}"#,
            r#"{"code":11,"extFields":{"consumerGroup":"g","topic":"T","queueId":"3","queueOffset":"12","maxMsgNums":"32","sysFlag":"2","commitOffset":"0","suspendTimeoutMillis":"15000","subVersion":"0"},"flag":0,"language":"JAVA","opaque":9,"serializeTypeCurrentRPC":"JSON","version":409}"#,
            "{\"code\":105,\"extFields\":{\"AccessKey\":\"\",\"OnsChannel\":\"ALIYUN\",\"Signature\":\"M0MM4Zv9I4sqLC4YQMwo6Ngfmcs=\",\"topic\":\"CapTopic2\"},\"flag\":0,\"language\":\"CPP\",\"opaque\":0,\"remark\":\"\",\"version\":63}\n",
            r#"{"code":17,"language":"RUST","version":474,"opaque":0,"flag":1,"remark":"No topic route info in name server for the topic: CapTopic2\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.","extFields":null,"serializeTypeCurrentRPC":"JSON"}"#,
        ] {
            assert!(agrees(header).unwrap(), "{header}");
        }
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", "", " ", "\n", "\t", "\r\n "])
    }

    /// A JSON string token from fragments: plain and non-ASCII text, every escape, surrogates
    /// paired and alone, and the invalid (a raw control character, an unknown escape).
    fn string() -> impl Strategy<Value = String> {
        let fragment = prop_oneof![
            12 => prop::sample::select(vec![
                "a", "Z", "0", " ", "é", "€", "😀", "\u{7f}", "\\\"", "\\\\", "\\/", "\\b",
                "\\f", "\\n", "\\r", "\\t", "\\u0001", "\\u0000", "\\u00E9", "\\ud83d\\ude00",
            ]),
            1 => prop::sample::select(vec!["\\ude00", "\\ud83d", "\u{1}", "\\x", "\\u12"]),
        ];
        prop::collection::vec(fragment, 0..6).prop_map(|f| format!("\"{}\"", f.concat()))
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec![
                "0", "-0", "7", "-7", "1.5", "1e3", "-1E-2", "2147483647", "2147483648",
                "-2147483648", "-2147483649", "123456789012345678", "-123456789012345678",
                "1234567890123456789", "99999999999999999999",
            ])
            .prop_map(String::from),
            1 => prop::sample::select(vec!["007", "-", "1.", "01", "+1"]).prop_map(String::from),
            2 => any::<i64>().prop_map(|n| n.to_string()),
            4 => any::<i32>().prop_map(|n| n.to_string()),
        ]
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => string(),
            3 => number(),
            1 => prop::sample::select(vec!["true", "false", "null", "nul", "[]", "[1,\"a\"]", "{}",
                "{\"x\":1}"]).prop_map(String::from),
        ]
    }

    fn members(member: BoxedStrategy<String>) -> BoxedStrategy<String> {
        let member = (ws(), member, ws())
            .prop_map(|(a, m, b)| format!("{a}{}{b}", m.replacen(':', &format!("{b}:{a}"), 1)));
        prop::collection::vec(member, 0..7)
            .prop_map(|m| format!("{{{}}}", m.join(",")))
            .boxed()
    }

    fn member(
        keys: Vec<&'static str>,
        value: impl Strategy<Value = String> + 'static,
    ) -> BoxedStrategy<String> {
        (prop::sample::select(keys), value)
            .prop_map(|(k, v)| format!("\"{k}\":{v}"))
            .boxed()
    }

    /// Mostly members whose value suits their key (so that most headers are valid), some with any
    /// value at all.
    fn header() -> impl Strategy<Value = String> {
        let ext_key = vec!["a", "b", "topic", "é", "a\\u0062", ""];
        let ext = prop_oneof![
            8 => members(member(ext_key.clone(), scalar())),
            1 => members(member(ext_key, scalar().prop_map(|v| format!("{v}:")))),
            1 => Just("null".to_string()),
        ];
        let int = prop_oneof![
            6 => any::<i32>().prop_map(|n| n.to_string()),
            1 => Just("null".to_string()),
            1 => any::<u16>().prop_map(|n| format!("\"{n}\"")),
            1 => number(),
        ];
        let text = prop_oneof![4 => string(), 1 => Just("null".to_string())];
        let language = prop_oneof![
            2 => prop::sample::select(vec!["\"JAVA\"", "\"CPP\"", "\"GO\"", "\"OTHER\"", "\"X\""])
                .prop_map(String::from),
            1 => text.clone(),
        ];
        let top = prop_oneof![
            3 => member(vec!["code", "opaque", "flag", "version"], int),
            1 => member(vec!["language"], language),
            1 => member(vec!["remark"], text),
            3 => member(vec!["extFields"], ext),
            1 => member(vec!["serializeTypeCurrentRPC", "unknown"], scalar()),
            1 => member(
                vec!["code", "language", "remark", "extFields", "unknown", "co\\u0064e"],
                scalar(),
            ),
        ];
        (
            ws(),
            members(top.boxed()),
            prop::sample::select(vec!["", "", "", "", "", "\n", " x", ","]),
        )
            .prop_map(|(a, o, t)| format!("{a}{o}{t}"))
    }

    /// The generator is worth its cases: a fair share of its headers take the fast path, and a
    /// fair share of the valid ones are left to serde.
    #[test]
    fn generated_headers_reach_both_paths() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut fast, mut left_valid) = (0, 0);
        for _ in 0..2000 {
            let h = header().new_tree(&mut runner).unwrap().current();
            if agrees(&h).unwrap() {
                fast += 1;
            } else if decode_header_serde(h.as_bytes()).is_ok() {
                left_valid += 1;
            }
        }
        assert!(
            fast > 200 && left_valid > 100,
            "fast {fast}, valid left to serde {left_valid}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn where_the_fast_path_answers_serde_answers_the_same(h in header()) {
            agrees(&h)?;
        }

        /// Any byte of a real header replaced, removed or doubled.
        #[test]
        fn mutated_real_headers_agree(pos in 0usize..400, byte in any::<u8>(), how in 0..3u8) {
            let mut h = br#"{"code":310,"extFields":{"a":"g","b":"T","i":"K\u0001V\u0002W","g":1700000000000,"k":false,"n":null},"flag":0,"language":"JAVA","opaque":77,"remark":"r\n","serializeTypeCurrentRPC":"JSON","version":409}"#.to_vec();
            let pos = pos % h.len();
            match how {
                0 => h[pos] = byte,
                1 => { h.remove(pos); }
                _ => h.insert(pos, h[pos]),
            }
            if let Some(fast) = decode(&h) {
                prop_assert_eq!(Ok(fast), decode_header_serde(&h).map_err(|e| e.to_string()));
            }
        }
    }
}
