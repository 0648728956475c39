//! How many heap allocations the hottest per-message work makes: decoding a Java V2 send request,
//! building its response, and the message's properties on the put path. Counted, not timed, so that
//! it holds on a noisy machine: each send paid 40 allocations to decode, 15 to answer and 16 for its
//! properties while both were `Vec<(String, String)>`, and a change that brings per-pair
//! allocations back shows here first.
//!
//! The counter is per thread, so the test harness's own threads do not disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bolide::message::properties::Properties;
use bolide::remoting::{decode_frame, encode_frame, RemotingCommand, FRAME_MAX_BYTES};
use bytes::{Bytes, BytesMut};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down has no counter, and that is fine.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

#[path = "common/java_v2_send.rs"]
mod java_v2_send;

/// A SEND_MESSAGE_V2 request as a Java 4.9.8 producer sends it: 13 single-letter fields, the
/// properties with their \u0001 and \u0002 separators (escaped in the JSON header), a 1 KiB body.
fn java_v2_send() -> BytesMut {
    let mut cmd = RemotingCommand::request(310).with_opaque(77);
    for (k, v) in java_v2_send::FIELDS {
        cmd.set_ext(k, v);
    }
    cmd.body = Bytes::from(vec![7u8; 1024]);
    let mut buf = BytesMut::new();
    encode_frame(&cmd, &mut buf);
    buf
}

#[test]
fn a_java_v2_send_decodes_and_is_answered_with_a_handful_of_allocations() {
    let mut frame = java_v2_send();
    let (req, decode) = allocations(|| decode_frame(&mut frame, FRAME_MAX_BYTES).unwrap().unwrap());
    assert_eq!(req.ext("b"), Some("TopicTest"));
    assert_eq!(req.ext_fields.len(), 13);
    // The extFields text and its index, the escaped properties value (serde's scratch and our
    // copy), the header's own bookkeeping: 8 today.
    assert!(decode <= 10, "decoding a V2 send made {decode} allocations");

    // The send response's fields, as `send_response` sets them.
    let (resp, answer) = allocations(|| {
        req.response(0)
            .with_ext("msgId", "0A00000100002A9F0000000000001234")
            .with_ext("queueId", 3)
            .with_ext("queueOffset", 12345_i64)
            .with_ext("transactionId", "7F0000010001B4AAC00000000000000A")
            .with_ext("MSG_REGION", "DefaultRegion")
            .with_ext("TRACE_ON", "true")
    });
    assert_eq!(resp.ext("queueOffset"), Some("12345"));
    assert!(
        answer <= 4,
        "building a send response made {answer} allocations"
    );
}

#[test]
fn a_sends_properties_are_parsed_extended_and_rebuilt_with_three_allocations() {
    let wire = "UNIQ_KEY\u{1}7F0000010001B4AAC00000000000000A\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}KEYS\u{1}k1 k2";
    let (rebuilt, n) = allocations(|| {
        // What the put path does: parse, add the broker's three, serialise for the record.
        let mut p = Properties::parse(wire);
        p.set("CLUSTER", "DefaultCluster");
        p.set("MSG_REGION", "DefaultRegion");
        p.set("TRACE_ON", "true");
        p.to_wire()
    });
    assert!(
        rebuilt.starts_with(wire) && rebuilt.ends_with("TRACE_ON\u{1}true"),
        "{rebuilt:?}"
    );
    // The list's text and index, and the rebuilt string.
    assert!(n <= 3, "properties made {n} allocations");
}
