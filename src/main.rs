//! `bolide`: the broker binary. Thin: parse the command line, layer the config, check the data
//! directory and the ports (so a bad setting is a one-line error and a non-zero exit before anything
//! starts), start the shards, and turn SIGTERM/SIGINT into an orderly shutdown.

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use bolide::broker::state::topics::TopicTable;
use bolide::broker::{run_shard, Control, ShardMsg, ShardStartup};
use bolide::config::{parse_flush_mode, BrokerConfig};
use bolide::net::bind_listeners;
use bolide::shard::{self, router};

/// glibc malloc spent a fifth of the broker's CPU under load (`malloc_consolidate` on every
/// record-sized allocation); mimalloc's thread-local free lists suit thread-per-core.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "bolide",
    version,
    about = "A thread-per-core RocketMQ-compatible message broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker and the NameServer role in one process.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML config file, or a RocketMQ broker.conf (`.conf`/`.properties`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (must be on a filesystem that supports O_DIRECT, not tmpfs).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    namesrv_port: Option<u16>,
    /// Broker port; `port - 2` also serves old Java clients' VIP channel.
    #[arg(long)]
    broker_port: Option<u16>,
    /// Flush mode: `sync` (SYNC_FLUSH) or `async` (ASYNC_FLUSH).
    #[arg(long)]
    flush: Option<String>,
    /// Number of shards (executors, one per core); default: one per available core.
    #[arg(long)]
    shards: Option<usize>,
    /// Address to listen on.
    #[arg(long)]
    listen_ip: Option<Ipv4Addr>,
    /// Address advertised to clients (RocketMQ brokerIP1).
    #[arg(long)]
    broker_ip: Option<Ipv4Addr>,
    /// Commit-log segment size in bytes.
    #[arg(long)]
    segment_size: Option<u64>,
    /// Set any config key, e.g. `--set autoCreateTopicEnable=false` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
    };
    if let Err(e) = result {
        let _ = writeln!(std::io::stderr(), "bolide: error: {e:#}");
        std::process::exit(1);
    }
}

