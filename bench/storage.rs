//! `bolide-storage-bench`: the storage benchmark, and the appender process of the kill -9 test.
//!
//! Modes:
//! - `raw`: raw O_DIRECT sequential write bandwidth of the disk (DmaFile, large aligned writes, several
//!   in flight), the ceiling the store is compared with.
//! - `append`: many concurrent appenders on one shard executor for N seconds; msgs/s, MB/s and
//!   p50/p99/p99.9 append latency (hdrhistogram).
//! - `append-forever`: SYNC/ASYNC appends until killed, printing `ack <queue offset> <payload id>` for
//!   each acknowledged record (used by tests/storage_crash.rs).
//! - `verify`: reopens a store and prints `have <queue offset> <payload id>` for every record.

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide::message::{self, NewRecord};
use bolide::storage::{AppendMessage, FlushMode, MessageStore, QueueOffset, StoreConfig};
use bytes::BytesMut;
use clap::{Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;

#[derive(Clone, Copy, ValueEnum, Debug)]
enum Flush {
    Async,
    Sync,
}

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Raw {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 1 << 20)]
        block_bytes: usize,
        #[arg(long, default_value_t = 4)]
        depth: usize,
    },
    Append {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_enum, default_value_t = Flush::Async)]
        flush: Flush,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 1024)]
        size_bytes: usize,
        #[arg(long, default_value_t = 256)]
        appenders: usize,
        #[arg(long, default_value_t = 1 << 30)]
        segment_size_bytes: u64,
    },
    AppendForever {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_enum, default_value_t = Flush::Sync)]
        flush: Flush,
        #[arg(long, default_value_t = 8)]
        appenders: usize,
        #[arg(long, default_value_t = 1 << 20)]
        segment_size_bytes: u64,
    },
    Verify {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1 << 20)]
        segment_size_bytes: u64,
    },
}

const TOPIC: &str = "BenchTopic";

/// Bytes 0, 1, .., 255, 0, 1, .. (long enough for any body of the benchmark plus 256).
fn ramp(len: usize) -> Vec<u8> {
    (0..len + 256).map(|i| i as u8).collect()
}

/// Body of record `id`: the id, then bytes `id + i` (mod 256), copied from `ramp` rather than
/// computed byte by byte: the first profile showed that loop as a tenth of the benchmark's CPU.
fn record_with(ramp: &[u8], queue_id: u32, id: u64, size_bytes: usize) -> AppendMessage {
    let host = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 10911);
    let body_len = size_bytes
        .saturating_sub(message::record_size(0, TOPIC.len(), 0))
        .max(8);
    let mut body = Vec::with_capacity(body_len);
    body.extend_from_slice(&id.to_be_bytes());
    let from = (id % 256) as usize;
    body.extend_from_slice(&ramp[from..from + body_len - 8]);
    let mut out = BytesMut::with_capacity(size_bytes);
    message::encode_record(
        &NewRecord {
            queue_id,
            flag: 0,
            sys_flag: 0,
            born_timestamp_ms: 0,
            born_host: host,
            store_host: host,
            reconsume_times: 0,
            prepared_tx_offset: 0,
            body: &body,
            topic: TOPIC,
            properties: "",
        },
        &mut out,
    )
    .expect("encode");
    AppendMessage {
        record: out,
        topic: TOPIC.into(),
        queue_id,
        tags_code: 0,
        keys: Vec::new(),
    }
}

fn record(queue_id: u32, id: u64, size_bytes: usize) -> AppendMessage {
    record_with(&ramp(size_bytes), queue_id, id, size_bytes)
}

/// Where the body starts in an encoded record (after BODYLENGTH).
const BODY_AT: usize = message::pos::BODY_LENGTH + 4;

