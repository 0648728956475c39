//! The connection and the typed requests against scripted peers on loopback: behaviour a real
//! broker cannot be made to show on demand (answers out of order, silence, a dropped socket,
//! malformed or refusing answers).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crate::remoting::codes::{request, response};
use crate::remoting::headers::write_offset;
use crate::remoting::{decode_frame, encode_frame, RemotingCommand, FRAME_MAX_BYTES};

use super::{ClientError, Conn};

/// Runs `f` on a fresh glommio executor and returns its output.
fn on_glommio<T: Send + 'static, F, Fut>(f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// A one-connection peer on a thread: reads requests and hands each batch of decoded requests to
/// `script`, which returns the responses to write; an empty `Err(())` closes the socket.
fn peer<S>(mut script: S) -> String
where
    S: FnMut(Vec<RemotingCommand>) -> Result<Vec<RemotingCommand>, ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut buf = BytesMut::new();
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = match sock.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let mut got = Vec::new();
            while let Some(cmd) = decode_frame(&mut buf, FRAME_MAX_BYTES).unwrap() {
                got.push(cmd);
            }
            let Ok(answers) = script(got) else { return };
            let mut out = BytesMut::new();
            for a in &answers {
                encode_frame(a, &mut out);
            }
            if sock.write_all(&out).is_err() {
                return;
            }
        }
    });
    addr
}

/// Collects requests until `n` arrived, then answers all of them in reverse order.
fn reverse_after(n: usize) -> impl FnMut(Vec<RemotingCommand>) -> Result<Vec<RemotingCommand>, ()> {
    let mut held = Vec::new();
    move |got| {
        held.extend(got);
        if held.len() < n {
            return Ok(Vec::new());
        }
        Ok(held
            .drain(..)
            .rev()
            .map(|c| {
                let n = c.ext("n").unwrap_or("").to_string();
                c.response(response::SUCCESS).with_remark(n)
            })
            .collect())
    }
}

#[test]
fn responses_are_matched_by_opaque_not_by_order() {
    let addr = peer(reverse_after(3));
    let remarks = on_glommio(move || async move {
        let conn = Conn::connect(&addr, Duration::from_secs(5)).await.unwrap();
        // All three are written before anything is awaited (eager writes).
        let futs: Vec<_> = (0..3)
            .map(|i| conn.call(RemotingCommand::request(request::HEART_BEAT).with_ext("n", i)))
            .collect();
        assert_eq!(conn.in_flight(), 3);
        let mut remarks = Vec::new();
        for f in futs {
            remarks.push(f.await.unwrap().remark.unwrap());
        }
        assert_eq!(conn.in_flight(), 0);
        remarks
    });
    assert_eq!(remarks, ["0", "1", "2"]);
}

