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
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const REAL_TOPIC: &str = "REAL_TOPIC";
    pub const REAL_QID: &str = "REAL_QID";
    pub const CLUSTER: &str = "CLUSTER";
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
}

/// An ordered list of properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    pub entries: Vec<(String, String)>,
}

impl Properties {
    /// Parses a properties string leniently (never fails).
    pub fn parse(s: &str) -> Properties {
        let _ = s;
        todo!("storage work fills this in")
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        let _ = key;
        todo!("storage work fills this in")
    }

    /// Sets (replacing an existing value) a property.
    pub fn set(&mut self, key: &str, value: &str) {
        let _ = (key, value);
        todo!("storage work fills this in")
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let _ = key;
        todo!("storage work fills this in")
    }

    /// Canonical string form.
    pub fn to_wire(&self) -> String {
        todo!("storage work fills this in")
    }
}

/// Looks a key up in a properties string without allocating.
pub fn find<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let _ = (s, key);
    todo!("storage work fills this in")
}

/// The tokens a message is indexed under: each space-separated token of KEYS, and UNIQ_KEY.
pub fn index_keys(s: &str) -> Vec<&str> {
    let _ = s;
    todo!("storage work fills this in")
}
