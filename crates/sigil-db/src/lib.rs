//! Database plumbing shared by the identity service (sigil-auth) and the tasks API
//! (sigil-tasks): the hot reads, each on a shorter way than sqlx's pool, measured first
//! (BENCHMARKS.md, "Where the time of one uncached request goes").
//!
//! - [`DirectReads`] (PostgreSQL): one round trip per read instead of the pool's three (its
//!   pings), with the timeout, dead-connection and bound guarantees the pings gave.
//! - [`SqliteReads`] (an SQLite file): read-only `rusqlite` connections queried on the calling
//!   thread, instead of sqlx's worker thread per connection reached through a channel.
//!
//! Used for the two reads every authenticated request makes: the task list and the session
//! lookup (get-session, `/token`, cookie requests). Writes stay on the pool.

mod postgres;
mod row;
mod sqlite;

pub use postgres::{AnyQuery, DirectReads};
pub use row::Columns;
/// The `rusqlite` of [`SqliteReads`]' connections, for the statements run on them.
pub use rusqlite;
pub use sqlite::{SqliteReads, is_unavailable as sqlite_is_unavailable};
