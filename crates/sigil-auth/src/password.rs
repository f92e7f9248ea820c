//! Password hashing: argon2id on a small pool of dedicated threads that reuse their memory.
//!
//! Parameters default to OWASP's minimum for argon2id (m = 19 MiB, t = 2, p = 1). Hashes run on
//! one dedicated thread per CPU, each owning a reusable 19 MiB work area: the async runtime never
//! blocks, at most one hash per CPU runs at a time, memory stays bounded by the thread count (not
//! by the number of blocking-pool threads that ever ran a hash), and no time is spent faulting in
//! fresh pages for every hash.
//!
//! The queue is shared fairly. Sign-ins and sign-ups are first *admitted* ([`PasswordHasher::admit`]):
//! at most [`QueueLimits::per_client`] in flight per client address (per /64 for IPv6) and
//! [`QueueLimits::per_account`] per account from addresses not known to it; the excess is refused
//! at once, before the database is read or anything is hashed. Admitted work waits in its
//! client's own lane, and the workers serve the lanes round robin, so a client that floods the
//! server waits behind its own requests while everyone else's sign-in waits for about one hash
//! per busy client. Sign-ins from an address that signed in to the same account before (see
//! [`crate::throttle`]) wait in lanes served first: a botnet of fresh addresses cannot crowd out
//! the owners of accounts on their usual devices. Past [`QueueLimits::queued`] waiting jobs the
//! server answers 503 at once (the last quarter of that room is kept for clients with nothing
//! waiting). A job whose client has gone away is dropped unhashed.
//!
//! Unknown users are checked against a dummy hash with the same parameters (random salt and
//! output, so nothing ever matches it, and nothing is hashed at start), so "no such user" costs
//! the same time as "wrong password".

use crate::domain::Password;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
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
    /// This client (address or account) already has its share of hashing work in flight.
    #[error("too much hashing work in flight for this client")]
    ClientBusy,
    /// The hashing threads are gone.
    #[error("hashing workers stopped")]
    Stopped,
}

/// Largest work area accepted from a stored hash (its parameters come from the database).
const MAX_MEMORY_KIB: u32 = 1 << 20;
const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;

/// How the hash queue is shared between clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Jobs waiting (beyond those running), all clients together.
    pub queued: usize,
    /// Admitted sign-ins (waiting or hashing) per client address (IPv6: per /64).
    pub per_client: usize,
    /// Admitted sign-ins (waiting or hashing) per account, from addresses not known to it.
    pub per_account: usize,
}

impl Default for QueueLimits {
    /// 256 queued jobs; 4 sign-ins in flight per address and per account.
    fn default() -> Self {
        QueueLimits {
            queued: 256,
            per_client: 4,
            per_account: 4,
        }
    }
}

enum Work {
    Hash(
        Password,
        HashParams,
        oneshot::Sender<Result<String, HashError>>,
    ),
    Verify(Password, String, oneshot::Sender<bool>),
}

impl Work {
    /// Whether nobody waits for the answer any more (the client went away): skipped, unhashed.
    fn abandoned(&self) -> bool {
        match self {
            Work::Hash(_, _, reply) => reply.is_closed(),
            Work::Verify(_, _, reply) => reply.is_closed(),
        }
    }
}

/// Which queue a job waits in: one per client address, one per address signing in to an account
/// it signed in to before (served first), and one for work not tied to a sign-in or sign-up
/// (password changes and resets, by signed-in users or reset-link holders).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Lane {
    Shared,
    Client(String),
    Known(String),
}

/// The jobs waiting, one queue per lane, served round robin: a client with a hundred jobs waiting
/// gets one hash in turn with a client that has one.
#[derive(Default)]
struct Queue {
    /// Each job with the time it was queued (its wait is measured when a worker takes it).
    lanes: HashMap<Lane, VecDeque<(std::time::Instant, Work)>>,
    /// Lanes with work waiting, in service order: known addresses' first.
    turn_known: VecDeque<Lane>,
    turn: VecDeque<Lane>,
    queued: usize,
    /// Sign-ins admitted and not yet finished, per client address and per account.
    per_client: HashMap<String, usize>,
    per_account: HashMap<String, usize>,
    held: bool,
    stopped: bool,
    #[cfg(test)]
    served: Vec<Lane>,
}

