//! [`AuthStore`] over sqlx's `Any` driver: one set of statements (numbered `$n` parameters, which
//! both SQLite and PostgreSQL accept), one migration set, two backends.

use super::{
    Account, AuthStore, JwkRow, PasskeyRow, PasskeyUse, RefreshToken, Session, StoreError,
    StoreResult, TwoFactorRow, Unlinked, User,
};
use async_trait::async_trait;
use sigil_db::rusqlite::OptionalExtension;
use sigil_db::{Columns, DirectReads, SqliteReads};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlStr};
use std::sync::Arc;
use std::time::Duration;

/// The identity schema, embedded in the binary: what `sqlx::migrate!("./migrations")` would
/// embed, without sqlx's macros (they compile sqlx, both drivers and SQLite a second time, for
/// the build host). `tests::the_embedded_migrations_are_the_files` keeps it equal to the files.
fn migrations() -> Vec<Migration> {
    let embed = |version, description: &'static str, sql: &'static str| {
        let no_tx = sql.starts_with("-- no-transaction");
        let sql = SqlStr::from_static(sql);
        Migration::new(
            version,
            description.into(),
            MigrationType::Simple,
            sql,
            no_tx,
        )
    };
    vec![
        embed(
            20261124000001,
            "identity",
            include_str!("../../migrations/20261124000001_identity.sql"),
        ),
        embed(
            20261129000001,
            "positions",
            include_str!("../../migrations/20261129000001_positions.sql"),
        ),
        embed(
            20261130000001,
            "admin",
            include_str!("../../migrations/20261130000001_admin.sql"),
        ),
        embed(
            20261130000003,
            "social",
            include_str!("../../migrations/20261130000003_social.sql"),
        ),
        embed(
            20261130000004,
            "two factor",
            include_str!("../../migrations/20261130000004_two_factor.sql"),
        ),
        embed(
            20261130000005,
            "passkeys",
            include_str!("../../migrations/20261130000005_passkeys.sql"),
        ),
        embed(
            20261130000006,
            "key rotation",
            include_str!("../../migrations/20261130000006_key_rotation.sql"),
        ),
    ]
}

/// Which database a URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend of a database URL.
    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// How long a request waits for a database connection by default before it is answered 503.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens a pool for a `sqlite:` or `postgres:` URL. SQLite files are created if missing and run
/// in WAL mode with `synchronous=NORMAL` and foreign keys on.
pub async fn connect(url: &str) -> Result<(AnyPool, Backend), sqlx::Error> {
    connect_with(url, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// Whether a database error means the database is unreachable or overloaded (answered 503 with
/// `Retry-After`), as opposed to a fault in a statement (answered 500).
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        // A connection that ended mid-message (a peer cut while connecting reads as garbage).
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL: connection exceptions (08), too many connections (53300), shutting down
        // (57P01-57P03); SQLite: busy or locked past busy_timeout (5, 6).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(&*code, "53300" | "57P01" | "57P02" | "57P03" | "5" | "6")
        }),
        _ => false,
    }
}

/// [`connect`] with the time a request may wait for a connection (`acquire_timeout`): past it,
/// the request fails with [`sqlx::Error::PoolTimedOut`], answered 503.
pub async fn connect_with(
    url: &str,
    acquire_timeout: Duration,
) -> Result<(AnyPool, Backend), sqlx::Error> {
    connect_with_options(
        url,
        PoolSettings {
            acquire_timeout,
            ..PoolSettings::default()
        },
    )
    .await
}

/// How a pool is sized and how long a request waits for one of its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// How long a request waits for a connection before [`sqlx::Error::PoolTimedOut`] (503).
    pub acquire_timeout: Duration,
    /// Most connections open at once; `None`: [`Backend::default_pool_size`].
    pub max_connections: Option<u32>,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
            max_connections: None,
        }
    }
}

impl Backend {
    /// The pool size when none is configured: 8 SQLite connections (readers; WAL lets them run
    /// beside the one writer), 16 PostgreSQL ones. On the 2-core test machine 16 served the
    /// tasks read faster than 4 (BENCHMARKS.md, "PostgreSQL"); size it to the database server
    /// with `SIGIL_DB_POOL_SIZE` (docs/operations.md, "Database pool").
    pub fn default_pool_size(self) -> u32 {
        match self {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        }
    }
}

