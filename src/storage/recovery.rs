//! Opening a store: find the segments, take the derived data (consume-queue and index files) as the
//! checkpoint left it, scan the commit log past it verifying every record and extending them, decide
//! what each bad spot is, and leave the log ready to append at its true end.
//!
//! Cost: the log is read only past the checkpoint (at most a checkpoint interval of data after a crash,
//! nothing after a clean close), each byte once (one windowed reader per segment that reads on from
//! its window's end: a reader per record re-read a 4 MiB window for every record, thousands of times
//! the tail, which made recovery of a backlog after kill -9 take minutes), plus a fixed look-ahead past
//! the end to prove that nothing valid follows ([`lookahead_read_bytes_max`]; a zeroed pre-allocated
//! segment is judged by its first page). Of the derived files only the key index's open file is read
//! (its slot table is rebuilt: at most one index file, whatever the backlog); consume-queue files are
//! read when a consumer asks (see [`super::consume_queue`]). The report counts the bytes read ([`RecoveryReport::log_bytes_read`]); a long scan logs its progress.
//!
//! The recovery decision table (one function, [`decide`], tested row by row):
//!
//! | # | bytes at position X                                  | valid record later?  | decision                     |
//! |---|------------------------------------------------------|----------------------|------------------------------|
//! | 1 | valid record: V1 magic, sane size, body CRC, PHYSICALOFFSET == X, queue offset in sequence | - | accept, go on at X + size |
//! | 2 | blank marker whose size reaches the segment end      | -                    | segment end, go on at the next segment |
//! | 3 | anything else (zeros, torn, padded)                   | no                   | end of log: cut at X, zero the garbage after X |
//! | 4 | anything else                                        | yes, at Y            | mid-log corruption: report X, skip to Y |
//!
//! "Valid record later" means: in the same segment, a valid record at some Y > X before a run of zeros
//! longer than any record (a run no record can contain, and one our writer never leaves inside the log);
//! or a valid record (or blank) at the start of a later segment. Row 3's zeroing matters: stale bytes of
//! a torn write left past the new end could otherwise be read back as a record after the next crash.
//! Segment files after the end segment hold nothing valid (row 3 said so) and are deleted.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::commitlog::{
    align_down, align_up, parse_segment_name, Cache, LogState, Segment, BLANK_MAGIC,
    BLANK_MIN_BYTES, CHUNK_BYTES,
};
use super::consume_queue::ConsumeQueues;
use super::index::{key_hash, KeyIndex};
use super::io::{IoFile, OpenMode, StorageIo, IO_ALIGN_BYTES};
use super::offsets::LogOffsets;
use super::{
    checkpoint, PhysicalOffset, QueueOffset, RecoveryReport, StorageError, StoreConfig,
    StoreOptions,
};
use crate::message::{self, properties, MAGIC_V1, RECORD_FIXED_BYTES};

const WINDOW_BYTES: u64 = 4 << 20;

/// What is at a position of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Valid { size: u64 },
    Blank,
    Bad { reason: String },
}

/// What recovery does there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accept { next: PhysicalOffset },
    NextSegment,
    CutTail,
    SkipCorrupt { to: PhysicalOffset },
}

/// The decision table (module docs).
pub fn decide(x: PhysicalOffset, found: &Found, valid_later: Option<PhysicalOffset>) -> Decision {
    match (found, valid_later) {
        (Found::Valid { size }, _) => Decision::Accept { next: x + *size },
        (Found::Blank, _) => Decision::NextSegment,
        (Found::Bad { .. }, None) => Decision::CutTail,
        (Found::Bad { .. }, Some(y)) => {
            assert!(y > x, "resync must move forward");
            Decision::SkipCorrupt { to: y }
        }
    }
}

/// Reads a segment through a window, counting the bytes it reads. Reading on from the window's end
/// keeps the part still needed and reads only what follows, so a sequential scan reads each byte once.
struct SegReader {
    file: Rc<dyn IoFile>,
    path: PathBuf,
    seg_size: u64,
    buf: Vec<u8>,
    start: u64,
    bytes_read: Rc<Cell<u64>>,
}

