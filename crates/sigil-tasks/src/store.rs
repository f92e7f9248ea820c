//! Task storage (SQLite or PostgreSQL through sqlx's `Any` driver). The list read, the hot path,
//! can go through a reader of its own instead: [`sigil_db::SqliteReads`] on an SQLite file, on
//! the calling thread (see [`TaskStore::with_sqlite_reader`]), [`sigil_db::DirectReads`] on
//! PostgreSQL, one round trip per read (see [`TaskStore::with_pg_reader`]).
//! Every query is scoped to one user: there is no way to read or change a task without naming
//! its owner.
//!
//! Every operation first takes a slot of the store's [`Admission`]: at most the pool's size plus
//! `max_waiters` operations are in flight (holding or waiting for a connection); the next one is
//! refused at once with [`TaskError::Busy`] (503 `SERVICE_BUSY`, `Retry-After`), so a pool that
//! cannot keep up sheds load instead of growing a queue whose wait has no bound but the
//! acquire timeout.

use crate::cache::{CachedList, ListCache};
use crate::error::TaskError;
use crate::task::{Rfc3339Ms, rfc3339};
pub use crate::task::{StatusFilter, Task};
use bytes::Bytes;
use serde::Serialize;
use sigil_db::{Columns, DirectReads, SqliteReads, rusqlite};
use sigil_guard::clock::{SharedClock, SystemClock};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlStr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The tasks schema, embedded in the binary: what `sqlx::migrate!("./migrations")` would embed,
/// without sqlx's macros (they compile sqlx, both drivers and SQLite a second time, for the
/// build host). `tests::the_embedded_migrations_are_the_files` keeps it equal to the files.
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
    vec![embed(
        20261124000101,
        "tasks",
        include_str!("../migrations/20261124000101_tasks.sql"),
    )]
}

/// How many database operations may be in flight at once (holding or waiting for a pooled
/// connection); the next one is refused rather than queued.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    in_flight: AtomicUsize,
}

/// One admitted operation; its slot is given back when dropped (also when the request is
/// cancelled mid-query).
#[derive(Debug)]
pub struct Slot<'a>(&'a Admission);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// At most `limit` operations at once (at least one).
    pub fn new(limit: usize) -> Admission {
        Admission {
            limit: limit.max(1),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// A slot, or `None` when `limit` operations are already in flight.
    pub fn try_enter(&self) -> Option<Slot<'_>> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self))
    }

    /// Operations in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Waiters admitted by default beyond the pool's connections (`SIGIL_DB_MAX_WAITERS`).
pub const DEFAULT_MAX_WAITERS: usize = 4096;

/// The task store.
#[derive(Clone, Debug)]
pub struct TaskStore {
    pool: AnyPool,
    cache: Option<Arc<ListCache>>,
    sqlite_reader: Option<Arc<SqliteReads>>,
    pg_reader: Option<Arc<DirectReads>>,
    admission: Arc<Admission>,
    clock: SharedClock,
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Bytes {
    // Serialising plain strings, numbers and booleans cannot fail.
    Bytes::from(serde_json::to_vec(value).unwrap_or_else(|_| b"[]".to_vec()))
}

/// A random 32-character id; a failed OS random generator is an I/O error of the store.
fn new_id() -> Result<String, sqlx::Error> {
    sigil_guard::sigil_token::random::alphanumeric(32)
        .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))
}

fn task_from<R: Columns + ?Sized>(row: &R) -> Result<Task, R::Error> {
    Ok(Task {
        id: row.text(0)?,
        user_id: row.text(1)?,
        title: row.text(2)?,
        description: row.text(3)?,
        completed: row.flag(4)?,
        created_at: rfc3339(row.int(5)?),
        updated_at: rfc3339(row.int(6)?),
    })
}

macro_rules! columns {
    () => {
        "id, user_id, title, description, completed, created_at, updated_at"
    };
}

