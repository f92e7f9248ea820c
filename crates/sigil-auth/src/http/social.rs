//! Social sign-in routes (Better Auth 1.7): `POST /sign-in/social`, `GET|POST /callback/{id}`,
//! `POST /link-social`, `GET /list-accounts`, `POST /unlink-account`, `POST /get-access-token`,
//! `POST /refresh-token`, `GET /account-info`. Each extracts, calls one [`crate::social::Social`]
//! method and replies; the rules live in the service.

use super::AuthService;
use super::body::{Body, Fields, FormOrJson};
use super::context::{Caller, Client};
use super::openapi as doc;
use super::origin;
use super::reply::{Reply, redirect, user_json, with_session};
use crate::domain::iso8601;
use crate::error::{ApiError, ApiResult, codes};
use crate::social::{
    CallbackParams, Finished, IdTokenSignIn, LinkTarget, STATE_COOKIE_SECS, Start,
};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The common fields of `/sign-in/social` and `/link-social`.
struct FlowFields<'a> {
    provider: &'a str,
    callback: Option<&'a str>,
    error_callback: Option<&'a str>,
    new_user_callback: Option<&'a str>,
    disable_redirect: bool,
    scopes: Vec<String>,
    login_hint: Option<&'a str>,
    request_sign_up: bool,
    id_token: Option<IdTokenFields<'a>>,
}

struct IdTokenFields<'a> {
    token: &'a str,
    nonce: Option<&'a str>,
    access_token: Option<&'a str>,
    refresh_token: Option<&'a str>,
}

fn flow_fields<'a>(auth: &AuthService, body: &'a Body) -> ApiResult<FlowFields<'a>> {
    let mut f = body.fields("object")?;
    let provider = f.non_empty("provider");
    let callback = f.opt_string("callbackURL");
    let error_callback = f.opt_string("errorCallbackURL");
    let new_user_callback = f.opt_string("newUserCallbackURL");
    let disable_redirect = f.opt_bool("disableRedirect").unwrap_or(false);
    let scopes = f.opt_strings("scopes").unwrap_or_default();
    let login_hint = f.opt_string("loginHint");
    let request_sign_up = f.opt_bool("requestSignUp").unwrap_or(false);
    let id_token = match f.opt_object("idToken") {
        Some(mut t) => {
            let token = t.non_empty("token");
            let nonce = t.opt_string("nonce");
            let access_token = t.opt_string("accessToken");
            let refresh_token = t.opt_string("refreshToken");
            prefixed(t, "idToken")?;
            token.map(|token| IdTokenFields {
                token,
                nonce,
                access_token,
                refresh_token,
            })
        }
        None => None,
    };
    f.finish()?;
    let Some(provider) = provider else {
        return Err(ApiError::validation("[body.provider] Invalid input"));
    };
    for target in [callback, error_callback, new_user_callback] {
        auth.0
            .trusted
            .check_redirect(target, codes::INVALID_CALLBACK_URL)?;
    }
    Ok(FlowFields {
        provider,
        callback: origin::given(callback),
        error_callback: origin::given(error_callback),
        new_user_callback: origin::given(new_user_callback),
        disable_redirect,
        scopes: scopes.into_iter().map(str::to_owned).collect(),
        login_hint,
        request_sign_up,
        id_token,
    })
}

/// Finishes a nested object's validation, naming it in the message.
fn prefixed(fields: Fields<'_>, name: &str) -> ApiResult<()> {
    fields
        .finish()
        .map_err(|_| ApiError::validation(format!("[body.{name}] Invalid input")))
}

/// The answer that sends the browser to the provider: `{url, redirect}`, `Location` unless
/// `disableRedirect`, and the signed state cookie.
fn to_provider(
    auth: &AuthService,
    started: crate::social::Started,
    disable_redirect: bool,
) -> Reply {
    let cookie = auth.0.cookies.state_cookie(
        auth.0.config.secret.expose(),
        &started.state,
        STATE_COOKIE_SECS,
    );
    let mut reply = Reply::json(json!({ "url": started.url, "redirect": !disable_redirect }))
        .cookies([cookie])
        .no_store();
    if !disable_redirect {
        reply = reply.location(&started.url);
    }
    reply
}

