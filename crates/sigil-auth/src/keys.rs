//! Signing-key lifecycle: rotation, retirement and the states of stored keys.
//!
//! A stored key (a `jwks` row) is in one of three states at a moment `now`:
//! - **signing**: the newest key of the configured algorithm that has not been replaced
//!   (`expires_at` is `NULL`); new tokens carry its `kid`.
//! - **verifying-only**: replaced by a newer key at `expires_at` (the successor's creation). It
//!   signs nothing new but stays in `/jwks`, and verifies, until its last token can have
//!   expired: `expires_at` + token lifetime + grace ([`DEFAULT_GRACE`] covers other instances
//!   still signing with it until their next reload, and verifiers' clock leeway).
//! - **retired**: out of `/jwks` and refused by every guard: its window ended, or an operator
//!   took it out early (`sigil keys retire`, `retired_at`).
//!
//! [`KeyManager::rotate`] creates a new key and marks the previous one replaced in one locked
//! transaction ([`AuthStore::rotate_jwk`]); with an interval ([`KeyManager::rotate_if_due`]) the
//! same transaction first checks that no key of the interval exists, so instances sharing one
//! database create one key per interval between them. Every running instance reloads the key
//! rows every [`RELOAD_PERIOD`] ([`crate::jwt::TokenIssuer::reload`]). Every rotation and
//! retirement is audited (`key.rotated`, `key.retired`, with the `kid`s, never key material).

use crate::audit::{Audit, AuditEntry, AuditEvent, Outcome};
use crate::store::{AuthStore, JwkRow, StoreError};
use sigil_guard::clock::SharedClock;
use sigil_token::{Algorithm, SigningKey};
use std::sync::Arc;
use std::time::Duration;

/// How often a server reads the key rows again (a rotation elsewhere is in use here within this).
pub const RELOAD_PERIOD: Duration = Duration::from_secs(2);

pub use crate::config::DEFAULT_GRACE;

/// What the sealing key of a stored private JWK is derived for.
pub(crate) const SEAL_PURPOSE: &str = "sigil/jwks-private-key/v1";

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

/// Seals a private key for storage.
pub(crate) fn seal_private_key(secret: &[u8], key: &SigningKey) -> Option<String> {
    let private = zeroize::Zeroizing::new(serde_json::to_vec(&key.to_private_jwk()).ok()?);
    crate::crypto::seal(secret, SEAL_PURPOSE, &private)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whether `row` may sign tokens of `alg` (not replaced, not retired).
pub(crate) fn is_signing_candidate(row: &JwkRow, alg: Algorithm) -> bool {
    row.alg == alg.as_str() && row.expires_at.is_none() && row.retired_at.is_none()
}

/// The newest row of `alg` that may sign.
pub(crate) fn signing_row(rows: &[JwkRow], alg: Algorithm) -> Option<&JwkRow> {
    rows.iter()
        .filter(|r| is_signing_candidate(r, alg))
        .max_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)))
}

/// When a replaced key leaves `/jwks` (ms), with tokens living `ttl`; `None` while it signs.
pub fn leaves_jwks_at(row: &JwkRow, ttl: Duration, grace: Duration) -> Option<i64> {
    if let Some(retired) = row.retired_at {
        return Some(retired);
    }
    row.expires_at
        .map(|e| e.saturating_add(ms(ttl)).saturating_add(ms(grace)))
}

/// Whether `row`'s public key is in `/jwks` (and verifies) at `now`.
pub fn published(row: &JwkRow, ttl: Duration, grace: Duration, now: i64) -> bool {
    leaves_jwks_at(row, ttl, grace).is_none_or(|at| now < at)
}

/// A new key of `alg` and its row (private key sealed with `secret`), created at `now`.
pub(crate) fn new_key(
    alg: Algorithm,
    secret: &[u8],
    now: i64,
) -> Result<(SigningKey, JwkRow), KeyLoadError> {
    let kid = sigil_token::random::alphanumeric(32).map_err(|_| KeyLoadError::Seal)?;
    let key = SigningKey::generate(alg, Some(kid.clone()))?;
    let public = key.verifying_key().to_jwk().ok_or(KeyLoadError::Seal)?;
    let row = JwkRow {
        kid,
        alg: alg.as_str().to_owned(),
        public_jwk: serde_json::to_string(&public).map_err(|_| KeyLoadError::Seal)?,
        private_jwk: seal_private_key(secret, &key).ok_or(KeyLoadError::Seal)?,
        created_at: now,
        expires_at: None,
        retired_at: None,
    };
    Ok((key, row))
}

