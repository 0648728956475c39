//! The `bolide` binary as a child process for integration tests: started on loopback with the
//! given ports and flags, waited for until its ports accept (and, where a test needs it, until it
//! answers requests), its stderr kept in a log file, killed with SIGKILL and restarted on the same
//! data, and killed (with its data directory removed) when dropped, also when a test panics.
//!
//! Shared by every test that talks to a real broker (`client.rs`, `acl.rs`, `net_flood.rs`,
//! `admin_cli.rs`, `cluster.rs`, `delay_crash.rs`, `transaction.rs`) so that start-up, waiting,
//! restarts and clean-up are written once. `TEST_BROKER_STDERR=1` sends the brokers' stderr to the
//! terminal instead of the log file.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bolide::client::{self, Conn};
use bolide::remoting::codes::request;
use bolide::remoting::{encode_frame, RemotingCommand};
use bytes::BytesMut;

/// How long a process may take to listen, to answer, to stop or to let go of its ports.
const DEADLINE: Duration = Duration::from_secs(60);

pub struct BrokerProcess {
    pub child: Child,
    /// The data directory (removed on drop).
    pub data_dir: PathBuf,
    /// Where the broker's stderr goes (kept on drop, for a failing test's reader; a restart
    /// appends to it).
    pub log: PathBuf,
    /// The command line after the binary's name, to restart with.
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// The ports waited for at each start (a broker's: NameServer, then broker).
    pub ports: Vec<u16>,
}

impl BrokerProcess {
    /// Starts `bolide serve` with data in `data_dir` (created fresh), 16 MiB segments, listening on
    /// 127.0.0.1 at `namesrv_port` and `broker_port`, plus `extra` flags; waits up to 60 s for both
    /// ports. `env` adds environment variables (e.g. `RUST_LOG`).
    pub fn start(
        data_dir: &Path,
        log: &Path,
        namesrv_port: u16,
        broker_port: u16,
        extra: &[String],
        env: &[(&str, &str)],
    ) -> BrokerProcess {
        fresh_dir(data_dir);
        BrokerProcess::resume(data_dir, log, namesrv_port, broker_port, extra, env)
    }

    /// [`BrokerProcess::start`] on the data directory as it is (a restart after a kill, under a
    /// new log or command line).
    pub fn resume(
        data_dir: &Path,
        log: &Path,
        namesrv_port: u16,
        broker_port: u16,
        extra: &[String],
        env: &[(&str, &str)],
    ) -> BrokerProcess {
        std::fs::create_dir_all(data_dir).expect("create the data dir");
        let mut args: Vec<String> = vec!["serve".into(), "--data-dir".into()];
        args.push(data_dir.to_str().expect("UTF-8 data dir").into());
        args.extend(strings(&[
            "--namesrv-port",
            &namesrv_port.to_string(),
            "--broker-port",
            &broker_port.to_string(),
            "--listen-ip",
            "127.0.0.1",
            "--segment-size",
            &(16u64 << 20).to_string(),
        ]));
        args.extend_from_slice(extra);
        BrokerProcess::spawn(args, data_dir, log, &[namesrv_port, broker_port], env)
    }

    /// Like [`BrokerProcess::start`], then waits until both ports answer requests
    /// ([`BrokerProcess::wait_answering`]): for tests whose first request must not meet a shard
    /// still recovering.
    pub fn start_answering(
        data_dir: &Path,
        log: &Path,
        namesrv_port: u16,
        broker_port: u16,
        extra: &[String],
    ) -> BrokerProcess {
        let mut b = BrokerProcess::start(data_dir, log, namesrv_port, broker_port, extra, &[]);
        b.wait_answering();
        b
    }

