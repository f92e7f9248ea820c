//! Signing and verifying keys, each pinned to one algorithm, and the set a verifier holds.
//!
//! Keys are typed (an Ed25519 key is not "bytes that might be a secret"), so algorithm confusion
//! such as verifying an `HS256` token with an RSA public key as the HMAC secret cannot be
//! expressed: a key answers only to its own algorithm.

use crate::alg::Algorithm;
use crate::b64;
use crate::error::{KeyError, Malformed, VerifyError};
use crate::header::Header;
use crate::jwk::{Jwk, JwkSet, SkippedKey};
use hmac::{Hmac, KeyInit, Mac};
use rsa::BoxedUint;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use sha2::{Sha256, Sha384, Sha512};
use signature_compat::{Keypair, Signer, Verifier};
use std::fmt;
use zeroize::Zeroizing;

// `signature` is re-exported by the curve crates; use the one RustCrypto pins together.
mod signature_compat {
    pub use rsa::signature::{Keypair, Signer, Verifier};
}

const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// An HMAC key, pre-keyed so each use clones a ready state instead of re-deriving pads.
#[derive(Clone)]
enum HmacKey {
    S256(Hmac<Sha256>),
    S384(Hmac<Sha384>),
    S512(Hmac<Sha512>),
}

impl HmacKey {
    fn new(alg: Algorithm, secret: &[u8]) -> Result<HmacKey, KeyError> {
        let min = alg
            .min_secret_len()
            .ok_or_else(|| KeyError::AlgorithmMismatch(alg.to_string()))?;
        if secret.len() < min {
            return Err(KeyError::SecretTooShort {
                alg,
                len: secret.len(),
                min,
            });
        }
        let invalid = |_| KeyError::Invalid("hmac key");
        Ok(match alg {
            Algorithm::HS256 => HmacKey::S256(Hmac::new_from_slice(secret).map_err(invalid)?),
            Algorithm::HS384 => HmacKey::S384(Hmac::new_from_slice(secret).map_err(invalid)?),
            _ => HmacKey::S512(Hmac::new_from_slice(secret).map_err(invalid)?),
        })
    }

    fn tag(&self, input: &[u8]) -> Vec<u8> {
        match self {
            HmacKey::S256(m) => m
                .clone()
                .chain_update(input)
                .finalize()
                .into_bytes()
                .to_vec(),
            HmacKey::S384(m) => m
                .clone()
                .chain_update(input)
                .finalize()
                .into_bytes()
                .to_vec(),
            HmacKey::S512(m) => m
                .clone()
                .chain_update(input)
                .finalize()
                .into_bytes()
                .to_vec(),
        }
    }

    /// Constant-time comparison of the received tag (`Mac::verify_slice`).
    fn verify(&self, input: &[u8], tag: &[u8]) -> bool {
        match self {
            HmacKey::S256(m) => m.clone().chain_update(input).verify_slice(tag).is_ok(),
            HmacKey::S384(m) => m.clone().chain_update(input).verify_slice(tag).is_ok(),
            HmacKey::S512(m) => m.clone().chain_update(input).verify_slice(tag).is_ok(),
        }
    }

    fn tag_len(&self) -> usize {
        match self {
            HmacKey::S256(_) => 32,
            HmacKey::S384(_) => 48,
            HmacKey::S512(_) => 64,
        }
    }
}

/// A P-256 public key: validated by `p256` on import (on the curve, not the identity), kept as
/// its uncompressed SEC1 encoding `04‖x‖y`, and verified with `ring`.
///
/// Verification uses ring's P-256 (assembly; variable time is fine on public data) because it is
/// several times faster than the portable field arithmetic of the `p256` crate, which remains the
/// signer and the importer. The check is held to the Wycheproof vectors (`tests/token/wycheproof.rs`).
#[derive(Clone)]
struct Es256Public {
    point: Box<[u8]>,
}

impl Es256Public {
    fn new(key: &p256::ecdsa::VerifyingKey) -> Es256Public {
        Es256Public {
            point: key.to_sec1_point(false).as_bytes().into(),
        }
    }
}

#[derive(Clone)]
enum Public {
    Hmac(HmacKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Es256(Box<Es256Public>),
    Rs256(Box<rsa::pkcs1v15::VerifyingKey<Sha256>>),
}

/// A key that verifies signatures of exactly one algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Option<String>,
    alg: Algorithm,
    material: Public,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material: an HMAC "verifying" key is a secret.
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// A shared-secret key for `HS256`/`HS384`/`HS512`. The secret must be at least as long as
    /// the hash output (32/48/64 bytes).
    pub fn hmac(alg: Algorithm, secret: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        Ok(VerifyingKey {
            kid,
            alg,
            material: Public::Hmac(HmacKey::new(alg, secret)?),
        })
    }

