//! Hot-path reads on PostgreSQL in one round trip: [`DirectReads`].
//!
//! sqlx's pool pings a connection as it leaves the pool (`test_before_acquire`) and pings it
//! again, unconditionally, as it comes back: with the query itself, three round trips to
//! PostgreSQL for one indexed read of a row or a few. The profile of an uncached
//! `GET /api/{user_id}/tasks` on PostgreSQL (BENCHMARKS.md, "The PostgreSQL read, profiled, before
//! and after") put those round trips' system calls at half of the server's CPU time per request,
//! and sqlx's own work at a few microseconds. [`DirectReads`] keeps a few connections of its own (sqlx
//! `AnyConnection`s: the same driver, statements, types and row conversion as the pool) and sends
//! only the query: one round trip, a prepared statement from each connection's cache.
//!
//! What the pings were for is kept by construction:
//! - **a silent database** is an error within `timeout` ([`sqlx::Error::PoolTimedOut`], which
//!   the services answer 503 like a pool that timed out): waiting for a connection, connecting
//!   and the query all run under it, and a connection whose query failed or was cancelled is
//!   dropped, never reused (its protocol state is unknown);
//! - **a connection that died while idle** (PostgreSQL restarted, a proxy or the server cut it)
//!   fails at its next query with an I/O error; the read is then retried once on a new
//!   connection, which is what the acquire ping would have done, so a restart costs no request an
//!   error;
//! - **bounded**: at most as many as the pool's connections are open at once (a semaphore, whose
//!   waiters the callers bound with their own admission control) and at most that many are kept
//!   idle; when the server refuses a new one (`max_connections` reached), the read goes through
//!   the pool instead, so the extra connections never turn a full server into errors.
//!
//! Only single-statement reads outside a transaction belong here (each sees every transaction
//! committed before it, as on the pool); writes stay on the pool. Used for the tasks list
//! (sigil-tasks) and the session lookup behind get-session and token (sigil-auth) on PostgreSQL.
//! The SQLite path has its own reader ([`crate::sqlite`]): there the cost was sqlx's
//! worker-thread hand-offs, not round trips.

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// A query as [`DirectReads`] runs it (built again for a retry).
pub type AnyQuery<'q> = Query<'q, Any, AnyArguments>;

/// A few connections for hot reads, used without sqlx's pool pings (see the module docs).
#[derive(Debug)]
pub struct DirectReads {
    options: AnyConnectOptions,
    /// Where a read goes when the server refuses a new connection (`max_connections` reached).
    pool: AnyPool,
    idle: Mutex<Vec<AnyConnection>>,
    permits: Semaphore,
    timeout: Duration,
}

impl DirectReads {
    /// Hot reads beside `pool`: connections with the pool's own connect options (TLS settings
    /// included), at most as many as the pool has, each read bounded by `timeout`. Connects
    /// lazily: the pool has already shown the database reachable.
    pub fn beside(pool: &AnyPool, timeout: Duration) -> DirectReads {
        let options = (*pool.connect_options()).clone();
        DirectReads {
            // The statements of the hot path would fill the log at debug level.
            options: options.disable_statement_logging(),
            pool: pool.clone(),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new((pool.options().get_max_connections() as usize).max(1)),
            timeout,
        }
    }

    /// Every row `query` answers. `query` builds the statement, again for the retry on a new
    /// connection.
    pub async fn fetch_all<'q>(
        &self,
        query: impl Fn() -> AnyQuery<'q> + Sync,
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        tokio::time::timeout(self.timeout, self.read(&query))
            .await
            // A silent database: the same error, and so the same 503, as a pool that timed out.
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    /// The row `query` answers, for lookups by a unique key (at most one row).
    pub async fn fetch_optional<'q>(
        &self,
        query: impl Fn() -> AnyQuery<'q> + Sync,
    ) -> Result<Option<AnyRow>, sqlx::Error> {
        Ok(self.fetch_all(query).await?.into_iter().next())
    }

    /// Closes the idle connections; later reads fail with [`sqlx::Error::PoolClosed`] (at
    /// shutdown, before the pool closes; [`DirectReads::is_closed`] tells callers to use it).
    pub async fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for conn in idle {
            let _ = tokio::time::timeout(self.timeout, conn.close()).await;
        }
    }

    /// Whether [`DirectReads::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.permits.is_closed()
    }

    /// Connections kept idle now (for tests and the bound).
    pub fn idle(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    async fn read<'q>(
        &self,
        query: &(dyn Fn() -> AnyQuery<'q> + Sync),
    ) -> Result<Vec<AnyRow>, sqlx::Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let (mut conn, reused) = match idle {
            Some(conn) => (conn, true),
            None => match self.connect().await? {
                Some(conn) => (conn, false),
                None => return query().fetch_all(&self.pool).await,
            },
        };
        // If the timeout cancels this future mid-query, `conn` is dropped with it: a connection in
        // an unknown state never goes back.
        let mut fetched = query().fetch_all(&mut conn).await;
        if reused && fetched.as_ref().is_err_and(is_broken_connection) {
            // What the pool's acquire ping would have found; the read is retried once.
            tracing::debug!(target: "sigil::db", "an idle connection had died: reading on a new one");
            conn = match self.connect().await? {
                Some(conn) => conn,
                None => return query().fetch_all(&self.pool).await,
            };
            fetched = query().fetch_all(&mut conn).await;
        }
        // A failed connection is dropped (closed without the goodbye: it may be what failed).
        let fetched = fetched?;
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        Ok(fetched)
    }
}

