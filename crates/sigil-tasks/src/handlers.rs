//! The task handlers. Each takes the [`Owner`] of the path's `{user_id}` (checked again here,
//! after the route layer), and queries only that user's tasks.

use crate::body::JsonBody;
use crate::error::TaskError;
use crate::owner::Owner;
use crate::store::{StatusFilter, Task};
use crate::{DESCRIPTION_MAX, TITLE_MAX, TasksState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Query of the list route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `all` (default), `pending` or `completed`.
    #[param(pattern = "^(all|pending|completed)$")]
    status: Option<String>,
}

/// Body of create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTask {
    /// 1 to 200 characters (trimmed), no control characters.
    #[schema(required, value_type = String, min_length = 1, max_length = 200)]
    title: Option<String>,
    /// At most 1000 characters.
    #[schema(value_type = String, max_length = 1000)]
    description: Option<String>,
}

/// Body of replace.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplaceTask {
    /// 1 to 200 characters (trimmed), no control characters.
    #[schema(required, value_type = String, min_length = 1, max_length = 200)]
    title: Option<String>,
    /// At most 1000 characters (absent: empty).
    #[schema(value_type = String, max_length = 1000)]
    description: Option<String>,
    /// Absent: unchanged.
    #[schema(value_type = bool)]
    completed: Option<bool>,
}

/// Body of complete (optional: no body toggles).
#[derive(Debug, Deserialize, ToSchema)]
pub struct Completion {
    /// The state to set.
    #[schema(value_type = bool)]
    completed: Option<bool>,
}

fn title(raw: Option<String>) -> Result<String, TaskError> {
    let title = raw.ok_or_else(|| TaskError::Validation("title is required".into()))?;
    let title = title.trim();
    let len = title.chars().count();
    if len == 0 || len > TITLE_MAX {
        return Err(TaskError::Validation(format!(
            "title must be 1 to {TITLE_MAX} characters"
        )));
    }
    if title.chars().any(|c| c.is_control()) {
        return Err(TaskError::Validation(
            "title must not contain control characters".into(),
        ));
    }
    Ok(title.to_owned())
}

fn description(raw: Option<String>) -> Result<String, TaskError> {
    let description = raw.unwrap_or_default();
    if description.chars().count() > DESCRIPTION_MAX {
        return Err(TaskError::Validation(format!(
            "description must be at most {DESCRIPTION_MAX} characters"
        )));
    }
    Ok(description)
}

fn valid_id(id: &str) -> Result<(), TaskError> {
    if id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(TaskError::NotFound)
    }
}

