//! Taking the bearer credential from a request (RFC 6750 §2.1), and nothing else.
//!
//! Only the `Authorization` header is read: a token in the query string (`access_token=`), a form
//! body or a cookie is ignored (RFC 6750 §2.3, RFC 9700 §4.3.2). The header is a singleton
//! (RFC 9110 §5.3): two of them are refused rather than "take the first". The scheme is matched
//! case-insensitively; the credential must be a non-empty `b64token` after one or more spaces.

use http::HeaderMap;
use http::header::AUTHORIZATION;

/// Why no usable bearer token was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BearerError {
    /// No `Authorization` header, or one with another scheme (e.g. `Basic`): no bearer
    /// credentials were presented, so the challenge carries no error code.
    Missing,
    /// More than one `Authorization` header: an ambiguous request (400 `invalid_request`).
    Duplicate,
    /// A `Bearer` header whose credential is empty or not a `b64token`.
    Malformed,
}

/// Returns the bearer token of a request.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(BearerError::Missing)?;
    if values.next().is_some() {
        return Err(BearerError::Duplicate);
    }
    let value = value.to_str().map_err(|_| BearerError::Malformed)?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Missing);
    }
    let token = rest.trim_start_matches(' ');
    if is_b64token(token) {
        Ok(token)
    } else {
        Err(BearerError::Malformed)
    }
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn scheme_is_case_insensitive_and_spaces_are_allowed() {
        for v in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER   abc.def.ghi",
        ] {
            assert_eq!(bearer_token(&headers(&[v])), Ok("abc.def.ghi"), "{v}");
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(bearer_token(&headers(&[])), Err(BearerError::Missing));
        assert_eq!(
            bearer_token(&headers(&["Basic dXNlcjpwYXNz"])),
            Err(BearerError::Missing)
        );
        assert_eq!(
            bearer_token(&headers(&["Bearer"])),
            Err(BearerError::Malformed)
        );
        assert_eq!(
            bearer_token(&headers(&["Bearer "])),
            Err(BearerError::Malformed)
        );
        assert_eq!(
            bearer_token(&headers(&["Bearer a,b"])),
            Err(BearerError::Malformed)
        );
        assert_eq!(
            bearer_token(&headers(&["Bearer a b"])),
            Err(BearerError::Malformed)
        );
        assert_eq!(
            bearer_token(&headers(&["Bearer\ta"])),
            Err(BearerError::Missing)
        );
        assert_eq!(
            bearer_token(&headers(&["Bearer a.b.c", "Bearer d.e.f"])),
            Err(BearerError::Duplicate)
        );
    }
}
