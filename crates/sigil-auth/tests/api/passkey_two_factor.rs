//! A passkey as the second factor of a pending two-factor sign-in (Sigil's extension of Better
//! Auth's protocols, `docs/design.md` "Passkey as a second factor"): options asked with the
//! `two_factor` cookie name the pending user's passkeys and are bound to that sign-in, and the
//! answer ends it. The refusals: another user's passkey, a `two_factor` cookie of another
//! sign-in (or none), a sign-in no longer pending, missing user verification, a counter going
//! backwards; each with Better Auth's error code and no session created.

use crate::authenticator::{Claims, SoftKey};
use crate::helpers::*;
use crate::passkeys::{
    call, challenge_cookie, honest, localhost_server, register, sessions_of, sign_in_options,
    verify_authentication,
};
use crate::two_factor::{Enrolled, audit_rows, expires_cookie, set_cookie};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_guard::clock::ManualClock;
use sigil_test_support::FreshDatabase;
use std::time::Duration;

/// A user with two-factor (TOTP) on and a registered passkey.
async fn enrolled_with_passkey(s: &Server, origin: &str, email: &str) -> (Enrolled, SoftKey) {
    let enrolled = s.enrolled(email).await;
    let key = register(s, origin, &enrolled.session).await;
    (enrolled, key)
}

