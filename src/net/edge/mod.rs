//! The network edge of one shard: what a peer can make the shard hold, and for how long.
//!
//! Every bound here holds whatever peers do, with no credentials:
//! - **Connections**: a shard keeps at most `shard_connections_max` (`connections_max` split over the
//!   shards). Past it a connection is accepted and reset at once (SO_LINGER 0), counted and logged.
//!   Rejected: leaving it in the accept backlog (the peer hangs in connect until its own timeout, and a
//!   full backlog also stalls well-behaved clients), and answering an error response (we would have to
//!   read a request first, which is the work the cap exists to refuse; no RocketMQ client has a
//!   "server full" code to act on, while a reset is what every client already retries on).
//! - **Frame budget**: a frame longer than [`FRAME_UNBUDGETED_BYTES`] is read only once the shard's
//!   budget (`shard_frame_buffer_bytes_max`, a semaphore in bytes) granted its whole declared length;
//!   until then its connection is not read (the peer's bytes wait in the kernel, and TCP flow control
//!   stops the peer). The grant is held until the request is served. All-or-nothing grants cannot
//!   deadlock the way growing partial grants would. Smaller frames use the connection's own buffer.
//!   One peer address may hold or wait for at most `peer_frame_buffer_bytes_max` of it (a first,
//!   per-address semaphore), so one flooding host cannot starve the large frames of the others.
//! - **Outbound**: response bytes queued for a connection are counted; above
//!   `connection_outbound_bytes_max` its requests are not read (nor dispatched) until the writer got
//!   them below half of it. Requests already taken still answer (up to `connection_inflight_max`
//!   of them, and a pull's answer can be 4 MiB), so the shard also counts all queued answers: past
//!   `shard_outbound_bytes_max`, a connection that is over its own cap and was stuck at the last
//!   sweep is closed the moment another answer is queued for it ([`overflows`]), and the sweeper
//!   closes stuck ones, largest first, until the rest fits ([`overflow_victims`]). Answers produced
//!   within one sweep interval by requests taken before any answer was queued (a pipelined burst)
//!   can exceed the limit until the next sweep: this bound is enforced at sweep granularity.
//! - **Time**: a sweeper looks at every connection every [`SWEEP_INTERVAL`] and closes those whose
//!   current phase lasted too long ([`rule`], the table below). The hot path reads no clock: a
//!   connection only bumps counters (`mark` on every phase change and every whole frame, `written`
//!   on every write); the sweeper notices when they stop moving.
//!
//! What one shard can hold for its connections, whatever peers do (request and response bytes):
//! ```text
//!   shard_frame_buffer_bytes_max                                large frames, received or being served
//! + shard_outbound_bytes_max + largest answer                   answers queued on the shard
//!   + answers produced within one sweep interval                (pipelined bursts, above)
//! + shard_connections_max × ( READ_CHUNK_BYTES                  the read chunk
//!                           + FRAME_UNBUDGETED_BYTES + READ_CHUNK_BYTES   its own frame buffer
//!                           + 64 KiB )                          the writer's kept buffer
//! ```
//! plus, per connection whose peer keeps reading, its own outbound cap.
//!
//! Known limit: flooding hosts from enough addresses to fill the budget together (shard budget /
//! per-address share of them) make a large frame of a well-behaved client wait behind theirs
//! (glommio's semaphore is first come, first served, except that a smaller grant may pass a larger
//! waiting one); it is closed after `frame_timeout_ms` (BudgetTimeout) if no budget frees. Frames
//! under [`FRAME_UNBUDGETED_BYTES`] are always served. The connection cap is not per address yet.
//!
//! Runs on its shard only (`Rc`, `Cell`); no `RefCell` borrow is held across an `.await`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::net::IpAddr;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use glommio::sync::{Semaphore, StaticPermit};

use super::{ConnId, StopSignal};
use crate::config::BrokerConfig;
use crate::metrics::{NetCounters, NetMetrics};
use crate::shard::ShardId;

