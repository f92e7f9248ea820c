//! The task-list read on SQLite through `rusqlite`, on the calling thread.
//!
//! sqlx's SQLite driver runs each connection on a worker thread of its own and reaches it through
//! a channel: every query is two thread hand-offs (a futex wake and a sleep on each side). The
//! profile of an uncached `GET /api/{user_id}/tasks` (BENCHMARKS.md, "Where the time goes") put
//! those hand-offs at several times the cost of SQLite's own work for this indexed read of a few
//! rows. This reader keeps a small pool of read-only connections to the same file and runs the
//! `SELECT` directly on the thread that asks (a prepared statement from each connection's cache),
//! as a synchronous SQLite client does.
//!
//! Only the list read goes here. Writes stay on sqlx's pool, and in WAL mode every read
//! transaction sees every transaction committed before it began, so a list read after a write
//! answered to the same client sees that write. A read never waits for a writer in WAL mode; it
//! can wait only on SQLite's rare exclusive moments (a WAL reset), bounded by `busy_timeout`,
//! after which it is a 503 like a busy pool.

use crate::task::{StatusFilter, Task, rfc3339};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

const LIST_ALL: &str = "SELECT id, user_id, title, description, completed, created_at, updated_at \
     FROM tasks WHERE user_id = ?1 ORDER BY created_at, id";
const LIST_BY_STATUS: &str = "SELECT id, user_id, title, description, completed, created_at, updated_at \
     FROM tasks WHERE user_id = ?1 AND completed = ?2 ORDER BY created_at, id";

/// A pool of read-only connections to one SQLite file.
#[derive(Debug)]
pub(crate) struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    busy_timeout: Duration,
    closed: AtomicBool,
}

impl SqliteReader {
    /// Opens one connection now (so a file that cannot be read fails at start); keeps at most
    /// `max_idle` idle connections afterwards.
    pub(crate) fn open(
        path: &Path,
        max_idle: usize,
        busy_timeout: Duration,
    ) -> Result<SqliteReader, rusqlite::Error> {
        let reader = SqliteReader {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            max_idle: max_idle.max(1),
            busy_timeout,
            closed: AtomicBool::new(false),
        };
        let first = reader.connect()?;
        reader.give_back(first);
        Ok(reader)
    }

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(4);
        Ok(conn)
    }

    fn take(&self) -> Result<Connection, rusqlite::Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle && !self.closed.load(Ordering::Acquire) {
            idle.push(conn);
        }
    }

    /// Closes every idle connection and keeps none from now on; later reads go through the
    /// store's sqlx pool. Called before that pool closes at shutdown: SQLite removes the `-wal`
    /// and `-shm` files only when the last connection to the file closes, and a read-only
    /// connection cannot do it.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Whether [`SqliteReader::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The user's tasks, oldest first (the same statement and order as the sqlx path).
    pub(crate) fn list(
        &self,
        user_id: &str,
        filter: StatusFilter,
    ) -> Result<Vec<Task>, rusqlite::Error> {
        let conn = self.take()?;
        let tasks = Self::query(&conn, user_id, filter);
        // A connection that failed is dropped rather than reused.
        if tasks.is_ok() {
            self.give_back(conn);
        }
        tasks
    }

    fn query(
        conn: &Connection,
        user_id: &str,
        filter: StatusFilter,
    ) -> Result<Vec<Task>, rusqlite::Error> {
        let row = |r: &rusqlite::Row<'_>| {
            Ok(Task {
                id: r.get(0)?,
                user_id: r.get(1)?,
                title: r.get(2)?,
                description: r.get(3)?,
                completed: r.get::<_, i64>(4)? != 0,
                created_at: rfc3339(r.get(5)?),
                updated_at: rfc3339(r.get(6)?),
            })
        };
        match filter {
            StatusFilter::All => conn
                .prepare_cached(LIST_ALL)?
                .query_map([user_id], row)?
                .collect(),
            StatusFilter::Pending | StatusFilter::Completed => {
                let completed = i64::from(filter == StatusFilter::Completed);
                conn.prepare_cached(LIST_BY_STATUS)?
                    .query_map(rusqlite::params![user_id, completed], row)?
                    .collect()
            }
        }
    }
}

/// Whether a rusqlite error means the database is busy or cannot be opened (503, retry) rather
/// than a fault in a statement (500).
pub(crate) fn is_unavailable(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::SystemIoFailure
        )
    )
}
