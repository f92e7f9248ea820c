//! Metrics, health, request ids and the graceful drain (issue 12, parts 3 and 6), against the
//! real `sigil` process: the metrics listener's counters move with the right (bounded) labels,
//! neither the metrics nor the log carry a password, session token, JWT or password hash,
//! `/readyz` follows the database, `x-request-id` reaches the answer and every log line of the
//! request, and SIGTERM drains: requests in flight finish, new connections are refused, the
//! process exits 0 (at the latest at `--shutdown-timeout`).

use crate::helpers::{PASSWORD, SIGIL};
use serde_json::{Value, json};
use sigil::app::App;
use sigil::settings::{Mode, Settings};
use sigil_test_support::FreshDatabase;
use sigil_test_support::process::{exchange, http, http_with, signal, url_in, wait_for_exit};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `sigil` with a metrics listener, its stderr (JSON log lines) collected.
struct Server {
    child: Child,
    url: String,
    metrics: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(dir: &Path, database_url: &str, extra: &[&str]) -> Server {
        let mut args = vec![
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
            "--database-url",
            database_url,
            "--mail-file",
            "mail.jsonl",
            "--argon2-memory-kib",
            "8192",
            "--argon2-iterations",
            "1",
            "--log-format",
            "json",
        ];
        args.extend_from_slice(extra);
        let mut child = sigil_test_support::process::sigil(SIGIL)
            .args(&args)
            .env("SIGIL_LOG", "debug")
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
        let ready = sigil_test_support::process::ready_line(&mut child);
        let url = url_in(&ready).unwrap_or_else(|| panic!("no ready line: {ready}"));
        let metrics = ready
            .split_once("metrics on ")
            .and_then(|(_, rest)| rest.strip_suffix("/metrics)"))
            .unwrap_or_else(|| panic!("no metrics address in the ready line: {ready}"))
            .to_owned();
        Server {
            child,
            url,
            metrics,
            log,
        }
    }

    fn scrape(&self) -> String {
        let (status, text) = http(&self.metrics, "GET", "/metrics", None);
        assert_eq!(status, 200, "{text}");
        text
    }

    /// Stops the process (SIGTERM), checks it exits 0, returns everything it logged.
    fn stop(mut self) -> String {
        signal(&self.child, "TERM");
        let status = wait_for_exit(&mut self.child, Duration::from_secs(30));
        assert!(status.success(), "{status}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&self.log) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.log.lock().unwrap().clone()
    }
}

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest),
                None => (series, ""),
            };
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

/// How many series of `name` the text holds.
fn series(text: &str, name: &str) -> usize {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .count()
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"))
}

/// The stored password hash of `email` (to prove it appears nowhere).
fn password_hash(database_url: &str, email: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut db = sqlx::AnyConnection::connect(database_url).await.unwrap();
            let row: (String,) = sqlx::query_as(
                "SELECT c.password_hash FROM credentials c JOIN users u ON u.id = c.user_id WHERE u.email = $1",
            )
            .bind(email)
            .fetch_one(&mut db)
            .await
            .unwrap();
            db.close().await.unwrap();
            row.0
        })
}

