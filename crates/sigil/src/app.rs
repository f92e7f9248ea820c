//! Building and running one Sigil process: the same [`App::build`] serves `main`, the tests and
//! the benchmarks.

use crate::settings::{ApiKeys, Mode, Settings, resolve_secret};
use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode};
use sigil_auth::mail::{FileMailer, LogMailer, Mailer};
use sigil_auth::password::{HashParams, PasswordHasher};
use sigil_auth::ratelimit::RateLimiter;
use sigil_auth::revocation::{RedisRevocations, RevocationPublisher};
use sigil_auth::store::{AuthStore, Backend, SqlStore};
use sigil_auth::{AccountListener, AuthConfig, AuthService, Components, Secret};
use sigil_guard::{Guard, GuardConfig, KeyConfig, SessionDenyList};
use sigil_tasks::TaskStore;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
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
}

impl App {
    /// Binds the listener, opens and migrates the database, loads keys and wires the routes.
    pub async fn build(settings: Settings) -> Result<App, StartError> {
        let listener =
            TcpListener::bind(&settings.addr)
                .await
                .map_err(|source| StartError::Bind {
                    addr: settings.addr.clone(),
                    source,
                })?;
        let address = listener.local_addr().map_err(|source| StartError::Bind {
            addr: settings.addr.clone(),
            source,
        })?;
        let base_url = match &settings.base_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://{address}"))
                .map_err(|e| StartError::Config(e.to_string()))?,
        };
        let (pool, backend) = sigil_auth::store::connect(&settings.database_url)
            .await
            .map_err(|e| {
                StartError::Database(format!(
                    "cannot open {}: {e}",
                    redact_url(&settings.database_url)
                ))
            })?;

        // The tasks API's store, shared with the identity service's account-deletion hook so
        // that one cache sees every write of this process.
        let tasks = match settings.mode {
            Mode::AuthOnly => None,
            Mode::All | Mode::ApiOnly => {
                let mut tasks = TaskStore::new(pool.clone());
                if settings.tasks_cache.unwrap_or(backend == Backend::Sqlite) {
                    tasks = tasks.with_list_cache(TASK_LIST_CACHE_USERS);
                }
                tasks
                    .migrate()
                    .await
                    .map_err(|e| StartError::Database(e.to_string()))?;
                Some(tasks)
            }
        };
        let token_cache = settings
            .token_cache
            .then_some(sigil_guard::DEFAULT_CACHE_CAPACITY);

        let mut router = Router::new();
        let mut auth_service = None;
        let (guard, deny_list) = match settings.mode {
            Mode::All | Mode::AuthOnly => {
                let auth =
                    build_auth(&settings, base_url.clone(), pool.clone(), tasks.clone()).await?;
                let verifier = auth
                    .issuer()
                    .verifier()
                    .map_err(|e| StartError::Config(e.to_string()))?;
                // One process: the UI calls the tasks API on its own origin. Split: on
                // SIGIL_API_URL (serve-auth has no tasks API of its own).
                let ui_api_url = match settings.mode {
                    Mode::AuthOnly => {
                        if settings.api_url.is_none() {
                            tracing::warn!(target: "sigil", "serve-auth without SIGIL_API_URL: the web UI's tasks page has no API to call");
                        }
                        settings.api_url.as_ref()
                    }
                    _ => None,
                };
                router = router
                    .merge(auth.router())
                    .merge(crate::ui::router(auth.clone(), ui_api_url));
                let deny_list = auth.deny_list();
                auth_service = Some(auth);
                (
                    Guard::from_verifier_with_cache(verifier, token_cache),
                    deny_list,
                )
            }
            Mode::ApiOnly => (
                build_api_guard(&settings).await?,
                Arc::new(SessionDenyList::new()),
            ),
        };
        if let Some(tasks) = tasks {
            let guard = guard.with_revocation(deny_list.clone());
            router = router.merge(with_cors(
                sigil_tasks::router(tasks, guard),
                &settings.cors_origins,
            )?);
        }
        if let Some(url) = &settings.redis_url {
            let client = redis::Client::open(url.as_str())
                .map_err(|e| StartError::Config(format!("SIGIL_REDIS_URL: {e}")))?;
            tokio::spawn(sigil_guard::feed::follow_redis(client, deny_list.clone()));
        }
        // Revocations recorded by any instance sharing the database (stops at once on a
        // database without identity tables, such as serve-api's own).
        tokio::spawn(sigil_guard::feed::follow_database(
            pool.clone(),
            deny_list,
            sigil_guard::feed::DEFAULT_POLL_INTERVAL,
        ));
        if let Some(auth) = &auth_service {
            spawn_purge(auth.clone());
        }

