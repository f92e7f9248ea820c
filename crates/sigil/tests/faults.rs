//! Several `sigil serve` processes on this machine's PostgreSQL and Redis, each behind TCP
//! proxies the test controls (cut: connections closed and refused; silent: connections held open
//! and nothing forwarded), checking the invariants of a bad day:
//!
//! * once a sign-out has answered, every instance refuses that session's tokens within its
//!   revocation poll interval + 1 s, whatever happened to Redis or the database, and forever
//!   after;
//! * a database outage is answered 503 `SERVICE_UNAVAILABLE` with `Retry-After` within the
//!   database timeout, and the instance recovers without a restart;
//! * Redis down: the service keeps working (rate limits in memory) with bounded latency, an
//!   instance starts without it and attaches when it returns;
//! * instances starting together agree on one signing key; an unknown key id is looked up;
//! * kill -9 under writes loses no acknowledged write, on SQLite and PostgreSQL.
//!
//! Waits are polls for a condition with a deadline, never fixed sleeps. Runs when
//! `SIGIL_TEST_POSTGRES_URL` and `SIGIL_TEST_REDIS_URL` are set (`scripts/test` sets them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// A binary of its own (not a module of tests/api): its instances need PostgreSQL's connection
// budget and a quiet machine for the latency bounds they measure in wall-clock time, and cargo
// runs test binaries one after another. Within this binary, `SERIAL` runs its tests one at a time.
// It shares the api binary's helpers.
#[path = "api/helpers.rs"]
mod helpers;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sigil_test_support::{FreshDatabase, PASSWORD, service_url};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The revocation poll interval of the instances under test.
const POLL: Duration = Duration::from_millis(300);
/// The bound of the invariant: poll interval + 1 s.
const BOUND: Duration = Duration::from_millis(1300);
const SECRET: &str = "a-shared-secret-for-every-instance-0123456789";
const BASE_URL: &str = "http://sigil.test";

// ---------------------------------------------------------------------------------------------
// A TCP proxy the test controls.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Up,
    /// Every connection closed, new ones accepted and closed at once (a refusing peer).
    Cut,
    /// Connections held open, nothing forwarded (packets dropped).
    Silent,
}

struct Proxy {
    port: u16,
    state: watch::Sender<Link>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (state, _) = watch::channel(Link::Up);
        let states = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let mut watching = states.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let link = *watching.borrow_and_update();
                    match link {
                        Link::Cut => drop(client),
                        Link::Silent => {
                            // Hold it, forward nothing, until the link changes.
                            let _ = watching.changed().await;
                            drop(client);
                        }
                        Link::Up => {
                            let Ok(server) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            let (mut client, mut server) = (client, server);
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = async { watching.wait_for(|l| *l != Link::Up).await.is_ok() } => {
                                    let silent = *watching.borrow() == Link::Silent;
                                    if silent {
                                        // Stop forwarding but keep both ends open.
                                        let _ = watching.wait_for(|l| *l != Link::Silent).await;
                                    }
                                    let _ = client.shutdown().await;
                                }
                            }
                        }
                    }
                });
            }
        });
        Proxy { port, state, task }
    }

    fn set(&self, link: Link) {
        self.state.send_replace(link);
    }

    /// The upstream URL rewritten to go through this proxy.
    fn url_for(&self, upstream_url: &str) -> String {
        let parsed = url::Url::parse(upstream_url).unwrap();
        let mut through = parsed.clone();
        through.set_host(Some("127.0.0.1")).unwrap();
        through.set_port(Some(self.port)).unwrap();
        through.to_string()
    }
}

fn host_port(url: &str) -> String {
    let parsed = url::Url::parse(url).unwrap();
    format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port_or_known_default().unwrap()
    )
}

// ---------------------------------------------------------------------------------------------
// `sigil serve` processes.

