//! The data directory as a whole, checked once at start-up before any shard opens its store (so a bad
//! directory is a one-line error and a non-zero exit before anything starts):
//!
//! | check                                   | why                                                      |
//! |-----------------------------------------|----------------------------------------------------------|
//! | it exists or can be created             | —                                                        |
//! | it is not on tmpfs/ramfs                | nothing there survives a reboot, so SYNC_FLUSH would promise a durability it cannot give (recent kernels accept O_DIRECT on tmpfs, so the probe below does not catch it) |
//! | an O_DIRECT write of one block succeeds | the commit log is O_DIRECT only (overlayfs, old tmpfs refuse it) |
//! | no other process holds `lock`           | two brokers on one directory would write over each other's segments and tables; the lock (an exclusive `flock`, with the holder's pid in the file) is held for the process's life and dies with it, even after kill -9 |
//! | `bolide.json` records the shard count   | queue placement depends on it: another count would hand queues to shards that do not hold them; written on first start |
//!
//! Plain blocking `std::fs` calls: this runs on the main thread before the executors start.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file that records what the data directory was created with.
pub const LAYOUT_FILE: &str = "bolide.json";

/// The file a running broker holds locked ([`lock`]).
pub const LOCK_FILE: &str = "lock";

/// Why the data directory cannot be used. The messages are what the operator reads.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot create data directory {}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "data directory {} is on {fs}, which keeps data only in memory; use a directory on a disk-backed filesystem such as ext4 or xfs",
        path.display()
    )]
    MemoryFilesystem { path: PathBuf, fs: &'static str },
    #[error(
        "data directory {} does not support O_DIRECT writes (tmpfs and overlayfs refuse them); use a directory on a real filesystem such as ext4 or xfs",
        path.display()
    )]
    NoDirectIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is corrupted", path.display())]
    LayoutCorrupted {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "data directory {} was created with {recorded} shards; start with --shards {recorded} (queue ownership depends on it)",
        path.display()
    )]
    ShardCountChanged { path: PathBuf, recorded: usize },
    #[error(
        "data directory {} is in use by another Bolide process{holder}; stop it first (two brokers on one directory would corrupt it)",
        path.display()
    )]
    InUse { path: PathBuf, holder: String },
    #[error("cannot {op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Every check of the module table, in order: the directory, the lock, then its recorded shard
/// count. The returned lock must live as long as the broker.
pub fn prepare(dir: &Path, shards: usize) -> Result<DirLock, DataDirError> {
    check_filesystem(dir)?;
    let held = lock(dir)?;
    check_shard_count(dir, shards)?;
    Ok(held)
}

/// The data directory's lock, held while this value lives (and released by the kernel when the
/// process ends, however it ends).
#[derive(Debug)]
pub struct DirLock(#[allow(dead_code)] std::fs::File);

/// Takes the directory's lock: an exclusive, non-blocking `flock` on [`LOCK_FILE`], which then holds
/// this process's pid (for the error another process gets).
pub fn lock(dir: &Path) -> Result<DirLock, DataDirError> {
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let io = |op, source| DataDirError::Io {
        op,
        path: path.clone(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io("open", e))?;
    // SAFETY: flock(2) on a descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::WouldBlock {
            return Err(io("lock", err));
        }
        let mut text = String::new();
        let _ = f.read_to_string(&mut text);
        let holder = match text.trim().parse::<u32>() {
            Ok(pid) => format!(" (pid {pid})"),
            Err(_) => String::new(),
        };
        return Err(DataDirError::InUse {
            path: dir.to_path_buf(),
            holder,
        });
    }
    f.set_len(0).map_err(|e| io("write", e))?;
    f.rewind().map_err(|e| io("write", e))?;
    writeln!(f, "{}", std::process::id()).map_err(|e| io("write", e))?;
    Ok(DirLock(f))
}

/// Creates the data directory, refuses memory-backed filesystems and proves O_DIRECT writes work there.
pub fn check_filesystem(dir: &Path) -> Result<(), DataDirError> {
    std::fs::create_dir_all(dir).map_err(|source| DataDirError::Create {
        path: dir.to_path_buf(),
        source,
    })?;
    if let Some(fs) = memory_filesystem(dir) {
        return Err(DataDirError::MemoryFilesystem {
            path: dir.to_path_buf(),
            fs,
        });
    }
    let probe = dir.join(".odirect-probe");
    let result = odirect_probe(&probe);
    let _ = std::fs::remove_file(&probe);
    result.map_err(|source| DataDirError::NoDirectIo {
        path: dir.to_path_buf(),
        source,
    })
}

