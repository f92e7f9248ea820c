//! Errors of the tasks API, answered as JSON `{code, message}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// The body of every refusal (`{code, message}`, Better Auth's error shape): the document's
/// schema of [`TaskError`]'s answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Machine-readable code (`TASK_NOT_FOUND`, `VALIDATION_ERROR`, ...).
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// A refused or failed request.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The task does not exist for this user.
    #[error("task not found")]
    NotFound,
    /// The body is not JSON.
    #[error("{0}")]
    BadJson(String),
    /// Wrong media type.
    #[error("Content-Type must be application/json")]
    MediaType,
    /// The body is over the limit.
    #[error("request body too large")]
    TooLarge,
    /// A field is missing or invalid.
    #[error("{0}")]
    Validation(String),
    /// Too many requests already hold or wait for a database connection (load shedding).
    #[error("The server is busy. Please try again in a moment.")]
    Busy,
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The SQLite list reader failed (see [`sigil_db::SqliteReads`]).
    #[error("database error")]
    Sqlite(#[from] sigil_db::rusqlite::Error),
}

impl IntoResponse for TaskError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            TaskError::NotFound => (StatusCode::NOT_FOUND, "TASK_NOT_FOUND"),
            TaskError::BadJson(_) => (StatusCode::BAD_REQUEST, "INVALID_JSON"),
            TaskError::MediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            TaskError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            TaskError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR"),
            TaskError::Busy => {
                // Not logged above debug: under overload this is most requests.
                tracing::debug!(target: "sigil::tasks", "database pool and its waiters full: answering 503");
                (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_BUSY")
            }
            TaskError::Database(e) if is_unavailable(e) => {
                tracing::warn!(target: "sigil::tasks", error = %e, "database unavailable: answering 503");
                (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE")
            }
            TaskError::Database(e) => {
                tracing::error!(target: "sigil::tasks", error = %e, "database error");
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR")
            }
            TaskError::Sqlite(e) if sigil_db::sqlite_is_unavailable(e) => {
                tracing::warn!(target: "sigil::tasks", error = %e, "database unavailable: answering 503");
                (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE")
            }
            TaskError::Sqlite(e) => {
                tracing::error!(target: "sigil::tasks", error = %e, "database error");
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR")
            }
        };
        let message = match &self {
            TaskError::Database(_) | TaskError::Sqlite(_)
                if status == StatusCode::SERVICE_UNAVAILABLE =>
            {
                "The service is temporarily unavailable. Please try again in a moment.".to_owned()
            }
            TaskError::Database(_) | TaskError::Sqlite(_) => "Internal Server Error".to_owned(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            code: code.to_owned(),
            message,
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

/// Whether a database error means the database is unreachable or overloaded (503, retry),
/// rather than a fault in a statement (500).
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        // A connection that ended mid-message (a peer cut while connecting reads as garbage).
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || matches!(&*code, "53300" | "57P01" | "57P02" | "57P03" | "5" | "6")
        }),
        _ => false,
    }
}
