//! CSRF defence by origin checking, answered as Better Auth answers it.
//!
//! * A state-changing request (not GET/HEAD/OPTIONS) that carries a `Cookie` header must name a
//!   trusted origin in `Origin` (or, failing that, `Referer`): otherwise 403
//!   `MISSING_OR_NULL_ORIGIN` or `INVALID_ORIGIN`. Bearer-only requests carry no ambient
//!   credential and are not checked.
//! * Sign-in and sign-up are also protected against login CSRF without cookies: a cross-site
//!   navigation is refused (`CROSS_SITE_NAVIGATION_LOGIN_BLOCKED`), and if the request has any
//!   Fetch-Metadata or origin header, the origin must be trusted. A request with none of them
//!   (curl, a server) is allowed.
//! * `Origin: null` is refused (`MISSING_OR_NULL_ORIGIN`) except, as in Better Auth 1.7.25, with
//!   `Sec-Fetch-Site: same-origin` (a form posted from a page with `Referrer-Policy: no-referrer`):
//!   the browser itself then says the page has the request's own origin, so that origin
//!   ([`request_origin`]) is what must be trusted. A browser sets `Sec-Fetch-Site` and no page can
//!   forge it; a non-browser client can, but it has no victim's cookie to abuse.
//! * Redirect targets in bodies and queries (`callbackURL`, `redirectTo`) must be relative paths
//!   or trusted origins ([`TrustedOrigins::allows_redirect`]). An empty target (`""`) is absent, as
//!   Better Auth treats it ([`given`]).
//!
//! Trusted origins come only from configuration (the base URL and `SIGIL_TRUSTED_ORIGINS`),
//! never from request headers; a bare `*` is refused at start.

use crate::error::{ApiError, codes};
use http::header::{COOKIE, HOST, ORIGIN, REFERER};
use http::{HeaderMap, Method, StatusCode};
use url::Url;

/// The allow-list: exact origins, and `scheme://*.domain` patterns for subdomains.
#[derive(Clone, Debug)]
pub struct TrustedOrigins {
    exact: Vec<String>,
    wildcard: Vec<(String, String)>,
}

impl TrustedOrigins {
    /// The base URL's origin plus `extra` entries.
    pub fn new(base_origin: &str, extra: &[String]) -> TrustedOrigins {
        let mut exact = vec![base_origin.to_owned()];
        let mut wildcard = Vec::new();
        for entry in extra {
            let entry = entry.trim().trim_end_matches('/');
            if let Some((scheme, host)) = entry.split_once("://*.") {
                wildcard.push((
                    scheme.to_ascii_lowercase(),
                    format!(".{}", host.to_ascii_lowercase()),
                ));
            } else if let Ok(url) = Url::parse(entry) {
                exact.push(url.origin().ascii_serialization());
            }
        }
        TrustedOrigins { exact, wildcard }
    }

    /// Whether `origin` (as sent in an `Origin` header) is trusted.
    pub fn allows(&self, origin: &str) -> bool {
        let Ok(url) = Url::parse(origin) else {
            return false;
        };
        let normalized = url.origin().ascii_serialization();
        if normalized == "null" {
            return false;
        }
        self.exact.contains(&normalized)
            || self.wildcard.iter().any(|(scheme, suffix)| {
                url.scheme() == scheme
                    && url.host_str().is_some_and(|h| h.ends_with(suffix.as_str()))
            })
    }

    /// Refuses an unacceptable redirect target with 403 and `code` (`INVALID_CALLBACK_URL`,
    /// `INVALID_REDIRECT_URL`); `None` or `""` (no target) is fine.
    pub fn check_redirect(
        &self,
        target: Option<&str>,
        code: crate::error::Code,
    ) -> Result<(), ApiError> {
        match given(target) {
            Some(t) if !self.allows_redirect(t) => Err(ApiError::new(StatusCode::FORBIDDEN, code)),
            _ => Ok(()),
        }
    }

