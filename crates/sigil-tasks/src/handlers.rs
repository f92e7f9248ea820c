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

/// Query of the list route.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

/// Body of create.
#[derive(Debug, Deserialize)]
pub struct NewTask {
    title: Option<String>,
    description: Option<String>,
}

/// Body of replace.
#[derive(Debug, Deserialize)]
pub struct ReplaceTask {
    title: Option<String>,
    description: Option<String>,
    completed: Option<bool>,
}

/// Body of complete (optional).
#[derive(Debug, Deserialize)]
pub struct Completion {
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
