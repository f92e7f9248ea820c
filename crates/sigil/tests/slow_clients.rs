//! Slow clients cannot hold the server: a head trickling in is cut at the header-read timeout,
//! a body at the request-body timeout (408 JSON), an idle connection at the keep-alive timeout,
//! and thousands of slow connections past the connection cap neither exhaust the process nor
//! stop a normal request from being served. Short configured timeouts, no sleeps to wait.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// A binary of its own (not a module of tests/api): it counts this process's open descriptors
// (/proc/self/fd) and raises its open-file limit, which other tests running as threads of the
// same process would disturb. It shares the api binary's helpers.
#[path = "api/helpers.rs"]
mod helpers;

use helpers::spawn_with;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fails a test that waits longer than this for the server to act.
const BOUND: Duration = Duration::from_secs(20);

fn host(url: &str) -> String {
    url.strip_prefix("http://").unwrap().to_owned()
}

/// Reads until the server closes the connection (end of stream or reset); returns what was
/// read and when the connection closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Instant) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    (String::from_utf8_lossy(&all).into_owned(), closed)
}

/// The JSON body of a raw HTTP/1.1 answer.
fn json_body(answer: &str) -> serde_json::Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a complete answer");
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_trickling_in_is_closed_at_the_header_read_timeout() {
    let app = spawn_with(|s| {
        s.common.header_read_timeout = Duration::from_secs(1);
        s.common.keep_alive_timeout = Duration::from_secs(60);
    })
    .await;
    let mut stream = TcpStream::connect(host(&app.url)).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /api/auth/ok HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (mut read, mut write) = stream.into_split();
    // One header line every 200 ms, for ever: each resets no timer.
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if write.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return;
            }
        }
    });
    let mut buf = [0u8; 1024];
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("closed within the bound, not held open by the trickle");
    trickle.abort();
    let open = closed - started;
    assert!(
        open >= Duration::from_millis(900) && open < Duration::from_secs(5),
        "closed after {open:?}"
    );
    assert!(
        !String::from_utf8_lossy(&answer).contains(" 200 "),
        "the request was never served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_at_the_keep_alive_timeout() {
    let app = spawn_with(|s| {
        s.common.keep_alive_timeout = Duration::from_secs(1);
        s.common.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    // After an answer: kept for the next request, then closed.
    let mut stream = TcpStream::connect(host(&app.url)).await.unwrap();
    stream
        .write_all(b"GET /api/auth/ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let sent = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    let idle = closed - sent;
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "closed after {idle:?}"
    );

    // A connection that never sends anything: the same.
    let mut silent = TcpStream::connect(host(&app.url)).await.unwrap();
    let opened = Instant::now();
    let (nothing, closed) = read_until_closed(&mut silent).await;
    assert_eq!(nothing, "");
    let idle = closed - opened;
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "closed after {idle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let app = spawn_with(|s| s.common.request_body_timeout = Duration::from_secs(1)).await;
    let mut stream = TcpStream::connect(host(&app.url)).await.unwrap();
    stream
        .write_all(
            b"POST /api/auth/sign-up/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"name\":\"Slow\",",
        )
        .await
        .unwrap();
    let sent = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout"),
        "{answer}"
    );
    assert_eq!(
        json_body(&answer),
        serde_json::json!({ "code": "REQUEST_TIMEOUT", "message": "The request body did not arrive in time" })
    );
    assert!(answer.to_ascii_lowercase().contains("connection: close"));
    let waited = closed - sent;
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "answered after {waited:?}"
    );
}