impl SegReader {
    fn new(seg: &Segment, seg_size: u64, bytes_read: &Rc<Cell<u64>>) -> SegReader {
        SegReader {
            file: seg.file.clone(),
            path: seg.path.clone(),
            seg_size,
            buf: Vec::new(),
            start: 0,
            bytes_read: bytes_read.clone(),
        }
    }

    async fn read(&self, at: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let b = self
            .file
            .read_at(at, len as usize)
            .await
            .map_err(|e| StorageError::from_io("read segment", self.path.clone(), e))?;
        self.bytes_read.set(self.bytes_read.get() + b.len() as u64);
        Ok(b)
    }

    /// Up to `len` bytes at `rel` (fewer at the end of the file).
    async fn get(&mut self, rel: u64, len: u64) -> Result<&[u8], StorageError> {
        let end = (rel + len).min(self.seg_size);
        let have_end = self.start + self.buf.len() as u64;
        if rel < self.start || end > have_end {
            let sequential = !self.buf.is_empty()
                && rel >= self.start
                && rel <= have_end
                && have_end.is_multiple_of(IO_ALIGN_BYTES)
                && have_end < self.seg_size;
            if sequential {
                let keep_from = align_down(rel) - self.start;
                self.buf.drain(..keep_from as usize);
                self.start += keep_from;
                let want = WINDOW_BYTES
                    .max(align_up(end - have_end))
                    .min(self.seg_size - have_end);
                let more = self.read(have_end, want).await?;
                self.buf.extend_from_slice(&more);
            } else {
                let ws = align_down(rel);
                let wl = WINDOW_BYTES.max(align_up(end - ws)).min(self.seg_size - ws);
                self.buf = self.read(ws, wl).await?;
                self.start = ws;
            }
        }
        let a = ((rel - self.start) as usize).min(self.buf.len());
        let b = ((end - self.start) as usize).min(self.buf.len());
        Ok(&self.buf[a..b])
    }
}

pub(super) struct Recovered {
    pub log: LogState,
    pub queues: ConsumeQueues,
    pub index: KeyIndex,
    pub report: RecoveryReport,
}

/// What recovery rebuilds from the log scan past the checkpoint, and the facts it needs for it.
struct Rebuild<'a> {
    cfg: &'a StoreConfig,
    record_max: u64,
    queues: ConsumeQueues,
    index: KeyIndex,
    last_ts: i64,
    corrupted: u64,
    /// Commit-log bytes read so far (every [`SegReader`] and the direct reads count into it).
    log_bytes_read: Rc<Cell<u64>>,
}

impl Rebuild<'_> {
    fn apply(&mut self, seg: &mut Segment, r: ScannedRecord) {
        dispatch(&mut self.queues, &mut self.index, seg, &r);
        self.last_ts = self.last_ts.max(r.store_timestamp_ms);
    }

    /// Classifies the bytes at `rel` in `seg`.
    async fn classify(
        &self,
        rd: &mut SegReader,
        base: PhysicalOffset,
        rel: u64,
    ) -> Result<(Found, Option<ScannedRecord>), StorageError> {
        let seg_size = self.cfg.segment_size_bytes;
        let pos = base + rel;
        let bad = |reason: String| Ok((Found::Bad { reason }, None));
        if seg_size - rel < BLANK_MIN_BYTES {
            return bad("no room for a record or blank".into());
        }
        let head = rd.get(rel, 8).await?;
        let Some((size, magic)) = message::peek_header(head) else {
            return bad("short file".into());
        };
        if magic == BLANK_MAGIC && u64::from(size) == seg_size - rel {
            return Ok((Found::Blank, None));
        }
        if magic != MAGIC_V1 {
            return bad(format!("bad magic {magic:#010x}"));
        }
        let size = u64::from(size);
        if size < RECORD_FIXED_BYTES as u64
            || size > self.record_max
            || rel + size > seg_size - BLANK_MIN_BYTES
        {
            return bad(format!("bad size {size}"));
        }
        let buf = rd.get(rel, size).await?;
        let v = match message::decode_record(buf, true) {
            Ok(v) => v,
            Err(e) => return bad(e.to_string()),
        };
        if v.physical_offset != pos.get() {
            return bad(format!(
                "physical offset field {} at {pos}",
                v.physical_offset
            ));
        }
        let expected = self.queues.next_offset(v.topic, v.queue_id);
        if v.queue_offset < expected.get() || v.queue_offset > expected.get() + self.corrupted {
            return bad(format!(
                "queue offset {} where {expected} is next",
                v.queue_offset
            ));
        }
        Ok((Found::Valid { size }, Some(scanned(&v, pos, size as u32))))
    }
}

