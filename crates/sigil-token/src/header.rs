//! The JOSE header of a compact JWS, parsed and policed before any key is touched.

use crate::error::{Malformed, VerifyError};
use serde_json::{Map, Value};

/// Longest `kid` accepted. A `kid` is only ever a lookup key into keys already held.
pub(crate) const MAX_KID_LEN: usize = 256;

/// The header members Sigil reads. Everything else is ignored unless it is listed below as
/// refused; in particular `jku`, `jwk`, `x5u` and `x5c` are never used to obtain a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The algorithm the token claims; it must name the held key's pinned algorithm.
    pub alg: String,
    /// The key id, used only to choose among held keys.
    pub kid: Option<String>,
    /// The media type of the whole token, when present.
    pub typ: Option<String>,
}

impl Header {
    /// Reads and polices a decoded header object.
    ///
    /// Refused: a missing or non-string `alg`; a `kid` that is not a string of at most 256 bytes;
    /// any `crit` (no extension is implemented, so every listed one is unknown, and an empty or
    /// non-list `crit` is invalid anyway); `zip`; `enc` (a JWE header); `cty: JWT` (nested
    /// tokens); a non-string `typ`.
    pub(crate) fn from_object(obj: &Map<String, Value>) -> Result<Header, VerifyError> {
        let alg = match obj.get("alg") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(Malformed::MissingAlg.into()),
        };
        if obj.contains_key("crit") {
            return Err(VerifyError::UnsupportedHeader("crit"));
        }
        if obj.contains_key("zip") {
            return Err(VerifyError::UnsupportedHeader("zip"));
        }
        if obj.contains_key("enc") {
            return Err(VerifyError::UnsupportedHeader("enc"));
        }
        match obj.get("cty") {
            Some(Value::String(c)) if c.eq_ignore_ascii_case("JWT") => {
                return Err(VerifyError::UnsupportedHeader("cty"));
            }
            Some(Value::String(_)) | None => {}
            Some(_) => return Err(VerifyError::UnsupportedHeader("cty")),
        }
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_KID_LEN => Some(s.clone()),
            Some(_) => return Err(Malformed::BadKid.into()),
        };
        let typ = match obj.get("typ") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(VerifyError::UnsupportedHeader("typ")),
        };
        Ok(Header { alg, kid, typ })
    }
}

/// Whether a `typ` value names a plain JWT: `JWT` or `application/jwt`, case-insensitively
/// (RFC 7515 §4.1.9 media types are case-insensitive).
pub(crate) fn is_jwt_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("JWT") || typ.eq_ignore_ascii_case("application/jwt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Header, VerifyError> {
        Header::from_object(v.as_object().unwrap())
    }

    #[test]
    fn reads_alg_kid_typ() {
        let h = parse(json!({"alg":"EdDSA","kid":"k1","typ":"JWT","jku":"https://evil"})).unwrap();
        assert_eq!(h.alg, "EdDSA");
        assert_eq!(h.kid.as_deref(), Some("k1"));
        assert_eq!(h.typ.as_deref(), Some("JWT"));
    }

    #[test]
    fn refuses_dangerous_members() {
        assert_eq!(parse(json!({"kid":"k"})), Err(Malformed::MissingAlg.into()));
        assert_eq!(parse(json!({"alg":1})), Err(Malformed::MissingAlg.into()));
        for crit in [json!([]), json!(["b64"]), json!("exp")] {
            assert_eq!(
                parse(json!({"alg":"HS256","crit":crit})),
                Err(VerifyError::UnsupportedHeader("crit"))
            );
        }
        assert!(parse(json!({"alg":"HS256","zip":"DEF"})).is_err());
        assert!(parse(json!({"alg":"dir","enc":"A256GCM"})).is_err());
        assert!(parse(json!({"alg":"HS256","cty":"jwt"})).is_err());
        assert!(parse(json!({"alg":"HS256","kid":""})).is_err());
        assert!(parse(json!({"alg":"HS256","kid":"x".repeat(257)})).is_err());
        assert!(parse(json!({"alg":"HS256","kid":7})).is_err());
        assert!(parse(json!({"alg":"HS256","typ":["JWT"]})).is_err());
    }
}
