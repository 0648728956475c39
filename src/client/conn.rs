//! One multiplexed connection to a broker or NameServer on a glommio executor.
//!
//! Many requests are in flight per connection; responses are matched by opaque. Requests are encoded
//! straight into one output buffer that a writer task flushes with one `write` per batch of frames,
//! so a busy connection costs one syscall per many requests. A reader task decodes responses and
//! completes them: either a waiting [`ResponseFuture`] ([`Conn::call`], [`Conn::call_with`]) or a
//! callback run on the reader task ([`Conn::send_with`], which needs no task per request). A sweeper
//! fails requests older than the timeout so a lost response cannot hang a closed-loop client.
//!
//! ```text
//!   caller ──encode──▶ out buffer ──write_loop──▶ socket ──read_loop──▶ pending[opaque] ──▶ future / callback
//!                                                              sweep_loop (250 ms) ──▶ Timeout
//! ```
//!
//! Everything here is single-threaded (`Rc`, `RefCell`): one connection belongs to one executor.
//! No `RefCell` borrow is held across an `.await`, and no callback runs while one is held.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::remoting::{decode_frame, encode_frame, RemotingCommand, FLAG_ONEWAY, FRAME_MAX_BYTES};

use super::ClientError;

/// How often the sweeper looks for requests older than the timeout.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// Output buffer size above which oneway senders should wait for the writer ([`Conn::writable`]).
const OUT_HIGH_WATER_BYTES: usize = 256 << 10;

/// A one-shot completion slot with a waker (single-threaded oneshot).
#[derive(Default)]
struct Slot {
    value: RefCell<Option<Result<RemotingCommand, ClientError>>>,
    waker: RefCell<Option<Waker>>,
}