/// [`connect`] with explicit [`PoolSettings`].
pub async fn connect_with_options(
    url: &str,
    settings: PoolSettings,
) -> Result<(AnyPool, Backend), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url).ok_or_else(|| {
        sqlx::Error::Configuration("database URL must start with sqlite: or postgres:".into())
    })?;
    let url = match backend {
        Backend::Sqlite if !url.contains("mode=") => {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        }
        Backend::Sqlite | Backend::Postgres => url.to_owned(),
    };
    let max = settings
        .max_connections
        .unwrap_or_else(|| backend.default_pool_size())
        .max(1);
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .acquire_timeout(settings.acquire_timeout)
        // sqlx pings each connection as it leaves the pool (and again as it returns). The first
        // ping costs a round trip per query (BENCHMARKS.md, "PostgreSQL") but it runs inside
        // `acquire_timeout`: it is what answers a request 503 within `SIGIL_DB_TIMEOUT` when the
        // database goes silent right after a connection's last use (tests/faults.rs), since a
        // query itself has no timeout.
        .test_before_acquire(true)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // busy_timeout first: the other pragmas may wait for a lock held by another
                    // process opening the same new database.
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await?;
    if backend == Backend::Sqlite {
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await?;
    }
    Ok((pool, backend))
}

/// The SQL store.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    /// The session lookup's own connections on PostgreSQL (see [`SqlStore::with_direct_reads`]).
    direct: Option<Arc<DirectReads>>,
    /// The session lookup's own connections on an SQLite file (see [`SqlStore::with_sqlite_reads`]).
    sqlite: Option<Arc<SqliteReads>>,
}

pub(super) fn conflict_or(e: sqlx::Error) -> StoreError {
    match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(e),
    }
}

// Column lists as macros so that every statement stays a string literal (sqlx refuses
// dynamically built SQL).
macro_rules! user_columns {
    () => {
        "u.id, u.name, u.email, u.email_verified, u.image, u.created_at, u.updated_at, u.role, u.banned, u.ban_reason, u.ban_expires, u.two_factor_enabled"
    };
}
macro_rules! session_columns {
    () => {
        "s.id, s.token_hash, s.user_id, s.expires_at, s.created_at, s.updated_at, s.ip_address, s.user_agent, s.remember"
    };
}

pub(super) fn user_from<R: Columns + ?Sized>(row: &R, offset: usize) -> Result<User, R::Error> {
    Ok(User {
        id: row.text(offset)?,
        name: row.text(offset + 1)?,
        email: row.text(offset + 2)?,
        email_verified: row.flag(offset + 3)?,
        image: row.maybe_text(offset + 4)?,
        created_at: row.int(offset + 5)?,
        updated_at: row.int(offset + 6)?,
        role: row.text(offset + 7)?,
        banned: row.flag(offset + 8)?,
        ban_reason: row.maybe_text(offset + 9)?,
        ban_expires: row.maybe_int(offset + 10)?,
        two_factor_enabled: row.flag(offset + 11)?,
    })
}

/// A session and its user by the session token's hash: the hot read of every session request.
const SESSION_BY_TOKEN_HASH: &str = concat!(
    "SELECT ",
    session_columns!(),
    ", ",
    user_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
);

/// The user columns, for statements built at run time (`admin_sql`).
pub(super) const USER_COLUMNS: &str = user_columns!();
/// The number of columns `user_columns!` selects.
pub(super) const USER_COLUMN_COUNT: usize = 12;

fn session_from<R: Columns + ?Sized>(row: &R, offset: usize) -> Result<Session, R::Error> {
    Ok(Session {
        id: row.text(offset)?,
        token_hash: row.text(offset + 1)?,
        user_id: row.text(offset + 2)?,
        expires_at: row.int(offset + 3)?,
        created_at: row.int(offset + 4)?,
        updated_at: row.int(offset + 5)?,
        ip_address: row.text(offset + 6)?,
        user_agent: row.text(offset + 7)?,
        remember: row.flag(offset + 8)?,
    })
}

