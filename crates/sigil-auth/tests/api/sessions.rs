//! Sessions: cookies as Better Auth sets them, listing and revoking, password change, profile
//! update, account deletion, sliding expiry.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_auth::domain::iso8601;
use sigil_guard::clock::Clock;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn cookies_follow_better_auth() {
    let s = server().await;
    let up = s.sign_up("amy@example.com").await;
    let cookie = &up.cookies()[0];
    assert!(cookie.starts_with("better-auth.session_token="));
    assert!(
        cookie.ends_with("; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"),
        "{cookie}"
    );
    let token = up.body["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(
        up.header("set-auth-token")
            .unwrap()
            .starts_with(&format!("{token}."))
    );
    assert_eq!(
        up.header("access-control-expose-headers"),
        Some("set-auth-token")
    );

    let short = s
        .post(
            "/sign-in/email",
            &As::Nobody,
            json!({ "email": "amy@example.com", "password": PASSWORD, "rememberMe": false }),
        )
        .await;
    let cookies = short.cookies();
    assert!(
        cookies[0].ends_with("; Path=/; HttpOnly; SameSite=Lax") && !cookies[0].contains("Max-Age")
    );
    assert!(cookies[1].starts_with("better-auth.dont_remember="));
    let session = s
        .get_session(&As::Bearer(short.body["token"].as_str().unwrap().into()))
        .await;
    let expires = session.body["session"]["expiresAt"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(expires.len() == 24 && expires.ends_with('Z'));
}

#[tokio::test]
async fn https_deployments_get_secure_prefixed_cookies() {
    let s = server_with(|c| c.base_url = "https://auth.example.com".parse().unwrap()).await;
    let up = s.sign_up("bea@example.com").await;
    let cookie = &up.cookies()[0];
    assert!(
        cookie.starts_with("__Secure-better-auth.session_token="),
        "{cookie}"
    );
    assert!(cookie.contains("; Secure"));
    // The browser sends it back under the same name.
    let pair = up.session_cookie().unwrap();
    let session = s
        .call_with(
            Method::GET,
            "/get-session",
            &As::Nobody,
            None,
            &[("cookie", &pair)],
        )
        .await;
    assert_eq!(session.body["user"]["email"], "bea@example.com");
}

#[tokio::test]
async fn list_and_revoke_sessions() {
    let s = server().await;
    let one = s.session("cid@example.com").await;
    let two = s.session("cid@example.com").await;
    let three = s.session("cid@example.com").await;
    let other_user = s.session("dee@example.com").await;
    let As::Bearer(one_token) = &one else {
        unreachable!()
    };

    let list = s.call(Method::GET, "/list-sessions", &one, None).await;
    let sessions = list.body.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 4, "the sign-up session and three sign-ins");
    assert!(
        sessions.iter().any(|x| x["token"] == one_token.as_str()),
        "the caller's own token is shown"
    );
    let others: Vec<&Value> = sessions
        .iter()
        .filter(|x| x["token"] != one_token.as_str())
        .collect();
    assert!(
        others.iter().all(|x| x["token"] == x["id"]),
        "other sessions' tokens are never disclosed"
    );

    // Revoke session two by its handle; another user's session cannot be touched.
    let As::Bearer(two_token) = &two else {
        unreachable!()
    };
    let two_id = s.get_session(&two).await.body["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dee_id = s.get_session(&other_user).await.body["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.post("/revoke-session", &one, json!({ "token": dee_id }))
            .await
            .body,
        json!({ "status": true })
    );
    assert_ne!(s.get_session(&other_user).await.body, Value::Null);
    assert_eq!(
        s.post("/revoke-session", &one, json!({ "token": two_id }))
            .await
            .body,
        json!({ "status": true })
    );
    assert_eq!(s.get_session(&two).await.body, Value::Null);
    assert_eq!(
        s.post("/revoke-session", &one, json!({ "token": two_token }))
            .await
            .body,
        json!({ "status": true })
    );
    assert_eq!(
        s.post("/revoke-session", &one, json!({})).await.code(),
        "VALIDATION_ERROR"
    );

    // Revoke the others, then everything.
    let four = s.session("cid@example.com").await;
    assert_eq!(
        s.post("/revoke-other-sessions", &one, json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(s.get_session(&three).await.body, Value::Null);
    assert_eq!(s.get_session(&four).await.body, Value::Null);
    assert_ne!(s.get_session(&one).await.body, Value::Null);
    let all = s.post("/revoke-sessions", &one, json!({})).await;
    assert!(
        all.cookies()
            .iter()
            .any(|c| c.contains("session_token=; Max-Age=0"))
    );
    assert_eq!(s.get_session(&one).await.body, Value::Null);
    assert_eq!(
        s.call(Method::GET, "/list-sessions", &one, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn list_sessions_needs_a_fresh_session() {
    let s = server().await;
    let me = s.session("eli@example.com").await;
    s.clock.advance(HOUR * 23);
    assert_eq!(
        s.call(Method::GET, "/list-sessions", &me, None)
            .await
            .status,
        StatusCode::OK
    );
    s.clock.advance(HOUR * 2);
    let stale = s.call(Method::GET, "/list-sessions", &me, None).await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::FORBIDDEN, "SESSION_NOT_FRESH")
    );
    let delete = s.post("/delete-user", &me, json!({})).await;
    assert_eq!(
        delete.code(),
        "SESSION_EXPIRED",
        "deleting without a password needs a fresh session"
    );
}

#[tokio::test]
async fn update_user_and_change_password() {
    let s = server().await;
    let me = s.session("fay@example.com").await;
    let device = s.session("fay@example.com").await;
    let updated = s
        .post(
            "/update-user",
            &me,
            json!({ "name": "Fay Updated", "image": "https://img.example/f.png", "emailVerified": true, "id": "x" }),
        )
        .await;
    assert_eq!(updated.body, json!({ "status": true }));
    assert!(updated.header("set-auth-token").is_some());
    let user = s.get_session(&me).await.body["user"].clone();
    assert_eq!(
        (
            user["name"].as_str(),
            user["image"].as_str(),
            user["emailVerified"].as_bool()
        ),
        (
            Some("Fay Updated"),
            Some("https://img.example/f.png"),
            Some(false)
        )
    );
    assert_eq!(
        s.post("/update-user", &me, json!({ "email": "x@example.com" }))
            .await
            .code(),
        "EMAIL_CAN_NOT_BE_UPDATED"
    );
    assert_eq!(
        s.post("/update-user", &me, json!({})).await.code(),
        "NO_FIELDS_TO_UPDATE"
    );
    assert_eq!(
        s.post("/update-user", &me, json!({ "image": null }))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(s.get_session(&me).await.body["user"]["image"], Value::Null);

    let wrong = s
        .post(
            "/change-password",
            &me,
            json!({ "currentPassword": "nope nope nope", "newPassword": "a new passphrase" }),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::BAD_REQUEST, "INVALID_PASSWORD")
    );
    let short = s
        .post(
            "/change-password",
            &me,
            json!({ "currentPassword": PASSWORD, "newPassword": "short" }),
        )
        .await;
    assert_eq!(short.code(), "PASSWORD_TOO_SHORT");
    let kept = s
        .post(
            "/change-password",
            &me,
            json!({ "currentPassword": PASSWORD, "newPassword": "a new passphrase" }),
        )
        .await;
    assert_eq!(kept.body["token"], Value::Null);
    assert_ne!(
        s.get_session(&device).await.body,
        Value::Null,
        "without revokeOtherSessions other devices stay"
    );

    let revoked = s
        .post("/change-password", &me, json!({ "currentPassword": "a new passphrase", "newPassword": "a newer passphrase", "revokeOtherSessions": true }))
        .await;
    let fresh = revoked.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.get_session(&device).await.body, Value::Null);
    assert_eq!(
        s.get_session(&me).await.body,
        Value::Null,
        "the old session is replaced too"
    );
    assert_eq!(
        s.get_session(&As::Bearer(fresh)).await.body["user"]["email"],
        "fay@example.com"
    );
    assert_eq!(
        s.sign_in("fay@example.com", "a newer passphrase")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn delete_user_needs_the_password_and_removes_everything() {
    let s = server().await;
    let me = s.session("gus@example.com").await;
    let jwt = s.call(Method::GET, "/token", &me, None).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = s
        .post(
            "/delete-user",
            &me,
            json!({ "password": "not my password" }),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::BAD_REQUEST, "INVALID_PASSWORD")
    );
    let deleted = s
        .post("/delete-user", &me, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(
        deleted.body,
        json!({ "success": true, "message": "User deleted" })
    );
    assert!(
        deleted
            .cookies()
            .iter()
            .any(|c| c.contains("session_token=; Max-Age=0"))
    );
    assert_eq!(s.get_session(&me).await.body, Value::Null);
    assert_eq!(
        s.sign_in("gus@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    let sid = {
        use base64::Engine;
        let payload = jwt.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        claims["sid"].as_str().unwrap().to_owned()
    };
    assert!(
        s.auth.deny_list().contains(&sid, sigil_token::now_unix()),
        "its JWTs are refused by guards"
    );
    assert_eq!(
        s.sign_up("gus@example.com").await.status,
        StatusCode::OK,
        "the address is free again"
    );
}

#[tokio::test]
async fn sessions_slide_forward_at_most_once_per_update_age() {
    let s = server().await;
    let me = s.session("hal@example.com").await;
    let first = s.get_session(&me).await;
    assert!(first.cookies().is_empty(), "not due: no cookie re-sent");
    assert!(first.header("set-auth-jwt").is_some());

    let eager = server_with(|c| c.session.update_age = Duration::ZERO).await;
    let me = eager.session("hal@example.com").await;
    let before = eager.get_session(&me).await.body["session"]["expiresAt"]
        .as_str()
        .unwrap()
        .to_owned();
    eager.clock.advance(Duration::from_millis(20));
    let slid = eager.get_session(&me).await;
    assert!(
        slid.session_cookie().is_some(),
        "due: the cookie is re-sent"
    );
    assert_eq!(
        slid.header("access-control-expose-headers"),
        Some("set-auth-jwt, set-auth-token")
    );
    assert!(slid.body["session"]["expiresAt"].as_str().unwrap() > before.as_str());
    let disabled = eager
        .call(Method::GET, "/get-session?disableRefresh=true", &me, None)
        .await;
    assert!(disabled.cookies().is_empty());
}

/// The session's `expiresAt`, read without sliding it.
async fn expires_at(s: &Server, who: &As) -> String {
    let answer = s
        .call(Method::GET, "/get-session?disableRefresh=true", who, None)
        .await;
    answer.body["session"]["expiresAt"]
        .as_str()
        .unwrap_or_else(|| panic!("no live session: {:?}", answer.body))
        .to_owned()
}

/// `expiresAt` of a session slid (or created) at the clock's current time.
fn seven_days_from_now(s: &Server) -> String {
    iso8601(s.clock.now_ms() + 7 * 24 * 3_600_000)
}

fn max_age(cookie_line: &str) -> Option<&str> {
    cookie_line
        .split("; ")
        .find_map(|attr| attr.strip_prefix("Max-Age="))
}

/// Better Auth's session check slides the session on every session route, not only on
/// `/get-session`: a client that only refreshes its JWT through `/token` stays signed in.
#[tokio::test]
async fn token_slides_a_bearer_session_once_per_update_age() {
    let s = server().await;
    let me = s.session("ivy@example.com").await;
    let As::Bearer(token) = &me else {
        unreachable!()
    };

    s.clock.advance(HOUR);
    let early = s.call(Method::GET, "/token", &me, None).await;
    assert_eq!(early.status, StatusCode::OK);
    assert!(early.cookies().is_empty(), "not due after an hour");
    assert!(early.header("set-auth-token").is_none());

    s.clock.advance(HOUR * 24);
    let slid = s.call(Method::GET, "/token", &me, None).await;
    assert_eq!(slid.status, StatusCode::OK, "{:?}", slid.body);
    assert!(
        slid.body["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    let cookie = slid
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("better-auth.session_token="))
        .expect("the session cookie is re-sent");
    assert_eq!(max_age(&cookie), Some("604800"));
    let signed = slid.header("set-auth-token").expect("set-auth-token");
    assert!(signed.starts_with(&format!("{token}.")), "the same session");
    assert!(
        slid.header("access-control-expose-headers")
            .is_some_and(|h| h.contains("set-auth-token"))
    );
    assert_eq!(expires_at(&s, &me).await, seven_days_from_now(&s));

    let again = s.call(Method::GET, "/token", &me, None).await;
    assert!(again.cookies().is_empty(), "at most once per updateAge");

    // +170 h after sign-in: past the first 7 days, alive because it was used at +25 h.
    s.clock.advance(HOUR * 145);
    let late = s.call(Method::GET, "/token", &me, None).await;
    assert_eq!(late.status, StatusCode::OK, "{:?}", late.body);
    assert!(late.header("set-auth-token").is_some());
    assert_eq!(expires_at(&s, &me).await, seven_days_from_now(&s));

    // Unused for more than 7 days: gone.
    s.clock.advance(HOUR * 169);
    let gone = s.call(Method::GET, "/token", &me, None).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
}

#[tokio::test]
async fn cookie_sessions_slide_on_update_user_and_token() {
    let s = server().await;
    s.sign_up("jon@example.com").await;
    let inn = s.sign_in("jon@example.com", PASSWORD).await;
    let browser = As::Browser(inn.session_cookie().unwrap());

    s.clock.advance(HOUR * 25);
    let updated = s
        .post("/update-user", &browser, json!({ "name": "Jon" }))
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    assert_eq!(
        updated.session_cookie(),
        inn.session_cookie(),
        "the same session's cookie"
    );
    assert_eq!(expires_at(&s, &browser).await, seven_days_from_now(&s));

    s.clock.advance(HOUR * 145);
    let token = s.call(Method::GET, "/token", &browser, None).await;
    assert_eq!(token.status, StatusCode::OK, "{:?}", token.body);
    let cookie = token
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("better-auth.session_token="))
        .expect("the session cookie is re-sent");
    assert_eq!(max_age(&cookie), Some("604800"));
    assert_eq!(expires_at(&s, &browser).await, seven_days_from_now(&s));
}

#[tokio::test]
async fn list_sessions_slides_the_session_before_the_freshness_check() {
    let s = server().await;
    let me = s.session("kim@example.com").await;
    s.clock.advance(HOUR * 25);
    let stale = s.call(Method::GET, "/list-sessions", &me, None).await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::FORBIDDEN, "SESSION_NOT_FRESH"),
        "freshness counts from sign-in, as in Better Auth"
    );
    assert!(
        stale.header("set-auth-token").is_some(),
        "but the session slid"
    );
    assert_eq!(expires_at(&s, &me).await, seven_days_from_now(&s));

    let fresh_off = server_with(|c| c.session.fresh_age = Duration::ZERO).await;
    let me = fresh_off.session("kim@example.com").await;
    fresh_off.clock.advance(HOUR * 25);
    let list = fresh_off
        .call(Method::GET, "/list-sessions", &me, None)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.session_cookie().is_some());
    let As::Bearer(token) = &me else {
        unreachable!()
    };
    let current = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["token"] == token.as_str())
        .expect("the current session is listed");
    assert_eq!(
        current["expiresAt"].as_str(),
        Some(seven_days_from_now(&fresh_off).as_str())
    );
}

/// A `rememberMe: false` session ends a day after sign-in however it is presented (a listed
/// difference: Better Auth slides it to 7 days when it arrives as a bearer token).
#[tokio::test]
async fn sessions_not_remembered_never_slide() {
    let s = server().await;
    s.sign_up("lea@example.com").await;
    let inn = s
        .post(
            "/sign-in/email",
            &As::Nobody,
            json!({ "email": "lea@example.com", "password": PASSWORD, "rememberMe": false }),
        )
        .await;
    let created = s.clock.now_ms();
    let bearer = As::Bearer(inn.body["token"].as_str().unwrap().to_owned());
    let end = iso8601(created + 24 * 3_600_000);
    s.clock.advance(HOUR * 23);
    let token = s.call(Method::GET, "/token", &bearer, None).await;
    assert_eq!(token.status, StatusCode::OK);
    assert!(token.cookies().is_empty());
    assert!(token.header("set-auth-token").is_none());
    assert_eq!(expires_at(&s, &bearer).await, end);
    s.clock.advance(HOUR * 2);
    assert_eq!(
        s.call(Method::GET, "/token", &bearer, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_session_after_a_password_change_with_revocation_slides_too() {
    let s = server().await;
    let old = s.session("max@example.com").await;
    s.clock.advance(HOUR * 25);
    let changed = s
        .post(
            "/change-password",
            &old,
            json!({
                "currentPassword": PASSWORD,
                "newPassword": "another long passphrase",
                "revokeOtherSessions": true,
            }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let new = As::Bearer(changed.body["token"].as_str().unwrap().to_owned());
    assert_eq!(
        changed
            .cookies()
            .iter()
            .filter(|c| c.starts_with("better-auth.session_token="))
            .count(),
        1,
        "one session cookie: the new session's, not the slid old one's"
    );
    assert_eq!(expires_at(&s, &new).await, seven_days_from_now(&s));
    assert_eq!(
        s.call(Method::GET, "/token", &old, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    s.clock.advance(HOUR * 25);
    let slid = s.call(Method::GET, "/token", &new, None).await;
    assert!(slid.header("set-auth-token").is_some());
    s.clock.advance(HOUR * 145);
    assert_eq!(
        s.call(Method::GET, "/token", &new, None).await.status,
        StatusCode::OK,
        "+170 h after the change, used at +25 h"
    );
}
