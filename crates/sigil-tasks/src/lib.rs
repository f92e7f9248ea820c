//! The tasks API: `/api/{user_id}/tasks`, the resource Sigil's guard protects.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/{user_id}/tasks?status=all\|pending\|completed` | list the user's tasks |
//! | `POST /api/{user_id}/tasks` `{title, description?}` | create (201) |
//! | `GET /api/{user_id}/tasks/{id}` | one task |
//! | `PUT /api/{user_id}/tasks/{id}` `{title, description?, completed?}` | replace |
//! | `DELETE /api/{user_id}/tasks/{id}` | delete (204) |
//! | `PATCH /api/{user_id}/tasks/{id}/complete` `{completed?}` | toggle, or set |
//!
//! Every route sits behind [`sigil_guard::require_path_user`]: no or a bad token is a 401, a
//! token for another user a 403 before any handler runs. Queries are always scoped to the path's
//! user, so another user's task id is a 404 (existence is not revealed).
#![forbid(unsafe_code)]

mod body;
pub mod cache;
mod error;
mod handlers;
mod store;

pub use error::TaskError;
pub use store::{Admission, DEFAULT_MAX_WAITERS, Slot, StatusFilter, Task, TaskStore};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, patch};
use sigil_guard::{Guard, require_path_user};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Title length limits (characters).
pub const TITLE_MAX: usize = 200;
/// Description length limit (characters).
pub const DESCRIPTION_MAX: usize = 1000;

/// State shared by the handlers.
#[derive(Clone, Debug)]
pub struct TasksState {
    store: TaskStore,
    guard: Guard,
}

impl axum::extract::FromRef<TasksState> for Guard {
    fn from_ref(state: &TasksState) -> Guard {
        state.guard.clone()
    }
}

/// The tasks routes, guarded by `guard`.
pub fn router(store: TaskStore, guard: Guard) -> Router {
    let state = TasksState {
        store,
        guard: guard.clone(),
    };
    Router::new()
        .route(
            "/api/{user_id}/tasks",
            get(handlers::list).post(handlers::create),
        )
        .route(
            "/api/{user_id}/tasks/{id}",
            get(handlers::get_one)
                .put(handlers::replace)
                .delete(handlers::delete),
        )
        .route(
            "/api/{user_id}/tasks/{id}/complete",
            patch(handlers::complete),
        )
        .route_layer(middleware::from_fn_with_state(guard, require_path_user))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
