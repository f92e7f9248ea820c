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
