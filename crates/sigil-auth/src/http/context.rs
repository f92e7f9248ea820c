//! Who is calling: the client's address and the session a request presents (Better Auth's signed
//! session cookie, or `Authorization: Bearer` with the signed or raw session token).

use super::AuthService;
use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::session::ClientInfo;
use crate::store::{Session, User};
use axum::extract::{ConnectInfo, FromRequestParts};
use http::header::{AUTHORIZATION, USER_AGENT};
use http::request::Parts;
use http::{Extensions, HeaderMap};
use percent_encoding::percent_decode_str;
use std::net::SocketAddr;

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
pub fn client_info(auth: &AuthService, headers: &HeaderMap, extensions: &Extensions) -> ClientInfo {
    let from_header = auth.config.client_ip_header.as_ref().and_then(|name| {
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
pub struct Client(pub ClientInfo);

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
        crypto::verify_signed_value(auth.config.secret.expose(), &decoded).map(str::to_owned)
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
                .cookies
                .session_token_from(headers, self.config.secret.expose())
            {
                Some(Ok(token)) => token,
                Some(Err(())) | None => return Ok(Lookup::Anonymous),
            },
        };
        Ok(match self.sessions.resolve(&token).await? {
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
            Lookup::Dead => Err(ApiError::unauthorized().with_cookies(self.cookies.expire_all())),
            Lookup::Anonymous => Err(ApiError::unauthorized()),
        }
    }

    /// `Set-Cookie` lines (re-)establishing `token` as the browser's session, and the
    /// `set-auth-token` value (the signed token) for bearer clients.
    pub fn session_cookies(&self, token: &str, remember: bool) -> (Vec<String>, String) {
        let secret = self.config.secret.expose();
        let mut lines = Vec::with_capacity(2);
        if remember {
            lines.push(self.cookies.session_cookie(
                secret,
                token,
                Some(self.config.session.expires_in.as_secs()),
            ));
        } else {
            lines.push(self.cookies.session_cookie(secret, token, None));
            lines.push(self.cookies.dont_remember_cookie(secret));
        }
        (
            lines,
            crate::cookies::CookieJar::signed_token(secret, token),
        )
    }
}