/// What a valid record contributes to the derived data (recovery and the replica path alike).
pub(super) fn scanned(
    v: &message::RecordView<'_>,
    pos: PhysicalOffset,
    size: u32,
) -> ScannedRecord {
    let tags = properties::find(v.properties, properties::keys::TAGS);
    ScannedRecord {
        topic: v.topic.to_owned(),
        queue_id: v.queue_id,
        queue_offset: QueueOffset(v.queue_offset),
        physical_offset: pos,
        size_bytes: size,
        tags_code: message::tags_code(v.topic, tags),
        store_timestamp_ms: v.store_timestamp_ms,
        key_hashes: properties::index_keys(v.properties)
            .into_iter()
            .map(|k| key_hash(v.topic, k))
            .collect(),
    }
}

/// Adds a record's consume-queue entry and index keys, and its store time to its segment's: the
/// one dispatch of a record found in the log (recovery's scan, a replica's append).
pub(super) fn dispatch(
    queues: &mut ConsumeQueues,
    index: &mut KeyIndex,
    seg: &mut Segment,
    r: &ScannedRecord,
) {
    let q = queues.get_mut_or_create(&r.topic, r.queue_id);
    q.push(r.queue_offset, r.physical_offset, r.size_bytes, r.tags_code);
    for h in &r.key_hashes {
        index.insert(*h, r.physical_offset, r.store_timestamp_ms);
    }
    seg.last_store_ts_ms = seg.last_store_ts_ms.max(r.store_timestamp_ms);
}

/// What the scan learns from a valid record: its consume-queue entry and index keys.
#[derive(Debug, Clone)]
pub(super) struct ScannedRecord {
    pub(super) topic: String,
    pub(super) queue_id: u32,
    pub(super) queue_offset: QueueOffset,
    pub(super) physical_offset: PhysicalOffset,
    pub(super) size_bytes: u32,
    pub(super) tags_code: i64,
    pub(super) store_timestamp_ms: i64,
    pub(super) key_hashes: Vec<u64>,
}

fn is_valid_candidate(buf: &[u8], pos: PhysicalOffset, record_max: u64) -> bool {
    let Some((size, magic)) = message::peek_header(buf) else {
        return false;
    };
    if magic != MAGIC_V1 || (size as u64) > record_max || (size as usize) > buf.len() {
        return false;
    }
    match message::decode_record(&buf[..size as usize], true) {
        Ok(v) => v.physical_offset == pos.get(),
        Err(_) => false,
    }
}

/// Looks for a valid record after the bad spot at `base + rel`. Returns (its offset, last non-zero
/// relative position seen in this segment).
async fn find_next_valid(
    ctx: &Rebuild<'_>,
    segs: &[Segment],
    si: usize,
    rel: u64,
) -> Result<(Option<PhysicalOffset>, Option<u64>), StorageError> {
    let seg_size = ctx.cfg.segment_size_bytes;
    let zero_run_max = ctx.record_max + CHUNK_BYTES as u64;
    let base = segs[si].base;
    let mut rd = SegReader::new(&segs[si], seg_size, &ctx.log_bytes_read);
    let mut last_nonzero = None;
    let mut zero_run = 0u64;
    let mut p = rel;
    let step = WINDOW_BYTES;
    while p < seg_size && zero_run <= zero_run_max {
        let win_end = (p + step).min(seg_size);
        let buf = rd.get(p, win_end - p + ctx.record_max).await?.to_vec();
        let n = (win_end - p) as usize;
        for i in 0..n.min(buf.len()) {
            let b = buf[i];
            if b != 0 {
                last_nonzero = Some(p + i as u64);
                zero_run = 0;
            } else {
                zero_run += 1;
                if zero_run > zero_run_max {
                    break;
                }
            }
            let at = p + i as u64;
            if at > rel
                && i + 8 <= buf.len()
                && buf[i + 4..i + 8] == MAGIC_V1.to_be_bytes()
                && is_valid_candidate(&buf[i..], base + at, ctx.record_max)
            {
                return Ok((Some(base + at), last_nonzero));
            }
        }
        if buf.len() < n {
            break;
        }
        p = win_end;
    }
    for s in &segs[si + 1..] {
        // The first page says whether a record can start here: a zeroed (pre-allocated) segment is
        // not read further.
        let mut rd = SegReader::new(s, seg_size, &ctx.log_bytes_read);
        let head = rd.read(0, IO_ALIGN_BYTES).await?;
        let plausible = message::peek_header(&head)
            .is_some_and(|(size, magic)| magic == MAGIC_V1 && u64::from(size) <= ctx.record_max);
        if !plausible {
            continue;
        }
        let buf = rd.get(0, ctx.record_max).await?;
        if is_valid_candidate(buf, s.base, ctx.record_max) {
            return Ok((Some(s.base), last_nonzero));
        }
    }
    Ok((None, last_nonzero))
}

