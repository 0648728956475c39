//! The file I/O the store is generic over: [`StorageIo`] (a directory tree of files) and [`IoFile`]
//! (one open file). [`DmaIo`] is the real implementation (glommio O_DIRECT `DmaFile` for the commit log,
//! glommio `BufferedFile` for derived data, blocking metadata calls on glommio's blocking pool);
//! `super::sim::SimIo` (cargo feature `sim`, on in tests) is the simulated one used by property tests
//! to inject crashes, torn writes and a full disk.
//!
//! Invariants:
//! - `IoFile::write_at` copies its input before returning the future, so callers may pass a slice
//!   borrowed from a `RefCell` and drop the borrow before awaiting (we never hold a borrow across `.await`).
//!   `IoFile::write_shared_at` takes a `Bytes` instead, which the future holds: an O_DIRECT file
//!   writes an aligned one in place (a sealed commit-log chunk), with no copy into a DMA buffer.
//! - `FileKind::Direct` files take only writes whose position and length are multiples of
//!   [`IO_ALIGN_BYTES`]; the appender guarantees it, both implementations assert it (also in release).
//! - A write either resolves `Ok` having written every byte, or an error.
//!
//! Rejected: making `MessageStore` generic over a type parameter (every module would carry it and the
//! broker must name `MessageStore` bare); boxed futures cost one allocation per I/O, and I/O here is
//! per group commit or per chunk, never per message.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;
use glommio::io::{BufferedFile, DmaFile, OpenOptions};
use glommio::GlommioError;

/// Alignment of every O_DIRECT write position and length.
pub const IO_ALIGN_BYTES: u64 = 4096;

/// A boxed, non-`Send` I/O future.
pub type IoFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + 'a>>;

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// O_DIRECT: aligned writes only, bypasses the page cache (commit-log segments).
    Direct,
    /// O_DIRECT | O_DSYNC: as `Direct`, and a write that completes is durable (its data and the
    /// metadata needed to read it back), so no fdatasync has to follow it. SYNC_FLUSH's segments:
    /// a group commit is then one request to the device, not a write and then an fdatasync, the
    /// second submitted only after the first completed (and run by an io_uring worker thread).
    DirectDurable,
    /// Through the page cache, any alignment (consume-queue/index data, checkpoint).
    Buffered,
}

impl FileKind {
    /// O_DIRECT: positions and lengths of writes must be multiples of [`IO_ALIGN_BYTES`].
    pub fn is_direct(self) -> bool {
        matches!(self, FileKind::Direct | FileKind::DirectDurable)
    }
}

/// Whether `open` may create the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    Existing,
    Create,
}

/// One open file. The futures own what they need (they borrow neither the file nor the data), so a
/// caller can start an operation under a `RefCell` borrow and await it after dropping the borrow.
pub trait IoFile {
    /// Writes all of `data` at `pos`. `data` is copied before this returns.
    fn write_at(&self, data: &[u8], pos: u64) -> IoFuture<'static, ()>;
    /// Writes all of `data` at `pos`, holding `data` (not a copy) until the write completes where the
    /// file can: an O_DIRECT file given a 4 KiB-aligned buffer. The others copy, as `write_at`.
    fn write_shared_at(&self, data: Bytes, pos: u64) -> IoFuture<'static, ()> {
        self.write_at(&data, pos)
    }
    /// Reads up to `len` bytes at `pos` (fewer only at end of file).
    fn read_at(&self, pos: u64, len: usize) -> IoFuture<'static, Vec<u8>>;
    /// fdatasync.
    fn sync(&self) -> IoFuture<'static, ()>;
    /// Opened as [`FileKind::DirectDurable`]: every completed write is already durable, so a sync
    /// round need not fdatasync this file for its writes (allocation still needs [`IoFile::sync`]).
    fn writes_are_durable(&self) -> bool {
        false
    }
    fn size(&self) -> IoFuture<'static, u64>;
    /// Allocates blocks up to `size` bytes (fallocate), growing the file size.
    fn allocate(&self, size: u64) -> IoFuture<'static, ()>;
    fn truncate(&self, size: u64) -> IoFuture<'static, ()>;
    /// Reads up to `len` bytes at `pos` now, blocking the thread (fewer only at end of file). Only
    /// files opened with [`StorageIo::open_now`] support it; the others return `Unsupported`.
    fn read_now(&self, _pos: u64, _len: usize) -> io::Result<Vec<u8>> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// A directory tree of files.
