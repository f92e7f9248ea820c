//! JSON Web Keys (RFC 7517): reading a public key set with the hygiene of RFC 8725 and
//! Wycheproof's JWK tests, and writing Sigil's own keys.

use crate::alg::Algorithm;
use crate::b64;
use crate::error::KeyError;
use crate::key::{KeySet, VerifyingKey};
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

impl JwkSet {
    /// Parses a JWKS document into a [`KeySet`] of public verification keys.
    ///
    /// Refused outright: a document that is not `{"keys":[...]}`, any key carrying private
    /// members, duplicate `kid`s among usable keys, and a set with no usable key. Skipped (and
    /// reported): keys of unsupported type, curve or algorithm, keys not meant for signatures
    /// (`use` other than `sig`, `key_ops` without `verify`), `oct` keys (a public set never
    /// carries shared secrets, so HS* can never be reached through a JWKS), RSA keys under 2048
    /// bits and other invalid key material.
    pub fn parse_keys(json: &str) -> Result<(KeySet, Vec<SkippedKey>), KeyError> {
        let doc: JwkSet =
            serde_json::from_str(json).map_err(|e| KeyError::Document(e.to_string()))?;
        doc.to_key_set()
    }

    /// Converts the keys of this set into a [`KeySet`]; see [`JwkSet::parse_keys`].
    pub fn to_key_set(&self) -> Result<(KeySet, Vec<SkippedKey>), KeyError> {
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for jwk in &self.keys {
            if jwk.has_private_members() {
                return Err(KeyError::PrivateMaterial);
            }
            match VerifyingKey::from_jwk(jwk) {
                Ok(key) => keys.push(key),
                Err(err) => skipped.push(SkippedKey {
                    kid: jwk.kid.clone(),
                    reason: err.to_string(),
                }),
            }
        }
        Ok((KeySet::try_from(keys)?, skipped))
    }
}

impl VerifyingKey {
    /// Builds a verification key from a public JWK, pinning its algorithm: `OKP`/`Ed25519` →
    /// `EdDSA`, `EC`/`P-256` → `ES256`, `RSA` → `RS256`. A JWK `alg` that disagrees with its type
    /// is refused rather than trusted.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        if let Some(u) = &jwk.use_
            && u != "sig"
        {
            return Err(KeyError::Unsupported(format!("use {u:?}")));
        }
        if let Some(ops) = &jwk.key_ops
            && !ops.iter().any(|o| o == "verify")
        {
            return Err(KeyError::Unsupported("key_ops without verify".into()));
        }
        let expect_alg = |alg: Algorithm| -> Result<(), KeyError> {
            match jwk.alg.as_deref() {
                None => Ok(()),
                Some(a) if alg.matches_header(a) => Ok(()),
                Some(a) => Err(KeyError::AlgorithmMismatch(a.to_owned())),
            }
        };
        let member = |v: &Option<String>, what: &'static str| -> Result<Vec<u8>, KeyError> {
            v.as_deref()
                .and_then(b64::decode)
                .ok_or(KeyError::Invalid(what))
        };
        let kid = jwk.kid.clone();
        match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => {
                expect_alg(Algorithm::EdDSA)?;
                let x: [u8; 32] = jwk
                    .x
                    .as_deref()
                    .and_then(b64::decode_array)
                    .ok_or(KeyError::Invalid("x"))?;
                VerifyingKey::ed25519(&x, kid)
            }
            ("EC", Some("P-256")) => {
                expect_alg(Algorithm::ES256)?;
                let x: [u8; 32] = jwk
                    .x
                    .as_deref()
                    .and_then(b64::decode_array)
                    .ok_or(KeyError::Invalid("x"))?;
                let y: [u8; 32] = jwk
                    .y
                    .as_deref()
                    .and_then(b64::decode_array)
                    .ok_or(KeyError::Invalid("y"))?;
                VerifyingKey::es256(&x, &y, kid)
            }
            ("RSA", None) => {
                expect_alg(Algorithm::RS256)?;
                VerifyingKey::rs256(&member(&jwk.n, "n")?, &member(&jwk.e, "e")?, kid)
            }
            ("oct", _) => Err(KeyError::Unsupported(
                "symmetric key in a public key set".into(),
            )),
            (kty, crv) => Err(KeyError::Unsupported(format!("kty {kty:?} crv {crv:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

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