#[test]
fn callbacks_run_with_their_own_response() {
    let addr = peer(reverse_after(2));
    let seen = on_glommio(move || async move {
        let conn = Conn::connect(&addr, Duration::from_secs(5)).await.unwrap();
        let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
        for i in 0..2 {
            let seen = seen.clone();
            conn.send_with(
                |opaque, out| {
                    let cmd = RemotingCommand::request(request::HEART_BEAT)
                        .with_ext("n", i)
                        .with_opaque(opaque);
                    encode_frame(&cmd, out);
                },
                Box::new(move |r| seen.borrow_mut().push((i, r.unwrap().remark.unwrap()))),
            );
        }
        while conn.in_flight() > 0 {
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        let v = seen.borrow().clone();
        v
    });
    assert_eq!(seen, [(1, "1".to_string()), (0, "0".to_string())]);
}

#[test]
fn silence_is_a_timeout_within_timeout_plus_sweep() {
    let addr = peer(|_| Ok(Vec::new()));
    let (err, waited) = on_glommio(move || async move {
        let conn = Conn::connect(&addr, Duration::from_millis(300))
            .await
            .unwrap();
        let started = Instant::now();
        let err = conn.max_offset("T", 0).await.unwrap_err();
        assert_eq!(conn.in_flight(), 0);
        assert!(!conn.is_closed(), "a timeout does not close the connection");
        (err, started.elapsed())
    });
    assert!(
        matches!(
            &err,
            ClientError::Timeout {
                timeout_ms: 300,
                ..
            }
        ),
        "{err}"
    );
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(
        waited < Duration::from_millis(300) + super::conn::SWEEP_INTERVAL * 4,
        "{waited:?}"
    );
}

#[test]
fn a_dropped_socket_fails_pending_and_later_requests() {
    let addr = peer(|_| Err(()));
    let addr2 = addr.clone();
    let (pending, later) = on_glommio(move || async move {
        let conn = Conn::connect(&addr2, Duration::from_secs(5)).await.unwrap();
        let pending = conn.max_offset("T", 0).await.unwrap_err();
        assert!(conn.is_closed());
        let later = conn.heartbeat(&Default::default()).await.unwrap_err();
        (pending, later)
    });
    assert_eq!(pending, ClientError::Closed { addr: addr.clone() });
    assert_eq!(later, ClientError::Closed { addr });
}

#[test]
fn connect_failure_names_the_address() {
    // A port that was just free: bind, note it, release it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let a = addr.clone();
    let err = on_glommio(move || async move {
        Conn::connect(&a, Duration::from_secs(1))
            .await
            .err()
            .unwrap()
    });
    assert!(
        matches!(&err, ClientError::Connect { addr: x, .. } if *x == addr),
        "{err}"
    );
}

/// Answers every request with `answer(request)`.
fn answering(answer: impl Fn(&RemotingCommand) -> RemotingCommand + Send + 'static) -> String {
    peer(move |got| Ok(got.iter().map(&answer).collect()))
}

#[test]
fn typed_requests_map_codes_to_results_and_errors() {
    let addr = answering(|c| match (c.code, c.ext("topic")) {
        (request::GET_ROUTEINFO_BY_TOPIC, _) => c.response(response::TOPIC_NOT_EXIST),
        (request::QUERY_CONSUMER_OFFSET, Some("missing")) => c.response(response::QUERY_NOT_FOUND),
        (request::QUERY_CONSUMER_OFFSET, _) => {
            let mut r = c.response(response::SUCCESS);
            write_offset(&mut r, 42);
            r
        }
        (request::GET_MAX_OFFSET, _) => c.response(response::SUCCESS), // no `offset`
        _ => c.response(response::SYSTEM_ERROR).with_remark("not today"),
    });
    let a = addr.clone();
    on_glommio(move || async move {
        let conn = Conn::connect(&a, Duration::from_secs(5)).await.unwrap();
        assert_eq!(conn.get_route("T").await, Ok(None));
        assert_eq!(
            conn.query_consumer_offset("g", "missing", 0).await,
            Ok(None)
        );
        assert_eq!(conn.query_consumer_offset("g", "T", 0).await, Ok(Some(42)));
        let bad = conn.max_offset("T", 0).await.unwrap_err();
        assert!(
            matches!(
                &bad,
                ClientError::BadResponse {
                    request: request::GET_MAX_OFFSET,
                    ..
                }
            ),
            "{bad}"
        );
        assert_eq!(bad.response_code(), None);
        let refused = conn
            .update_consumer_offset("g", "T", 0, 1)
            .await
            .unwrap_err();
        assert_eq!(
            refused,
            ClientError::Refused {
                addr: a.clone(),
                request: request::UPDATE_CONSUMER_OFFSET,
                code: response::SYSTEM_ERROR,
                remark: "not today".into(),
            }
        );
        assert_eq!(refused.response_code(), Some(response::SYSTEM_ERROR));
    });
}

#[test]
fn route_lookup_without_template_says_so() {
    let addr = answering(|c| c.response(response::TOPIC_NOT_EXIST));
    let err = on_glommio(move || async move {
        super::lookup_or_create(&addr, "Missing", 4, Duration::from_secs(5))
            .await
            .unwrap_err()
    });
    assert_eq!(
        err,
        ClientError::NoTemplateRoute {
            topic: "Missing".into(),
            template: "TBW102".into(),
        }
    );
}

#[test]
fn records_stop_after_the_first_undecodable_one() {
    use crate::message::{encode_record, NewRecord};
    use std::net::SocketAddrV4;

    let host = SocketAddrV4::new([127, 0, 0, 1].into(), 1);
    let mut body = BytesMut::new();
    for b in [&b"one"[..], b"two"] {
        encode_record(
            &NewRecord {
                queue_id: 0,
                flag: 0,
                sys_flag: 0,
                born_timestamp_ms: 0,
                born_host: host,
                store_host: host,
                reconsume_times: 0,
                prepared_tx_offset: 0,
                body: b,
                topic: "T",
                properties: "",
            },
            &mut body,
        )
        .unwrap();
    }
    body.extend_from_slice(&[0xAB; 40]);
    let result = super::PullResult {
        status: super::PullStatus::Found,
        header: crate::remoting::headers::PullResultHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 2,
            min_offset: 0,
            max_offset: 2,
        },
        body: body.freeze(),
    };
    let got: Vec<Result<Vec<u8>, ()>> = result
        .records()
        .map(|r| r.map(|r| r.body.to_vec()).map_err(drop))
        .collect();
    assert_eq!(got, [Ok(b"one".to_vec()), Ok(b"two".to_vec()), Err(())]);
}
