//! JSON request bodies with JSON errors (axum's own rejections answer in plain text).

use crate::error::TaskError;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// A JSON body of type `T`: 415 without `application/json`, 413 over the limit, 400 for bad
/// JSON, 422 when the JSON does not fit `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = TaskError;

    async fn from_request(request: Request, state: &S) -> Result<Self, TaskError> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(TaskError::MediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| TaskError::TooLarge)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| TaskError::BadJson(format!("Invalid JSON: {e}")))?;
        if !value.is_object() {
            return Err(TaskError::Validation(
                "the body must be a JSON object".into(),
            ));
        }
        serde_json::from_value(value)
            .map(JsonBody)
            .map_err(|e| TaskError::Validation(e.to_string()))
    }
}
