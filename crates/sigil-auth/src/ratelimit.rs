//! Request rate limits with Better Auth's defaults: 100 requests per 10 s per client and route;
//! 3 per 10 s on `/sign-in`, `/sign-up`, `/change-password`, `/change-email`; 3 per 60 s on the
//! mail-sending endpoints. Over the limit: 429 with `X-Retry-After`.
//!
//! Counters are fixed windows keyed by client IP and **route template** (`/reset-password/{token}`,
//! never the raw path: a path segment chosen by the client must not make a new key per request),
//! kept in memory (one process) or in Redis (`SIGIL_REDIS_URL`, shared by every instance behind a
//! load balancer).
//!
//! The memory table is bounded ([`DEFAULT_CAPACITY`] windows): windows sit in a map and in a queue
//! in the order they started, so a window older than the longest rule is dropped from the front of
//! the queue, and when the table is full the oldest window is evicted. Every hit does O(1)
//! amortized work whatever the number of keys ([`MemoryStats::work`] counts it).
//!
//! Redis down: a warning is logged when Redis stops answering (and an info line when it answers
//! again), [`RateLimiter::redis_fallbacks`] counts the requests counted meanwhile, and those
//! requests are counted by this process's memory table instead: limits keep holding per process
//! rather than failing open.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A limit: at most `max` requests per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Window length.
    pub window: Duration,
    /// Requests allowed per window.
    pub max: u32,
}

/// The longest window of any rule: a window older than this is over, whatever its rule.
const LONGEST_WINDOW: Duration = Duration::from_secs(60);

/// Windows kept in memory at most (about 100 bytes each, plus the key).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// The rule for a path (or route template) relative to `/api/auth`.
pub fn rule_for(path: &str) -> Rule {
    // `/two-factor/*` as Better Auth's twoFactor plugin: 3 per 10 s.
    let strict = [
        "/sign-in",
        "/sign-up",
        "/change-password",
        "/change-email",
        "/two-factor/",
    ];
    let mail = [
        "/request-password-reset",
        "/send-verification-email",
        "/forget-password",
    ];
    if mail.iter().any(|p| path.starts_with(p)) {
        Rule {
            window: LONGEST_WINDOW,
            max: 3,
        }
    } else if strict.iter().any(|p| path.starts_with(p)) {
        Rule {
            window: Duration::from_secs(10),
            max: 3,
        }
    } else {
        Rule {
            window: Duration::from_secs(10),
            max: 100,
        }
    }
}

/// What the memory table holds and has done (for tests, and to prove it stays bounded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Live windows (keys) in the table.
    pub keys: usize,
    /// Entries in the expiry queue (live windows plus restarted ones not yet dropped).
    pub queued: usize,
    /// Hits counted.
    pub hits: u64,
    /// Windows dropped because they were over.
    pub expired: u64,
    /// Windows evicted because the table was full.
    pub evicted: u64,
    /// Table operations done in all (one lookup per hit plus every queue entry popped): stays
    /// under a small constant times `hits`, which is what keeps a hit's cost flat.
    pub work: u64,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    count: u32,
    /// Which queue entry is this window's (older entries for the same key are stale).
    generation: u64,
}

/// The bounded in-memory table.
#[derive(Debug)]
struct Table {
    windows: HashMap<Arc<str>, Window>,
    order: VecDeque<(Arc<str>, Instant, u64)>,
    capacity: usize,
    next_generation: u64,
    stats: MemoryStats,
}

impl Table {
    fn new(capacity: usize) -> Table {
        Table {
            windows: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            next_generation: 0,
            stats: MemoryStats::default(),
        }
    }

    /// Pops the oldest queue entry; removes its window if the entry is the window's current one.
    /// Returns whether a live window was removed.
    fn pop_oldest(&mut self) -> Option<bool> {
        let (key, _, generation) = self.order.pop_front()?;
        self.stats.work += 1;
        let live = self
            .windows
            .get(&key)
            .is_some_and(|w| w.generation == generation);
        if live {
            self.windows.remove(&key);
        }
        Some(live)
    }

    fn push(&mut self, key: Arc<str>, now: Instant) -> u64 {
        let generation = self.next_generation;
        self.next_generation += 1;
        self.order.push_back((key, now, generation));
        generation
    }