/// The state of a stored key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens.
    Signing,
    /// Replaced: verifies and is published until [`KeyInfo::leaves_jwks_at`].
    VerifyingOnly,
    /// Out of `/jwks`.
    Retired,
}

impl KeyState {
    /// The shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Signing => "signing",
            KeyState::VerifyingOnly => "verifying-only",
            KeyState::Retired => "retired",
        }
    }
}

/// One stored key as `sigil keys list` shows it (no key material).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: String,
    /// Creation (ms).
    pub created_at: i64,
    /// State now.
    pub state: KeyState,
    /// When it stopped signing (ms).
    pub replaced_at: Option<i64>,
    /// When it leaves (or left) `/jwks` (ms); `None` while signing.
    pub leaves_jwks_at: Option<i64>,
}

/// Why a key operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key with this id.
    #[error("no such key: {0}")]
    NoSuchKey(String),
    /// The key still signs.
    #[error("key {0} is the current signing key: rotate first (sigil keys rotate), then retire it")]
    Signing(String),
    /// The key is out of `/jwks` already.
    #[error("key {0} is retired already")]
    AlreadyRetired(String),
    /// HS256 keys are settings, not stored keys.
    #[error(
        "--jwt-alg {0} uses shared secrets (SIGIL_JWT_SECRETS), which are rotated in the settings, not stored keys"
    )]
    Symmetric(Algorithm),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The key could not be created.
    #[error("{0}")]
    Create(#[from] KeyLoadError),
}

/// Rotates, retires and lists the stored signing keys.
#[derive(Clone)]
pub struct KeyManager {
    store: Arc<dyn AuthStore>,
    audit: Audit,
    alg: Algorithm,
    seal_secret: Arc<zeroize::Zeroizing<Vec<u8>>>,
    ttl: Duration,
    grace: Duration,
    clock: SharedClock,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Who asked for a rotation (recorded in the audit row's `actor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// `sigil keys rotate|retire` on the server's shell.
    Cli,
    /// The automatic interval (`SIGIL_KEY_ROTATION_INTERVAL`).
    Schedule,
}

impl Trigger {
    fn actor(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Schedule => "schedule",
        }
    }
}

impl KeyManager {
    /// A manager of `alg` keys, sealing private keys with `seal_secret`; `ttl` and `grace` give
    /// the publication window of replaced keys.
    pub fn new(
        store: Arc<dyn AuthStore>,
        audit: Audit,
        alg: Algorithm,
        seal_secret: &[u8],
        ttl: Duration,
        grace: Duration,
        clock: SharedClock,
    ) -> KeyManager {
        KeyManager {
            store,
            audit,
            alg,
            seal_secret: Arc::new(zeroize::Zeroizing::new(seal_secret.to_vec())),
            ttl,
            grace,
            clock,
        }
    }

