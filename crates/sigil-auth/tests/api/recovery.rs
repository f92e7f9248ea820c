//! Password reset and email verification, with mail captured by the in-memory mailer.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sigil_auth::mail::MailKind;

const RESET_MESSAGE: &str =
    "If this email exists in our system, check your email for the reset link";

#[tokio::test]
async fn password_reset_end_to_end() {
    let s = server().await;
    let old_session = s.session("rita@example.com").await;

    // Known and unknown addresses get the same answer; only the known one gets mail.
    let known = s
        .post(
            "/request-password-reset",
            &As::Nobody,
            json!({ "email": "Rita@Example.com", "redirectTo": "/reset" }),
        )
        .await;
    let unknown = s
        .post(
            "/request-password-reset",
            &As::Nobody,
            json!({ "email": "nobody@example.com", "redirectTo": "/reset" }),
        )
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(known.body, unknown.body);
    assert_eq!(known.body["message"], RESET_MESSAGE);
    let mail = s.mail("rita@example.com", MailKind::ResetPassword).await;
    assert!(mail.url.starts_with(&format!(
        "{}/api/auth/reset-password/{}?callbackURL=%2Freset",
        s.url, mail.token
    )));
    assert_eq!(mail.token.len(), 24);
    assert!(s.mailer.sent().iter().all(|m| m.to != "nobody@example.com"));

    // The link redirects to the application's page with the token, without consuming it.
    let link = s
        .call(
            Method::GET,
            &format!("/reset-password/{}?callbackURL=%2Freset", mail.token),
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(link.status, StatusCode::FOUND);
    assert_eq!(
        link.header("location").unwrap(),
        format!("{}/reset?token={}", s.url, mail.token)
    );
    let bad_link = s
        .call(
            Method::GET,
            "/reset-password/nope?callbackURL=%2Freset",
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(
        bad_link.header("location").unwrap(),
        format!("{}/reset?error=INVALID_TOKEN", s.url)
    );
    let evil = s
        .call(
            Method::GET,
            &format!(
                "/reset-password/{}?callbackURL=https://evil.example/",
                mail.token
            ),
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);

    // A too-short password does not use up the token.
    let short = s
        .post(
            "/reset-password",
            &As::Nobody,
            json!({ "newPassword": "short", "token": mail.token }),
        )
        .await;
    assert_eq!(short.code(), "PASSWORD_TOO_SHORT");
    let ok = s
        .post(
            "/reset-password",
            &As::Nobody,
            json!({ "newPassword": "a brand new passphrase", "token": mail.token }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body, json!({ "status": true }));
    let again = s
        .post(
            "/reset-password",
            &As::Nobody,
            json!({ "newPassword": "another passphrase!", "token": mail.token }),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::BAD_REQUEST, "INVALID_TOKEN")
    );
    assert_eq!(
        s.post(
            "/reset-password",
            &As::Nobody,
            json!({ "newPassword": "another passphrase!" })
        )
        .await
        .code(),
        "INVALID_TOKEN"
    );

    assert_eq!(
        s.sign_in("rita@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.sign_in("rita@example.com", "a brand new passphrase")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        s.get_session(&old_session).await.body,
        Value::Null,
        "a reset ends existing sessions"
    );
}

#[tokio::test]
async fn reset_tokens_expire_and_redirects_must_be_trusted() {
    let s = server().await;
    s.sign_up("sam@example.com").await;
    let evil = s
        .post(
            "/request-password-reset",
            &As::Nobody,
            json!({ "email": "sam@example.com", "redirectTo": "https://evil.example/steal" }),
        )
        .await;
    assert_eq!(
        (evil.status, evil.code()),
        (StatusCode::FORBIDDEN, "INVALID_REDIRECT_URL")
    );
    for target in ["//evil.example", "/\\evil.example", "javascript:alert(1)"] {
        let answer = s
            .post(
                "/request-password-reset",
                &As::Nobody,
                json!({ "email": "sam@example.com", "redirectTo": target }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{target}");
    }
    let bad = s
        .post(
            "/request-password-reset",
            &As::Nobody,
            json!({ "email": "not an email" }),
        )
        .await;
    assert_eq!(bad.code(), "VALIDATION_ERROR");
}

#[tokio::test]
async fn email_verification_required_before_sign_in() {
    let s = server_with(|c| c.require_email_verification = true).await;
    let up = s.sign_up("tina@example.com").await;
    assert_eq!(up.status, StatusCode::OK);
    assert_eq!(up.body["token"], Value::Null);
    assert!(up.cookies().is_empty() && up.header("set-auth-token").is_none());
    let mail = s.mail("tina@example.com", MailKind::VerifyEmail).await;

    // No enumeration: a second sign-up with the address answers the same shape, with another id.
    let dup = s.sign_up("tina@example.com").await;
    assert_eq!(dup.status, StatusCode::OK);
    assert_ne!(dup.body["user"]["id"], up.body["user"]["id"]);

    let wrong = s.sign_in("tina@example.com", "wrong password!").await;
    assert_eq!(wrong.code(), "INVALID_EMAIL_OR_PASSWORD");
    let unverified = s.sign_in("tina@example.com", PASSWORD).await;
    assert_eq!(
        (unverified.status, unverified.code()),
        (StatusCode::FORBIDDEN, "EMAIL_NOT_VERIFIED")
    );

    let query = mail.url.split_once('?').unwrap().1;
    let verified = s
        .call(
            Method::GET,
            &format!("/verify-email?{}", query.replace("&callbackURL=%2F", "")),
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{:?}", verified.body);
    assert_eq!(verified.body, json!({ "status": true, "user": null }));
    let inn = s.sign_in("tina@example.com", PASSWORD).await;
    assert_eq!(inn.status, StatusCode::OK);
    assert_eq!(inn.body["user"]["emailVerified"], true);

    // With a callback the answer is a redirect; a forged token redirects with an error.
    let redirect = s
        .call(
            Method::GET,
            &format!("/verify-email?{query}"),
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(
        (redirect.status, redirect.header("location")),
        (StatusCode::FOUND, Some("/"))
    );
    let forged = s
        .call(
            Method::GET,
            "/verify-email?token=abc.def.ghi&callbackURL=%2Fdone",
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(forged.header("location"), Some("/done?error=INVALID_TOKEN"));
    let forged = s
        .call(
            Method::GET,
            "/verify-email?token=abc.def.ghi",
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(
        (forged.status, forged.code()),
        (StatusCode::UNAUTHORIZED, "INVALID_TOKEN")
    );
    // An access token is not a verification token.
    let session = As::Bearer(inn.body["token"].as_str().unwrap().to_owned());
    let jwt = s.call(Method::GET, "/token", &session, None).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let confused = s
        .call(
            Method::GET,
            &format!("/verify-email?token={jwt}"),
            &As::Nobody,
            None,
        )
        .await;
    assert_eq!(confused.code(), "INVALID_TOKEN");
}

#[tokio::test]
async fn send_verification_email_signed_in_and_out() {
    let s = server().await;
    let me = s.session("uma@example.com").await;
    let mismatch = s
        .post(
            "/send-verification-email",
            &me,
            json!({ "email": "other@example.com" }),
        )
        .await;
    assert_eq!(mismatch.code(), "EMAIL_MISMATCH");
    let sent = s
        .post(
            "/send-verification-email",
            &me,
            json!({ "email": "uma@example.com", "callbackURL": "/verified" }),
        )
        .await;
    assert_eq!(sent.body, json!({ "status": true }));
    let mail = s.mail("uma@example.com", MailKind::VerifyEmail).await;
    assert!(mail.url.ends_with("&callbackURL=%2Fverified"));
    let query = mail.url.split_once('?').unwrap().1;
    s.call(
        Method::GET,
        &format!("/verify-email?{query}"),
        &As::Nobody,
        None,
    )
    .await;
    let verified = s
        .post(
            "/send-verification-email",
            &me,
            json!({ "email": "uma@example.com" }),
        )
        .await;
    assert_eq!(verified.code(), "EMAIL_ALREADY_VERIFIED");

    // Signed out: always the same answer, never faster than 500 ms.
    for email in ["uma@example.com", "unknown@example.com"] {
        let started = std::time::Instant::now();
        let answer = s
            .post(
                "/send-verification-email",
                &As::Nobody,
                json!({ "email": email }),
            )
            .await;
        assert_eq!(answer.body, json!({ "status": true }));
        assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    }
}

#[tokio::test]
async fn change_email_needs_the_link_and_never_reveals_taken_addresses() {
    let s = server().await;
    let vic = s.session("vic@example.com").await;
    s.sign_up("taken@example.com").await;

    let same = s
        .post(
            "/change-email",
            &vic,
            json!({ "newEmail": "VIC@example.com" }),
        )
        .await;
    assert_eq!(
        (same.status, same.code()),
        (StatusCode::BAD_REQUEST, "EMAIL_IS_THE_SAME")
    );
    let taken = s
        .post(
            "/change-email",
            &vic,
            json!({ "newEmail": "taken@example.com" }),
        )
        .await;
    assert_eq!(taken.body, json!({ "status": true }));
    let asked = s
        .post(
            "/change-email",
            &vic,
            json!({ "newEmail": "Vic.New@Example.com" }),
        )
        .await;
    assert_eq!(asked.body, json!({ "status": true }));
    let mail = s.mail("vic.new@example.com", MailKind::ChangeEmail).await;
    assert!(s.mailer.sent().iter().all(|m| m.to != "taken@example.com"));
    assert_eq!(
        s.get_session(&vic).await.body["user"]["email"],
        "vic@example.com",
        "unchanged until the link is used"
    );

    let query = mail
        .url
        .split_once('?')
        .unwrap()
        .1
        .replace("&callbackURL=%2F", "");
    let done = s
        .call(Method::GET, &format!("/verify-email?{query}"), &vic, None)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["user"]["email"], "vic.new@example.com");
    assert!(
        done.header("set-auth-token").is_some(),
        "the session cookie is re-sent"
    );
    let reused = s
        .call(Method::GET, &format!("/verify-email?{query}"), &vic, None)
        .await;
    assert_eq!(reused.code(), "INVALID_TOKEN");
    assert_eq!(
        s.sign_in("vic.new@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        s.sign_in("vic@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}
