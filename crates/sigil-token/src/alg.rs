//! The JWS algorithms Sigil signs and verifies, and their exact names.

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm (RFC 7518). Each key is pinned to exactly one of these.
///
/// `none` is deliberately not a variant: an unsecured JWS can never be produced or accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256 over a shared secret of at least 32 bytes.
    HS256,
    /// HMAC with SHA-384 over a shared secret of at least 48 bytes.
    HS384,
    /// HMAC with SHA-512 over a shared secret of at least 64 bytes.
    HS512,
    /// Ed25519 (RFC 8037). Better Auth's and Sigil's default.
    EdDSA,
    /// ECDSA over P-256 with SHA-256, signature as 64-byte `R‖S`.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, modulus of at least 2048 bits.
    RS256,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
    ];

    /// The registered JWS name, as written in a header's `alg`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::ES256 => "ES256",
            Algorithm::RS256 => "RS256",
        }
    }

    /// Whether a header `alg` value names this algorithm. The comparison is exact and
    /// case-sensitive (RFC 8725 §3.1); Ed25519 keys also answer to the fully specified name
    /// `Ed25519` of RFC 9864.
    pub fn matches_header(self, alg: &str) -> bool {
        alg == self.as_str() || (self == Algorithm::EdDSA && alg == "Ed25519")
    }

    /// Whether the algorithm uses a shared secret.
    pub const fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    /// The smallest secret, in bytes, accepted for an HMAC algorithm: the hash output size
    /// (RFC 7518 §3.2). `None` for asymmetric algorithms.
    pub const fn min_secret_len(self) -> Option<usize> {
        match self {
            Algorithm::HS256 => Some(32),
            Algorithm::HS384 => Some(48),
            Algorithm::HS512 => Some(64),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses an algorithm name from *configuration* (flags, environment). This is lenient about
/// case because a person typed it; token headers are matched with [`Algorithm::matches_header`].
impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .or_else(|| s.trim().eq_ignore_ascii_case("ed25519").then_some(Algorithm::EdDSA))
            .ok_or_else(|| {
                format!("unsupported JWT algorithm {s:?}: expected one of EdDSA, ES256, RS256, HS256, HS384, HS512")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_case_sensitive() {
        assert!(Algorithm::HS256.matches_header("HS256"));
        assert!(!Algorithm::HS256.matches_header("hs256"));
        assert!(!Algorithm::EdDSA.matches_header("EDDSA"));
        assert!(Algorithm::EdDSA.matches_header("Ed25519"));
        assert!(!Algorithm::ES256.matches_header("none"));
    }

    #[test]
    fn config_names_are_lenient_and_none_is_refused() {
        assert_eq!("eddsa".parse::<Algorithm>(), Ok(Algorithm::EdDSA));
        assert_eq!(" HS256 ".parse::<Algorithm>(), Ok(Algorithm::HS256));
        assert!("none".parse::<Algorithm>().is_err());
        assert!("PS256".parse::<Algorithm>().is_err());
    }
}
