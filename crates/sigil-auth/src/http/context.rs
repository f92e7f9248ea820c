//! Who is calling: the client's address and the session a request presents (Better Auth's signed
//! session cookie, or `Authorization: Bearer` with the signed or raw session token).
//!
//! The session check behind every session-authenticated route is the [`Caller`] extractor. As
//! Better Auth's `getSessionFromCtx` does, it slides a remembered session forward once per
//! `updateAge`; the [`resend_slid_session`] layer then re-sends the session cookie and
//! `set-auth-token` on the answer, whatever route it was.

use super::AuthService;
use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::session::ClientInfo;
use crate::store::{Session, User};
use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{ACCESS_CONTROL_EXPOSE_HEADERS, AUTHORIZATION, SET_COOKIE, USER_AGENT};
use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderValue};
use percent_encoding::percent_decode_str;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

/// An authenticated caller of an identity route.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The live session.
    pub session: Session,
    /// Its user.
    pub user: User,
    /// The raw session token the request presented.
    pub token: String,
}

impl FromRequestParts<AuthService> for Caller {
    type Rejection = ApiError;

    /// The caller's live session (slid forward when due), or 401 `UNAUTHORIZED`.
    async fn from_request_parts(parts: &mut Parts, auth: &AuthService) -> ApiResult<Caller> {
        let caller = auth.require_session(&parts.headers).await?;
        slide(parts, auth, caller).await
    }
}

impl OptionalFromRequestParts<AuthService> for Caller {
    type Rejection = ApiError;

    /// The caller's live session (slid forward when due), if there is one.
    async fn from_request_parts(
        parts: &mut Parts,
        auth: &AuthService,
    ) -> ApiResult<Option<Caller>> {
        match auth.lookup(&parts.headers).await? {
            Lookup::Live(caller) => Ok(Some(slide(parts, auth, *caller).await?)),
            Lookup::Anonymous | Lookup::Dead => Ok(None),
        }
    }
}

/// Slides the caller's session when due and notes it for [`resend_slid_session`].
async fn slide(parts: &Parts, auth: &AuthService, mut caller: Caller) -> ApiResult<Caller> {
    if auth.0.sessions.extend_if_due(&mut caller.session).await?
        && let Some(slid) = parts.extensions.get::<SlidSession>()
    {
        // Only one session is read per request, so the slot is empty here.
        let _ = slid.0.set(caller.token.clone());
    }
    Ok(caller)
}

/// The token of a session the request's session check slid forward, for
/// [`resend_slid_session`] to re-send.
#[derive(Clone, Debug, Default)]
struct SlidSession(Arc<OnceLock<String>>);

/// Re-sends the session cookie and `set-auth-token` (with `Max-Age` = `expiresIn`) when the
/// request's session was slid forward, unless the route already answers with a session cookie
/// of its own (a new session, or expired cookies after a sign-out or deletion).
pub(super) async fn resend_slid_session(
    State(auth): State<AuthService>,
    mut request: Request,
    next: Next,
) -> Response {
    let slid = SlidSession::default();
    request.extensions_mut().insert(slid.clone());
    let mut response = next.run(request).await;
    let Some(token) = slid.0.get() else {
        return response;
    };
    let name = auth.0.cookies.session_token_name();
    let headers = response.headers_mut();
    let sets_session = headers.contains_key("set-auth-token")
        || headers.get_all(SET_COOKIE).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.strip_prefix(name).is_some_and(|r| r.starts_with('=')))
        });
    if sets_session {
        return response;
    }
    let (cookies, signed) = auth.session_cookies(token, true);
    for line in cookies {
        if let Ok(v) = HeaderValue::from_str(&line) {
            headers.append(SET_COOKIE, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&signed) {
        headers.insert("set-auth-token", v);
    }
    let expose = match headers
        .get(ACCESS_CONTROL_EXPOSE_HEADERS)
        .and_then(|v| v.to_str().ok())
    {
        Some(listed) if !listed.trim().is_empty() => format!("{listed}, set-auth-token"),
        _ => "set-auth-token".to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&expose) {
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    response
}

/// The outcome of looking for a session.
#[derive(Debug)]
pub enum Lookup {
    /// No session credential at all (or one whose signature is wrong: treated the same and,
    /// as in Better Auth, its cookie is not cleared).
    Anonymous,
    /// A well-formed credential for a session that no longer exists or has expired.
    Dead,
    /// A live session.
    Live(Box<Caller>),
}

/// The client's IP and user agent. The IP is the TCP peer unless a trusted proxy header is
/// configured, in which case the last (proxy-appended) entry of that header is used.
pub(super) fn client_info(
    auth: &AuthService,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> ClientInfo {
    let from_header = auth.0.config.client_ip_header.as_ref().and_then(|name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
            .map(str::to_owned)
    });
    let ip = from_header
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string())
        })
        .unwrap_or_default();
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    ClientInfo { ip, user_agent }
}

