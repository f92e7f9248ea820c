//! Load shedding in front of the database pool: past `SIGIL_DB_POOL_SIZE` requests holding a
//! connection plus `SIGIL_DB_MAX_WAITERS` waiting for one, the tasks API answers
//! `503 {"code":"SERVICE_BUSY"}` with `Retry-After` at once instead of queueing without bound.
//!
//! The pool is made busy deterministically: a transaction of the test holds an exclusive lock on
//! the tasks table, so the first read blocks inside PostgreSQL while holding the only connection.
//! The test then counts outcomes; nothing depends on timing. Runs when `SIGIL_TEST_POSTGRES_URL`
//! is set (`scripts/test` sets it); each test creates and drops its own database.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Connection;
use std::time::{Duration, Instant};

/// Waits (polling, bounded) until `check` holds.
async fn until<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    sigil_test_support::wait::until(Duration::from_secs(30), what, check).await;
}

#[tokio::test]
async fn past_the_pool_and_its_waiters_the_tasks_api_answers_service_busy_at_once() {
    let Some(db) = FreshDatabase::create("sigil_shed").await else {
        return;
    };
    const WAITERS: usize = 2;
    const EXTRA: usize = 10;
    let url = db.url.clone();
    let app = spawn_with(move |s| {
        s.common.database_url = url.into();
        s.auth.secret = Some("a-shared-secret-for-every-instance-0123456789".into());
        s.common.db_pool_size = Some(1);
        s.common.db_max_waiters = WAITERS;
        // Long enough that an admitted waiter is still waiting when the lock goes.
        s.common.db_timeout = Duration::from_secs(60);
    })
    .await;
    let user = app.user("shed@example.com").await;
    let path = format!("/api/{}/tasks", user.id);
    let created = app
        .api(
            Method::POST,
            &path,
            Some(&user.jwt),
            Some(json!({ "title": "t" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);

    // Hold the tasks table: the next read blocks in PostgreSQL, holding the pool's connection.
    let mut locker = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let mut observer = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let app = std::sync::Arc::new(app);
    let first = {
        let (app, path, jwt) = (app.clone(), path.clone(), user.jwt.clone());
        tokio::spawn(async move { app.api(Method::GET, &path, Some(&jwt), None).await })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut observer)
        .await
        .unwrap();
        if waiting == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first read never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // EXTRA more reads while the only connection is held: WAITERS of them are admitted to wait
    // for it, every other one is refused at once.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let extra: Vec<_> = (0..EXTRA)
        .map(|_| {
            let (app, path, jwt, done) =
                (app.clone(), path.clone(), user.jwt.clone(), done.clone());
            tokio::spawn(async move {
                let answer = app.api(Method::GET, &path, Some(&jwt), None).await;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                answer
            })
        })
        .collect();
    until("every request past the bound is answered", || {
        let n = done.load(std::sync::atomic::Ordering::SeqCst);
        async move { n >= EXTRA - WAITERS }
    })
    .await;
    assert_eq!(
        done.load(std::sync::atomic::Ordering::SeqCst),
        EXTRA - WAITERS,
        "the admitted waiters are still waiting for the connection"
    );
    sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();

    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let (mut ok, mut busy) = (0, 0);
    for handle in extra {
        let answer = handle.await.unwrap();
        match answer.status {
            StatusCode::OK => {
                assert_eq!(answer.body[0]["title"], "t");
                ok += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(answer.code(), "SERVICE_BUSY", "{:?}", answer.body);
                assert_eq!(answer.header("retry-after"), Some("1"));
                assert!(
                    answer.body["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty())
                );
                busy += 1;
            }
            other => panic!("unexpected {other}: {:?}", answer.body),
        }
    }
    assert_eq!((ok, busy), (WAITERS, EXTRA - WAITERS));

    // Once the pool is free again, nothing is refused.
    for _ in 0..5 {
        let again = app.api(Method::GET, &path, Some(&user.jwt), None).await;
        assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    }
    drop(app);
    db.drop_now().await;
}
