//! Better Auth's cookies: names, signed values and `Set-Cookie` serialisation.
//!
//! The session cookie's value is `token.base64(HMAC-SHA256(secret, token))`, URL-encoded, exactly
//! as Better Auth writes it, so a browser moving between the two servers keeps working and the
//! official client's assumptions hold. Attributes: `HttpOnly; SameSite=Lax; Path=/`, plus `Secure`
//! and the `__Secure-` name prefix when the base URL is https.

use crate::crypto;
use http::HeaderMap;
use http::header::COOKIE;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// JavaScript's `encodeURIComponent` leaves these unescaped.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Percent-encodes like JavaScript's `encodeURIComponent`.
pub fn encode_uri_component(s: &str) -> String {
    utf8_percent_encode(s, URI_COMPONENT).to_string()
}

/// Cookie names and attributes for one deployment.
#[derive(Clone, Debug)]
pub struct CookieJar {
    secure: bool,
    session_token: String,
    dont_remember: String,
    session_data: String,
    state: String,
    passkey_challenge: String,
    two_factor: String,
    trust_device: String,
}

impl CookieJar {
    /// Names for a deployment (`secure`: https base URL).
    pub fn new(secure: bool) -> CookieJar {
        let prefix = if secure {
            "__Secure-better-auth"
        } else {
            "better-auth"
        };
        CookieJar {
            secure,
            session_token: format!("{prefix}.session_token"),
            dont_remember: format!("{prefix}.dont_remember"),
            session_data: format!("{prefix}.session_data"),
            state: format!("{prefix}.state"),
            passkey_challenge: format!("{prefix}.better-auth-passkey"),
            two_factor: format!("{prefix}.two_factor"),
            trust_device: format!("{prefix}.trust_device"),
        }
    }

    /// The session cookie's name.
    pub fn session_token_name(&self) -> &str {
        &self.session_token
    }

    /// The signed session value, before URL-encoding (also the `set-auth-token` header value).
    pub fn signed_token(secret: &[u8], token: &str) -> String {
        format!("{token}.{}", crypto::cookie_signature(secret, token))
    }

    fn attributes(&self, max_age: Option<u64>) -> String {
        let mut attrs = String::new();
        if let Some(age) = max_age {
            attrs.push_str(&format!("; Max-Age={age}"));
        }
        attrs.push_str("; Path=/; HttpOnly");
        if self.secure {
            attrs.push_str("; Secure");
        }
        attrs.push_str("; SameSite=Lax");
        attrs
    }

    /// `Set-Cookie` for the session: `max_age` `None` makes a browser-session cookie.
    pub fn session_cookie(&self, secret: &[u8], token: &str, max_age: Option<u64>) -> String {
        let value =
            utf8_percent_encode(&Self::signed_token(secret, token), URI_COMPONENT).to_string();
        format!("{}={value}{}", self.session_token, self.attributes(max_age))
    }

    /// `Set-Cookie` for the `dont_remember` marker of `rememberMe: false` sessions.
    pub fn dont_remember_cookie(&self, secret: &[u8]) -> String {
        let value =
            utf8_percent_encode(&Self::signed_token(secret, "true"), URI_COMPONENT).to_string();
        format!("{}={value}{}", self.dont_remember, self.attributes(None))
    }

    /// `Set-Cookie` for a signed `value` under `name` (Better Auth's `setSignedCookie`).
    fn signed_cookie(&self, name: &str, secret: &[u8], value: &str, max_age: u64) -> String {
        let signed = Self::signed_token(secret, value);
        let value = utf8_percent_encode(&signed, URI_COMPONENT);
        format!("{name}={value}{}", self.attributes(Some(max_age)))
    }

    /// The signed value of cookie `name`, if present and correctly signed.
    fn signed_value_from(&self, headers: &HeaderMap, name: &str, secret: &[u8]) -> Option<String> {
        let raw = find_cookie(headers, name)?;
        let decoded = percent_decode_str(raw).decode_utf8().ok()?;
        crypto::verify_signed_value(secret, &decoded).map(str::to_owned)
    }

    /// `Set-Cookie` for a social sign-in's signed `state` (Better Auth's `state` cookie: it
    /// binds the flow to the browser that started it).
    pub fn state_cookie(&self, secret: &[u8], state: &str, max_age: u64) -> String {
        self.signed_cookie(&self.state, secret, state, max_age)
    }

    /// `Set-Cookie` deleting the state cookie.
    pub fn expire_state(&self) -> String {
        format!("{}={}", self.state, self.attributes(Some(0)))
    }

    /// The `state` in the request's signed state cookie, if present and correctly signed.
    pub fn state_from(&self, headers: &HeaderMap, secret: &[u8]) -> Option<String> {
        self.signed_value_from(headers, &self.state, secret)
    }

    /// `Set-Cookie` binding a passkey ceremony to this browser: Better Auth's
    /// `better-auth-passkey` cookie, the signed id of the server-side challenge row.
    pub fn passkey_challenge_cookie(&self, secret: &[u8], id: &str, max_age: u64) -> String {
        self.signed_cookie(&self.passkey_challenge, secret, id, max_age)
    }

    /// `Set-Cookie` deleting the passkey challenge cookie (its challenge was used).
    pub fn expire_passkey_challenge(&self) -> String {
        format!("{}={}", self.passkey_challenge, self.attributes(Some(0)))
    }

