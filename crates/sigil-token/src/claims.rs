//! JWT claims: the typed registered claims Sigil relies on, plus every other claim as received.

use crate::error::VerifyError;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::{Map, Value};

/// The `aud` claim: one or several audiences (RFC 7519 §4.1.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// Whether the claim names `audience` (exact, case-sensitive).
    pub fn contains(&self, audience: &str) -> bool {
        self.0.iter().any(|a| a == audience)
    }

    /// Whether no audience is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => {
                let mut seq = s.serialize_seq(Some(many.len()))?;
                for a in many {
                    seq.serialize_element(a)?;
                }
                seq.end()
            }
        }
    }
}

/// The claims of a token. On verification, every registered claim below has been type-checked;
/// `extra` holds all other claims exactly as received.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Claims {
    /// Subject: the user id. Always a non-empty string.
    pub sub: String,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience(s).
    #[serde(skip_serializing_if = "Audience::is_empty")]
    pub aud: Audience,
    /// Expiry, seconds since the epoch. Required.
    pub exp: u64,
    /// Not before, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id (Sigil's tokens carry it so a signed-out session's tokens can be refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The user's email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Claims {
    /// Claims for `sub`, issued at `iat`, expiring at `exp`.
    pub fn new(sub: impl Into<String>, iat: u64, exp: u64) -> Claims {
        Claims {
            sub: sub.into(),
            iss: None,
            aud: Audience::default(),
            exp,
            nbf: None,
            iat: Some(iat),
            jti: None,
            sid: None,
            email: None,
            name: None,
            extra: Map::new(),
        }
    }

    /// Sets `iss`.
    pub fn with_issuer(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// Sets a single `aud`.
    pub fn with_audience(mut self, aud: impl Into<String>) -> Self {
        self.aud = Audience(vec![aud.into()]);
        self
    }

    /// Type-checks the registered claims of a decoded payload.
    pub(crate) fn from_object(mut obj: Map<String, Value>) -> Result<Claims, VerifyError> {
        let exp = match obj.remove("exp") {
            None => return Err(VerifyError::MissingClaim("exp")),
            Some(v) => numeric_date(&v, Round::Down).ok_or(VerifyError::InvalidClaim("exp"))?,
        };
        let nbf = obj
            .remove("nbf")
            .map(|v| numeric_date(&v, Round::Up).ok_or(VerifyError::InvalidClaim("nbf")))
            .transpose()?;
        let iat = obj
            .remove("iat")
            .map(|v| numeric_date(&v, Round::Up).ok_or(VerifyError::InvalidClaim("iat")))
            .transpose()?;
        let sub = match obj.remove("sub") {
            None => return Err(VerifyError::MissingClaim("sub")),
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(_) => return Err(VerifyError::InvalidClaim("sub")),
        };
        let iss = optional_string(&mut obj, "iss", false)?;
        let aud = match obj.remove("aud") {
            None => Audience::default(),
            Some(Value::String(s)) => Audience(vec![s]),
            Some(Value::Array(items)) => Audience(
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        _ => Err(VerifyError::InvalidClaim("aud")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => return Err(VerifyError::InvalidClaim("aud")),
        };
        let jti = optional_string(&mut obj, "jti", false)?;
        let sid = optional_string(&mut obj, "sid", false)?;
        let email = optional_string(&mut obj, "email", true)?;
        let name = optional_string(&mut obj, "name", true)?;
        Ok(Claims {
            sub,
            iss,
            aud,
            exp,
            nbf,
            iat,
            jti,
            sid,
            email,
            name,
            extra: obj,
        })
    }
}

fn optional_string(
    obj: &mut Map<String, Value>,
    name: &'static str,
    null_is_absent: bool,
) -> Result<Option<String>, VerifyError> {
    match obj.remove(name) {
        None => Ok(None),
        Some(Value::Null) if null_is_absent => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(VerifyError::InvalidClaim(name)),
    }
}

#[derive(Clone, Copy)]
enum Round {
    Down,
    Up,
}

/// Largest NumericDate accepted (year ~ 33658); larger values are refused rather than saturated.
const MAX_NUMERIC_DATE: f64 = 1e12;

/// A NumericDate: a JSON number of seconds (fractions allowed, RFC 7519 §2). Strings, booleans,
/// null, arrays, negative and absurdly large numbers are refused. Fractions are rounded in the
/// strict direction (`exp` down, `nbf`/`iat` up).
fn numeric_date(v: &Value, round: Round) -> Option<u64> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_u64() {
        return (i <= MAX_NUMERIC_DATE as u64).then_some(i);
    }
    if n.is_i64() {
        return None; // negative
    }
    let f = n.as_f64()?;
    if !f.is_finite() || !(0.0..=MAX_NUMERIC_DATE).contains(&f) {
        return None;
    }
    Some(match round {
        Round::Down => f.floor() as u64,
        Round::Up => f.ceil() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Claims, VerifyError> {
        Claims::from_object(v.as_object().unwrap().clone())
    }

    #[test]
    fn types_registered_claims() {
        let c = parse(json!({"sub":"u","exp":10,"iat":1.5,"aud":["a","b"],"iss":"i","x":true}))
            .unwrap();
        assert_eq!(c.sub, "u");
        assert_eq!(c.exp, 10);
        assert_eq!(c.iat, Some(2));
        assert!(c.aud.contains("b"));
        assert_eq!(c.extra.get("x"), Some(&json!(true)));
        assert!(!c.extra.contains_key("sub"));
    }

    #[test]
    fn wrongly_typed_claims_are_errors_not_absent() {
        assert_eq!(
            parse(json!({"sub":"u"})),
            Err(VerifyError::MissingClaim("exp"))
        );
        for exp in [
            json!("99999999999"),
            json!(null),
            json!(true),
            json!([1]),
            json!(-1),
            json!(1e13),
        ] {
            assert_eq!(
                parse(json!({"sub":"u","exp":exp})),
                Err(VerifyError::InvalidClaim("exp"))
            );
        }
        assert_eq!(
            parse(json!({"sub":"u","exp":1,"nbf":"99999999999"})),
            Err(VerifyError::InvalidClaim("nbf"))
        );
        assert_eq!(
            parse(json!({"exp":1})),
            Err(VerifyError::MissingClaim("sub"))
        );
        for sub in [json!(""), json!(7), json!(null), json!(["u"])] {
            assert_eq!(
                parse(json!({"sub":sub,"exp":1})),
                Err(VerifyError::InvalidClaim("sub"))
            );
        }
        assert_eq!(
            parse(json!({"sub":"u","exp":1,"aud":[1]})),
            Err(VerifyError::InvalidClaim("aud"))
        );
        assert_eq!(
            parse(json!({"sub":"u","exp":1,"aud":{}})),
            Err(VerifyError::InvalidClaim("aud"))
        );
        assert_eq!(
            parse(json!({"sub":"u","exp":1,"iss":5})),
            Err(VerifyError::InvalidClaim("iss"))
        );
    }

    #[test]
    fn serializes_single_audience_as_string() {
        let c = Claims::new("u", 1, 2).with_audience("a").with_issuer("i");
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v, json!({"sub":"u","iss":"i","aud":"a","exp":2,"iat":1}));
    }
}