fn refresh_from(row: &AnyRow) -> Result<RefreshToken, sqlx::Error> {
    Ok(RefreshToken {
        id: row.try_get(0)?,
        token_hash: row.try_get(1)?,
        session_id: row.try_get(2)?,
        parent_id: row.try_get(3)?,
        child_id: row.try_get(4)?,
        used_at: row.try_get(5)?,
        created_at: row.try_get(6)?,
        expires_at: row.try_get(7)?,
    })
}

macro_rules! account_columns {
    () => {
        "id, user_id, provider_id, account_id, access_token, refresh_token, id_token, access_token_expires_at, refresh_token_expires_at, scope, created_at, updated_at"
    };
}

const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, user_id, provider_id, account_id, access_token, refresh_token, id_token, access_token_expires_at, refresh_token_expires_at, scope, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

fn bind_account<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    a: &'q Account,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(&a.id)
        .bind(&a.user_id)
        .bind(&a.provider_id)
        .bind(&a.account_id)
        .bind(&a.access_token)
        .bind(&a.refresh_token)
        .bind(&a.id_token)
        .bind(a.access_token_expires_at)
        .bind(a.refresh_token_expires_at)
        .bind(&a.scope)
        .bind(a.created_at)
        .bind(a.updated_at)
}

fn account_from(row: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        provider_id: row.try_get(2)?,
        account_id: row.try_get(3)?,
        access_token: row.try_get(4)?,
        refresh_token: row.try_get(5)?,
        id_token: row.try_get(6)?,
        access_token_expires_at: row.try_get(7)?,
        refresh_token_expires_at: row.try_get(8)?,
        scope: row.try_get(9)?,
        created_at: row.try_get(10)?,
        updated_at: row.try_get(11)?,
    })
}

const INSERT_SESSION: &str = "INSERT INTO sessions (id, token_hash, user_id, expires_at, created_at, updated_at, ip_address, user_agent, remember) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

fn bind_session<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    s: &'q Session,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(&s.id)
        .bind(&s.token_hash)
        .bind(&s.user_id)
        .bind(s.expires_at)
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(&s.ip_address)
        .bind(&s.user_agent)
        .bind(i64::from(s.remember))
}

impl SqlStore {
    /// A store over `pool`. Call [`SqlStore::migrate`] once at start.
    pub fn new(pool: AnyPool) -> SqlStore {
        SqlStore {
            pool,
            direct: None,
            sqlite: None,
        }
    }

    /// Looks sessions up (get-session, token, every cookie request) through `reads`, connections
    /// of their own to the same PostgreSQL database: one round trip per lookup instead of the
    /// pool's three ([`sigil_db::DirectReads`]), bounded by its timeout (then a 503, as a pool
    /// that timed out). Only for PostgreSQL; the tasks store may share the same `reads`.
    pub fn with_direct_reads(mut self, reads: Arc<DirectReads>) -> SqlStore {
        self.direct = Some(reads);
        self
    }

    /// Looks sessions up through `reads`, read-only `rusqlite` connections to the pool's SQLite
    /// file, on the calling thread ([`sigil_db::SqliteReads`]) instead of through sqlx's worker
    /// threads. Only for a store whose pool is on that file, in WAL mode; the tasks store may
    /// share the same `reads`.
    pub fn with_sqlite_reads(mut self, reads: Arc<SqliteReads>) -> SqlStore {
        self.sqlite = Some(reads);
        self
    }

