//! The `sigil` executable itself: starts on a free port, prints its URL, answers, stops cleanly
//! on SIGTERM, and refuses unusable settings with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn sigil() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
    for var in [
        "DATABASE_URL",
        "SIGIL_SECRET",
        "BETTER_AUTH_SECRET",
        "SIGIL_JWT_SECRET",
        "SIGIL_JWT_ALG",
        "SIGIL_ADDR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn serve_prints_its_url_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = sigil()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("Sigil listening on ")
        .expect("prints its URL")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"));

    let body = std::process::Command::new("curl")
        .args(["-s", &format!("{url}/api/auth/ok")])
        .output();
    if let Ok(out) = body {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"ok\":true}");
    }
    assert!(
        dir.path().join("sigil.db").exists(),
        "SQLite file created in the working directory"
    );
    assert!(
        dir.path().join("sigil.secret").exists(),
        "generated secret stored beside the database"
    );

    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "clean exit on SIGTERM: {status}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_short_secret_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = sigil()
        .args(["serve", "--addr", "127.0.0.1:0", "--secret", "too-short"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 32"), "{stderr}");
    let out = sigil()
        .args(["serve", "--jwt-alg", "HS256"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--jwt-secret"));
}
