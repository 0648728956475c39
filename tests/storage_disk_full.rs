//! A full disk on a small real filesystem (a loop-mounted ext4 image the test makes; needs root,
//! losetup and mkfs.ext4, and says why it skips otherwise): with a consumer floor at 0 (nothing
//! consumed) retention keeps every segment although the disk is over `disk_usage_max_percent`;
//! appends are refused (DiskUsageHigh or DiskFull) while the disk is full, resume by themselves once
//! the test frees space, and after kill -9 every acknowledged record is readable.
//!
//! The child (this binary again, `BOLIDE_DISK_FULL_CHILD=<dir>`) appends in SYNC_FLUSH and prints
//! `ack <queue offset> <id>` per acknowledged record, `refused <error>` once when appends are first
//! refused, `resumed` when one is taken again after that.

#[path = "common/storage_helpers.rs"]
mod helpers;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide::storage::{
    FlushMode, MessageStore, QueueOffset, StorageError, StoreConfig, StoreOptions,
};

const CHILD_ENV: &str = "BOLIDE_DISK_FULL_CHILD";
const TEST_NAME: &str = "full_disk_refuses_writes_keeps_unconsumed_and_resumes";
const TOPIC: &str = "Full";
const FILLER_BYTES: usize = 12 << 20;

fn cfg(dir: PathBuf) -> StoreConfig {
    let mut c = StoreConfig::new(dir, 0);
    c.segment_size_bytes = 1 << 20;
    c.flush_mode = FlushMode::Sync;
    c.cache_bytes_max = 1 << 20;
    c.record_size_max_bytes = 64 << 10;
    // Retention would delete by usage from 30%, appends are refused from 85%.
    c.disk_usage_max_percent = 30;
    c.disk_refuse_writes_percent = 85;
    c
}

fn opts() -> StoreOptions {
    StoreOptions {
        checkpoint_interval_ms: 50,
        retention_interval_ms: 50,
        ..Default::default()
    }
}

fn body(id: u64) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend((0..4000).map(|i| (id as usize * 7 + i) as u8));
    b
}

fn child(dir: PathBuf) {
    helpers::run(move || async move {
        let (store, _) = MessageStore::open_with(cfg(dir), opts())
            .await
            .expect("open");
        store.set_consumed_floors([(TOPIC.to_owned(), 0, QueueOffset(0))]);
        let store = Rc::new(store);
        let mut refused = false;
        let mut id = 0u64;
        loop {
            let m = helpers::msg(TOPIC, 0, &body(id), "", None, "");
            let line = match store.append(m).await {
                Ok(r) => {
                    let mut s = String::new();
                    if refused {
                        refused = false;
                        s.push_str("resumed\n");
                    }
                    s.push_str(&format!("ack {} {id}", r.queue_offset.0));
                    id += 1;
                    s
                }
                Err(e @ (StorageError::DiskUsageHigh { .. } | StorageError::DiskFull { .. })) => {
                    glommio::timer::sleep(Duration::from_millis(20)).await;
                    if refused {
                        continue;
                    }
                    refused = true;
                    format!("refused {e}")
                }
                Err(e) => panic!("append failed otherwise: {e}"),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    });
}

/// Why this test cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (mounting a loop device needs root)".into());
    }
    for tool in ["losetup", "mkfs.ext4", "mount", "umount"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("no {tool} on PATH"));
        }
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("no /dev/loop-control (loop devices unavailable)".into());
    }
    None
}

/// The mounted image; unmounts (which frees the loop device) when dropped.
struct Mounted {
    mnt: PathBuf,
    image: PathBuf,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // The killed child's I/O may hold the mount busy for a moment: retry, then detach it lazily
        // (the loop device is freed when the last file closes).
        let unmounted = (0..20).any(|_| {
            let ok = Command::new("umount")
                .arg(&self.mnt)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                std::thread::sleep(Duration::from_millis(100));
            }
            ok
        });
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
        let _ = std::fs::remove_file(&self.image);
        let _ = std::fs::remove_dir(&self.mnt);
    }
}

