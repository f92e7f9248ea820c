//! A remote JWKS (for example Sigil's or Better Auth's `/api/auth/jwks`): fetched at start,
//! cached, refreshed in the background, refetched on an unknown `kid` at most once per interval,
//! and still served from cache while the endpoint is down.
//!
//! Keys come only from the configured URL: nothing in a token (`jku`, `x5u`, `jwk`) can make the
//! guard fetch anything, redirects are not followed (a JWKS endpoint that answers 3xx is an error,
//! so an `https` URL can never be downgraded or sent elsewhere), and a flood of tokens with random
//! `kid`s causes at most one request per [`RemoteJwksOptions::unknown_kid_interval`]. Concurrent
//! requests that need a fetch share one: whoever waited while another fetch completed uses its
//! result instead of fetching again.
//!
//! When a refresh changes the key set (a key removed, added, or republished under the same `kid`
//! with other material) the verified-token cache is dropped with the old set, so a token accepted
//! under a removed key is never answered from the cache again.

use crate::clock::{SharedClock, SystemClock};
use crate::error::GuardError;
use crate::snapshot::Snapshot;
use sigil_token::{Algorithm, Claims, JwkSet, KeySet, Validation, Verifier, VerifyError};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use url::Url;

/// Tuning of a [`RemoteJwks`].
#[derive(Clone, Debug)]
pub struct RemoteJwksOptions {
    /// How long a fetched set is fresh when the response has no `Cache-Control: max-age`.
    pub default_ttl: Duration,
    /// Lower bound on the freshness taken from `max-age`.
    pub min_ttl: Duration,
    /// Upper bound on the freshness taken from `max-age`.
    pub max_ttl: Duration,
    /// Minimum time between refetches caused by an unknown `kid`.
    pub unknown_kid_interval: Duration,
    /// Wait before retrying after a failed fetch.
    pub retry_interval: Duration,
    /// Timeout of one fetch.
    pub timeout: Duration,
    /// Largest JWKS document accepted.
    pub max_body_bytes: usize,
    /// Verified-token cache capacity (`None`: no cache).
    pub cache_capacity: Option<usize>,
    /// Where freshness, the unknown-`kid` interval and the retry interval read the time (the
    /// system clock; tests move a `ManualClock` instead of sleeping). A clock stepped back
    /// makes the set stale and allows an unknown-`kid` fetch, never the opposite.
    pub clock: SharedClock,
}

impl Default for RemoteJwksOptions {
    fn default() -> Self {
        RemoteJwksOptions {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(24 * 3600),
            unknown_kid_interval: Duration::from_secs(30),
            retry_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            max_body_bytes: 256 * 1024,
            cache_capacity: Some(crate::snapshot::DEFAULT_CACHE_CAPACITY),
            clock: SystemClock::shared(),
        }
    }
}

/// Why a JWKS fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Transport failure or timeout.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// A non-200 answer.
    #[error("unexpected status {0}")]
    Status(u16),
    /// Body over the size limit.
    #[error("JWKS document too large")]
    TooLarge,
    /// Not a usable JWKS.
    #[error("invalid JWKS: {0}")]
    Keys(#[from] sigil_token::KeyError),
}

#[derive(Debug)]
struct State {
    snapshot: Option<Arc<Snapshot>>,
    /// When the last fetch attempt ended (clock milliseconds).
    fetched_at: i64,
    /// Until when that fetch's result is fresh (clock milliseconds).
    fresh_until: i64,
    last_unknown_kid_fetch: Option<i64>,
    refreshing: bool,
    /// Completed fetch attempts (successful or not), so that callers who waited for an
    /// in-flight fetch can tell that it happened and skip their own.
    generation: u64,
}

#[derive(Debug)]
struct Inner {
    url: Url,
    validation: Validation,
    options: RemoteJwksOptions,
    client: reqwest::Client,
    state: RwLock<State>,
    fetch_lock: tokio::sync::Mutex<()>,
}

/// A cached remote key set. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RemoteJwks(Arc<Inner>);

