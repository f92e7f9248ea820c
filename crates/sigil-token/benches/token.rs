//! Criterion benchmarks of sigil-token: verify per algorithm, verify through the verified-token
//! cache (hit), sign per algorithm, and the floor of EdDSA verification: a bare `ed25519-dalek`
//! `verify_strict` of the same token's signature (group `verify_floor`), once with the signature
//! and key already decoded and once including the base64url decoding of the signature.
//!
//! The token is Better Auth-sized: its JWT plugin puts the whole user record in the payload
//! (`id`, `name`, `email`, `emailVerified`, `image`, `createdAt`, `updatedAt`) next to the
//! registered claims, about 420 bytes of JSON.
//!
//! `cargo bench -p sigil-token` runs it. With `SIGIL_BENCH_EXPORT=<file>` the tokens, keys and
//! claims are also written as JSON so that another library (`bench/pyjwt/bench.py`) can verify
//! exactly the same tokens with the same keys; `bench/token-vs-pyjwt` does both and prints the
//! comparison.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use sigil_token::{
    Algorithm, Claims, KeySet, SigningKey, Validation, VerifiedCache, Verifier, sign,
};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const ISS: &str = "https://auth.example.com";

struct Case {
    alg: Algorithm,
    key: SigningKey,
    token: String,
    verifier: Verifier,
}

fn better_auth_claims(now: u64) -> Value {
    json!({
        "iat": now,
        "name": "Ada Lovelace",
        "email": "ada.lovelace@example.com",
        "emailVerified": true,
        "image": null,
        "createdAt": "2026-03-14T09:26:53.589Z",
        "updatedAt": "2026-03-14T09:26:53.589Z",
        "id": "Xq3vN8kT2mWbR7yL0pZcF5hJ9dGsA1eU",
        "sid": "Lm4nB8vC2xZ6qW0eR5tY9uI3oP7aS1dF",
        "jti": "0f6c1d2e-8b7a-4c3d-9e5f-6a7b8c9d0e1f",
        "sub": "Xq3vN8kT2mWbR7yL0pZcF5hJ9dGsA1eU",
        "exp": now + 24 * 3600,
        "iss": ISS,
        "aud": ISS,
    })
}

fn cases(now: u64) -> Vec<Case> {
    let claims = better_auth_claims(now);
    Algorithm::ALL
        .into_iter()
        .map(|alg| {
            let key = SigningKey::generate(alg, Some(format!("bench-{alg}"))).unwrap();
            let token = sign(&key, &claims).unwrap();
            let keys = KeySet::try_from(vec![key.verifying_key()]).unwrap();
            let verifier = Verifier::new(keys, Validation::new(ISS, ISS));
            verifier.verify(&token, now).unwrap();
            Case {
                alg,
                key,
                token,
                verifier,
            }
        })
        .collect()
}

/// Writes what another library needs to verify the same tokens.
fn export(path: &str, now: u64, cases: &[Case]) {
    let items: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({
                "alg": c.alg.as_str(),
                "kid": c.key.kid(),
                "token": c.token,
                "public_jwk": c.key.verifying_key().to_jwk(),
                // Throwaway benchmark keys: the private half lets the other side time signing.
                "private_jwk": c.key.to_private_jwk(),
            })
        })
        .collect();
    let doc = json!({
        "generated_at": now,
        "issuer": ISS,
        "audience": ISS,
        "leeway": sigil_token::DEFAULT_LEEWAY_SECS,
        "claims": better_auth_claims(now),
        "cases": items,
    });
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    eprintln!(
        "wrote {} tokens ({} bytes each for HS256) to {path}",
        cases.len(),
        cases[0].token.len()
    );
}

fn benches(c: &mut Criterion) {
    let now = sigil_token::now_unix();
    let cases = cases(now);
    if let Ok(path) = std::env::var("SIGIL_BENCH_EXPORT") {
        export(&path, now, &cases);
    }

    let mut group = c.benchmark_group("verify");
    for case in &cases {
        group.bench_function(case.alg.as_str(), |b| {
            b.iter(|| {
                case.verifier
                    .verify(black_box(&case.token), black_box(now))
                    .unwrap()
            })
        });
    }
    group.finish();

    // The floor of EdDSA verification: what ed25519-dalek alone takes for the same token, the
    // same key and the same strict check (verify_strict, as key.rs uses).
    if let Some(case) = cases.iter().find(|c| c.alg == Algorithm::EdDSA) {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwk = serde_json::to_value(case.key.verifying_key().to_jwk()).unwrap();
        let x: [u8; 32] = URL_SAFE_NO_PAD
            .decode(jwk["x"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
        let (input, sig_b64) = case.token.rsplit_once('.').unwrap();
        let sig_bytes: [u8; 64] = URL_SAFE_NO_PAD.decode(sig_b64).unwrap().try_into().unwrap();
        let signature = ed25519_dalek::Signature::from_bytes(&sig_bytes);
        key.verify_strict(input.as_bytes(), &signature).unwrap();
        let mut group = c.benchmark_group("verify_floor");
        group.bench_function("EdDSA_ed25519_dalek_verify_strict", |b| {
            b.iter(|| {
                key.verify_strict(black_box(input.as_bytes()), black_box(&signature))
                    .unwrap()
            })
        });
        group.bench_function("EdDSA_ed25519_dalek_with_b64_signature", |b| {
            b.iter(|| {
                let token = black_box(case.token.as_str());
                let (input, sig_b64) = token.rsplit_once('.').unwrap();
                let bytes: [u8; 64] = URL_SAFE_NO_PAD.decode(sig_b64).unwrap().try_into().unwrap();
                key.verify_strict(
                    input.as_bytes(),
                    &ed25519_dalek::Signature::from_bytes(&bytes),
                )
                .unwrap()
            })
        });
        group.finish();
    }

    // A hot token: a SHA-256 of the token, one sharded-map probe, the time checks.
    let mut group = c.benchmark_group("verify_cached");
    for case in &cases {
        let cache = VerifiedCache::new(10_000);
        let claims: Arc<Claims> = Arc::new(case.verifier.verify_untimed(&case.token).unwrap());
        cache.insert(&case.token, claims, now);
        let validation = case.verifier.validation();
        group.bench_function(case.alg.as_str(), |b| {
            b.iter(|| {
                let claims = cache.get(black_box(&case.token), black_box(now)).unwrap();
                validation.check_time(&claims, now).unwrap();
                claims
            })
        });
    }
    group.finish();

    let claims = better_auth_claims(now);
    let mut group = c.benchmark_group("sign");
    for case in &cases {
        group.bench_function(case.alg.as_str(), |b| {
            b.iter(|| sign(black_box(&case.key), black_box(&claims)).unwrap())
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = token;
    config = config();
    targets = benches
}
criterion_main!(token);
