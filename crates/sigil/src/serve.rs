//! The HTTP/1.1 accept loop, with the limits that keep slow clients from holding the server:
//!
//! - **header-read timeout** (hyper's, default 30 s): a request head must arrive complete within
//!   it, however slowly its bytes trickle in (one header line every few seconds does not keep a
//!   connection open);
//! - **request-body timeout** (default 30 s): the whole body must arrive within it, counted from
//!   the end of the head; past it the request is answered `408 {code: "REQUEST_TIMEOUT"}` and the
//!   connection closed. A client that does not take its answer (stops reading) for as long is
//!   closed too;
//! - **keep-alive timeout** (default 5 s, Node's): a connection with no request in flight and no
//!   byte of a next request received is closed after it (a fresh connection too);
//! - **connection cap** (default 10,000, at most three quarters of the open-file limit): at the
//!   cap, a new connection takes the place of the connection that has waited longest without a
//!   request in flight (a client still trickling its head, or an idle keep-alive connection),
//!   which is closed. A request in flight is never cut off for a newcomer: when every connection
//!   has one, the newcomer is refused with `503 {code: "SERVER_BUSY"}` and `Retry-After: 1`.
//!   So any number of slow connections cannot stop a normal request from being served.

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The default connection cap (lowered to three quarters of the open-file limit when that is
/// smaller).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How connections are bounded.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time allowed for a request head to arrive complete.
    pub header_read_timeout: Duration,
    /// Time allowed for a request body to arrive complete, from the end of its head.
    pub request_body_timeout: Duration,
    /// How long a connection with no request in flight and nothing received is kept.
    pub keep_alive_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
}

/// The default connection cap for this process: [`DEFAULT_MAX_CONNECTIONS`], or three quarters
/// of the soft open-file limit (`ulimit -n`) when that is lower (the rest is left for the
/// database, log files and refusals).
pub fn default_max_connections() -> usize {
    match open_file_limit() {
        Some(limit) => DEFAULT_MAX_CONNECTIONS.min((limit / 4 * 3).max(16)),
        None => DEFAULT_MAX_CONNECTIONS,
    }
}

/// The soft open-file limit of this process, read from `/proc/self/limits` (Linux).
pub fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One accepted connection, as the registry sees it.
#[derive(Debug)]
struct Conn {
    /// Its place in [`Inner::waiting`] (0: not there, a request is in flight).
    key: AtomicU64,
    /// Closed to make room for a newer connection.
    evicted: AtomicBool,
    /// A request is being answered.
    in_flight: AtomicBool,
    /// A byte arrived since the connection was accepted or last answered a request.
    received: AtomicBool,
    /// When it was accepted or last answered a request.
    idle_since: Mutex<Instant>,
    /// When it was accepted; `last_write_ms` counts from here.
    born: Instant,
    /// When the socket last took bytes of an answer (ms since `born`): an answer still being
    /// written keeps the connection from counting as idle.
    last_write_ms: AtomicU64,
    /// The socket does not take the answer (the client does not read), since `blocked_since`.
    write_blocked: AtomicBool,
    blocked_since: Mutex<Instant>,
    /// Evicted, or its state changed: the watchdog looks again.
    wake: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    live: usize,
    next_key: u64,
    /// Connections without a request in flight, oldest first.
    waiting: BTreeMap<u64, Arc<Conn>>,
}

#[derive(Debug)]
struct Registry {
    inner: Mutex<Inner>,
    cap: usize,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a new connection, evicting the longest-waiting one at the cap; `None`: refused
    /// (every connection has a request in flight).
    fn admit(&self) -> Option<Arc<Conn>> {
        let mut inner = self.lock();
        if inner.live >= self.cap {
            // Evicted connections still count until their task ends (at once): allow a little
            // slack over the cap for them, never unbounded.
            let slack = (self.cap / 8).max(1);
            if inner.live >= self.cap + slack {
                return None;
            }
            let (_, victim) = inner.waiting.pop_first()?;
            victim.key.store(0, Ordering::Relaxed);
            victim.evicted.store(true, Ordering::Relaxed);
            victim.wake.notify_one();
        }
        inner.live += 1;
        inner.next_key += 1;
        let key = inner.next_key;
        let conn = Arc::new(Conn {
            key: AtomicU64::new(key),
            evicted: AtomicBool::new(false),
            in_flight: AtomicBool::new(false),
            received: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
            born: Instant::now(),
            last_write_ms: AtomicU64::new(0),
            write_blocked: AtomicBool::new(false),
            blocked_since: Mutex::new(Instant::now()),
            wake: Notify::new(),
        });
        inner.waiting.insert(key, conn.clone());
        Some(conn)
    }

