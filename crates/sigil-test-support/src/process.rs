//! `sigil` as a process: a command with a clean environment, plain-socket HTTP exchanges, signals
//! and bounded waits for exit.
//!
//! The path of the executable comes from the calling test (`env!("CARGO_BIN_EXE_sigil")`, which
//! cargo sets for the `sigil` package's own integration tests only).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// `exe` with none of the caller's `SIGIL_*`, `DATABASE_URL`, `BETTER_AUTH_SECRET` or `RUST_LOG`
/// variables: a developer's environment (or a test that sets one) never changes what the child
/// does. Callers set `SIGIL_LOG` when they read the log.
pub fn sigil(exe: &str) -> Command {
    let mut cmd = Command::new(exe);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("SIGIL_")
            || name == "DATABASE_URL"
            || name == "BETTER_AUTH_SECRET"
            || name == "RUST_LOG"
        {
            cmd.env_remove(&*name);
        }
    }
    cmd
}

/// The first line the child printed on its (piped) stdout, trimmed: `Sigil listening on ...`
/// once it is ready, or empty when it exited first.
pub fn ready_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .unwrap();
    line.trim().to_owned()
}

/// The `http://127.0.0.1:<port>` a ready line names.
pub fn url_in(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .map(str::to_owned)
}

/// One raw HTTP/1.1 exchange over a plain socket (`request` must say `Connection: close`);
/// the whole answer, head and body.
pub fn exchange(url: &str, request: &str) -> String {
    let host = url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// One JSON request over a plain socket (extra header lines in `headers`, each ending `\r\n`);
/// the status and the body.
pub fn http_with(
    url: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: Option<&str>,
) -> (u16, String) {
    let host = url.strip_prefix("http://").unwrap();
    let body = body.unwrap_or("");
    let answer = exchange(
        url,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// [`http_with`] without extra headers.
pub fn http(url: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    http_with(url, method, path, "", body)
}

/// Sends the signal `name` (`TERM`, `INT`, `KILL`) to `child`.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {}", child.id());
}

/// Waits for `child` to exit (a poll of the process, an external event); kills it and panics
/// after `limit`.
pub fn wait_for_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
