//! JWKS parsing (what a remote key endpoint answers) and the strict JSON object parser.
//!
//! Invariants: a parsed set is never empty, never holds a shared secret, and every key
//! round-trips through its public JWK.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_token::{JwkSet, VerifyingKey};

fuzz_target!(|data: &[u8]| {
    let _ = sigil_token::json::parse_object(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((keys, _skipped)) = JwkSet::parse_keys(text) {
        assert!(!keys.keys().is_empty());
        for key in keys.keys() {
            assert!(!key.algorithm().is_symmetric());
            let jwk = key.to_jwk().expect("public keys have a JWK");
            assert!(!jwk.has_private_members());
            let back = VerifyingKey::from_jwk(&jwk).expect("a key's own JWK is importable");
            assert_eq!(back.algorithm(), key.algorithm());
        }
    }
});
