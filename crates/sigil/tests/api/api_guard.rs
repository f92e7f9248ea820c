//! The backend's guard on `/api/{user_id}/tasks`: 401 for every missing or invalid token, 403 for
//! another user's route, 404 for another user's task.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sigil::settings::Mode;
use sigil_token::{Algorithm, Claims, SigningKey};

fn assert_invalid_token(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
    let challenge = answer.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"sigil\""),
        "{challenge}"
    );
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(answer.body["code"].is_string() && answer.body["message"].is_string());
}

#[tokio::test]
async fn missing_and_malformed_tokens_get_401() {
    let app = spawn_app().await;
    let user = app.user("dave@example.com").await;
    let path = format!("/api/{}/tasks", user.id);

    let none = app.api(Method::GET, &path, None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"sigil\"")
    );
    assert_eq!(none.code(), "UNAUTHORIZED");

    for bad in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        &user.session_token,
    ] {
        assert_invalid_token(&app.api(Method::GET, &path, Some(bad), None).await);
    }
    // A tampered payload: same signature, another subject.
    let parts: Vec<&str> = user.jwt.split('.').collect();
    let mut claims = jwt_payload(&user.jwt);
    claims["sub"] = json!("admin");
    use base64::Engine;
    let forged_payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    assert_invalid_token(
        &app.api(Method::GET, "/api/admin/tasks", Some(&forged), None)
            .await,
    );

    // Tokens in the query string are ignored; two Authorization headers are refused.
    let query = app
        .request(
            Method::GET,
            &format!("{path}?access_token={}", user.jwt),
            &[],
            None,
        )
        .await;
    assert_eq!(query.status, StatusCode::UNAUTHORIZED);
    let twice = app
        .client
        .get(format!("{}{path}", app.url))
        .header("authorization", format!("Bearer {}", user.jwt))
        .header("authorization", format!("Bearer {}", user.jwt))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    assert!(
        twice.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_request")
    );
    // The scheme is case-insensitive.
    let lower = app
        .request(
            Method::GET,
            &path,
            &[("authorization", &format!("bearer {}", user.jwt))],
            None,
        )
        .await;
    assert_eq!(lower.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_signed_by_another_server_is_refused() {
    let one = spawn_app().await;
    let other = spawn_app().await;
    let user = other.user("eve@example.com").await;
    // Same user id on this server's route, valid token of the other server.
    let answer = one
        .api(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            Some(&user.jwt),
            None,
        )
        .await;
    assert_invalid_token(&answer);
}

#[tokio::test]
async fn another_users_route_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice@example.com").await;
    let mallory = app.user("mallory@example.com").await;
    let created = app
        .api(
            Method::POST,
            &format!("/api/{}/tasks", alice.id),
            Some(&alice.jwt),
            Some(json!({ "title": "Alice's" })),
        )
        .await;
    let task = created.body["id"].as_str().unwrap().to_owned();

    let alice_tasks = format!("/api/{}/tasks", alice.id);
    for (method, path, body) in [
        (Method::GET, alice_tasks.clone(), None),
        (
            Method::POST,
            alice_tasks.clone(),
            Some(json!({ "title": "injected" })),
        ),
        (Method::GET, format!("{alice_tasks}/{task}"), None),
        (
            Method::PUT,
            format!("{alice_tasks}/{task}"),
            Some(json!({ "title": "hijacked" })),
        ),
        (
            Method::PATCH,
            format!("{alice_tasks}/{task}/complete"),
            None,
        ),
        (Method::DELETE, format!("{alice_tasks}/{task}"), None),
    ] {
        let answer = app
            .api(method.clone(), &path, Some(&mallory.jwt), body)
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(answer.code(), "FORBIDDEN");
    }
    let list = app
        .api(Method::GET, &alice_tasks, Some(&alice.jwt), None)
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["title"], "Alice's");
    assert_eq!(list.body[0]["completed"], false);

    // Alice's task id under Mallory's own user id: not found, not forbidden (no existence leak).
    let mallory_path = format!("/api/{}/tasks/{task}", mallory.id);
    for method in [Method::GET, Method::DELETE] {
        let answer = app
            .api(method, &mallory_path, Some(&mallory.jwt), None)
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
    }
    let put = app
        .api(
            Method::PUT,
            &mallory_path,
            Some(&mallory.jwt),
            Some(json!({ "title": "x" })),
        )
        .await;
    assert_eq!(put.status, StatusCode::NOT_FOUND);
    let patch = app
        .api(
            Method::PATCH,
            &format!("{mallory_path}/complete"),
            Some(&mallory.jwt),
            None,
        )
        .await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn task_input_is_validated_and_nothing_partial_is_stored() {
    let app = spawn_app().await;
    let user = app.user("frank@example.com").await;
    let path = format!("/api/{}/tasks", user.id);
    let auth = format!("Bearer {}", user.jwt);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];

    let bad_json = app.raw(Method::POST, &path, &headers, "{\"title\": ").await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_json.code(), "INVALID_JSON");
    let text = app
        .raw(
            Method::POST,
            &path,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "text/plain"),
            ],
            "x",
        )
        .await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for body in [
        json!({}),
        json!({ "title": "" }),
        json!({ "title": "   " }),
        json!({ "title": "x".repeat(201) }),
        json!({ "title": 7 }),
        json!({ "title": "ok", "description": "d".repeat(1001) }),
        json!([1]),
    ] {
        let answer = app
            .api(Method::POST, &path, Some(&user.jwt), Some(body.clone()))
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(answer.code(), "VALIDATION_ERROR");
    }
    let ok = app
        .api(
            Method::POST,
            &path,
            Some(&user.jwt),
            Some(json!({ "title": "x".repeat(200), "user_id": "someone-else", "id": "chosen" })),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    assert_eq!(ok.body["user_id"], user.id.as_str());
    assert_ne!(ok.body["id"], "chosen");
    let list = app.api(Method::GET, &path, Some(&user.jwt), None).await;
    assert_eq!(
        list.body.as_array().unwrap().len(),
        1,
        "only the valid task exists"
    );
    let big = "x".repeat(70 * 1024);
    let too_large = app
        .api(
            Method::POST,
            &path,
            Some(&user.jwt),
            Some(json!({ "title": big })),
        )
        .await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// HS256 mode: the shared-secret flavour of the spec. Tokens can be crafted here with the secret,
/// which lets the test cover expiry, issuer and audience.
#[tokio::test]
async fn hs256_mode_flow_and_claim_checks() {
    let app = spawn_with(|s| {
        s.auth.jwt_alg = Algorithm::HS256;
        s.auth.jwt_secret = vec![HS_SECRET.into()];
    })
    .await;
    let user = app.user("grace@example.com").await;
    assert_eq!(jwt_header(&user.jwt)["alg"], "HS256");
    let path = format!("/api/{}/tasks", user.id);
    let created = app
        .api(
            Method::POST,
            &path,
            Some(&user.jwt),
            Some(json!({ "title": "HS task" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let jwks = app.request(Method::GET, "/api/auth/jwks", &[], None).await;
    assert_eq!(
        jwks.body,
        json!({ "keys": [] }),
        "a shared secret is never published"
    );

    let key = SigningKey::hmac(Algorithm::HS256, HS_SECRET.as_bytes(), None).unwrap();
    let now = sigil_token::now_unix();
    let make = |iss: &str, aud: &str, iat: u64, exp: u64| {
        let claims = Claims::new(&user.id, iat, exp)
            .with_issuer(iss)
            .with_audience(aud);
        sigil_token::sign(&key, &claims).unwrap()
    };
    let good = make(&app.url, &app.url, now, now + 60);
    assert_eq!(
        app.api(Method::GET, &path, Some(&good), None).await.status,
        StatusCode::OK
    );
    let expired = app
        .api(
            Method::GET,
            &path,
            Some(&make(&app.url, &app.url, now - 3600, now - 600)),
            None,
        )
        .await;
    assert_invalid_token(&expired);
    assert_eq!(expired.code(), "TOKEN_EXPIRED");
    assert_invalid_token(
        &app.api(
            Method::GET,
            &path,
            Some(&make("https://evil.example", &app.url, now, now + 60)),
            None,
        )
        .await,
    );
    assert_invalid_token(
        &app.api(
            Method::GET,
            &path,
            Some(&make(&app.url, "https://other-api", now, now + 60)),
            None,
        )
        .await,
    );
    let wrong_secret = SigningKey::hmac(
        Algorithm::HS256,
        b"another-secret-of-at-least-32-bytes!!",
        None,
    )
    .unwrap();
    let forged = sigil_token::sign(
        &wrong_secret,
        &Claims::new(&user.id, now, now + 60)
            .with_issuer(&app.url)
            .with_audience(&app.url),
    )
    .unwrap();
    assert_invalid_token(&app.api(Method::GET, &path, Some(&forged), None).await);
}

/// `serve-api` on its own, verifying the identity service's tokens through its JWKS URL.
#[tokio::test]
async fn split_api_verifies_tokens_through_the_jwks_url() {
    let auth = spawn_with(|s| s.mode = Mode::AuthOnly).await;
    let user = auth.user("heidi@example.com").await;
    let jwks_url = format!("{}/api/auth/jwks", auth.url);
    let api = spawn_with(|s| {
        s.mode = Mode::ApiOnly;
        s.api.jwks_url = Some(jwks_url.parse().unwrap());
    })
    .await;
    let path = format!("/api/{}/tasks", user.id);
    let created = api
        .api(
            Method::POST,
            &path,
            Some(&user.jwt),
            Some(json!({ "title": "split" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    // The auth-only process serves no tasks API.
    assert_eq!(
        auth.api(Method::GET, &path, Some(&user.jwt), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let stranger = spawn_app().await.user("ivan@example.com").await;
    assert_invalid_token(
        &api.api(
            Method::GET,
            &format!("/api/{}/tasks", stranger.id),
            Some(&stranger.jwt),
            None,
        )
        .await,
    );
}

/// CORS on `serve-api`: preflights answered for the configured origins only, never with
/// credentials (identity travels in the `Authorization` header).
#[tokio::test]
async fn the_split_api_answers_preflights_for_configured_origins_only_and_never_allows_credentials()
{
    let ui_origin = "http://127.0.0.1:4000";
    let api = spawn_with(|s| {
        s.mode = Mode::ApiOnly;
        s.api.jwt_secret = vec![HS_SECRET.into()];
        s.api.jwt_issuer = Some("http://auth.example".into());
        s.common.cors_origins = vec![ui_origin.into()];
    })
    .await;
    let app = &api;
    let preflight = |origin: &'static str| async move {
        let headers = [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,content-type",
            ),
        ];
        app.request(Method::OPTIONS, "/api/someone/tasks", &headers, None)
            .await
    };
    let allowed = preflight(ui_origin).await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(ui_origin)
    );
    let headers = allowed
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    assert!(
        allowed
            .header("access-control-allow-methods")
            .unwrap()
            .contains("PATCH")
    );
    assert_eq!(allowed.header("access-control-allow-credentials"), None);

    let refused = preflight("http://evil.example").await;
    assert_eq!(refused.header("access-control-allow-origin"), None);

    // An actual call: the origin is echoed, credentials are not allowed, the 401 is readable.
    let call = api
        .request(
            Method::GET,
            "/api/someone/tasks",
            &[("origin", ui_origin)],
            None,
        )
        .await;
    assert_eq!(call.status, StatusCode::UNAUTHORIZED);
    assert_eq!(call.header("access-control-allow-origin"), Some(ui_origin));
    assert_eq!(call.header("access-control-allow-credentials"), None);
}