/// The record [`record_with`] makes, built from `template` (that record for id 0): one allocation
/// and copy, then the body and its CRC rewritten in place. Same bytes, less harness CPU per append.
fn record_from(template: &[u8], ramp: &[u8], id: u64) -> BytesMut {
    let mut out = BytesMut::from(template);
    let body_len = u32::from_be_bytes(
        template[message::pos::BODY_LENGTH..BODY_AT]
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    let body = &mut out[BODY_AT..BODY_AT + body_len];
    body[..8].copy_from_slice(&id.to_be_bytes());
    let from = (id % 256) as usize;
    body[8..].copy_from_slice(&ramp[from..from + body_len - 8]);
    let crc = message::body_crc(body);
    out[message::pos::BODY_CRC..message::pos::BODY_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    out
}

fn config(dir: PathBuf, flush: Flush, segment_size_bytes: u64) -> StoreConfig {
    let mut c = StoreConfig::new(dir, 0);
    c.segment_size_bytes = segment_size_bytes;
    c.flush_mode = match flush {
        Flush::Async => FlushMode::Async,
        Flush::Sync => FlushMode::Sync,
    };
    c.retention_hours = 1_000_000;
    c.disk_usage_max_percent = 100;
    c
}

fn run<T, F, Fut>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(0))
        .spin_before_park(Duration::from_micros(50))
        .spawn(f)
        .expect("executor")
        .join()
        .expect("executor thread")
}

