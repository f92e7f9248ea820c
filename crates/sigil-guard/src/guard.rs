//! The guard: turns a bearer token into an [`AuthUser`] or a typed refusal.

use crate::bearer::bearer_token;
use crate::clock::{SharedClock, SystemClock};
use crate::error::GuardError;
use crate::rejection::AuthRejection;
use crate::remote::RemoteJwks;
use crate::snapshot::{DEFAULT_CACHE_CAPACITY, Snapshot};
use crate::user::AuthUser;
use http::HeaderMap;
use sigil_token::{Claims, Verifier, VerifyError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Decides whether a verified token has been revoked (for example because its session, named by
/// `sid`, was signed out). Runs after the signature and claims are verified.
pub trait RevocationCheck: Send + Sync + 'static {
    /// Whether the token with these claims must be refused.
    fn is_revoked<'a>(
        &'a self,
        claims: &'a Claims,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

    /// Whether the check is up to date enough to be trusted. When it is not (a revocation feed
    /// that cannot reach its source), every token is refused with 503 rather than risk
    /// accepting a signed-out session's. Default: always.
    fn is_current(&self) -> bool {
        true
    }
}

/// Where a guard in the identity service's own process finds keys it does not know yet: the
/// service's key store (another instance may have created a key this one never loaded).
pub trait KeySource: Send + Sync + 'static {
    /// A verifier over every key the store publishes now; `None` when the store cannot be read.
    fn load(&self) -> Pin<Box<dyn Future<Output = Option<Verifier>> + Send + '_>>;

    /// A number that changes whenever the source's keys change without a [`KeySource::load`]
    /// (a signing-key rotation or retirement the source learnt by itself); `None` (the default)
    /// when the source only changes on `load`. A guard seeing a new version takes
    /// [`KeySource::current`] before verifying, so removed keys stop verifying too.
    fn version(&self) -> Option<u64> {
        None
    }

    /// The source's keys now, without I/O (read when [`KeySource::version`] changed).
    fn current(&self) -> Option<Verifier> {
        None
    }
}

/// The shortest time between two lookups of unknown keys in a [`KeySource`] (an attacker sending
/// made-up `kid`s costs at most one store read per interval).
pub const KEY_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Fixed keys that are looked up again in their source when a token names an unknown `kid`.
struct Reloading {
    current: std::sync::RwLock<Arc<Snapshot>>,
    source: Arc<dyn KeySource>,
    cache_capacity: Option<usize>,
    last_attempt: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// The source's version `current` was taken at.
    version: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Reloading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading").finish_non_exhaustive()
    }
}

impl Reloading {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Follows a source that changes by itself: a new version replaces the keys at once.
    fn follow(&self) {
        use std::sync::atomic::Ordering;
        let Some(version) = self.source.version() else {
            return;
        };
        if self.version.load(Ordering::Acquire) == version {
            return;
        }
        if let Some(verifier) = self.source.current() {
            let fresh = Arc::new(Snapshot::new(verifier, self.cache_capacity));
            let mut current = self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *current = fresh;
            self.version.store(version, Ordering::Release);
        }
    }

    async fn verify(&self, token: &str, now: u64) -> Result<Arc<Claims>, VerifyError> {
        self.follow();
        let seen = self.snapshot();
        match seen.verify(token, now) {
            Err(VerifyError::UnknownKey) => {}
            other => return other,
        }
        {
            let mut last = self.last_attempt.lock().await;
            let latest = self.snapshot();
            // Another request reloaded while this one waited: try its keys.
            if !Arc::ptr_eq(&latest, &seen) {
                drop(last);
                return latest.verify(token, now);
            }
            if last.is_some_and(|at| at.elapsed() < KEY_RELOAD_INTERVAL) {
                return Err(VerifyError::UnknownKey);
            }
            *last = Some(std::time::Instant::now());
            if let Some(verifier) = self.source.load().await {
                tracing::info!(target: "sigil::guard", "unknown key id: reloaded the keys from the store");
                let fresh = Arc::new(Snapshot::new(verifier, self.cache_capacity));
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
                if let Some(version) = self.source.version() {
                    self.version
                        .store(version, std::sync::atomic::Ordering::Release);
                }
            }
        }
        self.snapshot().verify(token, now)
    }
}

#[derive(Clone, Debug)]
enum Keys {
    Static(Arc<Snapshot>),
    Reloading(Arc<Reloading>),
    Remote(RemoteJwks),
}

struct Inner {
    keys: Keys,
    revocation: Option<Arc<dyn RevocationCheck>>,
    realm: Arc<str>,
    clock: SharedClock,
}

/// Verifies bearer tokens. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Guard(Arc<Inner>);

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("keys", &self.0.keys)
            .field("revocation", &self.0.revocation.is_some())
            .field("realm", &self.0.realm)
            .finish()
    }
}

impl Guard {
    /// A guard over fixed keys (a shared secret or a static JWKS), with a verified-token cache.
    pub fn from_verifier(verifier: Verifier) -> Guard {
        Guard::from_verifier_with_cache(verifier, Some(DEFAULT_CACHE_CAPACITY))
    }

    /// A guard over fixed keys with an explicit cache capacity (`None` disables the cache).
    pub fn from_verifier_with_cache(verifier: Verifier, cache_capacity: Option<usize>) -> Guard {
        Guard::build(
            Keys::Static(Arc::new(Snapshot::new(verifier, cache_capacity))),
            None,
        )
    }

