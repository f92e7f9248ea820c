//! Password hashing: argon2id on a small pool of dedicated threads that reuse their memory.
//!
//! Parameters default to OWASP's minimum for argon2id (m = 19 MiB, t = 2, p = 1). Hashes run on
//! one dedicated thread per CPU, each owning a reusable 19 MiB work area: the async runtime never
//! blocks, at most one hash per CPU runs at a time, memory stays bounded by the thread count (not
//! by the number of blocking-pool threads that ever ran a hash), and no time is spent faulting in
//! fresh pages for every hash. Work queues up to a bound; past it the server answers 503 at once
//! rather than letting a flood of sign-ins queue for minutes.
//!
//! Unknown users are checked against a dummy hash with the same parameters (random salt and
//! output, so nothing ever matches it, and nothing is hashed at start), so "no such user" costs
//! the same time as "wrong password".

use crate::domain::Password;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::oneshot;

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
    /// Too much hashing work is already queued.
    #[error("password hashing is saturated")]
    Busy,
    /// The hashing threads are gone.
    #[error("hashing workers stopped")]
    Stopped,
}

/// Jobs waiting beyond those running.
const QUEUE_BOUND: usize = 256;
/// Largest work area accepted from a stored hash (its parameters come from the database).
const MAX_MEMORY_KIB: u32 = 1 << 20;
const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;

enum Job {
    Hash(
        Password,
        HashParams,
        oneshot::Sender<Result<String, HashError>>,
    ),
    Verify(Password, String, oneshot::Sender<bool>),
}

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    params: HashParams,
    jobs: SyncSender<Job>,
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

fn argon2_params(params: HashParams) -> Result<Params, HashError> {
    Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(OUTPUT_LEN),
    )
    .map_err(|e| HashError::Argon2(e.to_string()))
}

impl PasswordHasher {
    /// A hasher with `params`, running `workers` hashes at once on dedicated threads.
    pub fn new(params: HashParams, workers: usize) -> Result<PasswordHasher, HashError> {
        argon2_params(params)?;
        let (jobs, queue) = sync_channel::<Job>(QUEUE_BOUND);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..workers.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("sigil-argon2-{n}"))
                .spawn(move || work(&queue))
                .map_err(|e| HashError::Argon2(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(PasswordHasher {
            params,
            jobs,
            dummy: Arc::new(dummy_phc(params)),
            operations: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The default: OWASP parameters, one hashing thread per CPU.
    pub fn owasp() -> Result<PasswordHasher, HashError> {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        PasswordHasher::new(HashParams::default(), cpus)
    }

    /// The cost parameters of new hashes.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// How many hashes and verifications were requested (for metrics, and for tests that check
    /// that every sign-in path costs exactly one argon2id computation).
    pub fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    fn submit(&self, job: Job) -> Result<(), HashError> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => HashError::Busy,
            TrySendError::Disconnected(_) => HashError::Stopped,
        })
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=...`).
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Hash(password, self.params, tx))?;
        rx.await.map_err(|_| HashError::Stopped)?
    }

    /// Verifies `password` against a stored PHC string, or against the dummy hash when `stored` is
    /// `None` (unknown user: same cost, always false). The comparison is constant time.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.as_ref().clone());
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Verify(password, phc, tx))?;
        let ok = rx.await.map_err(|_| HashError::Stopped)?;
        Ok(ok && known)
    }
}

/// A worker: takes jobs until the hasher is dropped, reusing one work area.
fn work(queue: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = match queue.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        match job {
            Job::Hash(password, params, reply) => {
                let _ = reply.send(hash_new(&mut memory, params, password.expose()));
            }
            Job::Verify(password, phc, reply) => {
                let _ = reply.send(verify_phc(&mut memory, password.expose(), &phc));
            }
        }
    }
}

fn compute(
    memory: &mut Vec<Block>,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .map_err(|e| HashError::Argon2(e.to_string()))
}

fn hash_new(
    memory: &mut Vec<Block>,
    params: HashParams,
    password: &[u8],
) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_LEN];
    crate::crypto::fill(&mut salt);
    let mut out = [0u8; OUTPUT_LEN];
    compute(memory, argon2_params(params)?, password, &salt, &mut out)?;
    Ok(phc_string(params, &salt, &out))
}

fn verify_phc(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_MEMORY_KIB {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    if compute(memory, params, password, salt.as_ref(), &mut out).is_err() {
        return false;
    }
    crate::crypto::ct_eq(&out, expected.as_bytes())
}

fn phc_string(params: HashParams, salt: &[u8], output: &[u8]) -> String {
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(output)
    )
}

/// A PHC string with the given costs, a random salt and a random output: verifying any password
/// against it costs one full argon2id computation and never succeeds.
fn dummy_phc(params: HashParams) -> String {
    let mut salt = [0u8; SALT_LEN];
    let mut output = [0u8; OUTPUT_LEN];
    crate::crypto::fill(&mut salt);
    crate::crypto::fill(&mut output);
    phc_string(params, &salt, &output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PasswordPolicy;

    fn pw(s: &str) -> Password {
        Password::bounded(s, PasswordPolicy::default()).unwrap()
    }

    fn small() -> PasswordHasher {
        PasswordHasher::new(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            2,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = small();
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
        assert!(
            !hasher
                .verify(pw("x"), Some("garbage".into()))
                .await
                .unwrap()
        );
        // The dummy hash parses as a real one with the same costs, so it costs a full computation.
        assert!(hasher.dummy.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(PasswordHash::new(&hasher.dummy).is_ok());
    }

    #[tokio::test]
    async fn our_hashes_are_standard_phc_strings() {
        // A hash made here verifies with the argon2 crate's own verifier, and one made there
        // verifies here, whatever the costs it was made with.
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = small();
        let ours = hasher.hash(pw("interop password")).await.unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"interop password", ours.as_str())
                .is_ok()
        );
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(2048, 3, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"older costs", &[7u8; 16])
        .unwrap()
        .to_string();
        assert!(
            hasher
                .verify(pw("older costs"), Some(theirs.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(pw("older cost"), Some(theirs)).await.unwrap());
        let argon2i = theirs_with_algorithm("argon2i");
        assert!(
            !hasher
                .verify(pw("older costs"), Some(argon2i))
                .await
                .unwrap()
        );
    }

    fn theirs_with_algorithm(alg: &str) -> String {
        format!(
            "${alg}$v=19$m=2048,t=3,p=1$BwcHBwcHBwcHBwcHBwcHBw$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        )
    }

    #[tokio::test]
    async fn many_concurrent_hashes_complete_on_few_threads() {
        let hasher = small();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(async move { h.hash(pw(&format!("password {i}"))).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(hasher.operations(), 20);
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