    /// Whether a redirect target is acceptable: a same-site relative path (`/welcome`, but not
    /// `//evil`, `/\evil` or encoded variants), or an absolute URL on a trusted origin.
    pub fn allows_redirect(&self, target: &str) -> bool {
        if let Some(rest) = target.strip_prefix('/') {
            let lower = rest.to_ascii_lowercase();
            return !rest.starts_with('/')
                && !rest.starts_with('\\')
                && !lower.starts_with("%2f")
                && !lower.starts_with("%5c")
                && !target.chars().any(|c| c.is_control() || c == '\\');
        }
        match Url::parse(target) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.username().is_empty()
                    && url.password().is_none() =>
            {
                self.allows(&url.origin().ascii_serialization())
            }
            _ => false,
        }
    }
}

/// A redirect target as Better Auth reads it: an empty string is no target at all (its checks
/// and handlers test `if (callbackURL)`).
pub(super) fn given(target: Option<&str>) -> Option<&str> {
    target.filter(|t| !t.is_empty())
}

fn header(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request's own origin, computed as Better Auth's Node adapter does
/// (`x-forwarded-proto || "http"` + `://` + `Host`): used only for `Origin: null` with
/// `Sec-Fetch-Site: same-origin`. `None` when it is not an http(s) origin.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    let proto = header(headers, "x-forwarded-proto").unwrap_or("http");
    if !matches!(proto, "http" | "https") {
        return None;
    }
    let host = header(headers, HOST)?;
    let url = Url::parse(&format!("{proto}://{host}")).ok()?;
    Some(url.origin().ascii_serialization()).filter(|o| o != "null")
}

/// Whether the request carries exactly one `Sec-Fetch-Site: same-origin` (compared exactly, as
/// Better Auth compares it; several values are joined by `fetch` and never equal it).
fn fetched_same_origin(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all("sec-fetch-site").iter();
    matches!((values.next(), values.next()), (Some(v), None) if v == "same-origin")
}

/// The origin a request claims: `Origin`, else the origin of `Referer`.
fn claimed_origin(headers: &HeaderMap) -> Option<String> {
    match header(headers, ORIGIN) {
        Some(o) if o != "null" => Some(o.to_owned()),
        Some(_) => None,
        None => header(headers, REFERER)
            .and_then(|r| Url::parse(r).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null"),
    }
}

fn require_trusted(trusted: &TrustedOrigins, headers: &HeaderMap) -> Result<(), ApiError> {
    let inferred = (header(headers, ORIGIN) == Some("null") && fetched_same_origin(headers))
        .then(|| request_origin(headers))
        .flatten();
    match inferred.or_else(|| claimed_origin(headers)) {
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::MISSING_OR_NULL_ORIGIN,
        )),
        Some(origin) if trusted.allows(&origin) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, codes::INVALID_ORIGIN)),
    }
}

