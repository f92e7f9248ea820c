//! sigil-guard's example service (`crates/sigil-guard/examples/hello_api.rs`), run as its own
//! process against a live Sigil: it fetches Sigil's JWKS, lets a signed-in user read their own
//! route, and refuses everyone else the way the guard promises.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Builds the example with the same cargo and profile as this test (a no-op when it is up to
/// date: `cargo test` of sigil-guard builds it too) and returns the executable's path, read from
/// cargo's own artifact messages rather than guessed.
fn build_example() -> PathBuf {
    let mut cargo = Command::new(env!("CARGO"));
    // Cargo gives this test process the variables of *this* package (CARGO_PKG_NAME, …); build
    // scripts such as ring's ask to rerun when those change, so passing them on would rebuild
    // half the dependency tree here and again in the next plain `cargo test`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                &*name,
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_BIN_NAME"
                    | "OUT_DIR"
            )
        {
            cargo.env_remove(&*name);
        }
    }
    let output = cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "-p",
            "sigil-guard",
            "--example",
            "hello_api",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo build --example hello_api failed"
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "hello_api")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported the example's executable")
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
    let binary = tokio::task::spawn_blocking(build_example).await.unwrap();
    let mut command = Command::new(binary);
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