        let has_ui = settings.mode != Mode::ApiOnly;
        let router = router
            .fallback(move |request: Request| not_found(has_ui, request))
            .method_not_allowed_fallback(method_not_allowed)
            .layer(SetResponseHeaderLayer::if_not_present(
                http::header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
                // Only method and path: query strings can carry single-use tokens.
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
            }));
        let url = base_url.as_str().trim_end_matches('/').to_owned();
        Ok(App {
            listener,
            router,
            address,
            url,
            auth: auth_service,
        })
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The public base URL (default `http://<address>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The identity service, when this process runs one.
    pub fn auth(&self) -> Option<&AuthService> {
        self.auth.as_ref()
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

async fn build_auth(
    settings: &Settings,
    base_url: Url,
    pool: sqlx::AnyPool,
    tasks: Option<TaskStore>,
) -> Result<AuthService, StartError> {
    let secret = resolve_secret(settings).map_err(StartError::Config)?;
    let store = SqlStore::new(pool);
    store
        .migrate()
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    let mut config = AuthConfig::new(base_url, secret);
    config.jwt.alg = settings.jwt_alg;
    config.jwt.ttl = settings.jwt_ttl;
    config.jwt.hs_secret = settings
        .jwt_secret
        .as_ref()
        .map(|s| Secret::new(s.as_bytes().to_vec(), "SIGIL_JWT_SECRET"))
        .transpose()
        .map_err(StartError::Config)?;
    config.trusted_origins = settings.trusted_origins.clone();
    config.rate_limit = settings.rate_limit;
    config.require_email_verification = settings.require_email_verification;
    config.client_ip_header = settings
        .client_ip_header
        .as_deref()
        .map(|h| {
            h.parse().map_err(|_| {
                StartError::Config(format!("SIGIL_CLIENT_IP_HEADER: not a header name: {h}"))
            })
        })
        .transpose()?;

    let mailer: Arc<dyn Mailer> = match (&settings.smtp_url, &settings.mail_file) {
        (Some(url), _) => Arc::new(
            sigil_auth::mail::SmtpMailer::new(url, &settings.mail_from)
                .map_err(|e| StartError::Config(e.to_string()))?,
        ),
        (None, Some(path)) => Arc::new(FileMailer::new(path)),
        (None, None) => Arc::new(LogMailer),
    };
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let params = HashParams {
        memory_kib: settings.argon2_memory_kib,
        iterations: settings.argon2_iterations,
        parallelism: 1,
    };
    let hasher = PasswordHasher::new(params, cpus)
        .map_err(|e| StartError::Config(format!("argon2 parameters: {e}")))?;
    let redis = match &settings.redis_url {
        Some(url) => Some(redis_connection(url).await?),
        None => None,
    };
    let limiter = redis
        .clone()
        .filter(|_| settings.rate_limit)
        .map(RateLimiter::redis);
    let revocation_publisher =
        redis.map(|conn| Arc::new(RedisRevocations::new(conn)) as Arc<dyn RevocationPublisher>);
    let store: Arc<dyn AuthStore> = Arc::new(store);
    // In one process, deleting an account also erases the user's tasks.
    let account_listener = tasks.map(|t| Arc::new(TasksCleanup(t)) as Arc<dyn AccountListener>);
    let parts = Components {
        store,
        mailer,
        hasher,
        limiter,
        revocation_publisher,
        account_listener,
    };
    AuthService::new(config, parts)
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

async fn redis_connection(url: &str) -> Result<redis::aio::ConnectionManager, StartError> {
    let client = redis::Client::open(url)
        .map_err(|e| StartError::Config(format!("SIGIL_REDIS_URL: {e}")))?;
    redis::aio::ConnectionManager::new(client)
        .await
        .map_err(|e| StartError::Config(format!("cannot connect to Redis: {e}")))
}

async fn build_api_guard(settings: &Settings) -> Result<Guard, StartError> {
    let keys = match &settings.api_keys {
        Some(ApiKeys::JwksUrl(url)) => KeyConfig::JwksUrl(url.clone()),
        Some(ApiKeys::Secret(secret)) => KeyConfig::Secret(secret.as_bytes().to_vec()),
        None => {
            return Err(StartError::Config(
                "serve-api needs --jwks-url or --jwt-secret".into(),
            ));
        }
    };
    let mut config = GuardConfig::new(keys);
    config.cache = settings.token_cache;
    config.issuer = settings.api_issuer.clone();
    config.audience = settings
        .api_audience
        .clone()
        .or_else(|| settings.api_issuer.clone());
    Guard::from_config(config)
        .await
        .map_err(|e| StartError::Config(e.to_string()))
}

/// CORS for the tasks API: only the configured origins, no credentials (identity travels in the
/// `Authorization` header, never in cookies), preflight answered.
fn with_cors(router: Router, origins: &[String]) -> Result<Router, StartError> {
    if origins.is_empty() {
        return Ok(router);
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
    let cors = CorsLayer::new()
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
        .max_age(Duration::from_secs(600));
    // A preflight is an OPTIONS request, which no route declares: it reaches each route's
    // method-not-allowed fallback. Set that fallback here, before layering, so that the CORS
    // layer wraps it (the application-wide `method_not_allowed_fallback` set later only
    // replaces fallbacks still at their default, and would otherwise answer preflights 405).
    Ok(router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors))
}

fn spawn_purge(auth: AuthService) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(600));
        loop {
            ticker.tick().await;
            if let Err(error) = auth.purge_expired().await {
                tracing::warn!(target: "sigil", %error, "purging expired rows failed");
            }
        }
    });
}

fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
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

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(
            serde_json::json!({ "code": "METHOD_NOT_ALLOWED", "message": "Method not allowed" }),
        ),
    )
        .into_response()
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!(target: "sigil", "shutting down");
}
