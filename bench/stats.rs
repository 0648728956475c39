//! Measurement: HDR histograms and counters shared between the load threads and the reporter.
//!
//! Every client thread records into its own `Arc<Mutex<Recorder>>` (uncontended except when the
//! reporter takes a snapshot once per interval), so recording costs one uncontended lock and one
//! histogram increment. Latencies are recorded in nanoseconds and reported in microseconds.
//! Two views per recorder: `interval` (reset at every report line) and `total` (after warm-up).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms hold (larger values are clamped): 10 minutes.
const LATENCY_MAX_NS: u64 = 600_000_000_000;

pub fn new_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1_000, LATENCY_MAX_NS, 3).expect("valid histogram bounds")
}

/// Counters and latencies of one kind of operation (sends or receipts).
#[derive(Clone)]
pub struct Window {
    pub latency: Histogram<u64>,
    /// Messages completed (a batch of k counts k).
    pub msgs: u64,
    /// Payload bytes completed.
    pub bytes: u64,
    /// Requests that got no answer (connection error or timeout).
    pub send_failed: u64,
    /// Requests answered with a non-success code.
    pub response_failed: u64,
    /// Non-success codes seen, with counts.
    pub codes: BTreeMap<i32, u64>,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            latency: new_histogram(),
            msgs: 0,
            bytes: 0,
            send_failed: 0,
            response_failed: 0,
            codes: BTreeMap::new(),
        }
    }
}

impl Window {
    pub fn add(&mut self, other: &Window) {
        // Same bounds on both sides: cannot fail.
        let _ = self.latency.add(&other.latency);
        self.msgs += other.msgs;
        self.bytes += other.bytes;
        self.send_failed += other.send_failed;
        self.response_failed += other.response_failed;
        for (c, n) in &other.codes {
            *self.codes.entry(*c).or_default() += n;
        }
    }

    pub fn reset(&mut self) {
        *self = Window::default();
    }
}

/// What one thread has measured: sends and receipts (consumer side; latency = end to end).
#[derive(Clone, Default)]
pub struct Recorder {
    pub send: Window,
    pub send_total: Window,
    pub recv: Window,
    pub recv_total: Window,
    /// False during warm-up: only the interval windows are filled.
    pub measuring: bool,
}

impl Recorder {
    pub fn send_ok(&mut self, latency: Duration, msgs: u64, bytes: u64) {
        let ns = (latency.as_nanos() as u64).clamp(1_000, LATENCY_MAX_NS);
        for w in self.send_windows() {
            let _ = w.latency.record(ns);
            w.msgs += msgs;
            w.bytes += bytes;
        }
    }

    /// Completed without a latency (oneway sends).
    pub fn send_unmeasured(&mut self, msgs: u64, bytes: u64) {
        for w in self.send_windows() {
            w.msgs += msgs;
            w.bytes += bytes;
        }
    }

    pub fn send_error_code(&mut self, code: i32) {
        for w in self.send_windows() {
            w.response_failed += 1;
            *w.codes.entry(code).or_default() += 1;
        }
    }

    pub fn send_failed(&mut self) {
        for w in self.send_windows() {
            w.send_failed += 1;
        }
    }

    pub fn recv_msg(&mut self, e2e: Option<Duration>, bytes: u64) {
        for w in both(&mut self.recv, &mut self.recv_total, self.measuring) {
            if let Some(d) = e2e {
                let ns = (d.as_nanos() as u64).clamp(1_000, LATENCY_MAX_NS);
                let _ = w.latency.record(ns);
            }
            w.msgs += 1;
            w.bytes += bytes;
        }
    }

    pub fn recv_error_code(&mut self, code: i32) {
        for w in both(&mut self.recv, &mut self.recv_total, self.measuring) {
            w.response_failed += 1;
            *w.codes.entry(code).or_default() += 1;
        }
    }

    fn send_windows(&mut self) -> impl Iterator<Item = &mut Window> {
        both(&mut self.send, &mut self.send_total, self.measuring)
    }
}

/// The interval window, plus the total window once measuring.
fn both<'a>(
    interval: &'a mut Window,
    total: &'a mut Window,
    measuring: bool,
) -> impl Iterator<Item = &'a mut Window> {
    std::iter::once(interval).chain(measuring.then_some(total))
}

/// The recorder of one thread, shared with the reporter.
pub type SharedRecorder = Arc<Mutex<Recorder>>;

pub fn lock(r: &SharedRecorder) -> MutexGuard<'_, Recorder> {
    // A panicking load thread aborts the run anyway; keep reporting what there is.
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// Percentiles of a latency histogram in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
    pub max: f64,
}

pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    let us = |ns: u64| (ns as f64 / 1_000.0 * 100.0).round() / 100.0;
    if h.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: h.len(),
        mean: (h.mean() / 1_000.0 * 100.0).round() / 100.0,
        p50: us(h.value_at_quantile(0.50)),
        p90: us(h.value_at_quantile(0.90)),
        p99: us(h.value_at_quantile(0.99)),
        p99_9: us(h.value_at_quantile(0.999)),
        p99_99: us(h.value_at_quantile(0.9999)),
        max: us(h.max()),
    }
}
