//! Strict JOSE/JWT for Sigil: keys, JWK sets, claims, signing and verification.
//!
//! This crate owns everything about a token that can be decided from its bytes and a set of keys:
//! it does no I/O, spawns nothing and is not async, so it can be fuzzed and benchmarked in
//! isolation and used by any Rust program.
//!
//! Verification follows RFC 8725 (JWT BCP) strictly, in one fail-closed pipeline
//! ([`Verifier::verify`]):
//!
//! 1. size cap (8 KiB by default) before any decoding;
//! 2. exactly three segments of canonical, unpadded base64url;
//! 3. header and claims are UTF-8 JSON objects without duplicate member names;
//! 4. the algorithm is the one pinned to the key the verifier holds, never chosen by the token:
//!    the header's `alg` must name it exactly (`none`, in any spelling, is never a key's algorithm);
//!    `kid` selects among held keys only; `jku`, `jwk`, `x5u`, `x5c` are never used to find a key;
//!    any `crit` is refused (we implement no extensions), as are `zip`, `enc` and nested JWTs;
//!    `typ`, when present, must be `JWT` or `application/jwt` (or a value the caller allows);
//! 5. the signature is checked over the exact received bytes (constant-time MAC comparison,
//!    strict Ed25519, 64-byte P-256 `R‖S` with `r, s ∈ [1, n−1]`, RSA ≥ 2048 bits);
//! 6. claims are typed before use (a wrongly typed `exp` is an error, never "absent"), then
//!    `exp` (required), `nbf`, `iat` (with leeway), `iss`, `aud` and a non-empty string `sub`.
//!
//! Every refusal is a typed [`VerifyError`] so a caller can log *why* a token failed while its
//! HTTP answer stays a uniform 401.
//!
//! ```
//! use sigil_token::{Algorithm, Claims, SigningKey, Validation, Verifier, sign};
//!
//! let key = SigningKey::generate(Algorithm::EdDSA, Some("k1".into())).unwrap();
//! let now: u64 = 1_800_000_000;
//! let claims = Claims::new("user-1", now, now + 900)
//!     .with_issuer("https://auth.example")
//!     .with_audience("https://auth.example");
//! let token = sign(&key, &claims).unwrap();
//!
//! let verifier = Verifier::new(
//!     vec![key.verifying_key()].try_into().unwrap(),
//!     Validation::new("https://auth.example", "https://auth.example"),
//! );
//! let verified = verifier.verify(&token, now + 10).unwrap();
//! assert_eq!(verified.sub, "user-1");
//! ```
#![forbid(unsafe_code)]

mod alg;
mod b64;
mod cache;
mod claims;
mod error;
mod header;
pub mod json;
mod jwk;
mod key;
pub mod random;
mod sign;
mod verify;

pub use alg::Algorithm;
pub use cache::{CacheStats, VerifiedCache};
pub use claims::{Audience, Claims};
pub use error::{KeyError, Malformed, SignError, VerifyError};
pub use header::Header;
pub use jwk::{Jwk, JwkSet, SkippedKey};
pub use key::{KeySet, SigningKey, VerifyingKey};
pub use sign::sign;
pub use verify::{DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_BYTES, Validation, Verifier};

/// Seconds since the Unix epoch, from the system clock. The verifier itself takes `now` as an
/// argument so that tests and callers control time. Sigil's own services read the time from the
/// `Clock` in their state (`sigil_guard::clock`); this is for callers without one (bindings,
/// benchmarks, tests that mint tokens).
#[allow(clippy::disallowed_methods)] // the documented system-clock source for callers without a Clock
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
