//! The request mode of each (topic, consumer group): PULL or POP, and POP's share count, as
//! SET_MESSAGE_REQUEST_MODE sets it and QUERY_ASSIGNMENT reads it. One table for the process, held
//! by every shard (`Arc`), persisted to `messageRequestMode.json` in the data directory in the Java
//! broker's shape.
//!
//! Why shared rather than replicated through shard 0 like topics: it is read only by
//! QUERY_ASSIGNMENT (each consumer asks once per rebalance, every 20 s) and written by an operator,
//! never on a send or pull path, so a mutex costs nothing that matters and keeps it to one file
//! write. Like the ACL accounts, it is the exception to "shards share nothing"; a slave does not
//! replicate it (a promoted slave answers PULL until it is set again).

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
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let json = {
            let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
            t.message_request_mode_map
                .entry(mode.topic.clone())
                .or_default()
                .insert(mode.consumer_group.clone(), mode);
            t.to_json()
        };
        crate::storage::datadir::write_atomically(&self.path, json.as_bytes())
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
        assert_eq!(again.get("T", "G"), Some(pop));
        assert_eq!(again.get("T", "H"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