/// Sign-up, sign-in (good and bad), a protected read, a 401 and a 429, then the counters; the
/// label sets stay bounded under many distinct user paths; no secret in the metrics or the log.
fn metrics_flow(dir: &Path, database_url: &str, extra: &[&str]) {
    let mut args = vec!["--rate-limit", "on"];
    args.extend_from_slice(extra);
    let server = Server::start(dir, database_url, &args);
    let url = server.url.clone();
    let email = "metrics@example.com";

    let (status, body) = http(
        &url,
        "POST",
        "/api/auth/sign-up/email",
        Some(&json!({ "name": "M", "email": email, "password": PASSWORD }).to_string()),
    );
    assert_eq!(status, 200, "{body}");
    let user_id = json_of(&body)["user"]["id"].as_str().unwrap().to_owned();
    let sign_in = |password: &str| {
        http(
            &url,
            "POST",
            "/api/auth/sign-in/email",
            Some(&json!({ "email": email, "password": password }).to_string()),
        )
    };
    let (status, body) = sign_in(PASSWORD);
    assert_eq!(status, 200, "{body}");
    let session_token = json_of(&body)["token"].as_str().unwrap().to_owned();
    let (status, body) = sign_in("not-the-password-at-all");
    assert_eq!(status, 401, "{body}");
    let (status, body) = http_with(
        &url,
        "GET",
        "/api/auth/token",
        &bearer(&session_token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let jwt = json_of(&body)["token"].as_str().unwrap().to_owned();

    let tasks = format!("/api/{user_id}/tasks");
    for _ in 0..2 {
        let (status, body) = http_with(&url, "GET", &tasks, &bearer(&jwt), None);
        assert_eq!(status, 200, "{body}");
    }
    // The same token with its signature's first character changed.
    let (head, signature) = jwt.rsplit_once('.').unwrap();
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{head}.{first}{}", &signature[1..]);
    let (status, body) = http_with(&url, "GET", &tasks, &bearer(&forged), None);
    assert_eq!(status, 401, "{body}");
    // Sign-ins are limited to 3 per 10 s per address: the 4th within the window is refused.
    let mut refused = false;
    for _ in 0..6 {
        if sign_in("not-the-password-at-all").0 == 429 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the rate limiter refused a sign-in");

    let text = server.scrape();
    let requests = "sigil_http_requests_total";
    let one = |labels: &[(&str, &str)]| sample(&text, requests, labels);
    assert_eq!(
        one(&[
            ("method", "POST"),
            ("route", "/api/auth/sign-up/email"),
            ("status", "200")
        ]),
        1.0,
        "{text}"
    );
    assert_eq!(
        one(&[("route", "/api/auth/sign-in/email"), ("status", "200")]),
        1.0
    );
    assert!(one(&[("route", "/api/auth/sign-in/email"), ("status", "401")]) >= 1.0);
    assert!(one(&[("route", "/api/auth/sign-in/email"), ("status", "429")]) >= 1.0);
    assert_eq!(
        one(&[
            ("method", "GET"),
            ("route", "/api/{user_id}/tasks"),
            ("status", "200")
        ]),
        2.0,
        "{text}"
    );
    assert_eq!(
        one(&[("route", "/api/{user_id}/tasks"), ("status", "401")]),
        1.0
    );
    assert!(
        sample(
            &text,
            "sigil_http_request_duration_seconds_count",
            &[("route", "/api/{user_id}/tasks")]
        ) >= 2.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, "sigil_sign_ins_total", &[("outcome", "success")]),
        1.0
    );
    assert!(
        sample(
            &text,
            "sigil_sign_ins_total",
            &[("outcome", "bad_credentials")]
        ) >= 1.0
    );
    assert!(
        sample(
            &text,
            "sigil_token_verifications_total",
            &[("outcome", "ok")]
        ) >= 2.0
    );
    // The second read found the token in the verified-token cache; with SQLite (the task-list
    // cache is on by default there), the user's list too.
    let cache = "sigil_token_cache_lookups_total";
    assert!(sample(&text, cache, &[("result", "hit")]) >= 1.0, "{text}");
    assert!(sample(&text, cache, &[("result", "miss")]) >= 1.0, "{text}");
    if database_url.starts_with("sqlite") {
        let lookups = "sigil_task_list_cache_lookups_total";
        assert_eq!(sample(&text, lookups, &[("result", "miss")]), 1.0, "{text}");
        assert_eq!(sample(&text, lookups, &[("result", "hit")]), 1.0, "{text}");
    }
    assert_eq!(
        sample(
            &text,
            "sigil_token_verifications_total",
            &[("outcome", "bad_signature")]
        ),
        1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            "sigil_rate_limited_total",
            &[("route", "/sign-in/email")]
        ) >= 1.0,
        "{text}"
    );
    // Sign-up, sign-in and the bad sign-ins each waited in the hash queue.
    assert!(sample(&text, "sigil_password_hash_wait_seconds_count", &[]) >= 3.0);
    assert!(text.contains("sigil_password_hash_queue_depth "), "{text}");
    assert!(sample(&text, "sigil_db_pool_connections", &[]) >= 1.0);
    assert!(sample(&text, "sigil_db_pool_max_connections", &[]) >= 1.0);
    assert!(
        text.contains("sigil_revocation_feed_lag_seconds "),
        "{text}"
    );
    assert!(!text.contains(&user_id), "no user id in any label");

    // Bounded labels: forty more distinct user paths and unknown paths add no series.
    http_with(&url, "GET", "/api/someone-else/tasks", &bearer(&jwt), None);
    http(&url, "GET", "/no/such/page-0", None);
    let before = series(&server.scrape(), requests);
    for i in 1..=40 {
        let (status, _) = http_with(
            &url,
            "GET",
            &format!("/api/someone-else-{i}/tasks"),
            &bearer(&jwt),
            None,
        );
        assert_eq!(status, 403);
        http(&url, "GET", &format!("/no/such/page-{i}"), None);
    }
    let after_text = server.scrape();
    assert_eq!(series(&after_text, requests), before, "{after_text}");
    assert!(
        sample(
            &after_text,
            requests,
            &[("route", "/api/{user_id}/tasks"), ("status", "403")]
        ) >= 41.0
    );
    assert!(sample(&after_text, requests, &[("route", "unmatched")]) >= 41.0);
    assert!(!after_text.contains("someone-else"));
    assert!(!after_text.contains("page-1"));

    // The metrics listener answers the probes too.
    assert_eq!(http(&server.metrics, "GET", "/healthz", None).0, 200);
    assert_eq!(http(&server.metrics, "GET", "/readyz", None).0, 200);

    let hash = password_hash(database_url, email);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let log = server.stop();
    assert!(
        log.contains("\"request_id\""),
        "JSON log lines carry the request id"
    );
    for (what, secret) in [
        ("password", PASSWORD),
        ("session token", session_token.as_str()),
        ("JWT", jwt.as_str()),
        ("forged JWT", forged.as_str()),
        ("password hash", hash.as_str()),
    ] {
        assert!(!text.contains(secret), "the {what} is in the metrics");
        assert!(!after_text.contains(secret), "the {what} is in the metrics");
        assert!(!log.contains(secret), "the {what} is in the log");
    }
    // The JWT's signature alone, and the session token's first half, are not there either.
    assert!(!log.contains(jwt.rsplit_once('.').unwrap().1));
    assert!(!log.contains(&session_token[..session_token.len() / 2]));
}

#[test]
fn metrics_count_requests_sign_ins_verifications_and_refusals_without_secrets_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sigil.db").display());
    metrics_flow(dir.path(), &db, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_requests_sign_ins_verifications_and_refusals_without_secrets_on_postgres() {
    let Some(db) = FreshDatabase::create("sigil_metrics").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url.clone();
    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        metrics_flow(
            &path,
            &url,
            &["--secret", "a-shared-secret-for-every-instance-0123456789"],
        );
    })
    .await
    .unwrap();
    db.drop_now().await;
}

