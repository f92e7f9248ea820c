//! The [`Owner`] extractor: the caller, checked to be the `{user_id}` of the path.
//!
//! The route layer ([`sigil_guard::require_path_user`]) already answers 401/403 before any
//! handler runs; `Owner` makes the same check part of the handlers' own types, so a route added
//! without the layer still cannot serve another user's tasks. When the layer ran, the verified
//! caller is reused from the request and the token is not verified twice.

use crate::TasksState;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use sigil_guard::AuthUser;
use sigil_guard::Guard;

/// Path parameter naming the owner of the tasks.
const USER_ID: &str = "user_id";

/// The authenticated caller, who owns the `{user_id}` of the path.
#[derive(Clone, Debug)]
pub(crate) struct Owner(String);

impl Owner {
    /// The owner's user id (the token's `sub`, equal to `{user_id}`).
    pub(crate) fn user_id(&self) -> &str {
        &self.0
    }
}

impl FromRequestParts<TasksState> for Owner {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &TasksState) -> Result<Owner, Response> {
        let user = AuthUser::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let path_user = params
            .iter()
            .find(|(name, _)| *name == USER_ID)
            .map(|(_, value)| value);
        if path_user != Some(user.user_id.as_str()) {
            tracing::info!(target: "sigil::tasks", "token used on another user's tasks");
            let guard: &Guard = &state.guard;
            return Err(guard.forbidden().into_response());
        }
        Ok(Owner(user.user_id))
    }
}
