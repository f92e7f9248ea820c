//! JWT issuance: signing keys (created on first start, stored sealed in the database), the access
//! token's claims, and the public JWKS document.
//!
//! Claims of a Sigil access token: `sub` (user id), `email`, `name`, `iat`, `exp` (15 minutes by
//! default), `iss` and `aud` (both the base URL's origin, as Better Auth does), `sid` (the session,
//! so a signed-out session's tokens can be refused) and `jti` (a unique token id). The header is
//! `{"alg":"EdDSA","kid":...,"typ":"JWT"}`; in HS256 mode there is no `kid` and nothing is
//! published at `/jwks`.

use crate::config::AuthConfig;
use crate::crypto;
use crate::store::{AuthStore, JwkRow, User};
use bytes::Bytes;
use sigil_guard::clock::SharedClock;
use sigil_token::{
    Algorithm, Claims, Jwk, JwkSet, KeySet, SigningKey, Validation, Verifier, VerifyingKey,
};
use std::sync::Arc;

pub use crate::keys::KeyLoadError;
use crate::keys::SEAL_PURPOSE;

/// Issues access tokens and publishes the keys that verify them. The keys are reloaded from the
/// store by [`TokenIssuer::reload`] (every [`crate::keys::RELOAD_PERIOD`] in a server), so a
/// rotation made by another instance or `sigil keys rotate` is picked up within seconds. Clones
/// share the keys.
#[derive(Clone)]
pub struct TokenIssuer {
    state: Arc<std::sync::RwLock<Arc<KeyState>>>,
    /// Sealing secret of stored private keys (empty in HS256 mode).
    seal_secret: Arc<zeroize::Zeroizing<Vec<u8>>>,
    grace: std::time::Duration,
    issuer: String,
    ttl_secs: u64,
    clock: SharedClock,
}

