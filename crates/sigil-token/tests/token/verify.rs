//! The verification pipeline against hostile tokens: every refusal of RFC 8725 has a test here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sigil_token::{
    Algorithm, Claims, KeySet, Malformed, SigningKey, Validation, Verifier, VerifyError, sign,
};

const ISS: &str = "https://auth.example";
const NOW: u64 = 1_800_000_000;

fn key(alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::generate(alg, Some(kid.to_owned())).unwrap()
}

fn verifier(keys: &[&SigningKey]) -> Verifier {
    let set = KeySet::try_from(keys.iter().map(|k| k.verifying_key()).collect::<Vec<_>>()).unwrap();
    Verifier::new(set, Validation::new(ISS, ISS))
}

fn claims() -> Value {
    json!({"sub":"user-1","iss":ISS,"aud":ISS,"iat":NOW,"exp":NOW + 900,"sid":"s1","email":"a@b.c"})
}

/// Builds a token from raw JSON texts, signed by `key` over exactly what is sent.
fn craft(header: &str, payload: &str, key: &SigningKey) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = key.sign_raw(input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

fn header_for(key: &SigningKey) -> String {
    json!({"alg": key.algorithm().as_str(), "kid": key.kid(), "typ": "JWT"}).to_string()
}

#[test]
fn every_algorithm_round_trips() {
    for alg in Algorithm::ALL {
        let k = key(alg, "k1");
        let token = sign(&k, &claims()).unwrap();
        let got = verifier(&[&k]).verify(&token, NOW + 1).unwrap();
        assert_eq!(got.sub, "user-1", "{alg}");
        assert_eq!(got.sid.as_deref(), Some("s1"));
        assert_eq!(got.email.as_deref(), Some("a@b.c"));
    }
}

#[test]
fn alg_none_in_any_spelling_is_refused() {
    let k = key(Algorithm::HS256, "k1");
    let v = verifier(&[&k]);
    let payload = B64.encode(claims().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = B64.encode(json!({"alg": alg, "kid": "k1"}).to_string());
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.AAAA"),
        ] {
            let err = v.verify(&token, NOW).unwrap_err();
            assert!(
                matches!(
                    err,
                    VerifyError::AlgorithmNotAllowed | VerifyError::Malformed(_)
                ),
                "{alg}: {err:?}"
            );
        }
    }
}

#[test]
fn the_token_cannot_choose_the_algorithm() {
    // Classic confusion: an HS256 token "signed" with the RSA/EC/Ed public key as the secret.
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let k = key(alg, "k1");
        let public = serde_json::to_vec(&k.verifying_key().to_jwk().unwrap()).unwrap();
        let mut secret = public.clone();
        secret.resize(secret.len().max(32), 0);
        let forger = SigningKey::hmac(Algorithm::HS256, &secret, Some("k1".into())).unwrap();
        let token = craft(&header_for(&forger), &claims().to_string(), &forger);
        assert_eq!(
            verifier(&[&k]).verify(&token, NOW),
            Err(VerifyError::AlgorithmNotAllowed)
        );
    }
    // HS512 in the header against an HS256 secret.
    let hs256 = key(Algorithm::HS256, "k1");
    let token = craft(
        r#"{"alg":"HS512","kid":"k1"}"#,
        &claims().to_string(),
        &hs256,
    );
    assert_eq!(
        verifier(&[&hs256]).verify(&token, NOW),
        Err(VerifyError::AlgorithmNotAllowed)
    );
    // A kid naming a key of another algorithm.
    let ed = key(Algorithm::EdDSA, "ed");
    let es = key(Algorithm::ES256, "es");
    let token = craft(r#"{"alg":"ES256","kid":"ed"}"#, &claims().to_string(), &es);
    assert_eq!(
        verifier(&[&ed, &es]).verify(&token, NOW),
        Err(VerifyError::AlgorithmMismatch)
    );
}

