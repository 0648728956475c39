//! Access control (RocketMQ ACL 1.0): accounts with accessKey/secretKey from a `plain_acl.yml`,
//! request signatures (HMAC-SHA1 over the sorted extFields and the body), and per-account topic,
//! group and admin permissions, checked by the broker before it routes a request.
//!
//! Shape: [`sign`] (the signature, also used by our own clients to sign), [`accounts`] (the file),
//! [`decide`] (the pure decision: request + accounts + peer → allowed or a [`Denial`]). [`Acl`] holds
//! the accounts in force behind an `RwLock<Arc<_>>` shared by all shards: a check takes a snapshot (one
//! uncontended read lock and an `Arc` clone) and decides without locks. A watcher thread reloads the
//! file when its modification time or size changes, so accounts change without a restart; a file that
//! does not parse is refused (logged, without secrets) and the previous accounts stay in force.
//!
//! Operators may also change the file over the wire (RocketMQ 4.x's ACL admin codes, [`edit`]):
//! [`Acl::edit`] applies one change to the file under a lock, writes it atomically (a temporary
//! file, fsync, rename: `storage::datadir::write_atomically`; blocking, so callers on a shard run it
//! with `spawn_blocking`) and puts the new accounts in force before it returns, so the next request
//! already sees them; the watcher then reads the same file again, to the same effect.
//!
//! Only the broker maps a [`Denial`] to a response code (`broker/`: NO_PERMISSION with the remark).

pub mod accounts;
pub mod decide;
pub mod edit;
pub mod sign;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

pub use accounts::{AclConfig, Perm};
pub use decide::{decide, Denial};

/// The accounts in force and where they come from.
#[derive(Debug)]
pub struct Acl {
    path: PathBuf,
    current: RwLock<Arc<AclConfig>>,
    /// Held by [`Acl::edit`] and [`Acl::reload`], so two changes never read the same file and write
    /// over each other, and a reload never puts older accounts in force after an edit.
    edit_lock: Mutex<()>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn read(path: &Path) -> Result<AclConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    AclConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Acl {
    /// Loads the accounts file; an error stops the start-up (a broker meant to be locked must not
    /// start open).
    pub fn load(path: &Path) -> Result<Arc<Acl>, String> {
        let cfg = read(path)?;
        tracing::info!(file = %path.display(), accounts = cfg.accounts.len(), "ACL on");
        Ok(Arc::new(Acl {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(cfg)),
            edit_lock: Mutex::new(()),
        }))
    }

