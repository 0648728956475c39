//! The HTTP port: `/metrics` (Prometheus text format) and the web console (one static page plus
//! JSON endpoints under `/api/`). Off unless `http_port` is set.
//!
//! Where it runs: its own thread (`bolide-http`, a single-threaded tokio runtime serving hyper), never
//! a shard, so a scrape or a console page costs the shards nothing. Figures come from the
//! [`MetricsHub`] the shards publish into once a second ([`crate::metrics`]); messages, traces and
//! dead letters come from the broker's own remoting port ([`remote`]), like any client's.
//!
//! What a peer can make it hold, and how bad input is refused (each a plain-text status line):
//!
//! | input | answer |
//! |---|---|
//! | request line + headers over [`HEADER_BYTES_MAX`] | 431 (hyper) |
//! | malformed request line or headers | 400 (hyper) |
//! | target over [`TARGET_BYTES_MAX`] | 414 |
//! | body declared or sent over [`BODY_BYTES_MAX`] | 413 |
//! | POST without `Content-Type: application/json` | 415 (also keeps cross-site forms from posting) |
//! | a method the path does not take | 405 |
//! | unknown path | 404 |
//! | missing or bad parameter | 400 with a JSON `error` |
//! | headers not complete within [`HEADER_TIMEOUT`] | connection closed |
//! | more than [`CONNECTIONS_MAX`] connections | new ones closed at once |

mod api;
pub mod remote;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use crate::config::BrokerConfig;
use crate::metrics::MetricsHub;

/// Request line plus headers, at most (hyper's read buffer; it answers 431 past it).
pub const HEADER_BYTES_MAX: usize = 16 << 10;
/// Longest request target (path and query).
pub const TARGET_BYTES_MAX: usize = 4096;
/// Largest request body (only the console's POSTs have one).
pub const BODY_BYTES_MAX: usize = 16 << 10;
/// Connections served at once.
pub const CONNECTIONS_MAX: usize = 64;
/// A request's headers must arrive within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Per shard: (inbox depth, messages sent, sends that waited for room).
pub type InboxProbe = Box<dyn Fn() -> Vec<(u16, u64, u64, u64)> + Send + Sync>;

/// What the HTTP thread is started with.
pub struct HttpContext {
    pub cfg: Arc<BrokerConfig>,
    pub hub: Arc<MetricsHub>,
    pub inboxes: InboxProbe,
    pub remote: remote::Remote,
    pub started_ms: i64,
    history: std::sync::Mutex<api::History>,
}

impl HttpContext {
    pub fn new(cfg: Arc<BrokerConfig>, hub: Arc<MetricsHub>, inboxes: InboxProbe) -> HttpContext {
        let local = |ip: Ipv4Addr, port| {
            let ip = if ip.is_unspecified() {
                Ipv4Addr::LOCALHOST
            } else {
                ip
            };
            SocketAddrV4::new(ip, port).to_string()
        };
        let peers = remote::Peers {
            broker: local(cfg.listen_ip, cfg.broker_port),
            namesrv: local(cfg.listen_ip, cfg.namesrv_port),
            credentials: match (&cfg.console_access_key, &cfg.console_secret_key) {
                (Some(a), Some(s)) => Some(crate::acl::sign::Credentials {
                    access_key: a.clone(),
                    secret_key: s.0.clone(),
                }),
                _ => None,
            },
        };
        HttpContext {
            remote: remote::Remote::new(peers),
            started_ms: crate::clock::now_ms(),
            history: Default::default(),
            cfg,
            hub,
            inboxes,
        }
    }
}

/// Binds the HTTP listener (on the main thread, so a busy port is a start-up error).
pub fn bind(ip: Ipv4Addr, port: u16) -> std::io::Result<TcpListener> {
    let l = TcpListener::bind(SocketAddrV4::new(ip, port)).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {ip}:{port} (http_port): {e}"),
        )
    })?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Serves on `listener` from a new thread until the process exits.
pub fn start(listener: TcpListener, ctx: HttpContext) -> std::io::Result<()> {
    let ctx = Arc::new(ctx);
    std::thread::Builder::new()
        .name("bolide-http".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the HTTP runtime; /metrics and the console are off");
                    return;
                }
            };
            rt.block_on(serve(listener, ctx));
        })?;
    Ok(())
}

async fn serve(listener: TcpListener, ctx: Arc<HttpContext>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot serve HTTP");
            return;
        }
    };
    tokio::spawn(api::sample_history(ctx.clone()));
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream); // over CONNECTIONS_MAX: closed at once
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| handle(ctx.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .max_buf_size(HEADER_BYTES_MAX)
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(io, svc)
                .await;
            drop(permit);
        });
    }
}

/// A response with a body and content type.
fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = "nosniff".parse() {
        r.headers_mut().insert("x-content-type-options", v);
    }
    r
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        "text/plain; charset=utf-8",
        format!("{} {}\n", status.as_u16(), text),
    )
}

pub(crate) fn json_reply(status: StatusCode, v: &serde_json::Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", v.to_string())
}

async fn handle(
    ctx: Arc<HttpContext>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().to_string().len() > TARGET_BYTES_MAX {
        return Ok(plain(
            StatusCode::URI_TOO_LONG,
            &format!("request target longer than {TARGET_BYTES_MAX} bytes"),
        ));
    }
    let path = req.uri().path().to_string();
    let query = api::Query::parse(req.uri().query().unwrap_or(""));
    let method = req.method().clone();
    let resp = match (method, path.as_str()) {
        (Method::GET, "/metrics") => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            api::metrics_text(&ctx),
        ),
        (Method::GET, "/" | "/index.html") => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Bytes::from_static(CONSOLE_HTML.as_bytes()),
        ),
        (Method::GET, p) if p.starts_with("/api/") => api::get(&ctx, p, &query).await,
        (Method::POST, p) if p.starts_with("/api/") => match read_json_body(req).await {
            Ok(body) => api::post(&ctx, p, &body).await,
            Err(r) => r,
        },
        (_, "/metrics" | "/" | "/index.html") => {
            plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        (_, p) if p.starts_with("/api/") => {
            plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => plain(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(resp)
}

/// The body of a console POST: JSON, at most [`BODY_BYTES_MAX`].
async fn read_json_body(
    req: Request<Incoming>,
) -> Result<serde_json::Value, Response<Full<Bytes>>> {
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return Err(plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST bodies must be Content-Type: application/json",
        ));
    }
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body larger than {BODY_BYTES_MAX} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_BYTES_MAX as u64) {
        return Err(too_large());
    }
    let body = match Limited::new(req.into_body(), BODY_BYTES_MAX)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(plain(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the request body: {e}"),
            ))
        }
    };
    serde_json::from_slice(&body).map_err(|e| {
        json_reply(
            StatusCode::BAD_REQUEST,
            &serde_json::json!({ "error": format!("the body is not valid JSON: {e}") }),
        )
    })
}

/// The console: one self-contained page (no build step, no external assets). It inserts every
/// value from the broker as text (`textContent`), never as markup.
pub const CONSOLE_HTML: &str = include_str!("console.html");
