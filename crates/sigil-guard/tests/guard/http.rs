//! The guard as an axum application sees it: the `AuthUser` extractor, the `require_path_user`
//! layer and the RFC 6750 answers, driven through a real router.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::middleware;
use axum::routing::get;
use serde_json::{Value, json};
use sigil_guard::sigil_token::{self, Algorithm, KeySet, SigningKey, Validation, Verifier};
use sigil_guard::{AuthUser, Guard, SessionDenyList, require_path_user};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower::ServiceExt;

const ISS: &str = "https://auth.example";

struct Fixture {
    key: SigningKey,
    app: Router,
    handler_runs: Arc<AtomicUsize>,
    deny: Arc<SessionDenyList>,
}

fn fixture() -> Fixture {
    let key = SigningKey::generate(Algorithm::EdDSA, Some("k1".into())).unwrap();
    let keys = KeySet::try_from(vec![key.verifying_key()]).unwrap();
    let deny = Arc::new(SessionDenyList::new());
    let guard = Guard::from_verifier(Verifier::new(keys, Validation::new(ISS, ISS)))
        .with_revocation(deny.clone());
    let handler_runs = Arc::new(AtomicUsize::new(0));
    let runs = handler_runs.clone();
    let app = Router::new()
        .route(
            "/api/{user_id}/hello",
            get(move |user: AuthUser| async move {
                runs.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({
                    "user_id": user.user_id,
                    "email": user.email,
                    "name": user.name,
                    "session_id": user.session_id,
                    "role": user.claims.extra.get("role"),
                }))
            }),
        )
        .route_layer(middleware::from_fn_with_state(
            guard.clone(),
            require_path_user,
        ))
        .route("/me", get(|user: AuthUser| async move { user.user_id }))
        .with_state(guard);
    Fixture {
        key,
        app,
        handler_runs,
        deny,
    }
}

fn claims(sub: &str) -> Value {
    let now = sigil_token::now_unix();
    json!({
        "sub": sub, "iss": ISS, "aud": ISS, "iat": now, "exp": now + 600,
        "email": format!("{sub}@example.com"), "name": "Alice", "sid": "session-1", "role": "admin"
    })
}

struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    cache_control: Option<String>,
    body: Value,
}