/// `POST /sign-in/social`: starts the redirect flow (`{url, redirect: true}`), or with
/// `idToken` signs in directly (`{redirect: false, token, user}`).
#[utoipa::path(
    post,
    path = "/sign-in/social",
    tag = "identity",
    request_body(content = doc::SocialRequest, content_type = "application/json"),
    responses((status = 200, description = "The provider URL, or signed in with an ID token", body = doc::SocialSignInAnswer), (status = 401, description = "Invalid ID token", body = doc::ErrorBody), (status = 404, description = "PROVIDER_NOT_FOUND", body = doc::ErrorBody), (status = 502, description = "PROVIDER_UNAVAILABLE", body = doc::ErrorBody))
)]
pub(super) async fn sign_in_social(
    State(auth): State<AuthService>,
    Client(client): Client,
    body: Body,
) -> ApiResult<Reply> {
    let f = flow_fields(&auth, &body)?;
    if let Some(t) = f.id_token {
        let (user, token) = auth
            .0
            .social
            .sign_in_with_id_token(
                IdTokenSignIn {
                    provider: f.provider,
                    token: t.token,
                    nonce: t.nonce,
                    access_token: t.access_token,
                    refresh_token: t.refresh_token,
                    request_sign_up: f.request_sign_up,
                },
                &client,
            )
            .await?;
        let reply =
            Reply::json(json!({ "redirect": false, "token": token, "user": user_json(&user) }));
        return Ok(with_session(&auth, reply, &token, true));
    }
    let started = auth
        .0
        .social
        .start(Start {
            provider: f.provider,
            callback_url: f.callback,
            error_url: f.error_callback,
            new_user_url: f.new_user_callback,
            scopes: f.scopes,
            login_hint: f.login_hint,
            request_sign_up: f.request_sign_up,
            link: None,
        })
        .await?;
    Ok(to_provider(&auth, started, f.disable_redirect))
}

