//! A software WebAuthn authenticator for tests: it answers the options the server gives with
//! what a browser would send (SimpleWebAuthn's `RegistrationResponseJSON` and
//! `AuthenticationResponseJSON`), from its own P-256 key, with every field under the test's
//! control (origin, rp id, flags, counter, user handle), so refusals can be provoked.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

/// One credential of a software authenticator.
pub struct SoftKey {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The `user.id` of the options it was registered with.
    pub user_handle: Vec<u8>,
    /// The signature counter it reports next (incremented after each assertion when `counting`).
    pub counter: u32,
    pub counting: bool,
}

/// What the client side of a ceremony claims; the defaults are an honest browser on `origin`.
#[derive(Clone, Debug)]
pub struct Claims {
    pub origin: String,
    pub rp_id: String,
    pub user_verified: bool,
    /// Overrides the user handle sent with an assertion (`Some(None)`: none at all).
    pub user_handle: Option<Option<Vec<u8>>>,
}

impl Claims {
    pub fn honest(origin: &str, rp_id: &str) -> Claims {
        Claims {
            origin: origin.to_owned(),
            rp_id: rp_id.to_owned(),
            user_verified: true,
            user_handle: None,
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    sigil_token::random::fill(&mut v).unwrap();
    v
}

// Minimal CBOR writer (RFC 8949): what a "none" attestation object and a COSE key need.
fn head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n < 256 {
        out.extend([m | 24, n as u8]);
    } else if n < 65536 {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    }
}

fn int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        head(0, i as u64, out);
    } else {
        head(1, (-1 - i) as u64, out);
    }
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    head(2, b.len() as u64, out);
    out.extend_from_slice(b);
}

fn text(s: &str, out: &mut Vec<u8>) {
    head(3, s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// An ECDSA signature (r || s) in ASN.1 DER, as WebAuthn carries it.
fn der(raw: &[u8]) -> Vec<u8> {
    let integer = |x: &[u8]| {
        let mut x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        if x.first().is_none_or(|b| b & 0x80 != 0) {
            x.insert(0, 0);
        }
        let mut out = vec![0x02, x.len() as u8];
        out.extend(x);
        out
    };
    let (r, s) = raw.split_at(32);
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

impl SoftKey {
    pub fn new() -> SoftKey {
        let key = loop {
            if let Ok(k) = SigningKey::from_slice(&random(32)) {
                break k;
            }
        };
        SoftKey {
            key,
            credential_id: random(32),
            user_handle: Vec::new(),
            counter: 0,
            counting: true,
        }
    }

    pub fn id(&self) -> String {
        b64(&self.credential_id)
    }

    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_sec1_point(false);
        let sec1 = point.as_bytes();
        let mut out = Vec::new();
        head(5, 5, &mut out);
        int(1, &mut out);
        int(2, &mut out); // kty: EC2
        int(3, &mut out);
        int(-7, &mut out); // alg: ES256
        int(-1, &mut out);
        int(1, &mut out); // crv: P-256
        int(-2, &mut out);
        bytes(&sec1[1..33], &mut out);
        int(-3, &mut out);
        bytes(&sec1[33..65], &mut out);
        out
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// `navigator.credentials.create()` for `options` (the server's creation options JSON).
    pub fn register(&mut self, options: &Value, claims: &Claims) -> Value {
        // The handle of its first registration stays (a refused second one changes nothing).
        if self.user_handle.is_empty() {
            self.user_handle = unb64(options["user"]["id"].as_str().unwrap());
        }
        let challenge = options["challenge"].as_str().unwrap();
        let client_data = Self::client_data("webauthn.create", challenge, &claims.origin);
        let mut auth_data = Sha256::digest(claims.rp_id.as_bytes()).to_vec();
        let flags = UP | AT | if claims.user_verified { UV } else { 0 };
        auth_data.push(flags);
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // aaguid
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(self.cose_key());
        let mut attestation = Vec::new();
        head(5, 3, &mut attestation);
        text("fmt", &mut attestation);
        text("none", &mut attestation);
        text("attStmt", &mut attestation);
        head(5, 0, &mut attestation);
        text("authData", &mut attestation);
        bytes(&auth_data, &mut attestation);
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal", "hybrid"],
            },
        })
    }

    /// `navigator.credentials.get()` for `options` (the server's request options JSON).
    pub fn assert(&mut self, options: &Value, claims: &Claims) -> Value {
        let challenge = options["challenge"].as_str().unwrap();
        let client_data = Self::client_data("webauthn.get", challenge, &claims.origin);
        let mut auth_data = Sha256::digest(claims.rp_id.as_bytes()).to_vec();
        auth_data.push(UP | if claims.user_verified { UV } else { 0 });
        auth_data.extend(self.counter.to_be_bytes());
        if self.counting {
            self.counter += 1;
        }
        let signed = [auth_data.clone(), Sha256::digest(&client_data).to_vec()].concat();
        let signature: p256::ecdsa::Signature = self.key.sign(&signed);
        let user_handle = match &claims.user_handle {
            Some(forced) => forced.clone(),
            None => Some(self.user_handle.clone()),
        };
        json!({
            "id": self.id(),
            "rawId": self.id(),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(&der(&signature.to_bytes())),
                "userHandle": user_handle.map(|h| b64(&h)),
            },
        })
    }
}
