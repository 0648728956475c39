//! openraft's storage for the controller: the raft log and vote ([`LogStore`]) and the state machine
//! with its snapshot ([`StateMachineStore`]), kept in memory and persisted in the controller's data
//! directory as small JSON files.
//!
//! Files (each written whole to `NAME.tmp`, fsynced, renamed over `NAME`, then the directory fsynced,
//! so a crash leaves the old or the new version, never a torn one):
//! - `vote.json`: the last vote (term and whom for). Persisted before `save_vote` returns, as Raft needs.
//! - `log.json`: the entries not yet purged and the last purged log id. Persisted before the append
//!   callback fires (openraft then counts the entries durable on this node).
//! - `committed.json`: the last committed log id, so a restarted node re-applies up to it at once.
//! - `snapshot.json`: the state machine at a log id, written when openraft builds or installs a
//!   snapshot; entries up to it are then purged from `log.json`.
//!
//! Why whole-file rewrites: the controller's log only grows at registrations and master changes (a few
//! entries per broker, not one per heartbeat) and openraft snapshots every `SNAPSHOT_EVERY_LOGS` entries
//! and purges, so the file stays small; a rewrite with an atomic rename needs no torn-tail recovery.
//!
//! On start the state machine is the snapshot's, and openraft re-applies the log after it. Locks are
//! std mutexes never held across an `.await`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Cursor, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::state::{ClusterState, CommandResult};
use super::TypeConfig;

/// Snapshot (and purge the log) once this many entries were applied since the last one.
pub const SNAPSHOT_EVERY_LOGS: u64 = 500;

type NodeId = u64;
type SError = StorageError<NodeId>;

/// Writes `value` as JSON to `dir/name` atomically and durably (see the module comment).
pub(crate) fn write_json_durable<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    let bytes = serde_json::to_vec(value).map_err(io::Error::other)?;
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &dst)?;
    fs::File::open(dir)?.sync_all()
}

