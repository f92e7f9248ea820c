//! Producing compact JWS tokens.

use crate::b64;
use crate::error::SignError;
use crate::key::SigningKey;
use serde::Serialize;

#[derive(Serialize)]
struct SignHeader<'a> {
    alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    typ: &'static str,
}

/// Signs `claims` (anything that serializes to a JSON object) with `key`, producing a compact JWS
/// whose header is `{"alg":<key's algorithm>,"kid":<key id>,"typ":"JWT"}`.
pub fn sign<C: Serialize + ?Sized>(key: &SigningKey, claims: &C) -> Result<String, SignError> {
    let header = SignHeader {
        alg: key.algorithm().as_str(),
        kid: key.kid(),
        typ: "JWT",
    };
    let header = serde_json::to_vec(&header).map_err(|e| SignError::Claims(e.to_string()))?;
    let payload = serde_json::to_vec(claims).map_err(|e| SignError::Claims(e.to_string()))?;
    if payload.first() != Some(&b'{') {
        return Err(SignError::Claims("not an object".into()));
    }
    let mut token = b64::encode(header);
    token.push('.');
    token.push_str(&b64::encode(payload));
    let signature = key.sign_raw(token.as_bytes());
    token.push('.');
    token.push_str(&b64::encode(signature));
    Ok(token)
}
