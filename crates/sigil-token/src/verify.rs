//! The verification pipeline: one pass, cheapest checks first, fail closed at the first refusal.

use crate::alg::Algorithm;
use crate::b64;
use crate::claims::Claims;
use crate::error::{Malformed, VerifyError};
use crate::header::{Header, is_jwt_typ};
use crate::json;
use crate::key::KeySet;

/// Default clock-skew allowance for `exp`, `nbf` and `iat`, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// Default cap on a token's length, checked before any decoding.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a token must satisfy besides a good signature.
#[derive(Clone, Debug)]
pub struct Validation {
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
    max_token_bytes: usize,
    algorithms: Vec<Algorithm>,
    extra_typ: Vec<String>,
}

impl Validation {
    /// Requires `iss` to equal `issuer` and `aud` to contain `audience` (exact, case-sensitive).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Validation {
            issuer: Some(issuer.into()),
            audience: Some(audience.into()),
            leeway: DEFAULT_LEEWAY_SECS,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            algorithms: Vec::new(),
            extra_typ: Vec::new(),
        }
    }

    /// Stops checking `iss`. Only for deployments whose keys are not shared with any other issuer.
    pub fn skip_issuer_check(mut self) -> Self {
        self.issuer = None;
        self
    }

    /// Stops checking `aud`. Only for deployments with a single audience per key.
    pub fn skip_audience_check(mut self) -> Self {
        self.audience = None;
        self
    }

    /// Sets the clock-skew allowance (seconds).
    pub fn leeway(mut self, secs: u64) -> Self {
        self.leeway = secs;
        self
    }

    /// Sets the length cap (bytes) checked before any decoding.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = bytes;
        self
    }

    /// Restricts the accepted algorithms. By default the accepted algorithms are exactly those of
    /// the held keys; an explicit list also decides which unknown-`kid` tokens are worth a key
    /// refresh (a token whose `alg` is not listed is refused before any key lookup).
    pub fn algorithms(mut self, algs: &[Algorithm]) -> Self {
        self.algorithms = algs.to_vec();
        self
    }

    /// Accepts an additional `typ` value (besides none, `JWT` and `application/jwt`).
    pub fn allow_typ(mut self, typ: impl Into<String>) -> Self {
        self.extra_typ.push(typ.into());
        self
    }

    /// The configured issuer, if checked.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The configured audience, if checked.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The explicit algorithm list (empty: those of the held keys).
    pub fn allowed_algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The time checks: `exp` (now must be before `exp` + leeway), `nbf` and `iat` (not after
    /// now + leeway). Separate from the rest so a cached verification re-checks only these.
    pub fn check_time(&self, claims: &Claims, now: u64) -> Result<(), VerifyError> {
        let leeway = self.leeway;
        if now >= claims.exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(VerifyError::NotYetValid);
        }
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(leeway))
        {
            return Err(VerifyError::IssuedInFuture);
        }
        Ok(())
    }

    fn check_typ(&self, header: &Header) -> Result<(), VerifyError> {
        match &header.typ {
            None => Ok(()),
            Some(t)
                if is_jwt_typ(t) || self.extra_typ.iter().any(|x| x.eq_ignore_ascii_case(t)) =>
            {
                Ok(())
            }
            Some(_) => Err(VerifyError::UnsupportedHeader("typ")),
        }
    }

    fn check_issuer_audience(&self, claims: &Claims) -> Result<(), VerifyError> {
        if let Some(iss) = &self.issuer
            && claims.iss.as_deref() != Some(iss.as_str())
        {
            return Err(VerifyError::WrongIssuer);
        }
        if let Some(aud) = &self.audience
            && !claims.aud.contains(aud)
        {
            return Err(VerifyError::WrongAudience);
        }
        Ok(())
    }
}

/// A key set plus the rules a token must meet.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: KeySet,
    validation: Validation,
}

impl Verifier {
    /// A verifier holding `keys` and enforcing `validation`.
    pub fn new(keys: KeySet, validation: Validation) -> Self {
        Verifier { keys, validation }
    }

    /// The held keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The rules.
    pub fn validation(&self) -> &Validation {
        &self.validation
    }

    /// Verifies a compact JWS completely, with `now` in seconds since the epoch.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, VerifyError> {
        let claims = self.verify_untimed(token)?;
        self.validation.check_time(&claims, now)?;
        Ok(claims)
    }

    /// Everything but the time checks: structure, header policy, key choice, signature, claim
    /// types, `iss` and `aud`. The result is fit to cache until `exp`, provided the time checks
    /// are run again on each use ([`Validation::check_time`]).
    pub fn verify_untimed(&self, token: &str) -> Result<Claims, VerifyError> {
        if token.len() > self.validation.max_token_bytes {
            return Err(VerifyError::TooLarge);
        }
        let bytes = token.as_bytes();
        if !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(Malformed::Base64.into());
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Malformed::SegmentCount.into());
        };
        if h64.is_empty() || p64.is_empty() || s64.is_empty() {
            return Err(Malformed::EmptySegment.into());
        }

        let header_bytes = b64::decode(h64).ok_or(Malformed::Base64)?;
        let header_obj = json::parse_object(&header_bytes).ok_or(Malformed::HeaderJson)?;
        let header = Header::from_object(&header_obj)?;
        self.validation.check_typ(&header)?;

        let signing_input = &bytes[..h64.len() + 1 + p64.len()];
        let secrets = self
            .keys
            .shared_secrets(&header, &self.validation.algorithms);
        if secrets.len() > 1 {
            // A list of shared secrets (rotation): the token verifies under any of them.
            let signature = b64::decode(s64).ok_or(Malformed::Base64)?;
            if !secrets
                .iter()
                .any(|key| key.verify_signature(signing_input, &signature).is_ok())
            {
                return Err(VerifyError::BadSignature);
            }
        } else {
            let key = self.keys.select(&header, &self.validation.algorithms)?;
            let signature = b64::decode(s64).ok_or(Malformed::Base64)?;
            key.verify_signature(signing_input, &signature)?;
        }

        let payload = b64::decode(p64).ok_or(Malformed::Base64)?;
        let claims_obj = json::parse_object(&payload).ok_or(Malformed::PayloadJson)?;
        let claims = Claims::from_object(claims_obj)?;
        self.validation.check_issuer_audience(&claims)?;
        Ok(claims)
    }
}