/// Installs the ring provider as rustls' default once per process (reqwest is built without a
/// provider to keep the dependency tree small).
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl RemoteJwks {
    /// Creates the cache and fetches the set once. A failed first fetch is logged, not fatal: the
    /// guard answers 401 until the endpoint answers, retrying every `retry_interval`.
    pub async fn start(
        url: Url,
        validation: Validation,
        options: RemoteJwksOptions,
    ) -> Result<RemoteJwks, reqwest::Error> {
        install_crypto_provider();
        if url.scheme() != "https" && !is_loopback(&url) {
            tracing::warn!(target: "sigil::guard", %url, "JWKS URL is not https: anyone on the network path can substitute keys");
        }
        let validation = if validation.allowed_algorithms().is_empty() {
            // A public key set can only ever authorise asymmetric algorithms.
            validation.algorithms(&[Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256])
        } else {
            validation
        };
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            // Never follow redirects: keys come from the configured URL only.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sigil-guard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let remote = RemoteJwks(Arc::new(Inner {
            url,
            validation,
            options,
            client,
            state: RwLock::new(State {
                snapshot: None,
                fetched_at: i64::MIN,
                fresh_until: i64::MIN,
                last_unknown_kid_fetch: None,
                refreshing: false,
                generation: 0,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
        }));
        if let Err(error) = remote.refresh().await {
            tracing::warn!(target: "sigil::guard", url = %remote.0.url, %error, "initial JWKS fetch failed; will retry");
        }
        Ok(remote)
    }

    /// The JWKS URL.
    pub fn url(&self) -> &Url {
        &self.0.url
    }

    /// The key ids currently held.
    pub fn kids(&self) -> Vec<String> {
        self.current()
            .map(|s| {
                s.verifier
                    .keys()
                    .keys()
                    .iter()
                    .filter_map(|k| k.kid().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn current(&self) -> Option<Arc<Snapshot>> {
        self.0
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot
            .clone()
    }

    /// Completed fetch attempts, successful or not (the one at start included).
    pub fn fetch_count(&self) -> u64 {
        self.generation()
    }

    fn generation(&self) -> u64 {
        self.0
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .generation
    }

    /// Fetches the set now (one fetch at a time; concurrent callers wait for it, then fetch
    /// again themselves).
    pub async fn refresh(&self) -> Result<(), FetchError> {
        let _one_at_a_time = self.0.fetch_lock.lock().await;
        self.fetch_and_store().await
    }

    /// Fetches unless a fetch completed since `seen` (a generation read before deciding to
    /// fetch): concurrent callers that needed the same fetch share it.
    async fn refresh_unless_done_since(&self, seen: u64) {
        let _one_at_a_time = self.0.fetch_lock.lock().await;
        if self.generation() != seen {
            return;
        }
        if let Err(error) = self.fetch_and_store().await {
            tracing::warn!(target: "sigil::guard", url = %self.0.url, %error, "JWKS fetch failed");
        }
    }

    /// One fetch; the caller holds `fetch_lock`.
    async fn fetch_and_store(&self) -> Result<(), FetchError> {
        let result = self.fetch().await;
        let mut state = self.0.state.write().unwrap_or_else(PoisonError::into_inner);
        state.refreshing = false;
        state.generation += 1;
        match result {
            Ok((keys, ttl)) => {
                let cache_capacity = self.0.options.cache_capacity;
                let snapshot = match &state.snapshot {
                    // Exactly the same keys (ids, algorithms and material): keep the
                    // verified-token cache. Any other change starts an empty one.
                    Some(old) if old.verifier.keys().same_keys(&keys) => Snapshot {
                        verifier: Verifier::new(keys, self.0.validation.clone()),
                        cache: old.cache.clone(),
                    },
                    _ => Snapshot::new(
                        Verifier::new(keys, self.0.validation.clone()),
                        cache_capacity,
                    ),
                };
                state.snapshot = Some(Arc::new(snapshot));
                let now = self.now_ms();
                state.fetched_at = now;
                state.fresh_until = now.saturating_add(millis(ttl));
                Ok(())
            }
            Err(error) => {
                // Keep serving what we have; try again after the retry interval.
                let now = self.now_ms();
                state.fetched_at = now;
                state.fresh_until = now.saturating_add(millis(self.0.options.retry_interval));
                Err(error)
            }
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Duration), FetchError> {
        let mut response = self.0.client.get(self.0.url.clone()).send().await?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let ttl = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .map(|secs| {
                Duration::from_secs(secs).clamp(self.0.options.min_ttl, self.0.options.max_ttl)
            })
            .unwrap_or(self.0.options.default_ttl);
        let limit = self.0.options.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body)
            .map_err(|_| sigil_token::KeyError::Document("not UTF-8".into()))?;
        let (keys, skipped) = JwkSet::parse_keys(&text)?;
        for key in skipped {
            tracing::warn!(target: "sigil::guard", kid = ?key.kid, reason = %key.reason, "JWKS key skipped");
        }
        Ok((keys, ttl))
    }

    /// Starts a background refresh if the set is stale and none is running.
    fn refresh_if_stale(&self) {
        {
            // The common case (fresh) takes only the shared lock.
            let state = self.0.state.read().unwrap_or_else(PoisonError::into_inner);
            if state.refreshing || self.is_fresh(&state) {
                return;
            }
        }
        let mut state = self.0.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.refreshing || self.is_fresh(&state) {
            return;
        }
        state.refreshing = true;
        drop(state);
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(error) = me.refresh().await {
                tracing::warn!(target: "sigil::guard", url = %me.0.url, %error, "JWKS refresh failed; serving cached keys");
            }
        });
    }

    /// Claims the right to refetch for an unknown `kid` (at most once per interval).
    fn claim_unknown_kid_fetch(&self) -> bool {
        let mut state = self.0.state.write().unwrap_or_else(PoisonError::into_inner);
        let now = self.now_ms();
        match state.last_unknown_kid_fetch {
            Some(at) if now >= at && now - at < millis(self.0.options.unknown_kid_interval) => {
                false
            }
            _ => {
                state.last_unknown_kid_fetch = Some(now);
                true
            }
        }
    }

    /// The current snapshot and the fetch generation it belongs to.
    fn current_with_generation(&self) -> (Option<Arc<Snapshot>>, u64, bool) {
        let state = self.0.state.read().unwrap_or_else(PoisonError::into_inner);
        (
            state.snapshot.clone(),
            state.generation,
            self.is_fresh(&state),
        )
    }

    fn now_ms(&self) -> i64 {
        self.0.options.clock.now_ms()
    }

    /// Whether the last fetch's result (or failure) still holds: not past `fresh_until`, and the
    /// clock not stepped back before the fetch.
    fn is_fresh(&self, state: &State) -> bool {
        let now = self.now_ms();
        now >= state.fetched_at && now < state.fresh_until
    }

    pub(crate) async fn verify(&self, token: &str, now: u64) -> Result<Arc<Claims>, GuardError> {
        let (current, generation, fresh) = self.current_with_generation();
        let snapshot = match current {
            Some(snapshot) => {
                self.refresh_if_stale();
                snapshot
            }
            None => {
                // Never loaded: try again, no more often than the retry interval, and only one
                // fetch for all the requests that arrive meanwhile.
                if !fresh {
                    self.refresh_unless_done_since(generation).await;
                }
                self.current().ok_or(GuardError::NoKeys)?
            }
        };
        match snapshot.verify(token, now) {
            Err(VerifyError::UnknownKey) => {
                if self.claim_unknown_kid_fetch() {
                    self.refresh_unless_done_since(generation).await;
                } else {
                    // A refetch may be under way: wait for it rather than fail a token it would fix.
                    drop(self.0.fetch_lock.lock().await);
                }
                let latest = self.current().ok_or(GuardError::NoKeys)?;
                if Arc::ptr_eq(&latest, &snapshot) {
                    return Err(VerifyError::UnknownKey.into());
                }
                Ok(latest.verify(token, now)?)
            }
            other => Ok(other?),
        }
    }
}

/// A duration in whole milliseconds, saturating.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Whether the URL's host is a loopback address or `localhost` (plain http is then harmless).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Reads `max-age` from a Cache-Control value (directive names are case-insensitive, RFC 9111
/// §5.2); `no-store`/`no-cache` mean "as short as allowed".
fn max_age(value: &str) -> Option<u64> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(0);
        }
        if let Some((name, v)) = directive.split_once('=')
            && name.trim().eq_ignore_ascii_case("max-age")
        {
            age = v.trim().trim_matches('"').parse().ok().or(age);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::max_age;

    #[test]
    fn reads_max_age() {
        assert_eq!(max_age("public, max-age=600"), Some(600));
        assert_eq!(max_age("no-store"), Some(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
        assert_eq!(max_age("Public, Max-Age=120"), Some(120));
        assert_eq!(max_age("private, no-cache, max-age=600"), Some(0));
        assert_eq!(
            max_age("s-maxage=10"),
            None,
            "a shared-cache directive is not ours"
        );
    }
}
