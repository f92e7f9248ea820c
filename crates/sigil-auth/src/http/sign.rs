//! `POST /sign-up/email`, `POST /sign-in/email`, `POST /sign-out`.

use super::AuthService;
use super::body::{Body, FormOrJson};
use super::context::{Client, Lookup};
use super::openapi as doc;
use super::origin;
use super::recovery;
use super::reply::{Reply, user_json, with_session};
use super::two_factor::{challenge_cookie, trust_cookie};
use crate::accounts::{SignUp, SignedIn, SignedUp};
use crate::audit::{AuditEntry, AuditEvent, Outcome};
use crate::domain::{Email, Password, check_image, check_name};
use crate::error::{ApiError, ApiResult, codes};
use crate::two_factor::Begun;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;

/// `POST /sign-up/email {name, email, password, image?, callbackURL?, rememberMe?}`.
///
/// Only these fields are read: `emailVerified`, `id`, timestamps or anything else in the body are
/// ignored and never stored; a set `role`, `banReason` or `banExpires` is refused (400
/// `FIELD_NOT_ALLOWED`, as Better Auth with its admin plugin answers).
#[utoipa::path(
    post,
    path = "/sign-up/email",
    tag = "identity",
    request_body(content = doc::SignUpRequest, content_type = "application/json"),
    responses((status = 200, description = "Signed up (token null when email verification is required)", body = doc::TokenUserReply), (status = 422, description = "USER_ALREADY_EXISTS", body = doc::ErrorBody))
)]
pub(super) async fn sign_up(
    State(auth): State<AuthService>,
    Client(client): Client,
    FormOrJson(body): FormOrJson,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
    f.refuse_admin_fields(true)?;
    let name = f.string("name");
    let email = f.email("email");
    let password = f.non_empty("password");
    let image = f.opt_string("image");
    let callback = f.opt_string("callbackURL");
    let remember = f.opt_bool("rememberMe").unwrap_or(true);
    f.finish()?;
    let (Some(name), Some(email), Some(password)) = (name, email, password) else {
        return Err(ApiError::validation("[body] Invalid input"));
    };
    auth.0
        .trusted
        .check_redirect(callback, codes::INVALID_CALLBACK_URL)?;
    check_name(name)?;
    image.map(check_image).transpose()?;
    let password = Password::new_password(password, auth.0.config.password)?;
    let input = SignUp {
        name,
        email,
        password,
        image,
        remember,
    };
    match auth.0.accounts.sign_up(input, &client).await? {
        SignedUp::SignedIn(user, token) => {
            let reply = Reply::json(json!({ "token": token, "user": user_json(&user) }));
            Ok(with_session(&auth, reply, &token, remember))
        }
        SignedUp::NeedsVerification(user) => {
            let callback = origin::given(callback).unwrap_or("/");
            recovery::send_verification(&auth, &user, None, callback);
            Ok(Reply::json(
                json!({ "token": null, "user": user_json(&user) }),
            ))
        }
        // Enumeration-safe answer: the same shape as a real sign-up, for a made-up user.
        SignedUp::Concealed(user) => Ok(Reply::json(
            json!({ "token": null, "user": user_json(&user) }),
        )),
    }
}