const LIST_ALL: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tasks WHERE user_id = $1 ORDER BY created_at, id"
);
const LIST_BY_STATUS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM tasks WHERE user_id = $1 AND completed = $2 ORDER BY created_at, id"
);

/// A task as the list's JSON shows it, borrowed from a `rusqlite` row: the same fields, names and
/// order as [`Task`] (`store::tests::the_sqlite_reader_lists_what_the_sqlx_path_lists` compares
/// the two serializations).
#[derive(Serialize)]
struct TaskRow<'a> {
    id: &'a str,
    user_id: &'a str,
    title: &'a str,
    description: &'a str,
    completed: bool,
    created_at: Rfc3339Ms,
    updated_at: Rfc3339Ms,
}

/// The user's tasks as the list's JSON, written straight from the rows (no [`Task`] in between:
/// the uncached read's hot path, BENCHMARKS.md).
fn list_json_on(
    conn: &rusqlite::Connection,
    user_id: &str,
    filter: StatusFilter,
) -> Result<Bytes, rusqlite::Error> {
    use serde::ser::{SerializeSeq, Serializer as _};
    // Writing JSON into a Vec fails only on a value serde_json refuses; these are strings,
    // a boolean and numbers. Any failure is still an error of the read (a 500), never a panic.
    let json = |e: serde_json::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    let mut out = Vec::with_capacity(512);
    let mut serializer = serde_json::Serializer::new(&mut out);
    let mut list = serializer.serialize_seq(None).map_err(json)?;
    each_task_row(conn, user_id, filter, |row| {
        let text = |i: usize| row.get_ref(i)?.as_str().map_err(rusqlite::Error::from);
        list.serialize_element(&TaskRow {
            id: text(0)?,
            user_id: text(1)?,
            title: text(2)?,
            description: text(3)?,
            completed: row.flag(4)?,
            created_at: Rfc3339Ms(row.int(5)?),
            updated_at: Rfc3339Ms(row.int(6)?),
        })
        .map_err(json)
    })?;
    list.end().map_err(json)?;
    Ok(Bytes::from(out))
}

/// Calls `each` with every row of the user's tasks on a `rusqlite` connection: the same
/// statements as the sqlx path (SQLite reads `$1` as a numbered parameter), a prepared statement
/// from the connection's cache.
fn each_task_row(
    conn: &rusqlite::Connection,
    user_id: &str,
    filter: StatusFilter,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<(), rusqlite::Error>,
) -> Result<(), rusqlite::Error> {
    let completed = i64::from(filter == StatusFilter::Completed);
    let mut statement;
    let mut rows = match filter {
        StatusFilter::All => {
            statement = conn.prepare_cached(LIST_ALL)?;
            statement.query([user_id])?
        }
        StatusFilter::Pending | StatusFilter::Completed => {
            statement = conn.prepare_cached(LIST_BY_STATUS)?;
            statement.query(rusqlite::params![user_id, completed])?
        }
    };
    while let Some(row) = rows.next()? {
        each(row)?;
    }
    Ok(())
}

/// The user's tasks on a `rusqlite` connection.
fn list_on(
    conn: &rusqlite::Connection,
    user_id: &str,
    filter: StatusFilter,
) -> Result<Vec<Task>, rusqlite::Error> {
    let mut tasks = Vec::new();
    each_task_row(conn, user_id, filter, |row| {
        tasks.push(task_from(row)?);
        Ok(())
    })?;
    Ok(tasks)
}

impl TaskStore {
    /// A store over `pool` (install sqlx's Any drivers before connecting), admitting
    /// [`DEFAULT_MAX_WAITERS`] operations beyond the pool's size.
    pub fn new(pool: AnyPool) -> TaskStore {
        let limit = pool.options().get_max_connections() as usize + DEFAULT_MAX_WAITERS;
        TaskStore {
            pool,
            cache: None,
            sqlite_reader: None,
            pg_reader: None,
            admission: Arc::new(Admission::new(limit)),
            clock: SystemClock::shared(),
        }
    }

