//! Request bodies: media type, size and JSON checks, then field validation with Better Auth's
//! `VALIDATION_ERROR` messages (`[body.email] Invalid email address`).
//!
//! Unknown fields are ignored and never stored (no mass assignment): handlers read only the
//! fields they name. JSON with duplicate member names is refused, so every reader of a body sees
//! the same values.

use crate::domain::Email;
use crate::error::{ApiError, codes};
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

/// A parsed request body: `None` when the request had none.
#[derive(Debug)]
pub(super) struct Body {
    value: Option<Value>,
}

/// A body that may also be `application/x-www-form-urlencoded` (sign-in and sign-up accept HTML
/// form posts, as Better Auth does).
#[derive(Debug)]
pub(super) struct FormOrJson(pub Body);

fn media_type(request: &Request) -> Option<String> {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

fn unsupported(media: &str, allowed: &str) -> ApiError {
    ApiError::with_message(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        format!("Content-Type \"{media}\" is not allowed. Allowed types: {allowed}"),
    )
}

async fn read(request: Request, allow_form: bool) -> Result<Body, ApiError> {
    let media = media_type(&request);
    let bytes = Bytes::from_request(request, &())
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE))?;
    if bytes.is_empty() || bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body { value: None });
    }
    let allowed = if allow_form {
        "application/x-www-form-urlencoded, application/json"
    } else {
        "application/json"
    };
    match media.as_deref() {
        Some("application/json") => {
            // Top-level arrays, strings and null are answered by field validation; only
            // malformed JSON and duplicate member names (at any depth) are refused here, by the
            // strict reader every JSON body of Sigil goes through.
            let value = sigil_token::json::parse_value(&bytes).map_err(|e| match e {
                sigil_token::json::StrictJsonError::DuplicateMember => ApiError::with_message(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "Duplicate keys in JSON body",
                ),
                sigil_token::json::StrictJsonError::Malformed => ApiError::with_message(
                    StatusCode::BAD_REQUEST,
                    codes::BAD_REQUEST.0,
                    codes::BAD_REQUEST.1,
                ),
            })?;
            Ok(Body { value: Some(value) })
        }
        Some("application/x-www-form-urlencoded") if allow_form => {
            let mut map = Map::new();
            for (k, v) in url::form_urlencoded::parse(&bytes) {
                let v = match v.as_ref() {
                    "true" if k == "rememberMe" => Value::Bool(true),
                    "false" if k == "rememberMe" => Value::Bool(false),
                    _ => Value::String(v.into_owned()),
                };
                if map.insert(k.into_owned(), v).is_some() {
                    return Err(ApiError::with_message(
                        StatusCode::BAD_REQUEST,
                        "BAD_REQUEST",
                        "Duplicate form fields",
                    ));
                }
            }
            Ok(Body {
                value: Some(Value::Object(map)),
            })
        }
        Some(other) => Err(unsupported(other, allowed)),
        None => Err(ApiError::with_message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("Content-Type is required. Allowed types: {allowed}"),
        )),
    }
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        read(request, false).await
    }
}

impl<S: Send + Sync> FromRequest<S> for FormOrJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        read(request, true).await.map(FormOrJson)
    }
}

fn kind(v: Option<&Value>) -> &'static str {
    match v {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// Field-by-field validation that collects every problem, in field order, into one
/// `VALIDATION_ERROR` (Better Auth joins them with `; `).
#[derive(Debug)]
pub(super) struct Fields<'a> {
    map: Option<&'a Map<String, Value>>,
    errors: Vec<String>,
}

impl Body {
    /// The parsed body (`None`: empty).
    pub(super) fn value(&self) -> Option<&Value> {
        self.value.as_ref()
    }

