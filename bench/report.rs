//! Progress lines while running and the final report (text and JSON).
//!
//! Progress lines follow RocketMQ's benchmark tool (`Send TPS`, `Max RT`, `Average RT`, failures)
//! and add p50/p99. The JSON report carries the git revision, the machine and every setting, with
//! latencies in microseconds, so `perf/` scripts can tabulate and plot runs.

use std::process::Command;

use serde::Serialize;

use crate::stats::{summarize, LatencySummary, Window};

/// One progress line.
pub fn progress_line(
    t_s: f64,
    send: &Window,
    recv: &Window,
    interval_s: f64,
    warmup: bool,
) -> String {
    let mut line = format!("[{t_s:7.1}s]{}", if warmup { " (warm-up)" } else { "" });
    let has_send = send.msgs > 0 || send.send_failed > 0 || send.response_failed > 0;
    if has_send {
        let l = summarize(&send.latency);
        line += &format!(
            " Send TPS: {:.0} | MB/s: {:.1} | Max RT(ms): {:.3} | Average RT(ms): {:.3} | p50(ms): {:.3} | p99(ms): {:.3} | Send Failed: {} | Response Failed: {}",
            send.msgs as f64 / interval_s,
            send.bytes as f64 / interval_s / 1e6,
            l.max / 1e3,
            l.mean / 1e3,
            l.p50 / 1e3,
            l.p99 / 1e3,
            send.send_failed,
            send.response_failed,
        );
    }
    if recv.msgs > 0 || recv.response_failed > 0 {
        let l = summarize(&recv.latency);
        line += &format!(
            "{}Consume TPS: {:.0} | MB/s: {:.1} | e2e p50(ms): {:.3} | e2e p99(ms): {:.3} | e2e max(ms): {:.3} | Pull Failed: {}",
            if has_send { " || " } else { " " },
            recv.msgs as f64 / interval_s,
            recv.bytes as f64 / interval_s / 1e6,
            l.p50 / 1e3,
            l.p99 / 1e3,
            l.max / 1e3,
            recv.response_failed,
        );
    }
    if !has_send && recv.msgs == 0 && recv.response_failed == 0 {
        line += " idle";
    }
    line
}

/// Totals of one side (send or receive) over the measured time.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SideResult {
    pub messages: u64,
    pub msgs_per_sec: f64,
    pub mb_per_sec: f64,
    pub send_failed: u64,
    pub response_failed: u64,
    /// Non-success response codes and how often they came.
    pub failure_codes: std::collections::BTreeMap<String, u64>,
    /// Send latency (request to response) or end-to-end latency (send to receipt), µs.
    pub latency_us: LatencySummary,
}

pub fn side_result(w: &Window, elapsed_s: f64) -> SideResult {
    SideResult {
        messages: w.msgs,
        msgs_per_sec: (w.msgs as f64 / elapsed_s * 10.0).round() / 10.0,
        mb_per_sec: (w.bytes as f64 / elapsed_s / 1e6 * 100.0).round() / 100.0,
        send_failed: w.send_failed,
        response_failed: w.response_failed,
        failure_codes: w.codes.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
        latency_us: summarize(&w.latency),
    }
}

/// One progress interval, kept for plots.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalPoint {
    pub t_s: f64,
    pub send_msgs_per_sec: f64,
    pub send_p50_us: f64,
    pub send_p99_us: f64,
    pub send_max_us: f64,
    pub recv_msgs_per_sec: f64,
    pub e2e_p99_us: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub hostname: String,
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub memory_bytes: u64,
    /// `/proc/loadavg` (1, 5, 15 min) when the run started and when it ended: the machine may be
    /// shared, and a load above the CPU count means the figures include waiting for a CPU.
    pub load_avg_start: String,
    pub load_avg_end: String,
}

/// `/proc/loadavg`'s three averages.
pub fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn machine(load_avg_start: String) -> Machine {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let memory_bytes = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    Machine {
        hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        cpu_model,
        // The machine's CPUs, not those this process may use: a driver pinned with taskset
        // (perf/run.sh's DRIVER_CPUS) would report its own share as the machine.
        cpus: match cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count()
        {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
        memory_bytes,
        load_avg_start,
        load_avg_end: load_avg(),
    }
}

/// `git describe`-like revision of the working directory, or "unknown".
pub fn git_revision() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output();
    let rev = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => return "unknown".to_string(),
    };
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{rev}-dirty")
    } else {
        rev
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report<S: Serialize> {
    pub tool: &'static str,
    pub label: String,
    pub git_revision: String,
    pub started_unix_s: u64,
    /// CLOCK_MONOTONIC (s) at the instant the intervals' `t_s` count from (`bolide::clock::monotonic_s`).
    pub clock_monotonic_start_s: f64,
    pub machine: Machine,
    pub settings: S,
    /// Seconds over which the results were measured (after warm-up).
    pub measured_s: f64,
    pub send: Option<SideResult>,
    pub consume: Option<SideResult>,
    /// Messages the broker reports stored (sum of GET_MAX_OFFSET deltas over the topic's queues).
    pub stored_messages: Option<i64>,
    pub intervals: Vec<IntervalPoint>,
    pub notes: Vec<String>,
}

pub fn print_final(send: Option<&SideResult>, consume: Option<&SideResult>, measured_s: f64) {
    println!("---- result over {measured_s:.1} s (after warm-up) ----");
    let lat = |l: &LatencySummary| {
        format!(
            "p50 {:.1} | p90 {:.1} | p99 {:.1} | p99.9 {:.1} | p99.99 {:.1} | max {:.1} (µs, n={})",
            l.p50, l.p90, l.p99, l.p99_9, l.p99_99, l.max, l.count
        )
    };
    if let Some(s) = send {
        println!(
            "send:    {:.0} msgs/s | {:.2} MB/s | {} msgs | send failed {} | response failed {} {:?}",
            s.msgs_per_sec, s.mb_per_sec, s.messages, s.send_failed, s.response_failed, s.failure_codes
        );
        if s.latency_us.count > 0 {
            println!("  latency  {}", lat(&s.latency_us));
        }
    }
    if let Some(c) = consume {
        println!(
            "consume: {:.0} msgs/s | {:.2} MB/s | {} msgs | pull failed {} {:?}",
            c.msgs_per_sec, c.mb_per_sec, c.messages, c.response_failed, c.failure_codes
        );
        if c.latency_us.count > 0 {
            println!("  e2e      {}", lat(&c.latency_us));
        }
    }
}
