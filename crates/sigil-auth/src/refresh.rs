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
use crate::error::{ApiError, ApiResult, codes};
use crate::http::AuthService;
use crate::store::{RefreshToken, Session};
use http::StatusCode;

/// Creates the first token of a family for `session`.
pub async fn issue_first(auth: &AuthService, session: &Session) -> ApiResult<String> {
    let token = crypto::random_alphanumeric(43);
    let now = auth.now_ms();
    let ttl = i64::try_from(auth.config.session.refresh_token_ttl.as_millis()).unwrap_or(i64::MAX);
    let row = RefreshToken {
        id: crypto::random_alphanumeric(32),
        token_hash: crypto::sha256_hex(&token),
        session_id: session.id.clone(),
        parent_id: None,
        child_id: None,
        used_at: None,
        created_at: now,
        expires_at: now.saturating_add(ttl),
    };
    auth.store.insert_refresh_token(&row).await?;
    Ok(token)
}

/// The outcome of an exchange: a JWT and the next refresh token.
#[derive(Debug)]
pub struct Exchanged {
    /// New access token.
    pub access_token: String,
    /// New refresh token.
    pub refresh_token: String,
}

fn invalid() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, codes::INVALID_REFRESH_TOKEN)
}

/// Exchanges a refresh token (see the module documentation for the rules).
pub async fn exchange(auth: &AuthService, presented: &str) -> ApiResult<Exchanged> {
    if presented.is_empty() || presented.len() > 128 {
        return Err(invalid());
    }
    let now = auth.now_ms();
    let Some(old) = auth
        .store
        .refresh_token_by_hash(&crypto::sha256_hex(presented))
        .await?
    else {
        return Err(invalid());
    };
    if old.used_at.is_some() {
        tracing::warn!(target: "sigil::auth", session_id = %old.session_id, "refresh token reused: ending its session");
        auth.sessions.end_one(&old.session_id).await?;
        return Err(invalid());
    }
    if old.expires_at <= now {
        return Err(invalid());
    }
    let Some(mut session) = auth.store.session_by_id(&old.session_id).await? else {
        return Err(invalid());
    };
    if session.expires_at <= now {
        auth.sessions.end_one(&session.id).await?;
        return Err(invalid());
    }
    let Some(user) = auth.store.user_by_id(&session.user_id).await? else {
        return Err(invalid());
    };
    let token = crypto::random_alphanumeric(43);
    let next = RefreshToken {
        id: crypto::random_alphanumeric(32),
        token_hash: crypto::sha256_hex(&token),
        session_id: session.id.clone(),
        parent_id: Some(old.id.clone()),
        child_id: None,
        used_at: None,
        created_at: now,
        expires_at: old.expires_at,
    };
    if !auth.store.rotate_refresh_token(&old.id, &next, now).await? {
        // Lost a race with another use of the same token: that is a reuse too.
        tracing::warn!(target: "sigil::auth", session_id = %session.id, "concurrent refresh token reuse: ending its session");
        auth.sessions.end_one(&session.id).await?;
        return Err(invalid());
    }
    auth.sessions.extend_if_due(&mut session).await?;
    let access_token = auth
        .issuer
        .issue(&user, &session.id)
        .map_err(ApiError::internal)?;
    Ok(Exchanged {
        access_token,
        refresh_token: token,
    })
}
