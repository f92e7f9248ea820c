//! Better Auth's passkey plugin routes (`@better-auth/passkey`, what `passkeyClient()` calls):
//! `GET /passkey/generate-register-options`, `POST /passkey/verify-registration`,
//! `GET /passkey/generate-authenticate-options`, `POST /passkey/verify-authentication`,
//! `GET /passkey/list-user-passkeys`, `POST /passkey/update-passkey`,
//! `POST /passkey/delete-passkey`. The rules are in [`crate::passkey`].

use super::AuthService;
use super::body::Body;
use super::context::{Caller, Client};
use super::openapi as doc;
use super::reply::{Reply, session_json, user_json, with_session};
use crate::error::{ApiError, ApiResult, codes};
use crate::passkey::{Attachment, CHALLENGE_TTL, MAX_NAME_CHARS, passkey_json};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

/// Registering a passkey needs a session created within `fresh_age` (Better Auth's
/// `freshSessionMiddleware`).
fn require_fresh(auth: &AuthService, caller: &Caller) -> ApiResult<()> {
    if auth.0.sessions.is_fresh(&caller.session) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::SESSION_NOT_FRESH,
        ))
    }
}

/// A passkey name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
fn check_name(field: &str, name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::validation(format!(
            "[body.{field}] Too small: expected string to have >=1 characters"
        )));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::validation(format!(
            "[body.{field}] Too big: expected string to have <={MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "[body.{field}] Invalid input: control characters are not allowed"
        )));
    }
    Ok(name.to_owned())
}

/// The challenge cookie for a new ceremony.
fn challenge_cookie(auth: &AuthService, id: &str) -> String {
    auth.0.cookies.passkey_challenge_cookie(
        auth.0.config.secret.expose(),
        id,
        CHALLENGE_TTL.as_secs(),
    )
}

/// The challenge id the request's cookie carries, if it is correctly signed.
fn challenge_id(auth: &AuthService, headers: &HeaderMap) -> Option<String> {
    auth.0
        .cookies
        .passkey_challenge_from(headers, auth.0.config.secret.expose())
}

/// `GET /passkey/generate-register-options?authenticatorAttachment=&name=`: WebAuthn creation
/// options for the caller (fresh session required).
#[utoipa::path(
    get,
    path = "/passkey/generate-register-options",
    tag = "identity",
    params(("authenticatorAttachment" = Option<String>, Query, description = "platform or cross-platform"), ("name" = Option<String>, Query)),
    responses((status = 200, description = "WebAuthn creation options", body = doc::WebAuthnOptions), (status = 403, description = "SESSION_NOT_FRESH or passkeys off", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn generate_register_options(
    State(auth): State<AuthService>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    require_fresh(&auth, &caller)?;
    let mut attachment = None;
    let mut name = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "authenticatorAttachment" => {
                attachment = Some(match value.as_ref() {
                    "platform" => Attachment::Platform,
                    "cross-platform" => Attachment::CrossPlatform,
                    _ => {
                        return Err(ApiError::validation(
                            "[query.authenticatorAttachment] Invalid option: expected one of \"platform\"|\"cross-platform\"",
                        ));
                    }
                });
            }
            "name" => name = Some(check_name("name", &value)?),
            _ => {}
        }
    }
    let challenge = auth
        .0
        .passkeys
        .registration_options(&caller.user, name.as_deref(), attachment)
        .await?;
    Ok(Reply::json(challenge.options)
        .cookies([challenge_cookie(&auth, &challenge.id)])
        .no_store()
        .into_response())
}

