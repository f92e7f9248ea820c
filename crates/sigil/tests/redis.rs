//! Redis shared by several instances: rate limits count across instances, and a sign-out on the
//! identity service reaches an API process that shares nothing else with it. Runs when
//! `SIGIL_TEST_REDIS_URL` is set (`scripts/test` sets it, starting a throwaway server when none
//! is running, and requires it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil::settings::{ApiKeys, Mode};

fn redis_url() -> Option<String> {
    service_url("SIGIL_TEST_REDIS_URL")
}

#[tokio::test]
async fn rate_limits_are_shared_through_redis() {
    let Some(url) = redis_url() else {
        return;
    };
    // A client address of our own, so no other run's counters interfere.
    let ip = format!(
        "10.{}.{}.{}",
        std::process::id() % 250,
        fastrand_byte(),
        fastrand_byte()
    );
    let configure = |s: &mut sigil::settings::Settings| {
        s.redis_url = Some(url.clone());
        s.rate_limit = true;
        s.client_ip_header = Some("x-test-client-ip".into());
    };
    let a = spawn_with(configure).await;
    let b = spawn_with(configure).await;
    let attempt = |app: &TestApp| {
        let ip = ip.clone();
        let app_url = app.url.clone();
        let client = app.client.clone();
        async move {
            client
                .post(format!("{app_url}/api/auth/sign-in/email"))
                .header("x-test-client-ip", ip)
                .json(&json!({ "email": "nobody@example.com", "password": PASSWORD }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(attempt(&a).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&b).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&a).await.status(), StatusCode::UNAUTHORIZED);
    let fourth = attempt(&b).await;
    assert_eq!(
        fourth.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the fourth attempt across both instances is limited"
    );
    assert!(fourth.headers().get("x-retry-after").is_some());
}

fn fastrand_byte() -> u8 {
    let mut b = [0u8; 1];
    sigil_token::random::fill(&mut b).unwrap();
    b[0] % 250 + 1
}

#[tokio::test]
async fn a_sign_out_reaches_a_separate_api_process_through_redis() {
    let Some(url) = redis_url() else {
        return;
    };
    let redis = url.clone();
    let auth = spawn_with(move |s| {
        s.mode = Mode::AuthOnly;
        s.redis_url = Some(redis);
    })
    .await;
    let user = auth.user("redis@example.com").await;
    let jwks = format!("{}/api/auth/jwks", auth.url);
    let redis = url.clone();
    // Its own SQLite file: nothing shared with the identity service but Redis.
    let api = spawn_with(move |s| {
        s.mode = Mode::ApiOnly;
        s.api_keys = Some(ApiKeys::JwksUrl(jwks.parse().unwrap()));
        s.redis_url = Some(redis);
    })
    .await;
    let path = format!("/api/{}/tasks", user.id);
    assert_eq!(
        api.api(Method::GET, &path, Some(&user.jwt), None)
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // the subscriber is connected
    auth.request(
        Method::POST,
        "/api/auth/sign-out",
        &[("authorization", &format!("Bearer {}", user.session_token))],
        None,
    )
    .await;
    let mut refused = false;
    for _ in 0..20 {
        if api
            .api(Method::GET, &path, Some(&user.jwt), None)
            .await
            .status
            == StatusCode::UNAUTHORIZED
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "the API refuses the signed-out session's JWT within a second"
    );

    // A process started later still learns earlier revocations.
    let jwks = format!("{}/api/auth/jwks", auth.url);
    let late = spawn_with(move |s| {
        s.mode = Mode::ApiOnly;
        s.api_keys = Some(ApiKeys::JwksUrl(jwks.parse().unwrap()));
        s.redis_url = Some(url);
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        late.api(Method::GET, &path, Some(&user.jwt), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
