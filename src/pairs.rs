//! Ordered text pairs kept in one buffer: a command's extFields (`remoting::Pairs`) and a
//! message's properties (`message::properties::Properties`).
//!
//! Every request carries its custom header as extFields (a Java V2 send has 13 pairs), and every
//! stored message its properties (UNIQ_KEY, WAIT, TAGS, ... and the few the broker adds); the broker
//! decodes both once per message. As `Vec<(String, String)>` they cost two allocations per pair and
//! two frees: a V2 send made 40 allocations to decode its header alone. Here the keys and values
//! are written back to back into one `String`, with the end of each key and each value kept beside
//! it: two allocations per list, whatever its number of pairs, and a pair is still two `&str`s.
//!
//! Order is arrival order (a JSON header is re-encoded in it, a signature is computed over it, a
//! properties string is rebuilt in it). Keys are unique: [`Pairs::set`] replaces in place (a JSON map
//! and Java's properties map both keep a repeated key's first position and its last value), and
//! [`Pairs::push`] is for callers that know the key is new.
//!
//! Rejected: a `HashMap`: lookups are over a dozen short keys, where a scan is as fast, and it would
//! lose the order. Borrowing slices of the frame: values may be numbers or contain JSON escapes and
//! must be converted, and a command outlives the buffer it was read from.

use std::fmt::{self, Write};

/// Text reserved with a list's first pair: a send response's six pairs take ~110 bytes.
const FIRST_TEXT_BYTES: usize = 128;

/// Ordered, unique-keyed text pairs in one buffer (module docs).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pairs {
    /// key0 value0 key1 value1 ... back to back.
    text: String,
    /// Per pair, where its key ends and where its value ends in `text`; a key starts where the
    /// previous value ends.
    ends: Vec<(u32, u32)>,
}

impl Pairs {
    pub fn new() -> Pairs {
        Pairs::default()
    }

    /// Room for `pairs` pairs of `bytes` bytes of text in all, allocated once.
    pub fn with_capacity(pairs: usize, bytes: usize) -> Pairs {
        Pairs {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(pairs),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1].1 as usize
        }
    }

    fn pair(&self, i: usize) -> (&str, &str) {
        let (k, v) = self.ends[i];
        (
            &self.text[self.start(i)..k as usize],
            &self.text[k as usize..v as usize],
        )
    }

    /// The index of `key`'s pair. A key of another length is passed over on its recorded ends
    /// alone, without slicing the text (every header field a request handler reads is a lookup,
    /// 11 of them for a pull over its ~10 pairs).
    fn position(&self, key: &str) -> Option<usize> {
        let (text, key) = (self.text.as_bytes(), key.as_bytes());
        let mut start = 0;
        for (i, &(k, v)) in self.ends.iter().enumerate() {
            let k = k as usize;
            if k - start == key.len() && &text[start..k] == key {
                return Some(i);
            }
            start = v as usize;
        }
        None
    }

    /// The pairs in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            fields: self,
            next: 0,
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.pair(i).1)
    }

    /// Before the first pair of a command built pair by pair (a response): room for a typical
    /// header at once, rather than growing through 8, 16, 32, ... bytes.
    fn first_room(&mut self, bytes: usize) {
        if self.ends.capacity() == 0 {
            self.ends.reserve(8);
            self.text.reserve(bytes.max(FIRST_TEXT_BYTES));
        }
    }

    /// Appends a pair whose key the caller knows is not present (a decoder's first sighting).
    pub fn push(&mut self, key: &str, value: &str) {
        self.first_room(key.len() + value.len());
        self.text.push_str(key);
        let k = self.text.len() as u32;
        self.text.push_str(value);
        self.ends.push((k, self.text.len() as u32));
    }

    /// Sets `key` to `value`: replaced in place if present, appended if not.
    pub fn set(&mut self, key: &str, value: &str) {
        let Some(i) = self.position(key) else {
            self.push(key, value);
            return;
        };
        let (k, v) = self.ends[i];
        self.text.replace_range(k as usize..v as usize, value);
        let delta = value.len() as i64 - (v - k) as i64;
        self.shift(i, delta);
    }

    /// Sets `key` to `value`'s text; a new key's value is formatted straight into the buffer.
    pub fn set_display(&mut self, key: &str, value: impl fmt::Display) {
        if self.position(key).is_some() {
            self.set(key, &value.to_string());
            return;
        }
        self.first_room(key.len() + 24);
        self.text.push_str(key);
        let k = self.text.len() as u32;
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{value}");
        self.ends.push((k, self.text.len() as u32));
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.position(key)?;
        let (k, v) = self.ends[i];
        let start = self.start(i);
        let value = self.text[k as usize..v as usize].to_string();
        self.text.replace_range(start..v as usize, "");
        self.ends.remove(i);
        // Pair i is now the one after the removed pair.
        let delta = start as i64 - v as i64;
        if i < self.ends.len() {
            self.ends[i..]
                .iter_mut()
                .for_each(|e| *e = (add(e.0, delta), add(e.1, delta)));
        }
        Some(value)
    }

    /// Pair `i`'s value end and every later end move by `delta` bytes.
    fn shift(&mut self, i: usize, delta: i64) {
        self.ends[i].1 = add(self.ends[i].1, delta);
        self.ends[i + 1..]
            .iter_mut()
            .for_each(|e| *e = (add(e.0, delta), add(e.1, delta)));
    }

    /// The pairs as owned strings (tests, and callers that need to keep them apart).
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

