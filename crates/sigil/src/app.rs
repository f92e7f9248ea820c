//! Building and running one Sigil process: the same [`App::build`] serves `main`, the tests and
//! the benchmarks.

use crate::settings::{
    ApiKeys, Mode, Settings, redact_url, resolve_secret, resolve_secret_noting, secret_file_for,
    sqlite_path,
};
use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode};
use secrecy::ExposeSecret;
use sigil_auth::mail::{FileMailer, LogMailer, Mailer};
use sigil_auth::password::{HashParams, PasswordHasher, QueueLimits};
use sigil_auth::ratelimit::RateLimiter;
use sigil_auth::revocation::{RedisRevocations, RevocationPublisher};
use sigil_auth::store::{AuthStore, Backend, SqlStore};
use sigil_auth::{AccountListener, AuthConfig, AuthService, Components, Secret};
use sigil_db::{DirectReads, SqliteReads};
use sigil_guard::clock::{SharedClock, SystemClock};
use sigil_guard::{Guard, GuardConfig, KeyConfig, SessionDenyList};
use sigil_tasks::TaskStore;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use url::Url;

/// How many users' task lists the in-memory cache keeps.
const TASK_LIST_CACHE_USERS: usize = 10_000;

/// Why the process could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(String),
}

/// A bound, ready-to-run process.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    router: Router,
    address: SocketAddr,
    url: String,
    auth: Option<AuthService>,
    pool: sqlx::AnyPool,
    backend: Backend,
    /// Revocation sync, Redis follower, purge: stopped before the pool closes.
    background: Vec<JoinHandle<()>>,
    /// Timeouts and the connection cap of the accept loop.
    limits: crate::serve::ConnectionLimits,
    /// The database revocation feed, when this process follows one.
    feed: Option<Feed>,
    /// The read caches, for their hit counts at shutdown.
    caches: Caches,
    /// What `/readyz` checks; marked draining at the stop.
    health: crate::health::Health,
    /// The metrics listener and its routes, with `SIGIL_METRICS_ADDR`.
    metrics: Option<(TcpListener, SocketAddr, Router)>,
    /// How long a stop waits for requests in flight.
    shutdown_timeout: Duration,
}

/// The database revocation feed of a process: its status, and its own pool (closed before the
/// main one, so SQLite's last connection is the main pool's).
#[derive(Debug, Clone)]
struct Feed {
    status: Arc<sigil_guard::feed::FeedStatus>,
    own_pool: Option<sqlx::AnyPool>,
}

/// How long the metrics listener may take to close once the main listener has drained.
const METRICS_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Files a start created, removed again when the start fails after creating them.
#[derive(Debug, Default)]
struct Created {
    files: Vec<PathBuf>,
    pool: Option<sqlx::AnyPool>,
}

impl Created {
    /// Notes that `path` did not exist before this start (call before creating it).
    #[cfg(test)]
    fn note_if_new(&mut self, path: &Path) {
        if !path.exists() {
            self.files.push(path.to_owned());
        }
    }

    async fn remove(self) {
        if let Some(pool) = self.pool {
            pool.close().await;
        }
        for file in self.files {
            // The database's WAL and shared-memory files go with it.
            for path in [
                file.clone(),
                suffixed(&file, "-wal"),
                suffixed(&file, "-shm"),
            ] {
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::info!(target: "sigil", file = %path.display(), "start refused: removed the file it had created");
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => {
                        tracing::warn!(target: "sigil", file = %path.display(), %error, "start refused: could not remove the file it had created");
                    }
                }
            }
        }
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// What `DATABASE_URL` points at, checked before anything is opened or created.
#[derive(Debug)]
struct DatabaseTarget {
    backend: Backend,
    /// The SQLite file, unless in memory.
    file: Option<PathBuf>,
}

/// Checks `DATABASE_URL` without touching anything: a known scheme and, for an SQLite file, a
/// directory that exists.
fn check_database_url(url: &str) -> Result<DatabaseTarget, StartError> {
    let shown = redact_url(url);
    let Some(backend) = Backend::of(url) else {
        return Err(StartError::Config(format!(
            "DATABASE_URL {shown:?} is not a database URL: use sqlite://<file> (e.g. sqlite://sigil.db) or postgres://user@host/database"
        )));
    };
    if backend == Backend::Postgres {
        Url::parse(url).map_err(|e| {
            StartError::Config(format!("DATABASE_URL {shown:?} is not a valid URL: {e}"))
        })?;
        return Ok(DatabaseTarget {
            backend,
            file: None,
        });
    }
    let Some(file) = sqlite_path(url) else {
        if url.contains(":memory:") {
            return Ok(DatabaseTarget {
                backend,
                file: None,
            });
        }
        return Err(StartError::Config(format!(
            "DATABASE_URL {shown:?} names no file: use sqlite://<file>, e.g. sqlite://sigil.db or sqlite:///var/lib/sigil/sigil.db"
        )));
    };
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(StartError::Config(format!(
                "DATABASE_URL {shown:?}: {} is not a directory",
                dir.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StartError::Config(format!(
                "DATABASE_URL {shown:?}: the directory {} does not exist; create it first (Sigil creates the database file, not its directory)",
                dir.display()
            )));
        }
        Err(e) => {
            return Err(StartError::Config(format!(
                "DATABASE_URL {shown:?}: cannot use the directory {}: {e}",
                dir.display()
            )));
        }
    }
    if file.is_dir() {
        return Err(StartError::Config(format!(
            "DATABASE_URL {shown:?}: {} is a directory, not a database file",
            file.display()
        )));
    }
    Ok(DatabaseTarget {
        backend,
        file: Some(file),
    })
}

impl App {
    /// Checks the settings, binds the listener, opens and migrates the database, loads keys and
    /// wires the routes.
    ///
    /// Everything that can be refused is checked before anything is created: a refused start
    /// leaves no file behind and migrates nothing. The steps, in order: settings that need no I/O
    /// (database URL and its directory, secrets, origins, mail, hashing parameters); the listen
    /// address; Redis; then the secret file and the database (removed again if a later step
    /// fails when this start created them).
    pub async fn build(settings: Settings) -> Result<App, StartError> {
        App::build_with_clock(settings, SystemClock::shared()).await
    }

