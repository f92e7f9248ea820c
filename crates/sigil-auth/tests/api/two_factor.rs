//! Two-factor authentication over HTTP (Better Auth's `twoFactor` plugin protocol): set-up,
//! sign-in through the second-factor step with each factor, trusted devices, and the refusals.
//! Codes are computed here from the `otpauth://` URI the server hands out, at the time of the
//! server's manual clock: no test sleeps to wait for a code, a cookie or a lock to expire.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_auth::mail::MailKind;
use sigil_auth::totp;
use sigil_guard::clock::Clock;
use std::time::Duration;

/// Decodes RFC 4648 base32 (no padding), as an authenticator app reads the URI's secret.
fn base32_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The key inside an `otpauth://` URI.
fn key_of(uri: &str) -> Vec<u8> {
    let url = url::Url::parse(uri).unwrap();
    assert_eq!(url.scheme(), "otpauth");
    let secret = url
        .query_pairs()
        .find(|(k, _)| k == "secret")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    base32_decode(&secret)
}

/// `name=value` of a cookie an answer sets (not an expiry).
pub(crate) fn set_cookie(answer: &Answer, suffix: &str) -> Option<String> {
    answer
        .cookies()
        .into_iter()
        .find(|c| c.contains(suffix) && !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

pub(crate) fn expires_cookie(answer: &Answer, suffix: &str) -> bool {
    answer
        .cookies()
        .iter()
        .any(|c| c.contains(suffix) && c.contains("Max-Age=0"))
}

pub(crate) struct Enrolled {
    pub(crate) key: Vec<u8>,
    pub(crate) backup_codes: Vec<String>,
    pub(crate) session: As,
}

impl Server {
    pub(crate) fn code(&self, key: &[u8]) -> String {
        totp::code_at(key, self.clock.now_unix())
    }

    /// Signs up, enables two-factor (TOTP) with the password and confirms it with a first code.
    pub(crate) async fn enrolled(&self, email: &str) -> Enrolled {
        let session = self.session(email).await;
        let enabled = self
            .post(
                "/two-factor/enable",
                &session,
                json!({ "password": PASSWORD }),
            )
            .await;
        assert_eq!(enabled.status, StatusCode::OK, "{:?}", enabled.body);
        let uri = enabled.body["totpURI"].as_str().unwrap();
        let key = key_of(uri);
        let backup_codes: Vec<String> = enabled.body["backupCodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        let confirmed = self
            .post(
                "/two-factor/verify-totp",
                &session,
                json!({ "code": self.code(&key) }),
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
        assert_eq!(confirmed.body["user"]["twoFactorEnabled"], true);
        // The set-up code is used: move to the next step for the next code.
        self.clock.advance(Duration::from_secs(30));
        Enrolled {
            key,
            backup_codes,
            session,
        }
    }

    /// Signs in with the password; asserts the second-factor answer and returns the
    /// two-factor cookie.
    async fn challenged(&self, email: &str) -> As {
        let answer = self.sign_in(email, PASSWORD).await;
        assert_challenged(&answer);
        As::Browser(set_cookie(&answer, ".two_factor=").unwrap())
    }
}

fn assert_challenged(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(
        answer.body,
        json!({ "twoFactorRedirect": true, "twoFactorMethods": ["totp", "otp"] })
    );
    assert!(
        answer.session_cookie().is_none(),
        "no session before the second factor"
    );
    assert!(answer.header("set-auth-token").is_none());
    let cookie = set_cookie(answer, ".two_factor=").expect("two-factor cookie");
    assert!(cookie.starts_with("better-auth.two_factor="));
    assert!(answer.cookies().iter().any(|c| c.contains(".two_factor=")
        && c.contains("Max-Age=600")
        && c.contains("HttpOnly")));
}

fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.code(), code, "{:?}", answer.body);
    assert!(answer.body["message"].is_string());
    assert!(answer.session_cookie().is_none());
    assert!(answer.header("set-auth-token").is_none());
}

fn bearer(answer: &Answer) -> As {
    As::Bearer(answer.body["token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn enable_sign_out_sign_in_and_verify_totp_gives_a_working_session() {
    let s = server().await;
    let session = s.session("tess@example.com").await;
    let me = s.get_session(&session).await;
    assert_eq!(me.body["user"]["twoFactorEnabled"], false);

    let enabled = s
        .post(
            "/two-factor/enable",
            &session,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{:?}", enabled.body);
    let uri = enabled.body["totpURI"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Sigil:tess%40example.com?secret="),
        "{uri}"
    );
    assert!(uri.ends_with("&issuer=Sigil&digits=6&period=30"), "{uri}");
    let codes = enabled.body["backupCodes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 11));
    let key = key_of(uri);
    assert_eq!(key.len(), 20);

    // Not on until a first code is verified: sign-in still opens a session.
    assert_eq!(
        s.get_session(&session).await.body["user"]["twoFactorEnabled"],
        false
    );
    let before = s.sign_in("tess@example.com", PASSWORD).await;
    assert!(before.session_cookie().is_some());

    // A wrong first code changes nothing; the right one turns two-factor on.
    let wrong = s
        .post(
            "/two-factor/verify-totp",
            &session,
            json!({ "code": "000000" }),
        )
        .await;
    if s.code(&key) != "000000" {
        assert_error(&wrong, StatusCode::UNAUTHORIZED, "INVALID_CODE");
    }
    let ok = s
        .post(
            "/two-factor/verify-totp",
            &session,
            json!({ "code": s.code(&key) }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["user"]["twoFactorEnabled"], true);
    let uri_again = s
        .post(
            "/two-factor/get-totp-uri",
            &session,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(uri_again.body["totpURI"], json!(uri));

    // Sign out, sign in: the password alone gives no session.
    assert_eq!(
        s.post("/sign-out", &session, json!({})).await.status,
        StatusCode::OK
    );
    let challenge = s.challenged("tess@example.com").await;
    s.clock.advance(Duration::from_secs(30));
    let verified = s
        .post(
            "/two-factor/verify-totp",
            &challenge,
            json!({ "code": s.code(&key) }),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{:?}", verified.body);
    assert_eq!(verified.body["user"]["email"], "tess@example.com");
    assert_eq!(verified.body["user"]["twoFactorEnabled"], true);
    assert!(verified.session_cookie().is_some());
    assert!(verified.header("set-auth-token").is_some());
    assert!(expires_cookie(&verified, ".two_factor="));

    // The session works, a JWT comes from it, and signing out ends both.
    let signed_in = bearer(&verified);
    let me = s.get_session(&signed_in).await;
    assert_eq!(me.body["user"]["email"], "tess@example.com");
    let jwt = s.call(Method::GET, "/token", &signed_in, None).await;
    assert_eq!(jwt.status, StatusCode::OK);
    let payload = jwt.body["token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["sid"], me.body["session"]["id"]);
    s.post("/sign-out", &signed_in, json!({})).await;
    assert_eq!(
        s.call(Method::GET, "/token", &signed_in, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        s.auth
            .deny_list()
            .contains(claims["sid"].as_str().unwrap(), s.clock.now_unix())
    );
}

#[tokio::test]
async fn a_totp_code_works_once_even_in_a_new_sign_in_and_only_near_its_time() {
    let s = server().await;
    let user = s.enrolled("rory@example.com").await;

    let first = s.challenged("rory@example.com").await;
    let code = s.code(&user.key);
    let ok = s
        .post("/two-factor/verify-totp", &first, json!({ "code": code }))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);

    // The same code, seen over a shoulder, in a new sign-in within its window: refused.
    let second = s.challenged("rory@example.com").await;
    let replay = s
        .post("/two-factor/verify-totp", &second, json!({ "code": code }))
        .await;
    assert_error(&replay, StatusCode::UNAUTHORIZED, "INVALID_CODE");

    // A code two steps old, or two steps ahead, is refused; one step either side is accepted.
    s.clock.advance(Duration::from_secs(30));
    let now = s.clock.now_unix();
    let stale = totp::code_at(&user.key, now - 60);
    let ahead = totp::code_at(&user.key, now + 60);
    for bad in [stale, ahead, "12345".into()] {
        let refused = s
            .post("/two-factor/verify-totp", &second, json!({ "code": bad }))
            .await;
        assert_error(&refused, StatusCode::UNAUTHORIZED, "INVALID_CODE");
    }
    // Step boundary: at the last second of a step, the next step's code is within the skew.
    let into_step = s.clock.now_unix() % 30;
    s.clock.advance(Duration::from_secs(29 - into_step));
    let next = totp::code_at(&user.key, s.clock.now_unix() + 1);
    let accepted = s
        .post("/two-factor/verify-totp", &second, json!({ "code": next }))
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{:?}", accepted.body);
    // ...and the current step's code is now older than the last accepted one: refused.
    let third = s.challenged("rory@example.com").await;
    s.clock.advance(Duration::from_secs(1));
    let older = totp::code_at(&user.key, s.clock.now_unix() - 1);
    let refused = s
        .post("/two-factor/verify-totp", &third, json!({ "code": older }))
        .await;
    assert_error(&refused, StatusCode::UNAUTHORIZED, "INVALID_CODE");
}

#[tokio::test]
async fn a_backup_code_signs_in_once_and_new_codes_replace_old_ones() {
    let s = server().await;
    let user = s.enrolled("bea@example.com").await;
    let challenge = s.challenged("bea@example.com").await;
    let used = &user.backup_codes[0];
    let ok = s
        .post(
            "/two-factor/verify-backup-code",
            &challenge,
            json!({ "code": used }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert!(ok.session_cookie().is_some());
    assert_eq!(
        s.get_session(&bearer(&ok)).await.body["user"]["email"],
        "bea@example.com"
    );

    let again = s.challenged("bea@example.com").await;
    let reused = s
        .post(
            "/two-factor/verify-backup-code",
            &again,
            json!({ "code": used }),
        )
        .await;
    assert_error(&reused, StatusCode::UNAUTHORIZED, "INVALID_BACKUP_CODE");
    let made_up = s
        .post(
            "/two-factor/verify-backup-code",
            &again,
            json!({ "code": "aaaaa-bbbbb" }),
        )
        .await;
    assert_error(&made_up, StatusCode::UNAUTHORIZED, "INVALID_BACKUP_CODE");

    // New codes need the password and make the old unused ones worthless.
    let no_password = s
        .post(
            "/two-factor/generate-backup-codes",
            &user.session,
            json!({}),
        )
        .await;
    assert_error(&no_password, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    let fresh = s
        .post(
            "/two-factor/generate-backup-codes",
            &user.session,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{:?}", fresh.body);
    assert_eq!(fresh.body["status"], true);
    let new_code = fresh.body["backupCodes"][0].as_str().unwrap().to_owned();
    let old_unused = s
        .post(
            "/two-factor/verify-backup-code",
            &again,
            json!({ "code": user.backup_codes[1] }),
        )
        .await;
    assert_error(&old_unused, StatusCode::UNAUTHORIZED, "INVALID_BACKUP_CODE");
    let with_new = s
        .post(
            "/two-factor/verify-backup-code",
            &again,
            json!({ "code": new_code }),
        )
        .await;
    assert_eq!(with_new.status, StatusCode::OK, "{:?}", with_new.body);
}

#[tokio::test]
async fn an_emailed_code_signs_in_once_and_expires_after_three_minutes() {
    let s = server().await;
    s.enrolled("otto@example.com").await;
    let challenge = s.challenged("otto@example.com").await;

    // Nothing sent yet.
    let early = s
        .post(
            "/two-factor/verify-otp",
            &challenge,
            json!({ "code": "123456" }),
        )
        .await;
    assert_error(&early, StatusCode::BAD_REQUEST, "OTP_HAS_EXPIRED");

    let sent = s.post("/two-factor/send-otp", &challenge, json!({})).await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    assert_eq!(sent.body, json!({ "status": true }));
    let mail = s.mail("otto@example.com", MailKind::TwoFactorCode).await;
    assert_eq!(mail.token.len(), 6);
    assert!(mail.text().contains(&mail.token));
    let wrong = if mail.token == "000000" {
        "111111"
    } else {
        "000000"
    };
    let refused = s
        .post(
            "/two-factor/verify-otp",
            &challenge,
            json!({ "code": wrong }),
        )
        .await;
    assert_error(&refused, StatusCode::UNAUTHORIZED, "INVALID_CODE");
    let ok = s
        .post(
            "/two-factor/verify-otp",
            &challenge,
            json!({ "code": mail.token }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert!(ok.session_cookie().is_some());

    // Expiry: a code sent now is refused four minutes later.
    let next = s.challenged("otto@example.com").await;
    s.post("/two-factor/send-otp", &next, json!({})).await;
    let first = mail.token.clone();
    let mut late = s.mail("otto@example.com", MailKind::TwoFactorCode).await;
    for _ in 0..100 {
        if late.token != first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        late = s.mail("otto@example.com", MailKind::TwoFactorCode).await;
    }
    s.clock.advance(Duration::from_secs(4 * 60));
    let expired = s
        .post(
            "/two-factor/verify-otp",
            &next,
            json!({ "code": late.token }),
        )
        .await;
    assert_error(&expired, StatusCode::BAD_REQUEST, "OTP_HAS_EXPIRED");
}

#[tokio::test]
async fn the_two_factor_cookie_must_be_signed_live_unused_and_of_this_sign_in() {
    let s = server().await;
    let uma = s.enrolled("uma@example.com").await;
    let vic = s.enrolled("vic@example.com").await;

    let none = s
        .post(
            "/two-factor/verify-totp",
            &As::Nobody,
            json!({ "code": s.code(&uma.key) }),
        )
        .await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE");
    let forged = As::Browser("better-auth.two_factor=madeupchallengeid".into());
    let refused = s
        .post(
            "/two-factor/verify-totp",
            &forged,
            json!({ "code": s.code(&uma.key) }),
        )
        .await;
    assert_error(
        &refused,
        StatusCode::UNAUTHORIZED,
        "INVALID_TWO_FACTOR_COOKIE",
    );

    // Vic's sign-in cookie with Uma's code: the code is checked against Vic's key.
    let vics = s.challenged("vic@example.com").await;
    let crossed = s
        .post(
            "/two-factor/verify-totp",
            &vics,
            json!({ "code": s.code(&uma.key) }),
        )
        .await;
    if s.code(&uma.key) != s.code(&vic.key) {
        assert_error(&crossed, StatusCode::UNAUTHORIZED, "INVALID_CODE");
    }

    // A used cookie is dead.
    let umas = s.challenged("uma@example.com").await;
    let ok = s
        .post(
            "/two-factor/verify-totp",
            &umas,
            json!({ "code": s.code(&uma.key) }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    s.clock.advance(Duration::from_secs(30));
    let reused = s
        .post(
            "/two-factor/verify-totp",
            &umas,
            json!({ "code": s.code(&uma.key) }),
        )
        .await;
    assert_error(
        &reused,
        StatusCode::UNAUTHORIZED,
        "INVALID_TWO_FACTOR_COOKIE",
    );
    assert!(expires_cookie(&reused, ".two_factor="));

    // An expired one too (10 minutes).
    let later = s.challenged("uma@example.com").await;
    s.clock.advance(Duration::from_secs(10 * 60 + 1));
    let expired = s
        .post(
            "/two-factor/verify-totp",
            &later,
            json!({ "code": s.code(&uma.key) }),
        )
        .await;
    assert_error(
        &expired,
        StatusCode::UNAUTHORIZED,
        "INVALID_TWO_FACTOR_COOKIE",
    );
    // None of this left Vic or Uma with an extra session.
    assert_eq!(
        s.call(Method::GET, "/list-sessions", &vic.session, None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2,
        "Vic's sign-up session and the enrolment sign-in session only"
    );
}

#[tokio::test]
async fn enable_and_disable_need_the_password_and_change_nothing_without_it() {
    let s = server().await;
    let session = s.session("pia@example.com").await;
    for (body, code) in [
        (json!({}), "VALIDATION_ERROR"),
        (json!({ "password": "wrong password!" }), "INVALID_PASSWORD"),
        (json!({ "password": 12 }), "VALIDATION_ERROR"),
    ] {
        let refused = s.post("/two-factor/enable", &session, body).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, code);
        assert!(refused.body.get("totpURI").is_none());
    }
    let no_uri = s
        .post(
            "/two-factor/get-totp-uri",
            &session,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_error(&no_uri, StatusCode::BAD_REQUEST, "TOTP_NOT_ENABLED");
    let anonymous = s
        .post(
            "/two-factor/enable",
            &As::Nobody,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let user = s.enrolled("quin@example.com").await;
    for (body, code) in [
        (json!({}), "VALIDATION_ERROR"),
        (json!({ "password": "wrong password!" }), "INVALID_PASSWORD"),
    ] {
        let refused = s.post("/two-factor/disable", &user.session, body).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, code);
    }
    // Still on.
    s.challenged("quin@example.com").await;
    let off = s
        .post(
            "/two-factor/disable",
            &user.session,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
    assert_eq!(off.body, json!({ "status": true }));
    let plain = s.sign_in("quin@example.com", PASSWORD).await;
    assert!(plain.session_cookie().is_some());
    assert_eq!(plain.body["user"]["twoFactorEnabled"], false);
    // The old key and backup codes are gone with it.
    let gone = s
        .post(
            "/two-factor/get-totp-uri",
            &user.session,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_error(&gone, StatusCode::BAD_REQUEST, "TOTP_NOT_ENABLED");
}

#[tokio::test]
async fn guessing_codes_is_throttled_per_account_and_ends_the_challenge() {
    let s = server().await;
    let user = s.enrolled("gus@example.com").await;
    let challenge = s.challenged("gus@example.com").await;
    let right = s.code(&user.key);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let refused = s
            .post(
                "/two-factor/verify-totp",
                &challenge,
                json!({ "code": wrong }),
            )
            .await;
        assert_error(&refused, StatusCode::UNAUTHORIZED, "INVALID_CODE");
    }
    // Locked for this account: even the right code waits, with the time to wait.
    let locked = s
        .post(
            "/two-factor/verify-totp",
            &challenge,
            json!({ "code": right }),
        )
        .await;
    assert_error(
        &locked,
        StatusCode::TOO_MANY_REQUESTS,
        "ACCOUNT_TEMPORARILY_LOCKED",
    );
    assert_eq!(locked.header("x-retry-after"), Some("1"));
    // A new sign-in does not reset the lock.
    let other = s.challenged("gus@example.com").await;
    let still = s
        .post("/two-factor/verify-totp", &other, json!({ "code": right }))
        .await;
    assert_error(
        &still,
        StatusCode::TOO_MANY_REQUESTS,
        "ACCOUNT_TEMPORARILY_LOCKED",
    );

    // After the wait, the first challenge has used its five attempts: sign in again.
    s.clock.advance(Duration::from_secs(2));
    let spent = s
        .post(
            "/two-factor/verify-totp",
            &challenge,
            json!({ "code": right }),
        )
        .await;
    assert_error(
        &spent,
        StatusCode::BAD_REQUEST,
        "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE",
    );
    assert!(expires_cookie(&spent, ".two_factor="));
    let ok = s
        .post(
            "/two-factor/verify-totp",
            &other,
            json!({ "code": s.code(&user.key) }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}

#[tokio::test]
async fn a_trusted_device_skips_the_second_factor_until_the_password_changes() {
    let s = server().await;
    let user = s.enrolled("tia@example.com").await;
    let challenge = s.challenged("tia@example.com").await;
    let verified = s
        .post(
            "/two-factor/verify-totp",
            &challenge,
            json!({ "code": s.code(&user.key), "trustDevice": true }),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{:?}", verified.body);
    let trust = set_cookie(&verified, ".trust_device=").expect("trust cookie");
    assert!(
        verified
            .cookies()
            .iter()
            .any(|c| c.contains(".trust_device=") && c.contains("Max-Age=2592000"))
    );

    let sign_in_with = |cookie: String| {
        let s = &s;
        async move {
            s.post(
                "/sign-in/email",
                &As::Browser(cookie),
                json!({ "email": "tia@example.com", "password": PASSWORD }),
            )
            .await
        }
    };
    // Trusted: a session at once, and the trust cookie rotated.
    let trusted = sign_in_with(trust.clone()).await;
    assert_eq!(trusted.status, StatusCode::OK, "{:?}", trusted.body);
    assert!(trusted.session_cookie().is_some());
    let rotated = set_cookie(&trusted, ".trust_device=").expect("rotated trust cookie");
    assert_ne!(rotated, trust);
    // The old value was used up.
    assert_challenged(&sign_in_with(trust.clone()).await);
    // Another user's sign-in with this device's cookie is not trusted.
    s.enrolled("ned@example.com").await;
    let other = s
        .post(
            "/sign-in/email",
            &As::Browser(rotated.clone()),
            json!({ "email": "ned@example.com", "password": PASSWORD }),
        )
        .await;
    assert_challenged(&other);

    // A password change ends every trusted device.
    let trusted = sign_in_with(rotated).await;
    let rotated = set_cookie(&trusted, ".trust_device=").unwrap();
    let changed = s
        .post(
            "/change-password",
            &user.session,
            json!({ "currentPassword": PASSWORD, "newPassword": "another long passphrase" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let after = s
        .post(
            "/sign-in/email",
            &As::Browser(rotated),
            json!({ "email": "tia@example.com", "password": "another long passphrase" }),
        )
        .await;
    assert_challenged(&after);
}

/// The audit rows of one user, oldest first: (event, outcome, session id, detail).
pub(crate) async fn audit_rows(
    s: &Server,
    user_id: &str,
) -> Vec<(String, String, Option<String>, String)> {
    let (pool, _) = sigil_auth::store::connect(&format!("sqlite://{}", s.db_path().display()))
        .await
        .unwrap();
    let rows = sqlx::query_as(
        "SELECT event, outcome, session_id, detail FROM audit_log WHERE user_id = $1 ORDER BY at, event",
    )
    .bind(user_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn second_factor_set_up_sign_ins_refusals_and_changes_are_audited_without_codes() {
    let s = server().await;
    let enrolled = s.enrolled("audra@example.com").await;
    let me = s.get_session(&enrolled.session).await;
    let id = me.body["user"]["id"].as_str().unwrap().to_owned();

    let challenge = s.challenged("audra@example.com").await;
    let right = s.code(&enrolled.key);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    let refused = s
        .post(
            "/two-factor/verify-totp",
            &challenge,
            json!({ "code": wrong }),
        )
        .await;
    assert_error(&refused, StatusCode::UNAUTHORIZED, "INVALID_CODE");
    let verified = s
        .post(
            "/two-factor/verify-totp",
            &challenge,
            json!({ "code": right }),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{:?}", verified.body);
    let signed_in = bearer(&verified);
    let session_id = s.get_session(&signed_in).await.body["session"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let regenerated = s
        .post(
            "/two-factor/generate-backup-codes",
            &signed_in,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(regenerated.status, StatusCode::OK, "{:?}", regenerated.body);
    let disabled = s
        .post(
            "/two-factor/disable",
            &signed_in,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{:?}", disabled.body);

    let rows = audit_rows(&s, &id).await;
    let find = |event: &str, outcome: &str| {
        rows.iter()
            .filter(|(e, o, _, _)| e == event && o == outcome)
            .collect::<Vec<_>>()
    };
    assert_eq!(find("two_factor.enabled", "success").len(), 1, "{rows:?}");
    let failures = find("sign_in", "failure");
    assert_eq!(failures.len(), 1, "{rows:?}");
    assert!(failures[0].3.contains("\"totp\"") && failures[0].3.contains("invalid_second_factor"));
    let with_second_factor: Vec<_> = find("sign_in", "success")
        .into_iter()
        .filter(|(_, _, _, d)| d.contains("\"second_factor\":\"totp\""))
        .collect();
    assert_eq!(with_second_factor.len(), 1, "{rows:?}");
    assert_eq!(
        with_second_factor[0].2.as_deref(),
        Some(session_id.as_str())
    );
    assert_eq!(
        find("two_factor.backup_codes_regenerated", "success").len(),
        1
    );
    assert_eq!(find("two_factor.disabled", "success").len(), 1);
    // No code, backup code or TOTP key in any row.
    let everything = format!("{rows:?}");
    for secret in [right.as_str(), wrong]
        .into_iter()
        .chain(enrolled.backup_codes.iter().map(String::as_str))
    {
        assert!(
            !everything.contains(secret),
            "{secret} leaked into the audit log"
        );
    }
}