/// `POST /link-social`: starts a flow that links the provider identity to the caller (or, with
/// `idToken`, links at once: `{url: "", status: true, redirect: false}`).
#[utoipa::path(
    post,
    path = "/link-social",
    tag = "identity",
    request_body(content = doc::SocialRequest, content_type = "application/json"),
    responses((status = 200, description = "The provider URL, or linked with an ID token", body = doc::LinkSocialAnswer), (status = 404, description = "PROVIDER_NOT_FOUND", body = doc::ErrorBody), (status = 409, description = "SOCIAL_ACCOUNT_ALREADY_LINKED", body = doc::ErrorBody), (status = 502, description = "PROVIDER_UNAVAILABLE", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn link_social(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Reply> {
    let f = flow_fields(&auth, &body)?;
    if let Some(t) = f.id_token {
        auth.0
            .social
            .link_with_id_token(
                &caller.user,
                IdTokenSignIn {
                    provider: f.provider,
                    token: t.token,
                    nonce: t.nonce,
                    access_token: t.access_token,
                    refresh_token: t.refresh_token,
                    request_sign_up: false,
                },
            )
            .await?;
        return Ok(Reply::json(
            json!({ "url": "", "status": true, "redirect": false }),
        ));
    }
    let started = auth
        .0
        .social
        .start(Start {
            provider: f.provider,
            callback_url: f.callback,
            error_url: f.error_callback,
            new_user_url: None,
            scopes: f.scopes,
            login_hint: f.login_hint,
            request_sign_up: false,
            link: Some(LinkTarget {
                user_id: caller.user.id.clone(),
                email: caller.user.email.clone(),
            }),
        })
        .await?;
    Ok(to_provider(&auth, started, f.disable_redirect))
}

fn param(query: &HashMap<String, String>, name: &str) -> Option<String> {
    query.get(name).cloned()
}

/// `GET /callback/{provider}`: the provider sends the browser back here. Always a 302: to the
/// flow's `callbackURL` (with the new session's cookies), or to its `errorCallbackURL` (Better
/// Auth's `/error` page when there is none) with `?error=<code>`.
#[utoipa::path(
    get,
    path = "/callback/{provider}",
    tag = "identity",
    params(("provider" = String, Path, description = "Provider id"), ("code" = Option<String>, Query), ("state" = Option<String>, Query), ("error" = Option<String>, Query)),
    responses((status = 302, description = "To the flow callbackURL, or its errorCallbackURL with ?error=CODE", headers(("location" = String, description = "Where the browser goes next"))))
)]
pub(super) async fn callback(
    State(auth): State<AuthService>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    Client(client): Client,
    headers: HeaderMap,
) -> Response {
    let params = CallbackParams {
        code: param(&query, "code"),
        state: param(&query, "state"),
        error: param(&query, "error"),
        error_description: param(&query, "error_description"),
        iss: param(&query, "iss"),
        user: param(&query, "user"),
    };
    let browser_state = auth
        .0
        .cookies
        .state_from(&headers, auth.0.config.secret.expose());
    let expire_state = auth.0.cookies.expire_state();
    match auth
        .0
        .social
        .callback(&provider, params, browser_state.as_deref(), &client)
        .await
    {
        Ok(Finished::SignedIn {
            token,
            redirect: to,
            ..
        }) => {
            let (mut cookies, _) = auth.session_cookies(&token, true);
            cookies.push(expire_state);
            redirect(&to, cookies)
        }
        Ok(Finished::Linked { redirect: to }) => redirect(&to, vec![expire_state]),
        Err(failure) => redirect(&failure.location(), vec![expire_state]),
    }
}

/// `POST /callback/{provider}` (Apple's `form_post`): re-sent as a GET to the same route, as
/// Better Auth does, so that the browser brings its `SameSite=Lax` state cookie.
#[utoipa::path(
    post,
    path = "/callback/{provider}",
    tag = "identity",
    params(("provider" = String, Path, description = "Provider id")),
    responses((status = 302, description = "Re-sent as a GET (form_post providers)", headers(("location" = String, description = "Where the browser goes next"))))
)]
pub(super) async fn callback_post(
    State(auth): State<AuthService>,
    Path(provider): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    FormOrJson(body): FormOrJson,
) -> Response {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    let fields = body.optional_fields().ok();
    for name in [
        "code",
        "state",
        "error",
        "error_description",
        "iss",
        "user",
        "device_id",
    ] {
        let from_body = fields
            .as_ref()
            .and_then(|f| f.peek_string(name))
            .map(str::to_owned);
        if let Some(v) = query.get(name).cloned().or(from_body) {
            pairs.append_pair(name, &v);
        }
    }
    let provider: String = provider
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect();
    let base = auth.0.config.base_url.as_str().trim_end_matches('/');
    redirect(
        &format!(
            "{base}{}/callback/{provider}?{}",
            super::BASE_PATH,
            pairs.finish()
        ),
        Vec::new(),
    )
}

fn account_json(a: &crate::store::Account) -> Value {
    json!({
        "id": a.id,
        "providerId": a.provider_id,
        "accountId": a.account_id,
        "userId": a.user_id,
        "scopes": a.scope.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "createdAt": iso8601(a.created_at),
        "updatedAt": iso8601(a.updated_at),
    })
}

