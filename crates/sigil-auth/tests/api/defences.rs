//! Defences: rate limits, login CSRF, equal work for unknown users, bounded input.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn sign_in_is_limited_to_three_per_ten_seconds_per_client() {
    let s = server_with(|c| c.rate_limit = true).await;
    s.sign_up("ivy@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            s.sign_in("ivy@example.com", "wrong password!").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = s.sign_in("ivy@example.com", PASSWORD).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.body["message"],
        "Too many requests. Please try again later."
    );
    let retry: u64 = limited.header("x-retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry));
    // Other routes have their own, larger budget.
    assert_eq!(s.get_session(&As::Nobody).await.status, StatusCode::OK);
}

#[tokio::test]
async fn rate_limits_can_be_turned_off() {
    let s = server().await;
    s.sign_up("jon@example.com").await;
    // Five: more than the three per ten seconds; past five the per-account throttle (a defence of
    // its own, see throttle.rs) begins.
    for _ in 0..5 {
        assert_eq!(
            s.sign_in("jon@example.com", "wrong password!").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn unknown_email_costs_the_same_hash_as_a_wrong_password() {
    let s = server().await;
    s.sign_up("kim@example.com").await;
    let before = s.hasher.operations();
    s.sign_in("kim@example.com", "wrong password!").await;
    assert_eq!(s.hasher.operations(), before + 1);
    s.sign_in("nobody@example.com", "wrong password!").await;
    assert_eq!(
        s.hasher.operations(),
        before + 2,
        "an unknown email is verified against a dummy hash"
    );
    // Too long: refused before any hashing.
    let long = s.sign_in("kim@example.com", &"x".repeat(129)).await;
    assert_eq!(long.code(), "PASSWORD_TOO_LONG");
    assert_eq!(s.hasher.operations(), before + 2);
    let long = s
        .post(
            "/sign-up/email",
            &As::Nobody,
            json!({ "name": "n", "email": "long@example.com", "password": "x".repeat(129) }),
        )
        .await;
    assert_eq!(long.code(), "PASSWORD_TOO_LONG");
    assert_eq!(s.hasher.operations(), before + 2);
}

#[tokio::test]
async fn login_csrf_and_origin_checks() {
    let s = server_with(|c| c.trusted_origins = vec!["https://app.example.com".into()]).await;
    s.sign_up("lou@example.com").await;
    let body = json!({ "email": "lou@example.com", "password": PASSWORD });
    let navigate = [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "navigate"),
    ];
    let blocked = s
        .call_with(
            Method::POST,
            "/sign-in/email",
            &As::Nobody,
            Some(body.clone()),
            &navigate,
        )
        .await;
    assert_eq!(
        (blocked.status, blocked.code()),
        (StatusCode::FORBIDDEN, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED")
    );
    let evil = s
        .call_with(
            Method::POST,
            "/sign-in/email",
            &As::Nobody,
            Some(body.clone()),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(evil.code(), "INVALID_ORIGIN");
    let fetch_no_origin = s
        .call_with(
            Method::POST,
            "/sign-in/email",
            &As::Nobody,
            Some(body.clone()),
            &[("sec-fetch-mode", "cors")],
        )
        .await;
    assert_eq!(fetch_no_origin.code(), "MISSING_OR_NULL_ORIGIN");
    let app = s
        .call_with(
            Method::POST,
            "/sign-in/email",
            &As::Nobody,
            Some(body.clone()),
            &[("origin", "https://app.example.com")],
        )
        .await;
    assert_eq!(app.status, StatusCode::OK);
    let cookie = app.session_cookie().unwrap();
    let referer = s
        .call_with(
            Method::POST,
            "/update-user",
            &As::Nobody,
            Some(json!({ "name": "x" })),
            &[
                ("cookie", &cookie),
                ("referer", &format!("{}/settings", s.url)),
            ],
        )
        .await;
    assert_eq!(
        referer.status,
        StatusCode::OK,
        "Referer is accepted when Origin is absent"
    );
    let null = s
        .call_with(
            Method::POST,
            "/update-user",
            &As::Nobody,
            Some(json!({ "name": "x" })),
            &[("cookie", &cookie), ("origin", "null")],
        )
        .await;
    assert_eq!(null.code(), "MISSING_OR_NULL_ORIGIN");
    let callback = s
        .post(
            "/sign-in/email",
            &As::Nobody,
            json!({ "email": "lou@example.com", "password": PASSWORD, "callbackURL": "https://evil.example" }),
        )
        .await;
    assert_eq!(callback.code(), "INVALID_CALLBACK_URL");
    let relative = s
        .post(
            "/sign-in/email",
            &As::Nobody,
            json!({ "email": "lou@example.com", "password": PASSWORD, "callbackURL": "/dashboard" }),
        )
        .await;
    assert_eq!(
        (
            relative.body["redirect"].as_bool(),
            relative.body["url"].as_str()
        ),
        (Some(true), Some("/dashboard"))
    );
    assert_eq!(relative.header("location"), Some("/dashboard"));
}

#[tokio::test]
async fn wrong_media_types_and_json_shapes() {
    let s = server().await;
    let text = s
        .client
        .post(format!("{}/api/auth/sign-in/email", s.url))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let form = s
        .client
        .post(format!("{}/api/auth/sign-up/email", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Form&email=form%40example.com&password=correct+horse+battery")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK, "HTML forms can sign up");
    let array = s
        .post(
            "/update-user",
            &s.session("max@example.com").await,
            json!([1]),
        )
        .await;
    assert_eq!(
        array.body["message"],
        "[body] Invalid input: expected record, received array"
    );
    let get_post = s
        .call(Method::POST, "/get-session", &As::Nobody, Some(json!({})))
        .await;
    assert_eq!(
        (get_post.status, get_post.code()),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"
        )
    );
}