fn build_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let mut cfg = BrokerConfig::default();
    if let Some(path) = &args.config {
        let unknown = cfg.apply_file(path)?;
        if !unknown.is_empty() {
            tracing::warn!(keys = ?unknown, "config keys not understood (ignored)");
        }
    }
    for kv in &args.sets {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
        if !cfg.set(k.trim(), v)? {
            bail!("--set {kv}: unknown config key `{}`", k.trim());
        }
    }
    if let Some(d) = &args.data_dir {
        cfg.data_dir = d.clone();
    }
    if let Some(p) = args.namesrv_port {
        cfg.namesrv_port = p;
    }
    if let Some(p) = args.broker_port {
        cfg.broker_port = p;
    }
    if let Some(f) = &args.flush {
        cfg.flush_mode =
            parse_flush_mode(f).with_context(|| format!("--flush {f}: expected sync or async"))?;
    }
    if let Some(n) = args.shards {
        if n == 0 {
            bail!("--shards must be at least 1");
        }
        cfg.shards = n;
    }
    if let Some(ip) = args.listen_ip {
        cfg.listen_ip = ip;
    }
    if let Some(ip) = args.broker_ip {
        cfg.broker_ip = ip;
    }
    if let Some(s) = args.segment_size {
        cfg.segment_size_bytes = s;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = build_config(&args)?;
    let shards = cfg.shard_count();
    bolide::storage::datadir::prepare(&cfg.data_dir, shards)?;
    let topics_path = cfg.data_dir.join("topics.json");
    let mut topics = TopicTable::load(&topics_path)
        .with_context(|| format!("cannot read {}", topics_path.display()))?
        .unwrap_or_default();
    for (name, t) in
        TopicTable::with_defaults(cfg.auto_create_topic, cfg.default_topic_queue_nums).topics
    {
        topics.topics.entry(name).or_insert(t);
    }
    if !cfg.auto_create_topic {
        topics
            .topics
            .remove(bolide::broker::state::topics::DEFAULT_TOPIC);
    }
    if cfg.trace_topic_enable {
        // Like the Java broker's traceTopicEnable: one queue, readable and writable.
        use bolide::broker::state::topics::{perm, TopicConfig};
        let name = cfg.msg_trace_topic_name.clone();
        topics
            .topics
            .entry(name.clone())
            .or_insert_with(|| TopicConfig::new(&name, 1, perm::READ_WRITE));
    }
    raise_fd_limit();

    let mut ports = vec![cfg.namesrv_port, cfg.broker_port];
    if cfg.vip_channel {
        ports.push(cfg.broker_port - 2);
    }
    let mut fds_by_shard: Vec<Vec<RawFd>> = vec![Vec::new(); shards];
    for port in ports {
        for (k, fd) in bind_listeners(cfg.listen_ip, port, shards)?
            .into_iter()
            .enumerate()
        {
            fds_by_shard[k].push(fd);
        }
    }

    let acl = match (&cfg.acl_enable, &cfg.acl_file) {
        (true, Some(path)) => {
            let acl = bolide::acl::Acl::load(path).map_err(|e| anyhow::anyhow!("ACL: {e}"))?;
            acl.watch(Duration::from_secs(1));
            Some(acl)
        }
        _ => None,
    };
    let cfg = Arc::new(cfg);
    let (mesh, inboxes) = router::mesh::<ShardMsg>(shards);
    let (stop_tx, stop_rx) = flume::bounded::<()>(1);
    let (ready_tx, ready_rx) = flume::unbounded();
    let (drained_tx, drained_rx) = flume::unbounded();
    let startups: Vec<ShardStartup> = inboxes
        .into_iter()
        .zip(fds_by_shard)
        .enumerate()
        .map(|(k, (inbox, fds))| ShardStartup {
            cfg: cfg.clone(),
            router: mesh.for_shard(shard::ShardId(k as u16)),
            inbox,
            listen_fds: fds,
            topics: topics.clone(),
            stop: stop_rx.clone(),
            ready: ready_tx.clone(),
            drained: drained_tx.clone(),
            acl: acl.clone(),
        })
        .collect();
    let spin =
        (cfg.spin_before_park_us > 0).then(|| Duration::from_micros(cfg.spin_before_park_us));
    let handles = shard::start(startups, spin, |k, s| {
        // Start-up waits without a time limit, so a shard that panics must say so itself.
        let guard = PanicReport(s.ready.clone(), k);
        async move {
            run_shard(s).await;
            drop(guard);
        }
    })
    .context("cannot start shard executors")?;
    drop(ready_tx);
    drop(drained_tx);
    // No time limit: a shard recovering a long tail after a crash logs its progress (storage::recovery),
    // and giving up would only make the next start do the same work again. A shard that fails says so.
    let waiting_since = std::time::Instant::now();
    let mut ready = 0;
    while ready < shards {
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(_)) => ready += 1,
            Ok(Err(e)) => bail!("{e}"),
            Err(flume::RecvTimeoutError::Timeout) => tracing::info!(
                ready,
                shards,
                waited_s = waiting_since.elapsed().as_secs(),
                "still starting: shards are recovering their stores"
            ),
            Err(flume::RecvTimeoutError::Disconnected) => {
                bail!("a shard stopped before it was ready")
            }
        }
    }
    tracing::info!(
        namesrv = %format!("{}:{}", cfg.listen_ip, cfg.namesrv_port),
        broker = %format!("{}:{}", cfg.listen_ip, cfg.broker_port),
        advertised = %format!("{}:{}", cfg.broker_ip, cfg.broker_port),
        shards,
        flush = ?cfg.flush_mode,
        data_dir = %cfg.data_dir.display(),
        "bolide ready"
    );

    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("cannot install signal handlers")?;
    if let Some(sig) = signals.forever().next() {
        tracing::info!(
            signal = sig,
            "shutting down: no new connections, finishing in-flight requests"
        );
    }
    drop(stop_tx);
    for _ in 0..shards {
        if drained_rx.recv_timeout(Duration::from_secs(30)).is_err() {
            tracing::warn!("a shard did not drain within 30 s");
            break;
        }
    }
    for s in mesh.shards() {
        let (tx, rx) = flume::bounded(1);
        if mesh
            .send_blocking(
                s,
                ShardMsg::Control {
                    op: Control::Shutdown,
                    reply: tx,
                },
            )
            .is_ok()
        {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
    }
    for h in handles {
        let _ = h.join();
    }
    tracing::info!("bolide stopped");
    Ok(())
}

/// Sends a start-up error for its shard if dropped while the shard's thread panics (main waits for
/// every shard to report ready, with no time limit).
struct PanicReport(
    flume::Sender<Result<shard::ShardId, String>>,
    shard::ShardId,
);

impl Drop for PanicReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(Err(format!(
                "{} panicked while starting or running",
                self.1
            )));
        }
    }
}
