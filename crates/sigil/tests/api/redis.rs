//! Redis shared by several instances: rate limits count across instances, and a sign-out on the
//! identity service reaches an API process that shares nothing else with it. Runs when
//! `SIGIL_TEST_REDIS_URL` is set (`scripts/test` sets it, starting a throwaway server when none
//! is running, and requires it).

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil::settings::Mode;
use sigil_test_support::services::redis_url;

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
        s.common.redis_url = Some(url.clone());
        s.auth.rate_limit = true;
        s.auth.client_ip_header = Some("x-test-client-ip".into());
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
        s.common.redis_url = Some(redis);
    })
    .await;
    let user = auth.user("redis@example.com").await;
    let jwks = format!("{}/api/auth/jwks", auth.url);
    let redis = url.clone();
    let subscribers_before = subscribers(&url).await;
    // Its own SQLite file: nothing shared with the identity service but Redis.
    let api = spawn_with(move |s| {
        s.mode = Mode::ApiOnly;
        s.api.jwks_url = Some(jwks.parse().unwrap());
        s.common.redis_url = Some(redis);
    })
    .await;
    let path = format!("/api/{}/tasks", user.id);
    assert_eq!(
        api.api(Method::GET, &path, Some(&user.jwt), None)
            .await
            .status,
        StatusCode::OK
    );
    // The API process subscribes to the channel: wait for Redis to count its subscription, so the
    // sign-out below travels by the channel rather than by the initial load. (A bounded poll for
    // an external event. Another process subscribing meanwhile can only make this test take the
    // initial-load path, which must refuse the token as well.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while subscribers(&url).await <= subscribers_before {
        assert!(
            std::time::Instant::now() < deadline,
            "the API process never subscribed to {}",
            sigil_guard::feed::REDIS_CHANNEL
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    auth.request(
        Method::POST,
        "/api/auth/sign-out",
        &[("authorization", &format!("Bearer {}", user.session_token))],
        None,
    )
    .await;
    // Bounded poll for the message's delivery to the other process (an external event).
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
        s.api.jwks_url = Some(jwks.parse().unwrap());
        s.common.redis_url = Some(url);
    })
    .await;
    // The late process loads the revocations in the background after it starts: a bounded poll
    // for that load (an external event); the JWT is otherwise valid, so only the load refuses it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = late
            .api(Method::GET, &path, Some(&user.jwt), None)
            .await
            .status;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            std::time::Instant::now() < deadline,
            "a process started later never learned the earlier revocation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// How many connections Redis counts as subscribed to the revocation channel.
async fn subscribers(url: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(sigil_guard::feed::REDIS_CHANNEL)
        .query_async(&mut conn)
        .await
        .unwrap();
    count
}