    /// A request head arrived; `false` when the connection was evicted meanwhile.
    fn start_request(&self, conn: &Conn) -> bool {
        let mut inner = self.lock();
        if conn.evicted.load(Ordering::Relaxed) {
            return false;
        }
        let key = conn.key.swap(0, Ordering::Relaxed);
        if key != 0 {
            inner.waiting.remove(&key);
        }
        conn.in_flight.store(true, Ordering::Relaxed);
        true
    }

    /// The request was answered: the connection waits for the next one.
    fn end_request(&self, conn: &Arc<Conn>) {
        let mut inner = self.lock();
        conn.in_flight.store(false, Ordering::Relaxed);
        if conn.evicted.load(Ordering::Relaxed) {
            return;
        }
        conn.received.store(false, Ordering::Relaxed);
        *conn
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        inner.next_key += 1;
        let key = inner.next_key;
        conn.key.store(key, Ordering::Relaxed);
        inner.waiting.insert(key, conn.clone());
        drop(inner);
        conn.wake.notify_one();
    }

    fn leave(&self, conn: &Conn) {
        let mut inner = self.lock();
        let key = conn.key.swap(0, Ordering::Relaxed);
        if key != 0 {
            inner.waiting.remove(&key);
        }
        conn.evicted.store(true, Ordering::Relaxed);
        inner.live -= 1;
    }
}