impl DirectReads {
    /// A new connection, or `None` when the server refused it (too many connections, starting
    /// up or shutting down): the read then goes through the pool, whose connections are already
    /// open, so these extra connections never turn a server at its `max_connections` into errors.
    async fn connect(&self) -> Result<Option<AnyConnection>, sqlx::Error> {
        match AnyConnection::connect_with(&self.options).await {
            Ok(conn) => Ok(Some(conn)),
            Err(sqlx::Error::Database(error)) => {
                tracing::debug!(target: "sigil::db", code = ?error.code(), "no new connection: reading through the pool");
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }
}

/// Whether `error` says the connection itself is gone, not that the statement failed.
fn is_broken_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server ended this backend.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("57P")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_test_support::FreshDatabase;
    use sqlx::Row;
    use std::time::Instant;

    async fn table(url: &str) -> sqlx::AnyPool {
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(3)
            .connect(url)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE notes (owner TEXT NOT NULL, body TEXT NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        pool
    }

    fn notes_of(owner: &str) -> AnyQuery<'_> {
        sqlx::query("SELECT body FROM notes WHERE owner = $1 ORDER BY body").bind(owner)
    }

    async fn backends(pool: &sqlx::AnyPool) -> i64 {
        sqlx::query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            .fetch_one(pool)
            .await
            .unwrap()
            .get(0)
    }

    /// A read sees every write committed before it; concurrent reads never open more than the
    /// bound; the connections are reused (no new backend per read).
    #[tokio::test]
    async fn reads_see_committed_writes_within_the_connection_bound() {
        let Some(db) = FreshDatabase::create("sigil_db_reads").await else {
            return;
        };
        let pool = table(&db.url).await;
        let reads = DirectReads::beside(&pool, Duration::from_secs(5));
        assert!(
            reads
                .fetch_all(|| notes_of("ada"))
                .await
                .unwrap()
                .is_empty()
        );
        for body in ["b", "a"] {
            sqlx::query("INSERT INTO notes (owner, body) VALUES ('ada', $1)")
                .bind(body)
                .execute(&pool)
                .await
                .unwrap();
            let rows = reads.fetch_all(|| notes_of("ada")).await.unwrap();
            let bodies: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            assert_eq!(bodies.last().map(String::as_str), Some("b"), "{bodies:?}");
        }
        let one = reads
            .fetch_optional(|| notes_of("ada"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(one.get::<String, _>(0), "a");
        assert!(
            reads
                .fetch_optional(|| notes_of("bob"))
                .await
                .unwrap()
                .is_none()
        );

        let reads = std::sync::Arc::new(reads);
        let mut all = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let reads = reads.clone();
            all.spawn(async move { reads.fetch_all(|| notes_of("ada")).await.map(|r| r.len()) });
        }
        while let Some(rows) = all.join_next().await {
            assert_eq!(rows.unwrap().unwrap(), 2);
        }
        assert!(reads.idle() <= 3, "idle {}", reads.idle());
        // The pool's connections (at most 3) and the reader's (at most as many), and no more.
        assert!(backends(&pool).await <= 6);
        let before = backends(&pool).await;
        for _ in 0..20 {
            reads.fetch_all(|| notes_of("ada")).await.unwrap();
        }
        assert_eq!(
            backends(&pool).await,
            before,
            "reads reuse their connections"
        );
        reads.close().await;
        assert!(reads.is_closed());
        assert!(matches!(
            reads.fetch_all(|| notes_of("ada")).await,
            Err(sqlx::Error::PoolClosed)
        ));
        pool.close().await;
        db.drop_now().await;
    }

    /// What sqlx's acquire ping was for: a connection the server ended while it sat idle is
    /// found out at its next use, and the read is answered on a new connection, without an error.
    #[tokio::test]
    async fn a_connection_ended_while_idle_costs_no_read_an_error() {
        let Some(db) = FreshDatabase::create("sigil_db_idle").await else {
            return;
        };
        let pool = table(&db.url).await;
        sqlx::query("INSERT INTO notes (owner, body) VALUES ('ada', 'kept')")
            .execute(&pool)
            .await
            .unwrap();
        let reads = DirectReads::beside(&pool, Duration::from_secs(5));
        assert_eq!(reads.fetch_all(|| notes_of("ada")).await.unwrap().len(), 1);
        assert_eq!(reads.idle(), 1);
        // As a PostgreSQL restart or an idle-session timeout would: end every other backend.
        let mut admin = pool.acquire().await.unwrap();
        let ended: Vec<bool> = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut *admin)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
        drop(admin);
        assert!(ended.contains(&true), "{ended:?}");
        for _ in 0..3 {
            let rows = reads.fetch_all(|| notes_of("ada")).await.unwrap();
            assert_eq!(rows.len(), 1);
        }
        assert_eq!(
            reads.idle(),
            1,
            "the dead connection was replaced, not kept"
        );
        pool.close().await;
        db.drop_now().await;
    }

    /// A failing statement is the statement's error (no retry: nothing is wrong with the
    /// connection), its connection is not reused, and the next read works.
    #[tokio::test]
    async fn a_failing_statement_is_its_error_and_the_next_read_works() {
        let Some(db) = FreshDatabase::create("sigil_db_error").await else {
            return;
        };
        let pool = table(&db.url).await;
        let reads = DirectReads::beside(&pool, Duration::from_secs(5));
        reads.fetch_all(|| notes_of("ada")).await.unwrap();
        let Err(error) = reads
            .fetch_all(|| sqlx::query("SELECT no_such_column FROM notes"))
            .await
        else {
            panic!("a statement naming no column succeeded");
        };
        assert!(
            matches!(&error, sqlx::Error::Database(e) if e.code().as_deref() == Some("42703")),
            "{error}"
        );
        assert_eq!(reads.idle(), 0, "the failed connection is dropped");
        assert!(
            reads
                .fetch_all(|| notes_of("ada"))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(reads.idle(), 1);
        pool.close().await;
        db.drop_now().await;
    }

    /// A database that accepts the connection and then says nothing (packets dropped): the read
    /// fails within the timeout as a pool timeout (503 upstream), and does not hang.
    #[tokio::test]
    async fn a_silent_database_is_a_timeout_not_a_hang() {
        sqlx::any::install_default_drivers();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect_lazy(&format!(
                "postgres://postgres@127.0.0.1:{port}/silent?sslmode=disable"
            ))
            .unwrap();
        let reads = DirectReads::beside(&pool, Duration::from_millis(300));
        let started = Instant::now();
        let result = reads
            .fetch_all(|| notes_of("ada"))
            .await
            .map(|rows| rows.len());
        assert!(
            matches!(result, Err(sqlx::Error::PoolTimedOut)),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(reads.idle(), 0);
        held.abort();
    }

    /// A server that refuses one more connection (`max_connections`, here a role's connection
    /// limit) does not turn hot reads into errors: they go through the pool's open connections.
    #[tokio::test]
    async fn a_server_at_its_connection_limit_is_read_through_the_pool() {
        let Some(db) = FreshDatabase::create("sigil_db_limit").await else {
            return;
        };
        let owner = table(&db.url).await;
        let role = format!(
            "sigil_db_limited_{}",
            sigil_test_support::services::unique_suffix()
        );
        for statement in [
            format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT 1"),
            format!("GRANT SELECT ON notes TO {role}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&owner)
                .await
                .unwrap();
        }
        sqlx::query("INSERT INTO notes (owner, body) VALUES ('ada', 'kept')")
            .execute(&owner)
            .await
            .unwrap();
        let url = db.url.replacen("postgres@", &format!("{role}@"), 1);
        assert_ne!(url, db.url, "the test URL names the user postgres");
        // The role's one connection is the pool's.
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect(&url)
            .await
            .unwrap();
        let reads = DirectReads::beside(&pool, Duration::from_secs(5));
        for _ in 0..3 {
            let rows = reads.fetch_all(|| notes_of("ada")).await.unwrap();
            assert_eq!(rows.len(), 1);
        }
        assert_eq!(reads.idle(), 0, "no connection of its own could be opened");
        pool.close().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP OWNED BY {role}; DROP ROLE {role}"
        )))
        .execute(&owner)
        .await
        .unwrap();
        owner.close().await;
        db.drop_now().await;
    }
}