/// The request-level checks (redirect targets are checked by the handlers that take them).
pub(super) fn check(
    trusted: &TrustedOrigins,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if headers.contains_key(COOKIE) {
        return require_trusted(trusted, headers);
    }
    let is_login = path.starts_with("/sign-in") || path.starts_with("/sign-up");
    if is_login {
        let site = header(headers, "sec-fetch-site");
        let mode = header(headers, "sec-fetch-mode");
        if site == Some("cross-site") && mode == Some("navigate") {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::CROSS_SITE_NAVIGATION_LOGIN_BLOCKED,
            ));
        }
        let has_metadata = ["sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest"]
            .iter()
            .any(|h| headers.contains_key(*h));
        if has_metadata || headers.contains_key(ORIGIN) || headers.contains_key(REFERER) {
            return require_trusted(trusted, headers);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn trusted() -> TrustedOrigins {
        TrustedOrigins::new(
            "http://127.0.0.1:8080",
            &[
                "https://app.example.com".into(),
                "https://*.example.org".into(),
            ],
        )
    }

    #[test]
    fn origins() {
        let t = trusted();
        assert!(t.allows("http://127.0.0.1:8080"));
        assert!(t.allows("https://app.example.com"));
        assert!(t.allows("https://a.b.example.org"));
        assert!(!t.allows("https://example.org"));
        assert!(!t.allows("http://a.example.org"));
        assert!(!t.allows("https://app.example.com.evil.net"));
        assert!(!t.allows("null"));
    }

    #[test]
    fn redirects() {
        let t = trusted();
        for ok in [
            "/welcome",
            "/a/b?c=d",
            "http://127.0.0.1:8080/x",
            "https://app.example.com/cb",
        ] {
            assert!(t.allows_redirect(ok), "{ok}");
        }
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "/%2fevil.com",
            "/%5Cevil",
            "https://evil.com",
            "javascript:alert(1)",
            "evil.com",
            "https://user@evil.com",
            "https://app.example.com@evil.com",
        ] {
            assert!(!t.allows_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn cookie_requests_need_a_trusted_origin() {
        let t = trusted();
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("better-auth.session_token=x"),
        );
        assert_eq!(
            check(&t, &Method::POST, "/sign-out", &h)
                .unwrap_err()
                .code(),
            "MISSING_OR_NULL_ORIGIN"
        );
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.com"));
        assert_eq!(
            check(&t, &Method::POST, "/sign-out", &h)
                .unwrap_err()
                .code(),
            "INVALID_ORIGIN"
        );
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(check(&t, &Method::POST, "/sign-out", &h).is_ok());
        assert!(check(&t, &Method::GET, "/get-session", &HeaderMap::new()).is_ok());
    }

    #[test]
    fn login_csrf() {
        let t = trusted();
        assert!(check(&t, &Method::POST, "/sign-in/email", &HeaderMap::new()).is_ok());
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        h.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        assert_eq!(
            check(&t, &Method::POST, "/sign-in/email", &h)
                .unwrap_err()
                .code(),
            "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"
        );
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-mode", HeaderValue::from_static("cors"));
        assert_eq!(
            check(&t, &Method::POST, "/sign-up/email", &h)
                .unwrap_err()
                .code(),
            "MISSING_OR_NULL_ORIGIN"
        );
    }

    fn null_origin(site: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("better-auth.session_token=x"),
        );
        h.insert(ORIGIN, HeaderValue::from_static("null"));
        h.insert(HOST, HeaderValue::from_static(host));
        if let Some(site) = site {
            h.insert("sec-fetch-site", HeaderValue::from_static(site));
        }
        h
    }

    #[test]
    fn null_origin_is_judged_by_the_request_origin_when_the_browser_says_same_origin() {
        let t = trusted();
        let code = |h: &HeaderMap| check(&t, &Method::POST, "/sign-out", h).map_err(|e| e.code());
        assert_eq!(
            code(&null_origin(Some("same-origin"), "127.0.0.1:8080")),
            Ok(())
        );
        // Cross-site, same-site, none, or no Fetch Metadata: still refused.
        for site in [Some("cross-site"), Some("same-site"), Some("none"), None] {
            assert_eq!(
                code(&null_origin(site, "127.0.0.1:8080")),
                Err("MISSING_OR_NULL_ORIGIN"),
                "{site:?}"
            );
        }
        // Same-origin to a host that is not trusted.
        assert_eq!(
            code(&null_origin(Some("same-origin"), "evil.example")),
            Err("INVALID_ORIGIN")
        );
        // The scheme comes from X-Forwarded-Proto, as in Better Auth's Node adapter.
        let mut h = null_origin(Some("same-origin"), "app.example.com");
        assert_eq!(code(&h), Err("INVALID_ORIGIN"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(code(&h), Ok(()));
        h.insert("x-forwarded-proto", HeaderValue::from_static("ftp"));
        assert_eq!(code(&h), Err("MISSING_OR_NULL_ORIGIN"));
        // Two Sec-Fetch-Site values are not "same-origin".
        let mut h = null_origin(Some("same-origin"), "127.0.0.1:8080");
        h.append("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert_eq!(code(&h), Err("MISSING_OR_NULL_ORIGIN"));
        // Login without cookies goes through the same check.
        let mut h = null_origin(Some("same-origin"), "127.0.0.1:8080");
        h.remove(COOKIE);
        assert!(check(&t, &Method::POST, "/sign-in/email", &h).is_ok());
        let mut h = null_origin(Some("cross-site"), "127.0.0.1:8080");
        h.remove(COOKIE);
        assert!(check(&t, &Method::POST, "/sign-in/email", &h).is_err());
    }

    #[test]
    fn an_empty_redirect_target_is_no_target() {
        let t = trusted();
        assert!(
            t.check_redirect(Some(""), codes::INVALID_CALLBACK_URL)
                .is_ok()
        );
        assert_eq!(given(Some("")), None);
        assert!(
            t.check_redirect(Some(" "), codes::INVALID_CALLBACK_URL)
                .is_err()
        );
    }
}
