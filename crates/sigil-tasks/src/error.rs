//! Errors of the tasks API, answered as JSON `{code, message}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

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
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for TaskError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            TaskError::NotFound => (StatusCode::NOT_FOUND, "TASK_NOT_FOUND"),
            TaskError::BadJson(_) => (StatusCode::BAD_REQUEST, "INVALID_JSON"),
            TaskError::MediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            TaskError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            TaskError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR"),
            TaskError::Database(e) => {
                tracing::error!(target: "sigil::tasks", error = %e, "database error");
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR")
            }
        };
        let message = match &self {
            TaskError::Database(_) => "Internal Server Error".to_owned(),
            other => other.to_string(),
        };
        (
            status,
            Json(serde_json::json!({ "code": code, "message": message })),
        )
            .into_response()
    }
}