    /// A guard over `verifier`'s keys that looks a token's unknown `kid` up in `source` (at most
    /// once per [`KEY_RELOAD_INTERVAL`]), as a remote-JWKS guard refetches: for the identity
    /// service's own process, whose store other instances may add keys to.
    pub fn from_verifier_with_source(
        verifier: Verifier,
        cache_capacity: Option<usize>,
        source: Arc<dyn KeySource>,
    ) -> Guard {
        let version = source.version().unwrap_or(0);
        Guard::build(
            Keys::Reloading(Arc::new(Reloading {
                current: std::sync::RwLock::new(Arc::new(Snapshot::new(verifier, cache_capacity))),
                source,
                cache_capacity,
                last_attempt: tokio::sync::Mutex::new(None),
                version: std::sync::atomic::AtomicU64::new(version),
            })),
            None,
        )
    }

    /// A guard over a remote JWKS.
    pub fn from_remote(remote: RemoteJwks) -> Guard {
        Guard::build(Keys::Remote(remote), None)
    }

    fn build(keys: Keys, revocation: Option<Arc<dyn RevocationCheck>>) -> Guard {
        Guard(Arc::new(Inner {
            keys,
            revocation,
            realm: Arc::from("sigil"),
            clock: SystemClock::shared(),
        }))
    }

    /// Adds a revocation check, consulted after a token verifies.
    pub fn with_revocation(self, check: Arc<dyn RevocationCheck>) -> Guard {
        Guard(Arc::new(Inner {
            keys: self.0.keys.clone(),
            revocation: Some(check),
            realm: self.0.realm.clone(),
            clock: self.0.clock.clone(),
        }))
    }

    /// Reads the time for `exp`/`nbf`/`iat` checks from `clock` (the system clock by default).
    pub fn with_clock(self, clock: SharedClock) -> Guard {
        Guard(Arc::new(Inner {
            keys: self.0.keys.clone(),
            revocation: self.0.revocation.clone(),
            realm: self.0.realm.clone(),
            clock,
        }))
    }

    /// Sets the `realm` of the `WWW-Authenticate` challenge (default `sigil`).
    pub fn with_realm(self, realm: &str) -> Guard {
        let realm: String = realm
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
            .collect();
        Guard(Arc::new(Inner {
            keys: self.0.keys.clone(),
            revocation: self.0.revocation.clone(),
            realm: realm.into(),
            clock: self.0.clock.clone(),
        }))
    }

    /// The remote key set behind this guard, if it verifies through a JWKS URL (to refresh it
    /// on demand or list its key ids).
    pub fn remote_jwks(&self) -> Option<&RemoteJwks> {
        match &self.0.keys {
            Keys::Remote(remote) => Some(remote),
            Keys::Static(_) | Keys::Reloading(_) => None,
        }
    }

    /// Hits and misses of the verified-token cache of the current key set (`None` without a
    /// cache). A key change starts a fresh cache, and so fresh counts.
    pub fn cache_stats(&self) -> Option<sigil_token::CacheStats> {
        let snapshot = match &self.0.keys {
            Keys::Static(snapshot) => Some(snapshot.clone()),
            Keys::Reloading(keys) => Some(keys.snapshot()),
            Keys::Remote(remote) => remote.current(),
        }?;
        snapshot.cache.as_ref().map(|cache| cache.stats())
    }

    /// The challenge realm.
    pub fn realm(&self) -> &str {
        &self.0.realm
    }

    /// Verifies a token (without the `Bearer ` prefix). Counted in
    /// `sigil_token_verifications_total{outcome}` (`ok`, or [`GuardError::kind`]) through the
    /// `metrics` facade: a no-op unless the process installed a recorder.
    pub async fn verify(&self, token: &str) -> Result<AuthUser, GuardError> {
        let result = self.verify_uncounted(token).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(error) => error.kind(),
        };
        metrics::counter!("sigil_token_verifications_total", "outcome" => outcome).increment(1);
        result
    }

    async fn verify_uncounted(&self, token: &str) -> Result<AuthUser, GuardError> {
        let now = self.0.clock.now_unix();
        let claims = match &self.0.keys {
            Keys::Static(snapshot) => snapshot.verify(token, now)?,
            Keys::Reloading(keys) => keys.verify(token, now).await?,
            Keys::Remote(remote) => remote.verify(token, now).await?,
        };
        if let Some(check) = &self.0.revocation {
            if check.is_revoked(&claims).await {
                return Err(GuardError::Revoked);
            }
            if !check.is_current() {
                return Err(GuardError::RevocationsStale);
            }
        }
        Ok(AuthUser::from_claims(claims))
    }

    /// The HTTP answer for `error` under this guard's realm (what [`Guard::authenticate`] would
    /// answer), for frameworks and bindings that call [`Guard::verify`] themselves.
    pub fn rejection(&self, error: GuardError) -> AuthRejection {
        AuthRejection::new(error, self.0.realm.clone())
    }

    /// The 403 answer for a valid token used on another user's route.
    pub fn forbidden(&self) -> AuthRejection {
        AuthRejection::forbidden(self.0.realm.clone())
    }

    /// Authenticates a request from its headers, answering with a ready HTTP rejection.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<AuthUser, AuthRejection> {
        let result = match bearer_token(headers) {
            Ok(token) => self.verify(token).await,
            Err(e) => {
                let error = GuardError::from(e);
                metrics::counter!("sigil_token_verifications_total", "outcome" => error.kind())
                    .increment(1);
                Err(error)
            }
        };
        result.map_err(|error| {
            tracing::info!(target: "sigil::guard", reason = %error, "bearer authentication refused");
            AuthRejection::new(error, self.0.realm.clone())
        })
    }
}
