//! `bolide-bench`: a load generator that speaks RocketMQ's remoting protocol itself (through
//! `bolide::client`), for Bolide or any RocketMQ 4.x broker. Only load generation lives here: the
//! connection, route lookup and request encoding are the library's `bolide::client`.
//!
//! Scenarios: `produce` (sync / async / oneway / batch sends, closed loop or open loop at `--rate`),
//! `consume` (tail or catch-up pulls), `e2e` (produce and tail-consume at once: send-to-receipt
//! latency from a timestamp in each body), `catchup` (preload `--messages`, then consume them from
//! the start as fast as possible).
//!
//! Shape: one glommio executor per `--threads` (unpinned, so the OS can share the 2 cores with the
//! broker), each running its share of clients over multiplexed `bolide::client::Conn`s (`load.rs`); the main
//! thread only reports: it snapshots each thread's recorder once per interval. Latency comes from
//! HDR histograms (`stats.rs`); the final report and JSON are in `report.rs`.

/// Same allocator as the broker: the response path allocates a few dozen small strings per
/// message, and glibc malloc was ~13 % of the load generator's samples.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod load;
mod report;
mod stamp;
mod stats;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use glommio::{LocalExecutorBuilder, Placement};
use serde::Serialize;

use bolide::client::{self, Conn, QueueRef, Route};
use load::{LoadPlan, SendMode};
use report::{IntervalPoint, Report};
use stats::{lock, summarize, Recorder, SharedRecorder, Window};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Scenario {
    Produce,
    Consume,
    E2e,
    Catchup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum StartFrom {
    Latest,
    Earliest,
}

#[derive(Debug, Clone, Parser, Serialize)]
#[command(
    name = "bolide-bench",
    about = "RocketMQ remoting load generator: produce, consume, end-to-end; closed and open loop"
)]
struct Args {
    /// NameServer address.
    #[arg(long, default_value = "127.0.0.1:9876")]
    namesrv: String,
    /// Topic (created with --queues queues if missing).
    #[arg(long, default_value = "BenchTopic")]
    topic: String,
    /// Queues when the topic has to be created.
    #[arg(long, default_value_t = 8)]
    queues: i32,
    /// Spread the load over this many topics (`<topic>-0` .. `<topic>-N-1` when more than one):
    /// producers round-robin over the queues of all of them, consumers pull all of them.
    #[arg(long, default_value_t = 1)]
    topics: usize,
    #[arg(long, value_enum, default_value_t = Scenario::Produce)]
    scenario: Scenario,
    /// How producers send.
    #[arg(long, value_enum, default_value_t = SendMode::Sync)]
    mode: SendMode,
    /// Message body size in bytes (>= 16 to carry the end-to-end timestamp).
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Concurrent producers (closed loop: each has one request in flight, `--inflight` in async).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Requests in flight per client in async mode.
    #[arg(long, default_value_t = 8)]
    inflight: usize,
    /// Messages per SEND_BATCH_MESSAGE request in batch mode.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Producer connections per broker and thread (clients share them, pipelined).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Load threads (glommio executors).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Measured seconds (after warm-up).
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Open loop: total messages per second (0 = closed loop).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Send timer messages due this many ms after their send (TIMER_DELIVER_MS); with `e2e` the
    /// end-to-end latency is then the delivery lateness (body stamped with the due time). 0 = off.
    #[arg(long, default_value_t = 0)]
    timer_delay_ms: u64,
    /// Open loop: most requests in flight per connection before sends wait (latency still counts
    /// from the intended send time).
    #[arg(long, default_value_t = 10_000)]
    max_inflight: usize,
    /// Open loop: each connection's pacer sleeps at least this long (µs) between wake-ups and then
    /// sends every request that fell due, in one write; latency still counts from each request's
    /// intended time. 0 = one wake-up per request.
    #[arg(long, default_value_t = 50)]
    tick_us: u64,
    /// Consumer connections per broker (pull loops: one per queue).
    #[arg(long, default_value_t = 2)]
    consumers: usize,
    /// maxMsgNums of each pull.
    #[arg(long, default_value_t = 32)]
    pull_batch: i32,
    /// Where `consume` starts.
    #[arg(long, value_enum, default_value_t = StartFrom::Latest)]
    from: StartFrom,
    /// `catchup`: messages to preload (and then consume).
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    #[arg(long, default_value = "bench_producer")]
    producer_group: String,
    #[arg(long, default_value = "bench_consumer")]
    consumer_group: String,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
    /// Request timeout in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Write a JSON report here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Name of this run in reports.
    #[arg(long, default_value = "")]
    label: String,
}

