//! `POST /sign-up/email`, `POST /sign-in/email`, `POST /sign-out`.

use super::AuthService;
use super::body::{Body, FormOrJson};
use super::context::{Client, Lookup};
use super::recovery;
use super::reply::{Reply, user_json};
use crate::crypto;
use crate::domain::{Email, Password, check_image, check_name};
use crate::error::{ApiError, ApiResult, codes};
use crate::refresh;
use crate::store::{StoreError, User};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;

/// Adds the session cookie(s), `set-auth-token` and its expose header.
pub(super) fn with_session(auth: &AuthService, reply: Reply, token: &str, remember: bool) -> Reply {
    let (cookies, signed) = auth.session_cookies(token, remember);
    reply
        .cookies(cookies)
        .exposed_header("set-auth-token", signed)
}

/// `POST /sign-up/email {name, email, password, image?, callbackURL?, rememberMe?}`.
///
/// Only these fields are read: `emailVerified`, `id`, `role`, timestamps or anything else in the
/// body are ignored and never stored.
pub async fn sign_up(
    State(auth): State<AuthService>,
    Client(client): Client,
    FormOrJson(body): FormOrJson,
) -> ApiResult<Reply> {
    let mut f = body.fields("object")?;
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
    auth.trusted
        .check_redirect(callback, codes::INVALID_CALLBACK_URL)?;
    check_name(name)?;
    image.map(check_image).transpose()?;
    let password = Password::new_password(password, auth.config.password)?;

    let now = auth.now_ms();
    let user = User {
        id: crypto::random_alphanumeric(32),
        name: name.to_owned(),
        email: email.as_str().to_owned(),
        email_verified: false,
        image: image.map(str::to_owned),
        created_at: now,
        updated_at: now,
    };
    let verify_first = auth.config.require_email_verification;
    let hash = auth.hasher.hash(password).await?;
    let session = (!verify_first).then(|| auth.sessions.build(&user.id, remember, &client));
    match auth
        .store
        .create_user(&user, &hash, session.as_ref().map(|(s, _)| s))
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) if verify_first => {
            // Enumeration-safe answer: the same shape as a real sign-up, for a made-up user.
            tracing::info!(target: "sigil::auth", "sign-up for an existing email (answered generically)");
            return Ok(Reply::json(
                json!({ "token": null, "user": user_json(&user) }),
            ));
        }
        Err(StoreError::Conflict) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL,
            ));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(target: "sigil::auth", user_id = %user.id, "user signed up");
    if verify_first {
        recovery::send_verification(&auth, &user, None, callback.unwrap_or("/"));
        return Ok(Reply::json(
            json!({ "token": null, "user": user_json(&user) }),
        ));
    }
    let token = session.map(|(_, t)| t).unwrap_or_default();
    let reply = Reply::json(json!({ "token": token, "user": user_json(&user) }));
    Ok(with_session(&auth, reply, &token, remember))
}

/// `POST /sign-in/email {email, password, rememberMe?, callbackURL?, requestRefreshToken?}`.
///
/// Unknown email, missing credential and wrong password give the same 401 after the same work
/// (a full argon2id verification against a dummy hash when there is no user).
pub async fn sign_in(
    State(auth): State<AuthService>,
    Client(client): Client,
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
    auth.trusted
        .check_redirect(callback, codes::INVALID_CALLBACK_URL)?;
    let email = Email::parse(email)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_EMAIL))?;
    let password = Password::bounded(password, auth.config.password)?;

    let found = auth.store.credentials_by_email(email.as_str()).await?;
    let (user, stored) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let ok = auth.hasher.verify(password, stored).await?;
    let user = match (ok, user) {
        (true, Some(user)) => user,
        _ => {
            tracing::info!(target: "sigil::auth", "sign-in refused: invalid email or password");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                codes::INVALID_EMAIL_OR_PASSWORD,
            ));
        }
    };
    if auth.config.require_email_verification && !user.email_verified {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::EMAIL_NOT_VERIFIED,
        ));
    }
    let (session, token) = auth.sessions.create(&user.id, remember, &client).await?;
    tracing::info!(target: "sigil::auth", user_id = %user.id, session_id = %session.id, "signed in");

    let mut body =
        json!({ "redirect": callback.is_some(), "token": token, "user": user_json(&user) });
    if let Some(cb) = callback {
        body["url"] = json!(cb);
    }
    if want_refresh {
        body["refreshToken"] = json!(refresh::issue_first(&auth, &session).await?);
    }
    let mut reply = with_session(&auth, Reply::json(body), &token, remember);
    if let Some(cb) = callback {
        reply = reply.location(cb);
    }
    Ok(reply)
}

/// `POST /sign-out`: ends the presented session (its JWTs are refused from now on) and expires
/// the cookies. Always `{"success": true}`.
pub async fn sign_out(
    State(auth): State<AuthService>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    body.optional_fields()?.finish()?;
    if let Lookup::Live(caller) = auth.lookup(&headers).await? {
        auth.sessions.end_one(&caller.session.id).await?;
        tracing::info!(target: "sigil::auth", user_id = %caller.user.id, session_id = %caller.session.id, "signed out");
    }
    Ok(Reply::json(json!({ "success": true }))
        .cookies(auth.cookies.expire_all())
        .into_response())
}