/// `GET /list-accounts`: the caller's accounts, the password (`credential`) first when set.
#[utoipa::path(
    get,
    path = "/list-accounts",
    tag = "identity",
    responses((status = 200, description = "The ways the caller can sign in", body = Vec<doc::AccountBody>)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn list_accounts(
    State(auth): State<AuthService>,
    caller: Caller,
) -> ApiResult<Response> {
    let mut list = Vec::new();
    if auth.0.accounts.has_password(&caller.user.id).await? {
        list.push(json!({
            "id": caller.user.id,
            "providerId": "credential",
            "accountId": caller.user.id,
            "userId": caller.user.id,
            "scopes": [],
            "createdAt": iso8601(caller.user.created_at),
            "updatedAt": iso8601(caller.user.updated_at),
        }));
    }
    for a in auth.0.social.accounts(&caller.user.id).await? {
        list.push(account_json(&a));
    }
    Ok(Reply::json(Value::Array(list)).into_response())
}

fn account_id_field(body: &Body) -> ApiResult<String> {
    let mut f = body.fields("object")?;
    let id = f.non_empty("accountId");
    f.finish()?;
    id.map(str::to_owned)
        .ok_or_else(|| ApiError::validation("[body.accountId] Invalid input"))
}

/// `POST /unlink-account {accountId}` (a fresh session): never the last way to sign in.
#[utoipa::path(
    post,
    path = "/unlink-account",
    tag = "identity",
    request_body(content = doc::AccountIdRequest, content_type = "application/json"),
    responses((status = 200, description = "Unlinked", body = doc::StatusReply), (status = 403, description = "SESSION_NOT_FRESH", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn unlink_account(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let id = account_id_field(&body)?;
    if !auth.0.sessions.is_fresh(&caller.session) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::SESSION_NOT_FRESH,
        ));
    }
    auth.0.social.unlink(&caller.user.id, &id).await?;
    Ok(Reply::json(json!({ "status": true })).into_response())
}

/// `POST /get-access-token {accountId}`: the provider access token of the caller's account,
/// refreshed first when about to expire.
#[utoipa::path(
    post,
    path = "/get-access-token",
    tag = "identity",
    request_body(content = doc::AccountIdRequest, content_type = "application/json"),
    responses((status = 200, description = "The provider access token", body = doc::AccessTokenReply), (status = 502, description = "PROVIDER_UNAVAILABLE", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn get_access_token(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let id = account_id_field(&body)?;
    let t = auth.0.social.access_token(&caller.user.id, &id).await?;
    Ok(Reply::json(json!({
        "accessToken": t.access_token.as_str(),
        "accessTokenExpiresAt": t.expires_at.map(iso8601),
        "scopes": t.scopes,
        "idToken": t.id_token,
    }))
    .no_store()
    .into_response())
}

/// `POST /refresh-token {accountId}`: refreshes at the provider now. The provider's refresh
/// token itself is never returned (it stays sealed in the database).
#[utoipa::path(
    post,
    path = "/refresh-token",
    tag = "identity",
    request_body(content = doc::AccountIdRequest, content_type = "application/json"),
    responses((status = 200, description = "Refreshed at the provider", body = doc::ProviderRefreshReply), (status = 502, description = "PROVIDER_UNAVAILABLE", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn refresh_token(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let id = account_id_field(&body)?;
    let (account, t) = auth.0.social.refresh_token(&caller.user.id, &id).await?;
    Ok(Reply::json(json!({
        "accessToken": t.access_token.as_str(),
        "accessTokenExpiresAt": t.expires_at.map(iso8601),
        "refreshTokenExpiresAt": account.refresh_token_expires_at.map(iso8601),
        "scope": account.scope,
        "idToken": t.id_token,
        "providerId": account.provider_id,
        "accountId": account.id,
    }))
    .no_store()
    .into_response())
}

/// `GET /account-info?accountId=…`: the provider's current profile of the caller's account.
#[utoipa::path(
    get,
    path = "/account-info",
    tag = "identity",
    params(("accountId" = String, Query, description = "Account id")),
    responses((status = 200, description = "The provider profile", body = doc::AccountInfoReply), (status = 502, description = "PROVIDER_UNAVAILABLE", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn account_info(
    State(auth): State<AuthService>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let Some(id) = query.get("accountId").filter(|v| !v.is_empty()) else {
        return Err(ApiError::validation("[query.accountId] Invalid input"));
    };
    let (account, profile, data) = auth.0.social.account_info(&caller.user.id, id).await?;
    Ok(Reply::json(json!({
        "user": {
            "id": profile.id,
            "name": profile.name,
            "email": profile.email,
            "image": profile.image,
            "emailVerified": profile.email_verified,
        },
        "data": data,
        "account": { "id": account.id, "providerId": account.provider_id, "accountId": account.account_id },
    }))
    .no_store()
    .into_response())
}
