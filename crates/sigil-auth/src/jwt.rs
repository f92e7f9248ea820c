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

const SEAL_PURPOSE: &str = "sigil/jwks-private-key/v1";

/// Issues access tokens and publishes the keys that verify them.
#[derive(Clone)]
pub struct TokenIssuer {
    signing: Arc<SigningKey>,
    verifying: Vec<VerifyingKey>,
    jwks_body: Bytes,
    issuer: String,
    ttl_secs: u64,
    clock: SharedClock,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("alg", &self.signing.algorithm())
            .field("kid", &self.signing.kid())
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Why the signing keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    /// HS256 without a secret.
    #[error("--jwt-alg HS256 needs --jwt-secret / SIGIL_JWT_SECRET (at least 32 bytes)")]
    MissingHsSecret,
    /// Key material refused.
    #[error("signing key: {0}")]
    Key(#[from] sigil_token::KeyError),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Encryption failed.
    #[error("could not seal the signing key")]
    Seal,
    /// The HTTP client for social providers could not be built.
    #[error("social providers: {0}")]
    Social(String),
}

impl TokenIssuer {
    /// Loads the signing key for the configured algorithm, creating and storing one on first
    /// start. With several instances on one database, every instance signs with the oldest live
    /// key of the algorithm, so they agree.
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
            let secret = config
                .jwt
                .hs_secret
                .as_ref()
                .ok_or(KeyLoadError::MissingHsSecret)?;
            let key = SigningKey::hmac(alg, secret.expose(), None)?;
            let verifying = vec![key.verifying_key()];
            let jwks_body = Bytes::from_static(br#"{"keys":[]}"#);
            return Ok(TokenIssuer {
                signing: Arc::new(key),
                verifying,
                jwks_body,
                issuer,
                ttl_secs,
                clock,
            });
        }

        let secret = config.secret.expose();
        let signing = match pick_signing_key(&store.jwks().await?, alg, secret, now) {
            Some(key) => key,
            None => {
                let kid = sigil_token::random::alphanumeric(32).map_err(|_| KeyLoadError::Seal)?;
                let key = SigningKey::generate(alg, Some(kid.clone()))?;
                let public = key.verifying_key().to_jwk().ok_or(KeyLoadError::Seal)?;
                let private =
                    serde_json::to_vec(&key.to_private_jwk()).map_err(|_| KeyLoadError::Seal)?;
                let row = JwkRow {
                    kid,
                    alg: alg.as_str().to_owned(),
                    public_jwk: serde_json::to_string(&public).map_err(|_| KeyLoadError::Seal)?,
                    private_jwk: crypto::seal(secret, SEAL_PURPOSE, &private)
                        .ok_or(KeyLoadError::Seal)?,
                    created_at: now,
                    expires_at: None,
                };
                // Under a database lock: of instances starting together on a new database,
                // one creates the key and every other one signs with it.
                if store.create_first_jwk(&row, now).await? {
                    tracing::info!(target: "sigil::auth", kid = %row.kid, alg = %alg, "created a new JWT signing key");
                } else if pick_signing_key(&store.jwks().await?, alg, secret, now).is_none() {
                    // Live keys exist but none can be unsealed (SIGIL_SECRET changed): add ours.
                    store.insert_jwk(&row).await?;
                    tracing::info!(target: "sigil::auth", kid = %row.kid, alg = %alg, "created a new JWT signing key");
                }
                pick_signing_key(&store.jwks().await?, alg, secret, now).unwrap_or(key)
            }
        };

        let published = published_keys(&store.jwks().await?, config.jwt.grace, now);
        let verifying = JwkSet {
            keys: published.clone(),
        }
        .to_key_set()
        .map(|(set, _)| set.keys().to_vec())
        .unwrap_or_default();
        let jwks_body =
            Bytes::from(serde_json::to_vec(&JwkSet { keys: published }).unwrap_or_default());
        Ok(TokenIssuer {
            signing: Arc::new(signing),
            verifying,
            jwks_body,
            issuer,
            ttl_secs,
            clock,
        })
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
        sigil_token::sign(&self.signing, &claims)
    }

    /// The `/jwks` response body.
    pub fn jwks_body(&self) -> Bytes {
        self.jwks_body.clone()
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
        self.signing.algorithm()
    }

    /// A verifier for this service's tokens, for a guard in the same process.
    pub fn verifier(&self) -> Result<Verifier, sigil_token::KeyError> {
        let keys = KeySet::try_from(self.verifying.clone())?;
        Ok(Verifier::new(
            keys,
            Validation::new(&self.issuer, &self.issuer),
        ))
    }
}

/// The public keys of `rows` still published at this moment: live, or expired within `grace`.
fn published_keys(rows: &[JwkRow], grace: std::time::Duration, now: i64) -> Vec<Jwk> {
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    rows.iter()
        .filter(|row| {
            row.expires_at
                .is_none_or(|e| e.saturating_add(grace_ms) > now)
        })
        .filter_map(|row| serde_json::from_str::<Jwk>(&row.public_jwk).ok())
        .collect()
}

/// The key store as a source of keys for an in-process guard: a token signed with a key this
/// process did not load at start (another instance created it) is looked up here rather than
/// refused.
struct StoreKeys {
    store: Arc<dyn AuthStore>,
    issuer: String,
    grace: std::time::Duration,
    clock: SharedClock,
}

impl sigil_guard::KeySource for StoreKeys {
    fn load(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Verifier>> + Send + '_>> {
        Box::pin(async move {
            let rows = match self.store.jwks().await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::warn!(target: "sigil::auth", %error, "cannot read the signing keys");
                    return None;
                }
            };
            let (keys, _) = JwkSet {
                keys: published_keys(&rows, self.grace, self.clock.now_ms()),
            }
            .to_key_set()
            .ok()?;
            Some(Verifier::new(
                keys,
                Validation::new(&self.issuer, &self.issuer),
            ))
        })
    }
}

impl TokenIssuer {
    /// Where an in-process guard looks up keys it does not know (`None` in HS256 mode, which has
    /// one shared secret and no key ids).
    pub fn key_source(
        &self,
        store: Arc<dyn AuthStore>,
        grace: std::time::Duration,
    ) -> Option<Arc<dyn sigil_guard::KeySource>> {
        if self.signing.algorithm().is_symmetric() {
            return None;
        }
        Some(Arc::new(StoreKeys {
            store,
            issuer: self.issuer.clone(),
            grace,
            clock: self.clock.clone(),
        }))
    }
}

fn pick_signing_key(
    rows: &[JwkRow],
    alg: Algorithm,
    secret: &[u8],
    now: i64,
) -> Option<SigningKey> {
    let mut live: Vec<&JwkRow> = rows
        .iter()
        .filter(|r| r.alg == alg.as_str() && r.expires_at.is_none_or(|e| e > now))
        .collect();
    live.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
    live.into_iter().find_map(|row| {
        let opened = crypto::open(secret, SEAL_PURPOSE, &row.private_jwk);
        if opened.is_none() {
            tracing::warn!(target: "sigil::auth", kid = %row.kid, "cannot unseal a stored signing key (was SIGIL_SECRET changed?); skipping it");
        }
        let jwk: Jwk = serde_json::from_slice(&opened?).ok()?;
        SigningKey::from_private_jwk(&jwk).ok()
    })
}
