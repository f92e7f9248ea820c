//! Password hashing: argon2id, off the async runtime, with bounded concurrency.
//!
//! Parameters default to OWASP's minimum for argon2id (m = 19 MiB, t = 2, p = 1). Hashes run on
//! tokio's blocking pool behind a semaphore sized to the CPU count, so a burst of sign-ins cannot
//! allocate unbounded memory (each hash holds 19 MiB) or starve request handling. Unknown users
//! are checked against a dummy hash with the same parameters (random salt and output, so nothing
//! ever matches it, and nothing is hashed at start), so "no such
//! user" costs the same time as "wrong password".

use crate::domain::Password;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashParams {
    /// OWASP Password Storage Cheat Sheet: m = 19456 KiB, t = 2, p = 1.
    fn default() -> Self {
        HashParams {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Why hashing failed (never because of the password itself).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// argon2 rejected the parameters or input.
    #[error("argon2: {0}")]
    Argon2(String),
    /// The blocking task failed.
    #[error("hashing task failed")]
    Task,
}

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Arc<Argon2<'static>>,
    params: HashParams,
    permits: Arc<Semaphore>,
    dummy: Arc<String>,
    operations: Arc<AtomicU64>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with `params`, running at most `concurrency` hashes at once.
    pub fn new(params: HashParams, concurrency: usize) -> Result<PasswordHasher, HashError> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| HashError::Argon2(e.to_string()))?;
        let argon2 = Arc::new(Argon2::new(Algorithm::Argon2id, Version::V0x13, p));
        let dummy = dummy_phc(params);
        Ok(PasswordHasher {
            argon2,
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(dummy),
            operations: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The default: OWASP parameters, one concurrent hash per CPU.
    pub fn owasp() -> Result<PasswordHasher, HashError> {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        PasswordHasher::new(HashParams::default(), cpus)
    }

    /// The cost parameters.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// How many hashes and verifications have run (for metrics, and for tests that check that
    /// every sign-in path costs exactly one argon2id computation).
    pub fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=...`).
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Task)?;
        let argon2 = self.argon2.clone();
        tokio::task::spawn_blocking(move || hash_blocking(&argon2, password.expose()))
            .await
            .map_err(|_| HashError::Task)?
    }

    /// Verifies `password` against a stored PHC string, or against the dummy hash when `stored` is
    /// `None` (unknown user: same cost, always false). Comparison is constant time (argon2 crate).
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Task)?;
        let argon2 = self.argon2.clone();
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.as_ref().clone());
        let ok = tokio::task::spawn_blocking(move || {
            // Parameters come from the stored string, so hashes made with older costs still verify.
            argon2
                .verify_password(password.expose(), phc.as_str())
                .is_ok()
        })
        .await
        .map_err(|_| HashError::Task)?;
        Ok(ok && known)
    }
}

/// A PHC string with the given costs, a random salt and a random output: verifying any password
/// against it costs one full argon2id computation and never succeeds.
fn dummy_phc(params: HashParams) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let mut salt = [0u8; 16];
    let mut output = [0u8; 32];
    crate::crypto::fill(&mut salt);
    crate::crypto::fill(&mut output);
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        b64.encode(salt),
        b64.encode(output)
    )
}

fn hash_blocking(argon2: &Argon2<'static>, password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    crate::crypto::fill(&mut salt);
    argon2
        .hash_password_with_salt(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PasswordPolicy;

    fn pw(s: &str) -> Password {
        Password::bounded(s, PasswordPolicy::default()).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = PasswordHasher::new(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            2,
        )
        .unwrap();
        let phc = hasher.hash(pw("correct horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(
            hasher
                .verify(pw("correct horse"), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(pw("correct horsf"), Some(phc)).await.unwrap());
        assert!(!hasher.verify(pw("anything"), None).await.unwrap());
        // The dummy hash parses as a real one with the same costs, so it costs a full computation.
        assert!(hasher.dummy.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(argon2::PasswordHash::new(&hasher.dummy).is_ok());
        assert!(
            !hasher
                .verify(pw("x"), Some("garbage".into()))
                .await
                .unwrap()
        );
    }

    #[test]
    fn default_parameters_are_owasp() {
        assert_eq!(
            HashParams::default(),
            HashParams {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
    }
}
