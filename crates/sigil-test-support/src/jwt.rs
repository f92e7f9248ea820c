//! A JWT's parts, decoded without verification (what a test inspects).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

fn part(jwt: &str, index: usize) -> Value {
    let part = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// The decoded header.
pub fn header(jwt: &str) -> Value {
    part(jwt, 0)
}

/// The decoded payload (the claims).
pub fn payload(jwt: &str) -> Value {
    part(jwt, 1)
}
