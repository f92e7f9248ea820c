//! `sigil_guard._native`: the Rust guard (`sigil-guard`) for Python.
//!
//! Everything that decides whether a token is accepted is the Rust crate's: the Bearer header
//! parsing, `sigil-token`'s strict verification, the remote JWKS cache (background refresh,
//! unknown-`kid` refetch at most once per interval, cached keys served while the endpoint is
//! down), the verified-token cache, the session deny-list and its feeds (`sigil_guard::feed`),
//! and the HTTP answer of each refusal (status, `WWW-Authenticate`, `code`, `message`). This
//! crate only converts values and runs futures.
//!
//! **The event loop is never blocked by I/O.** `verify` and `authenticate` poll the guard's
//! future once, on the calling thread with the GIL released: a token checked against keys
//! already held (the common case) completes there, and the answer comes back as an
//! already-completed awaitable. Only when the guard has to wait for the network (no keys yet,
//! or an unknown `kid` that triggers a refetch) is the same future handed to a Tokio runtime
//! thread and awaited through an `asyncio` future, so other requests keep being served.
//! Background refreshes and the revocation feeds run on that runtime too.

use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use serde_json::Value;
use sigil_guard::sigil_token::VerifyError;
use sigil_guard::{
    AuthRejection, AuthUser, ConfigError, Guard as RustGuard, GuardConfig, GuardError, KeyConfig,
    RemoteJwksOptions, SessionDenyList, feed,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

// ---- the runtime -------------------------------------------------------------------------------

static RUNTIME: OnceLock<(Runtime, u32)> = OnceLock::new();

/// The process's Tokio runtime (two worker threads), created on first use and shared with
/// `pyo3-async-runtimes`. Refuses to run in a child forked after it was created: its threads
/// did not survive the fork.
fn runtime() -> PyResult<&'static Runtime> {
    let (rt, pid) = match RUNTIME.get() {
        Some(pair) => pair,
        None => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("sigil-guard")
                .enable_all()
                .build()
                .map_err(|e| PyRuntimeError::new_err(format!("cannot start a runtime: {e}")))?;
            let pair = RUNTIME.get_or_init(|| (rt, std::process::id()));
            let _ = pyo3_async_runtimes::tokio::init_with_runtime(&pair.0);
            pair
        }
    };
    if *pid != std::process::id() {
        return Err(PyRuntimeError::new_err(
            "sigil_guard was used before this process was forked: create the Guard in each worker (for example in the application's lifespan), not before the fork",
        ));
    }
    Ok(rt)
}

/// Polls `future` once inside the runtime's context. `Ok` when it completed, `Err(future)` when
/// it waits for I/O (its resources have registered interest; the next poll, on the runtime, gets
/// a real waker).
fn poll_once<F: Future>(rt: &Runtime, future: F) -> Result<F::Output, Pin<Box<F>>> {
    let _context = rt.enter();
    let mut future = Box::pin(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(future),
    }
}