pub trait StorageIo {
    fn open(&self, path: &Path, kind: FileKind, mode: OpenMode) -> IoFuture<'_, Rc<dyn IoFile>>;
    /// Opens a page-cache file now (blocking the thread for the open), whose reads may also be made
    /// synchronously ([`IoFile::read_now`]): the consume queues and the key index, which the broker
    /// reads from synchronous lookups. Writes and syncs still go through the futures.
    fn open_now(&self, path: &Path, mode: OpenMode) -> io::Result<Rc<dyn IoFile>>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of `dir` (empty if it does not exist).
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn remove_file(&self, path: &Path) -> IoFuture<'_, ()>;
    /// Atomic rename, then fsync of the parent directory.
    fn rename_durable(&self, from: &Path, to: &Path) -> IoFuture<'_, ()>;
    /// Percentage of the filesystem holding `dir` that is in use.
    fn disk_usage_percent(&self, dir: &Path) -> io::Result<u8>;
}

/// Whether an I/O error means the disk is full.
pub fn is_disk_full(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSPC)
        || e.raw_os_error() == Some(libc::EDQUOT)
        || e.kind() == io::ErrorKind::StorageFull
}

fn to_io<T>(e: GlommioError<T>) -> io::Error {
    match e {
        GlommioError::IoError(e) => e,
        GlommioError::EnhancedIoError { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}

/// On in release builds: an unaligned O_DIRECT write fails with EINVAL at best and is a bug in the
/// appender; two mask tests per write (a chunk, up to 1 MiB) cost nothing.
fn assert_direct_aligned(pos: u64, len: usize) {
    assert!(
        pos.is_multiple_of(IO_ALIGN_BYTES) && (len as u64).is_multiple_of(IO_ALIGN_BYTES),
        "unaligned O_DIRECT write at {pos} of {len} bytes"
    );
}

/// A DMA write's outcome: all `len` bytes, or an error. A short O_DIRECT write happens only at a hard
/// limit (disk full): it is reported as such.
fn whole_write<E>(r: Result<usize, GlommioError<E>>, len: usize) -> io::Result<()> {
    match r.map_err(to_io)? {
        n if n == len => Ok(()),
        _ => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
    }
}

/// The real implementation: glommio DMA and buffered files. Must be used on a glommio executor.
#[derive(Debug, Default, Clone, Copy)]
pub struct DmaIo;

/// A glommio O_DIRECT file; `durable`: opened with O_DSYNC.
struct RealDma {
    file: Rc<DmaFile>,
    durable: bool,
}
struct RealBuffered(Rc<BufferedFile>);

impl IoFile for RealDma {
    fn write_at(&self, data: &[u8], pos: u64) -> IoFuture<'static, ()> {
        assert_direct_aligned(pos, data.len());
        let mut buf = self.file.alloc_dma_buffer(data.len());
        buf.as_bytes_mut().copy_from_slice(data);
        let len = data.len();
        let f = self.file.clone();
        Box::pin(async move { whole_write(f.write_at(buf, pos).await, len) })
    }

    fn write_shared_at(&self, data: Bytes, pos: u64) -> IoFuture<'static, ()> {
        if !(data.as_ptr() as usize).is_multiple_of(IO_ALIGN_BYTES as usize) {
            return self.write_at(&data, pos);
        }
        assert_direct_aligned(pos, data.len());
        let len = data.len();
        let f = self.file.clone();
        Box::pin(async move {
            // SAFETY: `Bytes` is immutable and its slice never moves; its address, length and
            // position are 4 KiB multiples (checked above), which O_DIRECT accepts on any device.
            let r = unsafe { f.write_foreign_at(data, pos) }.await;
            whole_write(r, len)
        })
    }

    fn read_at(&self, pos: u64, len: usize) -> IoFuture<'static, Vec<u8>> {
        let f = self.file.clone();
        Box::pin(async move {
            let r = f.read_at(pos, len).await.map_err(to_io)?;
            Ok(r.to_vec())
        })
    }

    fn sync(&self) -> IoFuture<'static, ()> {
        let f = self.file.clone();
        Box::pin(async move { f.fdatasync().await.map_err(to_io) })
    }

    fn writes_are_durable(&self) -> bool {
        self.durable
    }

    fn size(&self) -> IoFuture<'static, u64> {
        let f = self.file.clone();
        Box::pin(async move { f.file_size().await.map_err(to_io) })
    }

    fn allocate(&self, size: u64) -> IoFuture<'static, ()> {
        let f = self.file.clone();
        Box::pin(async move { f.pre_allocate(size, false).await.map_err(to_io) })
    }

    fn truncate(&self, size: u64) -> IoFuture<'static, ()> {
        let f = self.file.clone();
        Box::pin(async move { f.truncate(size).await.map_err(to_io) })
    }
}