struct Instance {
    name: String,
    url: String,
    child: Child,
    log: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    /// Starts `target/debug/sigil serve` with `env` and waits for its ready line.
    fn start(name: &str, dir: &Path, env: &[(&str, String)]) -> Instance {
        let log = dir.join(format!("{name}.log"));
        let mut cmd = sigil_test_support::process::sigil(env!("CARGO_BIN_EXE_sigil"));
        cmd.arg("serve")
            .current_dir(dir)
            .env("SIGIL_LOG", "info")
            .env("SIGIL_ADDR", "127.0.0.1:0")
            .env("SIGIL_BASE_URL", BASE_URL)
            .env("SIGIL_RATE_LIMIT", "off")
            .env("SIGIL_ARGON2_MEMORY_KIB", "8192")
            .env("SIGIL_ARGON2_ITERATIONS", "1")
            .env(
                "SIGIL_REVOCATION_POLL_INTERVAL",
                format!("{}ms", POLL.as_millis()),
            )
            .env("SIGIL_DB_TIMEOUT", "1s")
            .env("SIGIL_REDIS_TIMEOUT", "300ms")
            .env("SIGIL_MAIL_FILE", dir.join("mail.jsonl"));
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1"))
            .unwrap_or_else(|| {
                panic!(
                    "{name} did not start: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        Instance {
            name: name.to_owned(),
            url,
            child,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = client.post(url).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A signed-in session on `instance`: (user id, session token, JWT).
async fn session(
    client: &reqwest::Client,
    instance: &Instance,
    email: &str,
) -> (String, String, String) {
    let (status, body) = post(
        client,
        &format!("{}/api/auth/sign-in/email", instance.url),
        None,
        json!({ "email": email, "password": PASSWORD }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "sign-in on {}: {body}",
        instance.name
    );
    let user = body["user"]["id"].as_str().unwrap().to_owned();
    let token = body["token"].as_str().unwrap().to_owned();
    let jwt = client
        .get(format!("{}/api/auth/token", instance.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (user, token, jwt)
}

async fn tasks_status(
    client: &reqwest::Client,
    instance: &Instance,
    user: &str,
    jwt: &str,
) -> StatusCode {
    match client
        .get(format!("{}/api/{user}/tasks", instance.url))
        .bearer_auth(jwt)
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(response) => response.status(),
        Err(_) => StatusCode::GATEWAY_TIMEOUT,
    }
}

/// Polls until `instance` stops accepting `jwt` (any answer but 200); returns how long after
/// `since` the refused request was sent, or panics when a request sent after `bound` is accepted.
async fn refused_within(
    client: &reqwest::Client,
    instance: &Instance,
    user: &str,
    jwt: &str,
    since: Instant,
    bound: Duration,
    what: &str,
) -> Duration {
    loop {
        // A 200 breaks the invariant only for a request sent after the bound (one sent before
        // may be answered after it on a loaded machine).
        let sent = since.elapsed();
        let status = tasks_status(client, instance, user, jwt).await;
        if status != StatusCode::OK {
            eprintln!(
                "  ({what}: {} refused a request sent at {sent:?}, answered at {:?})",
                instance.name,
                since.elapsed()
            );
            return sent;
        }
        assert!(
            sent < bound,
            "{what}: {} accepted a signed-out session's token in a request sent {sent:?} after the sign-out (bound {bound:?})\n{}",
            instance.name,
            instance.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The tests of this file run one at a time: each starts several servers with their own
/// connection pools, and together they would exhaust PostgreSQL's `max_connections` (the
/// refusal, "too many clients already", is a test-machine limit, not what is under test).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Polls until `check` holds, or panics after `deadline`.
async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_out(client: &reqwest::Client, instance: &Instance, token: &str) -> Instant {
    let (status, body) = post(
        client,
        &format!("{}/api/auth/sign-out", instance.url),
        Some(token),
        json!({}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "sign-out on {}: {body}",
        instance.name
    );
    Instant::now()
}

struct Cluster {
    instances: Vec<Instance>,
    db_proxies: Vec<Proxy>,
    redis_proxies: Vec<Proxy>,
    _dir: tempfile::TempDir,
}

async fn cluster(db: &FreshDatabase, redis_url: &str, n: usize) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let mut instances = Vec::new();
    let mut db_proxies = Vec::new();
    let mut redis_proxies = Vec::new();
    for i in 0..n {
        let db_proxy = Proxy::start(host_port(&db.url)).await;
        let redis_proxy = Proxy::start(host_port(redis_url)).await;
        let env = [
            ("DATABASE_URL", db_proxy.url_for(&db.url)),
            ("SIGIL_SECRET", SECRET.to_owned()),
            ("SIGIL_REDIS_URL", redis_proxy.url_for(redis_url)),
        ];
        let name = ["A", "B", "C", "D"][i];
        // Started one after the other here; simultaneous starts have their own test.
        let instance = tokio::task::block_in_place(|| Instance::start(name, dir.path(), &env));
        instances.push(instance);
        db_proxies.push(db_proxy);
        redis_proxies.push(redis_proxy);
    }
    Cluster {
        instances,
        db_proxies,
        redis_proxies,
        _dir: dir,
    }
}

fn urls() -> Option<(String, String)> {
    Some((
        service_url("SIGIL_TEST_POSTGRES_URL")?,
        service_url("SIGIL_TEST_REDIS_URL")?,
    ))
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_out_session_is_refused_everywhere_within_the_bound_whatever_fails() {
    let _serial = SERIAL.lock().await;
    let Some((pg, redis)) = urls() else {
        return;
    };
    let db = FreshDatabase::create_on(&pg, "sigil_faults").await;
    let c = cluster(&db, &redis, 3).await;
    let [a, b, cc] = [&c.instances[0], &c.instances[1], &c.instances[2]];
    let http = client();
    let (status, body) = post(
        &http,
        &format!("{}/api/auth/sign-up/email", a.url),
        None,
        json!({ "name": "Faults", "email": "faults@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut revoked: Vec<(String, String)> = Vec::new();
    let mut report = Vec::new();

    // 1. Everything up: a sign-out on A reaches B and C (over Redis, or the poll).
    let (user, token, jwt) = session(&http, a, "faults@example.com").await;
    for i in &c.instances {
        assert_eq!(tasks_status(&http, i, &user, &jwt).await, StatusCode::OK);
    }
    let at = sign_out(&http, a, &token).await;
    for i in [b, cc] {
        let took = refused_within(&http, i, &user, &jwt, at, BOUND, "all up").await;
        report.push(format!("all up: {} refused after {took:?}", i.name));
    }
    revoked.push((user.clone(), jwt));

    // 2. Redis cut for every instance: the sign-out travels through the database only.
    for p in &c.redis_proxies {
        p.set(Link::Cut);
    }
    let (user, token, jwt) = session(&http, b, "faults@example.com").await;
    let started = Instant::now();
    let at = sign_out(&http, b, &token).await;
    assert!(
        at - started < Duration::from_secs(1),
        "a sign-out does not wait on a dead Redis: {:?}",
        at - started
    );
    for i in [a, cc] {
        let took = refused_within(&http, i, &user, &jwt, at, BOUND, "Redis cut").await;
        report.push(format!("Redis cut: {} refused after {took:?}", i.name));
    }
    revoked.push((user.clone(), jwt));

    // 3. Redis silent (packets dropped) for the signer only, back for the others.
    c.redis_proxies[1].set(Link::Up);
    c.redis_proxies[2].set(Link::Up);
    c.redis_proxies[0].set(Link::Silent);
    let (user, token, jwt) = session(&http, a, "faults@example.com").await;
    let started = Instant::now();
    let at = sign_out(&http, a, &token).await;
    assert!(at - started < Duration::from_secs(1), "{:?}", at - started);
    for i in [b, cc] {
        let took = refused_within(&http, i, &user, &jwt, at, BOUND, "signer's Redis silent").await;
        report.push(format!(
            "signer's Redis silent: {} refused after {took:?}",
            i.name
        ));
    }
    revoked.push((user.clone(), jwt));
    c.redis_proxies[0].set(Link::Up);

    // 4. C's database cut, then C's database and Redis silent: C cannot learn of a sign-out
    //    on A, so it must stop vouching for tokens within the bound, and learn it on recovery.
    for (outage, links) in [
        ("C's database cut", [(Link::Cut, Link::Up)]),
        (
            "C's database and Redis silent",
            [(Link::Silent, Link::Silent)],
        ),
    ] {
        let (user, token, jwt) = session(&http, a, "faults@example.com").await;
        let (live_user, _live_token, live_jwt) = session(&http, a, "faults@example.com").await;
        assert_eq!(tasks_status(&http, cc, &user, &jwt).await, StatusCode::OK);
        c.db_proxies[2].set(links[0].0);
        c.redis_proxies[2].set(links[0].1);
        let at = sign_out(&http, a, &token).await;
        let took = refused_within(&http, cc, &user, &jwt, at, BOUND, outage).await;
        report.push(format!("{outage}: C refused after {took:?}"));
        let during = tasks_status(&http, cc, &user, &jwt).await;
        assert_ne!(during, StatusCode::OK);
        c.db_proxies[2].set(Link::Up);
        c.redis_proxies[2].set(Link::Up);
        // Recovery without a restart: a live token is accepted again, and from the bound on the
        // revoked one is never accepted (401 once C has read the sign-out it missed).
        let started = Instant::now();
        loop {
            let sent = at.elapsed();
            let revoked_status = tasks_status(&http, cc, &user, &jwt).await;
            assert!(
                revoked_status != StatusCode::OK || sent < BOUND,
                "{outage}: C accepted a token in a request sent {sent:?} after its sign-out\n{}",
                cc.log()
            );
            let live = tasks_status(&http, cc, &live_user, &live_jwt).await;
            if revoked_status == StatusCode::UNAUTHORIZED && live == StatusCode::OK {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{outage}: C did not recover (revoked: {revoked_status}, live: {live})\n{}",
                cc.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        revoked.push((user, jwt));
    }

    // 5. Forever after: every revoked token refused by every instance.
    for (user, jwt) in &revoked {
        for i in &c.instances {
            assert_eq!(
                tasks_status(&http, i, user, jwt).await,
                StatusCode::UNAUTHORIZED,
                "{} accepts a signed-out session's token again",
                i.name
            );
        }
    }
    eprintln!(
        "revocation latency (bound {BOUND:?}):\n  {}",
        report.join("\n  ")
    );
    drop(c);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_a_quick_503_and_recovers_without_restart() {
    let _serial = SERIAL.lock().await;
    let Some((pg, redis)) = urls() else {
        return;
    };
    let db = FreshDatabase::create_on(&pg, "sigil_faults").await;
    let c = cluster(&db, &redis, 1).await;
    let a = &c.instances[0];
    let http = client();
    let (status, _) = post(
        &http,
        &format!("{}/api/auth/sign-up/email", a.url),
        None,
        json!({ "name": "Db", "email": "db@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (user, token, jwt) = session(&http, a, "db@example.com").await;
    let get_session = || async {
        let response = http
            .get(format!("{}/api/auth/get-session", a.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    // Warm: the session lookup's own connections (sigil-db) are open when the database goes.
    assert_eq!(get_session().await.0, StatusCode::OK);
    assert_eq!(tasks_status(&http, a, &user, &jwt).await, StatusCode::OK);

    for link in [Link::Cut, Link::Silent] {
        c.db_proxies[0].set(link);
        for (path, body) in [
            (
                "/api/auth/sign-in/email",
                json!({ "email": "db@example.com", "password": PASSWORD }),
            ),
            (
                "/api/auth/sign-up/email",
                json!({ "name": "X", "email": "x@example.com", "password": PASSWORD }),
            ),
        ] {
            let started = Instant::now();
            let response = http
                .post(format!("{}{path}", a.url))
                .json(&body)
                .send()
                .await
                .unwrap();
            let took = started.elapsed();
            let status = response.status();
            let retry = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(
                status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{link:?} {path}: {body}"
            );
            assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{body}");
            assert!(retry.is_some(), "503 carries Retry-After");
            assert!(
                took < Duration::from_millis(2500),
                "{link:?} {path}: answered after {took:?} (database timeout 1 s)"
            );
            eprintln!("database {link:?}: {path} answered 503 after {took:?}");
        }
        // The tasks API: no 200 (the feed is stale or the database unreachable), no hang.
        let started = Instant::now();
        let status = tasks_status(&http, a, &user, &jwt).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{link:?} tasks\n{}",
            a.log()
        );
        assert!(started.elapsed() < Duration::from_millis(2500));
        // The session lookup (its own connections on PostgreSQL): a 503, within the timeout.
        let started = Instant::now();
        let (status, body) = get_session().await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{link:?} get-session: {body}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{link:?} get-session answered after {:?}",
            started.elapsed()
        );
        c.db_proxies[0].set(Link::Up);
        eventually(Duration::from_secs(15), "recovery", || async {
            tasks_status(&http, a, &user, &jwt).await == StatusCode::OK
        })
        .await;
        // Connections cut while the database was away are replaced: the session is read again.
        let (status, body) = get_session().await;
        assert_eq!(status, StatusCode::OK, "{link:?} get-session after: {body}");
        assert_eq!(body["user"]["id"], user.as_str(), "{body}");
        let (status, _) = post(
            &http,
            &format!("{}/api/auth/sign-in/email", a.url),
            None,
            json!({ "email": "db@example.com", "password": PASSWORD }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "sign-in works again after {link:?}");
    }
    drop(c);
    db.drop_now().await;
}

/// The guard's own refusal, apart from the database's: with a long database timeout (10 s), a
/// request that reached the database would hang; the guard answers first, as soon as the feed
/// is more than the bound behind, and at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_cut_off_from_the_database_stops_vouching_for_tokens_within_the_bound() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = service_url("SIGIL_TEST_POSTGRES_URL") else {
        return;
    };
    let db = FreshDatabase::create_on(&pg, "sigil_faults").await;
    let dir = tempfile::tempdir().unwrap();
    let db_proxy = Proxy::start(host_port(&db.url)).await;
    let a = tokio::task::block_in_place(|| {
        Instance::start(
            "A",
            dir.path(),
            &[
                ("DATABASE_URL", db_proxy.url_for(&db.url)),
                ("SIGIL_SECRET", SECRET.to_owned()),
                ("SIGIL_DB_TIMEOUT", "10s".to_owned()),
            ],
        )
    });
    let http = client();
    let (status, _) = post(
        &http,
        &format!("{}/api/auth/sign-up/email", a.url),
        None,
        json!({ "name": "S", "email": "s@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (user, _, jwt) = session(&http, &a, "s@example.com").await;
    assert_eq!(tasks_status(&http, &a, &user, &jwt).await, StatusCode::OK);
    db_proxy.set(Link::Silent);
    let cut = Instant::now();
    let url = format!("{}/api/{user}/tasks", a.url);
    let refusal = loop {
        // Requests that reach the silent database hang; the guard's 503 comes on its own.
        let attempt = http
            .get(&url)
            .bearer_auth(&jwt)
            .timeout(Duration::from_millis(300))
            .send()
            .await;
        if let Ok(response) = attempt
            && response.status() == StatusCode::SERVICE_UNAVAILABLE
        {
            break response;
        }
        assert!(
            cut.elapsed() < BOUND + Duration::from_millis(400),
            "no 503 from the guard {:?} after the database went silent\n{}",
            cut.elapsed(),
            a.log()
        );
    };
    assert_eq!(refusal.headers().get("retry-after").unwrap(), "1");
    let body: Value = refusal.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
    assert!(
        body["message"].as_str().unwrap().contains("Sign-outs"),
        "the guard's refusal: {body}"
    );
    eventually(Duration::from_secs(5), "the lag is logged", || async {
        a.log().contains("database revocation feed")
    })
    .await;
    db_proxy.set(Link::Up);
    eventually(Duration::from_secs(15), "recovery", || async {
        tasks_status(&http, &a, &user, &jwt).await == StatusCode::OK
    })
    .await;
    drop(a);
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_service_works_and_attaches_when_redis_returns() {
    let _serial = SERIAL.lock().await;
    let Some((pg, redis)) = urls() else {
        return;
    };
    let db = FreshDatabase::create_on(&pg, "sigil_faults").await;
    let dir = tempfile::tempdir().unwrap();
    let redis_proxy = Proxy::start(host_port(&redis)).await;
    redis_proxy.set(Link::Cut);
    let db_proxy = Proxy::start(host_port(&db.url)).await;
    // A starts while Redis is down; its database poll is slow (30 s) so that only Redis can
    // bring it a sign-out quickly once Redis is back. Rate limits on: in memory meanwhile.
    let a = tokio::task::block_in_place(|| {
        Instance::start(
            "A",
            dir.path(),
            &[
                ("DATABASE_URL", db_proxy.url_for(&db.url)),
                ("SIGIL_SECRET", SECRET.to_owned()),
                ("SIGIL_REDIS_URL", redis_proxy.url_for(&redis)),
                ("SIGIL_REVOCATION_POLL_INTERVAL", "30s".to_owned()),
                ("SIGIL_RATE_LIMIT", "on".to_owned()),
            ],
        )
    });
    let b = tokio::task::block_in_place(|| {
        Instance::start(
            "B",
            dir.path(),
            &[
                ("DATABASE_URL", db.url.clone()),
                ("SIGIL_SECRET", SECRET.to_owned()),
                ("SIGIL_REDIS_URL", redis.clone()),
            ],
        )
    });
    let http = client();
    let started = Instant::now();
    let (status, body) = post(
        &http,
        &format!("{}/api/auth/sign-up/email", a.url),
        None,
        json!({ "name": "R", "email": "r@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (user, _, jwt) = session(&http, &a, "r@example.com").await;
    assert_eq!(tasks_status(&http, &a, &user, &jwt).await, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "without Redis: sign-up, sign-in, token and a call took {:?}",
        started.elapsed()
    );
    // The in-memory limiter holds: the 4th sign-in within 10 s is refused.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, _) = post(
            &http,
            &format!("{}/api/auth/sign-in/email", a.url),
            None,
            json!({ "email": "r@example.com", "password": "wrong password here" }),
        )
        .await;
        statuses.push(status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "rate limited in memory while Redis is down: {statuses:?}"
    );
    assert!(a.log().contains("Redis"), "the outage is logged");

    // Redis returns: A attaches, and a sign-out on B reaches A through Redis, long before A's
    // 30 s poll would bring it.
    redis_proxy.set(Link::Up);
    let (user2, token2, jwt2) = session(&http, &b, "r@example.com").await;
    assert_eq!(tasks_status(&http, &a, &user2, &jwt2).await, StatusCode::OK);
    let mut attached = false;
    let deadline = Instant::now() + Duration::from_secs(12);
    // A's Redis follower retries at most every 5 s; each sign-out is a fresh session.
    let mut last = (user2, token2, jwt2);
    while Instant::now() < deadline {
        let (u, t, j) = last.clone();
        let at = sign_out(&http, &b, &t).await;
        let mut refused = false;
        while at.elapsed() < Duration::from_millis(500) {
            if tasks_status(&http, &a, &u, &j).await == StatusCode::UNAUTHORIZED {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if refused {
            attached = true;
            break;
        }
        last = session(&http, &b, "r@example.com").await;
    }
    assert!(
        attached,
        "A attached to Redis after it returned\n{}",
        a.log()
    );
    drop((a, b));
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_simultaneous_starts_on_a_fresh_postgres_database_agree_on_one_key() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = service_url("SIGIL_TEST_POSTGRES_URL") else {
        return;
    };
    let db = FreshDatabase::create_on(&pg, "sigil_faults").await;
    let dir = tempfile::tempdir().unwrap();
    let starts = (0..20).map(|_| {
        let mut s = helpers::test_settings(&dir);
        s.common.database_url = db.url.clone().into();
        s.auth.secret = Some(SECRET.into());
        s.auth.base_url = Some(BASE_URL.parse().unwrap());
        sigil::app::App::build(s)
    });
    let apps: Vec<_> = futures_join_all(starts).await;
    every_token_accepted_everywhere(apps).await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_simultaneous_starts_on_a_fresh_sqlite_file_agree_on_one_key() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let starts = (0..20).map(|_| {
        let mut s = helpers::test_settings(&dir);
        s.common.database_url = format!("sqlite://{}", db.display()).into();
        s.auth.secret = Some(SECRET.into());
        s.auth.base_url = Some(BASE_URL.parse().unwrap());
        sigil::app::App::build(s)
    });
    let apps: Vec<_> = futures_join_all(starts).await;
    every_token_accepted_everywhere(apps).await;
}

async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

async fn every_token_accepted_everywhere(
    apps: Vec<Result<sigil::app::App, sigil::app::StartError>>,
) {
    let mut urls = Vec::new();
    let mut stops = Vec::new();
    for app in apps {
        let app = app.expect("every simultaneous start succeeds");
        urls.push(app.listen_url());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        stops.push(tx);
    }
    let http = client();
    let (status, body) = post(
        &http,
        &format!("{}/api/auth/sign-up/email", urls[0]),
        None,
        json!({ "name": "K", "email": "k@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = body["user"]["id"].as_str().unwrap().to_owned();
    let token = body["token"].as_str().unwrap().to_owned();
    let mut kids = std::collections::BTreeSet::new();
    let mut jwts = Vec::new();
    for url in &urls {
        let answer: Value = http
            .get(format!("{url}/api/auth/token"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwt = answer["token"].as_str().unwrap().to_owned();
        kids.insert(
            helpers::jwt_header(&jwt)["kid"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        jwts.push(jwt);
    }
    assert_eq!(
        kids.len(),
        1,
        "one signing key for every instance: {kids:?}"
    );
    for url in &urls {
        for jwt in &jwts {
            // A 503 (the instance's revocation feed not yet caught up on a loaded machine: it
            // refuses to vouch for tokens until it has) is retried; a 401 is the failure.
            let started = Instant::now();
            let status = loop {
                let status = http
                    .get(format!("{url}/api/{user}/tasks"))
                    .bearer_auth(jwt)
                    .send()
                    .await
                    .unwrap()
                    .status();
                if status != StatusCode::SERVICE_UNAVAILABLE
                    || started.elapsed() > Duration::from_secs(15)
                {
                    break status;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            assert_eq!(status, StatusCode::OK, "a token from one instance on {url}");
        }
    }
    drop(stops);
}

/// A key another instance created after this one started (here: written straight into the
/// store, and newer, so a second instance signs with it) is looked up (or already reloaded), not
/// refused.
#[tokio::test]
async fn an_unknown_key_id_is_looked_up_in_the_store() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let settings = |dir: &tempfile::TempDir| {
        let mut s = helpers::test_settings(dir);
        s.common.database_url = format!("sqlite://{}", db.display()).into();
        s.auth.secret = Some(SECRET.into());
        s.auth.base_url = Some(BASE_URL.parse().unwrap());
        s
    };
    let first = sigil::app::App::build(settings(&dir)).await.unwrap();
    let first_url = first.listen_url();
    let (stop_first, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(first.run_until(async move {
        let _ = stopped.await;
    }));
    // A second key, sealed with the shared secret, dated after the first.
    let key = sigil_token::SigningKey::generate(
        sigil_token::Algorithm::EdDSA,
        Some("a-key-made-elsewhere".into()),
    )
    .unwrap();
    let public = serde_json::to_string(&key.verifying_key().to_jwk().unwrap()).unwrap();
    let private = serde_json::to_vec(&key.to_private_jwk()).unwrap();
    let sealed =
        sigil_auth::crypto::seal(SECRET.as_bytes(), "sigil/jwks-private-key/v1", &private).unwrap();
    let (pool, _) = sigil_auth::store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let later = sigil_guard::clock::ManualClock::starting_now()
        .shared()
        .now_ms()
        + 1_000;
    sqlx::query("INSERT INTO jwks (kid, alg, public_jwk, private_jwk, created_at, expires_at) VALUES ($1, 'EdDSA', $2, $3, $4, NULL)")
        .bind("a-key-made-elsewhere")
        .bind(public)
        .bind(sealed)
        .bind(later)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let second = sigil::app::App::build(settings(&dir)).await.unwrap();
    let second_url = second.listen_url();
    let (stop_second, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(second.run_until(async move {
        let _ = stopped.await;
    }));

    let http = client();
    let (status, body) = post(
        &http,
        &format!("{second_url}/api/auth/sign-up/email"),
        None,
        json!({ "name": "K", "email": "kid@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = body["user"]["id"].as_str().unwrap().to_owned();
    let token = body["token"].as_str().unwrap().to_owned();
    let answer: Value = http
        .get(format!("{second_url}/api/auth/token"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = answer["token"].as_str().unwrap();
    assert_eq!(helpers::jwt_header(jwt)["kid"], "a-key-made-elsewhere");
    let status = http
        .get(format!("{first_url}/api/{user}/tasks"))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        StatusCode::OK,
        "the first instance looks the new key up in the store"
    );
    drop((stop_first, stop_second));
}

// ---------------------------------------------------------------------------------------------
// kill -9 under writes.

async fn kill_nine_under_writes(database_url: &str, dir: &Path) {
    let env = [
        ("DATABASE_URL", database_url.to_owned()),
        ("SIGIL_SECRET", SECRET.to_owned()),
    ];
    let mut first = tokio::task::block_in_place(|| Instance::start("writer", dir, &env));
    let http = client();
    let (status, body) = post(
        &http,
        &format!("{}/api/auth/sign-up/email", first.url),
        None,
        json!({ "name": "W", "email": "w@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (user, _, jwt) = session(&http, &first, "w@example.com").await;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let http = http.clone();
            let url = format!("{}/api/{user}/tasks", first.url);
            let jwt = jwt.clone();
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    let title = format!("w{w}-{n}");
                    let Ok(response) = http
                        .post(&url)
                        .bearer_auth(&jwt)
                        .json(&json!({ "title": title }))
                        .send()
                        .await
                    else {
                        return;
                    };
                    if response.status() != StatusCode::CREATED {
                        return;
                    }
                    // Acknowledged: the 201 arrived.
                    acknowledged.lock().unwrap().push(title);
                }
            })
        })
        .collect();
    eventually(Duration::from_secs(20), "writes under way", || async {
        acknowledged.lock().unwrap().len() >= 200
    })
    .await;
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    for writer in writers {
        let _ = writer.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let second = tokio::task::block_in_place(|| Instance::start("restarted", dir, &env));
    let listed: Value = http
        .get(format!("{}/api/{user}/tasks", second.url))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: std::collections::HashSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|t| !stored.contains(t.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost after kill -9: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_under_writes_loses_no_acknowledged_write_on_sqlite() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    kill_nine_under_writes(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_under_writes_loses_no_acknowledged_write_on_postgres() {
    let _serial = SERIAL.lock().await;
    let Some(pg) = service_url("SIGIL_TEST_POSTGRES_URL") else {
        return;
    };
    let db = FreshDatabase::create_on(&pg, "sigil_faults").await;
    let dir = tempfile::tempdir().unwrap();
    kill_nine_under_writes(&db.url, dir.path()).await;
    db.drop_now().await;
}