    /// Applies the identity schema (tracked in its own `_sigil_auth_migrations` table so other
    /// components can keep their own migrations in the same database).
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut migrator = Migrator::with_migrations(migrations());
        migrator.dangerous_set_table_name("_sigil_auth_migrations");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Records revocations inside `tx` under the next position of the `revocations` counter. The
/// counter row stays locked until `tx` commits, so positions become visible in commit order: a
/// reader that has seen position `n` has seen every position below it (see
/// `sigil_guard::feed::poll_database`).
async fn record_revocations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    session_ids: &[String],
    until: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    let (seq,): (i64,) = sqlx::query_as(
        "UPDATE sigil_counters SET value = value + 1 WHERE name = 'revocations' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    for id in session_ids {
        sqlx::query(
            "INSERT INTO revoked_sessions (session_id, revoked_until, created_at, seq) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (session_id) DO UPDATE SET revoked_until = excluded.revoked_until, created_at = excluded.created_at, seq = excluded.seq",
        )
        .bind(id)
        .bind(until)
        .bind(now)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl AuthStore for SqlStore {
    async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        session: Option<&Session>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO users (id, email, name, email_verified, image, created_at, updated_at, role, banned, ban_reason, ban_expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.name)
            .bind(i64::from(user.email_verified))
            .bind(&user.image)
            .bind(user.created_at)
            .bind(user.updated_at)
            .bind(&user.role)
            .bind(i64::from(user.banned))
            .bind(&user.ban_reason)
            .bind(user.ban_expires)
            .execute(&mut *tx)
            .await
            .map_err(conflict_or)?;
        if let Some(password_hash) = password_hash {
            sqlx::query("INSERT INTO credentials (user_id, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4)")
                .bind(&user.id)
                .bind(password_hash)
                .bind(user.created_at)
                .bind(user.created_at)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(session) = session {
            bind_session(sqlx::query(INSERT_SESSION), session)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| user_from(&r, 0)).transpose()?)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| user_from(&r, 0)).transpose()?)
    }

    async fn credentials_by_email(
        &self,
        email: &str,
    ) -> StoreResult<Option<(User, Option<String>)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", c.password_hash FROM users u LEFT JOIN credentials c ON c.user_id = u.id WHERE u.email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| Ok::<_, sqlx::Error>((user_from(&r, 0)?, r.try_get(USER_COLUMN_COUNT)?)))
            .transpose()?)
    }

    async fn password_hash(&self, user_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT password_hash FROM credentials WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn set_password(&self, user_id: &str, hash: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO credentials (user_id, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_profile(
        &self,
        user_id: &str,
        name: Option<&str>,
        image: Option<Option<&str>>,
        now: i64,
    ) -> StoreResult<()> {
        // CASE keeps one statement for every combination of present fields.
        sqlx::query(
            "UPDATE users SET name = CASE WHEN $2 = 1 THEN $3 ELSE name END, \
             image = CASE WHEN $4 = 1 THEN $5 ELSE image END, updated_at = $6 WHERE id = $1",
        )
        .bind(user_id)
        .bind(i64::from(name.is_some()))
        .bind(name.unwrap_or_default())
        .bind(i64::from(image.is_some()))
        .bind(image.flatten())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_email(
        &self,
        user_id: &str,
        email: &str,
        verified: bool,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET email = $2, email_verified = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(user_id)
        .bind(email)
        .bind(i64::from(verified))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(conflict_or)?;
        Ok(())
    }

    async fn set_email_verified(&self, user_id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE users SET email_verified = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(1i64)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_user(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let mut tx = self.pool.begin().await?;
        let ids = sqlx::query("DELETE FROM sessions WHERE user_id = $1 RETURNING id")
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<Vec<String>, _>>()?;
        sqlx::query("DELETE FROM verifications WHERE value = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        bind_session(sqlx::query(INSERT_SESSION), session)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session_by_token_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(Session, User)>> {
        if let Some(reads) = &self.sqlite
            && !reads.is_closed()
        {
            return Ok(reads.read(|conn| {
                conn.prepare_cached(SESSION_BY_TOKEN_HASH)?
                    .query_row([token_hash], |r| {
                        Ok((session_from(r, 0)?, user_from(r, 9)?))
                    })
                    .optional()
            })?);
        }
        let query = || sqlx::query(SESSION_BY_TOKEN_HASH).bind(token_hash);
        let row = match &self.direct {
            Some(direct) if !direct.is_closed() => direct.fetch_optional(query).await?,
            _ => query().fetch_optional(&self.pool).await?,
        };
        Ok(row
            .map(|r| Ok::<_, sqlx::Error>((session_from(&r, 0)?, user_from(&r, 9)?)))
            .transpose()?)
    }

    async fn session_by_id(&self, id: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| session_from(&r, 0)).transpose()?)
    }

    async fn extend_session(&self, id: &str, expires_at: i64, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET expires_at = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(expires_at)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sessions_of(&self, user_id: &str, now: i64) -> StoreResult<Vec<Session>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions s WHERE s.user_id = $1 AND s.expires_at > $2 ORDER BY s.created_at DESC, s.id"
        ))
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| session_from(r, 0))
            .collect::<Result<_, _>>()?)
    }

    async fn delete_session(&self, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_many_sessions(&self, ids: &[String]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query("DELETE FROM sessions WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_sessions_of(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING id")
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        let mut n = 0;
        for sql in [
            "DELETE FROM sessions WHERE expires_at <= $1",
            "DELETE FROM verifications WHERE expires_at <= $1",
            "DELETE FROM revoked_sessions WHERE revoked_until <= $1",
            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
        ] {
            n += sqlx::query(sql)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(n)
    }

    async fn insert_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO verifications (identifier, value, expires_at, created_at) VALUES ($1, $2, $3, $4)")
            .bind(identifier)
            .bind(value)
            .bind(expires_at)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(conflict_or)?;
        Ok(())
    }

    async fn take_verification(&self, identifier: &str, now: i64) -> StoreResult<Option<String>> {
        // DELETE ... RETURNING is atomic: of two concurrent uses, exactly one gets the value.
        let row = sqlx::query(
            "DELETE FROM verifications WHERE identifier = $1 RETURNING value, expires_at",
        )
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => {
                let expires_at: i64 = r.try_get(1)?;
                Ok((expires_at > now).then(|| r.try_get(0)).transpose()?)
            }
            None => Ok(None),
        }
    }

    async fn peek_verification(&self, identifier: &str, now: i64) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "SELECT value FROM verifications WHERE identifier = $1 AND expires_at > $2",
        )
        .bind(identifier)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn delete_verifications(&self, prefix: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM verifications WHERE value = $2 AND substr(identifier, 1, length($1)) = $1",
        )
        .bind(prefix)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn count_verifications(&self, prefix: &str, now: i64) -> StoreResult<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM verifications WHERE expires_at > $2 AND substr(identifier, 1, length($1)) = $1",
        )
        .bind(prefix)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    async fn insert_passkey(&self, row: &PasskeyRow) -> StoreResult<()> {
        super::passkeys::insert(&self.pool, row).await
    }

    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<PasskeyRow>> {
        super::passkeys::of_user(&self.pool, user_id).await
    }

    async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<PasskeyRow>> {
        super::passkeys::by_credential_id(&self.pool, credential_id).await
    }

    async fn record_passkey_use(&self, update: &PasskeyUse<'_>) -> StoreResult<bool> {
        super::passkeys::record_use(&self.pool, update).await
    }

    async fn rename_passkey(
        &self,
        id: &str,
        user_id: &str,
        name: &str,
    ) -> StoreResult<Option<PasskeyRow>> {
        super::passkeys::rename(&self.pool, id, user_id, name).await
    }

    async fn delete_passkey(&self, id: &str, user_id: &str) -> StoreResult<bool> {
        super::passkeys::delete(&self.pool, id, user_id).await
    }

    async fn jwks(&self) -> StoreResult<Vec<JwkRow>> {
        let rows = sqlx::query(
            "SELECT kid, alg, public_jwk, private_jwk, created_at, expires_at, retired_at FROM jwks ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JwkRow {
                    kid: r.try_get(0)?,
                    alg: r.try_get(1)?,
                    public_jwk: r.try_get(2)?,
                    private_jwk: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    expires_at: r.try_get(5)?,
                    retired_at: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn insert_jwk(&self, row: &JwkRow) -> StoreResult<()> {
        sqlx::query("INSERT INTO jwks (kid, alg, public_jwk, private_jwk, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&row.kid)
            .bind(&row.alg)
            .bind(&row.public_jwk)
            .bind(&row.private_jwk)
            .bind(row.created_at)
            .bind(row.expires_at)
            .execute(&self.pool)
            .await
            .map_err(conflict_or)?;
        Ok(())
    }

    async fn revoke_sessions(
        &self,
        session_ids: &[String],
        until: i64,
        now: i64,
    ) -> StoreResult<()> {
        if session_ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        record_revocations(&mut tx, session_ids, until, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn end_sessions(&self, session_ids: &[String], until: i64, now: i64) -> StoreResult<()> {
        if session_ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        record_revocations(&mut tx, session_ids, until, now).await?;
        for id in session_ids {
            sqlx::query("DELETE FROM sessions WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn create_first_jwk(&self, row: &JwkRow, _now: i64) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The lock: held until commit, so of instances starting together on a new database
        // exactly one creates the key and the others, waiting here, then see it.
        sqlx::query("UPDATE sigil_counters SET value = value + 1 WHERE name = 'jwks'")
            .execute(&mut *tx)
            .await?;
        let (live,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM jwks WHERE alg = $1 AND expires_at IS NULL AND retired_at IS NULL",
        )
        .bind(&row.alg)
        .fetch_one(&mut *tx)
        .await?;
        if live > 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO jwks (kid, alg, public_jwk, private_jwk, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&row.kid)
            .bind(&row.alg)
            .bind(&row.public_jwk)
            .bind(&row.private_jwk)
            .bind(row.created_at)
            .bind(row.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(conflict_or)?;
        tx.commit().await?;
        Ok(true)
    }

    async fn rotate_jwk(&self, row: &JwkRow, min_age: Option<i64>) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The same lock as `create_first_jwk`: of instances rotating together (the automatic
        // interval elapsing on all of them), one creates the key and the others then see it.
        sqlx::query("UPDATE sigil_counters SET value = value + 1 WHERE name = 'jwks'")
            .execute(&mut *tx)
            .await?;
        if let Some(min_age) = min_age {
            let (recent,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM jwks WHERE alg = $1 AND retired_at IS NULL AND created_at > $2",
            )
            .bind(&row.alg)
            .bind(row.created_at.saturating_sub(min_age))
            .fetch_one(&mut *tx)
            .await?;
            if recent > 0 {
                return Ok(false);
            }
        }
        sqlx::query(
            "UPDATE jwks SET expires_at = $1 WHERE alg = $2 AND expires_at IS NULL AND retired_at IS NULL",
        )
        .bind(row.created_at)
        .bind(&row.alg)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO jwks (kid, alg, public_jwk, private_jwk, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&row.kid)
            .bind(&row.alg)
            .bind(&row.public_jwk)
            .bind(&row.private_jwk)
            .bind(row.created_at)
            .bind(row.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(conflict_or)?;
        tx.commit().await?;
        Ok(true)
    }

    async fn retire_jwk(&self, kid: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jwks SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL AND expires_at IS NOT NULL",
        )
        .bind(now)
        .bind(kid)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn two_factor(&self, user_id: &str) -> StoreResult<Option<TwoFactorRow>> {
        let row = sqlx::query(
            "SELECT user_id, secret, backup_codes, verified, last_step FROM two_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| {
                Ok::<_, sqlx::Error>(TwoFactorRow {
                    user_id: r.try_get(0)?,
                    secret: r.try_get(1)?,
                    backup_codes: r.try_get(2)?,
                    verified: r.try_get::<i64, _>(3)? != 0,
                    last_step: r.try_get(4)?,
                })
            })
            .transpose()?)
    }

    async fn put_two_factor(&self, row: &TwoFactorRow, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO two_factors (user_id, secret, backup_codes, verified, last_step, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, backup_codes = excluded.backup_codes, \
             verified = excluded.verified, last_step = excluded.last_step, updated_at = excluded.updated_at",
        )
        .bind(&row.user_id)
        .bind(&row.secret)
        .bind(&row.backup_codes)
        .bind(i64::from(row.verified))
        .bind(row.last_step)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_two_factor_enabled(
        &self,
        user_id: &str,
        enabled: bool,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET two_factor_enabled = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(i64::from(enabled))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if !enabled {
            sqlx::query("DELETE FROM two_factors WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn confirm_two_factor(&self, user_id: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE two_factors SET verified = 1, updated_at = $2 WHERE user_id = $1")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET two_factor_enabled = 1, updated_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn advance_totp_step(&self, user_id: &str, step: i64, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE two_factors SET last_step = $2, updated_at = $3 WHERE user_id = $1 AND last_step < $2",
        )
        .bind(user_id)
        .bind(step)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn swap_backup_codes(
        &self,
        user_id: &str,
        expected: &str,
        new: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE two_factors SET backup_codes = $3, updated_at = $4 WHERE user_id = $1 AND backup_codes = $2",
        )
        .bind(user_id)
        .bind(expected)
        .bind(new)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_social_user(
        &self,
        user: &User,
        account: &Account,
        session: &Session,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO users (id, email, name, email_verified, image, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.name)
            .bind(i64::from(user.email_verified))
            .bind(&user.image)
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(conflict_or)?;
        bind_account(sqlx::query(INSERT_ACCOUNT), account)
            .execute(&mut *tx)
            .await
            .map_err(conflict_or)?;
        bind_session(sqlx::query(INSERT_SESSION), session)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_account(&self, account: &Account) -> StoreResult<()> {
        bind_account(sqlx::query(INSERT_ACCOUNT), account)
            .execute(&self.pool)
            .await
            .map_err(conflict_or)?;
        Ok(())
    }

    async fn account_by_identity(
        &self,
        provider_id: &str,
        account_id: &str,
    ) -> StoreResult<Option<Account>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE provider_id = $1 AND account_id = $2"
        ))
        .bind(provider_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| account_from(&r)).transpose()?)
    }

    async fn accounts_of(&self, user_id: &str) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(account_from)
            .collect::<Result<Vec<_>, _>>()?)
    }

    async fn update_account_tokens(&self, a: &Account) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET access_token = $2, refresh_token = $3, id_token = $4, access_token_expires_at = $5, refresh_token_expires_at = $6, scope = $7, updated_at = $8 WHERE id = $1")
            .bind(&a.id)
            .bind(&a.access_token)
            .bind(&a.refresh_token)
            .bind(&a.id_token)
            .bind(a.access_token_expires_at)
            .bind(a.refresh_token_expires_at)
            .bind(&a.scope)
            .bind(a.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn unlink_account(&self, user_id: &str, id: &str) -> StoreResult<Unlinked> {
        let removed = sqlx::query(
            "DELETE FROM accounts WHERE id = $1 AND user_id = $2 AND \
             (SELECT COUNT(*) FROM accounts WHERE user_id = $2) + (SELECT COUNT(*) FROM credentials WHERE user_id = $2) > 1",
        )
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if removed > 0 {
            return Ok(Unlinked::Removed);
        }
        let exists = sqlx::query("SELECT id FROM accounts WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        Ok(if exists {
            Unlinked::Last
        } else {
            Unlinked::NotFound
        })
    }

    async fn insert_refresh_token(&self, t: &RefreshToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (id, token_hash, session_id, parent_id, child_id, used_at, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.id)
        .bind(&t.token_hash)
        .bind(&t.session_id)
        .bind(&t.parent_id)
        .bind(&t.child_id)
        .bind(t.used_at)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await
        .map_err(conflict_or)?;
        Ok(())
    }

    async fn refresh_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
        let row = sqlx::query(
            "SELECT id, token_hash, session_id, parent_id, child_id, used_at, created_at, expires_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| refresh_from(&r)).transpose()?)
    }

    async fn rotate_refresh_token(
        &self,
        old_id: &str,
        new: &RefreshToken,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let claimed =
            sqlx::query("UPDATE refresh_tokens SET used_at = $2, child_id = $3 WHERE id = $1 AND used_at IS NULL")
                .bind(old_id)
                .bind(now)
                .bind(&new.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if claimed != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (id, token_hash, session_id, parent_id, child_id, used_at, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, NULL, NULL, $5, $6)",
        )
        .bind(&new.id)
        .bind(&new.token_hash)
        .bind(&new.session_id)
        .bind(&new.parent_id)
        .bind(new.created_at)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_embedded_migrations_are_the_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let files = Migrator::new(dir.as_path()).await.unwrap();
        let describe = |m: &Migration| {
            (
                m.version,
                m.description.to_string(),
                m.checksum.to_vec(),
                m.no_tx,
            )
        };
        let embedded: Vec<_> = migrations().iter().map(describe).collect();
        let on_disk: Vec<_> = files.iter().map(describe).collect();
        assert_eq!(
            embedded, on_disk,
            "every file in migrations/ must be listed, unchanged, in `migrations()`"
        );
    }
}