/// Frames up to this size (length word included) are read into the connection's own buffer and
/// need no budget: most requests (sends of small messages, pulls, heartbeats) are far smaller.
pub const FRAME_UNBUDGETED_BYTES: usize = 64 << 10;
/// The most one read takes off a socket into a connection's buffer (the read chunk's size).
pub const READ_CHUNK_BYTES: usize = 16 << 10;
/// How often the sweeper applies the time limits.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// How often, at most, a shard logs its edge counters when they changed.
const REPORT_INTERVAL_MS: u64 = 1_000;

/// The limits of a shard's connections, from the config.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub inflight_max: usize,
    pub frame_max_bytes: usize,
    pub shard_connections_max: usize,
    pub shard_frame_buffer_bytes_max: usize,
    pub peer_frame_buffer_bytes_max: usize,
    pub frame_timeout_ms: u64,
    pub outbound_bytes_max: usize,
    pub shard_outbound_bytes_max: usize,
    pub outbound_stall_timeout_ms: u64,
    /// 0 = never.
    pub idle_timeout_ms: u64,
}

impl ConnLimits {
    pub fn from_config(cfg: &BrokerConfig) -> ConnLimits {
        ConnLimits {
            inflight_max: cfg.connection_inflight_max,
            frame_max_bytes: cfg.frame_max_bytes,
            shard_connections_max: cfg.shard_connections_max(),
            shard_frame_buffer_bytes_max: cfg.shard_frame_buffer_bytes_max,
            peer_frame_buffer_bytes_max: cfg.peer_frame_buffer_bytes_max,
            frame_timeout_ms: cfg.frame_timeout_ms,
            outbound_bytes_max: cfg.connection_outbound_bytes_max,
            shard_outbound_bytes_max: cfg.shard_outbound_bytes_max,
            outbound_stall_timeout_ms: cfg.outbound_stall_timeout_ms,
            idle_timeout_ms: cfg.connection_idle_timeout_ms,
        }
    }
}

/// Where a connection's reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between frames: nothing buffered.
    Idle,
    /// Part of a frame is buffered (and its budget granted, if it needed one).
    Frame,
    /// A large frame waits for the shard's frame budget; the connection is not read.
    WaitBudget,
    /// Its responses are not being read; the connection is not read.
    WaitOutbound,
    /// `connection_inflight_max` requests are being served; the connection is not read.
    WaitInflight,
    /// Reading ended (peer closed, bad frame, shutdown); in-flight answers are being written.
    Draining,
}

/// Why a connection ended. Each has a counter in [`NetMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Peer,
    BadFrame,
    FrameTimeout,
    BudgetTimeout,
    OutboundStalled,
    OutboundOverflow,
    Idle,
    Shutdown,
}

impl CloseReason {
    fn count(self, m: &mut NetMetrics) {
        let c = match self {
            CloseReason::Peer => &mut m.closed_by_peer,
            CloseReason::BadFrame => &mut m.closed_bad_frame,
            CloseReason::FrameTimeout => &mut m.closed_frame_timeout,
            CloseReason::BudgetTimeout => &mut m.closed_budget_timeout,
            CloseReason::OutboundStalled => &mut m.closed_outbound_stalled,
            CloseReason::OutboundOverflow => &mut m.closed_outbound_overflow,
            CloseReason::Idle => &mut m.closed_idle,
            CloseReason::Shutdown => &mut m.closed_shutdown,
        };
        *c += 1;
    }
}

/// What restarts a phase's clock, besides entering the phase (every phase change and every whole
/// frame bumps `mark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Only `mark`.
    Mark,
    /// `mark`, or bytes written to the peer.
    MarkOrWrite,
    /// `mark`, bytes written, or nothing queued for the peer (so time spent serving is not counted).
    MarkOrWriteOrEmpty,
}

/// The time limit of one phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub restart: Restart,
    /// `None`: no limit.
    pub limit_ms: Option<u64>,
    pub reason: CloseReason,
}

