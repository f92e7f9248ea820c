//! Password reset and email verification: `POST /request-password-reset`,
//! `GET /reset-password/{token}`, `POST /reset-password`, `POST /send-verification-email`,
//! `GET /verify-email`.
//!
//! Reset tokens are 24 random alphanumeric characters, stored only as a SHA-256, valid one hour,
//! consumed atomically (single use). Verification links carry a short-lived HS256 JWT signed
//! with a key derived from the server secret for this purpose only (it can never pass as an
//! access token: other key, other audience). Answers never reveal whether an email is
//! registered, and mail goes out in the background so its latency shows in no response.

use super::AuthService;
use super::body::Body;
use super::context::{Caller, Client};
use super::openapi as doc;
use super::reply::{Reply, redirect, user_json, with_session};
use crate::accounts::ResetStarted;
use crate::crypto;
use crate::domain::Password;
use crate::error::{ApiError, ApiResult, codes};
use crate::mail::{Mail, MailKind};
use crate::store::{StoreError, User};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};
use sigil_token::{Algorithm, Claims, KeySet, SigningKey, Validation, Verifier, VerifyError};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const VERIFY_TTL_SECS: u64 = 3600;
const VERIFY_AUDIENCE: &str = "sigil:email-verification";
const VERIFY_KEY_PURPOSE: &str = "sigil/email-verification/v1";
const RESET_SENT: &str = "If this email exists in our system, check your email for the reset link";
/// Signed-out verification requests take at least this long, whatever the email's state.
const MIN_ANONYMOUS_DURATION: Duration = Duration::from_millis(500);

fn encode(s: &str) -> String {
    crate::cookies::encode_uri_component(s)
}

pub(super) fn spawn_mail(auth: &AuthService, mail: Mail) {
    let mailer = auth.0.mailer.clone();
    tokio::spawn(async move {
        if let Err(error) = mailer.send(mail).await {
            tracing::error!(target: "sigil::mail", %error, "could not send mail");
        }
    });
}

fn verification_key(auth: &AuthService) -> Result<SigningKey, ApiError> {
    let key = crypto::derive_key(auth.0.config.secret.expose(), VERIFY_KEY_PURPOSE);
    SigningKey::hmac(Algorithm::HS256, key.as_ref(), None).map_err(ApiError::internal)
}

/// Mails a verification link for `user`'s email or, with `update_to` (the new address and the
/// account's password stamp, `Accounts::password_stamp`), for a change of email to that address (sent to the new address).
pub(super) fn send_verification(
    auth: &AuthService,
    user: &User,
    update_to: Option<(&str, &str)>,
    callback: &str,
) {
    let result = (|| -> Result<Mail, ApiError> {
        let now = auth.now_unix();
        let mut claims = Claims::new(&user.id, now, now + VERIFY_TTL_SECS)
            .with_issuer(auth.0.config.origin())
            .with_audience(VERIFY_AUDIENCE);
        claims.email = Some(user.email.clone());
        if let Some((new, stamp)) = update_to {
            claims.extra.insert("updateTo".into(), json!(new));
            claims.extra.insert("pwd".into(), json!(stamp));
            claims
                .extra
                .insert("requestType".into(), json!("change-email-verification"));
        }
        let token =
            sigil_token::sign(&verification_key(auth)?, &claims).map_err(ApiError::internal)?;
        let url = format!(
            "{}/api/auth/verify-email?token={token}&callbackURL={}",
            auth.0.config.origin(),
            encode(callback)
        );
        let (to, kind, subject) = match update_to {
            Some((new, _)) => (
                new.to_owned(),
                MailKind::ChangeEmail,
                "Confirm your new email address",
            ),
            None => (
                user.email.clone(),
                MailKind::VerifyEmail,
                "Verify your email address",
            ),
        };
        Ok(Mail {
            to,
            kind,
            subject: subject.into(),
            url,
            token,
        })
    })();
    match result {
        Ok(mail) => spawn_mail(auth, mail),
        Err(error) => {
            tracing::error!(target: "sigil::auth", code = error.code(), "could not prepare a verification mail")
        }
    }
}

