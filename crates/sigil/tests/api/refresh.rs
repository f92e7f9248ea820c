//! US5, token refresh: a browser gets a new JWT from `/api/auth/token` while its session lives;
//! other clients exchange rotating refresh tokens at `/api/auth/refresh`, and a reused refresh
//! token ends its whole session.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_session_gets_a_fresh_jwt_from_the_token_endpoint() {
    let app = spawn_app().await;
    let user = app.user("olga@example.com").await;
    app.clock.advance(std::time::Duration::from_secs(2));
    let again = app.jwt(&user.session_token).await;
    assert_eq!(again.status, StatusCode::OK);
    let fresh = again.body["token"].as_str().unwrap();
    assert_ne!(fresh, user.jwt);
    assert!(jwt_payload(fresh)["iat"].as_u64() > jwt_payload(&user.jwt)["iat"].as_u64());
    assert_eq!(jwt_payload(fresh)["sid"], jwt_payload(&user.jwt)["sid"]);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_session() {
    let app = spawn_app().await;
    app.sign_up("P", "pat@example.com", PASSWORD).await;
    let inn = app
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "pat@example.com", "password": PASSWORD, "requestRefreshToken": true }),
        )
        .await;
    assert_eq!(inn.status, StatusCode::OK);
    let session = inn.body["token"].as_str().unwrap().to_owned();
    let first = inn.body["refreshToken"].as_str().unwrap().to_owned();
    assert!(first.len() >= 43);

    let one = app
        .post("/api/auth/refresh", json!({ "refreshToken": first }))
        .await;
    assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
    let jwt = one.body["token"].as_str().unwrap().to_owned();
    let second = one.body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(one.body["tokenType"], "Bearer");
    let user_id = jwt_payload(&jwt)["sub"].as_str().unwrap().to_owned();
    let tasks = app
        .api(
            Method::GET,
            &format!("/api/{user_id}/tasks"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(tasks.status, StatusCode::OK);

    let two = app
        .post("/api/auth/refresh", json!({ "refreshToken": second }))
        .await;
    assert_eq!(two.status, StatusCode::OK);
    let third = two.body["refreshToken"].as_str().unwrap().to_owned();

    // The first token again: someone copied it. The whole session ends.
    let reuse = app
        .post("/api/auth/refresh", json!({ "refreshToken": first }))
        .await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reuse.code(), "INVALID_REFRESH_TOKEN");
    let latest = app
        .post("/api/auth/refresh", json!({ "refreshToken": third }))
        .await;
    assert_eq!(
        latest.status,
        StatusCode::UNAUTHORIZED,
        "the newest token of the family is dead too"
    );
    assert_eq!(
        app.jwt(&session).await.status,
        StatusCode::UNAUTHORIZED,
        "the session is gone"
    );
    let api = app
        .api(
            Method::GET,
            &format!("/api/{user_id}/tasks"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED, "and so are its JWTs");

    for bad in [
        json!({ "refreshToken": "nope" }),
        json!({ "refreshToken": "" }),
    ] {
        assert_eq!(
            app.post("/api/auth/refresh", bad).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.post("/api/auth/refresh", json!({})).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn signing_out_kills_the_refresh_token() {
    let app = spawn_app().await;
    app.sign_up("Q", "quinn@example.com", PASSWORD).await;
    let inn = app
        .post(
            "/api/auth/sign-in/email",
            json!({ "email": "quinn@example.com", "password": PASSWORD, "requestRefreshToken": true }),
        )
        .await;
    let session = inn.body["token"].as_str().unwrap();
    let refresh = inn.body["refreshToken"].as_str().unwrap();
    app.request(
        Method::POST,
        "/api/auth/sign-out",
        &[("authorization", &format!("Bearer {session}"))],
        None,
    )
    .await;
    assert_eq!(
        app.post("/api/auth/refresh", json!({ "refreshToken": refresh }))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// A client that only refreshes its JWT through `/api/auth/token` stays signed in past the first
/// 7 days (the session slides as in Better Auth), and the JWT it gets at +170 h passes the tasks
/// API's guard, which reads the same clock.
#[tokio::test]
async fn daily_token_refreshes_keep_a_session_alive_past_seven_days() {
    let app = spawn_app().await;
    let user = app.user("quinn@example.com").await;
    let day = std::time::Duration::from_secs(24 * 3600);
    for _ in 0..7 {
        app.clock
            .advance(day + std::time::Duration::from_secs(3600));
        let token = app.jwt(&user.session_token).await;
        assert_eq!(token.status, StatusCode::OK, "{:?}", token.body);
        assert!(token.headers.get("set-auth-token").is_some(), "slid");
    }
    let jwt = app.jwt(&user.session_token).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let tasks = app
        .api(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(tasks.status, StatusCode::OK, "{:?}", tasks.body);
    // The first JWT expired long ago by the server's clock.
    let old = app
        .api(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            Some(&user.jwt),
            None,
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
}
