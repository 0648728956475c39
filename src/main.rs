//! `bolide`: the broker binary. Thin: parse the command line, layer the config, check the data
//! directory and the ports (so a bad setting is a one-line error and a non-zero exit before anything
//! starts), start the shards, and turn SIGTERM/SIGINT/SIGHUP into an orderly shutdown.

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
    /// Run the broker, with the NameServer role in the same process unless `--namesrv-role off`.
    Serve(ServeArgs),
    /// Operate a running broker (mqadmin's commands; `bolide admin --help`).
    Admin(bolide::admin::AdminArgs),
    /// Run a NameServer only (no storage): brokers register here, clients read routes here.
    Namesrv(NamesrvArgs),
    /// Run a failover controller node (openraft): decides each broker group's master and epoch.
    Controller(ControllerArgs),
}

#[derive(clap::Args)]
struct ControllerArgs {
    /// This node's id, one of `--peers`.
    #[arg(long)]
    id: u64,
    /// Every node of the controller group (1 or 3), `ID=HOST:PORT;ID=HOST:PORT;...`; this node
    /// listens on its own entry's port.
    #[arg(long)]
    peers: String,
    /// Address to listen on (default 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1")]
    listen_ip: Ipv4Addr,
    /// Where the raft log, vote and snapshot are kept.
    #[arg(long)]
    data_dir: PathBuf,
    /// A broker not heard from for this long is not live (ms).
    #[arg(long, default_value_t = 10_000)]
    broker_timeout_ms: u64,
    /// Raft heartbeat interval (ms); elections time out after 4 to 8 of them.
    #[arg(long, default_value_t = 250)]
    raft_heartbeat_ms: u64,
}

#[derive(clap::Args)]
struct NamesrvArgs {
    /// TOML config file or properties file: its edge limits and `namesrv_port` apply.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Port to listen on (default 9876).
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on.
    #[arg(long)]
    listen_ip: Option<Ipv4Addr>,
    /// Set any config key (repeatable); the network-edge limits are the ones that matter here.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
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
    /// HTTP port for `/metrics` and the web console (0 = off, the default); binds `http_listen_ip`
    /// (127.0.0.1 unless set).
    #[arg(long)]
    http_port: Option<u16>,
    /// Serve the NameServer role in this process: `on` (default) or `off` (broker only).
    #[arg(long, value_name = "on|off")]
    namesrv_role: Option<String>,
    /// NameServers to register with, `host:port;host:port` (RocketMQ namesrvAddr).
    #[arg(long)]
    namesrv_addr: Option<String>,
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
        Command::Admin(args) => bolide::admin::run(args).map_err(anyhow::Error::from),
        Command::Namesrv(args) => namesrv(args),
        Command::Controller(args) => controller(args),
    };
    if let Err(e) = result {
        let _ = writeln!(std::io::stderr(), "bolide: error: {e:#}");
        std::process::exit(1);
    }
}

/// Defaults < the config file < `--set` pairs.
fn layer_config(config: Option<&PathBuf>, sets: &[String]) -> anyhow::Result<BrokerConfig> {
    let mut cfg = BrokerConfig::default();
    if let Some(path) = config {
        let unknown = cfg.apply_file(path)?;
        if !unknown.is_empty() {
            tracing::warn!(keys = ?unknown, "config keys not understood (ignored)");
        }
    }
    for kv in sets {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected KEY=VALUE"))?;
        if !cfg.set(k.trim(), v)? {
            bail!("--set {kv}: unknown config key `{}`", k.trim());
        }
    }
    Ok(cfg)
}

