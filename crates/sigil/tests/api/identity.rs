//! The identity service's answers to bad input: Better Auth's statuses and codes, nothing stored.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn duplicate_email_is_422_whatever_the_case() {
    let app = spawn_app().await;
    assert_eq!(
        app.sign_up("A", "judy@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let again = app.sign_up("B", " JUDY@example.com", PASSWORD).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.code(), "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    assert_eq!(
        again.body["message"],
        "User already exists. Use another email."
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_are_indistinguishable() {
    let app = spawn_app().await;
    app.sign_up("K", "karl@example.com", PASSWORD).await;
    let wrong = app.sign_in("karl@example.com", "not the password").await;
    let unknown = app.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(
        wrong.body,
        json!({ "code": "INVALID_EMAIL_OR_PASSWORD", "message": "Invalid email or password" })
    );
    assert!(wrong.cookies().is_empty() && unknown.cookies().is_empty());
}

#[tokio::test]
async fn password_length_rules() {
    let app = spawn_app().await;
    let short = app.sign_up("L", "l1@example.com", "1234567").await;
    assert_eq!(
        (short.status, short.code()),
        (StatusCode::BAD_REQUEST, "PASSWORD_TOO_SHORT")
    );
    let long = app.sign_up("L", "l2@example.com", &"x".repeat(129)).await;
    assert_eq!(
        (long.status, long.code()),
        (StatusCode::BAD_REQUEST, "PASSWORD_TOO_LONG")
    );
    assert_eq!(
        app.sign_up("L", "l3@example.com", "12345678").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.sign_up("L", "l4@example.com", &"x".repeat(128))
            .await
            .status,
        StatusCode::OK
    );
    // Refused passwords created nothing.
    assert_eq!(
        app.sign_in("l1@example.com", "1234567").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_up("L", "l1@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let long_sign_in = app.sign_in("l3@example.com", &"x".repeat(129)).await;
    assert_eq!(long_sign_in.code(), "PASSWORD_TOO_LONG");
}

#[tokio::test]
async fn malformed_json_and_missing_fields_create_nothing() {
    let app = spawn_app().await;
    let json_header = [("content-type", "application/json")];
    let bad = app
        .raw(
            Method::POST,
            "/api/auth/sign-up/email",
            &json_header,
            "{\"name\":\"x\",",
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.body,
        json!({ "code": "BAD_REQUEST", "message": "Invalid JSON in request body" })
    );

    let missing = app
        .post(
            "/api/auth/sign-up/email",
            json!({ "email": "m@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.code(), "VALIDATION_ERROR");
    assert_eq!(
        missing.body["message"],
        "[body.name] Invalid input: expected string, received undefined"
    );

    let several = app.post("/api/auth/sign-in/email", json!({})).await;
    assert_eq!(
        several.body["message"],
        "[body.email] Invalid input: expected string, received undefined; [body.password] Invalid input: expected string, received undefined"
    );
    let bad_email = app
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "n", "email": "not-an-email", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        bad_email.body["message"],
        "[body.email] Invalid email address"
    );
    let sign_in_bad_email = app.sign_in("not-an-email", PASSWORD).await;
    assert_eq!(
        (sign_in_bad_email.status, sign_in_bad_email.code()),
        (StatusCode::BAD_REQUEST, "INVALID_EMAIL")
    );
    let text = app
        .raw(
            Method::POST,
            "/api/auth/sign-up/email",
            &[("content-type", "text/plain")],
            "hi",
        )
        .await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let dup = app
        .raw(
            Method::POST,
            "/api/auth/sign-up/email",
            &json_header,
            r#"{"name":"a","email":"d@example.com","email":"e@example.com","password":"correct horse battery"}"#,
        )
        .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);

    // None of these created the account.
    assert_eq!(
        app.sign_in("m@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in("d@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in("e@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn mass_assignment_is_ignored() {
    let app = spawn_app().await;
    let up = app
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "N", "email": "n@example.com", "password": PASSWORD, "emailVerified": true,
                    "id": "chosen-id", "createdAt": "2000-01-01T00:00:00.000Z" }),
        )
        .await;
    assert_eq!(up.status, StatusCode::OK);
    assert_eq!(up.body["user"]["emailVerified"], false);
    assert_ne!(up.body["user"]["id"], "chosen-id");
    assert_eq!(up.body["user"]["role"], "user");
    assert_eq!(up.body["user"]["banned"], false);
    assert_ne!(up.body["user"]["createdAt"], "2000-01-01T00:00:00.000Z");
    // The admin plugin's fields are refused, not ignored (Better Auth: `input: false`).
    let forged = app
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "N", "email": "m@example.com", "password": PASSWORD, "role": "admin" }),
        )
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    assert_eq!(forged.code(), "FIELD_NOT_ALLOWED");
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_with_413() {
    let app = spawn_app().await;
    let big = app
        .post(
            "/api/auth/sign-up/email",
            json!({ "name": "x".repeat(70 * 1024), "email": "big@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.code(), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let app = spawn_app().await;
    let answer = app.request(Method::GET, "/api/auth/nope", &[], None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.code(), "NOT_FOUND");
    let ok = app.request(Method::GET, "/api/auth/ok", &[], None).await;
    assert_eq!(ok.body, json!({ "ok": true }));
}
