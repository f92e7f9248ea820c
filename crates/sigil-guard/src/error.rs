//! Why a request was not authenticated.

use crate::bearer::BearerError;
use sigil_token::VerifyError;

/// Why a request was not authenticated. All variants become a 401 (or 400 for an ambiguous
/// request); the variant is for logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// No bearer credentials.
    #[error("no bearer token")]
    Missing,
    /// Two `Authorization` headers.
    #[error("more than one Authorization header")]
    DuplicateHeader,
    /// The credential is not a bearer token of valid syntax.
    #[error("malformed bearer credential")]
    MalformedHeader,
    /// The token failed verification.
    #[error("invalid token: {0}")]
    Token(#[from] VerifyError),
    /// The token is valid but its session has been revoked.
    #[error("token revoked")]
    Revoked,
    /// No verification keys are available (the remote JWKS has never been loaded).
    #[error("no verification keys available")]
    NoKeys,
    /// The revocation check is not up to date (its feed cannot reach the database), so a
    /// signed-out session cannot be told apart: answered 503 with `Retry-After`.
    #[error("revocations cannot be confirmed (revocation feed behind)")]
    RevocationsStale,
}

impl GuardError {
    /// A short stable name, for logs, metrics and bindings: `missing`, `duplicate_header`,
    /// `malformed_header`, `revoked`, `no_keys`, `revocations_stale`, or the token error's own
    /// ([`VerifyError::kind`]: `expired`, `bad_signature`, `unknown_key`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            GuardError::Missing => "missing",
            GuardError::DuplicateHeader => "duplicate_header",
            GuardError::MalformedHeader => "malformed_header",
            GuardError::Token(e) => e.kind(),
            GuardError::Revoked => "revoked",
            GuardError::NoKeys => "no_keys",
            GuardError::RevocationsStale => "revocations_stale",
        }
    }
}

impl From<BearerError> for GuardError {
    fn from(e: BearerError) -> Self {
        match e {
            BearerError::Missing => GuardError::Missing,
            BearerError::Duplicate => GuardError::DuplicateHeader,
            BearerError::Malformed => GuardError::MalformedHeader,
        }
    }
}
