//! The whole flow of the product, as a user and a backend see it: sign up, sign in, get a JWT,
//! use the tasks API with it, sign out.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_user_signs_up_signs_in_and_manages_tasks_then_signs_out() {
    let app = spawn_app().await;

    // US1: sign up. Email is trimmed and lower-cased.
    let up = app.sign_up("Alice", "  Alice@Example.COM ", PASSWORD).await;
    assert_eq!(up.status, StatusCode::OK, "{:?}", up.body);
    assert_eq!(up.body["user"]["email"], "alice@example.com");
    assert_eq!(up.body["user"]["emailVerified"], false);
    let user_id = up.body["user"]["id"].as_str().unwrap().to_owned();
    assert!(up.header("set-auth-token").is_some());
    assert!(up.cookies()[0].starts_with("better-auth.session_token="));

    // US2: sign in and receive a session token; exchange it for a JWT naming the user.
    let inn = app.sign_in("alice@example.com", PASSWORD).await;
    assert_eq!(inn.status, StatusCode::OK, "{:?}", inn.body);
    assert_eq!(inn.body["user"]["id"], user_id.as_str());
    let session = inn.body["token"].as_str().unwrap().to_owned();
    let token = app.jwt(&session).await;
    assert_eq!(token.status, StatusCode::OK);
    let jwt = token.body["token"].as_str().unwrap().to_owned();
    let claims = jwt_payload(&jwt);
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["name"], "Alice");
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(claims["aud"], app.base.as_str());
    assert!(claims["sid"].is_string() && claims["jti"].is_string());
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
    let header = jwt_header(&jwt);
    assert_eq!(header["alg"], "EdDSA");
    let jwks = app.request(Method::GET, "/api/auth/jwks", &[], None).await;
    assert_eq!(jwks.body["keys"][0]["kid"], header["kid"]);

    // US3: the API knows who is calling.
    let base = format!("/api/{user_id}/tasks");
    let created = app
        .api(
            Method::POST,
            &base,
            Some(&jwt),
            Some(json!({ "title": "Buy milk", "description": "2 litres" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["title"], "Buy milk");
    assert_eq!(created.body["completed"], false);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let second = app
        .api(
            Method::POST,
            &base,
            Some(&jwt),
            Some(json!({ "title": "Walk the dog" })),
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED);

    let list = app.api(Method::GET, &base, Some(&jwt), None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body.as_array().unwrap().len(), 2);

    let one = app
        .api(Method::GET, &format!("{base}/{id}"), Some(&jwt), None)
        .await;
    assert_eq!(one.body["description"], "2 litres");

    let put = app
        .api(
            Method::PUT,
            &format!("{base}/{id}"),
            Some(&jwt),
            Some(json!({ "title": "Buy oat milk", "description": "" })),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    assert_eq!(put.body["title"], "Buy oat milk");

    let done = app
        .api(
            Method::PATCH,
            &format!("{base}/{id}/complete"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(done.body["completed"], true);
    let completed = app
        .api(
            Method::GET,
            &format!("{base}?status=completed"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(completed.body.as_array().unwrap().len(), 1);
    let pending = app
        .api(
            Method::GET,
            &format!("{base}?status=pending"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(pending.body[0]["title"], "Walk the dog");
    let undone = app
        .api(
            Method::PATCH,
            &format!("{base}/{id}/complete"),
            Some(&jwt),
            None,
        )
        .await;
    assert_eq!(undone.body["completed"], false);

    let deleted = app
        .api(Method::DELETE, &format!("{base}/{id}"), Some(&jwt), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app
        .api(Method::GET, &format!("{base}/{id}"), Some(&jwt), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // US4: sign out. The session is gone, /token is refused, and the JWT stops working too.
    let out = app
        .request(
            Method::POST,
            "/api/auth/sign-out",
            &[("authorization", &format!("Bearer {session}"))],
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.body, json!({ "success": true }));
    let session_now = app
        .request(
            Method::GET,
            "/api/auth/get-session",
            &[("authorization", &format!("Bearer {session}"))],
            None,
        )
        .await;
    assert_eq!(session_now.body, serde_json::Value::Null);
    assert_eq!(app.jwt(&session).await.status, StatusCode::UNAUTHORIZED);
    let after = app.api(Method::GET, &base, Some(&jwt), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(
        after
            .header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn tasks_persist_across_a_restart_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&dir);
    settings.auth.base_url = Some("http://sigil.test".parse().unwrap());
    let db_url = settings.common.database_url.clone();
    let app = spawn_settings(settings, dir).await;
    let user = app.user("bob@example.com").await;
    let created = app
        .api(
            Method::POST,
            &format!("/api/{}/tasks", user.id),
            Some(&user.jwt),
            Some(json!({ "title": "Persist me" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let dir = app.stop().await;

    // Same database, same generated secret and signing key: the JWT still verifies.
    let mut settings = test_settings(&dir);
    settings.auth.base_url = Some("http://sigil.test".parse().unwrap());
    settings.common.database_url = db_url;
    let again = spawn_settings(settings, dir).await;
    let list = again
        .api(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            Some(&user.jwt),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(list.body[0]["title"], "Persist me");
    let inn = again.sign_in("bob@example.com", PASSWORD).await;
    assert_eq!(inn.status, StatusCode::OK);
}

#[tokio::test]
async fn the_official_cookie_flow_works_for_a_browser() {
    let app = spawn_app().await;
    let up = app.sign_up("Carol", "carol@example.com", PASSWORD).await;
    let cookie = up.cookies()[0].split(';').next().unwrap().to_owned();
    let session = app
        .request(
            Method::GET,
            "/api/auth/get-session",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(session.status, StatusCode::OK);
    assert_eq!(session.body["user"]["email"], "carol@example.com");
    assert_eq!(session.body["session"]["token"], up.body["token"]);
    assert_eq!(session.header("cache-control"), Some("no-store"));
    let jwt = session.header("set-auth-jwt").unwrap();
    assert_eq!(jwt_payload(jwt)["sub"], up.body["user"]["id"]);

    // A cookie-authenticated state change needs a trusted Origin.
    let no_origin = app
        .request(
            Method::POST,
            "/api/auth/sign-out",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(no_origin.status, StatusCode::FORBIDDEN);
    assert_eq!(no_origin.code(), "MISSING_OR_NULL_ORIGIN");
    let evil = app
        .request(
            Method::POST,
            "/api/auth/sign-out",
            &[("cookie", &cookie), ("origin", "https://evil.example")],
            None,
        )
        .await;
    assert_eq!(evil.code(), "INVALID_ORIGIN");
    let ok = app
        .request(
            Method::POST,
            "/api/auth/sign-out",
            &[("cookie", &cookie), ("origin", &app.url)],
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(
        ok.cookies()
            .iter()
            .any(|c| c.starts_with("better-auth.session_token=; Max-Age=0"))
    );
    let after = app
        .request(
            Method::GET,
            "/api/auth/get-session",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(after.body, serde_json::Value::Null);
}

#[tokio::test]
async fn deleting_an_account_erases_its_tasks() {
    let app = spawn_with(|s| {
        s.auth.jwt_alg = sigil_token::Algorithm::HS256;
        s.auth.jwt_secret = vec![HS_SECRET.into()];
    })
    .await;
    let user = app.user("wendy@example.com").await;
    let path = format!("/api/{}/tasks", user.id);
    for title in ["one", "two"] {
        app.api(
            Method::POST,
            &path,
            Some(&user.jwt),
            Some(json!({ "title": title })),
        )
        .await;
    }
    let deleted = app
        .request(
            Method::POST,
            "/api/auth/delete-user",
            &[("authorization", &format!("Bearer {}", user.session_token))],
            Some(json!({ "password": PASSWORD })),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);
    // The old JWT is refused (its session ended); a token freshly minted for the old id sees nothing.
    assert_eq!(
        app.api(Method::GET, &path, Some(&user.jwt), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let key =
        sigil_token::SigningKey::hmac(sigil_token::Algorithm::HS256, HS_SECRET.as_bytes(), None)
            .unwrap();
    let now = sigil_token::now_unix();
    let claims = sigil_token::Claims::new(&user.id, now, now + 60)
        .with_issuer(&app.base)
        .with_audience(&app.base);
    let minted = sigil_token::sign(&key, &claims).unwrap();
    let left = app.api(Method::GET, &path, Some(&minted), None).await;
    assert_eq!(left.status, StatusCode::OK);
    assert_eq!(left.body, json!([]), "the deleted user's tasks are gone");
}
