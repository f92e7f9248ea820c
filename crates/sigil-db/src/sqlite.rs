//! Hot-path reads on an SQLite file through `rusqlite`, on the calling thread: [`SqliteReads`].
//!
//! sqlx's SQLite driver runs each connection on a worker thread of its own and reaches it through
//! a channel: every query is two thread hand-offs (a futex wake and a sleep on each side). The
//! profile of an uncached `GET /api/{user_id}/tasks` (BENCHMARKS.md, "Where the time goes") put
//! those hand-offs at several times the cost of SQLite's own work for an indexed read of a few
//! rows. [`SqliteReads`] keeps a few read-only connections to the same file and runs a statement
//! directly on the thread that asks (prepared statements from each connection's cache), as a
//! synchronous SQLite client does.
//!
//! Only reads go here. Writes stay on sqlx's pool, and in WAL mode every read transaction sees
//! every transaction committed before it began, so a read after a write answered to the same
//! client sees that write. A read never waits for a writer in WAL mode; it can wait only on
//! SQLite's rare exclusive moments (a WAL reset), bounded by `busy_timeout`, after which it is a
//! 503 like a busy pool ([`is_unavailable`]).

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A pool of read-only connections to one SQLite file.
#[derive(Debug)]
pub struct SqliteReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
    busy_timeout: Duration,
    closed: AtomicBool,
}

impl SqliteReads {
    /// Opens one connection now (so a file that cannot be read fails at start); keeps at most
    /// `max_idle` idle connections afterwards.
    pub fn open(
        path: &Path,
        max_idle: usize,
        busy_timeout: Duration,
    ) -> Result<SqliteReads, rusqlite::Error> {
        let reads = SqliteReads {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            max_idle: max_idle.max(1),
            busy_timeout,
            closed: AtomicBool::new(false),
        };
        let first = reads.connect()?;
        reads.give_back(first);
        Ok(reads)
    }

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(8);
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

    /// Runs `read` on a connection of the pool (a statement or a few, each its own read
    /// transaction); a connection whose read failed is dropped rather than reused.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, rusqlite::Error> {
        let conn = self.take()?;
        let answer = read(&conn);
        if answer.is_ok() {
            self.give_back(conn);
        }
        answer
    }

    /// Closes every idle connection and keeps none from now on; callers then read through
    /// their sqlx pool ([`SqliteReads::is_closed`]). Called before that pool closes at shutdown:
    /// SQLite removes the `-wal` and `-shm` files only when the last connection to the file
    /// closes, and a read-only connection cannot do it.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Whether [`SqliteReads::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Whether a rusqlite error means the database is busy or cannot be opened (503, retry) rather
/// than a fault in a statement (500).
pub fn is_unavailable(error: &rusqlite::Error) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sigil-db-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("reads.db")
    }

    /// A committed write on another connection (WAL mode) is seen by the next read; reads
    /// cannot write; idle connections are bounded; a closed reader keeps nothing.
    #[test]
    fn reads_see_committed_writes_and_cannot_write() {
        let file = scratch("wal");
        let writer = Connection::open(&file).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE notes (owner TEXT NOT NULL, body TEXT NOT NULL);",
            )
            .unwrap();
        let reads = SqliteReads::open(&file, 2, Duration::from_secs(1)).unwrap();
        let count = |reads: &SqliteReads| {
            reads.read(|conn| {
                conn.prepare_cached("SELECT count(*) FROM notes WHERE owner = ?1")?
                    .query_row(["ada"], |r| r.get::<_, i64>(0))
            })
        };
        assert_eq!(count(&reads).unwrap(), 0);
        writer
            .execute("INSERT INTO notes (owner, body) VALUES ('ada', 'one')", [])
            .unwrap();
        assert_eq!(count(&reads).unwrap(), 1, "the committed write is seen");
        let write = reads.read(|conn| conn.execute("DELETE FROM notes", []));
        assert!(write.is_err(), "a reader connection cannot write");
        assert_eq!(count(&reads).unwrap(), 1);
        reads.close();
        assert!(reads.is_closed());
        assert_eq!(reads.idle.lock().unwrap().len(), 0);
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }

    /// A file that cannot be opened is reported as unavailable (a 503), not as a fault.
    #[test]
    fn a_missing_file_is_unavailable() {
        let missing = std::env::temp_dir().join("sigil-db-no-such-dir/none.db");
        let error = SqliteReads::open(&missing, 1, Duration::from_secs(1)).unwrap_err();
        assert!(is_unavailable(&error), "{error}");
    }
}
