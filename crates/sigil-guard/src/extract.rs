//! The axum side: the [`AuthUser`] extractor and the [`require_path_user`] route layer.

use crate::guard::Guard;
use crate::rejection::AuthRejection;
use crate::user::AuthUser;
use axum::extract::{FromRef, FromRequestParts, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use std::sync::Arc;

/// Name of the path parameter [`require_path_user`] compares with the token's `sub`.
pub const USER_ID_PARAM: &str = "user_id";

/// Extracts the caller from `Authorization: Bearer <jwt>`, with the [`Guard`] found in the
/// router state. A request already authenticated by [`require_path_user`] is not verified twice.
impl<S> FromRequestParts<S> for AuthUser
where
    Guard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let user = Guard::from_ref(state).authenticate(&parts.headers).await?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// Route layer for routes with a `{user_id}` segment: authenticates the caller (401 on failure)
/// and answers 403 before the handler runs when `{user_id}` is not the token's `sub`.
///
/// The comparison is byte for byte on the once-percent-decoded segment: no case folding, no
/// Unicode normalisation. Use with `route_layer(middleware::from_fn_with_state(guard,
/// require_path_user))` so that it runs only on matched routes.
pub async fn require_path_user(
    State(guard): State<Guard>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    let user = match guard.authenticate(request.headers()).await {
        Ok(user) => user,
        Err(rejection) => return rejection.into_response(),
    };
    let path_user = params
        .iter()
        .find(|(name, _)| *name == USER_ID_PARAM)
        .map(|(_, value)| value);
    if path_user != Some(user.user_id.as_str()) {
        tracing::info!(target: "sigil::guard", "token used on another user's route");
        return AuthRejection::forbidden(Arc::from(guard.realm())).into_response();
    }
    request.extensions_mut().insert(user);
    next.run(request).await
}
