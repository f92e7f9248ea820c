//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), as authenticator apps compute
//! them: HMAC-SHA-1, 6 digits, 30-second steps, and the `otpauth://` URI a QR code carries.
//!
//! Pure functions of a key and a time: no clock, no storage. Which step a code matched is
//! returned so the caller can refuse it afterwards (single use, see `two_factor.rs`).

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Digits per code.
pub const DIGITS: u32 = 6;
/// Seconds per time step.
pub const PERIOD_SECS: u64 = 30;
/// Steps accepted either side of the current one (clock drift between phone and server).
pub const SKEW_STEPS: u64 = 1;

/// The time step of `unix_secs`.
pub fn step_at(unix_secs: u64) -> u64 {
    unix_secs / PERIOD_SECS
}

/// HOTP (RFC 4226 §5.3) with HMAC-SHA-1 for `counter`, `digits` long (6 to 8).
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = match <Hmac<Sha1> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC accepts keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    let value = binary % 10u32.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// The code for `unix_secs` (6 digits, 30 s).
pub fn code_at(key: &[u8], unix_secs: u64) -> String {
    hotp(key, step_at(unix_secs), DIGITS)
}

/// The step `code` is valid for at `unix_secs`, looking one step either side; `None` when it
/// matches none. The comparison is constant-time and every candidate step is computed.
pub fn matching_step(key: &[u8], code: &str, unix_secs: u64) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    let mut found = None;
    for step in now.saturating_sub(SKEW_STEPS)..=now.saturating_add(SKEW_STEPS) {
        let expected = hotp(key, step, DIGITS);
        if crate::crypto::ct_eq(expected.as_bytes(), code.as_bytes()) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding (what `otpauth://` URIs carry).
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://totp/…` URI for an authenticator app (Key Uri Format): label
/// `issuer:account`, the key in base32, and the parameters spelled out.
pub fn uri(key: &[u8], issuer: &str, account: &str) -> String {
    let enc = crate::cookies::encode_uri_component;
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&digits={DIGITS}&period={PERIOD_SECS}",
        enc(issuer),
        enc(account),
        base32(key),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows: the seed is the ASCII string "12345678901234567890" and
    /// the codes are 8 digits.
    #[test]
    fn rfc_6238_sha1_test_vectors() {
        let key = b"12345678901234567890";
        for (time, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(key, step_at(time), 8), code, "T = {time}");
        }
    }

    /// RFC 4226 Appendix D: HOTP values for counters 0 to 9 (6 digits).
    #[test]
    fn rfc_4226_hotp_test_vectors() {
        let key = b"12345678901234567890";
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(key, counter as u64, 6), *code, "counter {counter}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let key = b"12345678901234567890";
        let t = 1_111_111_109; // step 37037036
        let code = code_at(key, t);
        assert_eq!(matching_step(key, &code, t), Some(step_at(t)));
        assert_eq!(matching_step(key, &code, t + 30), Some(step_at(t)));
        assert_eq!(matching_step(key, &code, t - 30), Some(step_at(t)));
        assert_eq!(matching_step(key, &code, t + 60), None);
        assert_eq!(matching_step(key, &code, t - 60), None);
        // Step boundaries: the last second of a step and the first of the next.
        let boundary = 30 * 1000;
        let last = code_at(key, boundary - 1);
        assert_eq!(
            matching_step(key, &last, boundary),
            Some(step_at(boundary - 1))
        );
        assert_eq!(matching_step(key, &last, boundary + 30), None);
        for bad in ["", "12345", "1234567", "12a456", " 12345"] {
            assert_eq!(matching_step(key, bad, t), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output);
        }
    }

    #[test]
    fn uri_names_issuer_account_and_parameters() {
        assert_eq!(
            uri(b"foobar", "Sigil", "ada@example.com"),
            "otpauth://totp/Sigil:ada%40example.com?secret=MZXW6YTBOI&issuer=Sigil&digits=6&period=30"
        );
    }
}