/// The answer's `x-request-id`, from a raw exchange.
fn request_id_of(url: &str, id: Option<&str>) -> String {
    let host = url.strip_prefix("http://").unwrap();
    let header = id
        .map(|id| format!("X-Request-Id: {id}\r\n"))
        .unwrap_or_default();
    let answer = exchange(
        url,
        &format!(
            "GET /api/auth/get-session HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{header}\r\n"
        ),
    );
    let head = answer.split_once("\r\n\r\n").unwrap().0;
    assert!(head.starts_with("HTTP/1.1 200"), "{answer}");
    let ids: Vec<&str> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("x-request-id"))
        .map(|(_, v)| v.trim())
        .collect();
    assert_eq!(ids.len(), 1, "{head}");
    ids[0].to_owned()
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[test]
fn request_ids_are_kept_when_sound_replaced_otherwise_echoed_and_in_every_log_line_of_the_request()
{
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "sqlite://sigil.db", &[]);
    let url = server.url.clone();

    assert_eq!(
        request_id_of(&url, Some("trace-4f1c-given-by-the-proxy")),
        "trace-4f1c-given-by-the-proxy"
    );
    let generated = request_id_of(&url, None);
    assert!(is_uuid(&generated), "{generated}");
    let other = request_id_of(&url, None);
    assert_ne!(generated, other, "each request gets its own id");
    for bad in ["has spaces in it", &"x".repeat(129)] {
        let replaced = request_id_of(&url, Some(bad));
        assert!(is_uuid(&replaced), "{bad:?} replaced by {replaced}");
    }
    // A sign-in's own log lines (below the request span) carry the request id too.
    let (status, _) = http_with(
        &url,
        "POST",
        "/api/auth/sign-in/email",
        "X-Request-Id: sign-in-request-77\r\n",
        Some(&json!({ "email": "nobody@example.com", "password": PASSWORD }).to_string()),
    );
    assert_eq!(status, 401);

    let log = server.stop();
    let lines_of = |id: &str| -> Vec<Value> {
        log.lines()
            .filter(|l| l.contains(id))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let given = lines_of("trace-4f1c-given-by-the-proxy");
    assert!(!given.is_empty(), "{log}");
    for line in &given {
        assert_eq!(
            line["span"]["request_id"], "trace-4f1c-given-by-the-proxy",
            "{line}"
        );
    }
    let generated_lines = lines_of(&generated);
    assert!(!generated_lines.is_empty(), "{log}");
    let sign_in = lines_of("sign-in-request-77");
    assert!(
        sign_in
            .iter()
            .any(|l| l["target"].as_str().is_some_and(|t| t.starts_with("sigil"))),
        "a line of Sigil's own code carries the id: {sign_in:?}"
    );
    // Every line inside a request span has an id.
    for line in log.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        if line["span"]["name"] == "request" {
            assert!(line["span"]["request_id"].is_string(), "{line}");
        }
    }
    assert!(!log.contains("has spaces in it"));
}