/// `POST /passkey/verify-registration {response, name?, createSession?}`: stores the passkey
/// and answers it. (`createSession` is accepted and ignored: the caller is signed in already.)
#[utoipa::path(
    post,
    path = "/passkey/verify-registration",
    tag = "identity",
    request_body(content = doc::PasskeyRegistrationRequest, content_type = "application/json"),
    responses((status = 200, description = "The stored passkey", body = doc::PasskeyBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn verify_registration(
    State(auth): State<AuthService>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    require_fresh(&auth, &caller)?;
    let mut f = body.fields("object")?;
    let response = f.object("response");
    let name = f.opt_string("name");
    let _ = f.opt_bool("createSession");
    f.finish()?;
    let Some(response) = response else {
        return Err(ApiError::validation("[body] Invalid input"));
    };
    let name = match name.map(str::trim) {
        Some("") | None => None,
        Some(n) => Some(check_name("name", n)?),
    };
    let id = challenge_id(&auth, &headers);
    let passkey = auth
        .0
        .passkeys
        .finish_registration(&caller.user.id, id.as_deref(), response, name.as_deref())
        .await
        .map_err(|e| ApiError::from(e).with_cookies([auth.0.cookies.expire_passkey_challenge()]))?;
    Ok(Reply::json(passkey_json(&passkey))
        .cookies([auth.0.cookies.expire_passkey_challenge()])
        .into_response())
}

/// The pending two-factor sign-in's challenge id, from a correctly signed `two_factor` cookie.
fn pending_sign_in(auth: &AuthService, headers: &HeaderMap) -> Option<String> {
    auth.0
        .cookies
        .two_factor_from(headers, auth.0.config.secret.expose())
}

/// `GET /passkey/generate-authenticate-options`: WebAuthn request options. With a session, the
/// caller's passkeys; without one but with a live pending two-factor sign-in (the
/// `two_factor` cookie), that user's passkeys, and the answer completes that sign-in (Sigil's
/// passkey-as-second-factor, see `crate::passkey`); otherwise no credential is named (sign-in
/// with a discoverable passkey).
#[utoipa::path(
    get,
    path = "/passkey/generate-authenticate-options",
    tag = "identity",
    responses((status = 200, description = "WebAuthn request options", body = doc::WebAuthnOptions)),
    security((), ("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn generate_authenticate_options(
    State(auth): State<AuthService>,
    caller: Option<Caller>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let pending = match (&caller, pending_sign_in(&auth, &headers)) {
        (None, Some(challenge)) => auth
            .0
            .two_factor
            .pending_user(&challenge)
            .await?
            .map(|user_id| (user_id, challenge)),
        _ => None,
    };
    let challenge = match &pending {
        Some((user_id, challenge)) => {
            auth.0
                .passkeys
                .second_factor_options(user_id, challenge)
                .await?
        }
        None => {
            auth.0
                .passkeys
                .authentication_options(caller.as_ref().map(|c| &c.user))
                .await?
        }
    };
    Ok(Reply::json(challenge.options)
        .cookies([challenge_cookie(&auth, &challenge.id)])
        .no_store()
        .into_response())
}

/// `POST /passkey/verify-authentication {response}`: signs the passkey's user in (a normal
/// session: cookie, `set-auth-token`, JWTs with its `sid`). Answering options that were bound
/// to a pending two-factor sign-in ends that sign-in: its `two_factor` cookie is expired.
#[utoipa::path(
    post,
    path = "/passkey/verify-authentication",
    tag = "identity",
    request_body(content = doc::PasskeyAuthenticationRequest, content_type = "application/json"),
    responses((status = 200, description = "Signed in", body = doc::SessionUserReply), (status = 401, description = "PASSKEY_NOT_FOUND or failed assertion", body = doc::ErrorBody))
)]
pub(super) async fn verify_authentication(
    State(auth): State<AuthService>,
    Client(client): Client,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let mut f = body.fields("object")?;
    let response = f.object("response");
    f.finish()?;
    let Some(response) = response else {
        return Err(ApiError::validation("[body] Invalid input"));
    };
    let id = challenge_id(&auth, &headers);
    let pending = pending_sign_in(&auth, &headers);
    let signed_in = auth
        .0
        .passkeys
        .finish_authentication(
            id.as_deref(),
            response,
            pending.as_deref(),
            &auth.0.two_factor,
            &client,
        )
        .await
        .map_err(|e| ApiError::from(e).with_cookies([auth.0.cookies.expire_passkey_challenge()]))?;
    let body = json!({
        "session": session_json(&signed_in.session, &signed_in.token),
        "user": user_json(&signed_in.user),
    });
    let mut reply = Reply::json(body).cookies([auth.0.cookies.expire_passkey_challenge()]);
    if signed_in.second_factor {
        reply = reply.cookies([auth.0.cookies.expire_two_factor()]);
    }
    Ok(with_session(&auth, reply, &signed_in.token, signed_in.remember).into_response())
}

/// `GET /passkey/list-user-passkeys`: the caller's passkeys.
#[utoipa::path(
    get,
    path = "/passkey/list-user-passkeys",
    tag = "identity",
    responses((status = 200, description = "The caller passkeys", body = Vec<doc::PasskeyBody>)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn list_user_passkeys(
    State(auth): State<AuthService>,
    caller: Caller,
) -> ApiResult<Response> {
    let list = auth.0.passkeys.list(&caller.user.id).await?;
    Ok(Reply::json(Value::Array(list.iter().map(passkey_json).collect())).into_response())
}

/// `POST /passkey/update-passkey {id, name}`: renames one of the caller's passkeys
/// (another user's: 404 `PASSKEY_NOT_FOUND`, nothing changed).
#[utoipa::path(
    post,
    path = "/passkey/update-passkey",
    tag = "identity",
    request_body(content = doc::UpdatePasskeyRequest, content_type = "application/json"),
    responses((status = 200, description = "Renamed", body = doc::PasskeyReply), (status = 404, description = "PASSKEY_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn update_passkey(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let mut f = body.fields("object")?;
    let id = f.string("id");
    let name = f.string("name");
    f.finish()?;
    let (Some(id), Some(name)) = (id, name) else {
        return Err(ApiError::validation("[body] Invalid input"));
    };
    let name = check_name("name", name)?;
    let passkey = auth.0.passkeys.rename(&caller.user.id, id, &name).await?;
    Ok(Reply::json(json!({ "passkey": passkey_json(&passkey) })).into_response())
}

/// `POST /passkey/delete-passkey {id}`: deletes one of the caller's passkeys (another user's:
/// 404 `PASSKEY_NOT_FOUND`, nothing changed).
#[utoipa::path(
    post,
    path = "/passkey/delete-passkey",
    tag = "identity",
    request_body(content = doc::PasskeyIdRequest, content_type = "application/json"),
    responses((status = 200, description = "Deleted", body = doc::StatusReply), (status = 404, description = "PASSKEY_NOT_FOUND", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn delete_passkey(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let mut f = body.fields("object")?;
    let id = f.string("id");
    f.finish()?;
    let Some(id) = id else {
        return Err(ApiError::validation("[body] Invalid input"));
    };
    auth.0.passkeys.delete(&caller.user.id, id).await?;
    Ok(Reply::json(json!({ "status": true })).into_response())
}