/// Reads `dir/name` if it exists.
pub(crate) fn read_json<T: DeserializeOwned>(dir: &Path, name: &str) -> io::Result<Option<T>> {
    match fs::read(dir.join(name)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {e}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn io_err(e: io::Error) -> AnyError {
    AnyError::new(&e)
}

#[derive(Default, Serialize, Deserialize)]
struct LogFile {
    last_purged: Option<LogId<NodeId>>,
    entries: Vec<Entry<TypeConfig>>,
}

struct LogInner {
    dir: PathBuf,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
}

impl LogInner {
    fn persist_log(&self) -> io::Result<()> {
        let file = LogFile {
            last_purged: self.last_purged,
            entries: self.entries.values().cloned().collect(),
        };
        write_json_durable(&self.dir, "log.json", &file)
    }
}

/// The raft log and vote; cheap to clone (one shared inner), which is also its log reader.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: &Path) -> io::Result<LogStore> {
        fs::create_dir_all(dir)?;
        let log: LogFile = read_json(dir, "log.json")?.unwrap_or_default();
        let inner = LogInner {
            dir: dir.to_path_buf(),
            vote: read_json(dir, "vote.json")?,
            committed: read_json(dir, "committed.json")?.flatten(),
            last_purged: log.last_purged,
            entries: log
                .entries
                .into_iter()
                .map(|e| (e.log_id.index, e))
                .collect(),
        };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SError> {
        Ok(self
            .lock()
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SError> {
        let inner = self.lock();
        let last = inner.entries.values().next_back().map(|e| e.log_id);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), SError> {
        let mut inner = self.lock();
        write_json_durable(&inner.dir, "vote.json", vote)
            .map_err(|e| StorageIOError::write_vote(io_err(e)))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, SError> {
        Ok(self.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), SError> {
        let mut inner = self.lock();
        write_json_durable(&inner.dir, "committed.json", &committed)
            .map_err(|e| StorageIOError::write(io_err(e)))?;
        inner.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, SError> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), SError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let result = {
            let mut inner = self.lock();
            for e in entries {
                inner.entries.insert(e.log_id.index, e);
            }
            inner.persist_log()
        };
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let any = io_err(io::Error::new(e.kind(), e.to_string()));
                callback.log_io_completed(Err(e));
                Err(StorageIOError::write_logs(any).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), SError> {
        let mut inner = self.lock();
        inner.entries.retain(|&index, _| index < log_id.index);
        inner
            .persist_log()
            .map_err(|e| StorageIOError::write_logs(io_err(e)).into())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), SError> {
        let mut inner = self.lock();
        inner.entries.retain(|&index, _| index > log_id.index);
        inner.last_purged = Some(log_id);
        inner
            .persist_log()
            .map_err(|e| StorageIOError::write_logs(io_err(e)).into())
    }
}

/// A snapshot as stored in `snapshot.json`.
#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    state: ClusterState,
}

/// The state machine's shared data; the controller node reads `state` to answer brokers.
pub struct SmInner {
    dir: PathBuf,
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, openraft::BasicNode>,
    pub state: ClusterState,
    snapshot: Option<StoredSnapshot>,
}

/// The state machine; cheap to clone (one shared inner), which is also its snapshot builder.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Mutex<SmInner>>,
}

impl StateMachineStore {
    /// Opens the state machine in `dir`: the last snapshot's state, or an empty one.
    pub fn open(dir: &Path) -> io::Result<StateMachineStore> {
        fs::create_dir_all(dir)?;
        let snapshot: Option<StoredSnapshot> = read_json(dir, "snapshot.json")?;
        let inner = SmInner {
            dir: dir.to_path_buf(),
            last_applied: snapshot.as_ref().and_then(|s| s.meta.last_log_id),
            membership: snapshot
                .as_ref()
                .map(|s| s.meta.last_membership.clone())
                .unwrap_or_default(),
            state: snapshot
                .as_ref()
                .map(|s| s.state.clone())
                .unwrap_or_default(),
            snapshot,
        };
        Ok(StateMachineStore {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    /// The state as applied so far on this node.
    pub fn state(&self) -> ClusterState {
        self.lock().state.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SmInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    // openraft's `StorageError` is large; the trait methods return it as is, and so do their helpers.
    #[allow(clippy::result_large_err)]
    fn save_snapshot(inner: &mut SmInner, snap: StoredSnapshot) -> Result<(), SError> {
        let signature = Some(snap.meta.signature());
        write_json_durable(&inner.dir, "snapshot.json", &snap)
            .map_err(|e| StorageIOError::write_snapshot(signature, io_err(e)))?;
        inner.snapshot = Some(snap);
        Ok(())
    }
}

#[allow(clippy::result_large_err)]
fn to_snapshot(s: &StoredSnapshot) -> Result<Snapshot<TypeConfig>, SError> {
    let data = serde_json::to_vec(&s.state)
        .map_err(|e| StorageIOError::read_snapshot(Some(s.meta.signature()), AnyError::new(&e)))?;
    Ok(Snapshot {
        meta: s.meta.clone(),
        snapshot: Box::new(Cursor::new(data)),
    })
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SError> {
        let mut inner = self.lock();
        let last = inner.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: inner.membership.clone(),
            snapshot_id: match last {
                Some(l) => format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index),
                None => "empty".to_string(),
            },
        };
        let snap = StoredSnapshot {
            meta,
            state: inner.state.clone(),
        };
        StateMachineStore::save_snapshot(&mut inner, snap.clone())?;
        to_snapshot(&snap)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<NodeId>>,
            StoredMembership<NodeId, openraft::BasicNode>,
        ),
        SError,
    > {
        let inner = self.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, SError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.lock();
        let mut results = Vec::new();
        for entry in entries {
            inner.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => results.push(CommandResult::default()),
                EntryPayload::Normal(cmd) => results.push(inner.state.apply(&cmd)),
                EntryPayload::Membership(m) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), m);
                    results.push(CommandResult::default());
                }
            }
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), SError> {
        let state: ClusterState = serde_json::from_slice(snapshot.get_ref()).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        let mut inner = self.lock();
        let snap = StoredSnapshot {
            meta: meta.clone(),
            state: state.clone(),
        };
        StateMachineStore::save_snapshot(&mut inner, snap)?;
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.state = state;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SError> {
        let inner = self.lock();
        match &inner.snapshot {
            Some(s) => Ok(Some(to_snapshot(s)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::testing::{StoreBuilder, Suite};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Removes a store's directory when the suite is done with it.
    struct DirGuard(PathBuf);

    impl Drop for DirGuard {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, DirGuard> for Builder {
        async fn build(&self) -> Result<(DirGuard, LogStore, StateMachineStore), SError> {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            // Plain files (no O_DIRECT), so the system temporary directory does.
            let dir = std::env::temp_dir().join(format!(
                "bolide-controller-store-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            let open = |e: io::Error| SError::from(StorageIOError::read(io_err(e)));
            let log = LogStore::open(&dir).map_err(open)?;
            let sm = StateMachineStore::open(&dir).map_err(open)?;
            Ok((DirGuard(dir), log, sm))
        }
    }

    /// openraft's own conformance suite for log storage and state machines, on our stores.
    #[test]
    fn openraft_storage_suite() {
        Suite::test_all(Builder).unwrap();
    }

    /// What the log, vote and snapshot files hold comes back on reopen.
    #[test]
    fn reopened_store_has_the_same_log_vote_and_snapshot() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (guard, mut log, mut sm) = Builder.build().await.unwrap();
            let vote = Vote::new(3, 2);
            log.save_vote(&vote).await.unwrap();
            let committed = Some(LogId::new(openraft::CommittedLeaderId::new(3, 2), 1));
            log.save_committed(committed).await.unwrap();
            {
                let mut inner = log.lock();
                for index in 1..=3 {
                    let id = LogId::new(openraft::CommittedLeaderId::new(3, 2), index);
                    inner.entries.insert(
                        index,
                        Entry {
                            log_id: id,
                            payload: EntryPayload::Blank,
                        },
                    );
                }
                inner.persist_log().unwrap();
            }
            log.purge(LogId::new(openraft::CommittedLeaderId::new(3, 2), 1))
                .await
                .unwrap();
            log.truncate(LogId::new(openraft::CommittedLeaderId::new(3, 2), 3))
                .await
                .unwrap();
            sm.lock()
                .state
                .apply(&crate::controller::state::Command::Register {
                    broker_name: "b".into(),
                    broker_id: 0,
                    address: "a:1".into(),
                    ha_address: String::new(),
                    durable_offsets: vec![7],
                });
            sm.get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();

            let mut log2 = LogStore::open(&guard.0).unwrap();
            let mut sm2 = StateMachineStore::open(&guard.0).unwrap();
            assert_eq!(log2.read_vote().await.unwrap(), Some(vote));
            assert_eq!(log2.read_committed().await.unwrap(), committed);
            let state = log2.get_log_state().await.unwrap();
            assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(1));
            assert_eq!(state.last_log_id.map(|l| l.index), Some(2));
            let entries = log2.try_get_log_entries(0..10).await.unwrap();
            assert_eq!(
                entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
                vec![2]
            );
            assert_eq!(sm2.state().groups["b"].members[&0].durable_offsets, vec![7]);
            assert!(sm2.get_current_snapshot().await.unwrap().is_some());
        });
    }
}
