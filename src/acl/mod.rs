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
//! Only the broker maps a [`Denial`] to a response code (`broker/`: NO_PERMISSION with the remark).

pub mod accounts;
pub mod decide;
pub mod sign;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

pub use accounts::{AclConfig, Perm};
pub use decide::{decide, Denial};

/// The accounts in force and where they come from.
#[derive(Debug)]
pub struct Acl {
    path: PathBuf,
    current: RwLock<Arc<AclConfig>>,
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
        }))
    }

    /// The accounts in force now.
    pub fn snapshot(&self) -> Arc<AclConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the file; on error keeps the accounts in force and returns the error.
    pub fn reload(&self) -> Result<usize, String> {
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
