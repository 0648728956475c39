//! RocketMQ 5 topic attributes (`mqadmin updateTopic -a +message.type=FIFO`): which keys and values
//! a topic may carry, and how an admin's modification (`+k=v` adds or changes, `-k` removes, comma
//! separated) alters what the topic has. Pure: shard 0 applies it when it commits a topic.
//!
//! Why the broker keeps them: RocketMQ 5 clients do not read them, but RocketMQ's proxy (which serves
//! the gRPC clients in front of any remoting broker) asks GET_TOPIC_CONFIG for `message.type` and
//! refuses a FIFO, delayed or transactional message sent to a topic that is not of that type. Java
//! keeps them in the topic config; so does Bolide (`topics.json`, GET_TOPIC_CONFIG, GET_ALL_TOPIC_CONFIG,
//! registration, replication to slaves). Like the Java broker, Bolide does not check a remoting send
//! against `message.type`.
//!
//! The keys (Java's `TopicAttributes.ALL`):
//!
//! | key | values | changeable after creation | Bolide |
//! |---|---|---|---|
//! | `message.type` | UNSPECIFIED NORMAL FIFO DELAY TRANSACTION MIXED | yes | kept (MIXED refused by the processor, as Java's default `enableMixedMessageType=false`) |
//! | `queue.type` | SimpleCQ BatchCQ | no | SimpleCQ kept; BatchCQ refused: Bolide has one consume-queue format |
//! | `cleanup.policy` | DELETE COMPACTION | no | DELETE kept; COMPACTION refused: Bolide does not compact |
//! | `reserve.time` | -1.. | yes | refused, as Java refuses it without its tiered store |
//!
//! Each item of a modification, in Java's `AttributeUtil.alterCurrentAttributes` order of checks:
//!
//! | item | topic exists | key has it | result |
//! |---|---|---|---|
//! | `+k=v` | no | - | set (any key, changeable or not) |
//! | `-k` | no | - | error: only add while creating |
//! | `+k=v` | yes | no | added, if `k` is changeable |
//! | `+k=v` | yes | yes | changed, if `k` is changeable |
//! | `-k` | yes | no | error: a nonexistent key |
//! | `-k` | yes | yes | removed, if `k` is changeable |
//! | `k=v` (no `+`), `k` (no `-`), empty | - | - | error: format |
//! | a key twice | - | - | error: duplication |
//! | an unknown key, a value outside the set | - | - | error |
//!
//! Any error leaves the topic as it was; the message is the Java broker's (its SYSTEM_ERROR remark).

use std::collections::BTreeMap;

/// `message.type`: the key RocketMQ's proxy reads.
pub const MESSAGE_TYPE: &str = "message.type";

/// One known attribute.
struct Known {
    name: &'static str,
    changeable: bool,
    /// Values Java accepts.
    values: &'static [&'static str],
    /// Values Java accepts that Bolide does not implement, with why.
    refused: &'static [(&'static str, &'static str)],
}

const KNOWN: &[Known] = &[
    Known {
        name: MESSAGE_TYPE,
        changeable: true,
        values: &[
            "UNSPECIFIED",
            "NORMAL",
            "FIFO",
            "DELAY",
            "TRANSACTION",
            "MIXED",
        ],
        refused: &[],
    },
    Known {
        name: "queue.type",
        changeable: false,
        values: &["BatchCQ", "SimpleCQ"],
        refused: &[("BatchCQ", "Bolide has one consume-queue format (SimpleCQ)")],
    },
    Known {
        name: "cleanup.policy",
        changeable: false,
        values: &["DELETE", "COMPACTION"],
        refused: &[("COMPACTION", "Bolide does not compact topics")],
    },
];

