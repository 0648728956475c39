//! The `bolide` binary as a child process for integration tests: started on loopback with the
//! given ports and flags, waited for until both ports accept, its stderr kept in a log file, and
//! killed (with its data directory removed) when dropped, also when a test panics.
//!
//! Shared by the tests that talk to a real broker (`client.rs`, `acl.rs`, `net_flood.rs`) so that
//! start-up, waiting and clean-up are written once.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct BrokerProcess {
    pub child: Child,
    /// The data directory (removed on drop).
    pub data_dir: PathBuf,
    /// Where the broker's stderr goes (kept on drop, for a failing test's reader).
    pub log: PathBuf,
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
        let _ = std::fs::remove_dir_all(data_dir);
        BrokerProcess::resume(data_dir, log, namesrv_port, broker_port, extra, env)
    }

    /// [`BrokerProcess::start`] on the data directory as it is (a restart after a kill).
    pub fn resume(
        data_dir: &Path,
        log: &Path,
        namesrv_port: u16,
        broker_port: u16,
        extra: &[String],
        env: &[(&str, &str)],
    ) -> BrokerProcess {
        std::fs::create_dir_all(data_dir).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bolide"));
        cmd.args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--namesrv-port", &namesrv_port.to_string()])
            .args(["--broker-port", &broker_port.to_string()])
            .args(["--listen-ip", "127.0.0.1"])
            .args(["--segment-size", &(16u64 << 20).to_string()])
            .args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let mut broker = BrokerProcess {
            child,
            data_dir: data_dir.to_path_buf(),
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        for port in [namesrv_port, broker_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = broker.child.try_wait() {
                    panic!("broker exited early: {status}\n{}", broker.log_text());
                }
                assert!(Instant::now() < deadline, "broker did not listen on {port}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        broker
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
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
