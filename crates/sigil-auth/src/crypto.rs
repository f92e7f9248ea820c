//! Small cryptographic helpers: token hashing, the cookie HMAC and the at-rest encryption of
//! signing keys. Random identifiers come from `sigil_token::random` (the operating system CSPRNG).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Hex SHA-256, used to store session, reset and refresh tokens: a leaked database row does not
/// hand out a usable token.
pub fn sha256_hex(data: &str) -> String {
    let digest = Sha256::digest(data.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HMAC-SHA256 over `message` with `secret`.
pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(secret).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this branch cannot be taken.
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&[0u8; 32])
            .unwrap_or_else(|_| std::process::abort())
    });
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Better Auth's signed-cookie signature: standard base64 (with padding) of
/// HMAC-SHA256(secret, value). Always 44 characters.
pub fn cookie_signature(secret: &[u8], value: &str) -> String {
    STANDARD.encode(hmac_sha256(secret, value.as_bytes()))
}

/// Checks a signed value `value.signature` (signature in standard or URL-safe base64), in
/// constant time, and returns `value`.
pub fn verify_signed_value<'a>(secret: &[u8], signed: &'a str) -> Option<&'a str> {
    let (value, signature) = signed.rsplit_once('.')?;
    if value.is_empty() || signature.len() != 44 || !signature.ends_with('=') {
        return None;
    }
    let given = STANDARD
        .decode(signature)
        .or_else(|_| URL_SAFE.decode(signature))
        .ok()?;
    let expected = hmac_sha256(secret, value.as_bytes());
    ct_eq(&given, &expected).then_some(value)
}

/// Derives a purpose-bound 32-byte key from the server secret (HMAC-SHA256 as a PRF).
pub fn derive_key(secret: &[u8], purpose: &str) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(hmac_sha256(secret, purpose.as_bytes()))
}

/// Encrypts `plaintext` with XChaCha20-Poly1305 under a key derived from `secret` for `purpose`;
/// output: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
pub fn seal(secret: &[u8], purpose: &str, plaintext: &[u8]) -> Option<String> {
    let key = derive_key(secret, purpose);
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_ref()).ok()?;
    let mut nonce = [0u8; 24];
    sigil_token::random::fill(&mut nonce).ok()?;
    let mut out = nonce.to_vec();
    out.extend(cipher.encrypt(XNonce::from_slice(&nonce), plaintext).ok()?);
    Some(format!("v1.{}", URL_SAFE_NO_PAD.encode(out)))
}

/// Reverses [`seal`]; `None` if the secret differs or the data was altered.
pub fn open(secret: &[u8], purpose: &str, sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
    let raw = URL_SAFE_NO_PAD.decode(sealed.strip_prefix("v1.")?).ok()?;
    if raw.len() < 24 + 16 {
        return None;
    }
    let key = derive_key(secret, purpose);
    let cipher = XChaCha20Poly1305::new_from_slice(key.as_ref()).ok()?;
    let (nonce, ciphertext) = raw.split_at(24);
    cipher
        .decrypt(XNonce::from_slice(nonce), ciphertext)
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_better_auth_cookie_vector() {
        // From Better Auth 1.7.25 (shared/better-auth-protocol.md §3.3).
        let secret = b"test-secret-0123456789abcdefghijklmnopqrstuvwxyz";
        let token = "NwcGLNLsJpfmKVCxlbqZh1iLumN3TQXG";
        assert_eq!(
            cookie_signature(secret, token),
            "v6c4SXqR2ab72RjZ/6PKCLrCBMVM0OtOs9JaA4eUOf0="
        );
        assert_eq!(
            cookie_signature(secret, "true"),
            "1Ue91JS+cwPpyhFiSTriJ9vlBOt6RG78rdQqJ+TjbEk="
        );
        let signed = format!("{token}.v6c4SXqR2ab72RjZ/6PKCLrCBMVM0OtOs9JaA4eUOf0=");
        assert_eq!(verify_signed_value(secret, &signed), Some(token));
        let urlsafe = format!("{token}.v6c4SXqR2ab72RjZ_6PKCLrCBMVM0OtOs9JaA4eUOf0=");
        assert_eq!(verify_signed_value(secret, &urlsafe), Some(token));
        assert_eq!(
            verify_signed_value(b"another-secret-0123456789abcdefghijkl", &signed),
            None
        );
        assert_eq!(verify_signed_value(secret, token), None);
    }

    #[test]
    fn seal_round_trips_and_detects_a_wrong_secret() {
        let sealed = seal(b"secret-one", "jwks", b"private").unwrap();
        assert_eq!(
            open(b"secret-one", "jwks", &sealed).unwrap().as_slice(),
            b"private"
        );
        assert!(open(b"secret-two", "jwks", &sealed).is_none());
        assert!(open(b"secret-one", "other", &sealed).is_none());
    }
}
