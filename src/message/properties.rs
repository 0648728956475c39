//! The RocketMQ properties string: `key 0x01 value 0x02 ...` (§9.3).
//!
//! CONTRACT (filled in by the storage work): parsing follows Java (split on 0x02, skip segments shorter
//! than 3 chars, split at the first 0x01, non-empty key and value); serialising is canonical (no trailing
//! separator). Order of keys is preserved.

pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Well-known property keys.
pub mod keys {
    pub const KEYS: &str = "KEYS";
    pub const TAGS: &str = "TAGS";
    pub const WAIT: &str = "WAIT";
    pub const DELAY: &str = "DELAY";
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const TRAN_MSG: &str = "TRAN_MSG";
    pub const PGROUP: &str = "PGROUP";
    pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
    pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    pub const REAL_QID: &str = "REAL_QID";
    pub const CLUSTER: &str = "CLUSTER";
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
    /// RocketMQ 5 timer messages: an absolute delivery time, or a delay from the store time.
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
    pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
    /// Set by the broker on a parked timer message: its delivery time (also marks it as scheduled).
    pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
    /// Set by the broker each time it re-parks a far timer (RocketMQ's name for its own rolls).
    pub const TIMER_ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
    /// Bolide: on a message the scheduler re-put (or re-parked), the physical offset of the parked
    /// record it came from; how a restart recognises work done after its last progress checkpoint.
    pub const SCHEDULE_SOURCE_OFFSET: &str = "SCHEDULE_SOURCE_OFFSET";
    pub const MSG_REGION: &str = "MSG_REGION";
    pub const TRACE_ON: &str = "TRACE_ON";
    /// Request-reply: the requesting client's id, the pairing id, and when the broker pushed the reply.
    pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
    pub const CORRELATION_ID: &str = "CORRELATION_ID";
    pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
}

use crate::pairs::Pairs;

/// Properties the broker may add to a message on the put path; [`Properties::parse`] leaves room.
const BROKER_ADDED_MAX: usize = 4;
/// Text the broker may add on the put path (CLUSTER, MSG_REGION, TRACE_ON and their values, or a
/// REAL_TOPIC when parking).
const BROKER_ADDED_BYTES: usize = 96;

/// An ordered list of properties, in one buffer ([`crate::pairs`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    pub entries: Pairs,
}

impl Properties {
    /// Parses a properties string leniently (never fails).
    pub fn parse(s: &str) -> Properties {
        // Java puts each pair into a map: a repeated key keeps its first position and its last value.
        // Room for every pair and the few the broker adds (CLUSTER, MSG_REGION, TRACE_ON, ...):
        // no regrowth on the send path.
        let n = s.bytes().filter(|b| *b == PROPERTY_SEPARATOR as u8).count() + 1;
        let mut p = Properties {
            entries: Pairs::with_capacity(n + BROKER_ADDED_MAX, s.len() + BROKER_ADDED_BYTES),
        };
        for (k, v) in pairs(s) {
            p.set(k, v);
        }
        p
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key)
    }

    /// Sets (replacing an existing value) a property.
    pub fn set(&mut self, key: &str, value: &str) {
        self.entries.set(key, value);
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.entries.remove(key)
    }

    /// What [`index_keys`] gives for this list's [`Properties::to_wire`] form, without serialising
    /// and re-splitting it (a list holds each key once, with the value a string's last occurrence).
    pub fn index_keys(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Some(k) = self.get(keys::KEYS) {
            out.extend(k.split(' ').filter(|t| !t.is_empty()));
        }
        if let Some(u) = self.get(keys::UNIQ_KEY) {
            out.push(u);
        }
        out
    }

    /// Canonical string form.
    pub fn to_wire(&self) -> String {
        let len: usize = self
            .entries
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum();
        let mut s = String::with_capacity(len);
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                s.push(PROPERTY_SEPARATOR);
            }
            s.push_str(k);
            s.push(NAME_VALUE_SEPARATOR);
            s.push_str(v);
        }
        s
    }
}

/// The (key, value) pairs of a properties string, by Java's rules: split on 0x02, skip segments
/// shorter than 3 chars, split at the first 0x01, keep only non-empty keys and values.
pub fn pairs(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split(PROPERTY_SEPARATOR).filter_map(|seg| {
        // 12 bytes hold at least 3 chars: only short segments are counted (this runs per send).
        if seg.len() < 12 && seg.chars().count() < 3 {
            return None;
        }
        let (k, v) = seg.split_once(NAME_VALUE_SEPARATOR)?;
        (!k.is_empty() && !v.is_empty()).then_some((k, v))
    })
}