// ---- errors ------------------------------------------------------------------------------------

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn errors(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("sigil_guard.errors")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// `sigil_guard.errors.<class>(message)`.
fn simple_error(py: Python<'_>, class: &str, message: String) -> PyErr {
    match errors(py).and_then(|m| m.getattr(class)?.call1((message,))) {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

fn config_error(message: impl std::fmt::Display) -> PyErr {
    let message = message.to_string();
    Python::attach(|py| simple_error(py, "ConfigError", message))
}

/// The exception class and the `kind` of a refusal: the class mirrors the Rust error's variant,
/// the kind is `GuardError::kind` (for token errors, `VerifyError::kind`).
fn classify(rejection: &AuthRejection) -> (&'static str, &'static str) {
    match rejection.error() {
        None => ("Forbidden", "forbidden"),
        Some(e @ GuardError::Missing) => ("MissingToken", e.kind()),
        Some(e @ GuardError::DuplicateHeader) => ("InvalidRequest", e.kind()),
        Some(e @ GuardError::Token(VerifyError::Expired)) => ("TokenExpired", e.kind()),
        Some(e @ GuardError::Revoked) => ("TokenRevoked", e.kind()),
        Some(e @ GuardError::NoKeys) => ("KeysUnavailable", e.kind()),
        Some(e) => ("InvalidToken", e.kind()),
    }
}

/// The Python exception for a refused request, carrying the Rust guard's answer.
fn refusal(py: Python<'_>, rejection: &AuthRejection) -> PyErr {
    let (class, kind) = classify(rejection);
    let built = errors(py).and_then(|m| {
        m.getattr(class)?.call1((
            rejection.message(),
            kind,
            rejection.status().as_u16(),
            rejection.code(),
            rejection.challenge(),
        ))
    });
    match built {
        Ok(exception) => PyErr::from_value(exception),
        Err(e) => e,
    }
}

// ---- values ------------------------------------------------------------------------------------

fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u), _) => u.into_pyobject(py)?.into_any(),
            (_, _, f) => f.unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// The caller, as stated by a verified token.
///
/// `user_id` is the token's `sub`; `email`, `name` and `session_id` (`sid`) are `None` when the
/// token does not carry them; `claims` is every claim of the token as a new `dict`.
#[pyclass(frozen, module = "sigil_guard", name = "SigilUser")]
#[derive(Debug)]
struct SigilUser {
    user: AuthUser,
}

#[pymethods]
impl SigilUser {
    /// The token's `sub`: the user id.
    #[getter]
    fn user_id(&self) -> &str {
        &self.user.user_id
    }

    /// The `email` claim.
    #[getter]
    fn email(&self) -> Option<&str> {
        self.user.email.as_deref()
    }

    /// The `name` claim.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.user.name.as_deref()
    }

    /// The `sid` claim: the identity session the token was issued from.
    #[getter]
    fn session_id(&self) -> Option<&str> {
        self.user.session_id.as_deref()
    }

    /// The `exp` claim (Unix seconds).
    #[getter]
    fn expires_at(&self) -> u64 {
        self.user.claims.exp
    }

    /// Every claim of the token, as a new `dict`.
    #[getter]
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&*self.user.claims)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        json_to_py(py, &value)
    }

    fn __repr__(&self) -> String {
        format!(
            "SigilUser(user_id={:?}, email={:?}, session_id={:?})",
            self.user.user_id, self.user.email, self.user.session_id
        )
    }
}

/// An awaitable that is already complete: what `verify` and `authenticate` return when no I/O
/// was needed. Awaiting it gives the value (or raises the refusal) at once.
#[pyclass(frozen, module = "sigil_guard._native")]
#[derive(Debug)]
struct Ready {
    outcome: Mutex<Option<PyResult<Py<PyAny>>>>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self) -> PyResult<Py<PyAny>> {
        let outcome = self
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match outcome {
            Some(Ok(value)) => Err(PyStopIteration::new_err((value,))),
            Some(Err(error)) => Err(error),
            None => Err(PyStopIteration::new_err(())),
        }
    }
}

type Outcome = Result<AuthUser, AuthRejection>;

/// Runs a guard future: completed on this thread when it can be, else awaited on the runtime.
fn settle<'py>(
    py: Python<'py>,
    future: impl Future<Output = Outcome> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>> {
    let rt = runtime()?;
    match py.detach(|| poll_once(rt, future)) {
        Ok(outcome) => {
            let outcome = match outcome {
                Ok(user) => Ok(Py::new(py, SigilUser { user })?.into_any()),
                Err(rejection) => Err(refusal(py, &rejection)),
            };
            Ok(Bound::new(
                py,
                Ready {
                    outcome: Mutex::new(Some(outcome)),
                },
            )?
            .into_any())
        }
        Err(pending) => pyo3_async_runtimes::tokio::future_into_py(py, async move {
            match pending.await {
                Ok(user) => Ok(SigilUser { user }),
                Err(rejection) => Err(Python::attach(|py| refusal(py, &rejection))),
            }
        }),
    }
}

/// Header values from Python: `None`, one `str`/`bytes`, or a sequence of them. `str` values
/// are taken as Latin-1 (as ASGI servers decode them); anything else is "malformed".
fn header_values(value: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<u8>>> {
    fn one(item: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        if let Ok(b) = item.cast::<PyBytes>() {
            return Ok(b.as_bytes().to_vec());
        }
        if let Ok(s) = item.cast::<PyString>() {
            let text = s.to_str()?;
            return Ok(text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(0))
                .collect());
        }
        Err(PyTypeError::new_err(
            "an Authorization value must be str or bytes",
        ))
    }
    if value.is_none() {
        return Ok(Vec::new());
    }
    if value.cast::<PyBytes>().is_ok() || value.cast::<PyString>().is_ok() {
        return Ok(vec![one(value)?]);
    }
    value.try_iter()?.map(|item| one(&item?)).collect()
}

// ---- the guard ---------------------------------------------------------------------------------

struct Settings {
    config: GuardConfig,
    realm: Option<String>,
    redis_url: Option<String>,
    database_url: Option<String>,
    poll_interval: Duration,
    options: RemoteJwksOptions,
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| config_error(format!("{name}: expected a positive number of seconds")))
}