/// The attributes after `modification` (the CreateTopic header's `attributes`) is applied to
/// `current` (`None`: the topic is being created). An empty modification keeps them.
pub fn alter(
    current: Option<&BTreeMap<String, String>>,
    modification: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = current.cloned().unwrap_or_default();
    if modification.is_empty() {
        return Ok(out);
    }
    let mut seen: Vec<&str> = Vec::new();
    for item in modification.split(',') {
        let (key, value, add) = match item.split_once('=') {
            Some((k, v)) => match k.strip_prefix('+') {
                Some(k) => (k, v, true),
                None => return Err(format!("add/alter attribute format is wrong: {k}")),
            },
            None => match item.strip_prefix('-') {
                Some(k) => (k, "", false),
                None => return Err(format!("delete attribute format is wrong: {item}")),
            },
        };
        if key.is_empty() || key.contains(['+', '-']) {
            return Err("kv string format wrong.".to_string());
        }
        if seen.contains(&key) {
            return Err(format!("alter duplication key. key: {key}"));
        }
        seen.push(key);
        let Some(known) = KNOWN.iter().find(|k| k.name == key) else {
            if key == "reserve.time" {
                return Err("Update topic reserveTime not supported".to_string());
            }
            return Err(format!("unsupported key: {key}"));
        };
        match (current, add) {
            (None, false) => {
                return Err(format!(
                    "only add attribute is supported while creating topic. key: {key}"
                ))
            }
            (Some(cur), false) if !cur.contains_key(key) => {
                return Err(format!("attempt to delete a nonexistent key: {key}"))
            }
            (Some(_), _) if !known.changeable => {
                return Err(format!(
                    "attempt to update an unchangeable attribute. key: {key}"
                ))
            }
            _ => {}
        }
        if !add {
            out.remove(key);
            continue;
        }
        if !known.values.contains(&value) {
            return Err(format!("value is not in set: {:?}", known.values));
        }
        if let Some((_, why)) = known.refused.iter().find(|(v, _)| *v == value) {
            return Err(format!("{key}={value} is not supported: {why}"));
        }
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

/// Whether a modification asks for `message.type=MIXED`, which the Java broker refuses with
/// INVALID_PARAMETER before anything else (its default `enableMixedMessageType=false`).
pub fn asks_mixed(modification: &str) -> bool {
    modification
        .split(',')
        .any(|item| item == format!("+{MESSAGE_TYPE}=MIXED"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    type Row<'a> = (
        Option<&'a BTreeMap<String, String>>,
        &'a str,
        Result<BTreeMap<String, String>, &'a str>,
    );

    #[test]
    fn rows_of_the_table() {
        let fifo = map(&[("message.type", "FIFO")]);
        let simple = map(&[("queue.type", "SimpleCQ")]);
        // (current, modification, result)
        let rows: &[Row] = &[
            // Creating: + sets, any key.
            (None, "+message.type=FIFO", Ok(fifo.clone())),
            (None, "+queue.type=SimpleCQ", Ok(simple.clone())),
            (None, "", Ok(map(&[]))),
            (None, "-message.type", Err("only add attribute is supported while creating topic. key: message.type")),
            // Existing: add, change, remove a changeable key.
            (Some(&simple), "+message.type=FIFO", Ok(map(&[("message.type", "FIFO"), ("queue.type", "SimpleCQ")]))),
            (Some(&fifo), "+message.type=DELAY", Ok(map(&[("message.type", "DELAY")]))),
            (Some(&fifo), "-message.type", Ok(map(&[]))),
            (Some(&fifo), "", Ok(fifo.clone())),
            (Some(&simple), "-message.type", Err("attempt to delete a nonexistent key: message.type")),
            // Unchangeable keys after creation, whether present or not.
            (Some(&simple), "+queue.type=SimpleCQ", Err("attempt to update an unchangeable attribute. key: queue.type")),
            (Some(&fifo), "+cleanup.policy=DELETE", Err("attempt to update an unchangeable attribute. key: cleanup.policy")),
            (Some(&simple), "-queue.type", Err("attempt to update an unchangeable attribute. key: queue.type")),
            // Formats.
            (None, "message.type=FIFO", Err("add/alter attribute format is wrong: message.type")),
            (None, "message.type", Err("delete attribute format is wrong: message.type")),
            (None, "+=FIFO", Err("kv string format wrong.")),
            (None, "+message.type=FIFO,+message.type=NORMAL", Err("alter duplication key. key: message.type")),
            // Keys and values.
            (None, "+color=red", Err("unsupported key: color")),
            (None, "+reserve.time=10", Err("Update topic reserveTime not supported")),
            (None, "+message.type=URGENT", Err("value is not in set: [\"UNSPECIFIED\", \"NORMAL\", \"FIFO\", \"DELAY\", \"TRANSACTION\", \"MIXED\"]")),
            (None, "+queue.type=BatchCQ", Err("queue.type=BatchCQ is not supported: Bolide has one consume-queue format (SimpleCQ)")),
            (None, "+cleanup.policy=COMPACTION", Err("cleanup.policy=COMPACTION is not supported: Bolide does not compact topics")),
            (None, "+cleanup.policy=DELETE,+message.type=TRANSACTION", Ok(map(&[("cleanup.policy", "DELETE"), ("message.type", "TRANSACTION")]))),
        ];
        for (i, (cur, m, want)) in rows.iter().enumerate() {
            let got = alter(*cur, m);
            match want {
                Ok(w) => assert_eq!(got.as_ref(), Ok(w), "row {i}: {m}"),
                Err(e) => assert_eq!(
                    got.as_ref().map_err(|s| s.as_str()),
                    Err(*e),
                    "row {i}: {m}"
                ),
            }
        }
    }

    #[test]
    fn mixed_is_spotted() {
        assert!(asks_mixed("+queue.type=SimpleCQ,+message.type=MIXED"));
        assert!(!asks_mixed("+message.type=FIFO"));
        assert!(!asks_mixed(""));
    }
}