#[test]
fn tampered_payload_header_or_signature_is_refused() {
    for alg in Algorithm::ALL {
        let k = key(alg, "k1");
        let v = verifier(&[&k]);
        let token = sign(&k, &claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        let mut evil = claims();
        evil["sub"] = json!("admin");
        let forged = format!("{}.{}.{}", parts[0], B64.encode(evil.to_string()), parts[2]);
        assert_eq!(
            v.verify(&forged, NOW),
            Err(VerifyError::BadSignature),
            "{alg}"
        );

        let header =
            B64.encode(json!({"alg": alg.as_str(), "kid": "k1", "typ": "JWT", "x": 1}).to_string());
        let forged = format!("{header}.{}.{}", parts[1], parts[2]);
        assert_eq!(
            v.verify(&forged, NOW),
            Err(VerifyError::BadSignature),
            "{alg}"
        );

        let mut sig = B64.decode(parts[2]).unwrap();
        sig[5] ^= 1;
        let forged = format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig));
        assert_eq!(
            v.verify(&forged, NOW),
            Err(VerifyError::BadSignature),
            "{alg}"
        );

        let truncated = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            B64.encode(&sig[..sig.len() - 1])
        );
        assert_eq!(
            v.verify(&truncated, NOW),
            Err(VerifyError::Malformed(Malformed::SignatureLength)),
            "{alg}"
        );
    }
}

#[test]
fn a_key_the_verifier_does_not_hold_is_refused() {
    for alg in Algorithm::ALL {
        let ours = key(alg, "k1");
        let theirs = key(alg, "k1");
        let token = sign(&theirs, &claims()).unwrap();
        assert_eq!(
            verifier(&[&ours]).verify(&token, NOW),
            Err(VerifyError::BadSignature),
            "{alg}"
        );
        let other_kid = key(alg, "k2");
        let token = sign(&other_kid, &claims()).unwrap();
        assert_eq!(
            verifier(&[&ours]).verify(&token, NOW),
            Err(VerifyError::UnknownKey),
            "{alg}"
        );
    }
}