    /// Stamps tasks with `clock`'s time (the system clock by default).
    pub fn with_clock(mut self, clock: SharedClock) -> TaskStore {
        self.clock = clock;
        self
    }

    /// Admits at most the pool's size plus `waiters` operations at once; the others are refused
    /// with [`TaskError::Busy`].
    pub fn with_max_waiters(mut self, waiters: usize) -> TaskStore {
        let limit = (self.pool.options().get_max_connections() as usize).saturating_add(waiters);
        self.admission = Arc::new(Admission::new(limit));
        self
    }

    /// The store's admission bound.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    fn enter(&self) -> Result<Slot<'_>, TaskError> {
        self.admission.try_enter().ok_or(TaskError::Busy)
    }

    /// Caches up to `users` task lists in memory (see [`crate::cache`]); only for a process that
    /// is the sole writer of its tasks.
    pub fn with_list_cache(mut self, users: usize) -> TaskStore {
        self.cache = Some(Arc::new(ListCache::new(users)));
        self
    }

    /// Reads task lists through `reads`, read-only `rusqlite` connections to the pool's SQLite
    /// file, on the calling thread ([`sigil_db::SqliteReads`]), instead of through sqlx's worker
    /// threads. Only for a store whose pool is on that same file, in WAL mode. The identity
    /// service's store may share the same `reads`.
    pub fn with_sqlite_reader(mut self, reads: Arc<SqliteReads>) -> TaskStore {
        self.sqlite_reader = Some(reads);
        self
    }

    /// Reads task lists through `reads`, connections of their own to the pool's PostgreSQL
    /// database: one round trip per read instead of the pool's three ([`sigil_db::DirectReads`]);
    /// a read, waiting and connecting included, is bounded by its timeout, after which it is a
    /// 503 like a pool that timed out. The identity service's store may share the same `reads`.
    pub fn with_pg_reader(mut self, reads: Arc<DirectReads>) -> TaskStore {
        self.pg_reader = Some(reads);
        self
    }

    /// (hits, misses) of the task-list cache since the store was created (`None` without one).
    pub fn list_cache_stats(&self) -> Option<(u64, u64)> {
        self.cache.as_ref().map(|cache| cache.stats())
    }

    fn invalidate(&self, user_id: &str) {
        if let Some(cache) = &self.cache {
            cache.invalidate(user_id);
        }
    }

    /// The user's tasks as JSON, from the cache when there is one.
    pub async fn list_json(&self, user_id: &str, filter: StatusFilter) -> Result<Bytes, TaskError> {
        let Some(cache) = &self.cache else {
            if let Some(reader) = &self.sqlite_reader
                && !reader.is_closed()
            {
                // Uncached on SQLite: the JSON is written straight from the rows.
                let _slot = self.enter()?;
                return Ok(reader.read(|conn| list_json_on(conn, user_id, filter))?);
            }
            return Ok(to_json(&self.list(user_id, filter).await?));
        };
        let cached = match cache.get(user_id) {
            Ok(cached) => cached,
            Err(epoch) => {
                let tasks = Arc::new(self.list(user_id, StatusFilter::All).await?);
                let cached = CachedList {
                    json: to_json(&tasks),
                    tasks,
                };
                cache.insert(user_id, epoch, cached.clone());
                cached
            }
        };
        Ok(match filter {
            StatusFilter::All => cached.json,
            StatusFilter::Pending | StatusFilter::Completed => {
                let want = filter == StatusFilter::Completed;
                let subset: Vec<&Task> = cached
                    .tasks
                    .iter()
                    .filter(|t| t.completed == want)
                    .collect();
                to_json(&subset)
            }
        })
    }

    /// Creates the `tasks` table if needed (tracked in `_sigil_tasks_migrations`).
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let mut migrator = Migrator::with_migrations(migrations());
        migrator.dangerous_set_table_name("_sigil_tasks_migrations");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await
    }

    /// The user's tasks, oldest first.
    pub async fn list(&self, user_id: &str, filter: StatusFilter) -> Result<Vec<Task>, TaskError> {
        let _slot = self.enter()?;
        if let Some(reader) = &self.sqlite_reader
            && !reader.is_closed()
        {
            return Ok(reader.read(|conn| list_on(conn, user_id, filter))?);
        }
        let completed = i64::from(filter == StatusFilter::Completed);
        let query = || match filter {
            StatusFilter::All => sqlx::query(LIST_ALL).bind(user_id),
            StatusFilter::Pending | StatusFilter::Completed => {
                sqlx::query(LIST_BY_STATUS).bind(user_id).bind(completed)
            }
        };
        let rows = match &self.pg_reader {
            Some(reads) if !reads.is_closed() => reads.fetch_all(query).await?,
            _ => query().fetch_all(&self.pool).await?,
        };
        Ok(rows.iter().map(task_from).collect::<Result<_, _>>()?)
    }

    /// One task of the user.
    pub async fn get(&self, user_id: &str, id: &str) -> Result<Option<Task>, TaskError> {
        let _slot = self.enter()?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM tasks WHERE user_id = $1 AND id = $2"
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(task_from).transpose()?)
    }

    /// Creates a task.
    pub async fn create(
        &self,
        user_id: &str,
        title: &str,
        description: &str,
    ) -> Result<Task, TaskError> {
        let _slot = self.enter()?;
        let now = self.clock.now_ms();
        let row = sqlx::query(concat!(
            "INSERT INTO tasks (id, user_id, title, description, completed, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
            columns!()
        ))
        .bind(new_id()?)
        .bind(user_id)
        .bind(title)
        .bind(description)
        .bind(0i64)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        self.invalidate(user_id);
        Ok(task_from(&row)?)
    }

    /// Replaces a task's fields; `None` if the user has no such task.
    pub async fn replace(
        &self,
        user_id: &str,
        id: &str,
        title: &str,
        description: &str,
        completed: bool,
    ) -> Result<Option<Task>, TaskError> {
        let _slot = self.enter()?;
        let row = sqlx::query(concat!(
            "UPDATE tasks SET title = $3, description = $4, completed = $5, updated_at = $6 \
             WHERE user_id = $1 AND id = $2 RETURNING ",
            columns!()
        ))
        .bind(user_id)
        .bind(id)
        .bind(title)
        .bind(description)
        .bind(i64::from(completed))
        .bind(self.clock.now_ms())
        .fetch_optional(&self.pool)
        .await?;
        self.invalidate(user_id);
        Ok(row.as_ref().map(task_from).transpose()?)
    }

    /// Sets completion (`Some`) or toggles it (`None`).
    pub async fn set_completed(
        &self,
        user_id: &str,
        id: &str,
        completed: Option<bool>,
    ) -> Result<Option<Task>, TaskError> {
        let _slot = self.enter()?;
        let query = match completed {
            Some(value) => sqlx::query(concat!(
                "UPDATE tasks SET completed = $3, updated_at = $4 WHERE user_id = $1 AND id = $2 RETURNING ",
                columns!()
            ))
            .bind(user_id)
            .bind(id)
            .bind(i64::from(value))
            .bind(self.clock.now_ms()),
            None => sqlx::query(concat!(
                "UPDATE tasks SET completed = 1 - completed, updated_at = $3 WHERE user_id = $1 AND id = $2 RETURNING ",
                columns!()
            ))
            .bind(user_id)
            .bind(id)
            .bind(self.clock.now_ms()),
        };
        let row = query.fetch_optional(&self.pool).await?;
        self.invalidate(user_id);
        Ok(row.as_ref().map(task_from).transpose()?)
    }

    /// Deletes a task; whether it existed.
    pub async fn delete(&self, user_id: &str, id: &str) -> Result<bool, TaskError> {
        let _slot = self.enter()?;
        let done = sqlx::query("DELETE FROM tasks WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.invalidate(user_id);
        Ok(done.rows_affected() > 0)
    }

    /// Deletes every task of a user (account deletion).
    /// Not subject to the admission bound: it finishes an account deletion already under way.
    pub async fn delete_all_of(&self, user_id: &str) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("DELETE FROM tasks WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        self.invalidate(user_id);
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_admits_up_to_its_limit_and_frees_a_slot_when_dropped() {
        let gate = Admission::new(3);
        let slots: Vec<_> = (0..3).filter_map(|_| gate.try_enter()).collect();
        assert_eq!(slots.len(), 3);
        assert!(gate.try_enter().is_none(), "a fourth is refused");
        assert_eq!(gate.in_flight(), 3);
        drop(slots);
        assert_eq!(gate.in_flight(), 0);
        let one = gate.try_enter();
        assert!(one.is_some());
        assert_eq!(gate.in_flight(), 1);
        assert_eq!(Admission::new(0).limit(), 1, "never zero");
    }

    /// The rusqlite list reader answers exactly what the sqlx path answers, sees every write
    /// committed before it (another connection, WAL mode) and never another user's rows.
    #[tokio::test]
    async fn the_sqlite_reader_lists_what_the_sqlx_path_lists() {
        sqlx::any::install_default_drivers();
        let dir = std::env::temp_dir().join(format!(
            "sigil-tasks-reader-{}",
            sigil_guard::sigil_token::random::alphanumeric(16).unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tasks.db");
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await
            .unwrap();
        let plain = TaskStore::new(pool.clone());
        plain.migrate().await.unwrap();
        let read = TaskStore::new(pool).with_sqlite_reader(Arc::new(
            SqliteReads::open(&file, 2, std::time::Duration::from_secs(1)).unwrap(),
        ));
        let filters = [
            StatusFilter::All,
            StatusFilter::Pending,
            StatusFilter::Completed,
        ];
        assert!(
            read.list("alice", StatusFilter::All)
                .await
                .unwrap()
                .is_empty()
        );
        let first = read.create("alice", "first", "one").await.unwrap();
        // A write through sqlx is seen by the very next read on a reader connection.
        assert_eq!(
            read.list("alice", StatusFilter::All).await.unwrap(),
            vec![first.clone()]
        );
        read.create(
            "alice",
            "second \"quoted\" \\ </script>",
            "line\nbreak \u{1F600} é \u{7}",
        )
        .await
        .unwrap();
        read.create("bob", "bob's", "private").await.unwrap();
        read.set_completed("alice", &first.id, Some(true))
            .await
            .unwrap();
        for filter in filters {
            let via_reader = read.list("alice", filter).await.unwrap();
            let via_sqlx = plain.list("alice", filter).await.unwrap();
            assert_eq!(via_reader, via_sqlx, "{filter:?}");
            assert!(via_reader.iter().all(|t| t.user_id == "alice"));
            // The JSON written straight from the rows is, byte for byte, the list's JSON.
            let json = read.list_json("alice", filter).await.unwrap();
            assert_eq!(json, to_json(&via_sqlx), "{filter:?}");
        }
        assert_eq!(
            read.list_json("nobody", StatusFilter::All).await.unwrap(),
            "[]"
        );
        assert_eq!(
            read.list("alice", StatusFilter::All).await.unwrap().len(),
            2
        );
        assert_eq!(
            read.list("alice", StatusFilter::Completed).await.unwrap()[0].id,
            first.id
        );
        assert_eq!(read.list("bob", StatusFilter::All).await.unwrap().len(), 1);
        assert!(read.delete("alice", &first.id).await.unwrap());
        assert_eq!(
            read.list("alice", StatusFilter::All).await.unwrap().len(),
            1
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

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