/// The sweeper's table: how long a connection may stay in a phase.
///
/// | phase        | clock restarts on (besides `mark`)  | limit                        | past it          |
/// |--------------|-------------------------------------|------------------------------|------------------|
/// | Idle         | a write                             | idle timeout (0: none)       | Idle             |
/// | Frame        | —                                   | frame timeout                | FrameTimeout     |
/// | WaitBudget   | —                                   | frame timeout                | BudgetTimeout    |
/// | WaitOutbound | a write, or nothing queued          | outbound stall timeout       | OutboundStalled  |
/// | Draining     | a write, or nothing queued          | outbound stall timeout       | OutboundStalled  |
/// | WaitInflight | —                                   | none (the broker's own work) | —                |
///
/// An `Idle` connection over its outbound cap (a peer that asked a few questions and reads no
/// answer) is judged as `WaitOutbound`.
///
/// A frame's clock starts at its first byte, and again when its budget is granted (waiting for
/// budget is the shard's doing, so it has its own limit). A long-polled pull in flight keeps
/// `Draining` alive: nothing is queued while it is parked.
pub fn rule(phase: Phase, l: &ConnLimits) -> Rule {
    let (restart, limit_ms, reason) = match phase {
        Phase::Idle => (
            Restart::MarkOrWrite,
            (l.idle_timeout_ms > 0).then_some(l.idle_timeout_ms),
            CloseReason::Idle,
        ),
        Phase::Frame => (
            Restart::Mark,
            Some(l.frame_timeout_ms),
            CloseReason::FrameTimeout,
        ),
        Phase::WaitBudget => (
            Restart::Mark,
            Some(l.frame_timeout_ms),
            CloseReason::BudgetTimeout,
        ),
        Phase::WaitOutbound | Phase::Draining => (
            Restart::MarkOrWriteOrEmpty,
            Some(l.outbound_stall_timeout_ms),
            CloseReason::OutboundStalled,
        ),
        Phase::WaitInflight => (Restart::Mark, None, CloseReason::Shutdown),
    };
    Rule {
        restart,
        limit_ms,
        reason,
    }
}

/// Whether queuing an answer for a connection closes it at once, to keep the shard's queued answers
/// bounded.
///
/// | shard over `shard_outbound_bytes_max` | connection over its own cap | stuck | close |
/// |---------------------------------------|-----------------------------|-------|-------|
/// | no                                    | any                         | any   | no    |
/// | yes                                   | no                          | any   | no    |
/// | yes                                   | yes                         | no    | no    |
/// | yes                                   | yes                         | yes   | yes   |
///
/// Stuck: answers were already queued when the sweeper last looked, and none was written since.
/// Connections under their own cap are never blamed (their sum is bounded by the connection cap),
/// nor is a peer that is reading (it is merely behind), nor one that was idle until this answer
/// (a long-polling consumer whose pull just got a large answer).
pub fn overflows(shard_over: bool, conn_over: bool, stuck: bool) -> bool {
    shard_over && conn_over && stuck
}

/// Which stuck connections over their own cap (`(index, queued bytes)`) the sweeper closes when the
/// shard holds `total` queued bytes against `limit`: the largest first, until the rest fits.
pub fn overflow_victims(total: usize, limit: usize, stuck: &[(usize, usize)]) -> Vec<usize> {
    let mut by_size = stuck.to_vec();
    by_size.sort_by_key(|&(_, queued)| std::cmp::Reverse(queued));
    let mut left = total;
    let mut out = Vec::new();
    for (i, queued) in by_size {
        if left <= limit {
            break;
        }
        left = left.saturating_sub(queued);
        out.push(i);
    }
    out
}