    /// An Ed25519 public key. Small-order ("weak") keys are refused.
    pub fn ed25519(public: &[u8; 32], kid: Option<String>) -> Result<Self, KeyError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(public)
            .map_err(|_| KeyError::Invalid("ed25519 point"))?;
        if key.is_weak() {
            return Err(KeyError::Invalid("ed25519 small-order point"));
        }
        Ok(VerifyingKey {
            kid,
            alg: Algorithm::EdDSA,
            material: Public::Ed25519(key),
        })
    }

    /// A P-256 public key from its affine coordinates.
    pub fn es256(x: &[u8; 32], y: &[u8; 32], kid: Option<String>) -> Result<Self, KeyError> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(x);
        sec1[33..].copy_from_slice(y);
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(|_| KeyError::Invalid("p-256 point"))?;
        Ok(VerifyingKey {
            kid,
            alg: Algorithm::ES256,
            material: Public::Es256(Box::new(Es256Public::new(&key))),
        })
    }

    /// An RSA public key (big-endian modulus and exponent). The modulus must have 2048 to 8192
    /// bits; the exponent must be odd and greater than 1.
    pub fn rs256(n: &[u8], e: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if n.len() * 8 > *RSA_BITS.end() || e.is_empty() || e.len() > 8 {
            return Err(KeyError::RsaSize);
        }
        if e == [1] || e.last().is_some_and(|b| b & 1 == 0) {
            return Err(KeyError::Invalid("rsa public exponent"));
        }
        let n = BoxedUint::from_be_slice_vartime(n);
        let e = BoxedUint::from_be_slice_vartime(e);
        let key =
            rsa::PublicKey::new_with_size_limits(n, e, RSA_BITS).map_err(|err| match err {
                rsa::Error::ModulusTooSmall | rsa::Error::ModulusTooLarge => KeyError::RsaSize,
                _ => KeyError::Invalid("rsa public key"),
            })?;
        Ok(VerifyingKey {
            kid,
            alg: Algorithm::RS256,
            material: Public::Rs256(Box::new(rsa::pkcs1v15::VerifyingKey::new(key))),
        })
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK (RFC 7517) of an asymmetric key; `None` for a shared secret, which must
    /// never be published.
    pub fn to_jwk(&self) -> Option<Jwk> {
        let mut jwk = Jwk {
            kid: self.kid.clone(),
            alg: Some(self.alg.as_str().to_owned()),
            use_: Some("sig".to_owned()),
            ..Jwk::default()
        };
        match &self.material {
            Public::Hmac(_) => return None,
            Public::Ed25519(k) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64::encode(k.to_bytes()));
            }
            Public::Es256(k) => {
                let point = &k.point;
                if point.len() != 65 {
                    return None;
                }
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = Some(b64::encode(&point[1..33]));
                jwk.y = Some(b64::encode(&point[33..]));
            }
            Public::Rs256(k) => {
                let key: &rsa::PublicKey = k.as_ref().as_ref();
                jwk.kty = "RSA".into();
                jwk.n = Some(b64::encode(key.n().to_be_bytes_trimmed_vartime()));
                jwk.e = Some(b64::encode(key.e().to_be_bytes_trimmed_vartime()));
            }
        }
        Some(jwk)
    }

    /// Checks a raw `signature` over arbitrary `input` with this key, exactly as
    /// [`crate::Verifier`] does for a token's `header.payload` bytes (same length checks, same
    /// strict verifiers, constant-time MAC comparison).
    ///
    /// This is the primitive under the verification pipeline, public so that published test
    /// vectors (Wycheproof) and tools can exercise it directly. It checks nothing but the
    /// signature: never use it to accept a token.
    pub fn verify_signature_bytes(
        &self,
        input: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        self.verify_signature(input, signature)
    }

    /// Checks `signature` over `input` (the ASCII bytes `header.payload` as received).
    pub(crate) fn verify_signature(
        &self,
        input: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let ok = match &self.material {
            Public::Hmac(k) => {
                if signature.len() != k.tag_len() {
                    return Err(Malformed::SignatureLength.into());
                }
                k.verify(input, signature)
            }
            Public::Ed25519(k) => {
                let bytes: [u8; 64] = signature
                    .try_into()
                    .map_err(|_| VerifyError::from(Malformed::SignatureLength))?;
                let sig = ed25519_dalek::Signature::from_bytes(&bytes);
                // verify_strict: canonical S, no small-order R or A (RFC 8032 §5.1.7 plus the
                // malleability checks of ed25519-speccheck).
                k.verify_strict(input, &sig).is_ok()
            }
            Public::Es256(k) => {
                if signature.len() != 64 {
                    return Err(Malformed::SignatureLength.into());
                }
                // ring refuses r or s equal to 0 or ≥ n ("psychic signatures") and points off
                // the curve; FIXED is the 64-byte R‖S form of JWS (not DER).
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    &k.point,
                )
                .verify(input, signature)
                .is_ok()
            }
            Public::Rs256(k) => {
                let key: &rsa::PublicKey = k.as_ref().as_ref();
                if signature.len() != key.size() {
                    return Err(Malformed::SignatureLength.into());
                }
                match rsa::pkcs1v15::Signature::try_from(signature) {
                    Ok(sig) => k.verify(input, &sig).is_ok(),
                    Err(_) => false,
                }
            }
        };
        if ok {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }

    fn same_material(&self, other: &VerifyingKey) -> bool {
        match (self.to_jwk(), other.to_jwk()) {
            (Some(a), Some(b)) => {
                a.kty == b.kty && a.x == b.x && a.y == b.y && a.n == b.n && a.e == b.e
            }
            _ => false,
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

enum Private {
    Hmac(HmacKey, Zeroizing<Vec<u8>>),
    Ed25519(ed25519_dalek::SigningKey),
    Es256(p256::ecdsa::SigningKey),
    Rs256(Box<rsa::pkcs1v15::SigningKey<Sha256>>),
}

/// A key that signs with exactly one algorithm.
pub struct SigningKey {
    kid: Option<String>,
    alg: Algorithm,
    material: Private,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>, KeyError> {
    let mut buf = Zeroizing::new([0u8; N]);
    crate::random::fill(buf.as_mut()).map_err(|_| KeyError::Random)?;
    Ok(buf)
}

impl SigningKey {
    /// A fresh random key for `alg` from the operating system's CSPRNG (an HMAC secret as long as
    /// the hash output, an Ed25519 seed, a P-256 scalar, or a 2048-bit RSA key).
    pub fn generate(alg: Algorithm, kid: Option<String>) -> Result<Self, KeyError> {
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let secret = random_bytes::<64>()?;
                let len = alg.min_secret_len().unwrap_or(64);
                SigningKey::hmac(alg, &secret[..len], kid)
            }
            Algorithm::EdDSA => Ok(SigningKey::ed25519_from_seed(&*random_bytes::<32>()?, kid)),
            Algorithm::ES256 => loop {
                // A random 32-byte string is a valid scalar with overwhelming probability.
                if let Ok(key) =
                    SigningKey::es256_from_scalar(random_bytes::<32>()?.as_ref(), kid.clone())
                {
                    return Ok(key);
                }
            },
            Algorithm::RS256 => {
                let key = rsa::pkcs1v15::SigningKey::<Sha256>::random(&mut getrandom::SysRng, 2048)
                    .map_err(|_| KeyError::Random)?;
                Ok(SigningKey {
                    kid,
                    alg,
                    material: Private::Rs256(Box::new(key)),
                })
            }
        }
    }

    /// A shared-secret signing key (the secret must be at least the hash output long).
    pub fn hmac(alg: Algorithm, secret: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        let key = HmacKey::new(alg, secret)?;
        Ok(SigningKey {
            kid,
            alg,
            material: Private::Hmac(key, Zeroizing::new(secret.to_vec())),
        })
    }

    /// An Ed25519 key from its 32-byte seed.
    pub fn ed25519_from_seed(seed: &[u8; 32], kid: Option<String>) -> Self {
        SigningKey {
            kid,
            alg: Algorithm::EdDSA,
            material: Private::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed)),
        }
    }

    /// A P-256 key from its 32-byte big-endian scalar.
    pub fn es256_from_scalar(d: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        let key = p256::ecdsa::SigningKey::from_slice(d)
            .map_err(|_| KeyError::Invalid("p-256 scalar"))?;
        Ok(SigningKey {
            kid,
            alg: Algorithm::ES256,
            material: Private::Es256(key),
        })
    }

    /// An RSA key from its components (big-endian `n`, `e`, `d`, `p`, `q`).
    pub fn rs256_from_components(
        n: &[u8],
        e: &[u8],
        d: &[u8],
        p: &[u8],
        q: &[u8],
        kid: Option<String>,
    ) -> Result<Self, KeyError> {
        let u = BoxedUint::from_be_slice_vartime;
        let key = rsa::PrivateKey::from_components(u(n), u(e), u(d), vec![u(p), u(q)])
            .map_err(|_| KeyError::Invalid("rsa private key"))?;
        if !RSA_BITS.contains(&(key.size() * 8)) {
            return Err(KeyError::RsaSize);
        }
        Ok(SigningKey {
            kid,
            alg: Algorithm::RS256,
            material: Private::Rs256(Box::new(rsa::pkcs1v15::SigningKey::new(key))),
        })
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The one algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The matching verifying key (for an HMAC key: the same secret).
    pub fn verifying_key(&self) -> VerifyingKey {
        let material = match &self.material {
            Private::Hmac(k, _) => Public::Hmac(k.clone()),
            Private::Ed25519(k) => Public::Ed25519(k.verifying_key()),
            Private::Es256(k) => Public::Es256(Box::new(Es256Public::new(k.verifying_key()))),
            Private::Rs256(k) => Public::Rs256(Box::new(k.verifying_key())),
        };
        VerifyingKey {
            kid: self.kid.clone(),
            alg: self.alg,
            material,
        }
    }

    /// Signs arbitrary `input` (normally the ASCII `header.payload`), returning the raw signature
    /// bytes. [`crate::sign`] is the way to make a token; this exists for tests and tools that
    /// need to craft unusual headers.
    pub fn sign_raw(&self, input: &[u8]) -> Vec<u8> {
        match &self.material {
            Private::Hmac(k, _) => k.tag(input),
            Private::Ed25519(k) => k.sign(input).to_bytes().to_vec(),
            Private::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(input);
                sig.to_bytes().to_vec()
            }
            Private::Rs256(k) => {
                use rsa::signature::SignatureEncoding;
                k.sign(input).to_vec()
            }
        }
    }

    /// The private JWK, for storage (encrypt it at rest). For an HMAC key this is an `oct` JWK.
    pub fn to_private_jwk(&self) -> Jwk {
        let mut jwk = self.verifying_key().to_jwk().unwrap_or_else(|| Jwk {
            kid: self.kid.clone(),
            alg: Some(self.alg.as_str().into()),
            ..Jwk::default()
        });
        match &self.material {
            Private::Hmac(_, secret) => {
                jwk.kty = "oct".into();
                jwk.k = Some(b64::encode(secret.as_slice()));
            }
            Private::Ed25519(k) => jwk.d = Some(b64::encode(k.to_bytes())),
            Private::Es256(k) => jwk.d = Some(b64::encode(k.to_bytes())),
            Private::Rs256(k) => {
                let key: &rsa::PrivateKey = k.as_ref().as_ref();
                jwk.d = Some(b64::encode(key.d().to_be_bytes_trimmed_vartime()));
                if let [p, q, ..] = key.primes() {
                    jwk.p = Some(b64::encode(p.to_be_bytes_trimmed_vartime()));
                    jwk.q = Some(b64::encode(q.to_be_bytes_trimmed_vartime()));
                }
            }
        }
        jwk
    }

    /// Reads a private JWK written by [`SigningKey::to_private_jwk`].
    pub fn from_private_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let field =
            |v: &Option<String>, what: &'static str| -> Result<Zeroizing<Vec<u8>>, KeyError> {
                v.as_deref()
                    .and_then(b64::decode)
                    .map(Zeroizing::new)
                    .ok_or(KeyError::Invalid(what))
            };
        let kid = jwk.kid.clone();
        let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("oct", _) => {
                let alg: Algorithm = jwk
                    .alg
                    .as_deref()
                    .unwrap_or("HS256")
                    .parse()
                    .map_err(KeyError::Unsupported)?;
                SigningKey::hmac(alg, &field(&jwk.k, "k")?, kid)?
            }
            ("OKP", Some("Ed25519")) => {
                let d = field(&jwk.d, "d")?;
                let seed: [u8; 32] = d
                    .as_slice()
                    .try_into()
                    .map_err(|_| KeyError::Invalid("d"))?;
                SigningKey::ed25519_from_seed(&seed, kid)
            }
            ("EC", Some("P-256")) => SigningKey::es256_from_scalar(&field(&jwk.d, "d")?, kid)?,
            ("RSA", _) => SigningKey::rs256_from_components(
                &field(&jwk.n, "n")?,
                &field(&jwk.e, "e")?,
                &field(&jwk.d, "d")?,
                &field(&jwk.p, "p")?,
                &field(&jwk.q, "q")?,
                kid,
            )?,
            (kty, crv) => return Err(KeyError::Unsupported(format!("kty {kty} crv {crv:?}"))),
        };
        // The stored public half must match the private half (detects a corrupted row).
        if let Some(public) = VerifyingKey::from_jwk_public_part(jwk)
            && !public.same_material(&key.verifying_key())
        {
            return Err(KeyError::Invalid("public and private halves differ"));
        }
        Ok(key)
    }
}

