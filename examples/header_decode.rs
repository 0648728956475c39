//! Micro-benchmark of the remoting frame codec on the headers the broker handles per message: it
//! decodes a Java 4.9.8 SEND_MESSAGE_V2 (13 fields, escaped properties) and a PULL_MESSAGE, and
//! encodes the answer to a send, and reads a pull's fields. Reports ns per frame; decoding net of copying the frame into a
//! fresh buffer (measured alone in the same run).
//!
//! `cargo run --release --example header_decode [iterations]`. A figure, not a test: noisy machines
//! vary by 10 % or more between runs; compare builds alternately in the same session.

use std::hint::black_box;
use std::time::Instant;

use bolide::remoting::headers::PullMessageHeader;
use bolide::remoting::{decode_frame, encode_frame, RemotingCommand, FRAME_MAX_BYTES};
use bytes::{Bytes, BytesMut};

#[path = "../tests/common/java_v2_send.rs"]
mod java_v2_send;

fn frame(code: i32, fields: &[(&str, &str)], body: usize) -> Vec<u8> {
    let mut cmd = RemotingCommand::request(code).with_opaque(123_456);
    for (k, v) in fields {
        cmd.set_ext(k, *v);
    }
    cmd.body = Bytes::from(vec![7u8; body]);
    let mut buf = BytesMut::new();
    encode_frame(&cmd, &mut buf);
    buf.to_vec()
}

fn per_frame(wire: &[u8], n: u32, decode: bool) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        let mut buf = BytesMut::from(wire);
        if decode {
            black_box(decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap().unwrap());
        } else {
            black_box(&mut buf);
        }
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let send = frame(310, &java_v2_send::FIELDS, 1024);
    let pull = frame(
        11,
        &[
            ("consumerGroup", "bench_consumer"),
            ("topic", "TopicTest"),
            ("queueId", "3"),
            ("queueOffset", "1234567"),
            ("maxMsgNums", "32"),
            ("sysFlag", "2"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "15000"),
            ("subVersion", "0"),
        ],
        0,
    );
    // Encoding: the answer to a send, as the broker builds and writes it.
    let mut answer = RemotingCommand::request(310)
        .with_opaque(123_456)
        .response(0);
    answer.set_ext("msgId", "7F00000100002A9F0000000000A1B2C3");
    answer.set_ext("queueId", 3);
    answer.set_ext("queueOffset", 1_234_567i64);
    answer.set_ext("MSG_REGION", "DefaultRegion");
    answer.set_ext("TRACE_ON", "true");
    let mut out = BytesMut::with_capacity(4096);
    for round in 0..3 {
        let t = Instant::now();
        for _ in 0..n {
            out.clear();
            encode_frame(black_box(&answer), &mut out);
            black_box(&out);
        }
        println!(
            "send answer round {round}: {:.0} ns/frame encoding ({} bytes)",
            t.elapsed().as_nanos() as f64 / n as f64,
            out.len()
        );
    }
    // Reading a pull's fields from its extFields (11 lookups), as the broker does per pull.
    let pull_cmd = decode_frame(&mut BytesMut::from(&pull[..]), FRAME_MAX_BYTES)
        .unwrap()
        .unwrap();
    for round in 0..3 {
        let t = Instant::now();
        for _ in 0..n {
            black_box(PullMessageHeader::parse(black_box(&pull_cmd)).unwrap());
        }
        println!(
            "pull fields round {round}: {:.0} ns/header",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    }
    for (name, wire) in [("send_v2", &send), ("pull", &pull)] {
        for round in 0..3 {
            let copy = per_frame(wire, n, false);
            let all = per_frame(wire, n, true);
            println!(
                "{name} round {round}: {:.0} ns/frame decoding ({:.0} with the copy, header {} bytes)",
                all - copy,
                all,
                u32::from_be_bytes([wire[4], wire[5], wire[6], wire[7]]) & 0xff_ffff
            );
        }
    }
}