    fn hit(&mut self, key: &str, rule: Rule, now: Instant) -> Result<(), u64> {
        self.stats.hits += 1;
        self.stats.work += 1;
        // Drop windows that are over for every rule.
        while self
            .order
            .front()
            .is_some_and(|(_, start, _)| now.saturating_duration_since(*start) >= LONGEST_WINDOW)
        {
            if self.pop_oldest() == Some(true) {
                self.stats.expired += 1;
            }
        }
        let restart = match self.windows.get_key_value(key) {
            Some((k, w)) if now.saturating_duration_since(w.start) >= rule.window => {
                Some(k.clone())
            }
            Some(_) => None,
            None => {
                while self.windows.len() >= self.capacity {
                    match self.pop_oldest() {
                        Some(true) => self.stats.evicted += 1,
                        Some(false) => {}
                        None => break,
                    }
                }
                let key: Arc<str> = Arc::from(key);
                let generation = self.push(key.clone(), now);
                self.windows.insert(
                    key,
                    Window {
                        start: now,
                        count: 0,
                        generation,
                    },
                );
                None
            }
        };
        if let Some(key) = restart {
            let generation = self.push(key.clone(), now);
            self.windows.insert(
                key,
                Window {
                    start: now,
                    count: 0,
                    generation,
                },
            );
        }
        // Restarted windows leave stale entries behind; keep the queue bounded too.
        while self.order.len() > 2 * self.capacity {
            if self.pop_oldest() == Some(true) {
                self.stats.evicted += 1;
            }
        }
        let Some(window) = self.windows.get_mut(key) else {
            return Ok(());
        };
        if window.count >= rule.max {
            let left = rule
                .window
                .saturating_sub(now.saturating_duration_since(window.start));
            return Err(
                left.as_secs().max(1) + u64::from(left.subsec_nanos() > 0 && left.as_secs() > 0)
            );
        }
        window.count += 1;
        Ok(())
    }

    fn stats(&self) -> MemoryStats {
        MemoryStats {
            keys: self.windows.len(),
            queued: self.order.len(),
            ..self.stats
        }
    }
}

/// Where counters live.
enum Backend {
    /// This process only.
    Memory,
    /// Shared through Redis (the memory table counts while Redis does not answer).
    #[cfg(feature = "redis")]
    Redis(redis::aio::ConnectionManager),
}

/// Fixed-window rate limiter.
pub struct RateLimiter {
    backend: Backend,
    table: Mutex<Table>,
    redis_down: std::sync::atomic::AtomicBool,
    redis_fallbacks: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.backend {
            Backend::Memory => "memory",
            #[cfg(feature = "redis")]
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("RateLimiter")
            .field("backend", &kind)
            .finish()
    }
}

/// How long a request waits for Redis before it is counted in memory instead.
#[cfg(feature = "redis")]
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

