//! `POST /update-user`, `POST /change-password`, `POST /change-email`, `POST /delete-user`.

use super::AuthService;
use super::body::Body;
use super::context::Caller;
use super::openapi as doc;
use super::recovery;
use super::reply::{Reply, user_json, with_session};
use crate::domain::{Password, check_image, check_name};
use crate::error::{ApiError, ApiResult, codes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

/// `POST /update-user {name?, image?}`: `email` is refused (`/change-email` exists for that), and
/// so is a set `role`, `banned`, `banReason` or `banExpires` (400 `FIELD_NOT_ALLOWED`); every
/// other field (`emailVerified`, `id`, ...) is ignored.
#[utoipa::path(
    post,
    path = "/update-user",
    tag = "identity",
    request_body(content = doc::UpdateUserRequest, content_type = "application/json"),
    responses((status = 200, description = "Updated", body = doc::StatusReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn update_user(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let mut f = body.fields("record")?;
    if f.has("email") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::EMAIL_CAN_NOT_BE_UPDATED,
        ));
    }
    f.refuse_admin_fields(false)?;
    let name = f.opt_string("name");
    let image = f.opt_nullable_string("image");
    f.finish()?;
    if name.is_none() && image.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::NO_FIELDS_TO_UPDATE,
        ));
    }
    name.map(check_name).transpose()?;
    image.flatten().map(check_image).transpose()?;
    auth.0
        .accounts
        .update_profile(&caller.user.id, name, image)
        .await?;
    let reply = Reply::json(json!({ "status": true }));
    Ok(with_session(&auth, reply, &caller.token, caller.session.remember).into_response())
}

/// `POST /change-password {currentPassword, newPassword, revokeOtherSessions?}`. With
/// `revokeOtherSessions: true` every session (this one too) is ended and a new one is returned.
#[utoipa::path(
    post,
    path = "/change-password",
    tag = "identity",
    request_body(content = doc::ChangePasswordRequest, content_type = "application/json"),
    responses((status = 200, description = "Changed (a new token with revokeOtherSessions)", body = doc::TokenUserReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn change_password(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let mut f = body.fields("object")?;
    let new_password = f.string("newPassword");
    let current = f.string("currentPassword");
    let revoke = f.opt_bool("revokeOtherSessions").unwrap_or(false);
    f.finish()?;
    let (Some(new_password), Some(current)) = (new_password, current) else {
        return Err(ApiError::validation("[body] Invalid input"));
    };
    let policy = auth.0.config.password;
    let new_password = Password::new_password(new_password, policy)?;
    let current = Password::bounded(current, policy)?;
    let renewed = auth
        .0
        .accounts
        .change_password(&caller.user, &caller.session, current, new_password, revoke)
        .await?;
    let Some((session, token)) = renewed else {
        return Ok(
            Reply::json(json!({ "token": null, "user": user_json(&caller.user) })).into_response(),
        );
    };
    let reply = Reply::json(json!({ "token": token, "user": user_json(&caller.user) }));
    Ok(with_session(&auth, reply, &token, session.remember).into_response())
}

/// `POST /change-email {newEmail, callbackURL?}`: mails a confirmation link to the new address;
/// the email changes when the link is opened. An address that belongs to another account gets
/// the same answer and no mail (no enumeration).
#[utoipa::path(
    post,
    path = "/change-email",
    tag = "identity",
    request_body(content = doc::ChangeEmailRequest, content_type = "application/json"),
    responses((status = 200, description = "Confirmation mailed", body = doc::StatusReply)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn change_email(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    let mut f = body.fields("object")?;
    let new_email = f.email("newEmail");
    let callback = f.opt_string("callbackURL");
    f.finish()?;
    let Some(new_email) = new_email else {
        return Err(ApiError::validation(
            "[body.newEmail] Invalid email address",
        ));
    };
    auth.0
        .trusted
        .check_redirect(callback, codes::INVALID_CALLBACK_URL)?;
    if new_email.as_str() == caller.user.email {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::EMAIL_IS_THE_SAME,
        ));
    }
    if auth.0.accounts.user_by_email(&new_email).await?.is_none() {
        let stamp = auth.0.accounts.password_stamp(&caller.user.id).await?;
        recovery::send_verification(
            &auth,
            &caller.user,
            Some((new_email.as_str(), stamp.as_str())),
            super::origin::given(callback).unwrap_or("/"),
        );
    } else {
        tracing::info!(target: "sigil::auth", user_id = %caller.user.id, "change-email to a taken address (answered generically)");
    }
    Ok(Reply::json(json!({ "status": true })).into_response())
}

/// `POST /delete-user {password?}`: deletes the account and everything attached to it. Needs
/// the password, or a session created within the last day.
#[utoipa::path(
    post,
    path = "/delete-user",
    tag = "identity",
    request_body(content = doc::DeleteUserRequest, content_type = "application/json"),
    responses((status = 200, description = "Deleted", body = doc::SuccessMessageReply), (status = 404, description = "Not found", body = doc::ErrorBody)),
    security(("sessionCookie" = []), ("sessionToken" = []))
)]
pub(super) async fn delete_user(
    State(auth): State<AuthService>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    if !auth.0.config.allow_delete_user {
        return Err(ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND));
    }
    let mut f = body.optional_fields()?;
    let password = f.opt_string("password");
    let callback = f.opt_string("callbackURL");
    f.finish()?;
    auth.0
        .trusted
        .check_redirect(callback, codes::INVALID_CALLBACK_URL)?;
    match password {
        Some(password) => {
            let password = Password::bounded(password, auth.0.config.password)?;
            auth.0
                .accounts
                .confirm_password(&caller.user.id, password)
                .await?;
        }
        None if !auth.0.sessions.is_fresh(&caller.session) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::SESSION_EXPIRED,
            ));
        }
        None => {}
    }
    auth.0.accounts.delete(&caller.user.id).await?;
    if let Some(listener) = &auth.0.account_listener {
        listener.user_deleted(&caller.user.id).await;
    }
    tracing::info!(target: "sigil::auth", user_id = %caller.user.id, "user deleted");
    let reply = Reply::json(json!({ "success": true, "message": "User deleted" }))
        .cookies(auth.0.cookies.expire_all());
    Ok(reply.into_response())
}
