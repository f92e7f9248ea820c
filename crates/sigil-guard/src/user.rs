//! Who is calling, as a verified token states it.

use sigil_token::Claims;
use std::sync::Arc;

/// The authenticated caller, as stated by a verified token.
#[derive(Clone, Debug)]
pub struct AuthUser {
    /// The token's `sub`.
    pub user_id: String,
    /// The `email` claim, if present.
    pub email: Option<String>,
    /// The `name` claim, if present.
    pub name: Option<String>,
    /// The `sid` claim (the identity session the token was issued from), if present.
    pub session_id: Option<String>,
    /// Every claim of the token.
    pub claims: Arc<Claims>,
}

impl AuthUser {
    pub(crate) fn from_claims(claims: Arc<Claims>) -> AuthUser {
        AuthUser {
            user_id: claims.sub.clone(),
            email: claims.email.clone(),
            name: claims.name.clone(),
            session_id: claims.sid.clone(),
            claims,
        }
    }
}