impl Queue {
    fn push(&mut self, lane: Lane, work: Work) {
        let jobs = self.lanes.entry(lane.clone()).or_default();
        let first = jobs.is_empty();
        jobs.push_back((std::time::Instant::now(), work));
        if first {
            self.turn_for(&lane).push_back(lane);
        }
        self.queued += 1;
        metrics::gauge!("sigil_password_hash_queue_depth").set(self.queued as f64);
    }

    fn turn_for(&mut self, lane: &Lane) -> &mut VecDeque<Lane> {
        match lane {
            Lane::Known(_) => &mut self.turn_known,
            _ => &mut self.turn,
        }
    }

    fn pop(&mut self) -> Option<Work> {
        let lane = match self.turn_known.pop_front() {
            Some(lane) => lane,
            None => self.turn.pop_front()?,
        };
        let jobs = self.lanes.get_mut(&lane)?;
        let work = jobs.pop_front().map(|(queued_at, work)| {
            metrics::histogram!("sigil_password_hash_wait_seconds")
                .record(queued_at.elapsed().as_secs_f64());
            work
        });
        if jobs.is_empty() {
            self.lanes.remove(&lane);
        } else {
            self.turn_for(&lane).push_back(lane.clone());
        }
        if work.is_some() {
            self.queued -= 1;
            metrics::gauge!("sigil_password_hash_queue_depth").set(self.queued as f64);
            #[cfg(test)]
            self.served.push(lane);
        }
        work
    }
}

