//! The `sigil` executable itself: starts on a free port, prints where it listens, answers, stops
//! cleanly on SIGTERM and Ctrl-C (SIGINT) leaving one self-contained SQLite file, and refuses
//! unusable settings with a clear message, creating nothing.

use crate::helpers::SIGIL;
use sigil_test_support::process::{exchange, http, ready_line, signal};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sigil() -> Command {
    let mut cmd = sigil_test_support::process::sigil(SIGIL);
    cmd.env("SIGIL_LOG", "info");
    cmd
}

/// Starts `sigil` with `args` in `dir` and returns it with the line it printed when ready.
fn start(dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = sigil()
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = ready_line(&mut child);
    (child, line)
}

fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    sigil_test_support::process::wait_for_exit(child, Duration::from_secs(20))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The users and tasks in an SQLite file, read with nothing but that file.
async fn rows_in(db: &Path) -> (Vec<String>, Vec<String>) {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let check: (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check.0, "ok");
    let users: Vec<(String,)> = sqlx::query_as("SELECT email FROM users ORDER BY email")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let tasks: Vec<(String,)> = sqlx::query_as("SELECT title FROM tasks ORDER BY title")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    (
        users.into_iter().map(|r| r.0).collect(),
        tasks.into_iter().map(|r| r.0).collect(),
    )
}

/// Serves, writes a user and a task, stops on `sig`, and checks that the directory holds the
/// database and its secret only, and that the database file alone holds everything.
async fn stops_cleanly_on(sig: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, line) = start(dir.path(), &["serve", "--addr", "127.0.0.1:0"]);
    let url = line
        .strip_prefix("Sigil listening on ")
        .expect("prints where it listens")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    assert!(
        !url.ends_with(":0"),
        "the bound port, not the configured one: {line}"
    );

    assert_eq!(
        http(&url, "GET", "/api/auth/ok", None),
        (200, r#"{"ok":true}"#.to_owned())
    );
    let email = format!("{}@example.com", sig.to_lowercase());
    let (status, body) = http(
        &url,
        "POST",
        "/api/auth/sign-up/email",
        Some(&format!(
            r#"{{"name":"Stop","email":"{email}","password":"a long passphrase"}}"#
        )),
    );
    assert_eq!(status, 200, "{body}");
    let token = body
        .split(r#""token":""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let user_id = body
        .split(r#""id":""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    // A JWT for the tasks API, then a task: writes to both components' tables.
    let jwt = {
        let host = url.strip_prefix("http://").unwrap();
        let answer = exchange(
            &url,
            &format!(
                "GET /api/auth/token HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\r\n"
            ),
        );
        answer
            .split(r#""token":""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned()
    };
    let (status, answer) = sigil_test_support::process::http_with(
        &url,
        "POST",
        &format!("/api/{user_id}/tasks"),
        &format!("Authorization: Bearer {jwt}\r\n"),
        Some(r#"{"title":"survives the stop"}"#),
    );
    assert_eq!(status, 201, "{answer}");
    // A list read too: on SQLite it goes through the tasks store's own read-only connections,
    // which must be closed before the pool for the -wal and -shm files to go.
    let (status, answer) = sigil_test_support::process::http_with(
        &url,
        "GET",
        &format!("/api/{user_id}/tasks"),
        &format!("Authorization: Bearer {jwt}\r\n"),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("survives the stop"), "{answer}");
    assert!(
        dir.path().join("sigil.db-wal").exists(),
        "SQLite runs in WAL mode while serving"
    );

    signal(&child, sig);
    let status = wait_for_exit(&mut child);
    assert!(status.success(), "clean exit on SIG{sig}: {status}");
    assert_eq!(
        files_in(dir.path()),
        ["sigil.db", "sigil.secret"],
        "no -wal or -shm file left after SIG{sig}"
    );

    // The .db file alone, copied elsewhere, is the whole database.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("sigil.db"), copy.path().join("backup.db")).unwrap();
    let (users, tasks) = rows_in(&copy.path().join("backup.db")).await;
    assert_eq!(users, [email]);
    assert_eq!(tasks, ["survives the stop"]);
}

#[tokio::test]
async fn sigterm_closes_the_database_and_leaves_one_self_contained_file() {
    stops_cleanly_on("TERM").await;
}

#[tokio::test]
async fn ctrl_c_closes_the_database_and_leaves_one_self_contained_file() {
    stops_cleanly_on("INT").await;
}

#[test]
fn the_ready_line_shows_the_bound_address_and_the_public_url_when_it_differs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, line) = start(
        dir.path(),
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--base-url",
            "https://auth.example.com",
            // An https base URL needs a mail transport other than the log (logs.rs).
            "--mail-file",
            "mail.jsonl",
        ],
    );
    signal(&child, "TERM");
    assert!(wait_for_exit(&mut child).success());
    let rest = line
        .strip_prefix("Sigil listening on http://127.0.0.1:")
        .unwrap();
    let (port, public) = rest.split_once(' ').unwrap();
    assert!(port.parse::<u16>().unwrap() > 0, "{line}");
    assert_eq!(public, "(public URL https://auth.example.com)");
}

/// Runs `sigil` in a fresh directory, expects a refusal naming `expected`, and that the
/// directory is still empty.
fn refused(args: &[&str], env: &[(&str, &str)], expected: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = sigil();
    command.args(args).current_dir(dir.path());
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} started: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: expected {expected:?} in\n{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening"),
        "{args:?}"
    );
    assert_eq!(
        files_in(dir.path()),
        Vec::<String>::new(),
        "{args:?} left files behind"
    );
    out
}

