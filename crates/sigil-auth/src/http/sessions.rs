//! `GET /get-session`, `GET /list-sessions`, `POST /revoke-session`, `POST /revoke-sessions`,
//! `POST /revoke-other-sessions`.

use super::AuthService;
use super::body::Body;
use super::context::{Caller, Client, Lookup};
use super::openapi as doc;
use super::reply::{Reply, session_json, user_json, with_session};
use crate::audit::{AuditEntry, AuditEvent, Outcome};
use crate::error::{ApiError, ApiResult, codes};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

/// `GET /get-session`: `null` without a live session, else `{session, user}` with a fresh JWT in
/// `set-auth-jwt`. A remembered session last extended more than a day ago is slid forward and
/// its cookie re-sent. `?disableRefresh=<anything>` skips the extension.
#[utoipa::path(
    get,
    path = "/get-session",
    tag = "identity",
    params(("disableRefresh" = Option<String>, Query, description = "Any non-empty value: do not slide the session")),
    responses((status = 200, description = "The session and its user (a fresh JWT in set-auth-jwt), or null", body = Option<doc::SessionUserReply>)),
    security((), ("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn get_session(
    State(auth): State<AuthService>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let mut caller = match auth.lookup(&headers).await? {
        Lookup::Anonymous => return Ok(Reply::json(Value::Null).no_store().into_response()),
        Lookup::Dead => {
            return Ok(Reply::json(Value::Null)
                .no_store()
                .cookies(auth.0.cookies.expire_all())
                .into_response());
        }
        Lookup::Live(caller) => caller,
    };
    let refresh_allowed = query.get("disableRefresh").is_none_or(|v| v.is_empty());
    let extended = refresh_allowed && auth.0.sessions.extend_if_due(&mut caller.session).await?;
    let jwt = auth
        .0
        .issuer
        .issue(&caller.user, &caller.session.id)
        .map_err(ApiError::internal)?;
    let body = json!({ "session": session_json(&caller.session, &caller.token), "user": user_json(&caller.user) });
    let mut reply = Reply::json(body)
        .no_store()
        .exposed_header("set-auth-jwt", jwt);
    if extended {
        reply = with_session(&auth, reply, &caller.token, true);
    }
    Ok(reply.into_response())
}

/// `POST /get-session` needs Better Auth's `deferSessionRefresh`, which Sigil does not offer.
#[utoipa::path(
    post,
    path = "/get-session",
    tag = "identity",
    responses((status = 405, description = "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED", body = doc::ErrorBody))
)]
pub(super) async fn get_session_post() -> Response {
    let error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED,
    );
    let mut response = error.into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        http::header::PRAGMA,
        http::HeaderValue::from_static("no-cache"),
    );
    response
}

/// `GET /list-sessions`: the caller's live sessions. Needs a fresh session (created within a
/// day). The current session's `token` is its real token; other sessions' tokens are never
/// disclosed (Sigil does not even store them): their `token` is a handle that `/revoke-session`
/// accepts.
#[utoipa::path(
    get,
    path = "/list-sessions",
    tag = "identity",
    responses((status = 200, description = "The live sessions of the caller", body = Vec<doc::SessionBody>), (status = 403, description = "SESSION_NOT_FRESH", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn list_sessions(
    State(auth): State<AuthService>,
    caller: Caller,
) -> ApiResult<Response> {
    if !auth.0.sessions.is_fresh(&caller.session) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::SESSION_NOT_FRESH,
        ));
    }
    let sessions = auth.0.sessions.list(&caller.user.id).await?;
    let list: Vec<Value> = sessions
        .iter()
        .map(|s| {
            let token = if s.id == caller.session.id {
                caller.token.as_str()
            } else {
                s.id.as_str()
            };
            session_json(s, token)
        })
        .collect();
    Ok(Reply::json(Value::Array(list)).into_response())
}

/// `POST /revoke-session {token}`: ends one of the caller's sessions, named by its token (or the
/// handle `/list-sessions` gives). Always `{"status": true}`; another user's session is never
/// touched.
#[utoipa::path(
    post,
    path = "/revoke-session",
    tag = "identity",
    request_body(content = doc::TokenRequest, content_type = "application/json"),
    responses((status = 200, description = "Always", body = doc::StatusReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn revoke_session(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Response> {
    let mut f = body.fields("object")?;
    let token = f.string("token");
    f.finish()?;
    let token = token.unwrap_or_default();
    let target = if token == caller.token {
        Some(caller.session.id.clone())
    } else {
        auth.0.sessions.find_own(&caller.user.id, token).await?
    };
    let mut reply = Reply::json(json!({ "status": true }));
    if let Some(id) = target {
        auth.0.sessions.end_one(&id).await?;
        tracing::info!(target: "sigil::auth", user_id = %caller.user.id, session_id = %id, "session revoked");
        auth.audit(
            AuditEntry::new(AuditEvent::SessionRevoked, Outcome::Success)
                .user(&caller.user.id)
                .session(&caller.session.id)
                .client(&client)
                .detail("revokedSession", id.clone()),
        )
        .await;
        if id == caller.session.id {
            reply = reply.cookies(auth.0.cookies.expire_all());
        }
    }
    Ok(reply.into_response())
}

/// `POST /revoke-sessions`: ends every session of the caller, the current one included.
#[utoipa::path(
    post,
    path = "/revoke-sessions",
    tag = "identity",
    request_body(content = doc::EmptyRequest, content_type = "application/json"),
    responses((status = 200, description = "Every session ended", body = doc::StatusReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn revoke_sessions(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Response> {
    body.optional_fields()?.finish()?;
    let ended = auth.0.sessions.end_all_of(&caller.user.id, None).await?;
    tracing::info!(target: "sigil::auth", user_id = %caller.user.id, count = ended.len(), "all sessions revoked");
    auth.audit(
        AuditEntry::new(AuditEvent::SessionRevoked, Outcome::Success)
            .user(&caller.user.id)
            .session(&caller.session.id)
            .client(&client)
            .detail("sessionsEnded", ended.len()),
    )
    .await;
    Ok(Reply::json(json!({ "status": true }))
        .cookies(auth.0.cookies.expire_all())
        .into_response())
}

/// `POST /revoke-other-sessions`: ends every session of the caller but the current one.
#[utoipa::path(
    post,
    path = "/revoke-other-sessions",
    tag = "identity",
    request_body(content = doc::EmptyRequest, content_type = "application/json"),
    responses((status = 200, description = "Every other session ended", body = doc::StatusReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn revoke_other_sessions(
    State(auth): State<AuthService>,
    caller: Caller,
    Client(client): Client,
    body: Body,
) -> ApiResult<Response> {
    body.optional_fields()?.finish()?;
    let ended = auth
        .0
        .sessions
        .end_all_of(&caller.user.id, Some(&caller.session.id))
        .await?;
    tracing::info!(target: "sigil::auth", user_id = %caller.user.id, count = ended.len(), "other sessions revoked");
    auth.audit(
        AuditEntry::new(AuditEvent::SessionRevoked, Outcome::Success)
            .user(&caller.user.id)
            .session(&caller.session.id)
            .client(&client)
            .detail("sessionsEnded", ended.len())
            .detail("kept", "current"),
    )
    .await;
    Ok(Reply::json(json!({ "status": true })).into_response())
}