impl Slot {
    fn complete(&self, v: Result<RemotingCommand, ClientError>) {
        *self.value.borrow_mut() = Some(v);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// The response to one request already written into the connection's output buffer.
///
/// Resolves exactly once: to the response (whatever its code), or to [`ClientError::Closed`] or
/// [`ClientError::Timeout`]. Dropping it does not take the request back; the response is discarded.
pub struct ResponseFuture(Rc<Slot>);

impl Future for ResponseFuture {
    type Output = Result<RemotingCommand, ClientError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(v) = self.0.value.borrow_mut().take() {
            return Poll::Ready(v);
        }
        *self.0.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A level-triggered wake-up for one waiting task.
#[derive(Default)]
struct Notify {
    set: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    fn notify(&self) {
        self.set.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    fn wait(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.set.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

/// Wakes every task waiting at the time of a `notify` (edge-triggered by epoch).
#[derive(Default)]
struct Broadcast {
    epoch: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Broadcast {
    fn notify(&self) {
        self.epoch.set(self.epoch.get() + 1);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    fn wait(&self) -> impl Future<Output = ()> + '_ {
        let start = self.epoch.get();
        std::future::poll_fn(move |cx| {
            if self.epoch.get() != start {
                Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

/// What to do with a response; runs on the connection's reader (or sweeper) task.
pub type Callback = Box<dyn FnOnce(Result<RemotingCommand, ClientError>)>;

enum Pending {
    Waiter(Rc<Slot>),
    Callback(Callback),
}

struct Entry {
    sent_at: Instant,
    pending: Pending,
}

impl Entry {
    fn finish(self, v: Result<RemotingCommand, ClientError>) {
        match self.pending {
            Pending::Waiter(s) => s.complete(v),
            Pending::Callback(cb) => cb(v),
        }
    }
}

/// A multiplexed connection. Cheap to share as `Rc<Conn>` among the tasks of one executor.
pub struct Conn {
    addr: Rc<str>,
    out: RefCell<BytesMut>,
    write_wanted: Notify,
    drained: Broadcast,
    writing: Cell<bool>,
    pending: RefCell<HashMap<i32, Entry>>,
    next_opaque: Cell<i32>,
    closed: Cell<bool>,
    timeout: Duration,
    /// When set, every request is signed with these (ACL); see [`Conn::set_credentials`].
    credentials: RefCell<Option<Rc<crate::acl::sign::Credentials>>>,
}

impl Conn {
    /// Connects and starts the reader, writer and sweeper tasks on the current glommio executor.
    /// Every request on this connection fails with [`ClientError::Timeout`] when no response came
    /// within `timeout` (checked every [`SWEEP_INTERVAL`]). Panics outside a glommio executor.
    pub async fn connect(addr: &str, timeout: Duration) -> Result<Rc<Conn>, ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::Connect {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        let _ = stream.set_nodelay(true);
        let (reader, writer) = futures_lite::io::split(stream);
        let conn = Rc::new(Conn {
            addr: Rc::from(addr),
            out: RefCell::new(BytesMut::with_capacity(1 << 20)),
            write_wanted: Notify::default(),
            drained: Broadcast::default(),
            writing: Cell::new(false),
            pending: RefCell::new(HashMap::with_capacity(1024)),
            next_opaque: Cell::new(1),
            closed: Cell::new(false),
            timeout,
            credentials: RefCell::new(None),
        });
        glommio::spawn_local(read_loop(conn.clone(), reader)).detach();
        glommio::spawn_local(write_loop(conn.clone(), writer)).detach();
        glommio::spawn_local(sweep_loop(Rc::downgrade(&conn))).detach();
        Ok(conn)
    }

    /// The address this connection was opened to, as given to [`Conn::connect`].
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub(super) fn addr_rc(&self) -> Rc<str> {
        self.addr.clone()
    }

    /// The per-request timeout given to [`Conn::connect`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// True once the socket failed or the peer closed it; every later request fails at once.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Requests sent and not yet answered (nor failed).
    pub fn in_flight(&self) -> usize {
        self.pending.borrow().len()
    }

    fn opaque(&self) -> i32 {
        let o = self.next_opaque.get();
        self.next_opaque.set(o.wrapping_add(1) & i32::MAX);
        o
    }

    /// Runs `encode` on the output buffer, waking the writer if it was idle.
    fn enqueue_with(&self, encode: impl FnOnce(&mut BytesMut)) {
        let mut out = self.out.borrow_mut();
        let was_empty = out.is_empty();
        encode(&mut out);
        if was_empty {
            self.write_wanted.notify();
        }
    }

    fn register(&self, pending: Pending) -> i32 {
        let opaque = self.opaque();
        self.pending.borrow_mut().insert(
            opaque,
            Entry {
                sent_at: Instant::now(),
                pending,
            },
        );
        opaque
    }

    /// Signs every later request with `c` (RocketMQ ACL 1.0), or stops signing with `None`.
    /// Requests given as a [`RemotingCommand`] are signed here; the encoder-based paths of
    /// `requests.rs` (sends) build a signed command when credentials are set.
    pub fn set_credentials(&self, c: Option<crate::acl::sign::Credentials>) {
        *self.credentials.borrow_mut() = c.map(Rc::new);
    }

    /// The credentials requests are signed with, if any.
    pub fn credentials(&self) -> Option<Rc<crate::acl::sign::Credentials>> {
        self.credentials.borrow().clone()
    }

    /// Sends a request (its opaque is overwritten) and returns its response, whatever the code.
    /// The request is in the output buffer when this returns.
    pub fn call(&self, mut cmd: RemotingCommand) -> ResponseFuture {
        if let Some(c) = self.credentials() {
            crate::acl::sign::sign_command(&mut cmd, &c);
        }
        self.call_with(move |opaque, out| {
            cmd.opaque = opaque;
            encode_frame(&cmd, out);
        })
    }

    /// Sends a request that `encode` writes as one whole frame with the opaque it is given (no
    /// allocation per request when `encode` borrows its fields, see
    /// [`SendRequest::encode`](super::SendRequest::encode)). The request is in the output buffer
    /// when this returns.
    pub fn call_with(&self, encode: impl FnOnce(i32, &mut BytesMut)) -> ResponseFuture {
        let slot = Rc::new(Slot::default());
        if self.closed.get() {
            slot.complete(Err(self.closed_error()));
        } else {
            let opaque = self.register(Pending::Waiter(slot.clone()));
            self.enqueue_with(|out| encode(opaque, out));
        }
        ResponseFuture(slot)
    }

    /// Like [`Conn::call_with`], but `cb` runs on the reader task when the response (or an error)
    /// arrives: no task per request. On a closed connection `cb` runs before this returns.
    pub fn send_with(&self, encode: impl FnOnce(i32, &mut BytesMut), cb: Callback) {
        if self.closed.get() {
            cb(Err(self.closed_error()));
            return;
        }
        let opaque = self.register(Pending::Callback(cb));
        self.enqueue_with(|out| encode(opaque, out));
    }

    /// Sends a oneway request that `encode` writes with the given opaque and flag
    /// ([`FLAG_ONEWAY`]); no response is expected. Ok means "in the output buffer", not "received".
    pub fn send_oneway_with(
        &self,
        encode: impl FnOnce(i32, i32, &mut BytesMut),
    ) -> Result<(), ClientError> {
        if self.closed.get() {
            return Err(self.closed_error());
        }
        let opaque = self.opaque();
        self.enqueue_with(|out| encode(opaque, FLAG_ONEWAY, out));
        Ok(())
    }

    /// Waits while the output buffer is above its high-water mark (backpressure for oneway blasts).
    pub async fn writable(&self) {
        while !self.closed.get() && self.out.borrow().len() > OUT_HIGH_WATER_BYTES {
            self.drained.wait().await;
        }
    }

    /// Waits until everything enqueued so far has been written to the socket (or it closed).
    pub async fn flush(&self) {
        while !self.closed.get() && (self.writing.get() || !self.out.borrow().is_empty()) {
            self.drained.wait().await;
        }
    }

    fn closed_error(&self) -> ClientError {
        ClientError::Closed {
            addr: self.addr.to_string(),
        }
    }

    /// Marks the connection closed and fails everything in flight. The socket itself closes when
    /// the reader and writer tasks end: the writer at once, the reader when the peer closes.
    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        self.write_wanted.notify();
        self.drained.notify();
        let entries: Vec<Entry> = self.pending.borrow_mut().drain().map(|(_, e)| e).collect();
        for e in entries {
            e.finish(Err(self.closed_error()));
        }
    }
}

async fn read_loop(conn: Rc<Conn>, mut reader: futures_lite::io::ReadHalf<TcpStream>) {
    let mut buf = BytesMut::with_capacity(1 << 20);
    let mut scratch = vec![0u8; 256 << 10];
    'outer: loop {
        let n = match reader.read(&mut scratch).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&scratch[..n]);
        loop {
            match decode_frame(&mut buf, FRAME_MAX_BYTES) {
                Ok(Some(cmd)) => {
                    if !cmd.is_response() {
                        continue; // broker-initiated requests (notifications) are ignored
                    }
                    let entry = conn.pending.borrow_mut().remove(&cmd.opaque);
                    if let Some(e) = entry {
                        e.finish(Ok(cmd));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(addr = %conn.addr, error = %e, "bad frame, closing the connection");
                    break 'outer;
                }
            }
        }
    }
    conn.close();
}

async fn write_loop(conn: Rc<Conn>, mut writer: futures_lite::io::WriteHalf<TcpStream>) {
    loop {
        if conn.closed.get() {
            break;
        }
        let chunk = {
            let mut out = conn.out.borrow_mut();
            if out.is_empty() {
                None
            } else {
                Some(out.split())
            }
        };
        match chunk {
            None => conn.write_wanted.wait().await,
            Some(chunk) => {
                conn.writing.set(true);
                let r = writer.write_all(&chunk).await;
                conn.writing.set(false);
                if r.is_err() {
                    break;
                }
                conn.drained.notify();
                // Reuse the allocation when nothing else holds it.
                let mut out = conn.out.borrow_mut();
                if out.is_empty() && out.capacity() < chunk.len() {
                    drop(chunk);
                    out.reserve(1 << 20);
                }
            }
        }
    }
    let _ = writer.close().await;
    conn.close();
}

async fn sweep_loop(conn: std::rc::Weak<Conn>) {
    loop {
        glommio::timer::sleep(SWEEP_INTERVAL).await;
        let Some(conn) = conn.upgrade() else { break };
        if conn.closed.get() {
            break;
        }
        let now = Instant::now();
        let expired: Vec<i32> = conn
            .pending
            .borrow()
            .iter()
            .filter(|(_, e)| now.duration_since(e.sent_at) > conn.timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            let entry = conn.pending.borrow_mut().remove(&k);
            if let Some(e) = entry {
                e.finish(Err(ClientError::Timeout {
                    addr: conn.addr.to_string(),
                    timeout_ms: conn.timeout.as_millis() as u64,
                }));
            }
        }
    }
}
