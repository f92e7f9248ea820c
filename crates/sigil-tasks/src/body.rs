//! JSON request bodies with JSON errors (axum's own rejections answer in plain text).

use crate::error::TaskError;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use sigil_guard::sigil_token::json::StrictJsonError;

/// A JSON body of type `T`: 415 without `application/json`, 413 over the limit, 400 for bad
/// JSON (or duplicate member names), 422 when the JSON does not fit `T`.
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
        let value = strict_value(&bytes)?;
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

/// The one strict reading of a JSON body, the identity routes' too: malformed JSON and duplicate
/// member names (at any depth) are refused with 400 `INVALID_JSON`.
pub(crate) fn strict_value(bytes: &[u8]) -> Result<serde_json::Value, TaskError> {
    sigil_guard::sigil_token::json::parse_value(bytes).map_err(|e| match e {
        StrictJsonError::DuplicateMember => {
            TaskError::BadJson("Duplicate keys in JSON body".into())
        }
        StrictJsonError::Malformed => TaskError::BadJson("Invalid JSON in request body".into()),
    })
}