/// One connection as its reader, its writer and the sweeper share it.
#[derive(Debug)]
pub struct ConnState {
    phase: Cell<Phase>,
    /// Bumped on every phase change and every whole frame read.
    mark: Cell<u64>,
    /// Bytes written to the peer.
    written: Cell<u64>,
    /// Response bytes queued and not yet written (estimated per command, see `conn::outbound_size`).
    queued: Cell<usize>,
    /// The same, summed over the shard's connections (shared with the [`Edge`]).
    shard_queued: Rc<Cell<usize>>,
    outbound_max: usize,
    shard_outbound_max: usize,
    /// Set to end the connection now (no draining).
    kill: Cell<Option<CloseReason>>,
    /// Set when the process stops: stop reading, answer what was read.
    stop: Cell<bool>,
    end_waker: RefCell<Option<Waker>>,
    drain_waker: RefCell<Option<Waker>>,
    /// The sweeper's view: `mark` and `written` when last seen moving, and since when.
    seen_mark: Cell<u64>,
    seen_written: Cell<u64>,
    /// Whether answers were queued when the sweeper last looked.
    seen_queued: Cell<bool>,
    /// Whether it was stuck (see [`overflows`]) when the sweeper last looked.
    stuck_at_sweep: Cell<bool>,
    /// The peer's address and its share of the frame budget (`None` only in unit tests).
    peer: Option<(IpAddr, Rc<Semaphore>)>,
    since_ms: Cell<u64>,
}