/// Sends a sign-up's head and half its body: a request in flight until the rest is sent.
fn held_sign_up(url: &str, email: &str) -> (TcpStream, String) {
    let host = url.strip_prefix("http://").unwrap();
    let body = json!({ "name": "Slow", "email": email, "password": PASSWORD }).to_string();
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    write!(
        stream,
        "POST /api/auth/sign-up/email HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    (stream, rest.to_owned())
}

/// Waits until the server counts `n` requests in flight (an event of the server, polled).
fn wait_in_flight(server: &Server, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if sample(&server.scrape(), "sigil_http_requests_in_flight", &[]) == n {
            return;
        }
        assert!(Instant::now() < deadline, "never {n} requests in flight");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until connecting to `url` is refused.
fn wait_refused(url: &str) {
    let host = url.strip_prefix("http://").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(host).is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_drains_a_request_in_flight_refuses_new_connections_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        "sqlite://sigil.db",
        &["--shutdown-timeout", "25s"],
    );
    assert_eq!(http(&server.url, "GET", "/readyz", None).0, 200);
    let (mut stream, rest) = held_sign_up(&server.url, "slow@example.com");
    wait_in_flight(&server, 1.0);

    let signalled = Instant::now();
    signal(&server.child, "TERM");
    wait_refused(&server.url);
    // Still running, and saying so to the load balancer: not ready.
    let (status, body) = http(&server.metrics, "GET", "/readyz", None);
    assert_eq!(status, 503, "{body}");
    let body = json_of(&body);
    assert_eq!(body["status"], "draining");
    assert_eq!(body["reason"], "draining");
    assert_eq!(body["code"], "NOT_READY");
    assert_eq!(http(&server.metrics, "GET", "/healthz", None).0, 200);
    assert!(server.child.try_wait().unwrap().is_none());

    // The request in flight completes.
    stream.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("slow@example.com"), "{answer}");

    let status = wait_for_exit(&mut server.child, Duration::from_secs(20));
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() < Duration::from_secs(25));
}