#[test]
fn refused_starts_say_why_and_create_nothing() {
    let serve = |extra: &[&'static str]| {
        let mut args = vec!["serve", "--addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        args
    };
    refused(&serve(&["--secret", "too-short"]), &[], "at least 32");
    refused(&serve(&[]), &[("SIGIL_SECRET", "short")], "at least 32");
    refused(&["serve", "--jwt-alg", "HS256"], &[], "--jwt-secret");
    // PostgreSQL without a shared secret: refused before connecting (the port is closed).
    refused(
        &serve(&["--database-url", "postgres://postgres@127.0.0.1:1/sigil"]),
        &[],
        "SIGIL_SECRET (or --secret) is required with PostgreSQL",
    );
    // A missing directory is named as such.
    refused(
        &serve(&["--database-url", "sqlite://data/sigil.db"]),
        &[],
        "the directory data does not exist",
    );
    refused(
        &serve(&[]),
        &[("DATABASE_URL", "sqlite://no/such/dir/sigil.db")],
        "the directory no/such/dir does not exist",
    );
    // Not a database URL, no file, a directory.
    refused(
        &serve(&["--database-url", "mysql://localhost/sigil"]),
        &[],
        "is not a database URL",
    );
    refused(
        &serve(&["--database-url", "sigil.db"]),
        &[],
        "is not a database URL",
    );
    refused(
        &serve(&["--database-url", "sqlite://"]),
        &[],
        "names no file",
    );
    refused(
        &serve(&["--database-url", "sqlite://."]),
        &[],
        "is a directory",
    );
    refused(&serve(&["--cors-origins", "*"]), &[], "must list origins");
    refused(
        &serve(&["--client-ip-header", "not a header"]),
        &[],
        "not a header name",
    );
    refused(
        &serve(&["--argon2-memory-kib", "1"]),
        &[],
        "argon2 parameters",
    );
    refused(
        &["serve-api", "--addr", "127.0.0.1:0"],
        &[],
        "serve-api needs exactly one of",
    );
    refused(
        &[
            "serve-api",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            "sqlite://tasks.db",
            "--jwt-secret",
            "a-jwt-secret-for-the-api-0123456789abcdef",
        ],
        &[],
        "the issuer every token must name",
    );
}

#[test]
fn a_refused_listen_address_creates_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    refused(&["serve", "--addr", &addr], &[], "cannot listen on");
}

#[test]
fn a_bad_stored_secret_is_refused_before_the_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sigil.secret"), "short\n").unwrap();
    let out = sigil()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sigil.secret"), "{stderr}");
    assert_eq!(files_in(dir.path()), ["sigil.secret"]);
}

/// Starts `serve-api` on a tasks-only database and returns what it logged within a few seconds
/// of being ready.
fn serve_api_log(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "serve-api",
        "--addr",
        "127.0.0.1:0",
        "--database-url",
        "sqlite://tasks.db",
        "--jwt-secret",
        "a-jwt-secret-for-the-api-0123456789abcdef",
        "--jwt-issuer",
        "http://127.0.0.1:8080",
    ];
    args.extend_from_slice(extra);
    let mut child = sigil()
        .args(&args)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = ready_line(&mut child);
    assert!(
        ready.starts_with("Sigil listening on http://127.0.0.1:"),
        "{ready}"
    );
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("revocations:") {
            break;
        }
    }
    signal(&child, "TERM");
    assert!(wait_for_exit(&mut child).success());
    log
}

#[test]
fn serve_api_says_what_carries_revocations() {
    let alone = serve_api_log(&[]);
    assert!(alone.contains("revocations: none configured"), "{alone}");
    assert!(alone.contains("Set SIGIL_REDIS_URL"), "{alone}");
    assert!(!alone.contains("no revocation table"), "{alone}");
    // With Redis configured (not reachable here: the message is about the configuration).
    let redis = serve_api_log(&["--redis-url", "redis://127.0.0.1:1"]);
    assert!(
        redis.contains("revocations: received through Redis"),
        "{redis}"
    );
    assert!(!redis.contains("none configured"), "{redis}");
}
