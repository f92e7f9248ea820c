//! Parse + verify: arbitrary input as a token against a fixed key set of every algorithm.
//!
//! Three shapes of input, so that the fuzzer reaches past the signature check too:
//! * `Raw`: the bytes as a token, exactly as a client could send them;
//! * `SignedHeader`: an arbitrary header and payload, correctly signed by one of our keys, so the
//!   header policy, key selection and claim parsing all see hostile JSON behind a good signature;
//! * `SignedClaims`: a well-formed header for one of our keys and an arbitrary payload.
//!
//! Besides "no panic", every accepted token must satisfy the invariants the guard relies on.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sigil_token::{Algorithm, KeySet, SigningKey, Validation, Verifier, VerifyingKey};
use std::sync::OnceLock;

const ISS: &str = "https://auth.example";

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    Raw(&'a str),
    SignedHeader {
        key: u8,
        header: &'a [u8],
        payload: &'a [u8],
        now: u32,
    },
    SignedClaims {
        key: u8,
        payload: &'a [u8],
        now: u32,
    },
}

struct Fixture {
    signers: Vec<SigningKey>,
    verifier: Verifier,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let kid = |s: &str| Some(s.to_owned());
        let signers = vec![
            SigningKey::hmac(Algorithm::HS256, &[1u8; 32], kid("hs256")).unwrap(),
            SigningKey::hmac(Algorithm::HS384, &[2u8; 48], kid("hs384")).unwrap(),
            SigningKey::hmac(Algorithm::HS512, &[3u8; 64], kid("hs512")).unwrap(),
            SigningKey::ed25519_from_seed(&[4u8; 32], kid("ed")),
            SigningKey::es256_from_scalar(&[5u8; 32], kid("es")).unwrap(),
        ];
        let mut keys: Vec<VerifyingKey> = signers.iter().map(|k| k.verifying_key()).collect();
        // An RSA public key with a fixed 2048-bit modulus: enough to exercise RS256 parsing and
        // length checks (no RSA signing here: it would slow the fuzzer down a hundredfold).
        let mut n = [0xC5u8; 256];
        n[255] = 0x01;
        keys.push(VerifyingKey::rs256(&n, &[1, 0, 1], kid("rs")).unwrap());
        let verifier = Verifier::new(
            KeySet::try_from(keys).unwrap(),
            Validation::new(ISS, ISS),
        );
        Fixture { signers, verifier }
    })
}

fn signed(key: &SigningKey, header: &[u8], payload: &[u8]) -> String {
    let mut token = B64.encode(header);
    token.push('.');
    token.push_str(&B64.encode(payload));
    let sig = key.sign_raw(token.as_bytes());
    token.push('.');
    token.push_str(&B64.encode(sig));
    token
}

fn check(token: &str, now: u64) {
    let f = fixture();
    let Ok(claims) = f.verifier.verify(token, now) else {
        return;
    };
    // What the guard relies on for every accepted token.
    assert!(!claims.sub.is_empty());
    assert_eq!(claims.iss.as_deref(), Some(ISS));
    assert!(claims.aud.contains(ISS));
    assert!(now < claims.exp.saturating_add(sigil_token::DEFAULT_LEEWAY_SECS));
    assert!(token.len() <= sigil_token::DEFAULT_MAX_TOKEN_BYTES);
    // The untimed check must agree, and time checks must pass again.
    let untimed = f.verifier.verify_untimed(token).unwrap();
    assert_eq!(untimed, claims);
    f.verifier.validation().check_time(&untimed, now).unwrap();
}

fuzz_target!(|input: Input<'_>| {
    let f = fixture();
    match input {
        Input::Raw(token) => check(token, 1_800_000_000),
        Input::SignedHeader {
            key,
            header,
            payload,
            now,
        } => {
            let key = &f.signers[usize::from(key) % f.signers.len()];
            check(&signed(key, header, payload), u64::from(now) + 1_700_000_000);
        }
        Input::SignedClaims { key, payload, now } => {
            let key = &f.signers[usize::from(key) % f.signers.len()];
            let header = format!(
                r#"{{"alg":"{}","kid":"{}","typ":"JWT"}}"#,
                key.algorithm(),
                key.kid().unwrap_or_default()
            );
            check(
                &signed(key, header.as_bytes(), payload),
                u64::from(now) + 1_700_000_000,
            );
        }
    }
});
