//! One way to read a result row by column position, on sqlx's `AnyRow` and on a `rusqlite` row:
//! [`Columns`]. The stores map a row to their types once, generically, whichever reader answered.

use sqlx::Row;
use sqlx::any::AnyRow;

/// A result row read by column position. The column types are the few Sigil's schemas use (text
/// and BIGINT, either of them nullable; booleans are BIGINT 0/1).
pub trait Columns {
    /// The reader's error.
    type Error;
    /// A `TEXT NOT NULL` column.
    fn text(&self, column: usize) -> Result<String, Self::Error>;
    /// A nullable `TEXT` column.
    fn maybe_text(&self, column: usize) -> Result<Option<String>, Self::Error>;
    /// A `BIGINT NOT NULL` column.
    fn int(&self, column: usize) -> Result<i64, Self::Error>;
    /// A nullable `BIGINT` column.
    fn maybe_int(&self, column: usize) -> Result<Option<i64>, Self::Error>;
    /// A boolean stored as BIGINT 0/1.
    fn flag(&self, column: usize) -> Result<bool, Self::Error> {
        Ok(self.int(column)? != 0)
    }
}

impl Columns for AnyRow {
    type Error = sqlx::Error;
    fn text(&self, column: usize) -> Result<String, sqlx::Error> {
        self.try_get(column)
    }
    fn maybe_text(&self, column: usize) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }
    fn int(&self, column: usize) -> Result<i64, sqlx::Error> {
        self.try_get(column)
    }
    fn maybe_int(&self, column: usize) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(column)
    }
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, column: usize) -> Result<String, rusqlite::Error> {
        self.get(column)
    }
    fn maybe_text(&self, column: usize) -> Result<Option<String>, rusqlite::Error> {
        self.get(column)
    }
    fn int(&self, column: usize) -> Result<i64, rusqlite::Error> {
        self.get(column)
    }
    fn maybe_int(&self, column: usize) -> Result<Option<i64>, rusqlite::Error> {
        self.get(column)
    }
}
