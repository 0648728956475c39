//! One data directory, one broker: a second `bolide serve` on a directory a running broker holds
//! stops at start-up with an error naming the holder's pid (other ports, so the port check does
//! not catch it first), and the lock dies with its holder, even after kill -9. Ports 24552-24558.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/broker_process.rs"]
mod broker_process;
use broker_process::{fresh_dir, test_dir, BrokerProcess};

#[test]
fn a_second_broker_on_a_held_directory_stops_and_the_lock_dies_with_its_holder() {
    let dir = test_dir("data-dir-lock");
    fresh_dir(&dir);
    let data = dir.join("data");
    let mut first = BrokerProcess::start(&data, &dir.join("first.log"), 24552, 24555, &[], &[]);

    let mut second = Command::new(env!("CARGO_BIN_EXE_bolide"))
        .args(["serve", "--data-dir", data.to_str().unwrap()])
        .args([
            "--namesrv-port",
            "24554",
            "--broker-port",
            "24558",
            "--listen-ip",
            "127.0.0.1",
        ])
        .args(["--segment-size", &(16u64 << 20).to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second broker on a held directory kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = second.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(
        text.contains(&format!(
            "is in use by another Bolide process (pid {})",
            first.child.id()
        )),
        "{text}"
    );
    // The first broker still has its directory and serves.
    first.wait_answering();

    // kill -9 releases the lock: the next start on the directory works.
    first.kill_9();
    let again = BrokerProcess::resume(&data, &dir.join("again.log"), 24554, 24558, &[], &[]);
    drop(again);
    drop(first);
    let _ = std::fs::remove_dir_all(&dir);
}
