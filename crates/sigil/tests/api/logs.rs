//! What `sigil serve` writes to its log (issue 9, item 7): no single-use token in any line or
//! span (request spans and the "rate limited" line name `/reset-password/{token}`), and the log
//! mailer, which writes links on purpose, says loudly that it is for development and is refused
//! behind an https base URL unless allowed.

use crate::helpers::SIGIL;
use sigil_test_support::process::{http, ready_line, signal, url_in, wait_for_exit};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn sigil() -> Command {
    sigil_test_support::process::sigil(SIGIL)
}

/// A running `sigil` whose stderr is collected line by line.
struct Running {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Running {
    fn start(dir: &Path, args: &[&str], log_filter: &str) -> Running {
        let mut child = sigil()
            .args(args)
            .env("SIGIL_LOG", log_filter)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let ready = ready_line(&mut child);
        let url = url_in(&ready).unwrap_or_else(|| panic!("no ready line: {ready}"));
        Running { child, url, log }
    }

    /// Stops the process (SIGTERM) and returns everything it logged.
    fn stop(mut self) -> String {
        signal(&self.child, "TERM");
        let status = wait_for_exit(&mut self.child, Duration::from_secs(30));
        assert!(status.success(), "{status}");
        // The reader thread ends at EOF; give it the last lines.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.log) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.log.lock().unwrap().clone()
    }
}

#[test]
fn no_reset_token_reaches_the_log_not_even_in_request_spans_or_the_rate_limited_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(
        dir.path(),
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            "sqlite://sigil.db",
            "--mail-file",
            "mail.jsonl",
            "--argon2-memory-kib",
            "8192",
            "--argon2-iterations",
            "1",
        ],
        // Request spans are printed with tower-http's per-request events.
        "debug,sqlx=warn,hyper=info,h2=info,tower=info",
    );
    let (status, body) = http(
        &server.url,
        "POST",
        "/api/auth/sign-up/email",
        Some(r#"{"name":"Lou","email":"lou@example.com","password":"a long passphrase"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(
        &server.url,
        "POST",
        "/api/auth/request-password-reset",
        Some(r#"{"email":"lou@example.com"}"#),
    );
    assert_eq!(status, 200);
    let outbox = dir.path().join("mail.jsonl");
    let deadline = Instant::now() + Duration::from_secs(10);
    let token = loop {
        if let Some(line) = std::fs::read_to_string(&outbox)
            .ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
        {
            let mail: serde_json::Value = serde_json::from_str(&line).unwrap();
            break mail["token"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no reset mail");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(token.len(), 24);

    // The link, until the rate limit (100 per 10 s on this route) answers 429.
    let link = format!("/api/auth/reset-password/{token}?callbackURL=%2Freset");
    let mut statuses = Vec::new();
    for _ in 0..101 {
        statuses.push(http(&server.url, "GET", &link, None).0);
    }
    assert!(statuses[..100].iter().all(|s| *s == 302), "{statuses:?}");
    assert_eq!(statuses[100], 429);
    // A mistyped link (404) carries the token too.
    let (status, _) = http(
        &server.url,
        "GET",
        &format!("/api/auth/reset-password/{token}/extra"),
        None,
    );
    assert_eq!(status, 404);

    let log = server.stop();
    assert!(
        log.contains("/api/auth/reset-password/{token}"),
        "request spans name the route: {log}"
    );
    assert!(log.contains("rate limited"), "{log}");
    assert!(log.contains("/reset-password/{token}"), "{log}");
    for (n, line) in log.lines().enumerate() {
        assert!(!line.contains(&token), "line {n} carries the token: {line}");
    }
}

fn serve_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--database-url",
        "sqlite://sigil.db",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn the_log_mailer_says_it_is_for_development_and_is_refused_behind_https_unless_allowed() {
    // Plain http (development): it starts, saying loudly what the log mailer does.
    let dir = tempfile::tempdir().unwrap();
    let log = Running::start(dir.path(), &serve_args(&[]), "info").stop();
    assert!(log.contains("DEVELOPMENT ONLY"), "{log}");
    assert!(log.contains("SIGIL_SMTP_URL"), "{log}");

    // https: refused, saying why and how to allow it, and nothing is created.
    let dir = tempfile::tempdir().unwrap();
    let out = sigil()
        .args(serve_args(&["--base-url", "https://auth.example.com"]))
        .env("SIGIL_LOG", "info")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--allow-log-mailer"), "{stderr}");
    assert!(stderr.contains("SIGIL_ALLOW_LOG_MAILER"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // Explicitly allowed (flag or environment): it starts, with the warning.
    let dir = tempfile::tempdir().unwrap();
    let args = serve_args(&[
        "--base-url",
        "https://auth.example.com",
        "--allow-log-mailer",
        "on",
    ]);
    let log = Running::start(dir.path(), &args, "info").stop();
    assert!(log.contains("DEVELOPMENT ONLY"), "{log}");
    let dir = tempfile::tempdir().unwrap();
    let mut child = sigil()
        .args(serve_args(&["--base-url", "https://auth.example.com"]))
        .env("SIGIL_ALLOW_LOG_MAILER", "on")
        .env("SIGIL_LOG", "info")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(ready.starts_with("Sigil listening on"), "{ready}");
    child.kill().unwrap();
    child.wait().unwrap();

    // A real transport needs no permission.
    let dir = tempfile::tempdir().unwrap();
    let args = serve_args(&[
        "--base-url",
        "https://auth.example.com",
        "--mail-file",
        "mail.jsonl",
    ]);
    let log = Running::start(dir.path(), &args, "info").stop();
    assert!(!log.contains("DEVELOPMENT ONLY"), "{log}");
}
