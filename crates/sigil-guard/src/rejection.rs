//! The HTTP answers of the guard (RFC 6750 §3).

use crate::error::GuardError;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use sigil_token::VerifyError;
use std::sync::Arc;

/// A refused request, ready to be answered.
///
/// * no credentials: 401, `WWW-Authenticate: Bearer realm="sigil"` (no error code);
/// * a bad, expired or revoked token: 401, `Bearer realm="sigil", error="invalid_token",
///   error_description="..."`;
/// * two `Authorization` headers: 400, `error="invalid_request"`;
/// * a revocation feed too far behind to vouch for any token: 503 `SERVICE_UNAVAILABLE` with
///   `Retry-After: 1` (no challenge: the token may well be good);
/// * another user's route: 403.
///
/// The body is always JSON `{"code": ..., "message": ...}` and never echoes the token.
#[derive(Clone, Debug)]
pub struct AuthRejection {
    kind: Kind,
    realm: Arc<str>,
}

#[derive(Clone, Debug)]
enum Kind {
    Guard(GuardError),
    Forbidden,
}

impl AuthRejection {
    pub(crate) fn new(error: GuardError, realm: Arc<str>) -> Self {
        AuthRejection {
            kind: Kind::Guard(error),
            realm,
        }
    }

    /// The 403 for a valid token used on another user's route.
    pub fn forbidden(realm: Arc<str>) -> Self {
        AuthRejection {
            kind: Kind::Forbidden,
            realm,
        }
    }

    /// The underlying guard error, if this is an authentication failure.
    pub fn error(&self) -> Option<&GuardError> {
        match &self.kind {
            Kind::Guard(e) => Some(e),
            Kind::Forbidden => None,
        }
    }

    /// The HTTP status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match &self.kind {
            Kind::Guard(GuardError::DuplicateHeader) => StatusCode::BAD_REQUEST,
            Kind::Guard(GuardError::RevocationsStale) => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Guard(_) => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
        }
    }
}

impl AuthRejection {
    /// The `WWW-Authenticate` value (none for a 403).
    pub fn challenge(&self) -> Option<String> {
        self.describe().0
    }

    /// The body's `code`: `UNAUTHORIZED`, `INVALID_TOKEN`, `TOKEN_EXPIRED`, `INVALID_REQUEST`,
    /// `SERVICE_UNAVAILABLE` or `FORBIDDEN`.
    pub fn code(&self) -> &'static str {
        self.describe().1
    }

    /// The body's `message`, a sentence that never contains the token.
    pub fn message(&self) -> &'static str {
        self.describe().2
    }

    fn describe(&self) -> (Option<String>, &'static str, &'static str) {
        let realm = &self.realm;
        match &self.kind {
            Kind::Guard(GuardError::Missing) => (
                Some(format!("Bearer realm=\"{realm}\"")),
                "UNAUTHORIZED",
                "Authentication required: send Authorization: Bearer <token>",
            ),
            Kind::Guard(GuardError::DuplicateHeader) => (
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"invalid_request\", error_description=\"more than one Authorization header\""
                )),
                "INVALID_REQUEST",
                "More than one Authorization header",
            ),
            Kind::Guard(GuardError::Token(VerifyError::Expired)) => (
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"the access token expired\""
                )),
                "TOKEN_EXPIRED",
                "The access token expired",
            ),
            Kind::Guard(GuardError::Revoked) => (
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"the session was signed out\""
                )),
                "INVALID_TOKEN",
                "The access token is no longer valid",
            ),
            Kind::Guard(GuardError::RevocationsStale) => (
                None,
                "SERVICE_UNAVAILABLE",
                "Sign-outs cannot be confirmed right now. Please try again in a moment.",
            ),
            Kind::Guard(_) => (
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"the access token is invalid\""
                )),
                "INVALID_TOKEN",
                "The access token is invalid",
            ),
            Kind::Forbidden => (None, "FORBIDDEN", "This resource belongs to another user"),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let (challenge, code, message) = self.describe();
        let body = Json(serde_json::json!({ "code": code, "message": message }));
        let status = self.status();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
