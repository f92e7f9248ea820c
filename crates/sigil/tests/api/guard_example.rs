//! sigil-guard's example service (`crates/sigil-guard/examples/hello_api.rs`), run as its own
//! process against a live Sigil: it fetches Sigil's JWKS, lets a signed-in user read their own
//! route, and refuses everyone else the way the guard promises.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

/// The example's executable as `cargo test --workspace` built it (cargo builds every package's
/// examples when it tests them, into `target/<profile>/examples/`, beside this test's `deps/`).
/// No nested `cargo build` here: it would compile the dependencies again with another feature
/// set. A missing or outdated executable fails the test with the command that builds it.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let binary = profile_dir
        .join("examples")
        .join(format!("hello_api{}", std::env::consts::EXE_SUFFIX));
    let how = "build it with `cargo test --workspace` (or `cargo build -p sigil-guard --example hello_api`)";
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "the guard example is not built at {}: {how}",
                binary.display()
            )
        });
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources = ["sigil-guard/src", "sigil-guard/examples", "sigil-token/src"];
    for dir in sources.map(|d| crates.join(d)) {
        if let Some(newer) = newest_file(&dir).filter(|(time, _)| *time > built) {
            panic!(
                "the guard example at {} is older than {}: {how}",
                binary.display(),
                newer.1.display()
            );
        }
    }
    binary
}

/// The most recently modified file under `dir`.
fn newest_file(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let candidate = if path.is_dir() {
            newest_file(&path)
        } else {
            entry.metadata().ok()?.modified().ok().map(|t| (t, path))
        };
        if let Some(c) = candidate
            && newest.as_ref().is_none_or(|n| c.0 > n.0)
        {
            newest = Some(c);
        }
    }
    newest
}

/// The example process; killed when dropped.
struct Example {
    child: Child,
    url: String,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_example(jwks_url: &str) -> Example {
    let mut command = Command::new(example_binary());
    for var in [
        "SIGIL_JWKS_FILE",
        "SIGIL_JWKS",
        "SIGIL_JWT_SECRET",
        "SIGIL_JWT_ISSUER",
        "SIGIL_JWT_AUDIENCE",
        "SIGIL_BASE_URL",
        "SIGIL_JWT_LEEWAY",
        "SIGIL_TOKEN_CACHE",
    ] {
        command.env_remove(var);
    }
    let mut child = command
        .env("SIGIL_JWKS_URL", jwks_url)
        .env("ADDR", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the example starts");
    let stdout = child.stdout.take().unwrap();
    let mut example = Example {
        child,
        url: String::new(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    example.url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the example prints `listening on http://…`");
    example
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    jwt: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut request = client.request(Method::GET, url);
    if let Some(jwt) = jwt {
        request = request.bearer_auth(jwt);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_example_protects_its_routes_with_a_live_sigils_jwks() {
    let sigil = spawn_app().await;
    let ada = sigil.user("ada@example.com").await;
    let grace = sigil.user("grace@example.com").await;
    let example = start_example(&format!("{}/api/auth/jwks", sigil.url)).await;
    let client = reqwest::Client::new();
    let hello = |id: &str| format!("{}/api/{id}/hello", example.url);

    // Her own route, with a JWT from Sigil's /api/auth/token.
    let (status, _, body) = get(&client, &hello(&ada.id), Some(&ada.jwt)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"user_id": ada.id, "email": "ada@example.com"}));

    // Someone else's route: 403 before the handler runs.
    let (status, _, _) = get(&client, &hello(&grace.id), Some(&ada.jwt)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = get(&client, &hello(&grace.id), Some(&grace.jwt)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user_id"], grace.id);

    // No token (and a token in the query string is no token): a bare challenge.
    let (status, challenge, _) = get(&client, &hello(&ada.id), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer realm="sigil""#));
    let (status, _, _) = get(
        &client,
        &format!("{}?access_token={}", hello(&ada.id), ada.jwt),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A token from another Sigil (another key, another issuer) and a tampered one.
    let stranger = spawn_app().await.user("eve@example.com").await;
    let (status, challenge, _) = get(&client, &hello(&stranger.id), Some(&stranger.jwt)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains(r#"error="invalid_token""#));
    let mut tampered = ada.jwt.clone();
    tampered.pop();
    tampered.push(if ada.jwt.ends_with('A') { 'B' } else { 'A' });
    let (status, _, _) = get(&client, &hello(&ada.id), Some(&tampered)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