/// The socket, noting when bytes arrive.
struct Tracked {
    stream: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.received.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl Tracked {
    /// Notes whether the socket took what was written, and when.
    fn note_write(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        let conn = &self.conn;
        match &polled {
            Poll::Pending => {
                if !conn.write_blocked.swap(true, Ordering::Relaxed) {
                    *conn
                        .blocked_since
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Instant::now();
                }
            }
            Poll::Ready(result) => {
                conn.write_blocked.store(false, Ordering::Relaxed);
                if matches!(result, Ok(n) if *n > 0) {
                    let ms = u64::try_from(conn.born.elapsed().as_millis()).unwrap_or(u64::MAX);
                    conn.last_write_ms.store(ms, Ordering::Relaxed);
                }
            }
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.note_write(polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.note_write(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A request body that fails once its deadline has passed, noting it.
struct TimedBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err("request body timeout".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn json_refusal(status: StatusCode, code: &str, message: &str) -> Response<axum::body::Body> {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// How long after the stop a connection without a request in flight may still finish its head.
const STOP_GRACE: Duration = Duration::from_secs(1);

const BUSY_MESSAGE: &str = "Too many connections. Please try again later.";

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets requests
/// in flight finish and closes the others. Returns when every connection has ended.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let registry = Arc::new(Registry {
        inner: Mutex::new(Inner::default()),
        cap: limits.max_connections.max(1),
    });
    let refusals = Arc::new(Semaphore::new(256));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a sender: when all are gone, every connection has ended.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            () = shutdown.as_mut() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::warn!(target: "sigil", %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(conn) = registry.admit() else {
            refuse(stream, &refusals);
            continue;
        };
        let task = Connection {
            registry: registry.clone(),
            conn,
            router: router.clone(),
            builder: builder.clone(),
            limits,
            stop: stop_rx.clone(),
            remote,
            _alive: alive_tx.clone(),
        };
        tokio::spawn(task.run(stream));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(alive_tx);
    let _ = alive_rx.recv().await;
    Ok(())
}

/// Answers 503 on a connection past the cap, then closes it (at most 256 at once, each for at
/// most a second; beyond that, closed without a word).
fn refuse(mut stream: TcpStream, refusals: &Arc<Semaphore>) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let body =
            serde_json::json!({ "code": "SERVER_BUSY", "message": BUSY_MESSAGE }).to_string();
        let response = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\nx-content-type-options: nosniff\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            stream.write_all(response.as_bytes()).await?;
            stream.shutdown().await?;
            // Read what the client sent until it closes, so that closing does not reset the
            // connection before the answer is read.
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        })
        .await;
        drop(permit);
    });
}

struct Connection {
    registry: Arc<Registry>,
    conn: Arc<Conn>,
    router: Router,
    builder: Arc<hyper::server::conn::http1::Builder>,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
    remote: SocketAddr,
    _alive: mpsc::Sender<()>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream) {
        let io = TokioIo::new(Tracked {
            stream,
            conn: self.conn.clone(),
        });
        let service = {
            let registry = self.registry.clone();
            let conn = self.conn.clone();
            let router = self.router.clone();
            let remote = self.remote;
            let body_timeout = self.limits.request_body_timeout;
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let registry = registry.clone();
                let conn = conn.clone();
                let router = router.clone();
                async move {
                    Ok::<_, Infallible>(
                        answer(&registry, &conn, router, remote, body_timeout, request).await,
                    )
                }
            })
        };
        {
            let connection = self.builder.serve_connection(io, service);
            self.drive(connection).await;
        }
        // The connection (and any answer it held) is gone before it leaves the registry.
        self.registry.leave(&self.conn);
    }

    async fn drive<S, B>(
        &mut self,
        connection: hyper::server::conn::http1::Connection<TokioIo<Tracked>, S>,
    ) where
        S: hyper::service::HttpService<Incoming, ResBody = B>,
        S::Error: Into<axum::BoxError>,
        B: http_body::Body + 'static,
        B::Error: Into<axum::BoxError>,
    {
        let mut connection = std::pin::pin!(connection);
        // After the stop: when a connection without a request in flight is closed anyway (hyper
        // closes idle keep-alive connections at once; this is for heads still arriving).
        let mut stop_at: Option<Instant> = None;
        loop {
            let deadline = self.deadline(stop_at);
            tokio::select! {
                _ = connection.as_mut() => break,
                () = self.conn.wake.notified() => {
                    if self.conn.evicted.load(Ordering::Relaxed) {
                        break;
                    }
                }
                () = sleep_until(deadline) => {
                    if self.deadline(stop_at).is_some_and(|d| d <= Instant::now()) {
                        break;
                    }
                }
                changed = self.stop.changed(), if stop_at.is_none() => {
                    if changed.is_err() || *self.stop.borrow() {
                        stop_at = Some(Instant::now() + STOP_GRACE);
                        // Answer the request in flight, if any, then close.
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }

    /// When the connection is closed unless something happens first (the watchdog looks again
    /// then): a client that does not take its answer for the body timeout; after the stop (and
    /// `STOP_GRACE`); for idleness (nothing in flight, nothing received, nothing written for the
    /// keep-alive timeout). A request in flight is never cut off otherwise.
    fn deadline(&self, stop_at: Option<Instant>) -> Option<Instant> {
        let conn = &self.conn;
        let body_timeout = self.limits.request_body_timeout;
        if conn.write_blocked.load(Ordering::Relaxed) {
            let since = *conn
                .blocked_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            return Some(since + body_timeout);
        }
        if conn.in_flight.load(Ordering::Relaxed) {
            // Not a deadline: a time to look again whether the answer is being taken.
            return Some(Instant::now() + body_timeout);
        }
        if stop_at.is_some() {
            return stop_at;
        }
        if conn.received.load(Ordering::Relaxed) {
            // A head arriving: hyper's header-read timeout bounds it.
            return None;
        }
        let idle_since = *conn
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let last_write =
            conn.born + Duration::from_millis(conn.last_write_ms.load(Ordering::Relaxed));
        Some(idle_since.max(last_write) + self.limits.keep_alive_timeout)
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn answer(
    registry: &Arc<Registry>,
    conn: &Arc<Conn>,
    router: Router,
    remote: SocketAddr,
    body_timeout: Duration,
    request: Request<Incoming>,
) -> Response<axum::body::Body> {
    if !registry.start_request(conn) {
        return json_refusal(StatusCode::SERVICE_UNAVAILABLE, "SERVER_BUSY", BUSY_MESSAGE);
    }
    // Until the answer has been written (its body dropped), the request is in flight.
    let done = Answered {
        registry: registry.clone(),
        conn: conn.clone(),
    };
    let timed_out = Arc::new(AtomicBool::new(false));
    let (mut parts, incoming) = request.into_parts();
    parts.extensions.insert(ConnectInfo(remote));
    let body = if http_body::Body::is_end_stream(&incoming) {
        axum::body::Body::new(incoming)
    } else {
        axum::body::Body::new(TimedBody {
            inner: incoming,
            deadline: Box::pin(tokio::time::sleep(body_timeout)),
            timed_out: timed_out.clone(),
        })
    };
    let response = match router.oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let response = if timed_out.load(Ordering::Relaxed) {
        json_refusal(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            "The request body did not arrive in time",
        )
    } else {
        response
    };
    response.map(|body| axum::body::Body::new(AnswerBody { body, _done: done }))
}

/// Marks the connection's request as answered when dropped.
struct Answered {
    registry: Arc<Registry>,
    conn: Arc<Conn>,
}

impl Drop for Answered {
    fn drop(&mut self) {
        self.registry.end_request(&self.conn);
    }
}

/// A response body that ends the request when hyper is done with it.
struct AnswerBody {
    body: axum::body::Body,
    _done: Answered,
}

impl http_body::Body for AnswerBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