fn add(x: u32, delta: i64) -> u32 {
    (x as i64 + delta) as u32
}

impl fmt::Debug for Pairs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As the `Vec<(String, String)>` it replaced printed (trace logs, the admin tool's output).
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The pairs of an [`Pairs`] in order.
#[derive(Clone)]
pub struct Iter<'a> {
    fields: &'a Pairs,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        if self.next >= self.fields.ends.len() {
            return None;
        }
        self.next += 1;
        Some(self.fields.pair(self.next - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.fields.ends.len() - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Pairs {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Pairs {
    /// Later pairs replace earlier ones with the same key.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Pairs {
        let mut out = Pairs::new();
        for (k, v) in iter {
            out.set(k.as_ref(), v.as_ref());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pairs_keep_their_order_and_set_replaces_in_place() {
        let mut e = Pairs::new();
        e.push("topic", "T");
        e.push("queueId", "3");
        e.set("topic", "LongerTopic");
        e.set("a", "");
        e.set_display("n", 42);
        e.set_display("n", 7);
        assert_eq!(e.remove("n").as_deref(), Some("7"));
        assert_eq!(
            e.iter().collect::<Vec<_>>(),
            vec![("topic", "LongerTopic"), ("queueId", "3"), ("a", "")]
        );
        assert_eq!(e.get("queueId"), Some("3"));
        assert_eq!(e.remove("queueId").as_deref(), Some("3"));
        assert_eq!(e.get("queueId"), None);
        assert_eq!(format!("{e:?}"), r#"[("topic", "LongerTopic"), ("a", "")]"#);
        assert_eq!(e.remove("missing"), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(String, String),
        Remove(String),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct keys, so that replacing and removing existing ones is common; values of any
        // length (growing and shrinking in place), non-ASCII included.
        let key = prop::sample::select(vec!["a", "b", "topic", "ü", ""]).prop_map(String::from);
        prop_oneof![
            (key.clone(), "[a-zé0-9]{0,12}").prop_map(|(k, v)| Op::Set(k, v)),
            key.prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// Against the plain `Vec<(String, String)>` it replaced, after any sequence of edits.
        #[test]
        fn behaves_like_a_vec_of_pairs(ops in prop::collection::vec(op(), 0..40)) {
            let mut e = Pairs::new();
            let mut model: Vec<(String, String)> = Vec::new();
            for o in ops {
                match o {
                    Op::Set(k, v) => {
                        e.set(&k, &v);
                        match model.iter_mut().find(|(mk, _)| *mk == k) {
                            Some((_, mv)) => *mv = v,
                            None => model.push((k, v)),
                        }
                    }
                    Op::Remove(k) => {
                        let want = model.iter().position(|(mk, _)| *mk == k).map(|i| model.remove(i).1);
                        prop_assert_eq!(e.remove(&k), want);
                    }
                }
                prop_assert_eq!(e.to_vec(), model.clone());
                prop_assert_eq!(e.len(), model.len());
                for (k, v) in &model {
                    prop_assert_eq!(e.get(k), Some(v.as_str()));
                }
            }
        }
    }
}