#[test]
fn a_request_that_never_finishes_does_not_hold_the_stop_past_the_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        "sqlite://sigil.db",
        &["--shutdown-timeout", "1s"],
    );
    let (mut stream, _rest) = held_sign_up(&server.url, "never@example.com");
    wait_in_flight(&server, 1.0);
    let signalled = Instant::now();
    signal(&server.child, "TERM");
    let status = wait_for_exit(&mut server.child, Duration::from_secs(20));
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(took >= Duration::from_millis(900), "left at once: {took:?}");
    // Well before the 30 s body timeout would have ended the request.
    assert!(took < Duration::from_secs(15), "{took:?}");
    // The held connection is closed with the process.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

/// A server in this process, for `/readyz` with its pool closed or its database dropped.
async fn ready_app(
    settings: Settings,
) -> (String, sqlx::AnyPool, tokio::sync::oneshot::Sender<()>) {
    let app = App::build(settings).await.expect("app starts");
    let url = format!("http://{}", app.address());
    let pool = app.pool();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    (url, pool, tx)
}

async fn get(url: &str, path: &str) -> (u16, Value) {
    let answer =
        sigil_test_support::Answer::send(sigil_test_support::client().get(format!("{url}{path}")))
            .await;
    (answer.status.as_u16(), answer.body)
}

#[tokio::test]
async fn readyz_answers_503_once_the_sqlite_pool_is_closed_and_healthz_stays_200() {
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::helpers::test_settings(&dir);
    let (url, pool, _stop) = ready_app(settings).await;
    assert_eq!(
        get(&url, "/healthz").await,
        (200, json!({ "status": "ok" }))
    );
    assert_eq!(get(&url, "/readyz").await, (200, json!({ "status": "ok" })));
    pool.close().await;
    let (status, body) = get(&url, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["reason"], "database");
    assert_eq!(body["code"], "NOT_READY");
    assert!(body["message"].is_string());
    assert_eq!(get(&url, "/healthz").await.0, 200);
}

#[tokio::test]
async fn readyz_answers_503_once_the_postgres_database_is_dropped() {
    let Some(db) = FreshDatabase::create("sigil_ready").await else {
        return;
    };
    let mut settings = Settings::new(Mode::All, "127.0.0.1:0", &db.url);
    settings.auth.secret = Some("a-shared-secret-for-every-instance-0123456789".into());
    settings.auth.rate_limit = false;
    settings.auth.argon2_memory_kib = 8 * 1024;
    settings.auth.argon2_iterations = 1;
    settings.common.db_timeout = Duration::from_secs(1);
    let (url, _pool, _stop) = ready_app(settings).await;
    assert_eq!(get(&url, "/readyz").await, (200, json!({ "status": "ok" })));
    db.drop_now().await;
    let (status, body) = get(&url, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "database");
    assert_eq!(get(&url, "/healthz").await.0, 200);
}

#[tokio::test]
async fn serve_api_is_ready_with_its_keys_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(
        Mode::ApiOnly,
        "127.0.0.1:0",
        &format!("sqlite://{}", dir.path().join("tasks.db").display()),
    );
    settings.api.jwt_secret = vec![crate::helpers::HS_SECRET.into()];
    settings.api.jwt_issuer = Some("http://issuer.test".into());
    let (url, pool, _stop) = ready_app(settings).await;
    assert_eq!(get(&url, "/healthz").await.0, 200);
    assert_eq!(get(&url, "/readyz").await, (200, json!({ "status": "ok" })));
    pool.close().await;
    assert_eq!(get(&url, "/readyz").await.0, 503);
}