/// The keys in use at one moment.
struct KeyState {
    signing: Arc<SigningKey>,
    verifying: Vec<VerifyingKey>,
    /// Key ids of `verifying`, sorted (what a reload compares).
    published: Vec<String>,
    jwks_body: Bytes,
    /// Bumped on every change, for guards that follow the issuer.
    version: u64,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        f.debug_struct("TokenIssuer")
            .field("alg", &state.signing.algorithm())
            .field("kid", &state.signing.kid())
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// Loads the signing key for the configured algorithm, creating and storing one on first
    /// start. With several instances on one database, every instance signs with the newest
    /// signing key of the algorithm (see [`crate::keys`]), so they agree.
    pub async fn load(
        store: &dyn AuthStore,
        config: &AuthConfig,
        clock: SharedClock,
    ) -> Result<TokenIssuer, KeyLoadError> {
        let now = clock.now_ms();
        let alg = config.jwt.alg;
        let issuer = config.origin();
        let ttl_secs = config.jwt.ttl.as_secs().max(1);
        if alg.is_symmetric() {
            // The first secret signs; every one verifies (no kid: verifiers try each).
            let mut keys = config
                .jwt
                .hs_secrets
                .iter()
                .map(|secret| SigningKey::hmac(alg, secret.expose(), None));
            let signing = keys.next().ok_or(KeyLoadError::MissingHsSecret)??;
            let mut verifying = vec![signing.verifying_key()];
            for key in keys {
                verifying.push(key?.verifying_key());
            }
            let state = KeyState {
                signing: Arc::new(signing),
                verifying,
                published: Vec::new(),
                jwks_body: Bytes::from_static(br#"{"keys":[]}"#),
                version: 0,
            };
            return Ok(TokenIssuer {
                state: Arc::new(std::sync::RwLock::new(Arc::new(state))),
                seal_secret: Arc::new(zeroize::Zeroizing::new(Vec::new())),
                grace: config.jwt.grace,
                issuer,
                ttl_secs,
                clock,
            });
        }

        let secret = config.secret.expose();
        let signing = match pick_signing_key(&store.jwks().await?, alg, secret) {
            Some(key) => key,
            None => {
                let (key, row) = crate::keys::new_key(alg, secret, now)?;
                // Under a database lock: of instances starting together on a new database,
                // one creates the key and every other one signs with it.
                if store.create_first_jwk(&row, now).await? {
                    tracing::info!(target: "sigil::auth", kid = %row.kid, alg = %alg, "created a new JWT signing key");
                } else if pick_signing_key(&store.jwks().await?, alg, secret).is_none() {
                    // Live keys exist but none can be unsealed (SIGIL_SECRET changed): add ours.
                    store.insert_jwk(&row).await?;
                    tracing::info!(target: "sigil::auth", kid = %row.kid, alg = %alg, "created a new JWT signing key");
                }
                pick_signing_key(&store.jwks().await?, alg, secret).unwrap_or(key)
            }
        };
        let issuer = TokenIssuer {
            state: Arc::new(std::sync::RwLock::new(Arc::new(KeyState {
                signing: Arc::new(signing),
                verifying: Vec::new(),
                published: Vec::new(),
                jwks_body: Bytes::new(),
                version: 0,
            }))),
            seal_secret: Arc::new(zeroize::Zeroizing::new(secret.to_vec())),
            grace: config.jwt.grace,
            issuer,
            ttl_secs,
            clock,
        };
        let rows = store.jwks().await?;
        issuer.apply(&rows, true);
        Ok(issuer)
    }

    fn state(&self) -> Arc<KeyState> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the key rows again and switches to the newest signing key and the keys published
    /// now (a rotation, a retirement, or a replaced key whose window ended). Cheap when nothing
    /// changed: one query, no unsealing. Returns whether the keys changed. Nothing to do in
    /// HS256 mode (the secrets are settings).
    pub async fn reload(&self, store: &dyn AuthStore) -> Result<bool, KeyLoadError> {
        if self.algorithm().is_symmetric() {
            return Ok(false);
        }
        let rows = store.jwks().await?;
        Ok(self.apply(&rows, false))
    }

    /// Switches to the keys `rows` describe at this moment; whether anything changed.
    fn apply(&self, rows: &[JwkRow], first: bool) -> bool {
        let now = self.clock.now_ms();
        let current = self.state();
        let alg = current.signing.algorithm();
        let published = published_keys(rows, self.ttl_secs, self.grace, now);
        let mut kids: Vec<String> = published.iter().filter_map(|k| k.kid.clone()).collect();
        kids.sort();
        let newest = crate::keys::signing_row(rows, alg).map(|row| row.kid.as_str());
        let same_signer = newest.is_none_or(|kid| current.signing.kid() == Some(kid));
        if !first && same_signer && kids == current.published {
            return false;
        }
        let signing = if same_signer {
            current.signing.clone()
        } else {
            match pick_signing_key(rows, alg, &self.seal_secret) {
                Some(key) => Arc::new(key),
                None => current.signing.clone(),
            }
        };
        let mut verifying = JwkSet {
            keys: published.clone(),
        }
        .to_key_set()
        .map(|(set, _)| set.keys().to_vec())
        .unwrap_or_default();
        // The signing key always verifies its own tokens, even while its row is unreadable.
        if !verifying.iter().any(|k| k.kid() == signing.kid()) {
            verifying.push(signing.verifying_key());
        }
        let jwks_body =
            Bytes::from(serde_json::to_vec(&JwkSet { keys: published }).unwrap_or_default());
        if !first {
            if signing.kid() != current.signing.kid() {
                tracing::info!(target: "sigil::auth", kid = signing.kid().unwrap_or("-"), previous = current.signing.kid().unwrap_or("-"), "new JWT signing key in use");
            }
            if kids != current.published {
                tracing::info!(target: "sigil::auth", published = ?kids, "the published JWT keys changed");
            }
        }
        let fresh = Arc::new(KeyState {
            signing,
            verifying,
            published: kids,
            jwks_body,
            version: current.version + u64::from(!first),
        });
        *self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        true
    }

    /// Bumped whenever the keys change (for guards that follow this issuer).
    pub fn version(&self) -> u64 {
        self.state().version
    }

    /// The key id new tokens are signed with (`None` in HS256 mode).
    pub fn signing_kid(&self) -> Option<String> {
        self.state().signing.kid().map(str::to_owned)
    }

    /// A signed access token for `user` in session `session_id`.
    pub fn issue(&self, user: &User, session_id: &str) -> Result<String, sigil_token::SignError> {
        let now = self.clock.now_unix();
        let mut claims = Claims::new(&user.id, now, now + self.ttl_secs)
            .with_issuer(&self.issuer)
            .with_audience(&self.issuer);
        claims.sid = Some(session_id.to_owned());
        claims.jti = Some(
            sigil_token::random::alphanumeric(24).map_err(|_| sigil_token::SignError::Signer)?,
        );
        claims.email = Some(user.email.clone());
        claims.name = Some(user.name.clone());
        sigil_token::sign(&self.state().signing, &claims)
    }

    /// The `/jwks` response body.
    pub fn jwks_body(&self) -> Bytes {
        self.state().jwks_body.clone()
    }

    /// The issuer (and audience) of issued tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Token lifetime in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.state().signing.algorithm()
    }