/// `POST /request-password-reset {email, redirectTo?}`: the same answer whether or not the email
/// is registered.
#[utoipa::path(
    post,
    path = "/request-password-reset",
    tag = "identity",
    request_body(content = doc::PasswordResetRequest, content_type = "application/json"),
    responses((status = 200, description = "The same answer whether or not the email is registered", body = doc::StatusMessageReply))
)]
pub(super) async fn request_password_reset(
    State(auth): State<AuthService>,
    body: Body,
) -> ApiResult<Response> {
    let mut f = body.fields("object")?;
    let email = f.email("email");
    let redirect_to = f.opt_string("redirectTo");
    f.finish()?;
    let Some(email) = email else {
        return Err(ApiError::validation("[body.email] Invalid email address"));
    };
    auth.0
        .trusted
        .check_redirect(redirect_to, codes::INVALID_REDIRECT_URL)?;
    if let Some(ResetStarted { user, token }) = auth.0.accounts.start_password_reset(&email).await?
    {
        let callback = super::origin::given(redirect_to).unwrap_or("/reset-password");
        let url = format!(
            "{}/api/auth/reset-password/{token}?callbackURL={}",
            auth.0.config.origin(),
            encode(callback)
        );
        spawn_mail(
            &auth,
            Mail {
                to: user.email,
                kind: MailKind::ResetPassword,
                subject: "Reset your password".into(),
                url,
                token,
            },
        );
    }
    Ok(Reply::json(json!({ "status": true, "message": RESET_SENT })).into_response())
}

/// Resolves a (checked) callback against the base URL and appends a query parameter.
fn callback_with(auth: &AuthService, callback: &str, key: &str, value: &str) -> String {
    let base = auth
        .0
        .config
        .base_url
        .join(callback)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| auth.0.config.origin());
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{key}={}", encode(value))
}

/// `GET /reset-password/{token}?callbackURL=...`: the link in the mail. Redirects to the
/// application's reset page with the token (or `error=INVALID_TOKEN`), without consuming it.
#[utoipa::path(
    get,
    path = "/reset-password/{token}",
    tag = "identity",
    params(("token" = String, Path, description = "The single-use reset token from the mail"), ("callbackURL" = String, Query, description = "The application reset page")),
    responses((status = 302, description = "To the application reset page with the token, or ?error=INVALID_TOKEN", headers(("location" = String, description = "Where the browser goes next"))))
)]
pub(super) async fn reset_password_link(
    State(auth): State<AuthService>,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let callback = super::origin::given(query.get("callbackURL").map(String::as_str))
        .unwrap_or("/reset-password");
    auth.0
        .trusted
        .check_redirect(Some(callback), codes::INVALID_CALLBACK_URL)?;
    let valid = auth.0.accounts.reset_token_is_valid(&token).await?;
    let location = if valid {
        callback_with(&auth, callback, "token", &token)
    } else {
        callback_with(&auth, callback, "error", "INVALID_TOKEN")
    };
    Ok(redirect(&location, Vec::new()))
}

/// `POST /reset-password {newPassword, token}`: sets the new password and ends every session of
/// the account (a reset usually means the old password may be known to someone else).
#[utoipa::path(
    post,
    path = "/reset-password",
    tag = "identity",
    request_body(content = doc::ResetPasswordRequest, content_type = "application/json"),
    responses((status = 200, description = "Password set, every session ended", body = doc::StatusReply))
)]
pub(super) async fn reset_password(
    State(auth): State<AuthService>,
    Client(client): Client,
    Query(query): Query<HashMap<String, String>>,
    body: Body,
) -> ApiResult<Response> {
    let mut f = body.fields("object")?;
    let new_password = f.string("newPassword");
    let token = f
        .opt_string("token")
        .map(str::to_owned)
        .or_else(|| query.get("token").cloned());
    f.finish()?;
    let new_password =
        Password::new_password(new_password.unwrap_or_default(), auth.0.config.password)?;
    auth.0
        .accounts
        .reset_password(token.as_deref().unwrap_or_default(), new_password, &client)
        .await?;
    Ok(Reply::json(json!({ "status": true })).into_response())
}

/// `POST /send-verification-email {email, callbackURL?}`. Signed in: for the caller's own
/// address. Signed out: always `{"status": true}` after at least 500 ms, whatever the address.
#[utoipa::path(
    post,
    path = "/send-verification-email",
    tag = "identity",
    request_body(content = doc::SendVerificationRequest, content_type = "application/json"),
    responses((status = 200, description = "Mailed (or not: the same answer)", body = doc::StatusReply)),
    security((), ("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn send_verification_email(
    State(auth): State<AuthService>,
    caller: Option<Caller>,
    body: Body,
) -> ApiResult<Response> {
    let started = Instant::now();
    let mut f = body.fields("object")?;
    let email = f.email("email");
    let callback = f.opt_string("callbackURL");
    f.finish()?;
    let Some(email) = email else {
        return Err(ApiError::validation("[body.email] Invalid email address"));
    };
    let callback = super::origin::given(callback).unwrap_or("/");
    auth.0
        .trusted
        .check_redirect(Some(callback), codes::INVALID_CALLBACK_URL)?;
    if let Some(caller) = caller {
        if caller.user.email != email.as_str() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::EMAIL_MISMATCH,
            ));
        }
        if caller.user.email_verified {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::EMAIL_ALREADY_VERIFIED,
            ));
        }
        send_verification(&auth, &caller.user, None, callback);
        return Ok(Reply::json(json!({ "status": true })).into_response());
    }
    if let Some(user) = auth.0.accounts.user_by_email(&email).await?
        && !user.email_verified
    {
        send_verification(&auth, &user, None, callback);
    }
    if let Some(rest) = MIN_ANONYMOUS_DURATION.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    Ok(Reply::json(json!({ "status": true })).into_response())
}