async fn raw(dir: PathBuf, seconds: u64, block: usize, depth: usize) {
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("raw-bench");
    let f = Rc::new(
        glommio::io::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .dma_open(&path)
            .await
            .expect("open raw file (O_DIRECT needs a real filesystem)"),
    );
    let file_bytes: u64 = 4 << 30;
    f.pre_allocate(file_bytes, false).await.expect("fallocate");
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let next = Rc::new(RefCell::new(0u64));
    let mut tasks = Vec::new();
    for _ in 0..depth {
        let (f, next) = (f.clone(), next.clone());
        tasks.push(glommio::spawn_local(async move {
            let mut bytes = 0u64;
            while Instant::now() < deadline {
                let pos = {
                    let mut n = next.borrow_mut();
                    let p = *n % file_bytes;
                    *n += block as u64;
                    p
                };
                let mut b = f.alloc_dma_buffer(block);
                b.as_bytes_mut().fill(0xAB);
                bytes += f.write_at(b, pos).await.expect("write") as u64;
            }
            bytes
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await;
    }
    f.fdatasync().await.expect("sync");
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    println!(
        "raw O_DIRECT sequential write: block {} KiB, depth {depth}: {:.0} MB/s",
        block >> 10,
        total as f64 / secs / 1e6
    );
}

async fn append(dir: PathBuf, flush: Flush, seconds: u64, size: usize, appenders: usize, seg: u64) {
    let _ = std::fs::remove_dir_all(&dir);
    let opened = Instant::now();
    let (store, _) = MessageStore::open(config(dir.clone(), flush, seg))
        .await
        .expect("open store");
    let open_ms = opened.elapsed().as_millis();
    let store = Rc::new(store);
    let log_start = store.log_end().0;
    let hist = Rc::new(RefCell::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
    ));
    let ramp = Rc::new(ramp(size));
    let template = Rc::new(record_with(&ramp, 0, 0, size).record);
    assert_eq!(
        record_from(&template, &ramp, 77),
        record_with(&ramp, 0, 77, size).record,
        "template records are the records"
    );
    // The first append after open: it must not wait for segment creation (open does that).
    let first_us = {
        let t0 = Instant::now();
        store
            .append(record_with(&ramp, 0, u64::MAX, size))
            .await
            .expect("append");
        t0.elapsed().as_micros()
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for a in 0..appenders {
        let (store, hist, ramp, template) =
            (store.clone(), hist.clone(), ramp.clone(), template.clone());
        tasks.push(glommio::spawn_local(async move {
            let mut n = 0u64;
            let mut timeouts = 0u64;
            // Two clock reads per append (the second also checks the deadline).
            loop {
                let mut record = record_from(&template, &ramp, n);
                let queue_id = (a % 8) as u32;
                record[message::pos::QUEUE_ID..message::pos::QUEUE_ID + 4]
                    .copy_from_slice(&queue_id.to_be_bytes());
                let m = AppendMessage {
                    record,
                    topic: TOPIC.into(),
                    queue_id,
                    tags_code: 0,
                    keys: Vec::new(),
                };
                let t0 = Instant::now();
                let r = store.append(m).await.expect("append");
                let t1 = Instant::now();
                let us = (t1 - t0).as_micros() as u64;
                let _ = hist.borrow_mut().record(us.max(1));
                if r.status != bolide::storage::AppendStatus::Ok {
                    timeouts += 1;
                }
                n += 1;
                if t1 >= deadline {
                    break;
                }
            }
            (n, timeouts)
        }));
    }
    let (mut msgs, mut timeouts) = (0u64, 0u64);
    for t in tasks {
        let (n, to) = t.await;
        msgs += n;
        timeouts += to;
    }
    let secs = start.elapsed().as_secs_f64();
    store.flush().await.expect("flush");
    // Honesty check: every acknowledged byte is in the log and durable after the final flush.
    let appended = store.log_end().0 - log_start;
    let durable = store.durable_offset().0 - log_start;
    assert!(
        appended >= (msgs + 1) * size as u64 && durable == appended,
        "log grew {appended} B, durable {durable} B, for {msgs} x {size} B acknowledged"
    );
    let h = hist.borrow().clone();
    println!(
        "append {:?} {size} B x {appenders} appenders, {seconds} s: {:.0} msgs/s, {:.0} MB/s, latency us p50 {} p99 {} p99.9 {} max {}, flush timeouts {timeouts}; log {:.0} MB, durable at end; open {open_ms} ms, first append {first_us} us",
        flush,
        msgs as f64 / secs,
        msgs as f64 * size as f64 / secs / 1e6,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        appended as f64 / 1e6,
    );
    if let Ok(s) = Rc::try_unwrap(store) {
        s.close().await.expect("close");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn append_forever(dir: PathBuf, flush: Flush, appenders: usize, seg: u64) {
    let (store, _) = MessageStore::open(config(dir, flush, seg))
        .await
        .expect("open store");
    let store = Rc::new(store);
    let next = Rc::new(RefCell::new(0u64));
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        let (store, next) = (store.clone(), next.clone());
        tasks.push(glommio::spawn_local(async move {
            loop {
                let id = {
                    let mut n = next.borrow_mut();
                    *n += 1;
                    *n
                };
                let size = 100 + (id as usize * 7919) % 3000;
                let r = store.append(record(0, id, size)).await.expect("append");
                if r.status == bolide::storage::AppendStatus::Ok {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "ack {} {id} {size}", r.queue_offset.0);
                    let _ = out.flush();
                }
            }
        }));
    }
    for t in tasks {
        t.await;
    }
}

async fn verify(dir: PathBuf, seg: u64) {
    let (store, rep) = MessageStore::open(config(dir, Flush::Sync, seg))
        .await
        .expect("open store");
    eprintln!("recovery: {rep:?}");
    let mut from = QueueOffset(0);
    let mut out = std::io::stdout().lock();
    loop {
        let es = store.queue_entries(TOPIC, 0, from, 1024);
        let Some(last) = es.last() else { break };
        from = QueueOffset(last.queue_offset.0 + 1);
        for e in es {
            let rec = store
                .read(e.physical_offset, e.size_bytes)
                .await
                .expect("read");
            let v = message::decode_record(&rec, true).expect("record intact");
            let id = u64::from_be_bytes(v.body[..8].try_into().expect("8 bytes"));
            let _ = writeln!(out, "have {} {id} {}", e.queue_offset.0, rec.len());
        }
    }
    store.close().await.expect("close");
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Raw {
            dir,
            seconds,
            block_bytes,
            depth,
        } => run(move || raw(dir, seconds, block_bytes, depth)),
        Cmd::Append {
            dir,
            flush,
            seconds,
            size_bytes,
            appenders,
            segment_size_bytes,
        } => run(move || {
            append(
                dir,
                flush,
                seconds,
                size_bytes,
                appenders,
                segment_size_bytes,
            )
        }),
        Cmd::AppendForever {
            dir,
            flush,
            appenders,
            segment_size_bytes,
        } => run(move || append_forever(dir, flush, appenders, segment_size_bytes)),
        Cmd::Verify {
            dir,
            segment_size_bytes,
        } => run(move || verify(dir, segment_size_bytes)),
    }
}
