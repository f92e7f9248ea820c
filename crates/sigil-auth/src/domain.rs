//! Domain values parsed once at the edge: after parsing, an [`Email`] is known to be canonical and
//! valid, a [`Password`] to respect the length policy. Refusals are [`InvalidInput`]s; the HTTP
//! layer maps them to Better Auth's codes (`error.rs`).

use std::fmt;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// A canonical email address: trimmed, lower-cased, of a conservative shape (the one Better
/// Auth's zod schema accepts), at most 254 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses and canonicalises an address.
    pub fn parse(raw: &str) -> Option<Email> {
        let email = raw.trim().to_lowercase();
        if email.len() > 254 {
            return None;
        }
        let (local, domain) = email.split_once('@')?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_'+-.".contains(&b));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        (local_ok && domain_ok).then_some(Email(email))
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// A display name longer than 256 characters.
    #[error("name too long")]
    NameTooLong,
    /// A display name with control characters.
    #[error("control characters in name")]
    NameControl,
    /// An avatar URL longer than 2048 bytes.
    #[error("image URL too long")]
    ImageTooLong,
    /// An avatar URL with whitespace or control characters.
    #[error("whitespace or control characters in image URL")]
    ImageInvalid,
    /// A new password below the policy's minimum.
    #[error("password too short")]
    PasswordTooShort,
    /// A password above the policy's maximum.
    #[error("password too long")]
    PasswordTooLong,
}

/// Checks a display name: at most 256 characters and no control characters (they would end up
/// in pages, logs and mail).
pub fn check_name(name: &str) -> Result<(), InvalidInput> {
    if name.chars().count() > 256 {
        return Err(InvalidInput::NameTooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(InvalidInput::NameControl);
    }
    Ok(())
}

/// Checks an avatar URL: at most 2048 bytes, no whitespace or control characters.
pub fn check_image(image: &str) -> Result<(), InvalidInput> {
    if image.len() > 2048 {
        return Err(InvalidInput::ImageTooLong);
    }
    if image.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(InvalidInput::ImageInvalid);
    }
    Ok(())
}

/// The password length policy. Lengths count UTF-16 code units, as Better Auth (JavaScript's
/// `string.length`) does, so both servers accept and refuse the same passwords; 128 units are at
/// most 512 UTF-8 bytes, which also bounds the hashing work.
#[derive(Clone, Copy, Debug)]
pub struct PasswordPolicy {
    /// Minimum length (default 8).
    pub min: usize,
    /// Maximum length (default 128).
    pub max: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { min: 8, max: 128 }
    }
}

/// A password that passed the length policy, NFKC-normalised (so the same password typed on
/// different keyboards or platforms hashes the same), zeroed on drop, never printed.
pub struct Password(Zeroizing<String>);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Checks only the maximum length (sign-in and confirmations: a too-short password can never
    /// match, but must still cost a hash so that timing reveals nothing).
    pub fn bounded(raw: &str, policy: PasswordPolicy) -> Result<Password, InvalidInput> {
        if raw.encode_utf16().count() > policy.max {
            return Err(InvalidInput::PasswordTooLong);
        }
        Ok(Password(Zeroizing::new(raw.nfkc().collect())))
    }

    /// Checks the full policy (new passwords).
    pub fn new_password(raw: &str, policy: PasswordPolicy) -> Result<Password, InvalidInput> {
        if raw.encode_utf16().count() < policy.min {
            return Err(InvalidInput::PasswordTooShort);
        }
        Password::bounded(raw, policy)
    }

    /// The normalised bytes to hash.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A timestamp in milliseconds as JavaScript's `Date.toJSON` writes it:
/// `2026-12-01T00:32:35.370Z`.
pub fn iso8601(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Parses a time given as RFC 3339 (`2026-12-01T00:32:35.370Z`, what [`iso8601`] writes) or as
/// milliseconds since the Unix epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_checked() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        assert!(Email::parse("a.b+tag@sub.example.org").is_some());
        for bad in [
            "",
            "a",
            "a@b",
            "a@b.c",
            "@b.co",
            "a@.co",
            "a..b@c.co",
            ".a@c.co",
            "a@c..co",
            "a b@c.co",
            "a@-c.co",
            "a@c.c0",
            "a@b@c.co",
        ] {
            assert!(Email::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_none());
    }

    #[test]
    fn names_and_images() {
        assert!(check_name("Ada Lovelace").is_ok());
        assert!(check_name("").is_ok(), "Better Auth allows an empty name");
        assert!(check_name("a\u{0}b").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(257)).is_err());
        assert!(check_image("https://img.example/a.png").is_ok());
        assert!(check_image("https://img.example/a b.png").is_err());
    }

    #[test]
    fn password_lengths_count_utf16_units() {
        let p = PasswordPolicy::default();
        assert!(Password::new_password("1234567", p).is_err());
        assert!(Password::new_password("12345678", p).is_ok());
        assert!(Password::new_password(&"a".repeat(128), p).is_ok());
        assert_eq!(
            Password::new_password(&"a".repeat(129), p).unwrap_err(),
            InvalidInput::PasswordTooLong
        );
        // 64 emoji = 128 UTF-16 units: allowed; 65 are not.
        assert!(Password::new_password(&"😀".repeat(64), p).is_ok());
        assert!(Password::new_password(&"😀".repeat(65), p).is_err());
        assert_eq!(Password::bounded("short", p).map(|_| ()).ok(), Some(()));
    }

    #[test]
    fn dates_render_like_javascript() {
        assert_eq!(iso8601(1_795_480_355_370), "2026-11-24T00:32:35.370Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    }
}