async fn call(app: &Router, path: &str, authorization: &[&str]) -> Reply {
    let mut request = Request::builder().uri(path);
    for value in authorization {
        request = request.header(header::AUTHORIZATION, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let text = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let challenge = text(header::WWW_AUTHENTICATE);
    let cache_control = text(header::CACHE_CONTROL);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        challenge,
        cache_control,
        body,
    }
}

const INVALID: &str = r#"Bearer realm="sigil", error="invalid_token", error_description="the access token is invalid""#;

#[tokio::test]
async fn the_owner_gets_through_with_every_claim() {
    let f = fixture();
    let t = sigil_token::sign(&f.key, &claims("alice")).unwrap();
    let r = call(&f.app, "/api/alice/hello", &[&format!("Bearer {t}")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"user_id":"alice","email":"alice@example.com","name":"Alice","session_id":"session-1","role":"admin"})
    );
    // The scheme is case-insensitive and may be followed by several spaces (RFC 6750 §2.1).
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let r = call(&f.app, "/api/alice/hello", &[&format!("{scheme}   {t}")]).await;
        assert_eq!(r.status, StatusCode::OK, "{scheme}");
    }
    // The once-decoded path segment is compared.
    let r = call(&f.app, "/api/al%69ce/hello", &[&format!("Bearer {t}")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(f.handler_runs.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn no_credentials_get_a_bare_challenge() {
    let f = fixture();
    let t = sigil_token::sign(&f.key, &claims("alice")).unwrap();
    for (path, auth) in [
        ("/api/alice/hello", vec![]),
        ("/me", vec![]),
        // A token in the query string is never read (RFC 6750 §2.3 is not supported).
        (&*format!("/api/alice/hello?access_token={t}"), vec![]),
        // Another scheme is "no bearer credentials".
        ("/api/alice/hello", vec!["Basic YWxpY2U6c2VjcmV0"]),
    ] {
        let r = call(&f.app, path, &auth).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path} {auth:?}");
        assert_eq!(r.challenge.as_deref(), Some(r#"Bearer realm="sigil""#));
        assert_eq!(r.cache_control.as_deref(), Some("no-store"));
        assert_eq!(r.body["code"], "UNAUTHORIZED");
    }
    assert_eq!(f.handler_runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn bad_tokens_get_invalid_token() {
    let f = fixture();
    let other = SigningKey::generate(Algorithm::EdDSA, Some("k1".into())).unwrap();
    let now = sigil_token::now_unix();
    let mut expired = claims("alice");
    expired["exp"] = json!(now - 120);
    expired["iat"] = json!(now - 900);
    let mut wrong_aud = claims("alice");
    wrong_aud["aud"] = json!("https://other.example");
    let good = sigil_token::sign(&f.key, &claims("alice")).unwrap();
    let cases = [
        ("garbage", "Bearer not-a-jwt".to_owned()),
        ("empty", "Bearer ".to_owned()),
        ("comma", format!("Bearer {good},x")),
        (
            "other key",
            format!(
                "Bearer {}",
                sigil_token::sign(&other, &claims("alice")).unwrap()
            ),
        ),
        (
            "wrong audience",
            format!("Bearer {}", sigil_token::sign(&f.key, &wrong_aud).unwrap()),
        ),
        ("too large", format!("Bearer {}", "a".repeat(9000))),
        (
            "alg none",
            format!(
                "Bearer eyJhbGciOiJub25lIn0.{}.",
                good.split('.').nth(1).unwrap()
            ),
        ),
    ];
    for (what, auth) in &cases {
        let r = call(&f.app, "/api/alice/hello", &[auth]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(r.challenge.as_deref(), Some(INVALID), "{what}");
        assert_eq!(r.body["code"], "INVALID_TOKEN", "{what}");
        assert!(!r.body.to_string().contains(&good[..20]), "{what}: no echo");
    }
    let r = call(
        &f.app,
        "/api/alice/hello",
        &[&format!(
            "Bearer {}",
            sigil_token::sign(&f.key, &expired).unwrap()
        )],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.challenge.as_deref(),
        Some(
            r#"Bearer realm="sigil", error="invalid_token", error_description="the access token expired""#
        )
    );
    assert_eq!(r.body["code"], "TOKEN_EXPIRED");
    assert_eq!(f.handler_runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn two_authorization_headers_are_an_invalid_request() {
    let f = fixture();
    let t = sigil_token::sign(&f.key, &claims("alice")).unwrap();
    let auth = format!("Bearer {t}");
    let r = call(&f.app, "/api/alice/hello", &[&auth, &auth]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.challenge
            .as_deref()
            .unwrap()
            .contains(r#"error="invalid_request""#)
    );
    assert_eq!(f.handler_runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn another_users_route_is_403_before_the_handler_runs() {
    let f = fixture();
    let t = sigil_token::sign(&f.key, &claims("mallory")).unwrap();
    for path in [
        "/api/alice/hello",
        "/api/Mallory/hello",
        "/api/mallory%20/hello",
        "/api/mallory%2F/hello",
    ] {
        let r = call(&f.app, path, &[&format!("Bearer {t}")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(r.challenge, None);
        assert_eq!(r.body["code"], "FORBIDDEN");
    }
    assert_eq!(f.handler_runs.load(Ordering::SeqCst), 0);
    // The extractor alone (no path check) accepts the token for its own identity.
    let r = call(&f.app, "/me", &[&format!("Bearer {t}")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!("mallory"));
}

#[tokio::test]
async fn a_signed_out_sessions_tokens_are_refused() {
    let f = fixture();
    let t = sigil_token::sign(&f.key, &claims("alice")).unwrap();
    let auth = format!("Bearer {t}");
    assert_eq!(
        call(&f.app, "/api/alice/hello", &[&auth]).await.status,
        StatusCode::OK
    );
    f.deny.insert("session-1", sigil_token::now_unix() + 600);
    let r = call(&f.app, "/api/alice/hello", &[&auth]).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "even from the token cache"
    );
    assert!(
        r.challenge
            .as_deref()
            .unwrap()
            .contains("the session was signed out")
    );
    assert_eq!(f.handler_runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_guard_whose_revocation_feed_is_behind_answers_503_until_it_catches_up() {
    use sigil_guard::feed::{FeedStatus, FreshDenyList};
    let key = SigningKey::generate(Algorithm::EdDSA, Some("k1".into())).unwrap();
    let keys = KeySet::try_from(vec![key.verifying_key()]).unwrap();
    let deny = Arc::new(SessionDenyList::new());
    let status = Arc::new(FeedStatus::new(std::time::Duration::from_secs(60)));
    let guard = Guard::from_verifier(Verifier::new(keys, Validation::new(ISS, ISS)))
        .with_revocation(Arc::new(FreshDenyList::new(deny.clone(), status.clone())));
    let app = Router::new()
        .route("/me", get(|user: AuthUser| async move { user.user_id }))
        .with_state(guard);
    let t = sigil_token::sign(&key, &claims("alice")).unwrap();
    let auth = format!("Bearer {t}");

    // Never read: a sign-out may be unknown here, so no token is vouched for.
    let request = || {
        Request::builder()
            .uri("/me")
            .header(header::AUTHORIZATION, &auth)
            .body(Body::empty())
            .unwrap()
    };
    let response = app.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers().get(header::RETRY_AFTER).unwrap(),
        "1",
        "503 says when to retry"
    );
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");

    // A bad token is still a 401, whatever the feed.
    let bad = call(&app, "/me", &["Bearer not.a.token"]).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);

    // Caught up: accepted; a revoked session: 401.
    status.record_success(std::time::Instant::now(), 1);
    assert_eq!(call(&app, "/me", &[&auth]).await.status, StatusCode::OK);
    deny.insert("session-1", sigil_token::now_unix() + 600);
    assert_eq!(
        call(&app, "/me", &[&auth]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_verified_token_cache_counts_its_hits_and_misses() {
    let key = SigningKey::generate(Algorithm::EdDSA, Some("k1".into())).unwrap();
    let keys = KeySet::try_from(vec![key.verifying_key()]).unwrap();
    let guard = Guard::from_verifier(Verifier::new(keys.clone(), Validation::new(ISS, ISS)));
    let t1 = sigil_token::sign(&key, &claims("alice")).unwrap();
    let t2 = sigil_token::sign(&key, &claims("bob")).unwrap();
    assert_eq!(guard.cache_stats().unwrap().hits, 0);
    guard.verify(&t1).await.unwrap(); // miss, then cached
    guard.verify(&t1).await.unwrap(); // hit
    guard.verify(&t1).await.unwrap(); // hit
    guard.verify(&t2).await.unwrap(); // miss
    assert!(guard.verify("not.a.token").await.is_err()); // miss, not cached
    let stats = guard.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (2, 3));
    assert!((stats.hit_rate() - 0.4).abs() < 1e-9);
    // Without a cache there is nothing to count.
    let uncached =
        Guard::from_verifier_with_cache(Verifier::new(keys, Validation::new(ISS, ISS)), None);
    uncached.verify(&t1).await.unwrap();
    assert_eq!(uncached.cache_stats(), None);
}
