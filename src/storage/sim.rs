//! A simulated [`StorageIo`] for tests: files live in memory, every write since a file's last sync is
//! "unflushed" (except writes to [`FileKind::DirectDurable`] files, durable once they complete, as
//! O_DSYNC promises), and [`SimIo::crash`] models a power loss.
//!
//! Crash model (deterministic from the seed): the unflushed writes of all files form one ordered
//! sequence; a random point k in it is chosen; writes before k survive whole, write k survives as a
//! random prefix of its 512-byte sectors (a torn write), writes after k are lost. Synced data always
//! survives. k = 0 with an empty prefix is "drop everything unflushed"; k = n is a process kill -9.
//! File creation, allocation, truncation and rename are metadata and survive as done (rename is durable,
//! as `rename_durable` promises).
//!
//! Faults: a capacity (writes/allocations beyond it fail with ENOSPC, having written nothing) and
//! paths that refuse to open. A slow disk: [`SimIo::hold_log_writes`] keeps every O_DIRECT (commit
//! log) write pending until released, so tests can fill the appender's buffers deterministically.
//!
//! Rejected: reordering unflushed writes arbitrarily. It is legal for real disks, but then a crash can
//! leave later records without earlier ones, which recovery reports as mid-log corruption rather than a
//! tail; the model here keeps "recovery yields a prefix" checkable, which is the property we test.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::io::{FileKind, IoFile, IoFuture, OpenMode, StorageIo, IO_ALIGN_BYTES};

/// Sector size at which writes tear.
pub const SECTOR_BYTES: usize = 512;

#[derive(Default)]
struct FileData {
    /// What a reader sees now.
    current: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
}

struct PendingWrite {
    file: PathBuf,
    pos: u64,
    data: Vec<u8>,
}

#[derive(Default)]
struct World {
    files: BTreeMap<PathBuf, Rc<RefCell<FileData>>>,
    /// Unflushed writes, oldest first, across files.
    pending: Vec<PendingWrite>,
}

/// Simulated filesystem. Cloning shares the same world.
#[derive(Clone)]
pub struct SimIo {
    world: Rc<RefCell<World>>,
    epoch: Rc<Cell<u64>>,
    rng: Rc<Cell<u64>>,
    capacity_bytes: Rc<Cell<Option<u64>>>,
    refuse_open: Rc<RefCell<Vec<String>>>,
    usage_percent: Rc<Cell<u8>>,
    /// O_DIRECT writes wait while set; `log_writes_released` counts releases (waiters wait for the next).
    hold_log_writes: Rc<Cell<bool>>,
    log_writes_released: Rc<super::waiter::OffsetWatch<u64>>,
}

struct SimFile {
    inner: Rc<SimFileInner>,
}

struct SimFileInner {
    io: SimIo,
    path: PathBuf,
    kind: FileKind,
    data: Rc<RefCell<FileData>>,
    epoch: u64,
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: file handle is stale")
}

impl SimIo {
    pub fn new(seed: u64) -> SimIo {
        SimIo {
            world: Rc::default(),
            epoch: Rc::default(),
            rng: Rc::new(Cell::new(seed ^ 0x9E37_79B9_7F4A_7C15)),
            capacity_bytes: Rc::default(),
            refuse_open: Rc::default(),
            usage_percent: Rc::default(),
            hold_log_writes: Rc::default(),
            log_writes_released: Rc::new(super::waiter::OffsetWatch::new(0)),
        }
    }

    /// While `hold`, O_DIRECT (commit-log) writes do not complete: a disk that fell behind. Releasing
    /// lets every held write complete.
    pub fn hold_log_writes(&self, hold: bool) {
        self.hold_log_writes.set(hold);
        if !hold {
            let r = &self.log_writes_released;
            r.advance(r.get() + 1);
        }
    }

