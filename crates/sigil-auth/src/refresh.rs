//! Rotating refresh tokens for clients without a cookie jar (CLI, mobile, other services), a
//! Sigil extension to the Better Auth protocol (RFC 9700 §4.14).
//!
//! * Requested at sign-in (`"requestRefreshToken": true`); exchanged at `POST /api/auth/refresh
//!   {"refreshToken": ...}` for a new JWT and a new refresh token.
//! * Every exchange rotates the token; the old one is marked used.
//! * A token presented a second time means it was copied: the whole family (the session it
//!   belongs to, with all its tokens and JWTs) is ended, so thief and victim both have to sign in
//!   again. There is deliberately no grace window for replays.
//! * A family expires 30 days after sign-in whatever the use (absolute lifetime), and with its
//!   session (sign-out, revocation, password change with revocation, deletion).
//! * Tokens are 43 random characters (≈ 256 bits), stored only as SHA-256.

use crate::crypto;
use crate::jwt::TokenIssuer;
use crate::session::Sessions;
use crate::store::{AuthStore, RefreshToken, Session, StoreError};
use sigil_guard::clock::SharedClock;
use sigil_token::random;
use std::sync::Arc;
use std::time::Duration;

/// Why an exchange was refused.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, reused, expired, or its session ended (one answer for all).
    #[error("invalid refresh token")]
    Invalid,
    /// The database is unreachable or overloaded (a 503 with `Retry-After`, not a 500).
    #[error("database unavailable")]
    Unavailable,
    /// Storage or signing failed.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(target: "sigil::auth", error = %e, "database unavailable: answering 503");
            RefreshError::Unavailable
        } else {
            RefreshError::Internal(e.to_string())
        }
    }
}

/// The outcome of an exchange: a JWT and the next refresh token.
#[derive(Debug)]
pub struct Exchanged {
    /// New access token.
    pub access_token: String,
    /// New refresh token.
    pub refresh_token: String,
}

/// Refresh-token families.
#[derive(Clone)]
pub struct RefreshTokens {
    store: Arc<dyn AuthStore>,
    sessions: Sessions,
    issuer: TokenIssuer,
    ttl: Duration,
    clock: SharedClock,
}

impl std::fmt::Debug for RefreshTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl RefreshTokens {
    /// Families over `store` lasting `ttl`, whose exchanges give JWTs from `issuer`.
    pub fn new(
        store: Arc<dyn AuthStore>,
        sessions: Sessions,
        issuer: TokenIssuer,
        ttl: Duration,
        clock: SharedClock,
    ) -> RefreshTokens {
        RefreshTokens {
            store,
            sessions,
            issuer,
            ttl,
            clock,
        }
    }

    /// Creates the first token of a family for `session`.
    pub async fn issue_first(&self, session: &Session) -> Result<String, StoreError> {
        let token = random::alphanumeric(43)?;
        let now = self.clock.now_ms();
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let row = RefreshToken {
            id: random::alphanumeric(32)?,
            token_hash: crypto::sha256_hex(&token),
            session_id: session.id.clone(),
            parent_id: None,
            child_id: None,
            used_at: None,
            created_at: now,
            expires_at: now.saturating_add(ttl),
        };
        self.store.insert_refresh_token(&row).await?;
        Ok(token)
    }

    /// Exchanges a refresh token (see the module documentation for the rules).
    pub async fn exchange(&self, presented: &str) -> Result<Exchanged, RefreshError> {
        if presented.is_empty() || presented.len() > 128 {
            return Err(RefreshError::Invalid);
        }
        let now = self.clock.now_ms();
        let Some(old) = self
            .store
            .refresh_token_by_hash(&crypto::sha256_hex(presented))
            .await?
        else {
            return Err(RefreshError::Invalid);
        };
        if old.used_at.is_some() {
            tracing::warn!(target: "sigil::auth", session_id = %old.session_id, "refresh token reused: ending its session");
            self.sessions.end_one(&old.session_id).await?;
            return Err(RefreshError::Invalid);
        }
        if old.expires_at <= now {
            return Err(RefreshError::Invalid);
        }
        let Some(mut session) = self.store.session_by_id(&old.session_id).await? else {
            return Err(RefreshError::Invalid);
        };
        if session.expires_at <= now {
            self.sessions.end_one(&session.id).await?;
            return Err(RefreshError::Invalid);
        }
        let Some(user) = self.store.user_by_id(&session.user_id).await? else {
            return Err(RefreshError::Invalid);
        };
        let token = random::alphanumeric(43).map_err(StoreError::from)?;
        let next = RefreshToken {
            id: random::alphanumeric(32).map_err(StoreError::from)?,
            token_hash: crypto::sha256_hex(&token),
            session_id: session.id.clone(),
            parent_id: Some(old.id.clone()),
            child_id: None,
            used_at: None,
            created_at: now,
            expires_at: old.expires_at,
        };
        if !self.store.rotate_refresh_token(&old.id, &next, now).await? {
            // Lost a race with another use of the same token: that is a reuse too.
            tracing::warn!(target: "sigil::auth", session_id = %session.id, "concurrent refresh token reuse: ending its session");
            self.sessions.end_one(&session.id).await?;
            return Err(RefreshError::Invalid);
        }
        self.sessions.extend_if_due(&mut session).await?;
        let access_token = self
            .issuer
            .issue(&user, &session.id)
            .map_err(|e| RefreshError::Internal(e.to_string()))?;
        Ok(Exchanged {
            access_token,
            refresh_token: token,
        })
    }
}