    /// A verifier for this service's tokens, for a guard in the same process.
    pub fn verifier(&self) -> Result<Verifier, sigil_token::KeyError> {
        let keys = KeySet::try_from(self.state().verifying.clone())?;
        Ok(Verifier::new(
            keys,
            Validation::new(&self.issuer, &self.issuer),
        ))
    }
}

/// The public keys of `rows` published at this moment (see [`crate::keys::published`]).
fn published_keys(
    rows: &[JwkRow],
    ttl_secs: u64,
    grace: std::time::Duration,
    now: i64,
) -> Vec<Jwk> {
    let ttl = std::time::Duration::from_secs(ttl_secs);
    rows.iter()
        .filter(|row| crate::keys::published(row, ttl, grace, now))
        .filter_map(|row| serde_json::from_str::<Jwk>(&row.public_jwk).ok())
        .collect()
}

/// The issuer as the key source of an in-process guard: the guard follows the issuer's keys
/// (a rotation or retirement is seen at the next request after the issuer's reload), and a
/// token signed with a key this process has not loaded yet (another instance just rotated)
/// makes the issuer reload from the store at once rather than be refused.
struct IssuerKeys {
    issuer: TokenIssuer,
    store: Arc<dyn AuthStore>,
}

impl sigil_guard::KeySource for IssuerKeys {
    fn load(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Verifier>> + Send + '_>> {
        Box::pin(async move {
            if let Err(error) = self.issuer.reload(self.store.as_ref()).await {
                tracing::warn!(target: "sigil::auth", %error, "cannot read the signing keys");
                return None;
            }
            self.issuer.verifier().ok()
        })
    }

    fn version(&self) -> Option<u64> {
        Some(self.issuer.version())
    }

    fn current(&self) -> Option<Verifier> {
        self.issuer.verifier().ok()
    }
}

impl TokenIssuer {
    /// The key source of an in-process guard: this issuer's keys, reloaded from `store` when a
    /// token names an unknown key (`None` in HS256 mode, whose secrets are fixed settings).
    pub fn key_source(&self, store: Arc<dyn AuthStore>) -> Option<Arc<dyn sigil_guard::KeySource>> {
        if self.algorithm().is_symmetric() {
            return None;
        }
        Some(Arc::new(IssuerKeys {
            issuer: self.clone(),
            store,
        }))
    }
}

/// The newest signing key of `alg` in `rows` that can be unsealed.
fn pick_signing_key(rows: &[JwkRow], alg: Algorithm, secret: &[u8]) -> Option<SigningKey> {
    let mut live: Vec<&JwkRow> = rows
        .iter()
        .filter(|r| crate::keys::is_signing_candidate(r, alg))
        .collect();
    live.sort_by(|a, b| (b.created_at, &b.kid).cmp(&(a.created_at, &a.kid)));
    live.into_iter().find_map(|row| {
        let opened = crypto::open(secret, SEAL_PURPOSE, &row.private_jwk);
        if opened.is_none() {
            tracing::warn!(target: "sigil::auth", kid = %row.kid, "cannot unseal a stored signing key (was SIGIL_SECRET changed?); skipping it");
        }
        let jwk: Jwk = serde_json::from_slice(&opened?).ok()?;
        SigningKey::from_private_jwk(&jwk).ok()
    })
}
