//! The same flow on PostgreSQL, with two instances sharing one database: what a deployment
//! behind a load balancer does. Runs when `SIGIL_TEST_POSTGRES_URL` is set (`scripts/test` sets
//! it, starting a throwaway server when none is running, and requires it); each test creates and
//! drops its own database.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn two_instances_on_one_postgres_database_share_users_sessions_keys_and_revocations() {
    let Some(db) = FreshDatabase::create("sigil_test").await else {
        return;
    };
    let configure = |s: &mut sigil::settings::Settings| {
        s.common.database_url = db.url.clone().into();
        s.auth.secret = Some("a-shared-secret-for-every-instance-0123456789".into());
        s.auth.base_url = Some("http://sigil.test".parse().unwrap());
    };
    let a = spawn_with(configure).await;
    let b = spawn_with(configure).await;

    // Sign up on A, sign in on B, use a JWT from B on A's API.
    assert_eq!(
        a.sign_up("Pg", "pg@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let user = b.user("pg2@example.com").await;
    let path = format!("/api/{}/tasks", user.id);
    let created = a
        .api(
            Method::POST,
            &path,
            Some(&user.jwt),
            Some(json!({ "title": "on postgres" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let listed = b.api(Method::GET, &path, Some(&user.jwt), None).await;
    assert_eq!(listed.body[0]["title"], "on postgres");
    assert_eq!(
        b.sign_up("Pg", "PG@example.com", PASSWORD).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Sign out on B: A learns the revocation from the database within a few seconds.
    b.request(
        Method::POST,
        "/api/auth/sign-out",
        &[("authorization", &format!("Bearer {}", user.session_token))],
        None,
    )
    .await;
    // A bounded poll for an event of the other instance (its next read of the revocations, on
    // its own timer), not a wait for the test's time to pass.
    let mut refused = false;
    for _ in 0..40 {
        if a.api(Method::GET, &path, Some(&user.jwt), None)
            .await
            .status
            == StatusCode::UNAUTHORIZED
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        refused,
        "instance A refuses a JWT of a session signed out on instance B"
    );
    drop((a, b));
    db.drop_now().await;
}

#[tokio::test]
async fn a_refused_start_on_postgres_migrates_nothing() {
    let Some(db) = FreshDatabase::create("sigil_test").await else {
        return;
    };
    let settings = |secret: Option<&str>| {
        let mut s =
            sigil::settings::Settings::new(sigil::settings::Mode::All, "127.0.0.1:0", &db.url);
        s.auth.secret = secret.map(Into::into);
        s
    };
    let missing = sigil::app::App::build(settings(None)).await.unwrap_err();
    assert!(
        missing.to_string().contains("required with PostgreSQL"),
        "{missing}"
    );
    let short = sigil::app::App::build(settings(Some("short")))
        .await
        .unwrap_err();
    assert!(short.to_string().contains("at least 32"), "{short}");

    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 0, "a refused start creates no table");
    drop(conn);
    db.drop_now().await;
}