/// Runs a future on a fresh glommio executor thread and returns its output.
fn on_executor<T, F, G>(name: &str, make: G) -> Result<T, String>
where
    T: Send + 'static,
    G: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = T> + 'static,
{
    LocalExecutorBuilder::new(Placement::Unbound)
        .name(name)
        .spawn(make)
        .map_err(|e| format!("cannot start executor {name}: {e}"))?
        .join()
        .map_err(|e| format!("executor {name} failed: {e}"))
}

/// What a phase does.
struct PhaseSpec {
    name: &'static str,
    produce: bool,
    read_queues: Vec<(QueueRef, i64)>,
    send_budget: Option<i64>,
    recv_target: Option<u64>,
    warmup: f64,
    duration: f64,
}

struct PhaseOutcome {
    send: Window,
    recv: Window,
    measured_s: f64,
    intervals: Vec<IntervalPoint>,
    /// CLOCK_MONOTONIC when the intervals' clock started.
    clock_start_s: f64,
    errors: Vec<String>,
}

fn run_phase(args: &Args, route: &Route, spec: PhaseSpec) -> PhaseOutcome {
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let budget = spec.send_budget.map(|b| Arc::new(AtomicI64::new(b)));
    let threads = args.threads.max(1);
    let mut recorders: Vec<SharedRecorder> = Vec::new();
    let mut handles = Vec::new();
    for t in 0..threads {
        let recorder: SharedRecorder = Arc::new(Mutex::new(Recorder {
            measuring: spec.warmup <= 0.0,
            ..Recorder::default()
        }));
        recorders.push(recorder.clone());
        let plan = LoadPlan {
            thread: t,
            threads,
            producer_group: args.producer_group.clone(),
            consumer_group: args.consumer_group.clone(),
            size: args.size,
            mode: args.mode,
            clients: if spec.produce { args.clients } else { 0 },
            inflight: args.inflight,
            batch: args.batch,
            connections: args.connections,
            rate: if spec.send_budget.is_some() {
                0.0
            } else {
                args.rate
            },
            timer_delay_ms: args.timer_delay_ms,
            max_inflight: args.max_inflight,
            tick: Duration::from_micros(args.tick_us),
            write_queues: route.write_queues.clone(),
            read_queues: spec.read_queues.clone(),
            consumers: args.consumers,
            pull_batch: args.pull_batch,
            timeout: Duration::from_millis(args.timeout_ms),
            send_budget: budget.clone(),
            stop: stop.clone(),
            received: received.clone(),
            recorder,
        };
        let done = finished.clone();
        let h = LocalExecutorBuilder::new(Placement::Unbound)
            .name(&format!("bench-{t}"))
            .spawn(move || async move {
                let r = load::run_thread(plan).await;
                done.fetch_add(1, Ordering::SeqCst);
                r
            });
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                eprintln!("cannot start load thread {t}: {e}");
                finished.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    let start = Instant::now();
    let clock_start_s = bolide::clock::monotonic_s();
    let mut measure_start = if spec.warmup <= 0.0 {
        Some(start)
    } else {
        None
    };
    let mut last_tick = start;
    let mut intervals = Vec::new();
    let end_at = spec.warmup.max(0.0) + spec.duration;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        let t = now.duration_since(start).as_secs_f64();
        let all_done = finished.load(Ordering::SeqCst) == threads;
        let target_hit = spec
            .recv_target
            .is_some_and(|n| received.load(Ordering::Relaxed) >= n);
        let done = all_done || target_hit || t >= end_at;
        if measure_start.is_none() && t >= spec.warmup {
            for r in &recorders {
                lock(r).measuring = true;
            }
            measure_start = Some(now);
        }
        let dt = now.duration_since(last_tick).as_secs_f64();
        if dt >= args.interval || done {
            let (mut send, mut recv) = (Window::default(), Window::default());
            for r in &recorders {
                let mut g = lock(r);
                send.add(&g.send);
                recv.add(&g.recv);
                g.send.reset();
                g.recv.reset();
            }
            let warm = measure_start.is_none_or(|m| m > last_tick);
            println!(
                "{}{}",
                if spec.name.is_empty() {
                    String::new()
                } else {
                    format!("{} ", spec.name)
                },
                report::progress_line(t, &send, &recv, dt.max(1e-3), warm)
            );
            let sl = summarize(&send.latency);
            intervals.push(IntervalPoint {
                t_s: (t * 1000.0).round() / 1000.0,
                send_msgs_per_sec: (send.msgs as f64 / dt.max(1e-3)).round(),
                send_p50_us: sl.p50,
                send_p99_us: sl.p99,
                send_max_us: sl.max,
                recv_msgs_per_sec: (recv.msgs as f64 / dt.max(1e-3)).round(),
                e2e_p99_us: summarize(&recv.latency).p99,
            });
            last_tick = now;
        }
        if done {
            break;
        }
    }
    let measured_s = measure_start.map_or(0.0, |m| m.elapsed().as_secs_f64());
    stop.store(true, Ordering::SeqCst);
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("load thread failed: {e}")),
        }
    }
    let (mut send, mut recv) = (Window::default(), Window::default());
    for r in &recorders {
        let g = lock(r);
        send.add(&g.send_total);
        recv.add(&g.recv_total);
    }
    PhaseOutcome {
        send,
        recv,
        measured_s,
        intervals,
        clock_start_s,
        errors,
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bolide-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.clients == 0 && matches!(args.scenario, Scenario::Produce | Scenario::E2e) {
        return Err("--clients must be at least 1".into());
    }
    let started_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let timeout = Duration::from_millis(args.timeout_ms);
    let load_avg_start = report::load_avg();

    // Route, and the queues' max offsets before the run (start offsets and the stored count).
    if args.topics == 0 {
        return Err("--topics must be at least 1".into());
    }
    let topics: Vec<String> = if args.topics == 1 {
        vec![args.topic.clone()]
    } else {
        (0..args.topics)
            .map(|i| format!("{}-{i}", args.topic))
            .collect()
    };
    let (namesrv, queues) = (args.namesrv.clone(), args.queues);
    let (route, before) = on_executor("bench-setup", move || async move {
        let mut route = Route::default();
        for topic in &topics {
            let r = client::lookup_or_create(&namesrv, topic, queues, timeout)
                .await
                .map_err(|e| e.to_string())?;
            route.write_queues.extend(r.write_queues);
            route.read_queues.extend(r.read_queues);
        }
        let offsets = queue_offsets(&route.read_queues, timeout).await?;
        Ok::<_, String>((route, offsets))
    })??;
    let brokers = route.broker_addrs();
    println!(
        "bolide-bench: topic {}{} on {} write / {} read queues at {:?}; scenario {:?}, mode {:?}, {} B, {} clients{}",
        args.topic,
        if args.topics > 1 { format!(" (x{} topics)", args.topics) } else { String::new() },
        route.write_queues.len(),
        route.read_queues.len(),
        brokers,
        args.scenario,
        args.mode,
        args.size,
        args.clients,
        if args.rate > 0.0 {
            format!(", open loop at {} msgs/s", args.rate)
        } else {
            ", closed loop".to_string()
        }
    );

    let mut notes = Vec::new();
    let outcome = match args.scenario {
        Scenario::Produce => run_phase(
            args,
            &route,
            PhaseSpec {
                name: "",
                produce: true,
                read_queues: Vec::new(),
                send_budget: None,
                recv_target: None,
                warmup: args.warmup,
                duration: args.duration,
            },
        ),
        Scenario::Consume | Scenario::E2e => {
            let start: Vec<(QueueRef, i64)> = match (args.scenario, args.from) {
                (Scenario::Consume, StartFrom::Earliest) => {
                    before.iter().map(|(q, _)| (q.clone(), 0)).collect()
                }
                _ => before.clone(),
            };
            run_phase(
                args,
                &route,
                PhaseSpec {
                    name: "",
                    produce: args.scenario == Scenario::E2e,
                    read_queues: start,
                    send_budget: None,
                    recv_target: None,
                    warmup: args.warmup,
                    duration: args.duration,
                },
            )
        }
        Scenario::Catchup => {
            println!("preloading {} messages ...", args.messages);
            let pre = run_phase(
                args,
                &route,
                PhaseSpec {
                    name: "preload",
                    produce: true,
                    read_queues: Vec::new(),
                    send_budget: Some(args.messages as i64),
                    recv_target: None,
                    warmup: 0.0,
                    duration: 3_600.0,
                },
            );
            notes.push(format!(
                "preload: {} msgs in {:.1} s ({:.0} msgs/s), {} failed",
                pre.send.msgs,
                pre.measured_s,
                pre.send.msgs as f64 / pre.measured_s.max(1e-9),
                pre.send.send_failed + pre.send.response_failed
            ));
            println!("{}", notes[0]);
            run_phase(
                args,
                &route,
                PhaseSpec {
                    name: "catch-up",
                    produce: false,
                    read_queues: before.clone(),
                    send_budget: None,
                    recv_target: Some(pre.send.msgs),
                    warmup: 0.0,
                    duration: args.duration,
                },
            )
        }
    };
    for e in &outcome.errors {
        eprintln!("load error: {e}");
        notes.push(format!("error: {e}"));
    }

    let read_queues = route.read_queues.clone();
    let after = on_executor("bench-check", move || async move {
        // Oneway requests have no answer to wait for: give the broker a moment to store the tail.
        glommio::timer::sleep(Duration::from_millis(500)).await;
        queue_offsets(&read_queues, timeout).await
    })?;
    let stored = match after {
        Ok(after) => Some(
            after.iter().map(|(_, o)| o).sum::<i64>() - before.iter().map(|(_, o)| o).sum::<i64>(),
        ),
        Err(e) => {
            notes.push(format!("stored count unavailable: {e}"));
            None
        }
    };

    let elapsed = outcome.measured_s.max(1e-9);
    let send = (outcome.send.msgs > 0
        || outcome.send.send_failed + outcome.send.response_failed > 0)
        .then(|| report::side_result(&outcome.send, elapsed));
    let consume = (!matches!(args.scenario, Scenario::Produce))
        .then(|| report::side_result(&outcome.recv, elapsed));
    report::print_final(send.as_ref(), consume.as_ref(), outcome.measured_s);
    if let Some(n) = stored {
        println!("stored by the broker during the run (max offset delta): {n}");
    }
    println!(
        "load average at start: {load_avg_start}; at end: {}",
        report::load_avg()
    );
    if let Some(path) = &args.json {
        let rep = Report {
            tool: "bolide-bench",
            label: args.label.clone(),
            git_revision: report::git_revision(),
            started_unix_s,
            clock_monotonic_start_s: outcome.clock_start_s,
            machine: report::machine(load_avg_start.clone()),
            settings: args.clone(),
            measured_s: (outcome.measured_s * 1000.0).round() / 1000.0,
            send,
            consume,
            stored_messages: stored,
            intervals: outcome.intervals,
            notes,
        };
        let text = serde_json::to_string_pretty(&rep).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        println!("report written to {}", path.display());
    }
    if outcome.errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{} load thread(s) failed", outcome.errors.len()))
    }
}

/// Each read queue with its current max offset.
async fn queue_offsets(
    queues: &[QueueRef],
    timeout: Duration,
) -> Result<Vec<(QueueRef, i64)>, String> {
    let mut out = Vec::with_capacity(queues.len());
    let mut conns: Vec<std::rc::Rc<Conn>> = Vec::new();
    for q in queues {
        let conn = match conns.iter().find(|c| c.addr() == q.broker_addr) {
            Some(c) => c.clone(),
            None => {
                let c = Conn::connect(&q.broker_addr, timeout)
                    .await
                    .map_err(|e| e.to_string())?;
                conns.push(c.clone());
                c
            }
        };
        let offset = conn
            .max_offset(&q.topic, q.queue_id)
            .await
            .map_err(|e| e.to_string())?;
        out.push((q.clone(), offset));
    }
    // Closed before the load connects: left open, the broker would count it when it spreads the
    // producers' connections over its shards (`net::spread`).
    for c in conns {
        c.close();
    }
    Ok(out)
}