    /// Runs `bolide ARGS` (any subcommand: `serve`, `namesrv`) with stdout discarded and stderr
    /// to a new `log`; waits up to 60 s until each of `ports` accepts a connection. `data_dir` is
    /// only removed on drop: the caller creates it if the command needs one.
    pub fn spawn(
        args: Vec<String>,
        data_dir: &Path,
        log: &Path,
        ports: &[u16],
        env: &[(&str, &str)],
    ) -> BrokerProcess {
        let _ = std::fs::remove_file(log);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut p = BrokerProcess {
            child: spawn_child(&args, &env, log),
            data_dir: data_dir.to_path_buf(),
            log: log.to_path_buf(),
            args,
            env,
            ports: ports.to_vec(),
        };
        p.wait_listening();
        p
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the process has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "bolide {} exited early: {status}\n{}",
                self.args[0],
                self.log_text()
            );
        }
    }

    /// Waits up to 60 s until every port accepts a connection.
    pub fn wait_listening(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        for port in self.ports.clone() {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                self.assert_running();
                assert!(
                    Instant::now() < deadline,
                    "bolide {} did not listen on {port}",
                    self.args[0]
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Waits up to 60 s until every port answers a request. A port that accepts is not enough:
    /// the ports listen before the shards end recovery, and with SO_REUSEPORT a killed broker
    /// whose io_uring teardown is not finished may still hold a listener of the same port for a
    /// moment, and connections landing there are reset.
    pub fn wait_answering(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "broker did not answer on {:?}",
                self.ports
            );
            if self.ports.iter().all(|p| probe(*p)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9 (Child::kill sends SIGKILL), then waits until the ports no longer accept: the
    /// killed process may hold its listeners until its io_uring teardown ends.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
        let deadline = Instant::now() + DEADLINE;
        while self
            .ports
            .iter()
            .any(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
        {
            assert!(Instant::now() < deadline, "killed broker still listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the same command again on the same data directory (after [`BrokerProcess::kill_9`]
    /// or an exit), its stderr appended to the log, and waits until it answers.
    pub fn restart(&mut self) {
        self.child = spawn_child(&self.args, &self.env, &self.log);
        self.wait_listening();
        self.wait_answering();
    }

    /// kill -9, then start again on the same data directory.
    pub fn kill_9_and_restart(&mut self) {
        self.kill_9();
        self.restart();
    }

    /// Sends signal `sig` (e.g. `libc::SIGTERM`) to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Waits up to 60 s for the process to exit.
    pub fn wait_exit(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "process did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// `bolide ARGS` with stdout discarded and stderr appended to `log` (or the terminal's, with
/// `TEST_BROKER_STDERR` set).
fn spawn_child(args: &[String], env: &[(String, String)], log: &Path) -> Child {
    let stderr = if std::env::var_os("TEST_BROKER_STDERR").is_some() {
        Stdio::inherit()
    } else {
        Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bolide"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::null()).stderr(stderr).spawn().unwrap()
}

/// Whether a GET_MAX_OFFSET on `port` gets an answer (any code) on five fresh connections in a row.
fn probe(port: u16) -> bool {
    (0..5).all(|_| {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let cmd = RemotingCommand::request(request::GET_MAX_OFFSET)
            .with_ext("topic", "probe")
            .with_ext("queueId", 0)
            .with_opaque(1);
        let mut out = BytesMut::new();
        encode_frame(&cmd, &mut out);
        if s.write_all(&out).is_err() {
            return false;
        }
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).is_ok()
    })
}

/// `CARGO_TARGET_TMPDIR/<name>-<pid>`: a test's own place on a real filesystem (not created).
pub fn test_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()))
}

/// Removes `dir` with everything in it, then creates it empty.
pub fn fresh_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
}

/// Owned copies of `args`, for a command line.
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `--set KEY=VALUE` for each of `settings`.
pub fn sets(settings: &[&str]) -> Vec<String> {
    settings
        .iter()
        .flat_map(|s| ["--set".to_string(), s.to_string()])
        .collect()
}

/// `127.0.0.1:PORT`.
pub fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// Creates `topic` with `queues` queues through the NameServer on `namesrv_port` (from TBW102's
/// brokers) unless it exists, then connects to the broker on `broker_port`.
pub async fn topic_conn(
    namesrv_port: u16,
    broker_port: u16,
    topic: &str,
    queues: i32,
    timeout: Duration,
) -> Rc<Conn> {
    client::lookup_or_create(&addr(namesrv_port), topic, queues, timeout)
        .await
        .unwrap();
    Conn::connect(&addr(broker_port), timeout).await.unwrap()
}

/// Runs `f` on a fresh glommio executor and returns its output.
pub fn on_glommio<T: Send + 'static, Fut>(f: impl FnOnce() -> Fut + Send + 'static) -> T
where
    Fut: std::future::Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}
