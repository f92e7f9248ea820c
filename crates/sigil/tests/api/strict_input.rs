//! One strict reading of requests on every route: duplicate JSON members are refused by the
//! tasks API as by the identity routes, path and query errors answer in the `{code, message}`
//! JSON shape, and the HTML error page carries the pages' security headers.

use crate::helpers::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_tasks_api_refuses_duplicate_members_and_stores_nothing() {
    let app = spawn_app().await;
    let user = app.user("dup@example.com").await;
    let path = format!("/api/{}/tasks", user.id);
    let auth = format!("Bearer {}", user.jwt);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let created = app
        .raw(
            Method::POST,
            &path,
            &headers,
            r#"{"title":"a","title":"b"}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        created.body,
        json!({ "code": "INVALID_JSON", "message": "Duplicate keys in JSON body" })
    );
    // Nested duplicates too.
    let nested = app
        .raw(
            Method::POST,
            &path,
            &headers,
            r#"{"title":"a","x":{"k":1,"k":2}}"#,
        )
        .await;
    assert_eq!(nested.status, StatusCode::BAD_REQUEST);
    assert_eq!(nested.code(), "INVALID_JSON");
    let list = app.api(Method::GET, &path, Some(&user.jwt), None).await;
    assert_eq!(list.body, json!([]), "nothing stored");

    // The same on an existing task: PUT and PATCH leave it as it was.
    let task = app
        .api(
            Method::POST,
            &path,
            Some(&user.jwt),
            Some(json!({ "title": "kept" })),
        )
        .await;
    assert_eq!(task.status, StatusCode::CREATED);
    let one = format!("{path}/{}", task.body["id"].as_str().unwrap());
    let put = app
        .raw(Method::PUT, &one, &headers, r#"{"title":"x","title":"y"}"#)
        .await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST);
    assert_eq!(put.code(), "INVALID_JSON");
    let patch = app
        .raw(
            Method::PATCH,
            &format!("{one}/complete"),
            &headers,
            r#"{"completed":true,"completed":false}"#,
        )
        .await;
    assert_eq!(patch.status, StatusCode::BAD_REQUEST);
    assert_eq!(patch.code(), "INVALID_JSON");
    let after = app.api(Method::GET, &one, Some(&user.jwt), None).await;
    assert_eq!(after.body["title"], "kept");
    assert_eq!(after.body["completed"], false);
}

#[tokio::test]
async fn the_identity_routes_refuse_nested_duplicates_too() {
    let app = spawn_app().await;
    let up = app
        .raw(
            Method::POST,
            "/api/auth/sign-up/email",
            &[("content-type", "application/json")],
            r#"{"name":"N","email":"nested@example.com","password":"a long passphrase","x":{"a":1,"a":2}}"#,
        )
        .await;
    assert_eq!(up.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        up.body,
        json!({ "code": "BAD_REQUEST", "message": "Duplicate keys in JSON body" })
    );
    let inn = app
        .sign_in("nested@example.com", crate::helpers::PASSWORD)
        .await;
    assert_eq!(inn.status, StatusCode::UNAUTHORIZED, "no account was made");
}

#[tokio::test]
async fn path_and_query_errors_answer_in_json() {
    let app = spawn_app().await;
    let user = app.user("path@example.com").await;
    let bad_id = app
        .api(
            Method::GET,
            &format!("/api/{}/tasks/%FF%FE", user.id),
            Some(&user.jwt),
            None,
        )
        .await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_id.code(), "BAD_REQUEST", "{:?}", bad_id.body);
    assert!(
        bad_id.body["message"].as_str().unwrap().contains("UTF-8"),
        "{:?}",
        bad_id.body
    );
    assert!(
        bad_id
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );

    let bad_token = app
        .request(Method::GET, "/api/auth/reset-password/%C3%28", &[], None)
        .await;
    assert!(bad_token.status.is_client_error());
    assert!(
        bad_token
            .header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        bad_token.headers
    );
    assert!(!bad_token.code().is_empty(), "{:?}", bad_token.body);
    assert!(bad_token.body["message"].is_string());

    let bad_query = app
        .api(
            Method::GET,
            &format!("/api/{}/tasks?status=sometimes", user.id),
            Some(&user.jwt),
            None,
        )
        .await;
    assert!(bad_query.status.is_client_error());
    assert!(!bad_query.code().is_empty(), "{:?}", bad_query.body);
}

#[tokio::test]
async fn the_error_page_carries_the_pages_security_headers() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(format!("{}/sign-in", app.url))
        .send()
        .await
        .unwrap();
    let error = app
        .client
        .get(format!("{}/api/auth/error?error=INVALID_TOKEN", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error.status(), StatusCode::OK);
    let h = error.headers();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(
        h["content-security-policy"],
        page.headers()["content-security-policy"],
        "the same policy as the other pages"
    );
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(error.text().await.unwrap().contains("INVALID_TOKEN"));
}