/// The soft open-file limit, raised to the hard one when possible (with util-linux's `prlimit`,
/// without unsafe code).
fn open_files_allowed() -> usize {
    let pid = std::process::id().to_string();
    let hard = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
        });
    if let Some(hard) = hard.filter(|h| h != "unlimited") {
        let _ = std::process::Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
            .status();
    }
    sigil::serve::open_file_limit().unwrap_or(1024)
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_slow_connections_do_not_stop_a_normal_request() {
    const CAP: usize = 200;
    let allowed = open_files_allowed();
    let baseline = open_files();
    // 10,000 when the open-file limit allows it (each costs a descriptor here, and the server
    // keeps at most the cap of them), else as many as fit.
    let slow = 10_000.min(allowed.saturating_sub(baseline + CAP * 2 + 256));
    assert!(
        slow >= 500,
        "open-file limit {allowed} too low for this test"
    );
    eprintln!("open-file limit {allowed}: {slow} slow connections against a cap of {CAP}");
    let app = spawn_with(|s| {
        s.common.max_connections = Some(CAP);
        // Long timeouts: only the cap keeps the server's descriptors bounded here.
        s.common.header_read_timeout = Duration::from_secs(300);
        s.common.keep_alive_timeout = Duration::from_secs(300);
    })
    .await;
    let addr = host(&app.url);
    let started = Instant::now();
    let mut held = Vec::with_capacity(slow);
    for _ in 0..slow {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        // A head that never ends.
        stream
            .write_all(b"GET /api/auth/ok HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    eprintln!("opened {slow} slow connections in {:?}", started.elapsed());

    // A normal request, on a new connection, is served at once.
    let asked = Instant::now();
    let ok = tokio::time::timeout(
        BOUND,
        reqwest::Client::new()
            .get(format!("{}/api/auth/ok", app.url))
            .send(),
    )
    .await
    .expect("answered within the bound")
    .unwrap();
    let latency = asked.elapsed();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), r#"{"ok":true}"#);
    eprintln!("a normal request under {slow} slow connections: {latency:?}");

    // The oldest slow connections were closed to make room: the server holds at most the cap
    // (plus its slack) of them, not thousands.
    let (_, _) = read_until_closed(&mut held[0]).await;
    let server_side = open_files().saturating_sub(baseline + slow);
    assert!(
        server_side <= CAP + CAP / 8 + 64,
        "the server holds {server_side} descriptors for {slow} connections (cap {CAP})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_with_every_connection_busy_a_new_one_is_refused_with_json() {
    let app = spawn_with(|s| s.common.max_connections = Some(2)).await;
    let addr = host(&app.url);
    // Two requests in flight: their handlers wait for bodies that do not come (the interim
    // 100 Continue proves the handler is reading).
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"POST /api/auth/sign-up/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(BOUND, stream.read(&mut buf))
            .await
            .expect("100 Continue")
            .unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100 Continue"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        busy.push(stream);
    }
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET /api/auth/ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(&mut third).await;
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{answer}"
    );
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 1"), "{answer}");
    assert!(lower.contains("content-type: application/json"), "{answer}");
    assert_eq!(
        json_body(&answer),
        serde_json::json!({ "code": "SERVER_BUSY", "message": "Too many connections. Please try again later." })
    );

    // Once a request is done, its place serves others again.
    let mut first = busy.remove(0);
    first.write_all(&[b' '; 100]).await.unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(BOUND, first.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let ok = reqwest::Client::new()
        .get(format!("{}/api/auth/ok", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// A user with about 7 MB of tasks (a control character in the notes is six bytes of JSON,
/// `\u0001`): an answer larger than the socket buffers between the server and its client.
async fn user_with_a_large_task_list(app: &helpers::TestApp) -> (String, String) {
    let user = app.user("reader@example.com").await;
    let path = format!("/api/{}/tasks", user.id);
    let notes = "\u{1}".repeat(1000);
    for chunk in 0..24 {
        let batch = (0..50).map(|i| {
            let body =
                serde_json::json!({ "title": format!("task {chunk}-{i}"), "description": notes });
            app.api(reqwest::Method::POST, &path, Some(&user.jwt), Some(body))
        });
        for created in futures_join(batch).await {
            assert_eq!(created.status, 201);
        }
    }
    (path, user.jwt)
}

/// Awaits the futures together.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::with_capacity(pinned.len());
    for f in &mut pinned {
        out.push(f.as_mut().await);
    }
    out
}

async fn ask(app: &helpers::TestApp, path: &str, jwt: &str) -> TcpStream {
    let mut stream = TcpStream::connect(host(&app.url)).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {jwt}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_and_a_slow_reader_gets_everything() {
    let app = spawn_with(|s| {
        s.common.request_body_timeout = Duration::from_secs(1);
        s.common.keep_alive_timeout = Duration::from_secs(1);
    })
    .await;
    let (path, jwt) = user_with_a_large_task_list(&app).await;
    let whole = app.api(reqwest::Method::GET, &path, Some(&jwt), None).await;
    let size = serde_json::to_vec(&whole.body).unwrap().len();
    assert!(size > 6_000_000, "{size} bytes");

    // Reads nothing for 3 s: the server gives up on it after about 1 s of not being read; what
    // the buffers held arrives, then the end, never the whole answer.
    let mut stalled = ask(&app, &path, &jwt).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (partial, _) = read_until_closed(&mut stalled).await;
    assert!(partial.len() < size, "{} of {size} bytes", partial.len());

    // Reads slowly but steadily, for longer than the keep-alive timeout: gets every byte.
    let mut slow = ask(&app, &path, &jwt).await;
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    while !got.ends_with(b"]") {
        let n = tokio::time::timeout(BOUND, slow.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "a slow reader took {} bytes in {:?}",
        got.len(),
        started.elapsed()
    );
    assert!(
        started.elapsed() > Duration::from_secs(1),
        "slower than the keep-alive timeout"
    );
    let body = &got[got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    let tasks: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(tasks.as_array().unwrap().len(), 1200);
}
