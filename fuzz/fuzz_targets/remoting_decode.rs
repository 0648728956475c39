//! Feeds arbitrary bytes to the remoting frame decoder, the typed header parsers and the body
//! parsers. None of them may panic, whatever the input.
#![no_main]

use bolide::remoting::batch::decode_batch;
use bolide::remoting::body::{
    ConsumerListBody, HeartbeatData, LockBatchRequestBody, TopicConfigSerializeWrapper,
    TopicRouteData,
};
use bolide::remoting::headers::{PullMessageHeader, SendMessageHeader};
use bolide::remoting::{decode_frame, encode_frame};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(cmd)) = decode_frame(&mut buf, 1 << 20) {
        let _ = SendMessageHeader::parse(&cmd);
        let _ = PullMessageHeader::parse(&cmd);
        // Whatever decodes must encode and decode back to itself.
        let mut out = BytesMut::new();
        encode_frame(&cmd, &mut out);
        let back = decode_frame(&mut out, 1 << 24)
            .expect("re-decode")
            .expect("whole frame");
        assert_eq!(back, cmd);
    }
    let _ = HeartbeatData::parse(data);
    let _ = TopicRouteData::parse(data);
    let _ = LockBatchRequestBody::parse(data);
    let _ = ConsumerListBody::parse(data);
    let _ = TopicConfigSerializeWrapper::parse(data);
    let _ = decode_batch(data);
});