fn build_config(args: &ServeArgs) -> anyhow::Result<BrokerConfig> {
    let mut cfg = layer_config(args.config.as_ref(), &args.sets)?;
    if let Some(v) = &args.namesrv_role {
        cfg.set("namesrv_role", v)
            .with_context(|| format!("--namesrv-role {v}: expected on or off"))?;
    }
    if let Some(v) = &args.namesrv_addr {
        cfg.namesrv_addr = bolide::config::parse_namesrv_addr(v);
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
    if let Some(p) = args.http_port {
        cfg.http_port = p;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Turns transparent huge pages off for this process and its threads (see the `disable_thp` key).
/// The kernel checks the flag at each fault, so memory mapped before this call is covered too.
fn disable_thp() {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if r != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot turn transparent huge pages off");
    }
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
    let mut cfg = build_config(&args)?;
    let shards = cfg.shard_count();
    // Pinned here, on the main thread: inside a shard, whose executor is bound to one core,
    // `available_parallelism` says 1, so "one per core" would give every shard the whole of the
    // settings split over the shards (`cache_bytes_max`, `connections_max`).
    cfg.shards = shards;
    if cfg.disable_thp {
        disable_thp();
    }
    // Held until `serve` returns: no second broker may open this directory meanwhile.
    let _data_dir_lock = bolide::storage::datadir::prepare(&cfg.data_dir, shards)?;
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
    {
        // Like the Java broker: the cluster's reply topic, one queue, for request-reply.
        use bolide::broker::state::topics::{perm, TopicConfig};
        let name = bolide::broker::processors::reply::reply_topic(&cfg.cluster_name);
        topics
            .topics
            .entry(name.clone())
            .or_insert_with(|| TopicConfig::new(&name, 1, perm::READ_WRITE));
    }
    {
        // Like the Java broker (`TopicConfigManager.init`, clusterTopicEnable and brokerTopicEnable
        // on by default): a topic named after the cluster (16 queues) and one after the broker (1),
        // readable, writable and usable as a creation template. Their routes are how RocketMQ's
        // proxy finds the cluster's brokers (where it creates its own topics) and a broker's
        // address by its name (acks and changes of invisible time).
        use bolide::broker::state::topics::{perm, TopicConfig};
        for (name, queues) in [(&cfg.cluster_name, 16), (&cfg.broker_name, 1)] {
            topics.topics.entry(name.clone()).or_insert_with(|| {
                TopicConfig::new(name, queues, perm::READ_WRITE | perm::INHERIT)
            });
        }
    }
    raise_fd_limit();
    {
        let limit = bolide::config::fd_limit();
        let files = cfg.shard_cq_open_files_max() * shards;
        tracing::info!(
            fd_limit = limit,
            connections_max = cfg.connections_max,
            cq_open_files_max = files,
            "descriptor budget"
        );
        if limit < (cfg.connections_max + files + 1024) as u64 {
            tracing::warn!(
                fd_limit = limit,
                needed = cfg.connections_max + files + 1024,
                "the descriptor limit is below connections_max + cq_open_files_max + 1024: \
                 raise `ulimit -n` (LimitNOFILE) or lower connections_max"
            );
        }
    }

    let mut ports = vec![cfg.broker_port];
    if cfg.namesrv_role {
        ports.push(cfg.namesrv_port);
    }
    if !cfg.namesrv_role && cfg.namesrv_addr.is_empty() {
        tracing::warn!("NameServer role off and no namesrv_addr: no client can find this broker");
    }
    if cfg.vip_channel {
        ports.push(cfg.broker_port - 2);
    }
    let mut fds_by_shard: Vec<Vec<(u16, RawFd)>> = vec![Vec::new(); shards];
    for port in ports {
        for (k, fd) in bind_listeners(cfg.listen_ip, port, shards)?
            .into_iter()
            .enumerate()
        {
            fds_by_shard[k].push((port, fd));
        }
    }

    // Replication listeners of a master: shard k on ha_listen_port + k (docs/REPLICATION.md).
    let mut ha_fds: Vec<Option<RawFd>> = vec![None; shards];
    if cfg.ha_listens() {
        for (k, slot) in ha_fds.iter_mut().enumerate() {
            let port = cfg.ha_port() + k as u16;
            *slot = bind_listeners(cfg.listen_ip, port, 1)?.into_iter().next();
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
    let request_modes = Arc::new(
        bolide::broker::request_modes::RequestModes::load(&cfg.data_dir)
            .map_err(|e| anyhow::anyhow!("request modes: {e}"))?,
    );
    let http_listener = if cfg.http_port != 0 {
        Some(bolide::http::bind(cfg.http_listen_ip, cfg.http_port)?)
    } else {
        None
    };

    let cfg = Arc::new(cfg);
    let (mesh, inboxes) = router::mesh::<ShardMsg>(shards);
    let metrics_hub = Arc::new(bolide::metrics::MetricsHub::new(shards));
    let failover = cfg
        .enable_controller_mode
        .then(|| Arc::new(bolide::broker::failover::Failover::new(&cfg, shards)));
    let spread =
        (cfg.spread_connections && shards > 1).then(|| Arc::new(bolide::net::Spread::new(shards)));
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
            request_modes: request_modes.clone(),
            metrics: metrics_hub.clone(),
            ha_listen_fd: ha_fds[k],
            spread: spread.clone(),
            failover: failover.clone(),
        })
        .collect();
    let spin =
        (cfg.spin_before_park_us > 0).then(|| Duration::from_micros(cfg.spin_before_park_us));
    let shard_cpus = shard::shard_cpus(startups.len());
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
    if let Some(f) = &failover {
        f.start()
            .context("cannot start the controller heartbeat thread")?;
    }
    if let Some(l) = http_listener {
        let probe = mesh.clone();
        let inboxes: bolide::http::InboxProbe = Box::new(move || {
            probe
                .shards()
                .map(|s| {
                    let st = probe.inbox_stats(s);
                    (s.0, probe.inbox_depth(s) as u64, st.sent, st.waited_full)
                })
                .collect()
        });
        let ctx = bolide::http::HttpContext::new(cfg.clone(), metrics_hub.clone(), inboxes);
        bolide::http::start(l, ctx).context("cannot start the HTTP thread")?;
        tracing::info!(http = %format!("{}:{}", cfg.http_listen_ip, cfg.http_port), "serving /metrics and the console");
    }
    tracing::info!(
        namesrv = %if cfg.namesrv_role { format!("{}:{}", cfg.listen_ip, cfg.namesrv_port) } else { "off".into() },
        registers_with = ?cfg.namesrv_addr,
        cluster = %cfg.cluster_name,
        broker_name = %cfg.broker_name,
        broker = %format!("{}:{}", cfg.listen_ip, cfg.broker_port),
        advertised = %format!("{}:{}", cfg.broker_ip, cfg.broker_port),
        shards,
        shard_cpus = ?shard_cpus,
        flush = ?cfg.flush_mode,
        data_dir = %cfg.data_dir.display(),
        "bolide ready"
    );

    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        // A closed terminal: stop in order, as the JVM does for RocketMQ (the default action
        // would drop the write-behind with the process).
        signal_hook::consts::SIGHUP,
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
    if bolide::broker::failover::restart_requested() {
        // A shard scheduled a cut of its store (failover): start again on the same command line,
        // in place (same pid), so that the store cuts its log at open.
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .exec();
        bail!("cannot restart in place: {err}");
    }
    Ok(())
}

/// `bolide namesrv`: one executor serving [`bolide::nameserver::server`] until SIGTERM/SIGINT.
fn namesrv(args: NamesrvArgs) -> anyhow::Result<()> {
    let mut cfg = layer_config(args.config.as_ref(), &args.sets)?;
    if let Some(p) = args.port {
        cfg.namesrv_port = p;
    }
    if let Some(ip) = args.listen_ip {
        cfg.listen_ip = ip;
    }
    cfg.shards = 1;
    cfg.validate()?;
    raise_fd_limit();
    let fd = bind_listeners(cfg.listen_ip, cfg.namesrv_port, 1)?
        .pop()
        .context("no listening socket")?;
    let limits = bolide::net::ConnLimits::from_config(&cfg);
    let settings = bolide::nameserver::Settings::load(
        cfg.kv_config_path(),
        cfg.namesrv_port,
        cfg.order_message_enable,
    )
    .map_err(|e| anyhow::anyhow!("cannot read the KV config: {e}"))?;
    let (stop_tx, stop_rx) = flume::bounded::<()>(1);
    let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("bolide-namesrv")
        .spawn(move || bolide::nameserver::server::run(fd, limits, settings, stop_rx))
        .map_err(|e| anyhow::anyhow!("cannot start the NameServer executor: {e}"))?;
    tracing::info!(
        namesrv = %format!("{}:{}", cfg.listen_ip, cfg.namesrv_port),
        "bolide namesrv ready"
    );
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        // A closed terminal: stop in order, as the JVM does for RocketMQ (the default action
        // would drop the write-behind with the process).
        signal_hook::consts::SIGHUP,
    ])
    .context("cannot install signal handlers")?;
    if let Some(sig) = signals.forever().next() {
        tracing::info!(signal = sig, "shutting down");
    }
    drop(stop_tx);
    let _ = handle.join();
    tracing::info!("bolide namesrv stopped");
    Ok(())
}

