//! The request mode of each (topic, consumer group): PULL or POP, and POP's share count, as
//! SET_MESSAGE_REQUEST_MODE sets it and QUERY_ASSIGNMENT reads it. One table for the process, held
//! by every shard (`Arc`), persisted to `messageRequestMode.json` in the data directory in the Java
//! broker's shape.
//!
//! Why shared rather than replicated through shard 0 like topics: it is read only by
//! QUERY_ASSIGNMENT (each consumer asks once per rebalance, every 20 s) and written by an operator,
//! never on a send or pull path, so a mutex costs nothing that matters and keeps it to one file
//! write. Like the ACL accounts, it is the exception to "shards share nothing". A master sends the
//! table to its slaves (`broker::services::ha_meta`, as Java's slave syncs `messageRequestMode`),
//! which adopt each mode that differs, so a promoted slave hands out the same modes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::remoting::body::{MessageRequestModeTable, SetMessageRequestModeBody};

/// The table and its file.
#[derive(Debug)]
pub struct RequestModes {
    path: PathBuf,
    table: Mutex<MessageRequestModeTable>,
    /// One file write at a time, in the order of the changes.
    write: Mutex<()>,
}

impl RequestModes {
    /// Loads `messageRequestMode.json` from `dir` (an absent file is an empty table).
    pub fn load(dir: &Path) -> std::io::Result<RequestModes> {
        let path = dir.join("messageRequestMode.json");
        let table = match std::fs::read(&path) {
            Ok(bytes) => MessageRequestModeTable::parse(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                MessageRequestModeTable::default()
            }
            Err(e) => return Err(e),
        };
        Ok(RequestModes {
            path,
            table: Mutex::new(table),
            write: Mutex::new(()),
        })
    }

    /// The mode set for (topic, group), if any.
    pub fn get(&self, topic: &str, group: &str) -> Option<SetMessageRequestModeBody> {
        let t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        t.message_request_mode_map.get(topic)?.get(group).cloned()
    }

    /// Sets a mode and writes the file (blocking: call it off the shard's thread).
    pub fn set(&self, mode: SetMessageRequestModeBody) -> std::io::Result<()> {
        self.adopt(vec![mode]).map(|_| ())
    }

    /// The whole table as Java writes it (what a master sends its slaves).
    pub fn to_json(&self) -> String {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .to_json()
    }

    /// Sets each mode that differs from the table's and writes the file once if any did
    /// (blocking: call it off the shard's thread); returns how many changed. Modes the table
    /// has and `modes` lacks are kept (a slave's own, as its groups are).
    pub fn adopt(&self, modes: Vec<SetMessageRequestModeBody>) -> std::io::Result<usize> {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let (changed, json) = {
            let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            let mut changed = 0;
            for mode in modes {
                let by_group = t
                    .message_request_mode_map
                    .entry(mode.topic.clone())
                    .or_default();
                if by_group.get(&mode.consumer_group) != Some(&mode) {
                    by_group.insert(mode.consumer_group.clone(), mode);
                    changed += 1;
                }
            }
            (changed, t.to_json())
        };
        if changed > 0 {
            crate::storage::datadir::write_atomically(&self.path, json.as_bytes())?;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remoting::body::MessageRequestMode;

    #[test]
    fn a_mode_set_is_read_back_after_a_restart() {
        let dir = std::env::temp_dir().join(format!("bolide-modes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let m = RequestModes::load(&dir).unwrap();
        assert_eq!(m.get("T", "G"), None);
        let pop = SetMessageRequestModeBody {
            consumer_group: "G".into(),
            mode: MessageRequestMode::Pop,
            pop_share_queue_num: 0,
            topic: "T".into(),
        };
        m.set(pop.clone()).unwrap();
        assert_eq!(m.get("T", "G"), Some(pop.clone()));
        let again = RequestModes::load(&dir).unwrap();
        assert_eq!(again.get("T", "G"), Some(pop.clone()));
        assert_eq!(again.get("T", "H"), None);

        // What a slave adopts from its master's table: what differs; its own stay.
        let table = MessageRequestModeTable::parse(m.to_json().as_bytes()).unwrap();
        let theirs: Vec<_> = table
            .message_request_mode_map
            .into_values()
            .flat_map(|g| g.into_values())
            .collect();
        assert_eq!(again.adopt(theirs.clone()).unwrap(), 0);
        let own = SetMessageRequestModeBody {
            consumer_group: "Own".into(),
            ..pop.clone()
        };
        again.set(own.clone()).unwrap();
        let pull = SetMessageRequestModeBody {
            mode: MessageRequestMode::Pull,
            ..pop
        };
        assert_eq!(again.adopt(vec![pull.clone()]).unwrap(), 1);
        let reloaded = RequestModes::load(&dir).unwrap();
        assert_eq!(reloaded.get("T", "G"), Some(pull));
        assert_eq!(reloaded.get("T", "Own"), Some(own));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