    /// The challenge id from the request's passkey cookie, if present and correctly signed.
    pub fn passkey_challenge_from(&self, headers: &HeaderMap, secret: &[u8]) -> Option<String> {
        self.signed_value_from(headers, &self.passkey_challenge, secret)
    }

    /// `Set-Cookie` for the pending second-factor challenge of a sign-in (`two_factor`).
    pub fn two_factor_cookie(&self, secret: &[u8], challenge: &str, max_age: u64) -> String {
        self.signed_cookie(&self.two_factor, secret, challenge, max_age)
    }

    /// The challenge id of a correctly signed `two_factor` cookie.
    pub fn two_factor_from(&self, headers: &HeaderMap, secret: &[u8]) -> Option<String> {
        self.signed_value_from(headers, &self.two_factor, secret)
    }

    /// `Set-Cookie` deleting the `two_factor` cookie.
    pub fn expire_two_factor(&self) -> String {
        format!("{}={}", self.two_factor, self.attributes(Some(0)))
    }

    /// `Set-Cookie` for a trusted device (`trust_device`).
    pub fn trust_device_cookie(&self, secret: &[u8], value: &str, max_age: u64) -> String {
        self.signed_cookie(&self.trust_device, secret, value, max_age)
    }

    /// The value of a correctly signed `trust_device` cookie.
    pub fn trust_device_from(&self, headers: &HeaderMap, secret: &[u8]) -> Option<String> {
        self.signed_value_from(headers, &self.trust_device, secret)
    }

    /// `Set-Cookie` deleting the `trust_device` cookie.
    pub fn expire_trust_device(&self) -> String {
        format!("{}={}", self.trust_device, self.attributes(Some(0)))
    }

    /// `Set-Cookie` lines deleting the session cookie and the session cache (not the
    /// `dont_remember` marker): what a sign-in waiting for its second factor answers, as
    /// Better Auth does.
    pub fn expire_session(&self) -> [String; 2] {
        [&self.session_token, &self.session_data]
            .map(|name| format!("{name}={}", self.attributes(Some(0))))
    }

    /// `Set-Cookie` deleting the `dont_remember` marker.
    pub fn expire_dont_remember(&self) -> String {
        format!("{}={}", self.dont_remember, self.attributes(Some(0)))
    }

    /// Whether the request carries a correctly signed `dont_remember` marker.
    pub fn dont_remember_from(&self, headers: &HeaderMap, secret: &[u8]) -> bool {
        self.signed_value_from(headers, &self.dont_remember, secret)
            .is_some_and(|v| v == "true")
    }

    /// `Set-Cookie` lines that delete every session cookie.
    pub fn expire_all(&self) -> [String; 3] {
        [&self.session_token, &self.session_data, &self.dont_remember]
            .map(|name| format!("{name}={}", self.attributes(Some(0))))
    }

    /// The session token from the request's signed session cookie, if present and correctly
    /// signed. `Err(())` when a session cookie is present but its signature is wrong.
    pub fn session_token_from(
        &self,
        headers: &HeaderMap,
        secret: &[u8],
    ) -> Option<Result<String, ()>> {
        let raw = find_cookie(headers, &self.session_token)?;
        let decoded = percent_decode_str(raw).decode_utf8().ok()?;
        Some(
            crypto::verify_signed_value(secret, &decoded)
                .map(str::to_owned)
                .ok_or(()),
        )
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SECRET: &[u8] = b"test-secret-0123456789abcdefghijklmnopqrstuvwxyz";

    #[test]
    fn session_cookie_matches_better_auth() {
        let jar = CookieJar::new(false);
        assert_eq!(
            jar.session_cookie(SECRET, "NwcGLNLsJpfmKVCxlbqZh1iLumN3TQXG", Some(604800)),
            "better-auth.session_token=NwcGLNLsJpfmKVCxlbqZh1iLumN3TQXG.v6c4SXqR2ab72RjZ%2F6PKCLrCBMVM0OtOs9JaA4eUOf0%3D; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        );
        let secure = CookieJar::new(true);
        assert!(
            secure
                .session_cookie(SECRET, "t", None)
                .starts_with("__Secure-better-auth.session_token=")
        );
        assert!(
            secure
                .session_cookie(SECRET, "t", None)
                .ends_with("; Path=/; HttpOnly; Secure; SameSite=Lax")
        );
        assert_eq!(
            jar.expire_all()[0],
            "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn reads_signed_cookie_and_refuses_forged_ones() {
        let jar = CookieJar::new(false);
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("a=b; better-auth.session_token=NwcGLNLsJpfmKVCxlbqZh1iLumN3TQXG.v6c4SXqR2ab72RjZ%2F6PKCLrCBMVM0OtOs9JaA4eUOf0%3D"));
        assert_eq!(
            jar.session_token_from(&headers, SECRET),
            Some(Ok("NwcGLNLsJpfmKVCxlbqZh1iLumN3TQXG".into()))
        );
        headers.insert(
            COOKIE,
            HeaderValue::from_static("better-auth.session_token=NwcGLNLsJpfmKVCxlbqZh1iLumN3TQXG"),
        );
        assert_eq!(jar.session_token_from(&headers, SECRET), Some(Err(())));
        headers.insert(COOKIE, HeaderValue::from_static("other=1"));
        assert_eq!(jar.session_token_from(&headers, SECRET), None);
    }
}
