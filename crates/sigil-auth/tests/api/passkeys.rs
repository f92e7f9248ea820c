//! Passkeys over Better Auth's passkey plugin protocol, against a real server on port 0 with a
//! software authenticator (`authenticator.rs`): registration, sign-in with a passkey alone, list,
//! rename, delete, and the refusals (replayed and expired challenges, wrong origin and rp id, a
//! counter going backwards, another user's credential or challenge, a registration without user
//! verification, another user's passkey).

use crate::authenticator::{Claims, SoftKey};
use crate::helpers::*;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// A server whose base URL is `http://localhost:<port>` (browsers refuse an IP address as rp id);
/// the test client's `http://127.0.0.1:<port>` origin stays trusted for the CSRF check.
pub(crate) async fn localhost_server() -> (Server, String) {
    let mut origin = String::new();
    let s = server_with(|config| {
        let ip_origin = config.origin();
        config.base_url.set_host(Some("localhost")).unwrap();
        config.trusted_origins.push(ip_origin);
        origin = config.origin();
    })
    .await;
    (s, origin)
}

pub(crate) fn honest(origin: &str) -> Claims {
    Claims::honest(origin, "localhost")
}

/// `name=value` of the challenge cookie an options answer sets.
pub(crate) fn challenge_cookie(a: &Answer) -> String {
    a.cookies()
        .into_iter()
        .find(|c| c.starts_with("better-auth.better-auth-passkey=") && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no challenge cookie in {:?}", a.cookies()))
}

/// A call carrying `cookie` (and the trusted origin a browser would send with it).
pub(crate) async fn call(
    s: &Server,
    method: Method,
    path: &str,
    who: &As,
    body: Option<Value>,
    cookie: Option<&str>,
) -> Answer {
    let mut extra = vec![("origin", s.url.as_str())];
    if let Some(c) = cookie {
        extra.push(("cookie", c));
    }
    s.call_with(method, path, who, body, &extra).await
}

/// Registration options for `who`, and their challenge cookie.
async fn register_options(s: &Server, who: &As) -> (Value, String) {
    let a = call(
        s,
        Method::GET,
        "/passkey/generate-register-options",
        who,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let cookie = challenge_cookie(&a);
    (a.body, cookie)
}

async fn verify_registration(s: &Server, who: &As, cookie: &str, response: Value) -> Answer {
    call(
        s,
        Method::POST,
        "/passkey/verify-registration",
        who,
        Some(json!({ "response": response, "name": "Laptop" })),
        Some(cookie),
    )
    .await
}

/// Registers a new software passkey for `who`.
pub(crate) async fn register(s: &Server, origin: &str, who: &As) -> SoftKey {
    let mut key = SoftKey::new();
    let (options, cookie) = register_options(s, who).await;
    let response = key.register(&options, &honest(origin));
    let a = verify_registration(s, who, &cookie, response).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    key
}

/// Sign-in options (for `who`, or for nobody), and their challenge cookie.
pub(crate) async fn sign_in_options(s: &Server, who: &As) -> (Value, String) {
    let a = call(
        s,
        Method::GET,
        "/passkey/generate-authenticate-options",
        who,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let cookie = challenge_cookie(&a);
    (a.body, cookie)
}

pub(crate) async fn verify_authentication(s: &Server, cookie: &str, response: Value) -> Answer {
    call(
        s,
        Method::POST,
        "/passkey/verify-authentication",
        &As::Nobody,
        Some(json!({ "response": response })),
        Some(cookie),
    )
    .await
}

pub(crate) async fn list(s: &Server, who: &As) -> Vec<Value> {
    let a = s
        .call(Method::GET, "/passkey/list-user-passkeys", who, None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body.as_array().unwrap().clone()
}

/// How many live sessions `email`'s account has.
pub(crate) async fn sessions_of(s: &Server, who: &As) -> usize {
    let a = s.call(Method::GET, "/list-sessions", who, None).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    a.body.as_array().unwrap().len()
}

fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn register_sign_in_with_the_passkey_alone_rename_and_delete() {
    let (s, origin) = localhost_server().await;
    let ada = s.session("ada@example.com").await;

    // Registration options: Better Auth's shape, rp id = the base URL's host.
    let (options, cookie) = register_options(&s, &ada).await;
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "ada@example.com");
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    assert!(options["challenge"].as_str().unwrap().len() >= 43);
    assert!(
        cookie.contains('.'),
        "the challenge cookie is signed: {cookie}"
    );
    let mut key = SoftKey::new();
    let a = verify_registration(&s, &ada, &cookie, key.register(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["name"], "Laptop");
    assert_eq!(a.body["credentialID"], key.id());
    assert_eq!(a.body["deviceType"], "singleDevice");
    assert_eq!(a.body["transports"], "internal,hybrid");
    assert_eq!(a.body["counter"], 0);
    let passkey_id = a.body["id"].as_str().unwrap().to_owned();
    assert!(
        a.cookies()
            .iter()
            .any(|c| c.starts_with("better-auth.better-auth-passkey=;") && c.contains("Max-Age=0"))
    );

    let listed = list(&s, &ada).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], passkey_id.as_str());

    // Registering the same authenticator again is refused (excludeCredentials).
    let (options, cookie) = register_options(&s, &ada).await;
    assert_eq!(options["excludeCredentials"][0]["id"], key.id());
    let a = verify_registration(&s, &ada, &cookie, key.register(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(a.code(), "FAILED_TO_VERIFY_REGISTRATION");
    assert_eq!(list(&s, &ada).await.len(), 1);

    // Sign in with the passkey alone: no session, no credential named in the options.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    assert_eq!(options["rpId"], "localhost");
    assert!(options.get("allowCredentials").is_none(), "{options}");
    assert_eq!(options["userVerification"], "required");
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["user"]["email"], "ada@example.com");
    let token = a.body["session"]["token"].as_str().unwrap().to_owned();
    let session_id = a.body["session"]["id"].as_str().unwrap().to_owned();
    assert!(a.session_cookie().is_some(), "{:?}", a.cookies());
    assert!(a.header("set-auth-token").is_some());

    // It is a normal session: get-session, a JWT carrying its sid, and sign-out ends it.
    let by_passkey = As::Bearer(token.clone());
    let got = s.get_session(&by_passkey).await;
    assert_eq!(got.body["session"]["id"], session_id.as_str());
    let jwt = s.call(Method::GET, "/token", &by_passkey, None).await;
    assert_eq!(jwt.status, StatusCode::OK);
    let claims = jwt_claims(jwt.body["token"].as_str().unwrap());
    assert_eq!(claims["sid"], session_id.as_str());
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(list(&s, &ada).await[0]["counter"], 0);

    // The counter the authenticator reported is stored; the next sign-in moves it on.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(list(&s, &ada).await[0]["counter"], 1);

    s.post("/sign-out", &by_passkey, json!({})).await;
    assert_eq!(s.get_session(&by_passkey).await.body, Value::Null);

    // Rename, then delete.
    let a = s
        .post(
            "/passkey/update-passkey",
            &ada,
            json!({ "id": passkey_id, "name": "  Work laptop " }),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["passkey"]["name"], "Work laptop");
    let a = s
        .post(
            "/passkey/update-passkey",
            &ada,
            json!({ "id": passkey_id, "name": "  " }),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.code(), "VALIDATION_ERROR");
    assert_eq!(list(&s, &ada).await[0]["name"], "Work laptop");

    let a = s
        .post("/passkey/delete-passkey", &ada, json!({ "id": passkey_id }))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body, json!({ "status": true }));
    assert!(list(&s, &ada).await.is_empty());

    // A deleted passkey signs nobody in.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
    assert_eq!(a.code(), "PASSKEY_NOT_FOUND");
}

#[tokio::test]
async fn a_challenge_is_single_use_short_lived_and_bound_to_its_cookie() {
    let (s, origin) = localhost_server().await;
    let ada = s.session("ada@example.com").await;
    let mut key = register(&s, &origin, &ada).await;
    key.counting = true;
    let before = sessions_of(&s, &ada).await;

    // Replay: the same answer and cookie a second time.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let response = key.assert(&options, &honest(&origin));
    let a = verify_authentication(&s, &cookie, response.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let again = verify_authentication(&s, &cookie, response).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{:?}", again.body);
    assert_eq!(again.code(), "CHALLENGE_NOT_FOUND");
    assert!(again.session_cookie().is_none());
    assert_eq!(sessions_of(&s, &ada).await, before + 1);

    // A failed answer uses the challenge up too: a corrected second try needs new options.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let evil = Claims::honest("http://evil.example", "localhost");
    let a = verify_authentication(&s, &cookie, key.assert(&options, &evil)).await;
    assert_eq!(a.code(), "AUTHENTICATION_FAILED");
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.code(), "CHALLENGE_NOT_FOUND");

    // Expiry: five minutes by the service's clock.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    s.clock.advance(Duration::from_secs(5 * 60 + 1));
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(a.code(), "CHALLENGE_NOT_FOUND");

    // No cookie, a forged cookie, another browser's cookie.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let response = key.assert(&options, &honest(&origin));
    let a = call(
        &s,
        Method::POST,
        "/passkey/verify-authentication",
        &As::Nobody,
        Some(json!({ "response": response })),
        None,
    )
    .await;
    assert_eq!(a.code(), "CHALLENGE_NOT_FOUND");
    let (value, _) = cookie.split_once('.').unwrap();
    let forged = format!("{value}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D");
    let a = verify_authentication(&s, &forged, response.clone()).await;
    assert_eq!(a.code(), "CHALLENGE_NOT_FOUND");
    let (_, other_cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &other_cookie, response).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(
        a.code(),
        "AUTHENTICATION_FAILED",
        "another challenge was signed"
    );
    assert_eq!(sessions_of(&s, &ada).await, before + 1);

    // A sign-in challenge cannot finish a registration, nor the reverse.
    let (_, auth_cookie) = sign_in_options(&s, &ada).await;
    let (reg_options, _) = register_options(&s, &ada).await;
    let a = verify_registration(
        &s,
        &ada,
        &auth_cookie,
        SoftKey::new().register(&reg_options, &honest(&origin)),
    )
    .await;
    assert_eq!(a.code(), "CHALLENGE_NOT_FOUND");
    let (_, reg_cookie) = register_options(&s, &ada).await;
    let (options, _) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &reg_cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.code(), "CHALLENGE_NOT_FOUND");
}

#[tokio::test]
async fn wrong_origin_rp_id_or_missing_user_verification_are_refused() {
    let (s, origin) = localhost_server().await;
    let ada = s.session("ada@example.com").await;

    for (claims, what) in [
        (Claims::honest("http://evil.example", "localhost"), "origin"),
        (Claims::honest(&s.url, "localhost"), "IP origin"),
        (Claims::honest(&origin, "evil.example"), "rp id"),
        (
            Claims {
                user_verified: false,
                ..honest(&origin)
            },
            "user verification",
        ),
    ] {
        let (options, cookie) = register_options(&s, &ada).await;
        let a = verify_registration(
            &s,
            &ada,
            &cookie,
            SoftKey::new().register(&options, &claims),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {:?}", a.body);
        assert_eq!(a.code(), "FAILED_TO_VERIFY_REGISTRATION", "{what}");
    }
    assert!(list(&s, &ada).await.is_empty());

    let mut key = register(&s, &origin, &ada).await;
    let before = sessions_of(&s, &ada).await;
    for (claims, what) in [
        (Claims::honest("http://evil.example", "localhost"), "origin"),
        (Claims::honest(&origin, "evil.example"), "rp id"),
        (
            Claims {
                user_verified: false,
                ..honest(&origin)
            },
            "user verification",
        ),
    ] {
        let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
        let a = verify_authentication(&s, &cookie, key.assert(&options, &claims)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {:?}", a.body);
        assert_eq!(a.code(), "AUTHENTICATION_FAILED", "{what}");
        assert!(a.session_cookie().is_none());
    }
    assert_eq!(sessions_of(&s, &ada).await, before);
}

#[tokio::test]
async fn a_signature_counter_going_backwards_is_refused() {
    let (s, origin) = localhost_server().await;
    let ada = s.session("ada@example.com").await;
    let mut key = register(&s, &origin, &ada).await;
    key.counting = false;
    key.counter = 7;
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(list(&s, &ada).await[0]["counter"], 7);
    let before = sessions_of(&s, &ada).await;

    // A clone of the authenticator that is behind (3), or exactly level (7).
    for counter in [3, 7] {
        key.counter = counter;
        let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
        let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{counter}: {:?}", a.body);
        assert_eq!(a.code(), "AUTHENTICATION_FAILED");
        assert!(a.session_cookie().is_none());
    }
    assert_eq!(sessions_of(&s, &ada).await, before);
    assert_eq!(list(&s, &ada).await[0]["counter"], 7);

    key.counter = 8;
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

#[tokio::test]
async fn another_users_credential_challenge_or_passkey_is_refused() {
    let (s, origin) = localhost_server().await;
    let ada = s.session("ada@example.com").await;
    let bob = s.session("bob@example.com").await;
    let mut ada_key = register(&s, &origin, &ada).await;
    let mut bob_key = register(&s, &origin, &bob).await;
    let ada_sessions = sessions_of(&s, &ada).await;
    let bob_sessions = sessions_of(&s, &bob).await;

    // Options asked under Ada's session list only her credential, and only hers is accepted.
    let (options, cookie) = sign_in_options(&s, &ada).await;
    assert_eq!(options["allowCredentials"][0]["id"], ada_key.id());
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 1);
    let a = verify_authentication(&s, &cookie, bob_key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(a.code(), "AUTHENTICATION_FAILED");

    // Bob's credential presenting Ada's user handle.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let claims = Claims {
        user_handle: Some(Some(ada_key.user_handle.clone())),
        ..honest(&origin)
    };
    let a = verify_authentication(&s, &cookie, bob_key.assert(&options, &claims)).await;
    assert_eq!(a.code(), "AUTHENTICATION_FAILED");

    // Bob's credential id with Ada's signature.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let mut forged = ada_key.assert(&options, &honest(&origin));
    forged["id"] = json!(bob_key.id());
    forged["rawId"] = json!(bob_key.id());
    forged["response"]["userHandle"] = Value::Null;
    let a = verify_authentication(&s, &cookie, forged).await;
    assert_eq!(a.code(), "AUTHENTICATION_FAILED");
    assert_eq!(sessions_of(&s, &ada).await, ada_sessions);
    assert_eq!(sessions_of(&s, &bob).await, bob_sessions);

    // A registration challenge issued to Ada, answered under Bob's session.
    let (options, cookie) = register_options(&s, &ada).await;
    let a = verify_registration(
        &s,
        &bob,
        &cookie,
        SoftKey::new().register(&options, &honest(&origin)),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
    assert_eq!(a.code(), "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY");
    assert_eq!(list(&s, &bob).await.len(), 1);
    assert_eq!(list(&s, &ada).await.len(), 1);

    // Renaming or deleting Bob's passkey as Ada: 404, nothing changed.
    let bob_passkey = list(&s, &bob).await[0].clone();
    for (path, body) in [
        (
            "/passkey/update-passkey",
            json!({ "id": bob_passkey["id"], "name": "mine now" }),
        ),
        (
            "/passkey/delete-passkey",
            json!({ "id": bob_passkey["id"] }),
        ),
        (
            "/passkey/delete-passkey",
            json!({ "id": "no-such-passkey" }),
        ),
    ] {
        let a = s.post(path, &ada, body).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {:?}", a.body);
        assert_eq!(a.code(), "PASSKEY_NOT_FOUND");
    }
    assert_eq!(list(&s, &bob).await, vec![bob_passkey]);

    // Bob can still sign in with his.
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &cookie, bob_key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["user"]["email"], "bob@example.com");
}

#[tokio::test]
async fn bad_input_and_missing_sessions_are_answered_without_side_effects() {
    let (s, origin) = localhost_server().await;
    let ada = s.session("ada@example.com").await;

    // Management routes need a session.
    for (method, path) in [
        (Method::GET, "/passkey/generate-register-options"),
        (Method::GET, "/passkey/list-user-passkeys"),
    ] {
        let a = s.call(method, path, &As::Nobody, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    for path in [
        "/passkey/verify-registration",
        "/passkey/update-passkey",
        "/passkey/delete-passkey",
    ] {
        let a = s.post(path, &As::Nobody, json!({})).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
    }

    let a = s
        .call(
            Method::GET,
            "/passkey/generate-register-options?authenticatorAttachment=usb",
            &ada,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.code(), "VALIDATION_ERROR");
    let a = s
        .call(
            Method::GET,
            "/passkey/generate-register-options?authenticatorAttachment=platform&name=Ada%20phone",
            &ada,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body["authenticatorSelection"]["authenticatorAttachment"],
        "platform"
    );
    assert_eq!(a.body["user"]["name"], "Ada phone");

    // Malformed answers: validation errors or the ceremony's failure code, never a 500.
    let (_, cookie) = register_options(&s, &ada).await;
    for body in [
        json!({}),
        json!({ "response": "x" }),
        json!({ "response": {}, "name": 3 }),
    ] {
        let a = call(
            &s,
            Method::POST,
            "/passkey/verify-registration",
            &ada,
            Some(body.clone()),
            Some(&cookie),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {:?}", a.body);
        assert_eq!(a.code(), "VALIDATION_ERROR", "{body}");
    }
    for response in [
        json!({}),
        json!({ "id": "x", "rawId": "!!", "type": "public-key", "response": {} }),
        json!({ "id": "AA", "rawId": "AA", "type": "public-key", "response": { "clientDataJSON": "AA", "attestationObject": "AA" } }),
    ] {
        let (_, cookie) = register_options(&s, &ada).await;
        let a = verify_registration(&s, &ada, &cookie, response.clone()).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{response}: {:?}",
            a.body
        );
        assert_eq!(a.code(), "FAILED_TO_VERIFY_REGISTRATION", "{response}");
    }
    let long = "x".repeat(300);
    let (options, cookie) = register_options(&s, &ada).await;
    let a = call(
        &s,
        Method::POST,
        "/passkey/verify-registration",
        &ada,
        Some(json!({ "response": SoftKey::new().register(&options, &honest(&origin)), "name": long })),
        Some(&cookie),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.code(), "VALIDATION_ERROR");
    assert!(list(&s, &ada).await.is_empty());

    for response in [
        json!({}),
        json!({ "id": "AA", "rawId": "AA", "type": "public-key", "response": { "clientDataJSON": "AA", "authenticatorData": "AA", "signature": "AA" } }),
    ] {
        let (_, cookie) = sign_in_options(&s, &As::Nobody).await;
        let a = verify_authentication(&s, &cookie, response.clone()).await;
        assert!(
            a.status == StatusCode::BAD_REQUEST || a.status == StatusCode::UNAUTHORIZED,
            "{response}: {:?}",
            a.body
        );
        assert!(
            ["AUTHENTICATION_FAILED", "PASSKEY_NOT_FOUND"].contains(&a.code()),
            "{response}: {:?}",
            a.body
        );
    }
}

#[tokio::test]
async fn registering_needs_a_fresh_session() {
    let (s, origin) = localhost_server().await;
    let ada = s.session("ada@example.com").await;
    let mut key = register(&s, &origin, &ada).await;
    s.clock.advance(Duration::from_secs(24 * 3600 + 60));
    let a = s
        .call(
            Method::GET,
            "/passkey/generate-register-options",
            &ada,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{:?}", a.body);
    assert_eq!(a.code(), "SESSION_NOT_FRESH");
    // Listing and signing in do not.
    assert_eq!(list(&s, &ada).await.len(), 1);
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

#[tokio::test]
async fn an_ip_address_base_url_turns_passkeys_off() {
    let s = server().await;
    let ada = s.session("ada@example.com").await;
    for (who, path) in [
        (&ada, "/passkey/generate-register-options"),
        (&As::Nobody, "/passkey/generate-authenticate-options"),
    ] {
        let a = s.call(Method::GET, path, who, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {:?}", a.body);
        assert_eq!(a.code(), "PASSKEYS_UNAVAILABLE");
        assert!(a.cookies().is_empty());
    }
    assert!(!s.auth.passkeys_enabled());
}

#[tokio::test]
async fn deleting_the_account_deletes_its_passkeys() {
    let (s, origin) = localhost_server().await;
    let ada = s.session("ada@example.com").await;
    let mut key = register(&s, &origin, &ada).await;
    let a = s
        .post("/delete-user", &ada, json!({ "password": PASSWORD }))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
    assert_eq!(a.code(), "PASSKEY_NOT_FOUND");
}

#[tokio::test]
async fn pending_challenges_are_capped_and_expired_ones_do_not_count() {
    use sigil_auth::passkey::{CHALLENGE_TTL, PasskeyError, Passkeys};
    use sigil_auth::revocation::Revocations;
    use sigil_auth::session::Sessions;
    use sigil_auth::store::{AuthStore, SqlStore};
    use sigil_auth::{AuthConfig, Secret};
    use sigil_guard::clock::ManualClock;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let (pool, _) = sigil_auth::store::connect(&url).await.unwrap();
    let sql = SqlStore::new(pool);
    sql.migrate().await.unwrap();
    let store: Arc<dyn AuthStore> = Arc::new(sql);
    let clock = ManualClock::starting_now();
    let config = AuthConfig::new(
        "http://localhost:8080".parse().unwrap(),
        Secret::new(SECRET.as_bytes().to_vec(), "secret").unwrap(),
    );
    let deny = Arc::new(sigil_guard::SessionDenyList::with_clock(clock.shared()));
    let sessions = Sessions::new(
        store.clone(),
        config.session,
        Revocations::new(deny, None),
        config.jwt.ttl,
        clock.shared(),
    );
    let passkeys = Passkeys::new(store, sessions, &config, clock.shared()).with_challenge_cap(3);
    assert!(passkeys.enabled());
    for _ in 0..3 {
        passkeys.authentication_options(None).await.unwrap();
    }
    assert!(matches!(
        passkeys.authentication_options(None).await,
        Err(PasskeyError::Busy)
    ));
    clock.advance(CHALLENGE_TTL + Duration::from_secs(1));
    passkeys.authentication_options(None).await.unwrap();
}

#[tokio::test]
async fn a_banned_user_gets_no_session_from_a_passkey_and_passkey_events_are_audited() {
    let (s, origin) = localhost_server().await;
    let ada = s.session("ada@example.com").await;
    let me = s.get_session(&ada).await;
    let id = me.body["user"]["id"].as_str().unwrap().to_owned();
    let mut key = register(&s, &origin, &ada).await;
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let ok = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);

    let db = format!("sqlite://{}", s.db_path().display());
    let (pool, _) = sigil_auth::store::connect(&db).await.unwrap();
    sqlx::query("UPDATE users SET banned = 1 WHERE id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    let sessions_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let refused = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "BANNED_USER")
    );
    assert!(refused.session_cookie().is_none());
    assert!(refused.header("set-auth-token").is_none());
    let sessions_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sessions_after, sessions_before, "no session row");

    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT event, outcome, detail FROM audit_log WHERE user_id = $1 ORDER BY at, event",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    let has = |event: &str, outcome: &str, detail: &str| {
        rows.iter()
            .any(|(e, o, d)| e == event && o == outcome && d.contains(detail))
    };
    assert!(has("passkey.added", "success", "passkey_id"), "{rows:?}");
    assert!(has("sign_in", "success", "\"passkey\""), "{rows:?}");
    assert!(has("sign_in", "failure", "\"banned\""), "{rows:?}");
    // The banned user's old session ends too (the first time it is presented).
    let gone = s
        .call(Method::GET, "/passkey/list-user-passkeys", &ada, None)
        .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
}