/// `secret=`: one HS256 secret, or several during a rotation (a token verifies under any; the
/// identity service signs with its first), as `SIGIL_JWT_SECRETS` gives them.
#[derive(FromPyObject)]
enum SecretArg {
    One(String),
    Many(Vec<String>),
}

impl SecretArg {
    fn keys(self) -> PyResult<KeyConfig> {
        match self {
            SecretArg::One(secret) => Ok(KeyConfig::Secret(secret.into_bytes())),
            SecretArg::Many(list) if list.is_empty() => {
                Err(config_error("secret: an empty list holds no secret"))
            }
            SecretArg::Many(list) => Ok(KeyConfig::Secrets(
                list.into_iter().map(String::into_bytes).collect(),
            )),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn settings(
    env: Option<&Bound<'_, PyAny>>,
    jwks_url: Option<String>,
    jwks: Option<String>,
    secret: Option<SecretArg>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Option<u64>,
    token_cache: Option<bool>,
    realm: Option<String>,
    redis_url: Option<String>,
    revocation_database_url: Option<String>,
    revocation_poll_interval: f64,
    jwks_timeout: f64,
    jwks_refetch_interval: f64,
    jwks_retry_interval: f64,
) -> PyResult<Settings> {
    let mut redis_url = redis_url;
    let mut database_url = revocation_database_url;
    let mut config = match env {
        Some(env) => {
            if jwks_url.is_some() || jwks.is_some() || secret.is_some() {
                return Err(config_error(
                    "give the key source either in env or as an argument, not both",
                ));
            }
            let mut vars = std::collections::HashMap::new();
            for item in env.call_method0("items")?.try_iter()? {
                let (k, v): (String, String) = item?.extract()?;
                vars.insert(k, v);
            }
            let get = |name: &str| vars.get(name).filter(|v| !v.trim().is_empty()).cloned();
            redis_url = redis_url.or_else(|| get("SIGIL_REDIS_URL"));
            database_url = database_url.or_else(|| get("SIGIL_REVOCATION_DATABASE_URL"));
            GuardConfig::from_lookup(|name| vars.get(name).cloned()).map_err(config_error)?
        }
        None => {
            let keys = match (jwks_url, jwks, secret) {
                (Some(url), None, None) => {
                    let url = url::Url::parse(&url)
                        .map_err(|e| config_error(format!("jwks_url: {e}")))?;
                    if !matches!(url.scheme(), "https" | "http") {
                        return Err(config_error(format!(
                            "jwks_url: expected an https:// (or http://) URL, got {url}"
                        )));
                    }
                    KeyConfig::JwksUrl(url)
                }
                (None, Some(text), None) => KeyConfig::Jwks(text),
                (None, None, Some(secret)) => secret.keys()?,
                _ => {
                    return Err(config_error(
                        "give exactly one key source: jwks_url, jwks or secret",
                    ));
                }
            };
            GuardConfig::new(keys)
        }
    };
    if issuer.is_some() {
        config.audience = audience.clone().or_else(|| issuer.clone());
        config.issuer = issuer;
    } else if audience.is_some() {
        config.audience = audience;
    }
    if let Some(leeway) = leeway {
        config.leeway = leeway;
    }
    if let Some(cache) = token_cache {
        config.cache = cache;
    }
    let options = RemoteJwksOptions {
        timeout: seconds("jwks_timeout", jwks_timeout)?,
        unknown_kid_interval: seconds("jwks_refetch_interval", jwks_refetch_interval)?,
        retry_interval: seconds("jwks_retry_interval", jwks_retry_interval)?,
        ..RemoteJwksOptions::default()
    };
    Ok(Settings {
        config,
        realm,
        redis_url,
        database_url,
        poll_interval: seconds("revocation_poll_interval", revocation_poll_interval)?,
        options,
    })
}

struct Built {
    guard: RustGuard,
    deny_list: Arc<SessionDenyList>,
    feeds: Vec<JoinHandle<()>>,
}

/// Builds the guard (fetching a remote JWKS once), loads the revocations recorded so far and
/// starts following them. Runs on the runtime.
async fn build(settings: Settings) -> Result<Built, String> {
    let guard = RustGuard::from_config_with_options(settings.config, settings.options)
        .await
        .map_err(|e: ConfigError| e.to_string())?;
    let guard = match &settings.realm {
        Some(realm) => guard.with_realm(realm),
        None => guard,
    };
    let deny_list = Arc::new(SessionDenyList::new());
    let guard = guard.with_revocation(deny_list.clone());
    let mut feeds = Vec::new();
    let stop = |feeds: &mut Vec<JoinHandle<()>>| feeds.iter().for_each(JoinHandle::abort);
    if let Some(url) = &settings.redis_url {
        let client = redis::Client::open(url.as_str()).map_err(|e| format!("redis_url: {e}"))?;
        feed::load_redis(&client, &deny_list)
            .await
            .map_err(|e| format!("cannot read revocations from Redis: {e}"))?;
        feeds.push(tokio::spawn(feed::follow_redis(client, deny_list.clone())));
    }
    if let Some(url) = &settings.database_url {
        let loaded = async {
            let pool = feed::connect_database(url).await?;
            let since = feed::poll_database(&pool, &deny_list, feed::FIRST_POSITION).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((pool, since))
        }
        .await;
        match loaded {
            Ok((pool, _)) => feeds.push(tokio::spawn(feed::follow_database(
                pool,
                deny_list.clone(),
                settings.poll_interval,
            ))),
            Err(e) => {
                stop(&mut feeds);
                return Err(format!(
                    "cannot read revocations from the database (Sigil's revoked_sessions table): {e}"
                ));
            }
        }
    }
    Ok(Built {
        guard,
        deny_list,
        feeds,
    })
}

/// Verifies `Authorization: Bearer <jwt>` with Sigil's Rust guard.
#[pyclass(frozen, module = "sigil_guard", name = "Guard")]
struct Guard {
    guard: RustGuard,
    deny_list: Arc<SessionDenyList>,
    feeds: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("guard", &self.guard).finish()
    }
}

impl From<Built> for Guard {
    fn from(built: Built) -> Guard {
        Guard {
            guard: built.guard,
            deny_list: built.deny_list,
            feeds: Mutex::new(built.feeds),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop_feeds();
    }
}

impl Guard {
    fn stop_feeds(&self) {
        for feed in self
            .feeds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            feed.abort();
        }
    }
}

#[pymethods]
impl Guard {
    /// Builds a guard, blocking this thread (not holding the GIL) until a remote JWKS has been
    /// fetched once and the revocation feeds have loaded. In async code use
    /// `await Guard.connect(...)`, which never blocks the event loop.
    #[new]
    #[pyo3(signature = (*, jwks_url=None, jwks=None, secret=None, issuer=None, audience=None,
        leeway=None, token_cache=None, realm=None, redis_url=None, revocation_database_url=None,
        revocation_poll_interval=2.0, jwks_timeout=5.0, jwks_refetch_interval=30.0,
        jwks_retry_interval=5.0, env=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        jwks_url: Option<String>,
        jwks: Option<String>,
        secret: Option<SecretArg>,
        issuer: Option<String>,
        audience: Option<String>,
        leeway: Option<u64>,
        token_cache: Option<bool>,
        realm: Option<String>,
        redis_url: Option<String>,
        revocation_database_url: Option<String>,
        revocation_poll_interval: f64,
        jwks_timeout: f64,
        jwks_refetch_interval: f64,
        jwks_retry_interval: f64,
        env: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Guard> {
        let settings = settings(
            env.as_ref(),
            jwks_url,
            jwks,
            secret,
            issuer,
            audience,
            leeway,
            token_cache,
            realm,
            redis_url,
            revocation_database_url,
            revocation_poll_interval,
            jwks_timeout,
            jwks_refetch_interval,
            jwks_retry_interval,
        )?;
        let rt = runtime()?;
        let built = py.detach(|| rt.block_on(build(settings)));
        built.map(Guard::from).map_err(config_error)
    }

    /// Builds a guard without blocking the event loop: the JWKS fetch and the feeds' first load
    /// run on the runtime. Same arguments as the constructor.
    #[staticmethod]
    #[pyo3(signature = (*, jwks_url=None, jwks=None, secret=None, issuer=None, audience=None,
        leeway=None, token_cache=None, realm=None, redis_url=None, revocation_database_url=None,
        revocation_poll_interval=2.0, jwks_timeout=5.0, jwks_refetch_interval=30.0,
        jwks_retry_interval=5.0, env=None))]
    #[allow(clippy::too_many_arguments)]
    fn connect<'py>(
        py: Python<'py>,
        jwks_url: Option<String>,
        jwks: Option<String>,
        secret: Option<SecretArg>,
        issuer: Option<String>,
        audience: Option<String>,
        leeway: Option<u64>,
        token_cache: Option<bool>,
        realm: Option<String>,
        redis_url: Option<String>,
        revocation_database_url: Option<String>,
        revocation_poll_interval: f64,
        jwks_timeout: f64,
        jwks_refetch_interval: f64,
        jwks_retry_interval: f64,
        env: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let settings = settings(
            env.as_ref(),
            jwks_url,
            jwks,
            secret,
            issuer,
            audience,
            leeway,
            token_cache,
            realm,
            redis_url,
            revocation_database_url,
            revocation_poll_interval,
            jwks_timeout,
            jwks_refetch_interval,
            jwks_retry_interval,
        )?;
        runtime()?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            build(settings).await.map(Guard::from).map_err(config_error)
        })
    }

    /// Verifies a token (without the `Bearer ` prefix). Returns an awaitable giving a
    /// `SigilUser`, or raising an `AuthError` subclass.
    fn verify<'py>(&self, py: Python<'py>, token: String) -> PyResult<Bound<'py, PyAny>> {
        let guard = self.guard.clone();
        settle(py, async move {
            match guard.verify(&token).await {
                Ok(user) => Ok(user),
                Err(error) => Err(guard.rejection(error)),
            }
        })
    }

    /// Authenticates a request from its `Authorization` header value(s) (`None`, one value, or
    /// every value the request carried: two are refused). With `path_user_id`, a valid token of
    /// another user is refused with `Forbidden` (403). Returns an awaitable.
    #[pyo3(signature = (authorization, *, path_user_id=None))]
    fn authenticate<'py>(
        &self,
        py: Python<'py>,
        authorization: &Bound<'py, PyAny>,
        path_user_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut headers = http::HeaderMap::new();
        let mut malformed = false;
        for value in header_values(authorization)? {
            match http::HeaderValue::from_bytes(&value) {
                Ok(v) => {
                    headers.append(http::header::AUTHORIZATION, v);
                }
                Err(_) => malformed = true,
            }
        }
        let guard = self.guard.clone();
        settle(py, async move {
            if malformed {
                return Err(guard.rejection(GuardError::MalformedHeader));
            }
            let user = guard.authenticate(&headers).await?;
            match path_user_id {
                Some(path_user) if path_user != user.user_id => Err(guard.forbidden()),
                _ => Ok(user),
            }
        })
    }

    /// Like `verify`, blocking this thread (without the GIL) until done: for synchronous
    /// frameworks. Returns the `SigilUser` or raises.
    fn verify_blocking(&self, py: Python<'_>, token: String) -> PyResult<SigilUser> {
        let rt = runtime()?;
        let guard = self.guard.clone();
        let outcome = py.detach(|| {
            rt.block_on(async move {
                match guard.verify(&token).await {
                    Ok(user) => Ok(user),
                    Err(error) => Err(guard.rejection(error)),
                }
            })
        });
        outcome
            .map(|user| SigilUser { user })
            .map_err(|rejection| refusal(py, &rejection))
    }

    /// Refuses the tokens of `session_id` until `until` (Unix seconds), in this process. The
    /// feeds do this for every session Sigil ends; call it for revocations learnt otherwise.
    fn deny_session(&self, session_id: &str, until: u64) {
        self.deny_list.insert(session_id, until);
    }

    /// Whether `session_id` is currently refused.
    fn is_session_denied(&self, session_id: &str) -> bool {
        self.deny_list
            .contains(session_id, sigil_guard::sigil_token::now_unix())
    }

    /// The key ids of a remote JWKS currently held (empty for a secret or static keys).
    #[getter]
    fn kids(&self) -> Vec<String> {
        self.guard
            .remote_jwks()
            .map(|remote| remote.kids())
            .unwrap_or_default()
    }

    /// Fetches the remote JWKS now (an awaitable; raises `JwksError` when the fetch fails, while
    /// the keys held so far stay in use). A no-op for a secret or static keys.
    fn refresh<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        runtime()?;
        let remote = self.guard.remote_jwks().cloned();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            match remote {
                Some(remote) => remote
                    .refresh()
                    .await
                    .map_err(|e| Python::attach(|py| simple_error(py, "JwksError", e.to_string()))),
                None => Ok(()),
            }
        })
    }

    /// The realm of the `WWW-Authenticate` challenges.
    #[getter]
    fn realm(&self) -> &str {
        self.guard.realm()
    }

    /// Stops the revocation feeds (also done when the guard is garbage-collected).
    fn close(&self) {
        self.stop_feeds();
    }

    fn __repr__(&self) -> String {
        match self.guard.remote_jwks() {
            Some(remote) => format!("Guard(jwks_url={:?})", remote.url().as_str()),
            None => "Guard(<static keys>)".to_owned(),
        }
    }
}

/// The native half of the `sigil_guard` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Guard>()?;
    m.add_class::<SigilUser>()?;
    m.add_class::<Ready>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