/// `bolide controller`: one controller node on a single-threaded tokio runtime (openraft's) until
/// SIGTERM/SIGINT.
fn controller(args: ControllerArgs) -> anyhow::Result<()> {
    use bolide::controller::{parse_peers, Controller, ControllerConfig};
    let cfg = ControllerConfig {
        id: args.id,
        peers: parse_peers(&args.peers)?,
        data_dir: args.data_dir,
        broker_timeout: Duration::from_millis(args.broker_timeout_ms),
        raft_heartbeat_interval: Duration::from_millis(args.raft_heartbeat_ms),
    };
    cfg.validate()?;
    let own = &cfg.peers[&cfg.id];
    let port: u16 = own
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .context("own peer address has no port")?;
    let listener = std::net::TcpListener::bind((args.listen_ip, port))
        .with_context(|| format!("cannot listen on {}:{port}", args.listen_ip))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the controller runtime")?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<i32>();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        // A closed terminal: stop in order, as the JVM does for RocketMQ (the default action
        // would drop the write-behind with the process).
        signal_hook::consts::SIGHUP,
    ])
    .context("cannot install signal handlers")?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let _ = stop_tx.send(sig);
        }
    });
    runtime.block_on(async move {
        let node = Controller::start(cfg, listener).await?;
        tracing::info!(id = node.id(), "bolide controller ready");
        if let Ok(sig) = stop_rx.await {
            tracing::info!(signal = sig, "shutting down");
        }
        node.shutdown().await;
        anyhow::Ok(())
    })?;
    tracing::info!("bolide controller stopped");
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
