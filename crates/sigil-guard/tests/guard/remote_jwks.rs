//! The remote JWKS against a real HTTP server on 127.0.0.1: rotation, removal, unknown `kid`s,
//! an endpoint that fails, answers garbage or goes away, a first fetch that fails, Cache-Control
//! and redirects. Freshness and the refetch intervals read a `ManualClock` (through
//! `RemoteJwksOptions::clock`) that the tests move forward: no test sleeps for time to pass. The
//! only waits are bounded polls for an external event: the test server answering a background
//! fetch, or shutting down.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sigil_guard::clock::ManualClock;
use sigil_guard::sigil_token::{self, Algorithm, JwkSet, SigningKey, Validation, VerifyError};
use sigil_guard::{Guard, GuardError, RemoteJwks, RemoteJwksOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use url::Url;

const ISS: &str = "https://auth.example";

/// What the test server answers on `/jwks`.
#[derive(Clone)]
enum Answer {
    Keys(Vec<Arc<SigningKey>>),
    Status(u16),
    Garbage,
    Huge,
    Redirect,
}

struct ServerState {
    answer: Mutex<Answer>,
    cache_control: Mutex<Option<String>>,
    requests: AtomicUsize,
}

/// A JWKS endpoint the test controls.
struct JwksServer {
    url: Url,
    state: Arc<ServerState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    stopped: Option<tokio::task::JoinHandle<()>>,
}

impl JwksServer {
    async fn start(answer: Answer) -> JwksServer {
        let state = Arc::new(ServerState {
            answer: Mutex::new(answer),
            cache_control: Mutex::new(None),
            requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/jwks", get(serve_jwks))
            .route("/elsewhere", get(serve_jwks))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/jwks", listener.local_addr().unwrap())).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stopped = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        JwksServer {
            url,
            state,
            shutdown: Some(tx),
            stopped: Some(stopped),
        }
    }

    fn answer(&self, answer: Answer) {
        *self.state.answer.lock().unwrap() = answer;
    }

    fn publish(&self, keys: &[&Arc<SigningKey>]) {
        self.answer(Answer::Keys(keys.iter().map(|k| Arc::clone(k)).collect()));
    }

    fn cache_control(&self, value: &str) {
        *self.state.cache_control.lock().unwrap() = Some(value.to_owned());
    }

    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Stops the server: the port refuses connections from now on.
    async fn go_away(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The server task ends once the listener is closed (bounded: an external event).
        if let Some(stopped) = self.stopped.take() {
            tokio::time::timeout(Duration::from_secs(10), stopped)
                .await
                .expect("the test server stops")
                .unwrap();
        }
    }
}

async fn serve_jwks(State(state): State<Arc<ServerState>>) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let answer = state.answer.lock().unwrap().clone();
    let mut headers = HeaderMap::new();
    if let Some(cc) = state.cache_control.lock().unwrap().as_deref() {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(cc).unwrap());
    }
    match answer {
        Answer::Keys(keys) => {
            let set = JwkSet {
                keys: keys
                    .iter()
                    .map(|k| k.verifying_key().to_jwk().unwrap())
                    .collect(),
            };
            (headers, axum::Json(set)).into_response()
        }
        Answer::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Answer::Garbage => (headers, "<html>not a key set</html>").into_response(),
        Answer::Huge => {
            let padding = "x".repeat(512 * 1024);
            (headers, format!(r#"{{"keys":[],"padding":"{padding}"}}"#)).into_response()
        }
        Answer::Redirect => (
            StatusCode::FOUND,
            [(header::LOCATION, HeaderValue::from_static("/elsewhere"))],
        )
            .into_response(),
    }
}

fn key(alg: Algorithm, kid: &str) -> Arc<SigningKey> {
    Arc::new(SigningKey::generate(alg, Some(kid.to_owned())).unwrap())
}

fn token(key: &SigningKey, sub: &str) -> String {
    let now = sigil_token::now_unix();
    let claims = json!({"sub": sub, "iss": ISS, "aud": ISS, "iat": now, "exp": now + 600});
    sigil_token::sign(key, &claims).unwrap()
}

const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(30);
const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// The production intervals' order of magnitude, on a clock the test moves.
fn options(clock: &ManualClock) -> RemoteJwksOptions {
    RemoteJwksOptions {
        default_ttl: Duration::from_secs(60),
        min_ttl: Duration::ZERO,
        unknown_kid_interval: UNKNOWN_KID_INTERVAL,
        retry_interval: RETRY_INTERVAL,
        timeout: Duration::from_secs(2),
        clock: clock.shared(),
        ..RemoteJwksOptions::default()
    }
}

async fn guard(server: &JwksServer, options: RemoteJwksOptions) -> Guard {
    let remote = RemoteJwks::start(server.url.clone(), Validation::new(ISS, ISS), options)
        .await
        .unwrap();
    Guard::from_remote(remote)
}

fn token_error(result: Result<sigil_guard::AuthUser, GuardError>) -> VerifyError {
    match result {
        Err(GuardError::Token(e)) => e,
        other => panic!("expected a token refusal, got {other:?}"),
    }
}

/// Waits until a background fetch has completed and been stored: `n` fetch attempts in all.
/// A bounded poll for an external event (the test server's answer), not a wait for time.
async fn until_fetched(remote: &RemoteJwks, n: u64) {
    for _ in 0..500 {
        if remote.fetch_count() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} JWKS fetches, saw {}", remote.fetch_count());
}

/// Gives a fetch that should NOT have been started the chance to show up at the test server
/// (a bounded wait for an external event that must not happen).
async fn no_fetch_started() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn rotation_keeps_old_tokens_while_published_and_drops_removed_keys() {
    let old = key(Algorithm::EdDSA, "2026-01");
    let new = key(Algorithm::EdDSA, "2026-02");
    let server = JwksServer::start(Answer::Keys(vec![old.clone()])).await;
    let clock = ManualClock::starting_now();
    let guard = guard(
        &server,
        RemoteJwksOptions {
            default_ttl: Duration::from_secs(300),
            ..options(&clock)
        },
    )
    .await;
    assert_eq!(server.requests(), 1, "fetched once at start");
    let old_token = token(&old, "alice");
    assert_eq!(guard.verify(&old_token).await.unwrap().user_id, "alice");
    assert_eq!(guard.verify(&old_token).await.unwrap().user_id, "alice");

    // The issuer publishes the next key and starts signing with it: the first token with the
    // new kid triggers one refetch, and old tokens keep verifying while the old key is listed.
    server.publish(&[&old, &new]);
    let new_token = token(&new, "bob");
    assert_eq!(guard.verify(&new_token).await.unwrap().user_id, "bob");
    assert_eq!(server.requests(), 2);
    assert_eq!(guard.verify(&old_token).await.unwrap().user_id, "alice");

    // The old key is withdrawn. Once the set is stale a request refreshes it in the background;
    // from then on the old token is refused although it was in the verified-token cache.
    server.publish(&[&new]);
    clock.advance(Duration::from_secs(301));
    assert!(guard.verify(&new_token).await.is_ok());
    until_fetched(&remote_of(&guard), 3).await;
    assert_eq!(server.requests(), 3);
    clock.advance(UNKNOWN_KID_INTERVAL); // past the unknown-kid interval
    assert_eq!(
        token_error(guard.verify(&old_token).await),
        VerifyError::UnknownKey
    );
    assert!(guard.verify(&new_token).await.is_ok());
}

#[tokio::test]
async fn a_kid_republished_with_other_material_drops_cached_tokens() {
    let original = key(Algorithm::ES256, "k1");
    let replacement = key(Algorithm::ES256, "k1");
    let server = JwksServer::start(Answer::Keys(vec![original.clone()])).await;
    let guard = guard(&server, options(&ManualClock::starting_now())).await;
    let t = token(&original, "alice");
    assert!(guard.verify(&t).await.is_ok(), "verified and cached");

    server.publish(&[&replacement]);
    remote_of(&guard).refresh().await.unwrap();
    assert_eq!(
        token_error(guard.verify(&t).await),
        VerifyError::BadSignature,
        "the cache must not outlive the key it was filled under"
    );
    assert!(guard.verify(&token(&replacement, "bob")).await.is_ok());
}

/// The remote set behind a guard (tests build both; keep a handle).
fn remote_of(guard: &Guard) -> RemoteJwks {
    guard.remote_jwks().cloned().expect("a remote guard")
}

#[tokio::test]
async fn forged_kids_cause_at_most_one_fetch_per_interval() {
    let real = key(Algorithm::EdDSA, "real");
    let server = JwksServer::start(Answer::Keys(vec![real.clone()])).await;
    let clock = ManualClock::starting_now();
    let guard = guard(&server, options(&clock)).await;
    assert_eq!(server.requests(), 1);

    // 100 concurrent tokens with 100 different unknown kids: one refetch, all refused.
    let forged: Vec<String> = (0..100)
        .map(|i| token(&key(Algorithm::EdDSA, &format!("forged-{i}")), "mallory"))
        .collect();
    let tasks: Vec<_> = forged
        .iter()
        .cloned()
        .map(|t| {
            let guard = guard.clone();
            tokio::spawn(async move { guard.verify(&t).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(token_error(task.await.unwrap()), VerifyError::UnknownKey);
    }
    assert_eq!(server.requests(), 2, "one refetch for 100 forged kids");

    // More within the interval: no request at all.
    for t in &forged {
        assert_eq!(token_error(guard.verify(t).await), VerifyError::UnknownKey);
    }
    assert_eq!(server.requests(), 2);

    // A genuinely new key published inside the interval waits for the next one.
    let next = key(Algorithm::EdDSA, "next");
    server.publish(&[&real, &next]);
    let next_token = token(&next, "alice");
    assert_eq!(
        token_error(guard.verify(&next_token).await),
        VerifyError::UnknownKey
    );
    assert_eq!(server.requests(), 2);
    clock.advance(UNKNOWN_KID_INTERVAL - Duration::from_millis(1));
    assert_eq!(
        token_error(guard.verify(&next_token).await),
        VerifyError::UnknownKey,
        "1 ms before the interval ends"
    );
    assert_eq!(server.requests(), 2);
    clock.advance(Duration::from_millis(1));
    assert!(guard.verify(&next_token).await.is_ok());
    assert_eq!(server.requests(), 3);
    // Tokens with an algorithm the set cannot hold never cause a fetch.
    let hs = SigningKey::hmac(Algorithm::HS256, &[7u8; 32], Some("hs".into())).unwrap();
    clock.advance(UNKNOWN_KID_INTERVAL);
    assert_eq!(
        token_error(guard.verify(&token(&hs, "mallory")).await),
        VerifyError::AlgorithmNotAllowed
    );
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn cached_keys_keep_serving_while_the_endpoint_fails_or_disappears() {
    let k = key(Algorithm::RS256, "rsa");
    let mut server = JwksServer::start(Answer::Keys(vec![k.clone()])).await;
    let clock = ManualClock::starting_now();
    let guard = guard(
        &server,
        RemoteJwksOptions {
            default_ttl: RETRY_INTERVAL,
            ..options(&clock)
        },
    )
    .await;
    let remote = remote_of(&guard);
    let t = token(&k, "alice");
    assert!(guard.verify(&t).await.is_ok());

    for (answer, what) in [
        (Answer::Status(500), "500"),
        (Answer::Status(404), "404"),
        (Answer::Garbage, "garbage"),
        (Answer::Huge, "huge body"),
        (Answer::Keys(vec![]), "empty set"),
        (Answer::Redirect, "redirect"),
    ] {
        server.answer(answer);
        let before = remote.fetch_count();
        clock.advance(RETRY_INTERVAL);
        assert!(guard.verify(&t).await.is_ok(), "{what}: stale keys served");
        until_fetched(&remote, before + 1).await;
        assert!(
            guard.verify(&t).await.is_ok(),
            "{what}: after a failed refresh"
        );
        assert!(
            guard.verify(&token(&k, "bob")).await.is_ok(),
            "{what}: uncached token"
        );
    }

    server.go_away().await;
    let before = remote.fetch_count();
    clock.advance(RETRY_INTERVAL);
    assert!(guard.verify(&t).await.is_ok(), "endpoint gone: cached keys");
    until_fetched(&remote, before + 1).await;
    clock.advance(RETRY_INTERVAL);
    assert!(guard.verify(&token(&k, "carol")).await.is_ok());
}

#[tokio::test]
async fn a_failed_first_fetch_answers_401_then_recovers() {
    let k = key(Algorithm::EdDSA, "k");
    let server = JwksServer::start(Answer::Status(503)).await;
    let clock = ManualClock::starting_now();
    let guard = guard(&server, options(&clock)).await;
    assert_eq!(server.requests(), 1);
    let t = token(&k, "alice");

    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
    );
    let rejection = guard.authenticate(&headers).await.unwrap_err();
    assert_eq!(rejection.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(rejection.error(), Some(&GuardError::NoKeys));
    let response = rejection.into_response();
    assert!(
        response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );

    // 50 concurrent requests after the retry interval share one fetch.
    server.publish(&[&k]);
    clock.advance(RETRY_INTERVAL);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (guard, t) = (guard.clone(), t.clone());
            tokio::spawn(async move { guard.verify(&t).await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(GuardError::NoKeys) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(ok >= 1, "the fetching request and those after it succeed");
    assert_eq!(server.requests(), 2, "one fetch for 50 concurrent requests");
    assert!(guard.verify(&t).await.is_ok());
}

#[tokio::test]
async fn no_keys_are_retried_no_more_often_than_the_retry_interval() {
    let server = JwksServer::start(Answer::Garbage).await;
    let clock = ManualClock::starting_now();
    let guard = guard(&server, options(&clock)).await;
    let t = token(&key(Algorithm::EdDSA, "k"), "alice");
    for _ in 0..20 {
        assert_eq!(guard.verify(&t).await.unwrap_err(), GuardError::NoKeys);
    }
    assert_eq!(server.requests(), 1, "inside the retry interval: no fetch");
    clock.advance(RETRY_INTERVAL - Duration::from_millis(1));
    assert_eq!(guard.verify(&t).await.unwrap_err(), GuardError::NoKeys);
    assert_eq!(
        server.requests(),
        1,
        "1 ms before the retry interval ends: no fetch"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(guard.verify(&t).await.unwrap_err(), GuardError::NoKeys);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn cache_control_max_age_sets_the_refresh_time() {
    let k = key(Algorithm::EdDSA, "k");
    let server = JwksServer::start(Answer::Keys(vec![k.clone()])).await;
    server.cache_control("public, max-age=10");
    let clock = ManualClock::starting_now();
    let guard = guard(&server, options(&clock)).await; // default TTL 60 s
    let t = token(&k, "alice");
    assert!(guard.verify(&t).await.is_ok());
    clock.advance(Duration::from_millis(9_999));
    assert!(guard.verify(&t).await.is_ok());
    no_fetch_started().await;
    assert_eq!(server.requests(), 1, "still fresh 1 ms before max-age");
    clock.advance(Duration::from_millis(1));
    assert!(guard.verify(&t).await.is_ok());
    until_fetched(&remote_of(&guard), 2).await;
    assert_eq!(server.requests(), 2);

    // Without Cache-Control the default TTL applies (60 s here): no refetch.
    let server = JwksServer::start(Answer::Keys(vec![k.clone()])).await;
    let clock = ManualClock::starting_now();
    let guard = self::guard(&server, options(&clock)).await;
    clock.advance(Duration::from_secs(59));
    assert!(guard.verify(&t).await.is_ok());
    no_fetch_started().await;
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let k = key(Algorithm::EdDSA, "k");
    let server = JwksServer::start(Answer::Redirect).await;
    let guard = guard(&server, options(&ManualClock::starting_now())).await;
    assert_eq!(
        guard.verify(&token(&k, "alice")).await.unwrap_err(),
        GuardError::NoKeys
    );
    assert_eq!(
        server.requests(),
        1,
        "the redirect target was never fetched"
    );
}