/// Signs in with the password (`rememberMe` as given); asserts the second-factor answer, which
/// offers the passkey, and returns the `two_factor` cookie (`name=value`).
async fn password_step(s: &Server, email: &str, remember: bool) -> String {
    let a = s
        .post(
            "/sign-in/email",
            &As::Nobody,
            json!({ "email": email, "password": PASSWORD, "rememberMe": remember }),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(
        a.body,
        json!({ "twoFactorRedirect": true, "twoFactorMethods": ["totp", "otp", "passkey"] })
    );
    assert!(a.session_cookie().is_none());
    set_cookie(&a, ".two_factor=").expect("two-factor cookie")
}

/// Sign-in options asked by a browser that holds `two_factor` (no session), and the cookie
/// header to answer them with (the challenge cookie plus `two_factor`).
async fn second_step_options(s: &Server, two_factor: &str) -> (Value, String) {
    let a = call(
        s,
        Method::GET,
        "/passkey/generate-authenticate-options",
        &As::Nobody,
        None,
        Some(two_factor),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let cookie = challenge_cookie(&a);
    (a.body, format!("{cookie}; {two_factor}"))
}

fn assert_refused(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{:?}", a.body);
    assert_eq!(a.code(), code, "{:?}", a.body);
    assert!(a.body["message"].is_string());
    assert!(a.session_cookie().is_none());
    assert!(a.header("set-auth-token").is_none());
}

#[tokio::test]
async fn a_passkey_completes_a_pending_two_factor_sign_in() {
    let (s, origin) = localhost_server().await;
    let ada = second_step(&s, &origin).await;
    // Audited as sign-ins with a second factor, naming their sessions (never a credential).
    let rows = audit_rows(&s, &ada).await;
    let by_passkey: Vec<_> = rows
        .iter()
        .filter(|(e, o, _, d)| {
            e == "sign_in" && o == "success" && d.contains("\"second_factor\":\"passkey\"")
        })
        .collect();
    assert_eq!(by_passkey.len(), 2, "{rows:?}");
    assert!(
        by_passkey
            .iter()
            .all(|(_, _, session, _)| session.is_some())
    );
}

/// The same on PostgreSQL (`SIGIL_TEST_POSTGRES_URL`, which `scripts/test` sets and requires):
/// the challenge rows live in its `verifications` table.
#[tokio::test]
async fn a_passkey_completes_a_pending_two_factor_sign_in_on_postgres() {
    let Some(db) = FreshDatabase::create("sigil_pk2fa").await else {
        return;
    };
    let mut origin = String::new();
    let s = server_on(
        &db.url,
        tempfile::tempdir().unwrap(),
        |config| {
            let ip_origin = config.origin();
            config.base_url.set_host(Some("localhost")).unwrap();
            config.trusted_origins.push(ip_origin);
            origin = config.origin();
        },
        ManualClock::starting_now(),
    )
    .await;
    second_step(&s, &origin).await;
    // Another user's passkey on Ada's pending sign-in, on this database too.
    let (bob, mut bob_key) = enrolled_with_passkey(&s, &origin, "bob@example.com").await;
    let bob_before = sessions_of(&s, &bob.session).await;
    let two_factor = password_step(&s, "ada@example.com", true).await;
    let (options, cookies) = second_step_options(&s, &two_factor).await;
    let a = verify_authentication(&s, &cookies, bob_key.assert(&options, &honest(&origin))).await;
    assert_refused(&a, StatusCode::BAD_REQUEST, "AUTHENTICATION_FAILED");
    assert_eq!(sessions_of(&s, &bob.session).await, bob_before);
    drop(s);
    db.drop_now().await;
}

/// Ada (TOTP and a passkey) ends two password sign-ins with her passkey: the session keeps the
/// password step's "remember me", the pending sign-in is used up. Answers Ada's user id.
async fn second_step(s: &Server, origin: &str) -> String {
    let origin = origin.to_owned();
    let (ada, mut key) = enrolled_with_passkey(s, &origin, "ada@example.com").await;
    let before = sessions_of(s, &ada.session).await;

    let two_factor = password_step(s, "ada@example.com", true).await;
    let (options, cookies) = second_step_options(s, &two_factor).await;
    // The options name Ada's passkey (so the browser offers it, discoverable or not).
    let allowed = options["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "{options}");
    assert_eq!(allowed[0]["id"], key.id());
    assert_eq!(allowed[0]["type"], "public-key");
    assert_eq!(options["userVerification"], "required");
    let a = verify_authentication(s, &cookies, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["user"]["email"], "ada@example.com");
    assert_eq!(a.body["user"]["twoFactorEnabled"], true);
    assert!(a.session_cookie().is_some());
    assert!(expires_cookie(&a, ".two_factor="), "{:?}", a.cookies());
    // A remembered session: its cookie outlives the browser.
    assert!(
        a.cookies()
            .iter()
            .any(|c| c.starts_with("better-auth.session_token=") && c.contains("Max-Age=")),
        "{:?}",
        a.cookies()
    );
    let token = As::Bearer(a.header("set-auth-token").unwrap().to_owned());
    let got = s.get_session(&token).await;
    assert_eq!(got.body["user"]["email"], "ada@example.com");
    assert_eq!(sessions_of(s, &ada.session).await, before + 1);

    // The pending sign-in is over: its cookie opens nothing more.
    let again = s
        .post(
            "/two-factor/verify-totp",
            &As::Browser(two_factor.clone()),
            json!({ "code": s.code(&ada.key) }),
        )
        .await;
    assert_refused(
        &again,
        StatusCode::UNAUTHORIZED,
        "INVALID_TWO_FACTOR_COOKIE",
    );
    assert_eq!(sessions_of(s, &ada.session).await, before + 1);

    // A password step with `rememberMe: false` ends in a browser-session cookie.
    let two_factor = password_step(s, "ada@example.com", false).await;
    let (options, cookies) = second_step_options(s, &two_factor).await;
    let a = verify_authentication(s, &cookies, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let session_cookie = a
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("better-auth.session_token="))
        .unwrap();
    assert!(!session_cookie.contains("Max-Age"), "{session_cookie}");
    assert!(
        a.cookies()
            .iter()
            .any(|c| c.starts_with("better-auth.dont_remember=")),
        "{:?}",
        a.cookies()
    );
    a.body["user"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_passkey_sign_in_of_a_two_factor_user_is_two_factors_already() {
    let (s, origin) = localhost_server().await;
    let (ada, mut key) = enrolled_with_passkey(&s, &origin, "ada@example.com").await;
    let before = sessions_of(&s, &ada.session).await;

    // As Better Auth: a passkey sign-in is not sent through the second-factor step (the
    // passkey is possession, and user verification is required).
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    assert!(options.get("allowCredentials").is_none(), "{options}");
    assert_eq!(options["userVerification"], "required");
    let unverified = Claims {
        user_verified: false,
        ..honest(&origin)
    };
    let a = verify_authentication(&s, &cookie, key.assert(&options, &unverified)).await;
    assert_refused(&a, StatusCode::BAD_REQUEST, "AUTHENTICATION_FAILED");
    assert_eq!(sessions_of(&s, &ada.session).await, before);

    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(a.body.get("twoFactorRedirect").is_none());
    assert_eq!(a.body["user"]["email"], "ada@example.com");
    assert!(a.session_cookie().is_some());
    assert_eq!(sessions_of(&s, &ada.session).await, before + 1);

    // A stolen password alone still gives no session.
    let a = s.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(a.body["twoFactorRedirect"], true);
    assert!(a.session_cookie().is_none());
    assert_eq!(sessions_of(&s, &ada.session).await, before + 1);
}

#[tokio::test]
async fn another_users_passkey_never_completes_a_pending_sign_in() {
    let (s, origin) = localhost_server().await;
    let (ada, mut ada_key) = enrolled_with_passkey(&s, &origin, "ada@example.com").await;
    let (bob, mut bob_key) = enrolled_with_passkey(&s, &origin, "bob@example.com").await;
    let ada_before = sessions_of(&s, &ada.session).await;
    let bob_before = sessions_of(&s, &bob.session).await;

    // Ada's password step, answered with Bob's passkey (options bound to Ada's sign-in list
    // only hers), or with Bob's credential carrying Ada's user handle.
    let two_factor = password_step(&s, "ada@example.com", true).await;
    for claims in [
        honest(&origin),
        Claims {
            user_handle: Some(Some(ada_key.user_handle.clone())),
            ..honest(&origin)
        },
    ] {
        let (options, cookies) = second_step_options(&s, &two_factor).await;
        let a = verify_authentication(&s, &cookies, bob_key.assert(&options, &claims)).await;
        assert_refused(&a, StatusCode::BAD_REQUEST, "AUTHENTICATION_FAILED");
    }
    assert_eq!(sessions_of(&s, &ada.session).await, ada_before);
    assert_eq!(sessions_of(&s, &bob.session).await, bob_before);

    // Bob's pending sign-in, answered with Ada's passkey.
    let bob_two_factor = password_step(&s, "bob@example.com", true).await;
    let (options, cookies) = second_step_options(&s, &bob_two_factor).await;
    assert_eq!(options["allowCredentials"][0]["id"], bob_key.id());
    let a = verify_authentication(&s, &cookies, ada_key.assert(&options, &honest(&origin))).await;
    assert_refused(&a, StatusCode::BAD_REQUEST, "AUTHENTICATION_FAILED");
    assert_eq!(sessions_of(&s, &ada.session).await, ada_before);
    assert_eq!(sessions_of(&s, &bob.session).await, bob_before);

    // Both pending sign-ins are still usable by their own users.
    let (options, cookies) = second_step_options(&s, &two_factor).await;
    let a = verify_authentication(&s, &cookies, ada_key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["user"]["email"], "ada@example.com");
    let a = s
        .post(
            "/two-factor/verify-totp",
            &As::Browser(bob_two_factor),
            json!({ "code": s.code(&bob.key) }),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["user"]["email"], "bob@example.com");
}

#[tokio::test]
async fn a_two_factor_cookie_of_another_sign_in_or_none_is_refused() {
    let (s, origin) = localhost_server().await;
    let (ada, mut key) = enrolled_with_passkey(&s, &origin, "ada@example.com").await;
    let before = sessions_of(&s, &ada.session).await;

    let first = password_step(&s, "ada@example.com", true).await;
    let second = password_step(&s, "ada@example.com", true).await;
    assert_ne!(first, second);

    // Options bound to the first sign-in, answered with the second's cookie, with none, or
    // with a forged one.
    let forged = format!("{}x", second);
    for two_factor in [Some(second.as_str()), None, Some(forged.as_str())] {
        let (options, cookies) = second_step_options(&s, &first).await;
        let challenge = cookies.split("; ").next().unwrap();
        let cookies = match two_factor {
            Some(t) => format!("{challenge}; {t}"),
            None => challenge.to_owned(),
        };
        let a = verify_authentication(&s, &cookies, key.assert(&options, &honest(&origin))).await;
        assert_refused(&a, StatusCode::UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE");
    }
    assert_eq!(sessions_of(&s, &ada.session).await, before);

    // A sign-in no longer pending between the options and the answer: ended with a TOTP code.
    let (options, cookies) = second_step_options(&s, &first).await;
    let a = s
        .post(
            "/two-factor/verify-totp",
            &As::Browser(first.clone()),
            json!({ "code": s.code(&ada.key) }),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(sessions_of(&s, &ada.session).await, before + 1);
    let a = verify_authentication(&s, &cookies, key.assert(&options, &honest(&origin))).await;
    assert_refused(&a, StatusCode::UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE");
    assert_eq!(sessions_of(&s, &ada.session).await, before + 1);

    // An expired pending sign-in: the options are plain ones (no credential named, nothing
    // bound), so the passkey signs in on its own, as without any two-factor cookie.
    s.clock.advance(Duration::from_secs(11 * 60));
    let (options, cookies) = second_step_options(&s, &second).await;
    assert!(options.get("allowCredentials").is_none(), "{options}");
    let a = verify_authentication(&s, &cookies, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(!expires_cookie(&a, ".two_factor="));
}

#[tokio::test]
async fn the_second_step_checks_the_passkey_like_any_sign_in() {
    let (s, origin) = localhost_server().await;
    let (ada, mut key) = enrolled_with_passkey(&s, &origin, "ada@example.com").await;
    let before = sessions_of(&s, &ada.session).await;
    let two_factor = password_step(&s, "ada@example.com", true).await;

    // Missing user verification, a wrong origin, a wrong rp id.
    for claims in [
        Claims {
            user_verified: false,
            ..honest(&origin)
        },
        Claims::honest("http://evil.example", "localhost"),
        Claims::honest(&origin, "evil.example"),
    ] {
        let (options, cookies) = second_step_options(&s, &two_factor).await;
        let a = verify_authentication(&s, &cookies, key.assert(&options, &claims)).await;
        assert_refused(&a, StatusCode::BAD_REQUEST, "AUTHENTICATION_FAILED");
    }
    // A counter going backwards (a cloned authenticator).
    key.counting = false;
    key.counter = 9;
    let (options, cookie) = sign_in_options(&s, &As::Nobody).await;
    let a = verify_authentication(&s, &cookie, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    key.counter = 4;
    let (options, cookies) = second_step_options(&s, &two_factor).await;
    let a = verify_authentication(&s, &cookies, key.assert(&options, &honest(&origin))).await;
    assert_refused(&a, StatusCode::BAD_REQUEST, "AUTHENTICATION_FAILED");
    assert_eq!(sessions_of(&s, &ada.session).await, before + 1);

    // None of these used up the pending sign-in: the honest passkey still ends it.
    key.counter = 10;
    let (options, cookies) = second_step_options(&s, &two_factor).await;
    let a = verify_authentication(&s, &cookies, key.assert(&options, &honest(&origin))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(expires_cookie(&a, ".two_factor="));
    assert_eq!(sessions_of(&s, &ada.session).await, before + 2);
}