impl VerifyingKey {
    fn from_jwk_public_part(jwk: &Jwk) -> Option<VerifyingKey> {
        let public = Jwk {
            d: None,
            p: None,
            q: None,
            dp: None,
            dq: None,
            qi: None,
            k: None,
            ..jwk.clone()
        };
        VerifyingKey::from_jwk(&public).ok()
    }
}

/// The keys a verifier holds: at least one, `kid`s unique (several keys may lack a `kid`; a
/// token without `kid` is then refused unless exactly one key fits its algorithm).
#[derive(Clone, Debug)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl TryFrom<Vec<VerifyingKey>> for KeySet {
    type Error = KeyError;

    fn try_from(keys: Vec<VerifyingKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        for (i, key) in keys.iter().enumerate() {
            if let Some(kid) = &key.kid
                && keys[..i]
                    .iter()
                    .any(|other| other.kid.as_ref() == Some(kid))
            {
                return Err(KeyError::DuplicateKid(kid.clone()));
            }
        }
        Ok(KeySet { keys })
    }
}

impl KeySet {
    /// The keys, in the order given.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// Whether any held key verifies `alg`.
    pub fn has_algorithm(&self, alg: Algorithm) -> bool {
        self.keys.iter().any(|k| k.alg == alg)
    }

    /// Whether the two sets hold exactly the same keys: same ids, algorithms and public key
    /// material (used to keep a verified-token cache across a refresh that changed nothing).
    ///
    /// A key republished under the same `kid` with different material counts as a removal, so
    /// tokens verified under the old material are not served from a cache afterwards. Shared
    /// secrets cannot be compared this way, so sets holding one are never "the same".
    pub fn same_keys(&self, other: &KeySet) -> bool {
        self.keys.len() == other.keys.len()
            && self.keys.iter().all(|k| {
                other
                    .keys
                    .iter()
                    .any(|o| o.kid == k.kid && o.alg == k.alg && o.same_material(k))
            })
    }