impl ConnState {
    fn new(now_ms: u64, shard_queued: Rc<Cell<usize>>, limits: &ConnLimits) -> ConnState {
        ConnState {
            phase: Cell::new(Phase::Idle),
            mark: Cell::new(0),
            written: Cell::new(0),
            queued: Cell::new(0),
            shard_queued,
            outbound_max: limits.outbound_bytes_max,
            shard_outbound_max: limits.shard_outbound_bytes_max,
            kill: Cell::new(None),
            stop: Cell::new(false),
            end_waker: RefCell::new(None),
            drain_waker: RefCell::new(None),
            seen_mark: Cell::new(0),
            seen_written: Cell::new(0),
            seen_queued: Cell::new(false),
            stuck_at_sweep: Cell::new(false),
            peer: None,
            since_ms: Cell::new(now_ms),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase.get()
    }

    pub fn set_phase(&self, p: Phase) {
        if self.phase.get() != p {
            self.phase.set(p);
            self.mark.set(self.mark.get() + 1);
        }
    }

    /// A whole frame was read: the frame clock restarts.
    pub fn frame_done(&self) {
        self.mark.set(self.mark.get() + 1);
    }

    pub fn queued(&self) -> usize {
        self.queued.get()
    }

    /// An answer of `bytes` was queued; closes the connection if that overflows the shard ([`overflows`]).
    pub fn add_queued(&self, bytes: usize) {
        self.queued.set(self.queued.get() + bytes);
        self.shard_queued.set(self.shard_queued.get() + bytes);
        if overflows(
            self.shard_queued.get() > self.shard_outbound_max,
            self.queued.get() > self.outbound_max,
            self.stuck(),
        ) {
            self.kill(CloseReason::OutboundOverflow);
        }
    }

    /// Answers were queued when the sweeper last looked, and none was written since.
    fn stuck(&self) -> bool {
        self.seen_queued.get() && self.written.get() == self.seen_written.get()
    }

    pub fn sub_queued(&self, bytes: usize) {
        let bytes = bytes.min(self.queued.get());
        self.queued.set(self.queued.get() - bytes);
        self.shard_queued
            .set(self.shard_queued.get().saturating_sub(bytes));
    }

    /// The writer wrote `bytes` to the socket, which took `queued` off the queue.
    pub fn wrote(&self, bytes: usize, queued: usize) {
        self.written.set(self.written.get() + bytes as u64);
        self.sub_queued(queued);
        if let Some(w) = self.drain_waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Ends the connection now (first reason wins).
    pub fn kill(&self, reason: CloseReason) {
        if self.kill.get().is_none() {
            self.kill.set(Some(reason));
        }
        self.wake_end();
    }

    fn stop(&self) {
        self.stop.set(true);
        self.wake_end();
    }

    fn wake_end(&self) {
        if let Some(w) = self.end_waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Resolves when the connection is killed, or (with `or_stop`) when the process stops.
    pub async fn ended(&self, or_stop: bool) -> CloseReason {
        poll_fn(|cx| {
            if let Some(r) = self.kill.get() {
                return Poll::Ready(r);
            }
            if or_stop && self.stop.get() {
                return Poll::Ready(CloseReason::Shutdown);
            }
            *self.end_waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Resolves when at most `bytes` are queued for the peer.
    pub async fn queued_at_most(&self, bytes: usize) {
        poll_fn(|cx| {
            if self.queued.get() <= bytes {
                return Poll::Ready(());
            }
            *self.drain_waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// The sweeper's check at `now_ms`: the reason to close, if the phase lasted too long.
    fn sweep(&self, now_ms: u64, limits: &ConnLimits) -> Option<CloseReason> {
        let phase = match self.phase.get() {
            Phase::Idle if self.queued.get() > limits.outbound_bytes_max => Phase::WaitOutbound,
            p => p,
        };
        let rule = rule(phase, limits);
        let (mark, written) = (self.mark.get(), self.written.get());
        self.stuck_at_sweep.set(self.stuck());
        let moved = mark != self.seen_mark.get()
            || match rule.restart {
                Restart::Mark => false,
                Restart::MarkOrWrite => written != self.seen_written.get(),
                Restart::MarkOrWriteOrEmpty => {
                    written != self.seen_written.get() || self.queued.get() == 0
                }
            };
        self.seen_mark.set(mark);
        self.seen_written.set(written);
        self.seen_queued.set(self.queued.get() > 0);
        if moved {
            self.since_ms.set(now_ms);
            return None;
        }
        let limit = rule.limit_ms?;
        (now_ms.saturating_sub(self.since_ms.get()) >= limit).then_some(rule.reason)
    }
}

/// Frame budget granted to one frame (its address share and the shard's), given back on drop.
#[derive(Debug)]
pub struct Grant {
    _peer: StaticPermit,
    _shard: StaticPermit,
}

/// A shard's connections: admission, the frame budget, the sweeper, the counters.
pub struct Edge {
    pub shard: ShardId,
    pub limits: ConnLimits,
    budget: Rc<Semaphore>,
    /// Per peer address: its share of the budget, and its open connections (the entry goes with
    /// the last one).
    peers: RefCell<HashMap<IpAddr, (Rc<Semaphore>, usize)>>,
    /// Answers queued over all connections (bytes).
    queued: Rc<Cell<usize>>,
    conns: RefCell<HashMap<u64, Rc<ConnState>>>,
    next_id: Cell<u64>,
    stopping: Cell<bool>,
    counters: NetCounters,
    started: Instant,
    reported: RefCell<NetMetrics>,
    reported_ms: Cell<u64>,
}

impl Edge {
    /// The edge of `shard`; starts its sweeper and its stop watcher (both end with the edge).
    pub fn new(shard: ShardId, limits: ConnLimits, stop: StopSignal) -> Rc<Edge> {
        assert!(
            limits.shard_frame_buffer_bytes_max >= limits.frame_max_bytes,
            "the frame budget must hold one largest frame (validated by config)"
        );
        let edge = Rc::new(Edge {
            shard,
            limits,
            budget: Rc::new(Semaphore::new(limits.shard_frame_buffer_bytes_max as u64)),
            queued: Rc::default(),
            peers: RefCell::new(HashMap::new()),
            conns: RefCell::new(HashMap::new()),
            next_id: Cell::new(0),
            stopping: Cell::new(false),
            counters: NetCounters::default(),
            started: Instant::now(),
            reported: RefCell::new(NetMetrics::default()),
            reported_ms: Cell::new(0),
        });
        let weak = Rc::downgrade(&edge);
        glommio::spawn_local(sweep_loop(weak.clone())).detach();
        glommio::spawn_local(async move {
            let _ = stop.recv_async().await;
            if let Some(edge) = weak.upgrade() {
                edge.stop_all();
            }
        })
        .detach();
        edge
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Admits a new connection from `peer`, or `None` past the cap (counted as a refusal).
    pub fn admit(&self, peer: IpAddr) -> Option<(ConnId, Rc<ConnState>)> {
        let open = self.conns.borrow().len();
        if open >= self.limits.shard_connections_max {
            self.counters.update(|m| m.refused_conn_cap += 1);
            return None;
        }
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let share = self.limits.peer_frame_buffer_bytes_max as u64;
        let budget = {
            let mut peers = self.peers.borrow_mut();
            let entry = peers
                .entry(peer)
                .or_insert_with(|| (Rc::new(Semaphore::new(share)), 0));
            entry.1 += 1;
            entry.0.clone()
        };
        let mut state = ConnState::new(self.now_ms(), self.queued.clone(), &self.limits);
        state.peer = Some((peer, budget));
        let state = Rc::new(state);
        if self.stopping.get() {
            state.stop();
        }
        self.conns.borrow_mut().insert(id, state.clone());
        self.counters.update(|m| {
            m.accepted += 1;
            m.open = open as u64 + 1;
        });
        Some((
            ConnId {
                shard: self.shard,
                id,
            },
            state,
        ))
    }

    /// A connection ended for `reason`.
    pub fn release(&self, id: u64, reason: CloseReason) {
        let (gone, open) = {
            let mut conns = self.conns.borrow_mut();
            let gone = conns.remove(&id);
            (gone, conns.len())
        };
        if let Some((ip, _)) = gone.as_ref().and_then(|c| c.peer.as_ref()) {
            let mut peers = self.peers.borrow_mut();
            if let Some(entry) = peers.get_mut(ip) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    peers.remove(ip);
                }
            }
        }
        self.counters.update(|m| {
            reason.count(m);
            m.open = open as u64;
        });
    }

    /// Takes budget for a frame of `bytes` from `conn`'s address share and the shard now, if both
    /// have enough, else `None`.
    pub fn try_budget(&self, conn: &ConnState, bytes: usize) -> Option<Grant> {
        let (_, share) = conn.peer.as_ref()?;
        let peer = share.try_acquire_static_permit(bytes as u64).ok()?;
        let shard = self.budget.try_acquire_static_permit(bytes as u64).ok()?;
        self.note_budget();
        Some(Grant {
            _peer: peer,
            _shard: shard,
        })
    }

    /// Waits for budget for a frame of `bytes` (at most `frame_max_bytes`, so it always fits):
    /// the address share first, so one address's waiting frames queue there, not at the shard.
    pub async fn budget(&self, conn: &ConnState, bytes: usize) -> Option<Grant> {
        debug_assert!(bytes <= self.limits.frame_max_bytes);
        self.counters.update(|m| m.budget_waits += 1);
        let (_, share) = conn.peer.as_ref()?;
        let peer = share.acquire_static_permit(bytes as u64).await.ok()?;
        let shard = self.budget.acquire_static_permit(bytes as u64).await.ok()?;
        self.note_budget();
        Some(Grant {
            _peer: peer,
            _shard: shard,
        })
    }

    fn budget_in_use(&self) -> u64 {
        self.limits.shard_frame_buffer_bytes_max as u64 - self.budget.available()
    }

    fn note_budget(&self) {
        let used = self.budget_in_use();
        self.counters
            .update(|m| m.budget_peak_bytes = m.budget_peak_bytes.max(used));
    }

    pub fn count(&self, f: impl FnOnce(&mut NetMetrics)) {
        self.counters.update(f);
    }

    /// The counters now (budget in use filled in).
    pub fn metrics(&self) -> NetMetrics {
        let mut m = self.counters.snapshot();
        m.budget_in_use_bytes = self.budget_in_use();
        m.outbound_queued_bytes = self.queued.get() as u64;
        m
    }

    fn stop_all(&self) {
        self.stopping.set(true);
        let conns: Vec<_> = self.conns.borrow().values().cloned().collect();
        for c in conns {
            c.stop();
        }
    }

    fn sweep(&self) {
        let queued = self.queued.get() as u64;
        self.counters
            .update(|m| m.outbound_peak_bytes = m.outbound_peak_bytes.max(queued));
        let now = self.now_ms();
        let conns: Vec<_> = self.conns.borrow().values().cloned().collect();
        let (mut stuck, mut sizes) = (Vec::new(), Vec::new());
        for c in &conns {
            if let Some(reason) = c.sweep(now, &self.limits) {
                c.kill(reason);
            } else if c.stuck_at_sweep.get() && c.queued() > self.limits.outbound_bytes_max {
                sizes.push((stuck.len(), c.queued()));
                stuck.push(c);
            }
        }
        // Answers produced in a burst (requests taken before any answer was queued) can put the
        // shard over its limit with no answer queued after: close the stuck ones here too.
        for i in overflow_victims(
            self.queued.get(),
            self.limits.shard_outbound_bytes_max,
            &sizes,
        ) {
            stuck[i].kill(CloseReason::OutboundOverflow);
        }
        self.report(now, false);
    }

    /// Logs the counters when refusals or closes changed, at most once per `REPORT_INTERVAL_MS`
    /// (always with `force`): one line per shard, however many peers misbehave.
    pub fn report(&self, now_ms: u64, force: bool) {
        if !force && now_ms < self.reported_ms.get() + REPORT_INTERVAL_MS {
            return;
        }
        let m = self.metrics();
        let quiet = |m: &NetMetrics| NetMetrics {
            open: 0,
            budget_in_use_bytes: 0,
            budget_peak_bytes: 0,
            outbound_queued_bytes: 0,
            outbound_peak_bytes: 0,
            accepted: 0,
            closed_by_peer: 0,
            ..m.clone()
        };
        if !force && quiet(&m) == quiet(&self.reported.borrow()) {
            return;
        }
        self.reported_ms.set(now_ms);
        let refused = m.refused_conn_cap - self.reported.borrow().refused_conn_cap;
        if refused > 0 {
            tracing::warn!(
                shard = %self.shard,
                refused,
                shard_connections_max = self.limits.shard_connections_max,
                "connections refused (reset at once): the shard holds its share of connections_max"
            );
        }
        tracing::info!(
            shard = %self.shard,
            open = m.open,
            accepted = m.accepted,
            refused_conn_cap = m.refused_conn_cap,
            closed_by_peer = m.closed_by_peer,
            closed_bad_frame = m.closed_bad_frame,
            closed_frame_timeout = m.closed_frame_timeout,
            closed_budget_timeout = m.closed_budget_timeout,
            closed_outbound_stalled = m.closed_outbound_stalled,
            closed_outbound_overflow = m.closed_outbound_overflow,
            closed_idle = m.closed_idle,
            closed_shutdown = m.closed_shutdown,
            budget_waits = m.budget_waits,
            outbound_pauses = m.outbound_pauses,
            budget_in_use_bytes = m.budget_in_use_bytes,
            budget_peak_bytes = m.budget_peak_bytes,
            outbound_queued_bytes = m.outbound_queued_bytes,
            outbound_peak_bytes = m.outbound_peak_bytes,
            "network edge"
        );
        *self.reported.borrow_mut() = m;
    }

    /// Logs the counters now (at shutdown).
    pub fn log_counters(&self) {
        self.report(self.now_ms(), true);
    }
}

async fn sweep_loop(edge: Weak<Edge>) {
    loop {
        glommio::timer::sleep(SWEEP_INTERVAL).await;
        let Some(edge) = edge.upgrade() else { break };
        edge.sweep();
    }
}

#[cfg(test)]
mod tests;