impl IoFile for RealBuffered {
    fn write_at(&self, data: &[u8], pos: u64) -> IoFuture<'static, ()> {
        // One copy, handed to the ring (a retry loop needed a second copy of every byte).
        let buf = data.to_vec();
        let len = buf.len();
        let f = self.0.clone();
        Box::pin(async move {
            let n = f.write_at(buf, pos).await.map_err(to_io)?;
            if n == len {
                return Ok(());
            }
            // A short write to a regular file happens only at a hard limit (disk full, file size
            // limit): report it as disk full; the caller retries the whole write later.
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        })
    }

    fn read_at(&self, pos: u64, len: usize) -> IoFuture<'static, Vec<u8>> {
        let f = self.0.clone();
        Box::pin(async move {
            let mut out = Vec::with_capacity(len);
            while out.len() < len {
                let r = f
                    .read_at(pos + out.len() as u64, len - out.len())
                    .await
                    .map_err(to_io)?;
                if r.is_empty() {
                    break;
                }
                out.extend_from_slice(&r);
            }
            Ok(out)
        })
    }

    fn sync(&self) -> IoFuture<'static, ()> {
        let f = self.0.clone();
        Box::pin(async move { f.fdatasync().await.map_err(to_io) })
    }

    fn size(&self) -> IoFuture<'static, u64> {
        let f = self.0.clone();
        Box::pin(async move { f.file_size().await.map_err(to_io) })
    }

    fn allocate(&self, size: u64) -> IoFuture<'static, ()> {
        let f = self.0.clone();
        Box::pin(async move { f.pre_allocate(size, false).await.map_err(to_io) })
    }

    fn truncate(&self, size: u64) -> IoFuture<'static, ()> {
        let f = self.0.clone();
        Box::pin(async move { f.truncate(size).await.map_err(to_io) })
    }
}

/// A page-cache file read synchronously with `pread` ([`StorageIo::open_now`]). Writes, syncs and
/// size changes run on glommio's blocking pool: a buffered write can block for long under dirty-page
/// throttling, and the shard thread serves every connection.
struct StdFile(std::sync::Arc<std::fs::File>);

impl IoFile for StdFile {
    fn write_at(&self, data: &[u8], pos: u64) -> IoFuture<'static, ()> {
        use std::os::unix::fs::FileExt;
        let (f, data) = (self.0.clone(), data.to_vec());
        Box::pin(blocking(move || f.write_all_at(&data, pos)))
    }

    fn read_at(&self, pos: u64, len: usize) -> IoFuture<'static, Vec<u8>> {
        let f = self.0.clone();
        Box::pin(blocking(move || pread_all(&f, pos, len)))
    }

    fn sync(&self) -> IoFuture<'static, ()> {
        let f = self.0.clone();
        Box::pin(blocking(move || f.sync_data()))
    }

    fn size(&self) -> IoFuture<'static, u64> {
        let r = self.0.metadata().map(|m| m.len());
        Box::pin(async move { r })
    }

    fn allocate(&self, size: u64) -> IoFuture<'static, ()> {
        let f = self.0.clone();
        Box::pin(blocking(move || {
            if f.metadata()?.len() < size {
                f.set_len(size)?;
            }
            Ok(())
        }))
    }

    fn truncate(&self, size: u64) -> IoFuture<'static, ()> {
        let f = self.0.clone();
        Box::pin(blocking(move || f.set_len(size)))
    }

    fn read_now(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        pread_all(&self.0, pos, len)
    }
}