fn mount_small_fs(base: &Path) -> Result<Mounted, String> {
    let image = base.join("fs.img");
    let mnt = base.join("mnt");
    std::fs::create_dir_all(&mnt).map_err(|e| e.to_string())?;
    let f = std::fs::File::create(&image).map_err(|e| e.to_string())?;
    f.set_len(48 << 20).map_err(|e| e.to_string())?;
    drop(f);
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    if !ok(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-m", "0"])
        .arg(&image)
        .stdout(Stdio::null()))
    {
        return Err("mkfs.ext4 failed".into());
    }
    let m = Mounted {
        mnt: mnt.clone(),
        image: image.clone(),
    };
    if !ok(Command::new("mount")
        .args(["-o", "loop"])
        .arg(&image)
        .arg(&mnt))
    {
        return Err("mount -o loop failed (no loop device available?)".into());
    }
    Ok(m)
}

#[test]
fn full_disk_refuses_writes_keeps_unconsumed_and_resumes() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(PathBuf::from(dir));
        return;
    }
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED {TEST_NAME}: {why}");
        return;
    }
    let base = helpers::data_dir("disk-full");
    let mounted = match mount_small_fs(&base) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED {TEST_NAME}: {why}");
            return;
        }
    };
    // Space the test frees later, so that appends can resume.
    let filler = mounted.mnt.join("filler");
    std::fs::write(&filler, vec![1u8; FILLER_BYTES]).expect("write filler");
    let dir = mounted.mnt.join("store");

    let (mut child, rx, reader) = helpers::spawn_self(TEST_NAME, CHILD_ENV, &dir);
    let mut acks: Vec<(u64, u64)> = Vec::new();
    let mut refused_at = None;
    let mut refusal = String::new();
    let mut acks_before_resume = 0;
    let mut resumed = false;
    let mut acks_after_resume = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline && acks_after_resume < 50 {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let line = ["ack ", "refused ", "resumed"]
                .iter()
                .find_map(|p| line.find(p).map(|i| line[i..].to_owned()))
                .unwrap_or(line);
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["ack", q, id] => {
                    acks.push((q.parse().unwrap(), id.parse().unwrap()));
                    if resumed {
                        acks_after_resume += 1;
                    }
                }
                ["refused", ..] if refused_at.is_none() => {
                    refusal = line.clone();
                    refused_at = Some(Instant::now());
                    acks_before_resume = acks.len();
                }
                ["resumed"] => resumed = true,
                _ => {}
            }
        }
        // Refused for a while (no ack may come in between): free the filler.
        if refused_at.is_some_and(|t| t.elapsed() > Duration::from_millis(500)) && filler.exists() {
            assert_eq!(
                acks.len(),
                acks_before_resume,
                "appends were acknowledged while the disk was full"
            );
            std::fs::remove_file(&filler).expect("free space");
        }
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let _ = reader.join();
    while let Ok(line) = rx.try_recv() {
        if let ["ack", q, id] = line.split_whitespace().collect::<Vec<_>>().as_slice() {
            acks.push((q.parse().unwrap(), id.parse().unwrap()));
        }
    }
    assert!(refused_at.is_some(), "appends were never refused");
    assert!(
        resumed,
        "appends did not resume after space was freed (refusal: {refusal}; filler removed: {})",
        !filler.exists()
    );
    assert!(acks_after_resume > 0, "nothing acknowledged after resuming");

    let d = dir.clone();
    let (stored, first_segment) = helpers::run(move || async move {
        let (store, _) = MessageStore::open_with(cfg(d), opts())
            .await
            .expect("reopen after kill -9");
        // Nothing consumed yet: the broker would say so again right after opening.
        store.set_consumed_floors([(TOPIC.to_owned(), 0, QueueOffset(0))]);
        let first_segment = store.segment_bases().first().copied();
        let mut stored = HashMap::new();
        helpers::for_each_record(&store, TOPIC, 1024, |e, v| {
            let id = helpers::body_id(v.body);
            assert_eq!(v.body, body(id).as_slice());
            stored.insert(e.queue_offset.0, id);
        })
        .await;
        store.close().await.expect("close");
        (stored, first_segment)
    });
    eprintln!(
        "{} acknowledged ({acks_before_resume} before the refusal: {refusal}), {} stored",
        acks.len(),
        stored.len()
    );
    assert_eq!(
        first_segment,
        Some(bolide::storage::PhysicalOffset(0)),
        "retention deleted the oldest (unconsumed) segment"
    );
    for (q, id) in &acks {
        assert_eq!(
            stored.get(q),
            Some(id),
            "acknowledged record {q} (id {id}) lost"
        );
    }
    drop(mounted);
    let _ = std::fs::remove_dir_all(base);
}
