//! A real identity service on port 0 over a fresh SQLite database, with an in-memory mailer. The
//! answers, the client and the services come from sigil-test-support.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_auth::mail::{Mail, MailKind, MemoryMailer};
use sigil_auth::password::{HashParams, PasswordHasher};
use sigil_auth::store::SqlStore;
use sigil_auth::{AuthConfig, AuthService, Components, Secret};
use sigil_guard::clock::ManualClock;
use std::net::SocketAddr;
use std::sync::Arc;

pub use sigil_test_support::{Answer, PASSWORD, service_url};

pub const SECRET: &str = "identity-test-secret-0123456789-abcdefghijklmnop";

pub struct Server {
    pub url: String,
    pub auth: AuthService,
    pub mailer: MemoryMailer,
    pub hasher: PasswordHasher,
    pub client: reqwest::Client,
    /// The service's clock: starts at the real time and moves only when a test advances it.
    pub clock: ManualClock,
    _dir: tempfile::TempDir,
}

pub async fn server() -> Server {
    server_with(|_| {}).await
}

pub async fn server_with(configure: impl FnOnce(&mut AuthConfig)) -> Server {
    server_with_clock(configure, ManualClock::starting_now()).await
}

/// A server whose time (session expiry and sliding, lock windows, ...) reads `clock`.
pub async fn server_with_clock(
    configure: impl FnOnce(&mut AuthConfig),
    clock: ManualClock,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    server_on(&url, dir, configure, clock).await
}

/// A server on the database at `database_url` (`dir`: a scratch directory it keeps alive).
pub async fn server_on(
    database_url: &str,
    dir: tempfile::TempDir,
    configure: impl FnOnce(&mut AuthConfig),
    clock: ManualClock,
) -> Server {
    // First: it installs rustls's process-wide crypto provider.
    let client = sigil_test_support::client();
    let (pool, backend) = sigil_auth::store::connect(database_url).await.unwrap();
    let mut store = SqlStore::new(pool.clone());
    store.migrate().await.unwrap();
    // As `sigil serve` does: sessions are looked up on connections of their own (sigil-db).
    let timeout = std::time::Duration::from_secs(5);
    if backend == sigil_auth::store::Backend::Postgres {
        let reads = sigil_db::DirectReads::beside(&pool, timeout);
        store = store.with_direct_reads(std::sync::Arc::new(reads));
    } else if let Some(file) = database_url
        .strip_prefix("sqlite://")
        .map(|f| f.split('?').next().unwrap_or(f))
    {
        let reads = sigil_db::SqliteReads::open(std::path::Path::new(file), 4, timeout).unwrap();
        store = store.with_sqlite_reads(std::sync::Arc::new(reads));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = AuthConfig::new(
        url.parse().unwrap(),
        Secret::new(SECRET.as_bytes().to_vec(), "secret").unwrap(),
    );
    config.rate_limit = false;
    configure(&mut config);
    let hasher = PasswordHasher::new(
        HashParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        2,
    )
    .unwrap();
    let mailer = MemoryMailer::new();
    let parts = Components {
        store: Arc::new(store),
        mailer: Arc::new(mailer.clone()),
        hasher: hasher.clone(),
        limiter: None,
        revocation_publisher: None,
        account_listener: None,
        clock: clock.shared(),
    };
    let auth = AuthService::new(config, parts).await.unwrap();
    let router = auth.router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Server {
        url,
        auth,
        mailer,
        hasher,
        client,
        clock,
        _dir: dir,
    }
}

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum As {
    Nobody,
    Bearer(String),
    /// A browser: the cookie plus the Origin header it would send.
    Browser(String),
}

impl Server {
    /// The SQLite file of the server's database (for tests that check what was stored).
    pub fn db_path(&self) -> std::path::PathBuf {
        self._dir.path().join("auth.db")
    }

    pub async fn call(&self, method: Method, path: &str, who: &As, body: Option<Value>) -> Answer {
        self.call_with(method, path, who, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        who: &As,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .client
            .request(method, format!("{}/api/auth{path}", self.url));
        match who {
            As::Nobody => {}
            As::Bearer(t) => req = req.header("authorization", format!("Bearer {t}")),
            As::Browser(c) => req = req.header("cookie", c).header("origin", &self.url),
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Answer::send(req).await
    }

    pub async fn post(&self, path: &str, who: &As, body: Value) -> Answer {
        self.call(Method::POST, path, who, Some(body)).await
    }

    pub async fn sign_up(&self, email: &str) -> Answer {
        self.post(
            "/sign-up/email",
            &As::Nobody,
            json!({ "name": "Test", "email": email, "password": PASSWORD }),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Answer {
        self.post(
            "/sign-in/email",
            &As::Nobody,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Signs up (if needed) and in; the session as a bearer token.
    pub async fn session(&self, email: &str) -> As {
        self.sign_up(email).await;
        let inn = self.sign_in(email, PASSWORD).await;
        assert_eq!(inn.status, StatusCode::OK, "{:?}", inn.body);
        As::Bearer(inn.body["token"].as_str().unwrap().to_owned())
    }

    pub async fn get_session(&self, who: &As) -> Answer {
        self.call(Method::GET, "/get-session", who, None).await
    }

    /// Waits for the newest mail of `kind` to `to` (mail is sent in the background): a bounded
    /// poll for an external event (the mail task), not a wait for time to pass.
    pub async fn mail(&self, to: &str, kind: MailKind) -> Mail {
        for _ in 0..100 {
            if let Some(m) = self.mailer.last(to, kind) {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no {kind:?} mail to {to}");
    }
}