    fn next_rand(&self) -> u64 {
        // splitmix64
        let mut z = self.rng.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.rng.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Power loss. Every open handle becomes stale (its I/O fails); reopen to continue.
    pub fn crash(&self) {
        self.epoch.set(self.epoch.get() + 1);
        let mut w = self.world.borrow_mut();
        let pending = std::mem::take(&mut w.pending);
        for f in w.files.values() {
            let mut f = f.borrow_mut();
            f.current = f.durable.clone();
        }
        let k = (self.next_rand() % (pending.len() as u64 + 1)) as usize;
        for (i, pw) in pending.iter().enumerate().take(k + 1) {
            let Some(f) = w.files.get(&pw.file) else {
                continue;
            };
            let len = if i < k {
                pw.data.len()
            } else {
                let sectors = pw.data.len().div_ceil(SECTOR_BYTES);
                let keep = (self.next_rand() % (sectors as u64 + 1)) as usize;
                (keep * SECTOR_BYTES).min(pw.data.len())
            };
            let mut f = f.borrow_mut();
            apply(&mut f.current, pw.pos, &pw.data[..len]);
        }
        for f in w.files.values() {
            let mut f = f.borrow_mut();
            f.durable = f.current.clone();
        }
    }

    /// Writes and allocations that would make the total size exceed `bytes` fail with ENOSPC.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.capacity_bytes.set(bytes);
    }

    /// Opening any path containing `needle` fails.
    pub fn refuse_open(&self, needle: &str) {
        self.refuse_open.borrow_mut().push(needle.to_owned());
    }

    /// What `disk_usage_percent` reports.
    pub fn set_usage_percent(&self, p: u8) {
        self.usage_percent.set(p);
    }

    /// Current contents of a file (None if absent).
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let w = self.world.borrow();
        w.files.get(path).map(|f| f.borrow().current.clone())
    }

    /// Overwrites bytes of a file durably (to inject corruption).
    pub fn poke(&self, path: &Path, pos: u64, bytes: &[u8]) {
        let w = self.world.borrow();
        let f = w.files.get(path).expect("poke: no such file");
        let mut f = f.borrow_mut();
        apply(&mut f.current, pos, bytes);
        apply(&mut f.durable, pos, bytes);
    }

    /// Paths of all files.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.world.borrow().files.keys().cloned().collect()
    }

    fn total_bytes(&self) -> u64 {
        let w = self.world.borrow();
        w.files
            .values()
            .map(|f| f.borrow().current.len() as u64)
            .sum()
    }

    fn check_room(&self, old_len: u64, new_len: u64) -> io::Result<()> {
        if let Some(cap) = self.capacity_bytes.get() {
            if new_len > old_len && self.total_bytes() + (new_len - old_len) > cap {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        Ok(())
    }
}

impl SimIo {
    fn open_sim(
        &self,
        path: PathBuf,
        kind: FileKind,
        mode: OpenMode,
    ) -> io::Result<Rc<dyn IoFile>> {
        let s = path.to_string_lossy();
        if self
            .refuse_open
            .borrow()
            .iter()
            .any(|n| s.contains(n.as_str()))
        {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        let data = {
            let mut w = self.world.borrow_mut();
            match (w.files.get(&path), mode) {
                (Some(d), _) => d.clone(),
                (None, OpenMode::Existing) => return Err(io::Error::from(io::ErrorKind::NotFound)),
                (None, OpenMode::Create) => {
                    let d = Rc::new(RefCell::new(FileData::default()));
                    w.files.insert(path.clone(), d.clone());
                    d
                }
            }
        };
        Ok(Rc::new(SimFile {
            inner: Rc::new(SimFileInner {
                io: self.clone(),
                path,
                kind,
                data,
                epoch: self.epoch.get(),
            }),
        }))
    }
}

fn apply(buf: &mut Vec<u8>, pos: u64, data: &[u8]) {
    let pos = pos as usize;
    if buf.len() < pos + data.len() {
        buf.resize(pos + data.len(), 0);
    }
    buf[pos..pos + data.len()].copy_from_slice(data);
}

impl SimFileInner {
    fn live(&self) -> io::Result<()> {
        if self.io.epoch.get() != self.epoch {
            return Err(crashed());
        }
        Ok(())
    }
}

impl SimFileInner {
    fn read(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        self.live()?;
        let d = self.data.borrow();
        let start = (pos as usize).min(d.current.len());
        let end = (pos as usize + len).min(d.current.len());
        Ok(d.current[start..end].to_vec())
    }
}

impl IoFile for SimFile {
    fn write_at(&self, data: &[u8], pos: u64) -> IoFuture<'static, ()> {
        let me = self.inner.clone();
        if me.kind.is_direct() {
            assert!(
                pos.is_multiple_of(IO_ALIGN_BYTES)
                    && (data.len() as u64).is_multiple_of(IO_ALIGN_BYTES),
                "unaligned O_DIRECT write at {pos} of {} bytes",
                data.len()
            );
        }
        let data = data.to_vec();
        Box::pin(async move {
            while me.kind.is_direct() && me.io.hold_log_writes.get() {
                let r = &me.io.log_writes_released;
                r.wait(r.get() + 1).await;
            }
            me.live()?;
            let old_len = me.data.borrow().current.len() as u64;
            me.io.check_room(old_len, pos + data.len() as u64)?;
            if me.kind == FileKind::DirectDurable {
                // O_DSYNC: durable once it completes, like data that was synced.
                let mut d = me.data.borrow_mut();
                apply(&mut d.current, pos, &data);
                apply(&mut d.durable, pos, &data);
                return Ok(());
            }
            apply(&mut me.data.borrow_mut().current, pos, &data);
            me.io.world.borrow_mut().pending.push(PendingWrite {
                file: me.path.clone(),
                pos,
                data,
            });
            Ok(())
        })
    }

    fn read_at(&self, pos: u64, len: usize) -> IoFuture<'static, Vec<u8>> {
        let me = self.inner.clone();
        Box::pin(async move { me.read(pos, len) })
    }

    fn read_now(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        self.inner.read(pos, len)
    }

    fn sync(&self) -> IoFuture<'static, ()> {
        let me = self.inner.clone();
        Box::pin(async move {
            me.live()?;
            {
                let mut d = me.data.borrow_mut();
                d.durable = d.current.clone();
            }
            let mut w = me.io.world.borrow_mut();
            w.pending.retain(|p| p.file != me.path);
            Ok(())
        })
    }

    fn writes_are_durable(&self) -> bool {
        self.inner.kind == FileKind::DirectDurable
    }

    fn size(&self) -> IoFuture<'static, u64> {
        let me = self.inner.clone();
        Box::pin(async move {
            me.live()?;
            Ok(me.data.borrow().current.len() as u64)
        })
    }

    fn allocate(&self, size: u64) -> IoFuture<'static, ()> {
        let me = self.inner.clone();
        Box::pin(async move {
            me.live()?;
            let old_len = me.data.borrow().current.len() as u64;
            me.io.check_room(old_len, size)?;
            let mut d = me.data.borrow_mut();
            if (d.current.len() as u64) < size {
                d.current.resize(size as usize, 0);
            }
            if (d.durable.len() as u64) < size {
                d.durable.resize(size as usize, 0);
            }
            Ok(())
        })
    }

    fn truncate(&self, size: u64) -> IoFuture<'static, ()> {
        let me = self.inner.clone();
        Box::pin(async move {
            me.live()?;
            let mut d = me.data.borrow_mut();
            d.current.resize(size as usize, 0);
            d.durable.resize(size as usize, 0);
            Ok(())
        })
    }
}