impl RateLimiter {
    fn with(backend: Backend, capacity: usize) -> RateLimiter {
        RateLimiter {
            backend,
            table: Mutex::new(Table::new(capacity)),
            redis_down: std::sync::atomic::AtomicBool::new(false),
            redis_fallbacks: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// In-memory counters ([`DEFAULT_CAPACITY`] windows at most).
    pub fn memory() -> RateLimiter {
        RateLimiter::memory_with_capacity(DEFAULT_CAPACITY)
    }

    /// In-memory counters, at most `capacity` windows.
    pub fn memory_with_capacity(capacity: usize) -> RateLimiter {
        RateLimiter::with(Backend::Memory, capacity)
    }

    /// Counters in Redis (in memory while Redis does not answer).
    #[cfg(feature = "redis")]
    pub fn redis(connection: redis::aio::ConnectionManager) -> RateLimiter {
        RateLimiter::with(Backend::Redis(connection), DEFAULT_CAPACITY)
    }

    /// The memory table's size and work so far.
    pub fn memory_stats(&self) -> MemoryStats {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats()
    }

    /// Requests counted in memory because Redis did not answer.
    pub fn redis_fallbacks(&self) -> u64 {
        self.redis_fallbacks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn hit_memory(&self, key: &str, rule: Rule, now: Instant) -> Result<(), u64> {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hit(key, rule, now)
    }

    /// Counts a request for `key` under `rule`; `Err(seconds)` when over the limit.
    pub async fn hit(&self, key: &str, rule: Rule) -> Result<(), u64> {
        self.hit_at(key, rule, Instant::now()).await
    }

    /// [`RateLimiter::hit`] at a given instant (the memory table's clock; Redis keeps its own).
    pub async fn hit_at(&self, key: &str, rule: Rule, now: Instant) -> Result<(), u64> {
        match &self.backend {
            Backend::Memory => self.hit_memory(key, rule, now),
            #[cfg(feature = "redis")]
            Backend::Redis(conn) => match self.hit_redis(conn, key, rule).await {
                Ok(answer) => {
                    if self
                        .redis_down
                        .swap(false, std::sync::atomic::Ordering::Relaxed)
                    {
                        tracing::info!(target: "sigil::auth", "rate limiter: Redis answers again; counting there");
                    }
                    answer
                }
                Err(error) => {
                    if !self
                        .redis_down
                        .swap(true, std::sync::atomic::Ordering::Relaxed)
                    {
                        tracing::warn!(target: "sigil::auth", %error, "rate limiter: Redis does not answer; counting in this process's memory until it does (limits are per instance meanwhile)");
                    }
                    self.redis_fallbacks
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.hit_memory(key, rule, now)
                }
            },
        }
    }

    #[cfg(feature = "redis")]
    async fn hit_redis(
        &self,
        conn: &redis::aio::ConnectionManager,
        key: &str,
        rule: Rule,
    ) -> Result<Result<(), u64>, String> {
        // INCR, and start the window on the first hit; atomic in one script.
        let script = redis::Script::new(
            "local n = redis.call('INCR', KEYS[1]) \
             if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
             return {n, redis.call('PTTL', KEYS[1])}",
        );
        let window_ms = u64::try_from(rule.window.as_millis()).unwrap_or(u64::MAX);
        let mut conn = conn.clone();
        let mut invocation = script.key(format!("sigil:rl:{key}"));
        invocation.arg(window_ms);
        let call = invocation.invoke_async::<(i64, i64)>(&mut conn);
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok((count, ttl_ms))) if count > i64::from(rule.max) => {
                Ok(Err(u64::try_from(ttl_ms)
                    .unwrap_or(0)
                    .div_ceil(1000)
                    .max(1)))
            }
            Ok(Ok(_)) => Ok(Ok(())),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {REDIS_TIMEOUT:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_follow_better_auth() {
        assert_eq!(rule_for("/sign-in/email").max, 3);
        assert_eq!(rule_for("/sign-up/email").window, Duration::from_secs(10));
        assert_eq!(
            rule_for("/request-password-reset").window,
            Duration::from_secs(60)
        );
        assert_eq!(rule_for("/get-session").max, 100);
    }

    const STRICT: Rule = Rule {
        window: Duration::from_secs(10),
        max: 3,
    };

    #[tokio::test]
    async fn memory_limiter_refuses_after_max() {
        let limiter = RateLimiter::memory();
        for _ in 0..3 {
            assert!(limiter.hit("ip|/sign-in/email", STRICT).await.is_ok());
        }
        let retry = limiter.hit("ip|/sign-in/email", STRICT).await.unwrap_err();
        assert!((1..=10).contains(&retry));
        assert!(limiter.hit("other|/sign-in/email", STRICT).await.is_ok());
    }

    #[test]
    fn windows_restart_and_expire_on_the_injected_clock() {
        let mut table = Table::new(10);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(table.hit("a", STRICT, t0).is_ok());
        }
        assert_eq!(table.hit("a", STRICT, t0 + Duration::from_secs(9)), Err(1));
        // A new window after 10 s.
        assert!(table.hit("a", STRICT, t0 + Duration::from_secs(10)).is_ok());
        assert_eq!(table.stats().keys, 1);
        // Past the longest window every entry is dropped by the next hit.
        assert!(table.hit("b", STRICT, t0 + Duration::from_secs(75)).is_ok());
        let stats = table.stats();
        assert_eq!((stats.keys, stats.queued, stats.expired), (1, 1, 1));
    }

    #[test]
    fn a_million_distinct_keys_keep_the_table_bounded_and_each_hit_cheap() {
        let capacity = 1_000;
        let mut table = Table::new(capacity);
        let t0 = Instant::now();
        let mut work_per_block = Vec::new();
        let mut last_work = 0;
        for i in 0..1_000_000u32 {
            // A few keys restart their windows, which leaves stale queue entries behind.
            let now = t0 + Duration::from_millis(u64::from(i) / 10);
            assert!(table.hit(&format!("10.0.0.1|/x/{i}"), STRICT, now).is_ok());
            if i % 7 == 0 {
                let _ = table.hit("10.0.0.2|/sign-in/email", STRICT, now);
            }
            let stats = table.stats();
            assert!(stats.keys <= capacity, "{stats:?}");
            assert!(stats.queued <= 2 * capacity, "{stats:?}");
            if i % 100_000 == 99_999 {
                work_per_block.push(stats.work - last_work);
                last_work = stats.work;
            }
        }
        let stats = table.stats();
        // Every hit costs a bounded number of table operations: no sweep that grows with n.
        assert!(stats.work <= 4 * stats.hits, "{stats:?}");
        // And the cost of the last 100,000 hits is that of the first 100,000 (within 5 %).
        let (first, last) = (work_per_block[0], work_per_block[9]);
        assert!(
            last.abs_diff(first) * 20 <= first,
            "work per 100,000 hits: {work_per_block:?}"
        );
        assert!(stats.evicted + stats.expired >= 1_000_000 - capacity as u64);
    }

    #[test]
    fn a_full_table_evicts_the_oldest_window() {
        let mut table = Table::new(2);
        let t0 = Instant::now();
        for _ in 0..3 {
            table.hit("old", STRICT, t0).unwrap();
        }
        table.hit("b", STRICT, t0).unwrap();
        table.hit("c", STRICT, t0).unwrap();
        // "old" was evicted to make room: it starts over.
        assert_eq!(table.stats().evicted, 1);
        assert!(table.hit("old", STRICT, t0).is_ok());
    }
}
