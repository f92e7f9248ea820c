//! The generated secret: a private file (mode 0600), and one secret even when two `sigil`
//! processes start at the same moment on a new database; neither fails.

use crate::helpers::SIGIL;
use sigil_test_support::process::{exchange, ready_line};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};

fn post_json(url: &str, path: &str, body: &str) -> String {
    exchange(
        url,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

struct Started {
    child: Child,
    line: String,
    stderr: std::process::ChildStderr,
}

fn spawn(dir: &Path) -> Child {
    sigil_test_support::process::sigil(SIGIL)
        .env("SIGIL_LOG", "warn")
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--rate-limit",
            "off",
            "--argon2-memory-kib",
            "8192",
            "--argon2-iterations",
            "1",
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn ready(mut child: Child) -> Started {
    let line = ready_line(&mut child);
    let stderr = child.stderr.take().unwrap();
    Started {
        child,
        line,
        stderr,
    }
}

fn stop(mut started: Started) -> String {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &started.child.id().to_string()])
        .status();
    let _ = started.child.wait();
    let mut err = String::new();
    let _ = started.stderr.read_to_string(&mut err);
    err
}

#[test]
fn two_processes_starting_at_once_on_a_new_database_share_one_private_secret() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        // Both spawned before either is ready.
        let a = spawn(dir.path());
        let b = spawn(dir.path());
        let (a, b) = (ready(a), ready(b));
        let (line_a, line_b) = (a.line.clone(), b.line.clone());
        if !line_a.starts_with("Sigil listening on ") || !line_b.starts_with("Sigil listening on ")
        {
            let (err_a, err_b) = (stop(a), stop(b));
            panic!("round {round}: a start failed:\nA: {line_a}\n{err_a}\nB: {line_b}\n{err_b}");
        }
        let url_a = line_a["Sigil listening on ".len()..].to_owned();
        let url_b = line_b["Sigil listening on ".len()..].to_owned();

        // One secret file, private.
        let secrets: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("secret"))
            .collect();
        assert_eq!(secrets, ["sigil.secret"], "round {round}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("sigil.secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "round {round}: mode {mode:o}");
        }

        // The same secret in both: a session cookie signed by A is accepted by B.
        let email = format!("race{round}@example.com");
        let up = post_json(
            &url_a,
            "/api/auth/sign-up/email",
            &format!(r#"{{"name":"Race","email":"{email}","password":"a long passphrase"}}"#),
        );
        assert!(up.starts_with("HTTP/1.1 200"), "round {round}: {up}");
        let cookie = up
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("set-cookie: better-auth.session_token=")
                    .then(|| {
                        l["set-cookie: ".len()..]
                            .split(';')
                            .next()
                            .unwrap()
                            .to_owned()
                    })
            })
            .expect("a session cookie");
        let session = exchange(
            &url_b,
            &format!(
                "GET /api/auth/get-session HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
            ),
        );
        assert!(
            session.starts_with("HTTP/1.1 200"),
            "round {round}: {session}"
        );
        assert!(
            session.contains(&email),
            "round {round}: B knows A's session: {session}"
        );
        let (err_a, err_b) = (stop(a), stop(b));
        assert!(!err_a.contains("ERROR"), "{err_a}");
        assert!(!err_b.contains("ERROR"), "{err_b}");
    }
}