/// `POST /sign-in/email {email, password, rememberMe?, callbackURL?, requestRefreshToken?}`.
#[utoipa::path(
    post,
    path = "/sign-in/email",
    tag = "identity",
    request_body(content = doc::SignInRequest, content_type = "application/json"),
    responses((status = 200, description = "Signed in, or a second factor is needed", body = doc::SignInAnswer), (status = 401, description = "INVALID_EMAIL_OR_PASSWORD", body = doc::ErrorBody), (status = 403, description = "EMAIL_NOT_VERIFIED, BANNED_USER or origin check", body = doc::ErrorBody))
)]
pub(super) async fn sign_in(
    State(auth): State<AuthService>,
    Client(client): Client,
    headers: HeaderMap,
    FormOrJson(body): FormOrJson,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
    let email = f.string("email");
    let password = f.string("password");
    let callback = f.opt_string("callbackURL");
    let remember = f.opt_bool("rememberMe").unwrap_or(true);
    let want_refresh = f.opt_bool("requestRefreshToken").unwrap_or(false);
    f.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::validation("[body] Invalid input"));
    };
    auth.0
        .trusted
        .check_redirect(callback, codes::INVALID_CALLBACK_URL)?;
    let email = Email::parse(email)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_EMAIL))?;
    let password = Password::bounded(password, auth.0.config.password)?;
    let signed_in = auth
        .0
        .accounts
        .sign_in(&email, password, remember, &client)
        .await;
    if let Err(error) = &signed_in {
        count_sign_in(error.outcome());
    }
    let (user, session, token, trust) = match signed_in? {
        SignedIn::Session(user, session, token) => (user, session, token, None),
        SignedIn::SecondFactor(user) => {
            let trusted = auth
                .0
                .cookies
                .trust_device_from(&headers, auth.0.config.secret.expose());
            match auth
                .0
                .two_factor
                .begin(&user, remember, trusted.as_deref(), &client)
                .await?
            {
                Begun::Trusted {
                    session,
                    token,
                    trust,
                } => (user, session, token, Some(trust)),
                // As Better Auth: no session, the signed challenge cookie, and a body the
                // client's `twoFactorClient` recognises. A trust cookie that did not open the
                // door is expired.
                Begun::Challenge {
                    challenge,
                    mut methods,
                } => {
                    count_sign_in("two_factor_required");
                    // Sigil's extension: a user with a passkey may end the sign-in with it.
                    if auth.0.passkeys.enabled()
                        && !auth.0.passkeys.list(&user.id).await?.is_empty()
                    {
                        methods.push("passkey");
                    }
                    let mut reply = Reply::json(
                        json!({ "twoFactorRedirect": true, "twoFactorMethods": methods }),
                    )
                    .cookies(auth.0.cookies.expire_session())
                    .cookies([challenge_cookie(&auth, &challenge)]);
                    if trusted.is_some() {
                        reply = reply.cookies([auth.0.cookies.expire_trust_device()]);
                    }
                    return Ok(reply);
                }
            }
        }
    };

    count_sign_in("success");
    // As Better Auth: `redirect` and `Location` only for a non-empty callbackURL, `url` echoes
    // whatever was given (`""` included).
    let redirect_to = origin::given(callback);
    let mut body =
        json!({ "redirect": redirect_to.is_some(), "token": token, "user": user_json(&user) });
    if let Some(cb) = callback {
        body["url"] = json!(cb);
    }
    if want_refresh {
        body["refreshToken"] = json!(auth.0.refresh.issue_first(&session).await?);
    }
    let mut reply = with_session(&auth, Reply::json(body), &token, remember);
    if let Some(trust) = trust {
        reply = reply.cookies([trust_cookie(&auth, &trust)]);
    }
    if let Some(cb) = redirect_to {
        reply = reply.location(cb);
    }
    Ok(reply)
}

/// Counts an email-and-password sign-in in `sigil_sign_ins_total{outcome}` (`success`,
/// `two_factor_required`, or [`crate::accounts::SignInError::outcome`]).
fn count_sign_in(outcome: &'static str) {
    metrics::counter!("sigil_sign_ins_total", "outcome" => outcome).increment(1);
}

/// `POST /sign-out`: ends the presented session (its JWTs are refused from now on) and expires
/// the cookies. Always `{"success": true}`.
#[utoipa::path(
    post,
    path = "/sign-out",
    tag = "identity",
    request_body(content = doc::EmptyRequest, content_type = "application/json"),
    responses((status = 200, description = "Signed out (always)", body = doc::SuccessReply)),
    security((), ("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn sign_out(
    State(auth): State<AuthService>,
    Client(client): Client,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    body.optional_fields()?.finish()?;
    if let Lookup::Live(caller) = auth.lookup(&headers).await? {
        auth.0.sessions.end_one(&caller.session.id).await?;
        tracing::info!(target: "sigil::auth", user_id = %caller.user.id, session_id = %caller.session.id, "signed out");
        auth.audit(
            AuditEntry::new(AuditEvent::SignOut, Outcome::Success)
                .user(&caller.user.id)
                .session(&caller.session.id)
                .client(&client),
        )
        .await;
    }
    Ok(Reply::json(json!({ "success": true }))
        .cookies(auth.0.cookies.expire_all())
        .into_response())
}