/// `GET /verify-email?token=...&callbackURL=...`: verifies the address (or completes an email
/// change). With `callbackURL`, answers with a redirect (`?error=CODE` on failure).
#[utoipa::path(
    get,
    path = "/verify-email",
    tag = "identity",
    params(("token" = String, Query, description = "The token from the mail"), ("callbackURL" = Option<String>, Query, description = "Where to go afterwards")),
    responses((status = 200, description = "Verified", body = doc::VerifyEmailReply), (status = 302, description = "With callbackURL: to it (?error=CODE on failure)", headers(("location" = String, description = "Where the browser goes next"))), (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED", body = doc::ErrorBody))
)]
pub(super) async fn verify_email(
    State(auth): State<AuthService>,
    Query(query): Query<HashMap<String, String>>,
    caller: Option<Caller>,
) -> ApiResult<Response> {
    let callback = super::origin::given(query.get("callbackURL").map(String::as_str));
    auth.0
        .trusted
        .check_redirect(callback, codes::INVALID_CALLBACK_URL)?;
    let Some(token) = query.get("token") else {
        return Err(ApiError::validation(
            "[query.token] Invalid input: expected string, received undefined",
        ));
    };
    let fail = |code: crate::error::Code| -> ApiResult<Response> {
        match callback {
            Some(cb) => {
                let sep = if cb.contains('?') { '&' } else { '?' };
                Ok(redirect(&format!("{cb}{sep}error={}", code.0), Vec::new()))
            }
            None => Err(ApiError::new(StatusCode::UNAUTHORIZED, code)),
        }
    };
    let key = verification_key(&auth)?;
    let keys = KeySet::try_from(vec![key.verifying_key()]).map_err(ApiError::internal)?;
    let verifier = Verifier::new(
        keys,
        Validation::new(auth.0.config.origin(), VERIFY_AUDIENCE).leeway(0),
    );
    let claims = match verifier.verify(token, auth.now_unix()) {
        Ok(claims) => claims,
        Err(VerifyError::Expired) => return fail(codes::TOKEN_EXPIRED),
        Err(_) => return fail(codes::INVALID_TOKEN),
    };
    let Some(user) = auth.0.accounts.user_by_id(&claims.sub).await? else {
        return fail(codes::USER_NOT_FOUND);
    };
    if claims.email.as_deref() != Some(user.email.as_str()) {
        return fail(codes::INVALID_TOKEN);
    }
    let update_to = claims.extra.get("updateTo").and_then(Value::as_str);
    let Some(new_email) = update_to else {
        if !user.email_verified {
            auth.0.accounts.mark_email_verified(&user.id).await?;
            tracing::info!(target: "sigil::auth", user_id = %user.id, "email verified");
        }
        return match callback {
            Some(cb) => Ok(redirect(cb, Vec::new())),
            None => Ok(Reply::json(json!({ "status": true, "user": null })).into_response()),
        };
    };
    // Ended by a password change or reset since the link was sent (Sigil only: Better Auth's
    // links stay valid until they expire).
    let stamp = auth.0.accounts.password_stamp(&user.id).await?;
    if claims.extra.get("pwd").and_then(Value::as_str) != Some(stamp.as_str()) {
        return fail(codes::INVALID_TOKEN);
    }
    // As Better Auth: the verification state is left as it was.
    let updated = match auth.0.accounts.change_email(&user, new_email).await {
        Ok(updated) => updated,
        Err(StoreError::Conflict) => return fail(codes::INVALID_TOKEN),
        Err(e) => return Err(e.into()),
    };
    let caller = caller.filter(|c| c.user.id == updated.id);
    if let Some(cb) = callback {
        let cookies = caller
            .map(|c| auth.session_cookies(&c.token, c.session.remember).0)
            .unwrap_or_default();
        return Ok(redirect(cb, cookies));
    }
    let reply = Reply::json(json!({ "status": true, "user": user_json(&updated) }));
    Ok(match caller {
        Some(c) => with_session(&auth, reply, &c.token, c.session.remember).into_response(),
        None => reply.into_response(),
    })
}