/// The name of the memory-backed filesystem `dir` is on, if it is on one.
fn memory_filesystem(dir: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statfs fills the zeroed struct; `path` is a valid NUL-terminated string.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    match st.f_type as i64 {
        TMPFS_MAGIC => Some("tmpfs"),
        RAMFS_MAGIC => Some("ramfs"),
        _ => None,
    }
}

fn odirect_probe(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    let layout = std::alloc::Layout::from_size_align(4096, 4096).map_err(std::io::Error::other)?;
    // SAFETY: layout has non-zero size; the buffer is freed below and only used as a byte slice.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return Err(std::io::Error::other("out of memory"));
    }
    // SAFETY: ptr points to 4096 initialised (zeroed) bytes owned by us.
    let buf = unsafe { std::slice::from_raw_parts(ptr, 4096) };
    let r = f.write_all(buf);
    // SAFETY: allocated above with the same layout.
    unsafe { std::alloc::dealloc(ptr, layout) };
    r
}

/// The data directory remembers the shard count it was created with (`bolide.json`, written on the
/// first start); another count is refused.
pub fn check_shard_count(dir: &Path, shards: usize) -> Result<(), DataDirError> {
    let path = dir.join(LAYOUT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|source| DataDirError::LayoutCorrupted {
                    path: path.clone(),
                    source,
                })?;
            let recorded = v.get("shards").and_then(|s| s.as_u64()).unwrap_or(0) as usize;
            if recorded != shards {
                return Err(DataDirError::ShardCountChanged {
                    path: dir.to_path_buf(),
                    recorded,
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let json = serde_json::json!({ "shards": shards, "format": 1 });
            write_atomically(&path, json.to_string().as_bytes()).map_err(|source| {
                DataDirError::Io {
                    op: "write",
                    path,
                    source,
                }
            })?;
        }
        Err(source) => {
            return Err(DataDirError::Io {
                op: "read",
                path,
                source,
            })
        }
    }
    Ok(())
}

/// Reads a JSON file the broker keeps (topics, subscription groups, offsets): `None` when it does
/// not exist, an `InvalidData` error naming the file when it does not parse.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `value` as pretty JSON with [`write_atomically`].
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    write_atomically(
        path,
        &serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?,
    )
}

/// Writes `bytes` to `path` via a temporary file, fsync and rename, so readers see old or new, never
/// half. Blocking: for small metadata files, off the shard threads.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Error text as `main` prints it (anyhow's `{:#}`: the message, then each source after ": ").
    fn chain(e: &dyn std::error::Error) -> String {
        let mut s = e.to_string();
        let mut src = e.source();
        while let Some(c) = src {
            s.push_str(": ");
            s.push_str(&c.to_string());
            src = c.source();
        }
        s
    }

    #[test]
    fn shard_count_is_recorded_then_enforced() {
        // No O_DIRECT needed here, so the system temp dir does (tmpfs or not).
        let dir = std::env::temp_dir().join(format!("bolide-datadir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // First start: recorded.
        check_shard_count(&dir, 2).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(LAYOUT_FILE)).unwrap()).unwrap();
        assert_eq!(v["shards"], 2);
        // Same count: accepted.
        check_shard_count(&dir, 2).unwrap();
        // Another count: refused, naming the recorded one.
        let e = check_shard_count(&dir, 3).unwrap_err();
        assert!(matches!(
            e,
            DataDirError::ShardCountChanged { recorded: 2, .. }
        ));
        assert!(
            chain(&e).contains("was created with 2 shards; start with --shards 2"),
            "{e}"
        );
        // Garbage: refused as corrupted.
        std::fs::write(dir.join(LAYOUT_FILE), b"{not json").unwrap();
        let e = check_shard_count(&dir, 2).unwrap_err();
        assert!(matches!(e, DataDirError::LayoutCorrupted { .. }));
        assert!(
            chain(&e).contains("bolide.json is corrupted: "),
            "{}",
            chain(&e)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_holder_of_the_lock_is_refused_with_the_first_ones_pid() {
        let dir = std::env::temp_dir().join(format!("bolide-datadir-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = lock(&dir).unwrap();
        // flock locks belong to the open file, so a second open in this process is refused too.
        let e = lock(&dir).unwrap_err();
        assert!(matches!(e, DataDirError::InUse { .. }));
        let text = chain(&e);
        assert!(
            text.contains(&format!(
                "in use by another Bolide process (pid {})",
                std::process::id()
            )),
            "{text}"
        );
        // Released with its holder: the next start takes it.
        drop(first);
        let again = lock(&dir).unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_uncreatable_directory_is_named() {
        let e = check_filesystem(Path::new("/proc/bolide-cannot-exist/data")).unwrap_err();
        assert!(matches!(e, DataDirError::Create { .. }));
        assert!(
            chain(&e).starts_with("cannot create data directory /proc/bolide-cannot-exist/data: ")
        );
    }
}