impl StorageIo for SimIo {
    fn open(&self, path: &Path, kind: FileKind, mode: OpenMode) -> IoFuture<'_, Rc<dyn IoFile>> {
        let path = path.to_path_buf();
        Box::pin(async move { self.open_sim(path, kind, mode) })
    }

    fn open_now(&self, path: &Path, mode: OpenMode) -> io::Result<Rc<dyn IoFile>> {
        self.open_sim(path.to_path_buf(), FileKind::Buffered, mode)
    }

    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let w = self.world.borrow();
        Ok(w.files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn remove_file(&self, path: &Path) -> IoFuture<'_, ()> {
        let path = path.to_path_buf();
        Box::pin(async move {
            let mut w = self.world.borrow_mut();
            w.pending.retain(|p| p.file != path);
            match w.files.remove(&path) {
                Some(_) => Ok(()),
                None => Err(io::Error::from(io::ErrorKind::NotFound)),
            }
        })
    }

    fn rename_durable(&self, from: &Path, to: &Path) -> IoFuture<'_, ()> {
        let (from, to) = (from.to_path_buf(), to.to_path_buf());
        Box::pin(async move {
            let mut w = self.world.borrow_mut();
            let d = w
                .files
                .remove(&from)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            w.files.insert(to.clone(), d);
            for p in w.pending.iter_mut().filter(|p| p.file == from) {
                p.file = to.clone();
            }
            Ok(())
        })
    }

    fn disk_usage_percent(&self, _dir: &Path) -> io::Result<u8> {
        Ok(self.usage_percent.get())
    }
}