    /// Chooses the key for a token, by `kid` only among held keys. Without a `kid`, the single
    /// key whose algorithm the header names is used; if there are several, the token is refused.
    pub(crate) fn select(
        &self,
        header: &Header,
        allowed: &[Algorithm],
    ) -> Result<&VerifyingKey, VerifyError> {
        let named = |a: &Algorithm| a.matches_header(&header.alg);
        let alg_known = if allowed.is_empty() {
            self.keys.iter().any(|k| named(&k.alg))
        } else {
            allowed.iter().any(named)
        };
        if !alg_known {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        match &header.kid {
            Some(kid) => {
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.kid.as_deref() == Some(kid.as_str()))
                    .ok_or(VerifyError::UnknownKey)?;
                if named(&key.alg) {
                    Ok(key)
                } else {
                    Err(VerifyError::AlgorithmMismatch)
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(|k| named(&k.alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    _ => Err(VerifyError::UnknownKey),
                }
            }
        }
    }

    /// The shared secrets a token without a `kid` may be signed with, in the order held: a list
    /// of HMAC secrets is how a shared secret is rotated (the first signs, all verify), so a
    /// token naming no key is tried against each. Empty when the token names a key or its
    /// algorithm is not symmetric ([`KeySet::select`] decides those).
    pub(crate) fn shared_secrets(
        &self,
        header: &Header,
        allowed: &[Algorithm],
    ) -> Vec<&VerifyingKey> {
        if header.kid.is_some() {
            return Vec::new();
        }
        self.keys
            .iter()
            .filter(|k| k.alg.is_symmetric() && k.alg.matches_header(&header.alg))
            .filter(|k| allowed.is_empty() || allowed.contains(&k.alg))
            .collect()
    }
}

// Reading keys from JWKs lives here, beside the key types, so that `jwk` (the JSON types) needs
// nothing from this module.

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