    /// Starts validating an object body; `expected` names the shape in the message
    /// (`object`, or `record` for update-user).
    pub(super) fn fields(&self, expected: &str) -> Result<Fields<'_>, ApiError> {
        match &self.value {
            Some(Value::Object(map)) => Ok(Fields {
                map: Some(map),
                errors: Vec::new(),
            }),
            other => Err(ApiError::validation(format!(
                "[body] Invalid input: expected {expected}, received {}",
                kind(other.as_ref())
            ))),
        }
    }

    /// Like [`Body::fields`] for endpoints whose body is optional: no body is an empty object.
    pub(super) fn optional_fields(&self) -> Result<Fields<'_>, ApiError> {
        match &self.value {
            None => Ok(Fields {
                map: None,
                errors: Vec::new(),
            }),
            Some(_) => self.fields("object"),
        }
    }
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(name))
    }

    fn wrong(&mut self, name: &str, expected: &str, v: Option<&Value>) {
        self.errors.push(format!(
            "[body.{name}] Invalid input: expected {expected}, received {}",
            kind(v)
        ));
    }

    /// Refuses the admin plugin's fields (`role`, `banned`, `banReason`, `banExpires`), which no
    /// user route may set, exactly as Better Auth treats its `input: false` fields: a value that is
    /// not JSON-falsy (`false`, `null`, `0`, `""`) is answered 400 `FIELD_NOT_ALLOWED` naming the
    /// first such field; a falsy one, and `banned` on sign-up (`creating`: it has a default), are
    /// ignored. Nothing is ever stored from them.
    pub(super) fn refuse_admin_fields(&self, creating: bool) -> Result<(), ApiError> {
        let truthy = |v: &Value| match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        };
        for name in ["role", "banned", "banReason", "banExpires"] {
            if creating && name == "banned" {
                continue;
            }
            if self.get(name).is_some_and(truthy) {
                return Err(ApiError::with_message(
                    http::StatusCode::BAD_REQUEST,
                    crate::error::codes::FIELD_NOT_ALLOWED.0,
                    format!("{name} is not allowed to be set"),
                ));
            }
        }
        Ok(())
    }

    /// Whether the field is present at all (any type).
    pub(super) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// A required string.
    pub(super) fn string(&mut self, name: &str) -> Option<&'a str> {
        match self.get(name) {
            Some(Value::String(s)) => Some(s),
            other => {
                self.wrong(name, "string", other);
                None
            }
        }
    }

    /// A required JSON object, as given (a WebAuthn answer, checked by its reader).
    pub(super) fn object(&mut self, name: &str) -> Option<&'a Value> {
        match self.get(name) {
            Some(v @ Value::Object(_)) => Some(v),
            other => {
                self.wrong(name, "object", other);
                None
            }
        }
    }

    /// A required non-empty string.
    pub(super) fn non_empty(&mut self, name: &str) -> Option<&'a str> {
        let s = self.string(name)?;
        if s.is_empty() {
            self.errors.push(format!(
                "[body.{name}] Too small: expected string to have >=1 characters"
            ));
            return None;
        }
        Some(s)
    }

    /// A required valid email address.
    pub(super) fn email(&mut self, name: &str) -> Option<Email> {
        let s = self.string(name)?;
        let email = Email::parse(s);
        if email.is_none() {
            self.errors
                .push(format!("[body.{name}] Invalid email address"));
        }
        email
    }

    /// An optional string (`null` is refused, as zod's `.optional()` does).
    pub(super) fn opt_string(&mut self, name: &str) -> Option<&'a str> {
        match self.get(name) {
            None => None,
            Some(Value::String(s)) => Some(s),
            other => {
                self.wrong(name, "string", other);
                None
            }
        }
    }

    /// An optional string that may be `null`: outer `None` = absent, `Some(None)` = null.
    pub(super) fn opt_nullable_string(&mut self, name: &str) -> Option<Option<&'a str>> {
        match self.get(name) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            other => {
                self.wrong(name, "string", other);
                None
            }
        }
    }

    /// An optional boolean.
    pub(super) fn opt_bool(&mut self, name: &str) -> Option<bool> {
        match self.get(name) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            other => {
                self.wrong(name, "boolean", other);
                None
            }
        }
    }

    /// A string field's value, without recording a problem when it is absent or not a string.
    pub(super) fn peek_string(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(Value::as_str)
    }

    /// An optional array of strings.
    pub(super) fn opt_strings(&mut self, name: &str) -> Option<Vec<&'a str>> {
        match self.get(name) {
            None => None,
            Some(Value::Array(items)) => {
                let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                if strings.is_none() {
                    self.errors.push(format!(
                        "[body.{name}] Invalid input: expected array of strings"
                    ));
                }
                strings
            }
            other => {
                self.wrong(name, "array", other);
                None
            }
        }
    }

    /// An optional object, validated field by field with the returned [`Fields`].
    pub(super) fn opt_object(&mut self, name: &str) -> Option<Fields<'a>> {
        match self.get(name) {
            None => None,
            Some(Value::Object(map)) => Some(Fields {
                map: Some(map),
                errors: Vec::new(),
            }),
            other => {
                self.wrong(name, "object", other);
                None
            }
        }
    }

    /// Ends validation: every collected problem as one 400.
    pub(super) fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors.join("; ")))
        }
    }
}
