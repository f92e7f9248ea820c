//! JSON Web Keys (RFC 7517): reading a public key set with the hygiene of RFC 8725 and
//! Wycheproof's JWK tests, and writing Sigil's own keys.

use serde::{Deserialize, Serialize};

/// One JSON Web Key. Only the members Sigil reads or writes are modelled; others are ignored.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `OKP`, `EC`, `RSA` or `oct`.
    pub kty: String,
    /// Key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Algorithm the key is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use (`sig` or `enc`).
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// Curve (`Ed25519`, `P-256`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// OKP public key or EC x coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Private scalar / exponent (private keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// RSA first prime (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    /// RSA second prime (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// RSA CRT exponent (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
    /// RSA CRT exponent (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dq: Option<String>,
    /// RSA CRT coefficient (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qi: Option<String>,
    /// Symmetric key (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("crv", &self.crv)
            .field("private", &self.has_private_members())
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// Whether any private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `k`) is present.
    pub fn has_private_members(&self) -> bool {
        [
            &self.d, &self.p, &self.q, &self.dp, &self.dq, &self.qi, &self.k,
        ]
        .iter()
        .any(|m| m.is_some())
    }
}

/// A JWK Set document: `{"keys": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// A key left out of a set, and why (unsupported algorithms are skipped so that a set mixing
/// supported and unsupported keys still works).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    /// The skipped key's id.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;
    use crate::b64;
    use crate::error::KeyError;
    use crate::{SigningKey, VerifyingKey};

    #[test]
    fn round_trips_public_keys_for_every_asymmetric_algorithm() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
            let key = SigningKey::generate(alg, Some(format!("k-{alg}"))).unwrap();
            let jwk = key.verifying_key().to_jwk().unwrap();
            assert!(!jwk.has_private_members());
            let back = VerifyingKey::from_jwk(&jwk).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(back.to_jwk(), Some(jwk));
        }
    }

    #[test]
    fn private_jwk_round_trips() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg, Some("k".into())).unwrap();
            let jwk = key.to_private_jwk();
            let back = SigningKey::from_private_jwk(&jwk).unwrap();
            assert_eq!(back.algorithm(), alg);
            assert_eq!(back.to_private_jwk(), jwk);
        }
    }

    #[test]
    fn refuses_private_material_duplicates_and_symmetric_keys() {
        let key = SigningKey::generate(Algorithm::EdDSA, Some("a".into())).unwrap();
        let private = JwkSet {
            keys: vec![key.to_private_jwk()],
        };
        assert_eq!(private.to_key_set().unwrap_err(), KeyError::PrivateMaterial);

        let public = key.verifying_key().to_jwk().unwrap();
        let dup = JwkSet {
            keys: vec![public.clone(), public.clone()],
        };
        assert!(matches!(dup.to_key_set(), Err(KeyError::DuplicateKid(_))));

        let oct = Jwk {
            kty: "oct".into(),
            kid: Some("s".into()),
            ..Jwk::default()
        };
        let (set, skipped) = JwkSet {
            keys: vec![oct, public],
        }
        .to_key_set()
        .unwrap();
        assert_eq!(set.keys().len(), 1);
        assert_eq!(skipped.len(), 1);
    }

    #[test]
    fn refuses_alg_that_contradicts_the_key_type_and_non_signing_keys() {
        let key = SigningKey::generate(Algorithm::EdDSA, Some("a".into())).unwrap();
        let mut jwk = key.verifying_key().to_jwk().unwrap();
        jwk.alg = Some("ES256".into());
        assert!(matches!(
            VerifyingKey::from_jwk(&jwk),
            Err(KeyError::AlgorithmMismatch(_))
        ));
        jwk.alg = Some("HS256".into());
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        jwk.alg = None;
        jwk.use_ = Some("enc".into());
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        jwk.use_ = None;
        jwk.key_ops = Some(vec!["sign".into()]);
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn refuses_small_rsa_moduli_and_exponent_one() {
        let key = SigningKey::generate(Algorithm::RS256, None).unwrap();
        let jwk = key.verifying_key().to_jwk().unwrap();
        let n = b64::decode(jwk.n.as_deref().unwrap()).unwrap();
        let small = Jwk {
            n: Some(b64::encode(&n[..128])),
            ..jwk.clone()
        };
        assert_eq!(
            VerifyingKey::from_jwk(&small).unwrap_err(),
            KeyError::RsaSize
        );
        let e1 = Jwk {
            e: Some(b64::encode([1u8])),
            ..jwk
        };
        assert!(VerifyingKey::from_jwk(&e1).is_err());
    }

    #[test]
    fn refuses_small_order_ed25519_keys() {
        // The identity point encoded: y = 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(VerifyingKey::ed25519(&identity, None).is_err());
    }
}
