//! Strict base64url (RFC 7515 §2): no padding, no whitespace, canonical trailing bits.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes unpadded base64url, refusing padding, any character outside `[A-Za-z0-9_-]` and
/// non-canonical encodings (non-zero unused trailing bits).
pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
    // The engine already refuses padding and non-canonical trailing bits
    // (`decode_allow_trailing_bits` is false in the general-purpose config).
    URL_SAFE_NO_PAD.decode(input).ok()
}

/// Decodes into a fixed-size array (signatures, key coordinates); wrong lengths are refused.
pub(crate) fn decode_array<const N: usize>(input: &str) -> Option<[u8; N]> {
    decode(input)?.try_into().ok()
}

pub(crate) fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_padding_and_foreign_characters() {
        assert_eq!(decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(decode("YQ=="), None);
        assert_eq!(decode("Y Q"), None);
        assert_eq!(decode("Y+Q"), None);
        assert_eq!(decode("Y/Q"), None);
    }

    #[test]
    fn refuses_non_canonical_trailing_bits() {
        // "YR" decodes to 'a' with a non-zero unused bit.
        assert_eq!(decode("YR"), None);
    }
}