/// Extractor for the caller's [`ClientInfo`].
#[derive(Debug)]
pub(super) struct Client(pub ClientInfo);

impl FromRequestParts<AuthService> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        auth: &AuthService,
    ) -> Result<Self, Self::Rejection> {
        Ok(Client(client_info(auth, &parts.headers, &parts.extensions)))
    }
}

/// The session token in `Authorization: Bearer`, if it is a valid signed token or a raw one
/// (Better Auth's bearer plugin accepts both). An invalid bearer value is ignored.
fn bearer_session_token(auth: &AuthService, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    if token.contains('.') {
        let decoded = if token.contains('%') {
            percent_decode_str(token).decode_utf8().ok()?.into_owned()
        } else {
            token.to_owned()
        };
        crypto::verify_signed_value(auth.0.config.secret.expose(), &decoded).map(str::to_owned)
    } else if !token.is_empty()
        && token.len() <= 256
        && token.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        Some(token.to_owned())
    } else {
        None
    }
}

impl AuthService {
    /// Finds the session a request presents.
    pub async fn lookup(&self, headers: &HeaderMap) -> ApiResult<Lookup> {
        let token = match bearer_session_token(self, headers) {
            Some(token) => token,
            None => match self
                .0
                .cookies
                .session_token_from(headers, self.0.config.secret.expose())
            {
                Some(Ok(token)) => token,
                Some(Err(())) | None => return Ok(Lookup::Anonymous),
            },
        };
        Ok(match self.0.sessions.resolve(&token).await? {
            Some((session, user)) => Lookup::Live(Box::new(Caller {
                session,
                user,
                token,
            })),
            None => Lookup::Dead,
        })
    }

    /// The caller's live session, or 401 `UNAUTHORIZED` (clearing the cookies of a dead one).
    pub async fn require_session(&self, headers: &HeaderMap) -> ApiResult<Caller> {
        match self.lookup(headers).await? {
            Lookup::Live(caller) => Ok(*caller),
            Lookup::Dead => Err(ApiError::unauthorized().with_cookies(self.0.cookies.expire_all())),
            Lookup::Anonymous => Err(ApiError::unauthorized()),
        }
    }

    /// `Set-Cookie` lines (re-)establishing `token` as the browser's session, and the
    /// `set-auth-token` value (the signed token) for bearer clients.
    pub fn session_cookies(&self, token: &str, remember: bool) -> (Vec<String>, String) {
        let secret = self.0.config.secret.expose();
        let mut lines = Vec::with_capacity(2);
        if remember {
            lines.push(self.0.cookies.session_cookie(
                secret,
                token,
                Some(self.0.config.session.expires_in.as_secs()),
            ));
        } else {
            lines.push(self.0.cookies.session_cookie(secret, token, None));
            lines.push(self.0.cookies.dont_remember_cookie(secret));
        }
        (
            lines,
            crate::cookies::CookieJar::signed_token(secret, token),
        )
    }
}
