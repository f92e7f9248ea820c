//! Typed refusals: why a token, a key or a signing request was not accepted.

use thiserror::Error;

/// Why a token's structure was refused before any key was consulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not exactly three `.`-separated segments (JWE's five, or the JSON serialization).
    SegmentCount,
    /// A segment was empty where the profile needs content.
    EmptySegment,
    /// A character outside `[A-Za-z0-9_-.]`, padding, or non-canonical base64url.
    Base64,
    /// The header is not a UTF-8 JSON object without duplicate members.
    HeaderJson,
    /// The payload is not a UTF-8 JSON object without duplicate members.
    PayloadJson,
    /// The header has no string `alg`.
    MissingAlg,
    /// `kid` is present but not a short string.
    BadKid,
    /// The signature has the wrong length for the algorithm.
    SignatureLength,
}

impl Malformed {
    /// A short stable name, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Malformed::SegmentCount => "segment_count",
            Malformed::EmptySegment => "empty_segment",
            Malformed::Base64 => "base64",
            Malformed::HeaderJson => "header_json",
            Malformed::PayloadJson => "payload_json",
            Malformed::MissingAlg => "missing_alg",
            Malformed::BadKid => "bad_kid",
            Malformed::SignatureLength => "signature_length",
        }
    }
}

/// Why a token was refused. Callers answer every variant with the same 401; the variant is for
/// logs, metrics and tests.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is longer than the configured cap; nothing was decoded.
    #[error("token larger than the configured limit")]
    TooLarge,
    /// The token's structure is not a compact JWS.
    #[error("malformed token ({})", .0.as_str())]
    Malformed(Malformed),
    /// The header's `alg` is not the algorithm of any held key (this includes `none`).
    #[error("algorithm not accepted")]
    AlgorithmNotAllowed,
    /// A `kid` named a held key whose pinned algorithm differs from the header's `alg`.
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// No held key has the token's `kid` (or, without `kid`, no single key fits).
    #[error("unknown signing key")]
    UnknownKey,
    /// The header carries `crit`, `zip`, a nested-JWT `cty` or an unexpected `typ`.
    #[error("unsupported header parameter: {0}")]
    UnsupportedHeader(&'static str),
    /// The signature does not verify under the selected key.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future")]
    IssuedInFuture,
    /// `iss` is absent or differs from the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` is absent or does not contain the configured audience.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent.
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// A claim is present with the wrong type or an unusable value.
    #[error("invalid claim {0}")]
    InvalidClaim(&'static str),
}

impl VerifyError {
    /// A short stable name, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::TooLarge => "too_large",
            VerifyError::Malformed(m) => m.as_str(),
            VerifyError::AlgorithmNotAllowed => "algorithm_not_allowed",
            VerifyError::AlgorithmMismatch => "algorithm_mismatch",
            VerifyError::UnknownKey => "unknown_key",
            VerifyError::UnsupportedHeader(_) => "unsupported_header",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::Expired => "expired",
            VerifyError::NotYetValid => "not_yet_valid",
            VerifyError::IssuedInFuture => "issued_in_future",
            VerifyError::WrongIssuer => "wrong_issuer",
            VerifyError::WrongAudience => "wrong_audience",
            VerifyError::MissingClaim(_) => "missing_claim",
            VerifyError::InvalidClaim(_) => "invalid_claim",
        }
    }
}

impl From<Malformed> for VerifyError {
    fn from(m: Malformed) -> Self {
        VerifyError::Malformed(m)
    }
}

/// Why a key could not be built or imported.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// An HMAC secret shorter than the algorithm's hash output.
    #[error("secret too short for {alg}: {len} bytes, at least {min} required")]
    SecretTooShort {
        /// The algorithm the secret was meant for.
        alg: crate::Algorithm,
        /// The length given.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// Key material does not decode or is not a valid key for its type.
    #[error("invalid key material: {0}")]
    Invalid(&'static str),
    /// RSA modulus under 2048 bits (or over 8192).
    #[error("RSA modulus size outside 2048..=8192 bits")]
    RsaSize,
    /// The key type, curve or algorithm is not supported.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// The algorithm does not fit the key type (e.g. `ES256` on an Ed25519 key).
    #[error("algorithm {0} does not fit the key")]
    AlgorithmMismatch(String),
    /// A public key set carried private key members.
    #[error("key set contains private key material")]
    PrivateMaterial,
    /// Two keys in a set share a `kid`.
    #[error("duplicate kid {0:?} in key set")]
    DuplicateKid(String),
    /// A set must hold at least one usable key.
    #[error("key set has no usable key")]
    Empty,
    /// The JWKS document itself is not valid JSON of the expected shape.
    #[error("invalid JWKS document: {0}")]
    Document(String),
    /// The system random generator failed.
    #[error("random generator unavailable")]
    Random,
}

/// Why a token could not be signed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignError {
    /// The claims could not be serialized as a JSON object.
    #[error("claims are not a JSON object: {0}")]
    Claims(String),
    /// The underlying signer failed.
    #[error("signing failed")]
    Signer,
}
