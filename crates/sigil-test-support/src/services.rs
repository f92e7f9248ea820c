//! PostgreSQL and Redis for tests.
//!
//! A test that needs one reads its URL with [`service_url`]: `SIGIL_TEST_POSTGRES_URL`,
//! `SIGIL_TEST_REDIS_URL`. Unset, the test says so on stderr and returns, unless
//! `SIGIL_TEST_REQUIRE_SERVICES=1` (which `scripts/test` and CI set, after starting or finding
//! the services): then a missing service fails the test, never skips it silently.

use sqlx::Connection;

/// The URL of an external service a test needs, or `None` (the test returns) when it is not
/// configured and not required. Panics when `SIGIL_TEST_REQUIRE_SERVICES=1` and it is unset.
pub fn service_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("SIGIL_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "{var} is not set, and SIGIL_TEST_REQUIRE_SERVICES=1 requires it"
        );
        eprintln!("{var} not set: test skipped (scripts/test always sets it)");
    }
    url
}

/// `SIGIL_TEST_POSTGRES_URL` (see [`service_url`]).
pub fn postgres_url() -> Option<String> {
    service_url("SIGIL_TEST_POSTGRES_URL")
}

/// `SIGIL_TEST_REDIS_URL` (see [`service_url`]).
pub fn redis_url() -> Option<String> {
    service_url("SIGIL_TEST_REDIS_URL")
}

/// A random lower-case suffix for names several tests (and several runs) must not share:
/// databases, Redis keys.
pub fn unique_suffix() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        sigil_token::random::alphanumeric(8).unwrap().to_lowercase()
    )
}

/// A PostgreSQL database of its own for one test, created on the server of
/// `SIGIL_TEST_POSTGRES_URL`, so tests running at once in one process never share tables.
/// Dropped by [`FreshDatabase::drop_now`] (a test that fails leaves it for inspection).
#[derive(Debug)]
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl FreshDatabase {
    /// On `SIGIL_TEST_POSTGRES_URL`'s server; `None` when it is not configured (see
    /// [`service_url`]). `prefix` names the test file in the database's name.
    pub async fn create(prefix: &str) -> Option<FreshDatabase> {
        Some(FreshDatabase::create_on(&postgres_url()?, prefix).await)
    }

    /// On the server of `admin_url`.
    pub async fn create_on(admin_url: &str, prefix: &str) -> FreshDatabase {
        sqlx::any::install_default_drivers();
        let name = format!("{prefix}_{}", unique_suffix());
        let mut admin = sqlx::AnyConnection::connect(admin_url)
            .await
            .expect("PostgreSQL reachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(admin_url);
        FreshDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }

    /// Drops the database, closing its connections first.
    pub async fn drop_now(self) {
        let mut admin = sqlx::AnyConnection::connect(&self.admin_url).await.unwrap();
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await;
    }
}
