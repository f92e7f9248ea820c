//! Building answers: JSON bodies with the cookies and headers Better Auth's client expects.

use super::AuthService;
use super::openapi::{SessionBody, UserBody};
use crate::store::{Session, User};
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::header::{ACCESS_CONTROL_EXPOSE_HEADERS, CACHE_CONTROL, LOCATION, PRAGMA, SET_COOKIE};
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::{Value, json};

/// A JSON answer plus cookies and headers.
#[derive(Debug)]
pub(super) struct Reply {
    status: StatusCode,
    body: Value,
    cookies: Vec<String>,
    headers: Vec<(HeaderName, String)>,
    expose: Vec<&'static str>,
}

impl Reply {
    /// 200 with `body`.
    pub(super) fn json(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body,
            cookies: Vec::new(),
            headers: Vec::new(),
            expose: Vec::new(),
        }
    }

    /// Adds several `Set-Cookie` lines.
    pub(super) fn cookies(mut self, lines: impl IntoIterator<Item = String>) -> Reply {
        self.cookies.extend(lines);
        self
    }

    /// Adds a header.
    pub(super) fn header(mut self, name: HeaderName, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// Adds a header readable by cross-origin scripts (listed in `Access-Control-Expose-Headers`).
    pub(super) fn exposed_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((HeaderName::from_static(name), value));
        self.expose.push(name);
        self
    }

    /// `Cache-Control: no-store` and `Pragma: no-cache`.
    pub(super) fn no_store(self) -> Reply {
        self.header(CACHE_CONTROL, "no-store".into())
            .header(PRAGMA, "no-cache".into())
    }

    /// A `Location` header (the status stays 200, as Better Auth's sign-in does).
    pub(super) fn location(self, url: &str) -> Reply {
        self.header(LOCATION, url.to_owned())
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        for line in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&line) {
                headers.append(SET_COOKIE, v);
            }
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.append(name, v);
            }
        }
        if !self.expose.is_empty()
            && let Ok(v) = HeaderValue::from_str(&self.expose.join(", "))
        {
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
        response
    }
}

/// Adds the session cookie(s), `set-auth-token` and its expose header.
pub(super) fn with_session(auth: &AuthService, reply: Reply, token: &str, remember: bool) -> Reply {
    let (cookies, signed) = auth.session_cookies(token, remember);
    reply
        .cookies(cookies)
        .exposed_header("set-auth-token", signed)
}

/// A 302 redirect with an empty body.
pub(super) fn redirect(location: &str, cookies: Vec<String>) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    // Better Auth labels its empty redirect bodies as JSON; so do we.
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(LOCATION, v);
    }
    for line in cookies {
        if let Ok(v) = HeaderValue::from_str(&line) {
            headers.append(SET_COOKIE, v);
        }
    }
    response
}

/// A user as Better Auth serialises it ([`UserBody`], the document's schema).
pub(super) fn user_json(user: &User) -> Value {
    json!(UserBody::from(user))
}

/// A session as Better Auth serialises it ([`SessionBody`]). `token` is the raw token for the
/// caller's own session; for other sessions Sigil gives the session id instead (it does not keep
/// other sessions' tokens, and never hands them out), which `/revoke-session` accepts.
pub(super) fn session_json(session: &Session, token: &str) -> Value {
    json!(SessionBody::new(session, token))
}