fn decrement(map: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

struct Scheduler {
    queue: Mutex<Queue>,
    ready: Condvar,
    limits: QueueLimits,
}

impl Scheduler {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `lane` may queue one more job. The last quarter of the queue is kept for lanes
    /// that have nothing waiting yet, so a few busy clients cannot fill it for everyone else.
    /// Known addresses are bounded by their admission (and the account throttle) only: strangers
    /// cannot crowd them out.
    fn has_room(&self, q: &Queue, lane: &Lane) -> bool {
        let waiting_here = q.lanes.get(lane).map_or(0, VecDeque::len);
        let bound = if matches!(lane, Lane::Known(_)) {
            usize::MAX
        } else if waiting_here == 0 {
            self.limits.queued
        } else {
            self.limits.queued - self.limits.queued / 4
        };
        q.queued < bound
    }

    fn submit(&self, lane: Lane, work: Work) -> Result<(), HashError> {
        let mut q = self.lock();
        if q.stopped {
            return Err(HashError::Stopped);
        }
        if !self.has_room(&q, &lane) {
            metrics::counter!("sigil_password_hash_refused_total", "reason" => "queue_full")
                .increment(1);
            return Err(HashError::Busy);
        }
        q.push(lane, work);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// The next job for a worker; `None` once the hasher is dropped and nothing is left.
    fn next(&self) -> Option<Work> {
        let mut q = self.lock();
        loop {
            if !q.held
                && let Some(work) = q.pop()
            {
                return Some(work);
            }
            if q.stopped && q.queued == 0 {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.ready.notify_all();
    }

    fn set_held(&self, held: bool) {
        self.lock().held = held;
        self.ready.notify_all();
    }
}

/// Stops the workers when the last [`PasswordHasher`] clone goes.
struct Workers(Arc<Scheduler>);

impl Drop for Workers {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    params: HashParams,
    scheduler: Arc<Scheduler>,
    _workers: Arc<Workers>,
    dummy: Arc<String>,
    operations: Arc<AtomicU64>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("limits", &self.scheduler.limits)
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

/// The lane key of a client address: the address itself, or its /64 for IPv6 (one host
/// commonly holds a whole /64, and could otherwise take a lane per address).
pub(crate) fn client_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        _ => ip.to_owned(),
    }
}

impl PasswordHasher {
    /// A hasher with `params`, running `workers` hashes at once on dedicated threads, with the
    /// default [`QueueLimits`].
    pub fn new(params: HashParams, workers: usize) -> Result<PasswordHasher, HashError> {
        PasswordHasher::with_limits(params, workers, QueueLimits::default())
    }

    /// A hasher with `params`, `workers` threads and the given queue limits.
    pub fn with_limits(
        params: HashParams,
        workers: usize,
        limits: QueueLimits,
    ) -> Result<PasswordHasher, HashError> {
        argon2_params(params)?;
        let limits = QueueLimits {
            queued: limits.queued.max(1),
            per_client: limits.per_client.max(1),
            per_account: limits.per_account.max(1),
        };
        let scheduler = Arc::new(Scheduler {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            limits,
        });
        for n in 0..workers.max(1) {
            let scheduler = scheduler.clone();
            std::thread::Builder::new()
                .name(format!("sigil-argon2-{n}"))
                .spawn(move || work(&scheduler))
                .map_err(|e| HashError::Argon2(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(PasswordHasher {
            params,
            _workers: Arc::new(Workers(scheduler.clone())),
            scheduler,
            dummy: Arc::new(dummy_phc(params)?),
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

    /// The queue limits.
    pub fn limits(&self) -> QueueLimits {
        self.scheduler.limits
    }

    /// How many hashes and verifications were requested (for metrics, and for tests that check
    /// that every sign-in path costs exactly one argon2id computation).
    pub fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    /// Jobs waiting for a hashing thread now.
    pub fn queued(&self) -> usize {
        self.scheduler.lock().queued
    }

    /// Stops the workers from taking new jobs until the returned guard is dropped (jobs already
    /// hashing finish). For tests and benchmarks that need a known queue; never used in serving.
    #[doc(hidden)]
    pub fn hold(&self) -> HoldGuard {
        self.scheduler.set_held(true);
        HoldGuard(self.scheduler.clone())
    }

    /// Admits one sign-in (or sign-up) from `client_ip` into the hash queue, or refuses it at
    /// once, before any work, with [`HashError::ClientBusy`] when that address already has its
    /// share in flight. A sign-in from an address that has signed in to the account before
    /// (`known`) waits in a lane served before all others; any other sign-in names its `account`,
    /// which has a share of its own. A full queue is [`HashError::Busy`], here already (before the
    /// database is read) and again when the hash is submitted.
    pub fn admit(
        &self,
        client_ip: &str,
        account: Option<&str>,
        known: bool,
    ) -> Result<Admission, HashError> {
        let client = client_key(client_ip);
        let account = account.filter(|_| !known);
        let lane = if known {
            Lane::Known(client.clone())
        } else {
            Lane::Client(client.clone())
        };
        let limits = self.scheduler.limits;
        let mut q = self.scheduler.lock();
        if q.stopped {
            return Err(HashError::Stopped);
        }
        if !self.scheduler.has_room(&q, &lane) {
            metrics::counter!("sigil_password_hash_refused_total", "reason" => "queue_full")
                .increment(1);
            return Err(HashError::Busy);
        }
        if q.per_client.get(&client).copied().unwrap_or(0) >= limits.per_client
            || account
                .is_some_and(|a| q.per_account.get(a).copied().unwrap_or(0) >= limits.per_account)
        {
            metrics::counter!("sigil_password_hash_refused_total", "reason" => "client_busy")
                .increment(1);
            return Err(HashError::ClientBusy);
        }
        *q.per_client.entry(client.clone()).or_default() += 1;
        if let Some(a) = account {
            *q.per_account.entry(a.to_owned()).or_default() += 1;
        }
        Ok(Admission {
            hasher: self.clone(),
            lane,
            client,
            account: account.map(str::to_owned),
        })
    }

    fn submit(&self, lane: Lane, work: Work) -> Result<(), HashError> {
        self.operations.fetch_add(1, Ordering::Relaxed);
        self.scheduler.submit(lane, work)
    }

    async fn hash_in(&self, lane: Lane, password: Password) -> Result<String, HashError> {
        let (tx, rx) = oneshot::channel();
        self.submit(lane, Work::Hash(password, self.params, tx))?;
        rx.await.map_err(|_| HashError::Stopped)?
    }

    async fn verify_in(
        &self,
        lane: Lane,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.as_ref().clone());
        let (tx, rx) = oneshot::channel();
        self.submit(lane, Work::Verify(password, phc, tx))?;
        let ok = rx.await.map_err(|_| HashError::Stopped)?;
        Ok(ok && known)
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=...`), in the shared lane.
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.hash_in(Lane::Shared, password).await
    }

    /// Verifies `password` against a stored PHC string, or against the dummy hash when `stored` is
    /// `None` (unknown user: same cost, always false), in the shared lane. The comparison is
    /// constant time.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.verify_in(Lane::Shared, password, stored).await
    }
}

/// Keeps the hashing threads idle while alive (see [`PasswordHasher::hold`]).
#[doc(hidden)]
pub struct HoldGuard(Arc<Scheduler>);

impl std::fmt::Debug for HoldGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HoldGuard")
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0.set_held(false);
    }
}

/// A sign-in's place in the hash queue: its hashes wait in its client's lane, and its share is
/// given back when it is dropped (answered, or abandoned by the client).
pub struct Admission {
    hasher: PasswordHasher,
    lane: Lane,
    client: String,
    account: Option<String>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission").finish_non_exhaustive()
    }
}

impl Admission {
    /// [`PasswordHasher::hash`], in this client's lane.
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.hasher.hash_in(self.lane.clone(), password).await
    }

    /// [`PasswordHasher::verify`], in this client's lane.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.hasher
            .verify_in(self.lane.clone(), password, stored)
            .await
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut q = self.hasher.scheduler.lock();
        decrement(&mut q.per_client, &self.client);
        if let Some(a) = &self.account {
            decrement(&mut q.per_account, a);
        }
    }
}

/// A worker: takes jobs until the hasher is dropped, reusing one work area.
fn work(scheduler: &Scheduler) {
    let mut memory: Vec<Block> = Vec::new();
    while let Some(job) = scheduler.next() {
        if job.abandoned() {
            continue;
        }
        match job {
            Work::Hash(password, params, reply) => {
                let _ = reply.send(hash_new(&mut memory, params, password.expose()));
            }
            Work::Verify(password, phc, reply) => {
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
    sigil_token::random::fill(&mut salt).map_err(|e| HashError::Argon2(e.to_string()))?;
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
fn dummy_phc(params: HashParams) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_LEN];
    let mut output = [0u8; OUTPUT_LEN];
    sigil_token::random::fill(&mut salt).map_err(|e| HashError::Argon2(e.to_string()))?;
    sigil_token::random::fill(&mut output).map_err(|e| HashError::Argon2(e.to_string()))?;
    Ok(phc_string(params, &salt, &output))
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

    fn one_worker(limits: QueueLimits) -> PasswordHasher {
        PasswordHasher::with_limits(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            1,
            limits,
        )
        .unwrap()
    }

    async fn until_queued(hasher: &PasswordHasher, n: usize) {
        while hasher.queued() < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_flooding_client_gets_its_share_and_no_more() {
        let hasher = one_worker(QueueLimits::default());
        let hold = hasher.hold();
        let flood: Vec<_> = (0..4)
            .map(|_| hasher.admit("203.0.113.1", None, false).unwrap())
            .collect();
        // The fifth from the same address is refused at once, before any hashing.
        assert!(matches!(
            hasher.admit("203.0.113.1", None, false),
            Err(HashError::ClientBusy)
        ));
        let other = hasher.admit("198.51.100.1", None, false).unwrap();
        let mut tasks = Vec::new();
        for admission in flood {
            tasks.push(tokio::spawn(async move {
                admission.verify(pw("guess"), None).await
            }));
        }
        until_queued(&hasher, 4).await;
        tasks.push(tokio::spawn(async move {
            let (first, second) = tokio::join!(
                other.verify(pw("mine"), None),
                other.verify(pw("mine"), None)
            );
            first.and(second)
        }));
        until_queued(&hasher, 6).await;
        drop(hold);
        for t in tasks {
            assert!(!t.await.unwrap().unwrap());
        }
        // Round robin: the other client's jobs were taken in turn with the flood's, not after it.
        let a = Lane::Client("203.0.113.1".into());
        let b = Lane::Client("198.51.100.1".into());
        let served = hasher.scheduler.lock().served.clone();
        assert_eq!(served, [a.clone(), b.clone(), a.clone(), b, a.clone(), a]);
        // Shares are given back: the address may sign in again.
        assert!(hasher.admit("203.0.113.1", None, false).is_ok());
        assert!(hasher.scheduler.lock().per_client.is_empty());
    }

    #[tokio::test]
    async fn one_account_gets_a_bounded_share_from_strangers() {
        let hasher = one_worker(QueueLimits::default());
        let held: Vec<_> = (0..4)
            .map(|i| {
                hasher
                    .admit(&format!("203.0.113.{i}"), Some("victim@example.com"), false)
                    .unwrap()
            })
            .collect();
        assert!(matches!(
            hasher.admit("203.0.113.9", Some("victim@example.com"), false),
            Err(HashError::ClientBusy)
        ));
        // The owner's known address is admitted without an account share; other accounts too.
        assert!(
            hasher
                .admit("10.0.0.1", Some("victim@example.com"), true)
                .is_ok()
        );
        assert!(
            hasher
                .admit("203.0.113.9", Some("someone@example.com"), false)
                .is_ok()
        );
        drop(held);
        assert!(
            hasher
                .admit("203.0.113.9", Some("victim@example.com"), false)
                .is_ok()
        );
    }

    #[test]
    fn the_last_quarter_of_the_queue_is_kept_for_clients_with_nothing_waiting() {
        let hasher = one_worker(QueueLimits {
            queued: 8,
            ..QueueLimits::default()
        });
        let _hold = hasher.hold();
        let job = || Work::Verify(pw("x"), String::new(), oneshot::channel().0);
        let busy = Lane::Client("203.0.113.1".into());
        for _ in 0..6 {
            hasher.scheduler.submit(busy.clone(), job()).unwrap();
        }
        assert!(matches!(
            hasher.scheduler.submit(busy, job()),
            Err(HashError::Busy)
        ));
        hasher.scheduler.submit(Lane::Shared, job()).unwrap();
        hasher
            .scheduler
            .submit(Lane::Client("198.51.100.1".into()), job())
            .unwrap();
        assert!(matches!(
            hasher
                .scheduler
                .submit(Lane::Client("198.51.100.2".into()), job()),
            Err(HashError::Busy)
        ));
        // Admission already says so, before the database is read.
        assert!(matches!(
            hasher.admit("198.51.100.3", Some("a@example.com"), false),
            Err(HashError::Busy)
        ));
        // Sign-ins from addresses known to their account are not crowded out, and go first.
        assert!(
            hasher
                .admit("10.0.0.1", Some("a@example.com"), true)
                .is_ok()
        );
        let known = Lane::Known("10.0.0.1".into());
        hasher.scheduler.submit(known.clone(), job()).unwrap();
        assert_eq!(hasher.scheduler.lock().pop().map(|_| ()), Some(()));
        assert_eq!(hasher.scheduler.lock().served, [known]);
    }

    #[test]
    fn ipv6_clients_share_a_lane_per_64() {
        assert_eq!(client_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(
            client_key("2001:db8:1:2:ffff::1"),
            client_key("2001:db8:1:2::9")
        );
        assert_eq!(client_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(client_key("192.0.2.1"), "192.0.2.1");
        assert_eq!(client_key(""), "");
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