    /// [`App::build`] with every component reading the time from `clock`. Tests pass a
    /// `ManualClock` to move the whole server by hours or days; no setting or environment
    /// variable reaches this, so production always runs on the system clock.
    #[doc(hidden)]
    pub async fn build_with_clock(
        settings: Settings,
        clock: SharedClock,
    ) -> Result<App, StartError> {
        let target = check_database_url(settings.common.database_url.expose_secret())?;
        let limits = connection_limits(&settings);
        let cors = cors_layer(&settings.common.cors_origins)?;
        let redis_client = settings
            .common
            .redis_url
            .as_deref()
            .map(|url| {
                redis::Client::open(url)
                    .map_err(|e| StartError::Config(format!("SIGIL_REDIS_URL: {e}")))
            })
            .transpose()?;
        let auth_parts = match settings.mode {
            Mode::All | Mode::AuthOnly => {
                Some(AuthParts::check(&settings, &target, clock.clone())?)
            }
            Mode::ApiOnly => None,
        };
        let api_keys = match settings.mode {
            Mode::ApiOnly => Some(api_guard_config(&settings)?),
            Mode::All | Mode::AuthOnly => None,
        };

        let listener = TcpListener::bind(&settings.common.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: settings.common.addr.clone(),
                source,
            })?;
        let address = listener.local_addr().map_err(|source| StartError::Bind {
            addr: settings.common.addr.clone(),
            source,
        })?;
        let base_url = match &settings.auth.base_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{address}"))
                .map_err(|e| StartError::Config(e.to_string()))?,
        };
        let url = base_url.as_str().trim_end_matches('/').to_owned();
        let metrics_listener = match &settings.common.metrics_addr {
            Some(addr) => {
                let listener =
                    TcpListener::bind(addr)
                        .await
                        .map_err(|source| StartError::Bind {
                            addr: addr.clone(),
                            source,
                        })?;
                let bound = listener.local_addr().map_err(|source| StartError::Bind {
                    addr: addr.clone(),
                    source,
                })?;
                Some((listener, bound))
            }
            None => None,
        };

        // Redis for the identity service (rate limits, revocation messages), before any file.
        let redis = match (&auth_parts, &settings.common.redis_url) {
            (Some(_), Some(url)) => {
                Some(redis_connection(url, settings.common.redis_timeout).await?)
            }
            _ => None,
        };
        let guard = match api_keys {
            Some(config) => Some(
                Guard::from_config(config)
                    .await
                    .map_err(|e| StartError::Config(e.to_string()))?,
            ),
            None => None,
        };