#[test]
fn kid_selects_among_held_keys_and_header_key_material_is_ignored() {
    let a = key(Algorithm::EdDSA, "a");
    let b = key(Algorithm::EdDSA, "b");
    let v = verifier(&[&a, &b]);
    assert!(v.verify(&sign(&b, &claims()).unwrap(), NOW).is_ok());

    // An attacker's key embedded as `jwk` / pointed to by `jku`/`x5u` changes nothing.
    let attacker = key(Algorithm::EdDSA, "b");
    let embedded = json!({
        "alg": "EdDSA", "kid": "b",
        "jwk": attacker.verifying_key().to_jwk().unwrap(),
        "jku": "https://evil.example/jwks", "x5u": "https://evil.example/x5u", "x5c": ["AAAA"]
    });
    let token = craft(&embedded.to_string(), &claims().to_string(), &attacker);
    assert_eq!(v.verify(&token, NOW), Err(VerifyError::BadSignature));

    // No kid and two keys of the algorithm: ambiguous, refused.
    let token = craft(r#"{"alg":"EdDSA"}"#, &claims().to_string(), &a);
    assert_eq!(v.verify(&token, NOW), Err(VerifyError::UnknownKey));
    // No kid and a single key: used.
    assert!(verifier(&[&a]).verify(&token, NOW).is_ok());
}

#[test]
fn critical_and_unsupported_headers_are_refused() {
    let k = key(Algorithm::HS256, "k1");
    let v = verifier(&[&k]);
    for (header, what) in [
        (
            r#"{"alg":"HS256","kid":"k1","crit":["exp"],"exp":1}"#,
            "crit",
        ),
        (
            r#"{"alg":"HS256","kid":"k1","crit":["b64"],"b64":false}"#,
            "crit",
        ),
        (r#"{"alg":"HS256","kid":"k1","crit":[]}"#, "crit"),
        (r#"{"alg":"HS256","kid":"k1","zip":"DEF"}"#, "zip"),
        (r#"{"alg":"HS256","kid":"k1","cty":"JWT"}"#, "cty"),
        (
            r#"{"alg":"HS256","kid":"k1","typ":"better-auth.session-cache+jwt"}"#,
            "typ",
        ),
    ] {
        let token = craft(header, &claims().to_string(), &k);
        assert_eq!(
            v.verify(&token, NOW),
            Err(VerifyError::UnsupportedHeader(what)),
            "{header}"
        );
    }
}

#[test]
fn structure_is_checked_before_any_crypto() {
    let k = key(Algorithm::HS256, "k1");
    let v = verifier(&[&k]);
    let good = sign(&k, &claims()).unwrap();
    let p: Vec<&str> = good.split('.').collect();
    let m = |x| Err(VerifyError::Malformed(x));
    assert_eq!(v.verify("", NOW), m(Malformed::SegmentCount));
    assert_eq!(
        v.verify(&format!("{}.{}", p[0], p[1]), NOW),
        m(Malformed::SegmentCount)
    );
    assert_eq!(
        v.verify(&format!("{good}.{}.{}", p[1], p[2]), NOW),
        m(Malformed::SegmentCount)
    );
    assert_eq!(
        v.verify(&format!("{}..{}", p[0], p[2]), NOW),
        m(Malformed::EmptySegment)
    );
    assert_eq!(
        v.verify(&format!("{}={}", &good[..10], &good[10..]), NOW),
        m(Malformed::Base64)
    );
    assert_eq!(v.verify(&format!(" {good}"), NOW), m(Malformed::Base64));
    assert_eq!(
        v.verify(&good.replace('.', "+.").replacen("+.", ".", 1), NOW),
        m(Malformed::Base64)
    );
    // JSON serialization and JWE compact form.
    assert_eq!(
        v.verify(r#"{"payload":"x","signatures":[]}"#, NOW),
        m(Malformed::Base64)
    );
    assert_eq!(v.verify("a.b.c.d.e", NOW), m(Malformed::SegmentCount));
    // Header not an object, duplicate members.
    let arr = craft("[1]", &claims().to_string(), &k);
    assert_eq!(v.verify(&arr, NOW), m(Malformed::HeaderJson));
    let dup = craft(
        r#"{"alg":"HS256","alg":"none","kid":"k1"}"#,
        &claims().to_string(),
        &k,
    );
    assert_eq!(v.verify(&dup, NOW), m(Malformed::HeaderJson));
    let dup = craft(
        &header_for(&k),
        r#"{"sub":"a","sub":"admin","exp":9999999999}"#,
        &k,
    );
    assert_eq!(v.verify(&dup, NOW), m(Malformed::PayloadJson));
    // Size cap.
    let big = "a".repeat(9000);
    assert_eq!(v.verify(&big, NOW), Err(VerifyError::TooLarge));
}

#[test]
fn time_claims_with_leeway() {
    let k = key(Algorithm::EdDSA, "k1");
    let v = verifier(&[&k]);
    let token = sign(&k, &claims()).unwrap();
    assert!(
        v.verify(&token, NOW + 900 + 59).is_ok(),
        "inside the 60 s leeway"
    );
    assert_eq!(v.verify(&token, NOW + 900 + 60), Err(VerifyError::Expired));
    assert_eq!(v.verify(&token, NOW + 900 + 300), Err(VerifyError::Expired));

    let mut c = claims();
    c["nbf"] = json!(NOW + 120);
    let token = sign(&k, &c).unwrap();
    assert_eq!(v.verify(&token, NOW), Err(VerifyError::NotYetValid));
    assert!(v.verify(&token, NOW + 61).is_ok());

    let mut c = claims();
    c["iat"] = json!(NOW + 3600);
    let token = sign(&k, &c).unwrap();
    assert_eq!(v.verify(&token, NOW), Err(VerifyError::IssuedInFuture));

    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        v.verify(&sign(&k, &c).unwrap(), NOW),
        Err(VerifyError::MissingClaim("exp"))
    );
    c["exp"] = json!("99999999999");
    assert_eq!(
        v.verify(&sign(&k, &c).unwrap(), NOW),
        Err(VerifyError::InvalidClaim("exp"))
    );

    let strict = Verifier::new(v.keys().clone(), Validation::new(ISS, ISS).leeway(0));
    assert_eq!(
        strict.verify(&sign(&k, &claims()).unwrap(), NOW + 900),
        Err(VerifyError::Expired)
    );
}

#[test]
fn issuer_audience_and_subject_are_enforced() {
    let k = key(Algorithm::EdDSA, "k1");
    let v = verifier(&[&k]);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        sign(&k, &c).unwrap()
    };
    assert_eq!(
        v.verify(&with(&|c| c["iss"] = json!("https://evil")), NOW),
        Err(VerifyError::WrongIssuer)
    );
    assert_eq!(
        v.verify(&with(&|c| c["iss"] = json!("HTTPS://AUTH.EXAMPLE")), NOW),
        Err(VerifyError::WrongIssuer)
    );
    assert_eq!(
        v.verify(
            &with(&|c| {
                c.as_object_mut().unwrap().remove("iss");
            }),
            NOW
        ),
        Err(VerifyError::WrongIssuer)
    );
    assert_eq!(
        v.verify(&with(&|c| c["aud"] = json!("https://api")), NOW),
        Err(VerifyError::WrongAudience)
    );
    assert_eq!(
        v.verify(&with(&|c| c["aud"] = json!([])), NOW),
        Err(VerifyError::WrongAudience)
    );
    assert!(
        v.verify(&with(&|c| c["aud"] = json!(["x", ISS])), NOW)
            .is_ok()
    );
    assert_eq!(
        v.verify(
            &with(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            }),
            NOW
        ),
        Err(VerifyError::WrongAudience)
    );
    assert_eq!(
        v.verify(&with(&|c| c["sub"] = json!("")), NOW),
        Err(VerifyError::InvalidClaim("sub"))
    );
    assert_eq!(
        v.verify(&with(&|c| c["sub"] = json!(42)), NOW),
        Err(VerifyError::InvalidClaim("sub"))
    );

    let lax = Verifier::new(
        v.keys().clone(),
        Validation::new(ISS, ISS)
            .skip_issuer_check()
            .skip_audience_check(),
    );
    assert!(
        lax.verify(&with(&|c| c["aud"] = json!("other")), NOW)
            .is_ok()
    );
}

#[test]
fn short_hmac_secrets_are_refused() {
    assert!(SigningKey::hmac(Algorithm::HS256, &[7u8; 31], None).is_err());
    assert!(SigningKey::hmac(Algorithm::HS256, &[7u8; 32], None).is_ok());
    assert!(SigningKey::hmac(Algorithm::HS512, &[7u8; 32], None).is_err());
    assert!(sigil_token::VerifyingKey::hmac(Algorithm::EdDSA, &[7u8; 64], None).is_err());
}

#[test]
fn typed_claims_are_exposed() {
    let k = key(Algorithm::EdDSA, "k1");
    let claims = Claims::new("u", NOW, NOW + 60)
        .with_issuer(ISS)
        .with_audience(ISS);
    let got = verifier(&[&k])
        .verify(&sign(&k, &claims).unwrap(), NOW)
        .unwrap();
    assert_eq!(got, claims);
}

#[test]
fn typ_must_name_a_jwt_unless_allowed() {
    let k = key(Algorithm::EdDSA, "k1");
    let v = verifier(&[&k]);
    let payload = claims().to_string();
    for typ in ["JWT", "jwt", "application/jwt", "application/JWT"] {
        let header = json!({"alg":"EdDSA","kid":"k1","typ":typ}).to_string();
        assert!(
            v.verify(&craft(&header, &payload, &k), NOW).is_ok(),
            "{typ}"
        );
    }
    let untyped = craft(r#"{"alg":"EdDSA","kid":"k1"}"#, &payload, &k);
    assert!(v.verify(&untyped, NOW).is_ok(), "typ is optional");
    for typ in [
        json!("at+jwt"),
        json!("JWE"),
        json!(" JWT"),
        json!(""),
        json!(null),
    ] {
        let header = json!({"alg":"EdDSA","kid":"k1","typ":typ}).to_string();
        assert_eq!(
            v.verify(&craft(&header, &payload, &k), NOW),
            Err(VerifyError::UnsupportedHeader("typ")),
            "{typ}"
        );
    }
    let at = Verifier::new(
        v.keys().clone(),
        Validation::new(ISS, ISS).allow_typ("at+jwt"),
    );
    let header = json!({"alg":"EdDSA","kid":"k1","typ":"at+JWT"}).to_string();
    assert!(at.verify(&craft(&header, &payload, &k), NOW).is_ok());
}

#[test]
fn ed25519_is_accepted_as_the_fully_specified_name_of_eddsa() {
    // RFC 9864 deprecates the polymorphic "EdDSA" in favour of "Ed25519": both name our key.
    let k = key(Algorithm::EdDSA, "k1");
    let token = craft(r#"{"alg":"Ed25519","kid":"k1"}"#, &claims().to_string(), &k);
    assert!(verifier(&[&k]).verify(&token, NOW).is_ok());
    for alg in ["ed25519", "ED25519", "Ed448", "EdDSA "] {
        let token = craft(
            &json!({"alg":alg,"kid":"k1"}).to_string(),
            &claims().to_string(),
            &k,
        );
        assert_eq!(
            verifier(&[&k]).verify(&token, NOW),
            Err(VerifyError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
}

#[test]
fn an_explicit_algorithm_list_is_enforced() {
    let ed = key(Algorithm::EdDSA, "ed");
    let es = key(Algorithm::ES256, "es");
    let set = KeySet::try_from(vec![ed.verifying_key(), es.verifying_key()]).unwrap();
    let only_es = Verifier::new(
        set,
        Validation::new(ISS, ISS).algorithms(&[Algorithm::ES256]),
    );
    assert!(only_es.verify(&sign(&es, &claims()).unwrap(), NOW).is_ok());
    assert_eq!(
        only_es.verify(&sign(&ed, &claims()).unwrap(), NOW),
        Err(VerifyError::AlgorithmNotAllowed),
        "a held key outside the list is unusable"
    );
}

#[test]
fn kid_is_a_bounded_string() {
    let long = "k".repeat(256);
    let k = key(Algorithm::HS256, &long);
    let v = verifier(&[&k]);
    assert!(
        v.verify(&sign(&k, &claims()).unwrap(), NOW).is_ok(),
        "256 bytes"
    );
    let too_long = key(Algorithm::HS256, &"k".repeat(257));
    assert_eq!(
        v.verify(&sign(&too_long, &claims()).unwrap(), NOW),
        Err(VerifyError::Malformed(Malformed::BadKid))
    );
    for kid in [
        json!(""),
        json!(1),
        json!(["k"]),
        json!({"k":1}),
        json!(null),
    ] {
        let header = json!({"alg":"HS256","kid":kid}).to_string();
        assert_eq!(
            v.verify(&craft(&header, &claims().to_string(), &k), NOW),
            Err(VerifyError::Malformed(Malformed::BadKid)),
            "{kid}"
        );
    }
}

#[test]
fn jwe_headers_and_nested_tokens_are_refused() {
    let k = key(Algorithm::HS256, "k1");
    let v = verifier(&[&k]);
    for (header, what) in [
        (r#"{"alg":"HS256","kid":"k1","enc":"A256GCM"}"#, "enc"),
        (r#"{"alg":"HS256","kid":"k1","cty":"jwt"}"#, "cty"),
        (r#"{"alg":"HS256","kid":"k1","cty":7}"#, "cty"),
    ] {
        assert_eq!(
            v.verify(&craft(header, &claims().to_string(), &k), NOW),
            Err(VerifyError::UnsupportedHeader(what)),
            "{header}"
        );
    }
    // An unrelated content type and unknown, non-critical members are ignored.
    let header = r#"{"alg":"HS256","kid":"k1","cty":"text/plain","x-custom":{"a":1}}"#;
    assert!(
        v.verify(&craft(header, &claims().to_string(), &k), NOW)
            .is_ok()
    );
}

#[test]
fn the_size_cap_is_configurable_and_checked_first() {
    let k = key(Algorithm::EdDSA, "k1");
    let token = sign(&k, &claims()).unwrap();
    let tight = Verifier::new(
        verifier(&[&k]).keys().clone(),
        Validation::new(ISS, ISS).max_token_bytes(token.len() - 1),
    );
    assert_eq!(tight.verify(&token, NOW), Err(VerifyError::TooLarge));
    let exact = Verifier::new(
        verifier(&[&k]).keys().clone(),
        Validation::new(ISS, ISS).max_token_bytes(token.len()),
    );
    assert!(exact.verify(&token, NOW).is_ok());
    // The default is 8 KiB: a token of 8193 bytes is refused before anything is decoded,
    // even when it would otherwise be well-formed.
    let mut c = claims();
    c["pad"] = json!("x".repeat(7000));
    let big = sign(&k, &c).unwrap();
    assert!(big.len() > 8192);
    assert_eq!(
        verifier(&[&k]).verify(&big, NOW),
        Err(VerifyError::TooLarge)
    );
}

#[test]
fn payload_must_be_a_json_object_behind_a_good_signature() {
    let k = key(Algorithm::HS256, "k1");
    let v = verifier(&[&k]);
    for payload in ["[]", "\"sub\"", "42", "null", "{", "{\"sub\":\"a\"} x"] {
        assert_eq!(
            v.verify(&craft(&header_for(&k), payload, &k), NOW),
            Err(VerifyError::Malformed(Malformed::PayloadJson)),
            "{payload}"
        );
    }
}

#[test]
fn key_sets_refuse_duplicate_kids_but_allow_several_unnamed_keys() {
    let a = key(Algorithm::EdDSA, "same");
    let b = key(Algorithm::EdDSA, "same");
    assert!(KeySet::try_from(vec![a.verifying_key(), b.verifying_key()]).is_err());
    assert!(KeySet::try_from(Vec::new()).is_err());

    let x = SigningKey::generate(Algorithm::EdDSA, None).unwrap();
    let y = SigningKey::generate(Algorithm::ES256, None).unwrap();
    let z = SigningKey::generate(Algorithm::ES256, None).unwrap();
    let set = KeySet::try_from(vec![
        x.verifying_key(),
        y.verifying_key(),
        z.verifying_key(),
    ])
    .unwrap();
    let v = Verifier::new(set, Validation::new(ISS, ISS));
    // Without a kid, a token is verified only when exactly one key fits its algorithm.
    assert!(v.verify(&sign(&x, &claims()).unwrap(), NOW).is_ok());
    assert_eq!(
        v.verify(&sign(&y, &claims()).unwrap(), NOW),
        Err(VerifyError::UnknownKey)
    );
}

#[test]
fn same_keys_compares_material_not_only_ids() {
    let a = key(Algorithm::EdDSA, "k");
    let a2 = key(Algorithm::EdDSA, "k");
    let one = KeySet::try_from(vec![a.verifying_key()]).unwrap();
    assert!(one.same_keys(&KeySet::try_from(vec![a.verifying_key()]).unwrap()));
    assert!(!one.same_keys(&KeySet::try_from(vec![a2.verifying_key()]).unwrap()));
    let hs = key(Algorithm::HS256, "s");
    let secret = KeySet::try_from(vec![hs.verifying_key()]).unwrap();
    assert!(
        !secret.same_keys(&secret.clone()),
        "secrets are never compared"
    );
}

#[test]
fn a_list_of_shared_secrets_verifies_tokens_of_any_of_them() {
    let new = SigningKey::hmac(Algorithm::HS256, &[7u8; 32], None).unwrap();
    let old = SigningKey::hmac(Algorithm::HS256, &[9u8; 32], None).unwrap();
    let other = SigningKey::hmac(Algorithm::HS256, &[11u8; 32], None).unwrap();
    let v = verifier(&[&new, &old]);
    // Signed with the first (signing) secret or the second (still accepted): both verify.
    assert!(v.verify(&sign(&new, &claims()).unwrap(), NOW).is_ok());
    assert!(v.verify(&sign(&old, &claims()).unwrap(), NOW).is_ok());
    // A secret not in the list: refused as a bad signature.
    assert_eq!(
        v.verify(&sign(&other, &claims()).unwrap(), NOW),
        Err(VerifyError::BadSignature)
    );
    // The list gives no way around the algorithm policy: an EdDSA header is not tried against
    // the secrets, and a tampered payload fails under every secret.
    let token = craft(r#"{"alg":"EdDSA"}"#, &claims().to_string(), &new);
    assert!(v.verify(&token, NOW).is_err());
    let good = sign(&old, &claims()).unwrap();
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = B64
        .encode(json!({"sub":"admin","iss":ISS,"aud":ISS,"iat":NOW,"exp":NOW + 900}).to_string());
    parts[1] = &forged;
    assert_eq!(
        v.verify(&parts.join("."), NOW),
        Err(VerifyError::BadSignature)
    );
    // Pinned to another algorithm: the secrets are not used.
    let pinned = Verifier::new(
        KeySet::try_from(vec![new.verifying_key(), old.verifying_key()]).unwrap(),
        Validation::new(ISS, ISS).algorithms(&[Algorithm::EdDSA]),
    );
    assert!(pinned.verify(&sign(&old, &claims()).unwrap(), NOW).is_err());
}