/// Overwrites `[rel, last_nonzero]` of a segment with zeros (keeping the bytes before `rel`).
async fn zero_range(
    seg: &Segment,
    rel: u64,
    last_nonzero: u64,
    bytes_read: &Rc<Cell<u64>>,
) -> Result<(), StorageError> {
    let err = |op, e| StorageError::from_io(op, seg.path.clone(), e);
    let start = align_down(rel);
    let end = align_up(last_nonzero + 1);
    let mut first = seg
        .file
        .read_at(start, 4096)
        .await
        .map_err(|e| err("read segment", e))?;
    bytes_read.set(bytes_read.get() + first.len() as u64);
    first.resize(4096, 0);
    first[(rel - start) as usize..].fill(0);
    seg.file
        .write_at(&first, start)
        .await
        .map_err(|e| err("zero segment tail", e))?;
    let zeros = vec![0u8; CHUNK_BYTES];
    let mut p = start + 4096;
    while p < end {
        let n = (end - p).min(CHUNK_BYTES as u64) as usize;
        seg.file
            .write_at(&zeros[..n], p)
            .await
            .map_err(|e| err("zero segment tail", e))?;
        p += n as u64;
    }
    seg.file.sync().await.map_err(|e| err("fdatasync", e))
}

/// Logs how far the log scan is, at most once a second (start-up has no time limit: a long scan says
/// that it is moving instead).
struct Progress {
    from: PhysicalOffset,
    limit: PhysicalOffset,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(1);

    fn new(from: PhysicalOffset, limit: PhysicalOffset) -> Progress {
        let now = Instant::now();
        Progress {
            from,
            limit,
            started: now,
            last_log: now,
        }
    }

    fn tick(&mut self, pos: PhysicalOffset, bytes_read: u64) {
        // Checking the time costs little next to decoding and checking a record's CRC.
        if self.last_log.elapsed() < Self::EVERY {
            return;
        }
        self.last_log = Instant::now();
        tracing::info!(
            scanned_bytes = pos - self.from,
            // An upper bound: the last segment is scanned only up to where its records end.
            to_go_bytes_at_most = self.limit - pos,
            read_bytes = bytes_read,
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "recovering the commit log past the checkpoint"
        );
    }

    fn done(&self, end: PhysicalOffset, bytes_read: u64) {
        if self.started.elapsed() >= Self::EVERY {
            tracing::info!(
                scanned_bytes = end - self.from,
                read_bytes = bytes_read,
                elapsed_ms = self.started.elapsed().as_millis() as u64,
                "commit log scan done"
            );
        }
    }
}

