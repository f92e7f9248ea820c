//! Random bytes and tokens from the operating system's CSPRNG: the one helper every Sigil crate
//! uses for ids, session tokens, salts and secrets. A failure is an error for the caller to
//! answer (a 500, a refused start), never a silent fallback to weaker randomness.

/// The operating system's random generator failed: no token can be made safely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random generator failed")]
pub struct RandomError;

/// Fills `buf` from the OS CSPRNG.
pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|_| RandomError)
}

const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random string of `len` characters from `[A-Za-z0-9]` (≈ 5.95 bits each; 32 characters give
/// ≈ 190 bits, Better Auth's id and session-token format). Rejection sampling keeps it unbiased.
pub fn alphanumeric(len: usize) -> Result<String, RandomError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill(&mut buf)?;
        for b in buf {
            // 248 = 4 * 62: bytes at or above it would bias the distribution.
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHANUMERIC[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_alphanumeric_distinct_and_of_the_asked_length() {
        let a = alphanumeric(32).unwrap();
        let b = alphanumeric(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(alphanumeric(0).unwrap(), "");
        assert_eq!(alphanumeric(200).unwrap().len(), 200);
    }
}
