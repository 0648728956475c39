//! A blocking raw-frame connection for tests that talk to a broker process frame by frame and
//! answer what the broker asks them (check-backs, pushed replies): our own client ignores
//! broker-initiated requests, so these tests use this instead.

// Each test binary uses a different part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bolide::remoting::body::{HeartbeatData, ProducerData};
use bolide::remoting::codes::{request, response};
use bolide::remoting::{decode_frame, encode_frame, RemotingCommand, FRAME_MAX_BYTES};
use bytes::BytesMut;

/// A blocking raw-frame connection that also collects broker-initiated requests.
pub struct Raw {
    s: TcpStream,
    buf: BytesMut,
    opaque: i32,
    /// Broker-initiated requests read while waiting for a response.
    pub pushed: Vec<RemotingCommand>,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Raw {
            s,
            buf: BytesMut::new(),
            opaque: 0,
            pushed: Vec::new(),
        }
    }

    pub fn write(&mut self, mut cmd: RemotingCommand) -> i32 {
        self.opaque += 1;
        cmd.opaque = self.opaque;
        let mut out = BytesMut::new();
        encode_frame(&cmd, &mut out);
        self.s.write_all(&out).unwrap();
        self.opaque
    }

    /// Reads one frame, or `None` after `wait`.
    pub fn read(&mut self, wait: Duration) -> Option<RemotingCommand> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(c) = decode_frame(&mut self.buf, FRAME_MAX_BYTES).unwrap() {
                return Some(c);
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut tmp = [0u8; 65536];
            match self.s.read(&mut tmp) {
                Ok(0) => panic!("broker closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    pub fn call(&mut self, cmd: RemotingCommand) -> RemotingCommand {
        let opaque = self.write(cmd);
        loop {
            let c = self
                .read(Duration::from_secs(30))
                .expect("no response in 30 s");
            if c.is_response() && c.opaque == opaque {
                return c;
            }
            if !c.is_response() {
                self.pushed.push(c);
            }
        }
    }

    /// The next broker-initiated request of `code`, waiting up to `wait`.
    pub fn next_push(&mut self, code: i32, wait: Duration) -> Option<RemotingCommand> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(i) = self.pushed.iter().position(|c| c.code == code) {
                return Some(self.pushed.remove(i));
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Some(c) = self.read(left.min(Duration::from_millis(500))) {
                if !c.is_response() {
                    self.pushed.push(c);
                }
            }
        }
    }

    pub fn heartbeat_producer(&mut self, client_id: &str, group: &str) {
        let hb = HeartbeatData {
            client_id: client_id.into(),
            consumer_data_set: vec![],
            producer_data_set: vec![ProducerData {
                group_name: group.into(),
            }],
        };
        let r = self.call(RemotingCommand::request(request::HEART_BEAT).with_body(hb.to_json()));
        assert_eq!(r.code, response::SUCCESS, "{:?}", r.remark);
    }
}

impl Raw {
    /// Writes an answer to a broker-initiated request (its opaque kept).
    pub fn respond(&mut self, cmd: RemotingCommand) {
        let mut out = BytesMut::new();
        encode_frame(&cmd, &mut out);
        self.s.write_all(&out).unwrap();
    }

    /// Reads until the response to `opaque` (from [`Raw::write`]), keeping pushes.
    pub fn response_to(&mut self, opaque: i32, wait: Duration) -> Option<RemotingCommand> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Some(c) = self.read(left.min(Duration::from_millis(500))) {
                if !c.is_response() {
                    self.pushed.push(c);
                } else if c.opaque == opaque {
                    return Some(c);
                }
            }
        }
    }
}