/// Most commit-log bytes recovery reads beyond `[scan start, end)` when what follows the end is zeros
/// (a pre-allocated or fallocated tail) and `later_segments` segment files follow the end's: the scan
/// window's overshoot, the look-ahead for a valid record (a window, a record and a zero run longer
/// than any record), the first page of each later segment, the page zeroed at the cut and the
/// partial page the appender continues. Non-zero garbage past the end (a torn or unsynced write)
/// adds its own length: it too was written since the checkpoint.
pub fn lookahead_read_bytes_max(record_max: u64, segment_bytes: u64, later_segments: u64) -> u64 {
    let window = WINDOW_BYTES.min(segment_bytes);
    let zero_run_max = (record_max + CHUNK_BYTES as u64).min(segment_bytes);
    2 * (window + record_max) + zero_run_max + 2 * window + (later_segments + 2) * IO_ALIGN_BYTES
}

pub(super) async fn recover(
    cfg: &StoreConfig,
    opts: &StoreOptions,
    io: &Rc<dyn StorageIo>,
    record_max: u64,
    cache_bytes_max: usize,
) -> Result<Recovered, StorageError> {
    let seg_size = cfg.segment_size_bytes;
    let shard_base = PhysicalOffset::shard_base(cfg.shard_id);
    let cl_dir = cfg.dir.join("commitlog");
    let mut queues = ConsumeQueues::new(
        &cfg.dir,
        io.clone(),
        opts.cq_file_entries,
        opts.cq_cache_bytes_max,
        opts.cq_open_files_max,
    );
    let mut index = KeyIndex::new(&cfg.dir, io.clone(), opts.index_shape);
    for d in [
        &cl_dir,
        &queues.dir().to_path_buf(),
        &index.dir().to_path_buf(),
    ] {
        io.create_dir_all(d)
            .map_err(|e| StorageError::from_io("create directory", d.clone(), e))?;
    }
    // The per-segment dispatch files of the previous format: the checkpoint of that format is not
    // read either, so everything is rebuilt from the log once.
    let old = cfg.dir.join("dispatch");
    for n in io
        .list_dir(&old)
        .map_err(|e| StorageError::from_io("list", old.clone(), e))?
    {
        let p = old.join(n);
        io.remove_file(&p)
            .await
            .map_err(|e| StorageError::from_io("remove", p, e))?;
    }
    let names = io
        .list_dir(&cl_dir)
        .map_err(|e| StorageError::from_io("list", cl_dir.clone(), e))?;
    let mut bases: Vec<PhysicalOffset> =
        names.iter().filter_map(|n| parse_segment_name(n)).collect();
    bases.sort_unstable();
    let mut segs = Vec::with_capacity(bases.len());
    for (i, &b) in bases.iter().enumerate() {
        let path = LogState::segment_path(&cfg.dir, b);
        if b < shard_base
            || b - shard_base >= 1 << super::SHARD_OFFSET_SHIFT
            || !(b - shard_base).is_multiple_of(seg_size)
        {
            return Err(StorageError::Config(format!(
                "segment {} does not belong to shard {} with segment size {seg_size} (was the segment size changed?)",
                path.display(),
                cfg.shard_id
            )));
        }
        if i > 0 && b != bases[i - 1] + seg_size {
            return Err(StorageError::Corrupted {
                offset: bases[i - 1] + seg_size,
                reason: format!("commit log segment missing before {}", path.display()),
            });
        }
        let file = io
            .open(
                &path,
                super::flusher::segment_kind(cfg.flush_mode),
                OpenMode::Existing,
            )
            .await
            .map_err(|e| StorageError::from_io("open segment", path.clone(), e))?;
        segs.push(Segment {
            base: b,
            path,
            file,
            last_store_ts_ms: 0,
        });
    }
    // 0. A cut the replica path scheduled (failover: this log's tail is from an older epoch and
    //    the new master never had it; `replica::CUT_FILE`): zero `[cut, end)`, delete the later
    //    segments, and drop the checkpoint so that the consume queues and the index are rebuilt
    //    from the log (none of their entries may point past the cut). Idempotent until the marker
    //    is cleared, at the end of recovery.
    let pending_cut = super::replica::read_cut(&cfg.dir)?;
    if let Some(c) = pending_cut {
        let cut = PhysicalOffset(c.cut);
        if let Some(si) = segs
            .iter()
            .position(|s| cut >= s.base && cut < s.base + seg_size)
        {
            let s = &segs[si];
            let end = PhysicalOffset(c.end).min(s.base + seg_size);
            if end > cut {
                zero_range(s, cut - s.base, end - s.base - 1, &Rc::default()).await?;
            }
            for s in segs.drain(si + 1..) {
                io.remove_file(&s.path)
                    .await
                    .map_err(|e| StorageError::from_io("remove segment", s.path.clone(), e))?;
            }
            bases.truncate(si + 1);
        }
        let cp_path = cfg.dir.join(checkpoint::CHECKPOINT_FILE);
        match io.remove_file(&cp_path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_io("remove", cp_path, e)),
        }
        tracing::warn!(
            cut = c.cut,
            end = c.end,
            dropped_bytes = c.end.saturating_sub(c.cut),
            "replica: cutting the log's tail from an older epoch (failover)"
        );
    }
    let first_base = bases.first().copied().unwrap_or(shard_base);
    let log_limit = bases.last().map_or(shard_base, |&b| b + seg_size);

    // 1. The derived files as the checkpoint left them; without one (or one below the first
    //    segment) nothing derived is trusted and the whole log is scanned.
    let cp = checkpoint::read(io, &cfg.dir)
        .await?
        .filter(|c| c.durable_offset >= first_base && c.durable_offset <= log_limit);
    let mut report = RecoveryReport {
        segments: segs.len(),
        ..Default::default()
    };
    let scan_start = match &cp {
        Some(cp) => {
            for (t, q, min, next) in &cp.queues {
                queues.restore(t, *q, *min, *next);
            }
            for (b, ts) in &cp.segments {
                if let Some(s) = segs.iter_mut().find(|s| s.base == *b) {
                    s.last_store_ts_ms = s.last_store_ts_ms.max(*ts);
                }
            }
            report.dispatch_bytes_read = index.recover(Some(cp.index_open)).await?;
            cp.durable_offset
        }
        None => {
            index.recover(None).await?;
            first_base
        }
    };
    queues.remove_stale_files().await?;
    let mut ctx = Rebuild {
        cfg,
        record_max,
        queues,
        index,
        last_ts: segs.iter().map(|s| s.last_store_ts_ms).max().unwrap_or(0),
        corrupted: 0,
        log_bytes_read: Rc::default(),
    };

    // 2. Scan the log from there, one reader per segment (a sequential scan reads each byte once).
    let mut pos = scan_start;
    let mut end_si = None;
    let mut rd: Option<(usize, SegReader)> = None;
    let mut progress = Progress::new(scan_start, log_limit);
    while pos < log_limit {
        let si = ((pos - first_base) / seg_size) as usize;
        let base = segs[si].base;
        let rel = pos - base;
        if rd.as_ref().is_none_or(|(s, _)| *s != si) {
            rd = Some((si, SegReader::new(&segs[si], seg_size, &ctx.log_bytes_read)));
        }
        let (_, reader) = rd.as_mut().expect("reader of this segment");
        let (found, rec) = ctx.classify(reader, base, rel).await?;
        let later = if matches!(found, Found::Bad { .. }) {
            let (y, last_nonzero) = find_next_valid(&ctx, &segs, si, rel).await?;
            if y.is_none() {
                if let Some(ln) = last_nonzero.filter(|&ln| ln >= rel) {
                    report.truncated_bytes = ln + 1 - rel;
                    zero_range(&segs[si], rel, ln, &ctx.log_bytes_read).await?;
                }
            }
            y
        } else {
            None
        };
        match decide(pos, &found, later) {
            Decision::Accept { next } => {
                let r = rec.expect("valid record has its facts");
                ctx.apply(&mut segs[si], r);
                report.records_scanned += 1;
                pos = next;
                progress.tick(pos, ctx.log_bytes_read.get());
            }
            Decision::NextSegment => {
                pos = base + seg_size;
            }
            Decision::CutTail => {
                end_si = Some(si);
                break;
            }
            Decision::SkipCorrupt { to } => {
                let Found::Bad { reason } = found else {
                    unreachable!()
                };
                tracing::warn!(offset = pos.get(), %reason, "corrupted record in the commit log, skipped");
                report.corrupted.push((pos, reason));
                ctx.corrupted += 1;
                pos = to;
            }
        }
    }
    let end = pos;
    progress.done(end, ctx.log_bytes_read.get());

    // 3. Segment files past the end hold nothing valid.
    let keep = end_si.map_or(segs.len(), |si| si + 1);
    for s in segs.drain(keep..) {
        io.remove_file(&s.path)
            .await
            .map_err(|e| StorageError::from_io("remove segment", s.path.clone(), e))?;
    }
    // Entries of records below the first segment (deleted after the checkpoint) go.
    let mut gone = ctx.queues.trim_below(first_base);
    gone.extend(ctx.index.trim_below(first_base));
    for p in gone {
        match io.remove_file(&p).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_io("remove", p, e)),
        }
    }

    // 4. The active segment (created if the log ends exactly at a segment boundary or is empty).
    let active_base = first_base + (end - first_base) / seg_size * seg_size;
    let mut log = LogState {
        dir: cfg.dir.clone(),
        segment_size_bytes: seg_size,
        segments: Default::default(),
        active_base,
        offsets: LogOffsets::new(first_base, end),
        chunks: Default::default(),
        chunk_bytes: 0,
        cache: Cache::new(cache_bytes_max),
        next_segment: None,
        stalled: false,
        unsynced: Vec::new(),
        last_store_ts_ms: ctx.last_ts,
        fill: None,
    };
    for s in segs {
        log.segments.insert(s.base, s);
    }
    if let std::collections::btree_map::Entry::Vacant(v) = log.segments.entry(active_base) {
        let kind = super::flusher::segment_kind(cfg.flush_mode);
        let seg = super::flusher::create_segment(io, &cfg.dir, active_base, seg_size, kind, false)
            .await?;
        v.insert(seg);
        // Created unwritten, not to keep the first appends waiting: the pre-allocator fills it
        // above the append position where it would prewrite a segment.
        let sync = cfg.flush_mode == super::FlushMode::Sync;
        if super::flusher::prewrite_decision(cfg.prewrite_segments, sync, true) {
            log.fill = Some(super::commitlog::Fill {
                seg_base: active_base,
                next: 0,
            });
        }
    }
    let active = &log.segments[&active_base];
    let chunk_start = end.align_down(IO_ALIGN_BYTES);
    let prefix = active
        .file
        .read_at(chunk_start - active_base, (end - chunk_start) as usize)
        .await
        .map_err(|e| StorageError::from_io("read segment", active.path.clone(), e))?;
    ctx.log_bytes_read
        .set(ctx.log_bytes_read.get() + prefix.len() as u64);
    if prefix.len() as u64 != end - chunk_start {
        return Err(StorageError::Corrupted {
            offset: chunk_start,
            reason: format!("short read of {}", active.path.display()),
        });
    }
    // What we scanned may be in a device cache only (after kill -9): make it durable before we build on it.
    active
        .file
        .sync()
        .await
        .map_err(|e| StorageError::from_io("fdatasync segment", active.path.clone(), e))?;
    log.start_chunk(chunk_start, &prefix);

    if pending_cut.is_some() {
        super::replica::clear_cut(&cfg.dir)?;
    }
    report.scan_start = scan_start;
    report.end = end;
    report.log_bytes_read = ctx.log_bytes_read.get();
    Ok(Recovered {
        log,
        queues: ctx.queues,
        index: ctx.index,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_table_rows() {
        let p = PhysicalOffset;
        let bad = Found::Bad { reason: "x".into() };
        // Row 1: a valid record is accepted whatever follows.
        assert_eq!(
            decide(p(100), &Found::Valid { size: 50 }, None),
            Decision::Accept { next: p(150) }
        );
        assert_eq!(
            decide(p(100), &Found::Valid { size: 50 }, Some(p(900))),
            Decision::Accept { next: p(150) }
        );
        // Row 2: a blank marker ends the segment.
        assert_eq!(decide(p(100), &Found::Blank, None), Decision::NextSegment);
        // Row 3: bad and nothing valid later: the tail is cut.
        assert_eq!(decide(p(100), &bad, None), Decision::CutTail);
        // Row 4: bad with a valid record later: mid-log corruption, skipped.
        assert_eq!(
            decide(p(100), &bad, Some(p(300))),
            Decision::SkipCorrupt { to: p(300) }
        );
    }
}
