//! The task record (its own module so that the store and the list cache both depend on it, not on
//! each other).

use serde::Serialize;

/// A task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Random 32-character id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// 1 to 200 characters.
    pub title: String,
    /// 0 to 1000 characters.
    pub description: String,
    /// Done or not.
    pub completed: bool,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
}

/// Which tasks to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Every task.
    All,
    /// Not completed.
    Pending,
    /// Completed.
    Completed,
}

/// A time in ms as RFC 3339 with milliseconds, UTC (`2026-11-30T12:00:00.000Z`).
pub(crate) fn rfc3339(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}
