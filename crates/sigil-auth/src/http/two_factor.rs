//! `/two-factor/*`: Better Auth's `twoFactor` plugin routes. Each handler extracts, calls one
//! [`crate::two_factor::TwoFactor`] method and replies; the rules live in the service.

use super::AuthService;
use super::body::Body;
use super::context::{Caller, Client};
use super::openapi as doc;
use super::recovery::spawn_mail;
use super::reply::{Reply, user_json, with_session};
use crate::domain::Password;
use crate::error::{ApiError, ApiResult};
use crate::mail::{Mail, MailKind};
use crate::two_factor::{
    CHALLENGE_TTL, Factor, Method, Presenter, TRUST_DEVICE_TTL, TwoFactorError, Verified,
};
use axum::extract::State;
use http::HeaderMap;
use serde_json::json;

/// The `password` field every confirmation needs (`[body.password]` validation error when it
/// is missing, as Better Auth's schema answers).
fn password(auth: &AuthService, raw: Option<&str>) -> ApiResult<Option<Password>> {
    raw.map(|p| Password::bounded(p, auth.0.config.password))
        .transpose()
        .map_err(ApiError::from)
}

/// `POST /two-factor/enable {password, method?, issuer?}` → `{method: "totp", totpURI, backupCodes}` or
/// `{method: "otp"}`.
#[utoipa::path(
    post,
    path = "/two-factor/enable",
    tag = "identity",
    request_body(content = doc::EnableTwoFactorRequest, content_type = "application/json"),
    responses((status = 200, description = "Enabled (TOTP: the key URI and backup codes)", body = doc::TwoFactorEnabled)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn enable(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
    let raw = f.string("password");
    let method = f.opt_string("method");
    let issuer = f.opt_string("issuer");
    f.finish()?;
    let method = match method {
        None | Some("totp") => Method::Totp,
        Some("otp") => Method::Otp,
        Some(_) => {
            return Err(ApiError::validation(
                "[body.method] Invalid option: expected one of \"otp\"|\"totp\"",
            ));
        }
    };
    if issuer.is_some_and(|i| i.is_empty() || i.chars().count() > 64) {
        return Err(ApiError::validation(
            "[body.issuer] Invalid input: expected 1 to 64 characters",
        ));
    }
    let password = password(&auth, raw)?;
    let enabled = auth
        .0
        .two_factor
        .enable(&caller.user, password, method, issuer)
        .await?;
    Ok(match enabled.totp_uri {
        Some(uri) => Reply::json(
            json!({ "method": "totp", "totpURI": uri, "backupCodes": enabled.backup_codes }),
        ),
        None => Reply::json(json!({ "method": "otp" })),
    }
    .no_store())
}

/// `POST /two-factor/get-totp-uri {password}` → `{totpURI}`.
#[utoipa::path(
    post,
    path = "/two-factor/get-totp-uri",
    tag = "identity",
    request_body(content = doc::PasswordRequest, content_type = "application/json"),
    responses((status = 200, description = "The TOTP key URI", body = doc::TotpUriReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn get_totp_uri(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
    let raw = f.string("password");
    f.finish()?;
    let password = password(&auth, raw)?;
    let uri = auth.0.two_factor.totp_uri(&caller.user, password).await?;
    Ok(Reply::json(json!({ "totpURI": uri })).no_store())
}

/// `POST /two-factor/generate-backup-codes {password}` → `{status: true, backupCodes}`.
#[utoipa::path(
    post,
    path = "/two-factor/generate-backup-codes",
    tag = "identity",
    request_body(content = doc::PasswordRequest, content_type = "application/json"),
    responses((status = 200, description = "New backup codes", body = doc::BackupCodesReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn generate_backup_codes(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
    let raw = f.string("password");
    f.finish()?;
    let password = password(&auth, raw)?;
    let codes = auth
        .0
        .two_factor
        .regenerate_backup_codes(&caller.user, password)
        .await?;
    Ok(Reply::json(json!({ "status": true, "backupCodes": codes })).no_store())
}

/// `POST /two-factor/disable {password}` → `{status: true}`; the trust cookie is expired.
#[utoipa::path(
    post,
    path = "/two-factor/disable",
    tag = "identity",
    request_body(content = doc::PasswordRequest, content_type = "application/json"),
    responses((status = 200, description = "Disabled", body = doc::StatusReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn disable(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
    let raw = f.string("password");
    f.finish()?;
    let password = password(&auth, raw)?;
    auth.0.two_factor.disable(&caller.user, password).await?;
    Ok(Reply::json(json!({ "status": true })).cookies([auth.0.cookies.expire_trust_device()]))
}

/// Who presents the factor: the signed-in caller, else the sign-in challenge of the
/// `two_factor` cookie (401 `INVALID_TWO_FACTOR_COOKIE` when there is neither).
enum Who {
    Signed(Box<Caller>),
    Challenge(String),
}

impl Who {
    fn presenter(&self) -> Presenter<'_> {
        match self {
            Who::Signed(caller) => Presenter::Session {
                user: &caller.user,
                session: &caller.session,
            },
            Who::Challenge(id) => Presenter::Challenge(id),
        }
    }
}

fn who(auth: &AuthService, caller: Option<Caller>, headers: &HeaderMap) -> ApiResult<Who> {
    if let Some(caller) = caller {
        return Ok(Who::Signed(Box::new(caller)));
    }
    auth.0
        .cookies
        .two_factor_from(headers, auth.0.config.secret.expose())
        .map(Who::Challenge)
        .ok_or_else(|| ApiError::from(TwoFactorError::InvalidChallenge))
}

/// A refused challenge also loses its cookie when it can no longer be used.
fn refused(auth: &AuthService, who: &Who, e: TwoFactorError) -> ApiError {
    let dead = matches!(
        e,
        TwoFactorError::InvalidChallenge | TwoFactorError::TooManyAttempts
    );
    let error = ApiError::from(e);
    match who {
        Who::Challenge(_) if dead => error.with_cookies([auth.0.cookies.expire_two_factor()]),
        _ => error,
    }
}

/// The answer to an accepted factor: `{token, user}`, with a new session's cookies (and the
/// trust cookie) when it ended a sign-in.
fn accepted(auth: &AuthService, who: &Who, verified: Verified) -> Reply {
    let Verified {
        user,
        new_session,
        trust,
    } = verified;
    match (new_session, who) {
        (Some((_, token, remember)), _) => {
            let reply = Reply::json(json!({ "token": token, "user": user_json(&user) }));
            let mut reply = with_session(auth, reply, &token, remember)
                .cookies([auth.0.cookies.expire_two_factor()]);
            if let Some(trust) = trust {
                reply = reply.cookies([
                    auth.0.cookies.trust_device_cookie(
                        auth.0.config.secret.expose(),
                        &trust,
                        TRUST_DEVICE_TTL.as_secs(),
                    ),
                    auth.0.cookies.expire_dont_remember(),
                ]);
            }
            reply
        }
        (None, Who::Signed(caller)) => {
            Reply::json(json!({ "token": caller.token, "user": user_json(&user) }))
        }
        (None, Who::Challenge(_)) => {
            Reply::json(json!({ "token": null, "user": user_json(&user) }))
        }
    }
}

async fn verify(
    auth: &AuthService,
    who: Who,
    factor: Factor<'_>,
    trust_device: bool,
    client: &crate::session::ClientInfo,
) -> ApiResult<Reply> {
    match auth
        .0
        .two_factor
        .verify(who.presenter(), factor, trust_device, client)
        .await
    {
        Ok(verified) => Ok(accepted(auth, &who, verified)),
        Err(e) => Err(refused(auth, &who, e)),
    }
}

/// `POST /two-factor/verify-totp {code, trustDevice?}` → `{token, user}`.
#[utoipa::path(
    post,
    path = "/two-factor/verify-totp",
    tag = "identity",
    request_body(content = doc::CodeRequest, content_type = "application/json"),
    responses((status = 200, description = "Signed in (or enabled)", body = doc::TokenUserReply), (status = 401, description = "INVALID_CODE or INVALID_TWO_FACTOR_COOKIE", body = doc::ErrorBody)),
    security((), ("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn verify_totp(
    State(auth): State<AuthService>,
    Client(client): Client,
    caller: Option<Caller>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
    let code = f.string("code");
    let trust = f.opt_bool("trustDevice").unwrap_or(false);
    f.finish()?;
    let code = code.unwrap_or_default();
    let who = who(&auth, caller, &headers)?;
    verify(&auth, who, Factor::Totp(code), trust, &client).await
}

/// `POST /two-factor/verify-otp {code, trustDevice?}` → `{token, user}`.
#[utoipa::path(
    post,
    path = "/two-factor/verify-otp",
    tag = "identity",
    request_body(content = doc::CodeRequest, content_type = "application/json"),
    responses((status = 200, description = "Signed in (or enabled)", body = doc::TokenUserReply), (status = 401, description = "INVALID_CODE or INVALID_TWO_FACTOR_COOKIE", body = doc::ErrorBody)),
    security((), ("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn verify_otp(
    State(auth): State<AuthService>,
    Client(client): Client,
    caller: Option<Caller>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
    let code = f.string("code");
    let trust = f.opt_bool("trustDevice").unwrap_or(false);
    f.finish()?;
    let code = code.unwrap_or_default();
    let who = who(&auth, caller, &headers)?;
    verify(&auth, who, Factor::Otp(code), trust, &client).await
}

/// `POST /two-factor/verify-backup-code {code, trustDevice?, disableSession?}` →
/// `{token, user}`.
#[utoipa::path(
    post,
    path = "/two-factor/verify-backup-code",
    tag = "identity",
    request_body(content = doc::CodeRequest, content_type = "application/json"),
    responses((status = 200, description = "Signed in", body = doc::TokenUserReply), (status = 401, description = "INVALID_BACKUP_CODE or INVALID_TWO_FACTOR_COOKIE", body = doc::ErrorBody)),
    security((), ("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn verify_backup_code(
    State(auth): State<AuthService>,
    Client(client): Client,
    caller: Option<Caller>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
    let code = f.string("code");
    let trust = f.opt_bool("trustDevice").unwrap_or(false);
    let _disable_session = f.opt_bool("disableSession");
    f.finish()?;
    let code = code.unwrap_or_default();
    let who = who(&auth, caller, &headers)?;
    verify(&auth, who, Factor::Backup(code), trust, &client).await
}

/// `POST /two-factor/send-otp {trustDevice?}` → `{status: true}`: mails a 6-digit code to the
/// user of the sign-in challenge (or to the signed-in caller).
#[utoipa::path(
    post,
    path = "/two-factor/send-otp",
    tag = "identity",
    request_body(content = doc::SendOtpRequest, content_type = "application/json"),
    responses((status = 200, description = "Mailed", body = doc::StatusReply), (status = 401, description = "INVALID_TWO_FACTOR_COOKIE", body = doc::ErrorBody)),
    security((), ("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn send_otp(
    State(auth): State<AuthService>,
    caller: Option<Caller>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Reply> {
    let mut f = body.optional_fields()?;
    let _trust = f.opt_bool("trustDevice");
    f.finish()?;
    let who = who(&auth, caller, &headers)?;
    let otp = match auth.0.two_factor.send_otp(who.presenter()).await {
        Ok(otp) => otp,
        Err(e) => return Err(refused(&auth, &who, e)),
    };
    spawn_mail(
        &auth,
        Mail {
            to: otp.user.email,
            kind: MailKind::TwoFactorCode,
            subject: "Your sign-in code".into(),
            url: String::new(),
            token: otp.code,
        },
    );
    Ok(Reply::json(json!({ "status": true })))
}

/// `Set-Cookie` for a new sign-in challenge.
pub(super) fn challenge_cookie(auth: &AuthService, challenge: &str) -> String {
    auth.0.cookies.two_factor_cookie(
        auth.0.config.secret.expose(),
        challenge,
        CHALLENGE_TTL.as_secs(),
    )
}

/// `Set-Cookie` for a rotated trust cookie.
pub(super) fn trust_cookie(auth: &AuthService, value: &str) -> String {
    auth.0.cookies.trust_device_cookie(
        auth.0.config.secret.expose(),
        value,
        TRUST_DEVICE_TTL.as_secs(),
    )
}
