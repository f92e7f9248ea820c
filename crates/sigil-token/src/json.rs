//! Strict JSON object parsing (used for JOSE headers and claims, and by Sigil's HTTP layer for
//! request bodies): UTF-8, an object at the top, no duplicate
//! member names at any depth (RFC 7515 §4, RFC 7519 §4 allow "reject"; we reject so that every
//! reader of a token sees the same values), finite numbers only, nesting bounded by serde_json's
//! recursion limit.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Parses bytes as a JSON object, refusing duplicates anywhere inside it.
///
/// ```
/// assert!(sigil_token::json::parse_object(br#"{"a":1}"#).is_some());
/// assert!(sigil_token::json::parse_object(br#"{"a":1,"a":2}"#).is_none());
/// ```
pub fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(map))) => Some(map),
        _ => None,
    }
}

/// Why [`parse_value`] refused a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrictJsonError {
    /// Not JSON at all (syntax, bad UTF-8, a number out of range, nesting too deep).
    Malformed,
    /// Valid JSON, but an object somewhere in it names a member twice.
    DuplicateMember,
}

/// Parses any JSON value strictly: refused when malformed or when any object inside it has a
/// duplicate member name, so every reader of it sees the same values. The one JSON reader of
/// Sigil's request bodies (identity routes and tasks API alike).
///
/// ```
/// use sigil_token::json::{parse_value, StrictJsonError};
/// assert!(parse_value(br#"[{"a":1}]"#).is_ok());
/// assert_eq!(parse_value(br#"{"a":1,"a":2}"#), Err(StrictJsonError::DuplicateMember));
/// assert_eq!(parse_value(b"{"), Err(StrictJsonError::Malformed));
/// ```
pub fn parse_value(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(value)) => Ok(value),
        // Only a duplicate makes the strict parse fail where the plain one succeeds.
        Err(_) if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
            Err(StrictJsonError::DuplicateMember)
        }
        Err(_) => Err(StrictJsonError::Malformed),
    }
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without duplicate object members")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_objects_only() {
        assert!(parse_object(br#"{"a":1,"b":[1,2,{"c":null}]}"#).is_some());
        assert!(parse_object(b"[1]").is_none());
        assert!(parse_object(b"\"s\"").is_none());
        assert!(parse_object(b"{").is_none());
        assert!(parse_object(b"{\"a\":1} trailing").is_none());
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_none());
        assert!(parse_object(br#"{"a":{"b":1,"b":1}}"#).is_none());
        assert!(parse_object(br#"{"a":[{"b":1,"b":1}]}"#).is_none());
    }

    #[test]
    fn refuses_out_of_range_numbers_and_bad_utf8() {
        assert!(parse_object(br#"{"exp":1e400}"#).is_none());
        assert!(parse_object(b"{\"a\":\"\xff\"}").is_none());
    }

    #[test]
    fn bounds_nesting() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(parse_object(deep.as_bytes()).is_none());
    }
}