    /// Every stored key with its state, newest first.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let rows = self.store.jwks().await?;
        let now = self.clock.now_ms();
        let signer = signing_row(&rows, self.alg).map(|r| r.kid.clone());
        Ok(rows
            .iter()
            .map(|row| {
                let state = if !published(row, self.ttl, self.grace, now) {
                    KeyState::Retired
                } else if signer.as_deref() == Some(row.kid.as_str())
                    || (row.expires_at.is_none() && row.alg != self.alg.as_str())
                {
                    KeyState::Signing
                } else {
                    KeyState::VerifyingOnly
                };
                KeyInfo {
                    kid: row.kid.clone(),
                    alg: row.alg.clone(),
                    created_at: row.created_at,
                    state,
                    replaced_at: row.expires_at,
                    leaves_jwks_at: leaves_jwks_at(row, self.ttl, self.grace),
                }
            })
            .collect())
    }

    /// Creates a new signing key now; the previous one verifies until its window ends. Returns
    /// the new key id.
    pub async fn rotate(&self, trigger: Trigger) -> Result<String, KeyError> {
        self.rotate_with(trigger, None)
            .await
            .map(|kid| kid.unwrap_or_default())
    }

    /// Creates a new signing key when the newest one is at least `interval` old (of instances
    /// checking together, one creates it). Returns the new key id, if one was created.
    pub async fn rotate_if_due(&self, interval: Duration) -> Result<Option<String>, KeyError> {
        let rows = self.store.jwks().await?;
        let now = self.clock.now_ms();
        // A cheap look first: the locked check runs only when a rotation looks due.
        let newest = rows
            .iter()
            .filter(|r| r.alg == self.alg.as_str() && r.retired_at.is_none())
            .map(|r| r.created_at)
            .max();
        if newest.is_some_and(|at| now.saturating_sub(at) < ms(interval)) {
            return Ok(None);
        }
        self.rotate_with(Trigger::Schedule, Some(ms(interval)))
            .await
    }

    async fn rotate_with(
        &self,
        trigger: Trigger,
        min_age: Option<i64>,
    ) -> Result<Option<String>, KeyError> {
        if self.alg.is_symmetric() {
            return Err(KeyError::Symmetric(self.alg));
        }
        let now = self.clock.now_ms();
        let previous = signing_row(&self.store.jwks().await?, self.alg).map(|r| r.kid.clone());
        let (_, row) = new_key(self.alg, &self.seal_secret, now)?;
        if !self.store.rotate_jwk(&row, min_age).await? {
            return Ok(None);
        }
        tracing::info!(target: "sigil::auth", kid = %row.kid, previous = previous.as_deref().unwrap_or("-"), alg = %self.alg, by = trigger.actor(), "rotated the JWT signing key");
        let mut entry = AuditEntry::new(AuditEvent::KeyRotated, Outcome::Success)
            .actor(trigger.actor())
            .detail("kid", row.kid.clone())
            .detail("alg", self.alg.as_str());
        if let Some(previous) = previous {
            entry = entry.detail("previousKid", previous);
        }
        self.audit.record(entry).await;
        Ok(Some(row.kid))
    }

    /// Takes a replaced key out of `/jwks` now (its tokens are refused everywhere within the
    /// reload period). The signing key is refused: rotate first.
    pub async fn retire(&self, kid: &str, trigger: Trigger) -> Result<(), KeyError> {
        let rows = self.store.jwks().await?;
        let now = self.clock.now_ms();
        let row = rows
            .iter()
            .find(|r| r.kid == kid)
            .ok_or_else(|| KeyError::NoSuchKey(kid.to_owned()))?;
        if row.expires_at.is_none() && row.retired_at.is_none() {
            return Err(KeyError::Signing(kid.to_owned()));
        }
        if row.retired_at.is_some() {
            return Err(KeyError::AlreadyRetired(kid.to_owned()));
        }
        if !self.store.retire_jwk(kid, now).await? {
            // Retired by someone else meanwhile.
            return Err(KeyError::AlreadyRetired(kid.to_owned()));
        }
        tracing::info!(target: "sigil::auth", kid = %kid, by = trigger.actor(), "retired a JWT signing key");
        self.audit
            .record(
                AuditEntry::new(AuditEvent::KeyRetired, Outcome::Success)
                    .actor(trigger.actor())
                    .detail("kid", kid.to_owned())
                    .detail("alg", row.alg.clone()),
            )
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kid: &str, created_at: i64, expires_at: Option<i64>, retired_at: Option<i64>) -> JwkRow {
        JwkRow {
            kid: kid.into(),
            alg: "EdDSA".into(),
            public_jwk: String::new(),
            private_jwk: String::new(),
            created_at,
            expires_at,
            retired_at,
        }
    }

    #[test]
    fn the_newest_unreplaced_key_signs_and_replaced_keys_stay_published_for_their_window() {
        let ttl = Duration::from_secs(900);
        let grace = Duration::from_secs(120);
        let rows = vec![
            row("new", 2_000, None, None),
            row("old", 1_000, Some(2_000), None),
            row("gone", 500, Some(1_000), Some(1_500)),
        ];
        assert_eq!(
            signing_row(&rows, Algorithm::EdDSA).map(|r| r.kid.as_str()),
            Some("new")
        );
        assert_eq!(signing_row(&rows, Algorithm::ES256), None);
        let window = 2_000 + 900_000 + 120_000;
        assert_eq!(leaves_jwks_at(&rows[1], ttl, grace), Some(window));
        assert!(published(&rows[0], ttl, grace, i64::MAX));
        assert!(published(&rows[1], ttl, grace, window - 1));
        assert!(!published(&rows[1], ttl, grace, window));
        // Retired: out at once, whatever its window.
        assert!(!published(&rows[2], ttl, grace, 1_500));
        assert!(published(&rows[2], ttl, grace, 1_499));
        // A retired key never signs, even unreplaced.
        let rows = vec![row("r", 3_000, None, Some(3_000)), row("s", 1, None, None)];
        assert_eq!(
            signing_row(&rows, Algorithm::EdDSA).map(|r| r.kid.as_str()),
            Some("s")
        );
    }
}