/// `GET /api/{user_id}/tasks`.
#[utoipa::path(
    get,
    operation_id = "listTasks",
    path = "/api/{user_id}/tasks",
    tag = "tasks",
    params(("user_id" = String, Path, description = "The token's subject (`sub`)"), ListQuery),
    responses((status = 200, description = "The tasks, newest first", body = Vec<crate::task::Task>), (status = 401, description = "No, a malformed, expired or revoked token", body = crate::error::ErrorBody), (status = 403, description = "A token for another user", body = crate::error::ErrorBody), (status = 422, description = "Bad status filter", body = crate::error::ErrorBody), (status = 500, description = "Database error", body = crate::error::ErrorBody), (status = 503, description = "Database unavailable or busy (Retry-After)", body = crate::error::ErrorBody)),
    security(("bearerJwt" = []))
)]
pub async fn list(
    State(state): State<TasksState>,
    owner: Owner,
    Query(query): Query<ListQuery>,
) -> Result<axum::response::Response, TaskError> {
    let filter = match query.status.as_deref() {
        None | Some("all") => StatusFilter::All,
        Some("pending") => StatusFilter::Pending,
        Some("completed") => StatusFilter::Completed,
        Some(_) => {
            return Err(TaskError::Validation(
                "status must be all, pending or completed".into(),
            ));
        }
    };
    let json = state.store.list_json(owner.user_id(), filter).await?;
    Ok(([(http::header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// `POST /api/{user_id}/tasks`.
#[utoipa::path(
    post,
    operation_id = "createTask",
    path = "/api/{user_id}/tasks",
    tag = "tasks",
    params(("user_id" = String, Path, description = "The token's subject (`sub`)")),
    request_body(content = NewTask, content_type = "application/json"),
    responses((status = 201, description = "Created", body = crate::task::Task), (status = 401, description = "No, a malformed, expired or revoked token", body = crate::error::ErrorBody), (status = 403, description = "A token for another user", body = crate::error::ErrorBody), (status = 400, description = "Malformed JSON or duplicate members", body = crate::error::ErrorBody), (status = 413, description = "Body over 64 KiB", body = crate::error::ErrorBody), (status = 415, description = "Not application/json", body = crate::error::ErrorBody), (status = 422, description = "Invalid title or description", body = crate::error::ErrorBody), (status = 500, description = "Database error", body = crate::error::ErrorBody), (status = 503, description = "Database unavailable or busy (Retry-After)", body = crate::error::ErrorBody)),
    security(("bearerJwt" = []))
)]
pub async fn create(
    State(state): State<TasksState>,
    owner: Owner,
    JsonBody(body): JsonBody<NewTask>,
) -> Result<(StatusCode, Json<Task>), TaskError> {
    let title = title(body.title)?;
    let description = description(body.description)?;
    let task = state
        .store
        .create(owner.user_id(), &title, &description)
        .await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// `GET /api/{user_id}/tasks/{id}`.
#[utoipa::path(
    get,
    operation_id = "getTask",
    path = "/api/{user_id}/tasks/{id}",
    tag = "tasks",
    params(("user_id" = String, Path, description = "The token's subject (`sub`)"), ("id" = String, Path, description = "Task id")),
    responses((status = 200, description = "The task", body = crate::task::Task), (status = 401, description = "No, a malformed, expired or revoked token", body = crate::error::ErrorBody), (status = 403, description = "A token for another user", body = crate::error::ErrorBody), (status = 404, description = "No such task of this user", body = crate::error::ErrorBody), (status = 500, description = "Database error", body = crate::error::ErrorBody), (status = 503, description = "Database unavailable or busy (Retry-After)", body = crate::error::ErrorBody)),
    security(("bearerJwt" = []))
)]
pub async fn get_one(
    State(state): State<TasksState>,
    owner: Owner,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Task>, TaskError> {
    valid_id(&id)?;
    state
        .store
        .get(owner.user_id(), &id)
        .await?
        .map(Json)
        .ok_or(TaskError::NotFound)
}

/// `PUT /api/{user_id}/tasks/{id}`.
#[utoipa::path(
    put,
    operation_id = "replaceTask",
    path = "/api/{user_id}/tasks/{id}",
    tag = "tasks",
    params(("user_id" = String, Path, description = "The token's subject (`sub`)"), ("id" = String, Path, description = "Task id")),
    request_body(content = ReplaceTask, content_type = "application/json"),
    responses((status = 200, description = "Replaced", body = crate::task::Task), (status = 401, description = "No, a malformed, expired or revoked token", body = crate::error::ErrorBody), (status = 403, description = "A token for another user", body = crate::error::ErrorBody), (status = 404, description = "No such task of this user", body = crate::error::ErrorBody), (status = 400, description = "Malformed JSON or duplicate members", body = crate::error::ErrorBody), (status = 413, description = "Body over 64 KiB", body = crate::error::ErrorBody), (status = 415, description = "Not application/json", body = crate::error::ErrorBody), (status = 422, description = "Invalid title or description", body = crate::error::ErrorBody), (status = 500, description = "Database error", body = crate::error::ErrorBody), (status = 503, description = "Database unavailable or busy (Retry-After)", body = crate::error::ErrorBody)),
    security(("bearerJwt" = []))
)]
pub async fn replace(
    State(state): State<TasksState>,
    owner: Owner,
    Path((_, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<ReplaceTask>,
) -> Result<Json<Task>, TaskError> {
    valid_id(&id)?;
    let title = title(body.title)?;
    let description = description(body.description)?;
    let completed = match body.completed {
        Some(c) => c,
        None => {
            state
                .store
                .get(owner.user_id(), &id)
                .await?
                .ok_or(TaskError::NotFound)?
                .completed
        }
    };
    state
        .store
        .replace(owner.user_id(), &id, &title, &description, completed)
        .await?
        .map(Json)
        .ok_or(TaskError::NotFound)
}

/// `DELETE /api/{user_id}/tasks/{id}`.
#[utoipa::path(
    delete,
    operation_id = "deleteTask",
    path = "/api/{user_id}/tasks/{id}",
    tag = "tasks",
    params(("user_id" = String, Path, description = "The token's subject (`sub`)"), ("id" = String, Path, description = "Task id")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No, a malformed, expired or revoked token", body = crate::error::ErrorBody), (status = 403, description = "A token for another user", body = crate::error::ErrorBody), (status = 404, description = "No such task of this user", body = crate::error::ErrorBody), (status = 500, description = "Database error", body = crate::error::ErrorBody), (status = 503, description = "Database unavailable or busy (Retry-After)", body = crate::error::ErrorBody)),
    security(("bearerJwt" = []))
)]
pub async fn delete(
    State(state): State<TasksState>,
    owner: Owner,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, TaskError> {
    valid_id(&id)?;
    if state.store.delete(owner.user_id(), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(TaskError::NotFound)
    }
}

/// `PATCH /api/{user_id}/tasks/{id}/complete`: toggles, or sets `{"completed": bool}`.
#[utoipa::path(
    patch,
    operation_id = "completeTask",
    path = "/api/{user_id}/tasks/{id}/complete",
    tag = "tasks",
    params(("user_id" = String, Path, description = "The token's subject (`sub`)"), ("id" = String, Path, description = "Task id")),
    request_body(content = Option<Completion>, description = "Absent: toggle", content_type = "application/json"),
    responses((status = 200, description = "Toggled, or set", body = crate::task::Task), (status = 401, description = "No, a malformed, expired or revoked token", body = crate::error::ErrorBody), (status = 403, description = "A token for another user", body = crate::error::ErrorBody), (status = 404, description = "No such task of this user", body = crate::error::ErrorBody), (status = 400, description = "Malformed JSON or duplicate members", body = crate::error::ErrorBody), (status = 413, description = "Body over 64 KiB", body = crate::error::ErrorBody), (status = 422, description = "Not {\"completed\": bool}", body = crate::error::ErrorBody), (status = 500, description = "Database error", body = crate::error::ErrorBody), (status = 503, description = "Database unavailable or busy (Retry-After)", body = crate::error::ErrorBody)),
    security(("bearerJwt" = []))
)]
pub async fn complete(
    State(state): State<TasksState>,
    owner: Owner,
    Path((_, id)): Path<(String, String)>,
    body: bytes::Bytes,
) -> Result<Json<Task>, TaskError> {
    valid_id(&id)?;
    let completed = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let value = crate::body::strict_value(&body)?;
        let parsed: Completion = serde_json::from_value(value)
            .map_err(|e| TaskError::Validation(format!("expected {{\"completed\": bool}}: {e}")))?;
        parsed.completed
    };
    state
        .store
        .set_completed(owner.user_id(), &id, completed)
        .await?
        .map(Json)
        .ok_or(TaskError::NotFound)
}