/// Looks a key up in a properties string without allocating.
pub fn find<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    // A key that is not a substring is not a key: one substring search instead of splitting every
    // segment (TRAN_MSG is looked up on every send and is rarely there).
    if !s.contains(key) {
        return None;
    }
    // The last occurrence wins, as in Java's map.
    pairs(s).filter(|(k, _)| *k == key).last().map(|(_, v)| v)
}

/// The tokens a message is indexed under: each space-separated token of KEYS, and UNIQ_KEY.
pub fn index_keys(s: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    if let Some(k) = find(s, keys::KEYS) {
        out.extend(k.split(' ').filter(|t| !t.is_empty()));
    }
    if let Some(u) = find(s, keys::UNIQ_KEY) {
        out.push(u);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_follows_java_rules() {
        let s = "KEYS\u{1}a b\u{2}TAGS\u{1}TagA\u{2}\u{2}x\u{2}k\u{1}\u{2}\u{1}v\u{2}UNIQ_KEY\u{1}ID1\u{2}";
        let p = Properties::parse(s);
        assert_eq!(
            p.entries.to_vec(),
            vec![
                ("KEYS".to_owned(), "a b".to_owned()),
                ("TAGS".to_owned(), "TagA".to_owned()),
                ("UNIQ_KEY".to_owned(), "ID1".to_owned()),
            ]
        );
        assert_eq!(
            p.to_wire(),
            "KEYS\u{1}a b\u{2}TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}ID1"
        );
        assert_eq!(find(s, "TAGS"), Some("TagA"));
        assert_eq!(find(s, "NOPE"), None);
        assert_eq!(index_keys(s), vec!["a", "b", "ID1"]);
        assert_eq!(p.index_keys(), vec!["a", "b", "ID1"]);
    }

    #[test]
    fn index_keys_of_the_list_match_those_of_its_wire_form() {
        for s in [
            "",
            "KEYS\u{1}k1  k2 \u{2}UNIQ_KEY\u{1}U",
            "KEYS\u{1}a\u{2}KEYS\u{1}b c\u{2}UNIQ_KEY\u{1}U1\u{2}UNIQ_KEY\u{1}U2",
            "UNIQ_KEY\u{1}only",
            "KEYS\u{1} \u{2}x\u{2}TAGS\u{1}t",
            "KEYS\u{1}é\u{2}é\u{1}\u{2}UNIQ_KEY\u{1}\u{1}x",
        ] {
            let p = Properties::parse(s);
            let wire = p.to_wire();
            assert_eq!(p.index_keys(), index_keys(&wire), "{s:?}");
            assert_eq!(index_keys(s), index_keys(&wire), "{s:?}");
        }
    }

    #[test]
    fn segments_are_counted_in_chars_not_bytes() {
        // Java skips segments shorter than 3 chars; "é\u{1}" is 3 bytes but 2 chars.
        assert_eq!(pairs("é\u{1}x").count(), 1);
        assert_eq!(pairs("é\u{1}").count(), 0);
        assert_eq!(pairs("ab").count(), 0);
        assert_eq!(
            pairs("\u{1F600}\u{1}\u{1F600}").collect::<Vec<_>>(),
            vec![("\u{1F600}", "\u{1F600}")]
        );
        assert_eq!(
            Properties::parse("a\u{1}bc\u{2}a\u{1}b").get("a"),
            Some("b")
        );
    }

    #[test]
    fn set_get_remove_keep_order() {
        let mut p = Properties::default();
        p.set("A", "1");
        p.set("B", "2");
        p.set("A", "3");
        assert_eq!(p.get("A"), Some("3"));
        assert_eq!(p.to_wire(), "A\u{1}3\u{2}B\u{1}2");
        assert_eq!(p.remove("A"), Some("3".to_owned()));
        assert_eq!(p.remove("A"), None);
        assert_eq!(p.to_wire(), "B\u{1}2");
        assert!(Properties::parse("").entries.is_empty());
    }

    #[test]
    fn value_may_contain_name_separator_after_first() {
        let p = Properties::parse("k\u{1}v\u{1}w");
        assert_eq!(p.get("k"), Some("v\u{1}w"));
    }
}