fn pread_all(f: &std::fs::File, pos: u64, len: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut out = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match f.read_at(&mut out[got..], pos + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.truncate(got);
    Ok(out)
}

async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    glommio::executor().spawn_blocking(f).await
}

/// glommio decides once per block device, at the first `DmaFile` opened on it, whether the device
/// supports polled I/O, by reading offset 0 of that file. If that file is new and empty the read
/// succeeds without reaching the device and glommio wrongly picks the poll ring; every later read of
/// real data then fails with EOPNOTSUPP (seen on virtio disks). So the first open on a device, on each
/// executor thread (glommio keeps that decision per thread), is of a probe file holding a synced block.
async fn probe_device_once(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    thread_local! {
        static PROBED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let dev = std::fs::metadata(dir)?.dev();
    if PROBED.with(|p| p.borrow().contains(&dev)) {
        return Ok(());
    }
    let probe = dir.join(format!(
        ".bolide-iopoll-probe-{:?}",
        std::thread::current().id()
    ));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&probe)?;
        f.write_all(&[0x5A; 4096])?;
        f.sync_all()?;
    }
    let f = OpenOptions::new()
        .read(true)
        .dma_open(&probe)
        .await
        .map_err(to_io)?;
    let _ = f.close().await;
    std::fs::remove_file(&probe)?;
    PROBED.with(|p| p.borrow_mut().push(dev));
    Ok(())
}

impl StorageIo for DmaIo {
    fn open(&self, path: &Path, kind: FileKind, mode: OpenMode) -> IoFuture<'_, Rc<dyn IoFile>> {
        let path = path.to_path_buf();
        Box::pin(async move {
            if kind.is_direct() {
                if let Some(dir) = path.parent() {
                    probe_device_once(dir).await?;
                }
            }
            let mut o = OpenOptions::new();
            o.read(true).write(true).create(mode == OpenMode::Create);
            let f: Rc<dyn IoFile> = match kind {
                FileKind::Direct | FileKind::DirectDurable => {
                    let durable = kind == FileKind::DirectDurable;
                    if durable {
                        o.custom_flags(libc::O_DSYNC);
                    }
                    let file = Rc::new(o.dma_open(&path).await.map_err(to_io)?);
                    Rc::new(RealDma { file, durable })
                }
                FileKind::Buffered => Rc::new(RealBuffered(Rc::new(
                    o.buffered_open(&path).await.map_err(to_io)?,
                ))),
            };
            Ok(f)
        })
    }

    fn open_now(&self, path: &Path, mode: OpenMode) -> io::Result<Rc<dyn IoFile>> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(mode == OpenMode::Create)
            .truncate(false)
            .open(path)?;
        Ok(Rc::new(StdFile(std::sync::Arc::new(f))))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in rd {
            out.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }

    fn remove_file(&self, path: &Path) -> IoFuture<'_, ()> {
        let path = path.to_path_buf();
        // Unlinking a large file frees its extents and can take milliseconds: off the executor.
        Box::pin(blocking(move || std::fs::remove_file(path)))
    }

    fn rename_durable(&self, from: &Path, to: &Path) -> IoFuture<'_, ()> {
        let (from, to) = (from.to_path_buf(), to.to_path_buf());
        Box::pin(blocking(move || {
            std::fs::rename(&from, &to)?;
            let parent = to
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            std::fs::File::open(parent)?.sync_all()
        }))
    }

    fn disk_usage_percent(&self, dir: &Path) -> io::Result<u8> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: statvfs writes into the zeroed struct we pass; c is a valid NUL-terminated path.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // As df computes it: used / (used + available to unprivileged users).
        let used = (st.f_blocks as u128).saturating_sub(st.f_bfree as u128);
        let usable = used + st.f_bavail as u128;
        if usable == 0 {
            return Ok(0);
        }
        Ok(((used * 100).div_ceil(usable)).min(100) as u8)
    }
}