    /// The accounts file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's YAML tree (an empty file is `Null`).
    fn tree(&self) -> Result<serde_yaml_ng::Value, String> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        serde_yaml_ng::from_str(&text)
            .map_err(|e| format!("{}: not YAML: {e}", self.path.display()))
    }

    /// The file's `dataVersion` as (counter, timestamp) ([`edit::data_version`]).
    pub fn version(&self) -> Result<(i64, i64), String> {
        Ok(edit::data_version(&self.tree()?))
    }

    /// Applies `change` to the file, counts a new version (`now_ms`), checks that the result parses
    /// as accounts, replaces the file atomically and puts the new accounts in force. On any error
    /// nothing is written and the accounts in force stay.
    pub fn edit<T>(
        &self,
        now_ms: i64,
        change: impl FnOnce(&mut serde_yaml_ng::Value) -> Result<T, String>,
    ) -> Result<T, String> {
        let _held = self.edit_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut tree = self.tree()?;
        let out = change(&mut tree)?;
        edit::bump_version(&mut tree, now_ms)?;
        let text =
            serde_yaml_ng::to_string(&tree).map_err(|e| format!("cannot write YAML: {e}"))?;
        let cfg = AclConfig::parse(&text)?;
        crate::storage::datadir::write_atomically(&self.path, text.as_bytes())
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(cfg);
        Ok(out)
    }

    /// The accounts in force now.
    pub fn snapshot(&self) -> Arc<AclConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the file; on error keeps the accounts in force and returns the error. Holds the
    /// edit lock, so a reload that read the file before an edit replaced it cannot put the older
    /// accounts back in force after the edit's.
    pub fn reload(&self) -> Result<usize, String> {
        let _held = self.edit_lock.lock().unwrap_or_else(|e| e.into_inner());
        let cfg = read(&self.path)?;
        let n = cfg.accounts.len();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(cfg);
        Ok(n)
    }

    /// Starts the thread that reloads the file when it changes (checked every `every`).
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let acl = Arc::downgrade(self);
        let path = self.path.clone();
        let mut last = stamp(&path);
        let spawned = std::thread::Builder::new()
            .name("acl-watch".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                let Some(acl) = acl.upgrade() else { return };
                let now = stamp(&path);
                if now == last {
                    continue;
                }
                last = now;
                match acl.reload() {
                    Ok(n) => tracing::info!(file = %path.display(), accounts = n, "ACL reloaded"),
                    Err(e) => tracing::error!(
                        "ACL file refused, the previous accounts stay in force: {e}"
                    ),
                }
            });
        if let Err(e) = spawned {
            tracing::error!("ACL: cannot start the reload thread ({e}); changes need a restart");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp directory named `name` with a `plain_acl.yml` of one account (`first1`), loaded;
    /// returns (directory, file, ACL).
    fn first_acl(name: &str) -> (PathBuf, PathBuf, Arc<Acl>) {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plain_acl.yml");
        std::fs::write(
            &path,
            "accounts:\n  - {accessKey: first1, secretKey: secret1}\n",
        )
        .unwrap();
        let acl = Acl::load(&path).unwrap();
        (dir, path, acl)
    }

    #[test]
    fn reload_keeps_old_accounts_when_the_new_file_is_bad() {
        let (dir, path, acl) = first_acl("bolide-acl");
        assert!(acl.snapshot().accounts.contains_key("first1"));
        std::fs::write(
            &path,
            "accounts:\n  - {accessKey: second, secretKey: secret2}\n",
        )
        .unwrap();
        assert_eq!(acl.reload(), Ok(1));
        assert!(acl.snapshot().accounts.contains_key("second"));
        std::fs::write(&path, "accounts:\n  - {accessKey: third3, secretKey: x}\n").unwrap();
        let err = acl.reload().unwrap_err();
        assert!(err.contains("at least 6"), "{err}");
        assert!(acl.snapshot().accounts.contains_key("second"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_edit_is_in_force_at_once_and_a_bad_one_writes_nothing() {
        let (dir, path, acl) = first_acl("bolide-acl-e");
        let add = edit::AccountChange {
            access_key: "second2".into(),
            secret_key: Some("secret22".into()),
            ..Default::default()
        };
        assert_eq!(acl.edit(5, |t| edit::upsert_account(t, &add)), Ok(true));
        assert!(acl.snapshot().accounts.contains_key("second2"));
        assert_eq!(acl.version(), Ok((1, 5)));
        assert!(std::fs::read_to_string(&path).unwrap().contains("second2"));
        // A permission the parser refuses: the file and the accounts in force stay as they were.
        let before = std::fs::read_to_string(&path).unwrap();
        let bad = edit::AccountChange {
            default_topic_perm: Some("ALL".into()),
            ..add.clone()
        };
        let err = acl.edit(6, |t| edit::upsert_account(t, &bad)).unwrap_err();
        assert!(err.contains("unknown permission"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        assert_eq!(acl.version(), Ok((1, 5)));
        assert_eq!(acl.edit(7, |t| edit::delete_account(t, "first1")), Ok(true));
        assert!(!acl.snapshot().accounts.contains_key("first1"));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn watcher_picks_up_a_change() {
        let (dir, path, acl) = first_acl("bolide-acl-w");
        acl.watch(Duration::from_millis(20));
        // A different size, so the change is seen even within the file system's mtime granularity.
        std::fs::write(
            &path,
            "accounts:\n  - {accessKey: second22, secretKey: secret22}\n",
        )
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !acl.snapshot().accounts.contains_key("second22") {
            assert!(
                std::time::Instant::now() < deadline,
                "the watcher never reloaded"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
