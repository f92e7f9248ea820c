//! `GET /token`, `GET /jwks`, `POST /refresh`, `GET /ok`, `GET /error`.

use super::AuthService;
use super::body::Body;
use super::context::Caller;
use super::openapi as doc;
use super::reply::Reply;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde_json::json;
use std::collections::HashMap;

/// `GET /token`: a fresh JWT for the current session, `{"token": ...}`.
#[utoipa::path(
    get,
    path = "/token",
    tag = "identity",
    responses((status = 200, description = "A JWT for the current session", body = doc::JwtReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn token(State(auth): State<AuthService>, caller: Caller) -> ApiResult<Response> {
    let jwt = auth
        .0
        .issuer
        .issue(&caller.user, &caller.session.id)
        .map_err(ApiError::internal)?;
    Ok(Reply::json(json!({ "token": jwt })).into_response())
}

/// `GET /jwks`: the public keys that verify this service's tokens (rotated keys stay listed for
/// their grace period). Cacheable for five minutes.
#[utoipa::path(
    get,
    path = "/jwks",
    tag = "identity",
    responses((status = 200, description = "The public keys (cacheable five minutes)", body = doc::JwksReply))
)]
pub(super) async fn jwks(State(auth): State<AuthService>) -> Response {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        auth.0.issuer.jwks_body(),
    )
        .into_response()
}

/// `POST /refresh {refreshToken}` (Sigil extension): a new JWT and a new refresh token.
#[utoipa::path(
    post,
    path = "/refresh",
    tag = "identity",
    request_body(content = doc::RefreshRequest, content_type = "application/json"),
    responses((status = 200, description = "A new JWT and refresh token", body = doc::RefreshReply), (status = 401, description = "Invalid, used or expired refresh token", body = doc::ErrorBody))
)]
pub(super) async fn refresh(State(auth): State<AuthService>, body: Body) -> ApiResult<Response> {
    let mut f = body.fields("object")?;
    let presented = f.string("refreshToken");
    f.finish()?;
    let exchanged = auth
        .0
        .refresh
        .exchange(presented.unwrap_or_default())
        .await?;
    let body = json!({
        "token": exchanged.access_token,
        "refreshToken": exchanged.refresh_token,
        "tokenType": "Bearer",
        "expiresIn": auth.0.issuer.ttl_secs(),
    });
    Ok(Reply::json(body).no_store().into_response())
}

/// `GET /ok`: liveness, `{"ok": true}`.
#[utoipa::path(
    get,
    path = "/ok",
    tag = "identity",
    responses((status = 200, description = "Up", body = doc::OkReply))
)]
pub(super) async fn ok() -> Response {
    Reply::json(json!({ "ok": true })).into_response()
}

/// The Content-Security-Policy of the error page: the web UI's pages' policy (one process), so
/// that injected markup cannot run script and no site can frame it.
pub(super) const ERROR_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; \
     manifest-src 'self'";

/// `GET /error?error=CODE`: a small HTML error page (the target of failed redirects), with the
/// web UI's pages' security headers (not their `Cache-Control: no-store`: the page holds
/// nothing private, and its caching stays as Better Auth's).
#[utoipa::path(
    get,
    path = "/error",
    tag = "identity",
    params(("error" = Option<String>, Query, description = "Error code shown")),
    responses((status = 200, description = "An HTML error page", body = String, content_type = "text/html"))
)]
pub(super) async fn error_page(Query(query): Query<HashMap<String, String>>) -> Response {
    let mut response = error_html(&query).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", ERROR_PAGE_CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static(value),
        );
    }
    response
}

fn error_html(query: &HashMap<String, String>) -> Html<String> {
    let code: String = query
        .get("error")
        .map(String::as_str)
        .unwrap_or("UNKNOWN")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '\''))
        .take(64)
        .collect();
    let code = if code.is_empty() {
        "UNKNOWN".to_owned()
    } else {
        code
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>\
         <body><main><h1>Something went wrong</h1><p>Error code: <code>{}</code></p><p><a href=\"/\">Back to the start page</a></p></main></body></html>",
        code.replace('\'', "&#39;")
    ))
}