        let mut created = Created::default();
        let wiring = Wiring {
            settings: &settings,
            target: &target,
            base_url,
            auth_parts,
            redis,
            redis_client,
            guard,
            cors,
            clock,
        };
        match wiring.build(&mut created).await {
            Ok((router, auth, pool, mut background, feed, caches, health)) => {
                let metrics = metrics_listener.map(|(listener, bound)| {
                    let handle = crate::prometheus::install();
                    background.push(crate::prometheus::spawn_upkeep(handle.clone()));
                    let sampler = crate::prometheus::Sampler::new(
                        pool.clone(),
                        feed.as_ref().map(|f| f.status.clone()),
                    );
                    let router = crate::prometheus::router(handle, sampler, health.clone());
                    (listener, bound, router)
                });
                Ok(App {
                    caches,
                    listener,
                    router,
                    address,
                    url,
                    auth,
                    pool,
                    backend: target.backend,
                    background,
                    feed,
                    limits,
                    health,
                    metrics,
                    shutdown_timeout: settings.common.shutdown_timeout,
                })
            }
            Err(error) => {
                created.remove().await;
                Err(error)
            }
        }
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where the process listens: `http://<bound address>`.
    pub fn listen_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The public base URL (default `http://<address>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The line `sigil` prints once it is ready: the address actually bound, and the public
    /// base URL too when it is another one (behind a proxy, or `SIGIL_BASE_URL` set).
    pub fn ready_line(&self) -> String {
        let listen = self.listen_url();
        let mut line = if self.url == listen {
            format!("Sigil listening on {listen}")
        } else {
            format!("Sigil listening on {listen} (public URL {})", self.url)
        };
        if let Some(metrics) = self.metrics_address() {
            line.push_str(&format!(" (metrics on http://{metrics}/metrics)"));
        }
        line
    }

    /// The bound address of the metrics listener, with `SIGIL_METRICS_ADDR`.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, bound, _)| *bound)
    }

    /// The database pool (tests close it to see `/readyz` turn 503).
    #[doc(hidden)]
    pub fn pool(&self) -> sqlx::AnyPool {
        self.pool.clone()
    }

    /// How far behind the database revocation feed is (`None`: this process follows none, as a
    /// `serve-api` on a tasks-only database).
    pub fn revocation_feed(&self) -> Option<Arc<sigil_guard::feed::FeedStatus>> {
        self.feed.as_ref().map(|f| f.status.clone())
    }

    /// The identity service, when this process runs one.
    pub fn auth(&self) -> Option<&AuthService> {
        self.auth.as_ref()
    }

    /// Serves until `shutdown` completes, then stops cleanly: the listener closes (new
    /// connections are refused), `/readyz` answers 503 (on the metrics listener, which stays
    /// up until the drain ends), in-flight requests are answered (for at most
    /// `SIGIL_SHUTDOWN_TIMEOUT`), background work stops, and the database pool is closed.
    /// SQLite is checkpointed first, so its `-wal` and `-shm` files are gone and the `.db` file
    /// alone is a complete copy.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let App {
            listener,
            router,
            pool,
            backend,
            background,
            feed,
            limits,
            caches,
            health,
            metrics,
            shutdown_timeout,
            ..
        } = self;
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            health.start_draining();
            tracing::info!(target: "sigil", timeout_ms = shutdown_timeout.as_millis() as u64, "draining: no new connections, finishing requests in flight");
            let _ = stopping.send(());
        };
        let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics_server = metrics.map(|(listener, _, router)| {
            tokio::spawn(crate::serve::serve(listener, router, limits, async move {
                let _ = metrics_stopped.await;
            }))
        });
        let serve = crate::serve::serve(listener, router, limits, signal);
        let drain_limit = async move {
            if stopped.await.is_ok() {
                tokio::time::sleep(shutdown_timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let served = tokio::select! {
            result = serve => result,
            () = drain_limit => {
                tracing::warn!(target: "sigil", timeout_ms = shutdown_timeout.as_millis() as u64, "requests still open at the end of SIGIL_SHUTDOWN_TIMEOUT: stopping anyway");
                Ok(())
            }
        };
        caches.log();
        let _ = metrics_stop.send(());
        if let Some(server) = metrics_server {
            let abort = server.abort_handle();
            if tokio::time::timeout(METRICS_STOP_TIMEOUT, server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        for task in &background {
            task.abort();
        }
        for task in background {
            let _ = task.await;
        }
        if let Some(own_pool) = feed.and_then(|f| f.own_pool) {
            own_pool.close().await;
        }
        // The hot reads' connections close first: on SQLite the pool's last connection then
        // checkpoints and removes the -wal and -shm files.
        caches.close_readers().await;
        close_database(pool, backend).await;
        served
    }
}

/// Creates an empty SQLite database file unless one exists (SQLite takes an empty file as a new
/// database); `true` when this call created it. Exclusive creation, so of two processes starting
/// at once exactly one creates it, and only that one removes it again if its start fails.
fn create_empty(db: &Path) -> std::io::Result<bool> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(db)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether SQLite answered "busy" or "locked" (codes 5 and 6).
fn is_locked(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => matches!(e.code().as_deref(), Some("5" | "6")),
        _ => false,
    }
}

/// Runs migrations, again when they fail (5 attempts in all): SQLite has no migration lock, so
/// a process starting at the same time on the same new database may apply a migration first,
/// and this one's attempt then fails ("table … already exists", its transaction rolled back);
/// the next attempt sees it applied. A real failure fails every attempt and is reported.
async fn migrate_retrying<F, Fut, E>(migrate: F) -> Result<(), StartError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    retrying_at_start(
        "migration failed (another process migrating the same database?)",
        |_| true,
        migrate,
    )
    .await
    .map_err(|error| StartError::Database(error.to_string()))
}

/// Runs `op` up to 5 times while `retry_if` holds for its error, 50 ms × attempt apart: for the
/// start-up steps that can meet another process starting on the same new database.
async fn retrying_at_start<T, E, F, Fut>(
    what: &str,
    retry_if: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut attempt = 1u64;
    loop {
        match op().await {
            Err(error) if attempt < 5 && retry_if(&error) => {
                tracing::info!(target: "sigil", %error, attempt, "{what}: trying again");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// The accept loop's limits; the connection cap defaults to 10,000, or three quarters of the
/// open-file limit when that is lower.
fn connection_limits(settings: &Settings) -> crate::serve::ConnectionLimits {
    let max_connections = settings
        .common
        .max_connections
        .unwrap_or_else(crate::serve::default_max_connections);
    if let Some(files) = crate::serve::open_file_limit()
        && max_connections + 64 > files
    {
        tracing::warn!(
            target: "sigil",
            max_connections,
            open_file_limit = files,
            "SIGIL_MAX_CONNECTIONS is close to or above the open-file limit (ulimit -n): raise the limit or lower the cap"
        );
    }
    crate::serve::ConnectionLimits {
        header_read_timeout: settings.common.header_read_timeout,
        request_body_timeout: settings.common.request_body_timeout,
        keep_alive_timeout: settings.common.keep_alive_timeout,
        max_connections,
    }
}

/// Checkpoints SQLite's write-ahead log into the database file, then closes every connection
/// (SQLite removes the `-wal` and `-shm` files when the last one closes).
async fn close_database(pool: sqlx::AnyPool, backend: Backend) {
    if backend == Backend::Sqlite
        && let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
    {
        tracing::warn!(target: "sigil", %error, "SQLite checkpoint at shutdown failed");
    }
    pool.close().await;
    tracing::info!(target: "sigil", "database closed");
}

/// The identity service's parts that need no I/O, built (and so checked) before anything is
/// bound, opened or created.
struct AuthParts {
    config_jwt_secrets: Vec<Secret>,
    client_ip_header: Option<http::HeaderName>,
    mailer: Arc<dyn Mailer>,
    hasher: PasswordHasher,
    clock: SharedClock,
}

impl AuthParts {
    fn check(
        settings: &Settings,
        target: &DatabaseTarget,
        clock: SharedClock,
    ) -> Result<AuthParts, StartError> {
        // The cookie/key secret: refused here when given and too short, or missing with
        // PostgreSQL; generated (into a file beside an SQLite database) only later.
        if let Some(secret) = &settings.auth.secret {
            Secret::new(secret.expose_secret().as_bytes().to_vec(), "SIGIL_SECRET")
                .map_err(StartError::Config)?;
        } else if target.backend == Backend::Postgres {
            return Err(StartError::Config(
                "SIGIL_SECRET (or --secret) is required with PostgreSQL: every instance must share the same secret".into(),
            ));
        } else if let Some(file) = &target.file
            && secret_file_for(file).exists()
        {
            // Reads and checks the stored secret; writes nothing.
            resolve_secret(settings).map_err(StartError::Config)?;
        }
        // Every HS256 secret (the first signs, all verify), each at least 32 bytes.
        let config_jwt_secrets = settings
            .auth
            .jwt_secret_list()
            .map_err(StartError::Config)?
            .into_iter()
            .map(|s| Secret::new(s.expose_secret().as_bytes().to_vec(), "SIGIL_JWT_SECRET"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StartError::Config)?;
        if settings.auth.jwt_alg.is_symmetric() && config_jwt_secrets.is_empty() {
            return Err(StartError::Config(format!(
                "--jwt-alg {} needs --jwt-secret / SIGIL_JWT_SECRET (at least 32 bytes)",
                settings.auth.jwt_alg
            )));
        }
        let client_ip_header = settings
            .auth
            .client_ip_header
            .as_deref()
            .map(|h| {
                h.parse().map_err(|_| {
                    StartError::Config(format!("SIGIL_CLIENT_IP_HEADER: not a header name: {h}"))
                })
            })
            .transpose()?;
        let mailer: Arc<dyn Mailer> = match (&settings.auth.smtp_url, &settings.auth.mail_file) {
            (Some(url), _) => Arc::new(
                sigil_auth::mail::SmtpMailer::new(url.expose_secret(), &settings.auth.mail_from)
                    .map_err(|e| StartError::Config(e.to_string()))?,
            ),
            (None, Some(path)) => Arc::new(FileMailer::new(path)),
            (None, None) => {
                // Links carry single-use tokens: writing them to a log is for development only.
                let https = settings
                    .auth
                    .base_url
                    .as_ref()
                    .is_some_and(|u| u.scheme() == "https");
                if https && !settings.auth.allow_log_mailer {
                    return Err(StartError::Config(
                        "no mail transport: without SIGIL_SMTP_URL (or SIGIL_MAIL_FILE) reset and verification links would be written to the log, which is for development only; SIGIL_BASE_URL is https, so set SIGIL_SMTP_URL, or --allow-log-mailer on / SIGIL_ALLOW_LOG_MAILER=on to accept it".into(),
                    ));
                }
                tracing::warn!(target: "sigil::mail", "DEVELOPMENT ONLY: no SIGIL_SMTP_URL, so password-reset and verification links (single-use secrets) are written to this log instead of being mailed; anyone who reads the log can use them");
                Arc::new(LogMailer)
            }
        };
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let params = HashParams {
            memory_kib: settings.auth.argon2_memory_kib,
            iterations: settings.auth.argon2_iterations,
            parallelism: 1,
        };
        let limits = QueueLimits {
            per_client: settings.auth.hash_per_client,
            ..QueueLimits::default()
        };
        let hasher = PasswordHasher::with_limits(params, cpus, limits)
            .map_err(|e| StartError::Config(format!("argon2 parameters: {e}")))?;
        Ok(AuthParts {
            config_jwt_secrets,
            client_ip_header,
            mailer,
            hasher,
            clock,
        })
    }
}

/// The part of a start that creates files: the secret file, the database, the migrations, and
/// everything wired on top of them.
struct Wiring<'a> {
    settings: &'a Settings,
    target: &'a DatabaseTarget,
    base_url: Url,
    auth_parts: Option<AuthParts>,
    redis: Option<redis::aio::ConnectionManager>,
    redis_client: Option<redis::Client>,
    guard: Option<Guard>,
    cors: Option<CorsLayer>,
    clock: SharedClock,
}

type Built = (
    Router,
    Option<AuthService>,
    sqlx::AnyPool,
    Vec<JoinHandle<()>>,
    Option<Feed>,
    Caches,
    crate::health::Health,
);

/// The two read caches of a process, kept to report their hit counts when it stops, and the hot
/// reads' own connections, to close them before the pool.
#[derive(Debug, Default)]
struct Caches {
    /// The tasks API's guard (its verified-token cache).
    guard: Option<Guard>,
    /// The tasks store (its task-list cache).
    tasks: Option<TaskStore>,
    /// The hot reads' own connections on an SQLite file (both stores share them).
    sqlite_reads: Option<Arc<SqliteReads>>,
    /// The hot reads' own connections on PostgreSQL (both stores share them).
    direct_reads: Option<Arc<DirectReads>>,
}

impl Caches {
    /// Closes the hot reads' connections (the stores then read through the pool), before the
    /// pool closes.
    async fn close_readers(&self) {
        if let Some(reads) = &self.sqlite_reads {
            reads.close();
        }
        if let Some(reads) = &self.direct_reads {
            reads.close().await;
        }
    }

    /// One log line (target `sigil::caches`) with each cache's hits, misses and hit rate since
    /// start; `off` for a cache that is disabled.
    fn log(&self) {
        fn describe(stats: Option<(u64, u64)>) -> String {
            match stats {
                None => "off".to_owned(),
                Some((hits, misses)) => {
                    let total = hits + misses;
                    let rate = if total == 0 {
                        0.0
                    } else {
                        100.0 * hits as f64 / total as f64
                    };
                    format!("{hits} hits, {misses} misses ({rate:.1}% hits)")
                }
            }
        }
        if self.guard.is_none() && self.tasks.is_none() {
            return;
        }
        let token_cache = describe(
            self.guard
                .as_ref()
                .and_then(Guard::cache_stats)
                .map(|s| (s.hits, s.misses)),
        );
        let tasks_cache = describe(self.tasks.as_ref().and_then(TaskStore::list_cache_stats));
        tracing::info!(target: "sigil::caches", token_cache = %token_cache, tasks_cache = %tasks_cache, "cache hit counts since start");
    }
}

impl Wiring<'_> {
    async fn build(self, created: &mut Created) -> Result<Built, StartError> {
        let settings = self.settings;
        let secret = match (&self.auth_parts, &self.target.file) {
            (Some(_), Some(db)) => {
                let (secret, made) = resolve_secret_noting(settings).map_err(StartError::Config)?;
                // Only a file this start wrote is removed if it fails (not one another process
                // starting at the same time wrote).
                if made {
                    created.files.push(secret_file_for(db));
                }
                Some(secret)
            }
            (Some(_), None) => Some(resolve_secret(settings).map_err(StartError::Config)?),
            (None, _) => None,
        };
        if let Some(db) = &self.target.file
            && create_empty(db)
                .map_err(|e| StartError::Database(format!("cannot create {}: {e}", db.display())))?
        {
            // Created here, by this process (not by another one starting at the same time).
            created.files.push(db.clone());
        }
        // Opening a new SQLite database that another process is creating at the same moment
        // can meet its lock (switching to WAL takes it whatever the busy timeout): tried again,
        // as the migrations are.
        let sqlite_file = self.target.file.is_some();
        let (pool, backend) = retrying_at_start(
            "database locked while opening (another process starting?)",
            |e| sqlite_file && is_locked(e),
            || {
                sigil_auth::store::connect_with_options(
                    settings.common.database_url.expose_secret(),
                    sigil_auth::store::PoolSettings {
                        acquire_timeout: settings.common.db_timeout,
                        max_connections: settings.common.db_pool_size,
                    },
                )
            },
        )
        .await
        .map_err(|e| {
            StartError::Database(format!(
                "cannot open {}: {e}",
                redact_url(settings.common.database_url.expose_secret())
            ))
        })?;
        created.pool = Some(pool.clone());

        // On PostgreSQL the hot reads (the tasks list, the session lookup) skip sqlx's pings: one
        // round trip instead of three, on up to the pool's size of connections of their own,
        // shared by both stores (sigil-db; BENCHMARKS.md, docs/operations.md "Database pool").
        let direct_reads = (backend == Backend::Postgres)
            .then(|| Arc::new(DirectReads::beside(&pool, settings.common.db_timeout)));
        // On an SQLite file they skip sqlx's worker-thread hand-offs (the cost of an uncached
        // read): read-only rusqlite connections on the calling thread, shared by both stores.
        let sqlite_reads = match &self.target.file {
            Some(file) => Some(Arc::new(
                SqliteReads::open(
                    file,
                    pool.options().get_max_connections() as usize,
                    settings.common.db_timeout,
                )
                .map_err(|e| {
                    StartError::Database(format!("cannot open {} for reading: {e}", file.display()))
                })?,
            )),
            None => None,
        };

        // The tasks API's store, shared with the identity service's account-deletion hook so
        // that one cache sees every write of this process.
        let tasks = match settings.mode {
            Mode::AuthOnly => None,
            Mode::All | Mode::ApiOnly => {
                let mut tasks = TaskStore::new(pool.clone())
                    .with_clock(self.clock.clone())
                    .with_max_waiters(settings.common.db_max_waiters);
                if settings
                    .common
                    .tasks_cache
                    .unwrap_or(backend == Backend::Sqlite)
                {
                    tasks = tasks.with_list_cache(TASK_LIST_CACHE_USERS);
                }
                migrate_retrying(|| tasks.migrate()).await?;
                if let Some(reads) = &sqlite_reads {
                    tasks = tasks.with_sqlite_reader(reads.clone());
                }
                if let Some(reads) = &direct_reads {
                    tasks = tasks.with_pg_reader(reads.clone());
                }
                Some(tasks)
            }
        };
        let token_cache = settings
            .common
            .token_cache
            .then_some(sigil_guard::DEFAULT_CACHE_CAPACITY);

        let mut router = Router::new();
        let mut auth_service = None;
        // serve-api's guard, whose keys may come from a remote JWKS (checked by /readyz).
        let api_guard = self.guard.clone();
        let (guard, deny_list) = match (self.auth_parts, secret, self.guard) {
            (Some(parts), Some(secret), _) => {
                let mut store = SqlStore::new(pool.clone());
                if let Some(reads) = &direct_reads {
                    store = store.with_direct_reads(reads.clone());
                }
                if let Some(reads) = &sqlite_reads {
                    store = store.with_sqlite_reads(reads.clone());
                }
                let auth = build_auth(
                    settings,
                    self.base_url.clone(),
                    secret,
                    parts,
                    self.redis,
                    store,
                    tasks.clone(),
                )
                .await?;
                let verifier = auth
                    .issuer()
                    .verifier()
                    .map_err(|e| StartError::Config(e.to_string()))?;
                // One process: the UI calls the tasks API on its own origin. Split: on
                // SIGIL_API_URL (serve-auth has no tasks API of its own).
                let ui_api_url = match settings.mode {
                    Mode::AuthOnly => {
                        if settings.auth.api_url.is_none() {
                            tracing::warn!(target: "sigil", "serve-auth without SIGIL_API_URL: the web UI's tasks page has no API to call");
                        }
                        settings.auth.api_url.as_ref()
                    }
                    _ => None,
                };
                router = router
                    .merge(auth.router())
                    .merge(crate::ui::router(auth.clone(), ui_api_url));
                let deny_list = auth.deny_list();
                // Tokens signed by a key another instance created are looked up in the store.
                let guard = match auth.key_source() {
                    Some(source) => Guard::from_verifier_with_source(verifier, token_cache, source),
                    None => Guard::from_verifier_with_cache(verifier, token_cache),
                };
                auth_service = Some(auth);
                (guard, deny_list)
            }
            (_, _, Some(guard)) => (
                guard,
                Arc::new(SessionDenyList::with_clock(self.clock.clone())),
            ),
            _ => {
                return Err(StartError::Config(
                    "serve-api needs --jwks-url or --jwt-secret".into(),
                ));
            }
        };
        let mut background = Vec::new();
        // The database revocation feed: read once now (so the list is complete before the first
        // request), then followed in the background. The guard trusts the list only while the
        // feed is within its poll interval + 1 s.
        let feed = revocation_feed(
            settings,
            &pool,
            backend,
            &deny_list,
            self.redis_client.is_some(),
        )
        .await;
        if let Some(client) = self.redis_client.clone() {
            background.push(tokio::spawn(sigil_guard::feed::follow_redis_with(
                client,
                deny_list.clone(),
                feed.as_ref().map(|(_, status, _)| status.clone()),
            )));
        }
        let check: Arc<dyn sigil_guard::RevocationCheck> = match &feed {
            Some((_, status, _)) => Arc::new(sigil_guard::feed::FreshDenyList::new(
                deny_list.clone(),
                status.clone(),
            )),
            None => deny_list.clone(),
        };
        let mut caches = Caches {
            sqlite_reads,
            direct_reads,
            ..Caches::default()
        };
        if let Some(tasks) = tasks {
            let guard = guard.with_revocation(check).with_clock(self.clock.clone());
            caches.guard = Some(guard.clone());
            caches.tasks = Some(tasks.clone());
            router = router.merge(with_cors(sigil_tasks::router(tasks, guard), self.cors));
        }
        let feed = feed.map(|(feed_pool, status, own)| {
            background.push(tokio::spawn(sigil_guard::feed::follow_database_with(
                feed_pool.clone(),
                deny_list,
                settings.common.revocation_poll_interval,
                status.clone(),
            )));
            Feed {
                status,
                own_pool: own.then_some(feed_pool),
            }
        });
        if let Some(auth) = &auth_service {
            background.push(spawn_purge(auth.clone()));
            background.push(spawn_key_reload(auth.clone()));
        }

        let health = crate::health::Health::new(
            pool.clone(),
            settings.common.db_timeout,
            api_guard,
            feed.as_ref().map(|f| f.status.clone()),
        );
        let has_ui = settings.mode != Mode::ApiOnly;
        // Layers run outermost last: the request id is screened and set first, so the span and
        // the answer carry it; the metrics layer sees the matched route template.
        let router = router
            .merge(crate::health::router(health.clone()))
            .merge(crate::openapi::router(settings.mode))
            .fallback(move |request: Request| not_found(has_ui, request))
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::map_response(json_refusals))
            .layer(SetResponseHeaderLayer::if_not_present(
                http::header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ));
        // Request counts and latencies only when something scrapes them (SIGIL_METRICS_ADDR):
        // without a recorder they would cost every request two allocations for nothing.
        let router = if settings.common.metrics_addr.is_some() {
            router.layer(axum::middleware::from_fn(crate::prometheus::track_http))
        } else {
            router
        };
        let router = router
            .layer(PropagateRequestIdLayer::new(
                crate::health::REQUEST_ID.clone(),
            ))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    // Only method and path: query strings can carry single-use tokens.
                    // The path without a reset link's token (`/api/auth/reset-password/{token}`).
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %sigil_auth::redact_path(request.uri().path()),
                        request_id = %crate::health::request_id(request),
                    )
                }),
            )
            .layer(SetRequestIdLayer::new(
                crate::health::REQUEST_ID.clone(),
                crate::health::RequestIds::new()
                    .map_err(|e| StartError::Config(format!("request ids: {e}")))?,
            ))
            .layer(axum::middleware::map_request(
                crate::health::screen_request_id,
            ));
        Ok((router, auth_service, pool, background, feed, caches, health))
    }
}

async fn build_auth(
    settings: &Settings,
    base_url: Url,
    secret: Secret,
    parts: AuthParts,
    redis: Option<redis::aio::ConnectionManager>,
    store: SqlStore,
    tasks: Option<TaskStore>,
) -> Result<AuthService, StartError> {
    let clock = parts.clock;
    migrate_retrying(|| store.migrate()).await?;
    let mut config = AuthConfig::new(base_url, secret);
    config.jwt.alg = settings.auth.jwt_alg;
    config.jwt.ttl = settings.auth.jwt_ttl;
    config.jwt.hs_secrets = parts.config_jwt_secrets;
    config.jwt.rotation_interval = settings.auth.key_rotation_interval;
    config.trusted_origins = settings.auth.trusted_origins.clone();
    config.rate_limit = settings.auth.rate_limit;
    config.require_email_verification = settings.auth.require_email_verification;
    config.two_factor_issuer = settings.auth.two_factor_issuer.clone();
    config.client_ip_header = parts.client_ip_header;
    if !settings.auth.account_throttle {
        config.account_throttle = None;
    }
    config.social_providers = settings.auth.social_providers.clone();
    config.social_timeout = settings.auth.social_timeout;
    config.admin = sigil_auth::admin::AdminPolicy {
        admin_roles: settings.auth.admin_roles.clone(),
        admin_user_ids: settings.auth.admin_user_ids.clone(),
    };
    config.audit_retention = settings.auth.audit_retention;
    let limiter = redis
        .clone()
        .filter(|_| settings.auth.rate_limit)
        .map(RateLimiter::redis);
    let revocation_publisher = redis.map(|conn| {
        Arc::new(RedisRevocations::new(conn).with_clock(clock.clone()))
            as Arc<dyn RevocationPublisher>
    });
    let store: Arc<dyn AuthStore> = Arc::new(store);
    // In one process, deleting an account also erases the user's tasks.
    let account_listener = tasks.map(|t| Arc::new(TasksCleanup(t)) as Arc<dyn AccountListener>);
    let components = Components {
        store,
        mailer: parts.mailer,
        hasher: parts.hasher,
        limiter,
        revocation_publisher,
        account_listener,
        clock,
    };
    AuthService::new(config, components)
        .await
        .map_err(|e| StartError::Config(e.to_string()))
}

/// Erases a deleted user's tasks.
struct TasksCleanup(TaskStore);

#[async_trait::async_trait]
impl AccountListener for TasksCleanup {
    async fn user_deleted(&self, user_id: &str) {
        if let Err(error) = self.0.delete_all_of(user_id).await {
            tracing::error!(target: "sigil", %error, "could not delete a deleted user's tasks");
        }
    }
}

/// A Redis connection that never holds up a request for long: connection attempts and commands
/// time out after `timeout`, one reconnection attempt per failure. It connects lazily, so an
/// instance starts while Redis is down (rate limits fall back to memory, revocations travel
/// through the database) and attaches when Redis returns.
async fn redis_connection(
    url: &str,
    timeout: Duration,
) -> Result<redis::aio::ConnectionManager, StartError> {
    let client = redis::Client::open(url)
        .map_err(|e| StartError::Config(format!("SIGIL_REDIS_URL: {e}")))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(timeout);
    let manager = redis::aio::ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| StartError::Config(format!("SIGIL_REDIS_URL: {e}")))?;
    let ping = tokio::time::timeout(
        timeout,
        redis::cmd("PING").query_async::<String>(&mut manager.clone()),
    )
    .await;
    match ping {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::warn!(target: "sigil", %error, "Redis unavailable at start: rate limits in memory, revocations through the database until it answers");
        }
        Err(_) => {
            tracing::warn!(target: "sigil", timeout_ms = timeout.as_millis() as u64, "Redis did not answer at start: rate limits in memory, revocations through the database until it answers");
        }
    }
    Ok(manager)
}

/// The key source of `serve-api`, checked before anything is bound.
fn api_guard_config(settings: &Settings) -> Result<GuardConfig, StartError> {
    let keys = match settings.api.keys().map_err(StartError::Config)? {
        ApiKeys::JwksUrl(url) => KeyConfig::JwksUrl(url.clone()),
        ApiKeys::Secrets(secrets) => KeyConfig::Secrets(
            secrets
                .iter()
                .map(|secret| secret.expose_secret().as_bytes().to_vec())
                .collect(),
        ),
    };
    let mut config = GuardConfig::new(keys);
    config.cache = settings.common.token_cache;
    config.issuer = settings.api.jwt_issuer.clone();
    config.audience = settings
        .api
        .jwt_audience
        .clone()
        .or_else(|| settings.api.jwt_issuer.clone());
    Ok(config)
}

/// CORS for the tasks API: only the configured origins, no credentials (identity travels in the
/// `Authorization` header, never in cookies), preflight answered. `None` without origins.
fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, StartError> {
    if origins.is_empty() {
        return Ok(None);
    }
    if origins.iter().any(|o| o == "*") {
        return Err(StartError::Config(
            "SIGIL_CORS_ORIGINS must list origins, not \"*\"".into(),
        ));
    }
    let values = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o.trim_end_matches('/'))
                .map_err(|_| StartError::Config(format!("SIGIL_CORS_ORIGINS: bad origin {o}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(values))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([http::header::AUTHORIZATION, http::header::CONTENT_TYPE])
            .expose_headers([http::header::WWW_AUTHENTICATE])
            .max_age(Duration::from_secs(600)),
    ))
}

fn with_cors(router: Router, cors: Option<CorsLayer>) -> Router {
    let Some(cors) = cors else {
        return router;
    };
    // A preflight is an OPTIONS request, which no route declares: it reaches each route's
    // method-not-allowed fallback. Set that fallback here, before layering, so that the CORS
    // layer wraps it (the application-wide `method_not_allowed_fallback` set later only
    // replaces fallbacks still at their default, and would otherwise answer preflights 405).
    router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors)
}

/// Whether the database is an in-memory SQLite one (which a second pool would not see).
fn in_memory_sqlite(settings: &Settings, backend: Backend) -> bool {
    backend == Backend::Sqlite
        && sqlite_path(settings.common.database_url.expose_secret()).is_none()
}

/// The database revocation feed of this process: its own small pool (so that a busy main pool
/// never delays it) and its status, after a first complete read. `None` for a `serve-api` whose
/// database holds tasks only: it says once what carries revocations to it instead (Redis, or
/// nothing and what that means), rather than that a feed is off.
async fn revocation_feed(
    settings: &Settings,
    pool: &sqlx::AnyPool,
    backend: Backend,
    deny_list: &SessionDenyList,
    redis: bool,
) -> Option<(sqlx::AnyPool, Arc<sigil_guard::feed::FeedStatus>, bool)> {
    use sigil_guard::feed::{FIRST_POSITION, FeedStatus, connect_database_with, poll_database};
    let interval = settings.common.revocation_poll_interval;
    let (feed_pool, own) = if in_memory_sqlite(settings, backend) {
        (pool.clone(), false)
    } else {
        match connect_database_with(
            settings.common.database_url.expose_secret(),
            settings.common.db_timeout,
        )
        .await
        {
            Ok(feed_pool) => (feed_pool, true),
            Err(error) => {
                tracing::warn!(target: "sigil", %error, "revocations: cannot open a connection of their own; sharing the main pool");
                (pool.clone(), false)
            }
        }
    };
    let status = Arc::new(FeedStatus::new(interval + Duration::from_secs(1)));
    let started = std::time::Instant::now();
    match poll_database(&feed_pool, deny_list, FIRST_POSITION).await {
        Ok(position) => status.record_success(started, position),
        Err(_) if settings.mode == Mode::ApiOnly => {
            if redis {
                tracing::info!(
                    target: "sigil",
                    "revocations: received through Redis (SIGIL_REDIS_URL) at once; this database holds tasks only, so there are no identity tables to poll"
                );
            } else {
                tracing::warn!(
                    target: "sigil",
                    "revocations: none configured. This database holds tasks only and there is no SIGIL_REDIS_URL, so a signed-out session's JWTs keep working here until they expire (the identity service's SIGIL_JWT_TTL, plus 60 s of leeway). Set SIGIL_REDIS_URL, or point DATABASE_URL at the identity database"
                );
            }
            if own {
                feed_pool.close().await;
            }
            return None;
        }
        Err(error) => {
            // Just migrated, so this is an outage: the follower retries, the guard answers 503
            // until it has read.
            tracing::warn!(target: "sigil", %error, "revocations: first read failed; retrying in the background");
        }
    }
    tracing::info!(
        target: "sigil",
        redis,
        interval_ms = interval.as_millis() as u64,
        "revocations: read from the database by position"
    );
    Some((feed_pool, status, own))
}

/// Reads the signing keys again every [`sigil_auth::keys::RELOAD_PERIOD`] (a rotation by another
/// instance or `sigil keys rotate` is in use here within it; a replaced key leaves `/jwks` when
/// its window ends), rotating first when the automatic interval is due.
fn spawn_key_reload(auth: AuthService) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(sigil_auth::keys::RELOAD_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = auth.refresh_keys().await {
                tracing::warn!(target: "sigil", %error, "reloading the signing keys failed");
            }
        }
    })
}

fn spawn_purge(auth: AuthService) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(600));
        loop {
            ticker.tick().await;
            if let Err(error) = auth.purge_expired().await {
                tracing::warn!(target: "sigil", %error, "purging expired rows failed");
            }
        }
    })
}

async fn not_found(has_ui: bool, request: Request) -> Response {
    if has_ui && let Some(page) = crate::ui::not_found_page(&request) {
        return page;
    }
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "code": "NOT_FOUND", "message": "Not found" })),
    )
        .into_response()
}

/// Every refusal in the `{code, message}` JSON shape: axum's own rejections (a path segment
/// that is not UTF-8, a query string that does not parse, …) answer in plain text; they are
/// rewritten here, with their text as the message. HTML and JSON answers pass unchanged.
async fn json_refusals(response: Response) -> Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_owned();
    let message = if message.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_owned()
    } else {
        message
    };
    // BAD_REQUEST, PAYLOAD_TOO_LARGE, …
    let code = status
        .canonical_reason()
        .unwrap_or("ERROR")
        .to_ascii_uppercase()
        .replace([' ', '-'], "_");
    parts.headers.remove(http::header::CONTENT_LENGTH);
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(
            serde_json::json!({ "code": "METHOD_NOT_ALLOWED", "message": "Method not allowed" }),
        ),
    )
        .into_response()
}

/// Installs the Ctrl-C (SIGINT) and SIGTERM handlers at once, and returns a future that
/// completes on either. Call it before starting: a signal that arrives while the process starts
/// (or just after it printed that it is ready) then still stops it cleanly, instead of killing it
/// with the default action.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let stop = {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {},
                        _ = terminate.recv() => {},
                    }
                }
                (interrupt, terminate) => {
                    // Not expected on a Unix system; the default actions still stop the process.
                    if let Err(error) = interrupt.and(terminate) {
                        tracing::warn!(target: "sigil", %error, "cannot handle SIGINT/SIGTERM");
                    }
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    #[cfg(not(unix))]
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    async move {
        stop.await;
        tracing::info!(target: "sigil", "shutting down");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_start_removes_the_files_it_created_and_only_those() {
        let dir = std::env::temp_dir().join(format!("sigil-created-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = dir.join("old.db");
        std::fs::write(&old, b"was here before").unwrap();
        let new = dir.join("new.db");
        let secret = dir.join("new.secret");
        let mut created = Created::default();
        created.note_if_new(&old);
        created.note_if_new(&new);
        created.note_if_new(&secret);
        for file in [
            &new,
            &secret,
            &suffixed(&new, "-wal"),
            &suffixed(&new, "-shm"),
        ] {
            std::fs::write(file, b"made by this start").unwrap();
        }
        created.remove().await;
        let mut left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["old.db"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn database_urls_are_checked_before_anything_is_created() {
        assert!(check_database_url("sqlite::memory:").is_ok());
        assert_eq!(
            check_database_url("sqlite://sigil.db").unwrap().file,
            Some(PathBuf::from("sigil.db"))
        );
        let missing = check_database_url("sqlite:///no/such/dir/x.db").unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("the directory /no/such/dir does not exist"),
            "{missing}"
        );
        let secret = check_database_url("postgres://u:hunter2@db/sigil")
            .map(|t| t.backend)
            .unwrap();
        assert_eq!(secret, Backend::Postgres);
        for url in [
            "mysql://u:hunter2@db/sigil",
            "postgres://u:hunter2@db:port/sigil",
            "u:hunter2@db/sigil",
        ] {
            let bad = check_database_url(url).unwrap_err();
            assert!(!bad.to_string().contains("hunter2"), "{bad}");
        }
    }
}
