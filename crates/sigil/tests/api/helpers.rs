//! Start the real application on port 0 with a fresh SQLite database, and talk HTTP to it. The
//! pieces every crate's tests share (the answers, the services, processes) come from
//! sigil-test-support.
// Also compiled into tests/faults.rs and tests/slow_clients.rs, which use a part of it.
#![allow(dead_code, unused_imports)]

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil::app::App;
use sigil::settings::{Mode, Settings};
use sigil_guard::clock::ManualClock;
use tempfile::TempDir;

pub use sigil_test_support::jwt::{header as jwt_header, payload as jwt_payload};
pub use sigil_test_support::{Answer, FreshDatabase, PASSWORD, service_url};

/// The path of the `sigil` executable cargo built for these tests.
pub const SIGIL: &str = env!("CARGO_BIN_EXE_sigil");

pub const HS_SECRET: &str = "test-jwt-secret-0123456789-abcdefghijklmnop";

/// A running server and a client for it.
pub struct TestApp {
    /// Where to connect (`http://<bound address>`).
    pub url: String,
    /// The configured base URL (JWT issuer/audience); equal to `url` unless a test sets one.
    pub base: String,
    pub client: reqwest::Client,
    pub path: std::path::PathBuf,
    /// The server's clock (every component reads it): starts at the real time and moves only
    /// when a test advances it.
    pub clock: ManualClock,
    dir: Option<TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    stopped: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Settings for a test server: port 0, a database in a fresh temporary directory, rate limits
/// off (tests that exercise them turn them on), cheap argon2 parameters unless a test needs the
/// real ones.
pub fn test_settings(dir: &TempDir) -> Settings {
    let db = dir.path().join("sigil.db");
    let mut settings = Settings::new(
        Mode::All,
        "127.0.0.1:0",
        &format!("sqlite://{}", db.display()),
    );
    settings.auth.rate_limit = false;
    settings.auth.argon2_memory_kib = 8 * 1024;
    settings.auth.argon2_iterations = 1;
    settings.auth.mail_file = Some(dir.path().join("mail.jsonl"));
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&dir);
    configure(&mut settings);
    spawn_settings(settings, dir).await
}

pub async fn spawn_settings(settings: Settings, dir: TempDir) -> TestApp {
    let clock = ManualClock::starting_now();
    let app = App::build_with_clock(settings, clock.shared())
        .await
        .expect("app starts");
    let url = format!("http://{}", app.address());
    let base = app.url().to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stopped = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let client = sigil_test_support::client();
    let path = dir.path().to_owned();
    TestApp {
        url,
        base,
        client,
        path,
        clock,
        dir: Some(dir),
        shutdown: Some(tx),
        stopped: Some(stopped),
    }
}

/// A signed-in user: ids and credentials.
#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub session_token: String,
    pub jwt: String,
}

impl TestApp {
    /// Stops the server (after in-flight requests) and hands back its directory.
    pub async fn stop(mut self) -> TempDir {
        // Close the client's pooled connections, so the server has nothing left to drain.
        self.client = reqwest::Client::new();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Wait for the server to have stopped (bounded: an external event, not time passing).
        if let Some(stopped) = self.stopped.take() {
            tokio::time::timeout(std::time::Duration::from_secs(30), stopped)
                .await
                .expect("the server stops")
                .unwrap()
                .unwrap();
        }
        self.dir.take().unwrap()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, HeaderValue::from_str(v).unwrap());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Answer::send(req).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &'static str,
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.url))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Answer::send(req).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.request(Method::POST, path, &[], Some(body)).await
    }

    pub async fn sign_up(&self, name: &str, email: &str, password: &str) -> Answer {
        self.post(
            "/api/auth/sign-up/email",
            json!({ "name": name, "email": email, "password": password }),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/api/auth/sign-in/email",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// The JWT of a session (session token as bearer).
    pub async fn jwt(&self, session_token: &str) -> Answer {
        self.request(
            Method::GET,
            "/api/auth/token",
            &[("authorization", &format!("Bearer {session_token}"))],
            None,
        )
        .await
    }

    /// Signs up and in a new user, returning their session token and a JWT.
    pub async fn user(&self, email: &str) -> User {
        let up = self.sign_up("Test User", email, PASSWORD).await;
        assert_eq!(up.status, StatusCode::OK, "{:?}", up.body);
        let id = up.body["user"]["id"].as_str().unwrap().to_owned();
        let inn = self.sign_in(email, PASSWORD).await;
        assert_eq!(inn.status, StatusCode::OK, "{:?}", inn.body);
        let session_token = inn.body["token"].as_str().unwrap().to_owned();
        let jwt = self.jwt(&session_token).await.body["token"]
            .as_str()
            .unwrap()
            .to_owned();
        User {
            id,
            email: email.to_owned(),
            session_token,
            jwt,
        }
    }

    /// Calls the tasks API with `jwt`.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        jwt: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let auth = jwt.map(|j| format!("Bearer {j}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.request(method, path, &headers, body).await
    }

    pub fn mails(&self) -> Vec<Value> {
        std::fs::read_to_string(self.path.join("mail.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits for a mail of `kind` to `to` (mail is sent in the background): a bounded poll of the
    /// mail file for an external event, not a wait for time to pass.
    pub async fn mail(&self, to: &str, kind: &str) -> Value {
        for _ in 0..100 {
            if let Some(m) = self
                .mails()
                .into_iter()
                .rev()
                .find(|m| m["to"] == to && m["kind"] == kind)
            {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no {kind} mail to {to}");
    }
}
