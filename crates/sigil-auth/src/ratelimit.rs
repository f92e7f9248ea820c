//! Request rate limits with Better Auth's defaults: 100 requests per 10 s per client and path;
//! 3 per 10 s on `/sign-in`, `/sign-up`, `/change-password`, `/change-email`; 3 per 60 s on the
//! mail-sending endpoints. Over the limit: 429 with `X-Retry-After`.
//!
//! Counters are fixed windows keyed by client IP and path, kept in memory (one process) or in
//! Redis (`SIGIL_REDIS_URL`, shared by every instance behind a load balancer).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A limit: at most `max` requests per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Window length.
    pub window: Duration,
    /// Requests allowed per window.
    pub max: u32,
}

/// The rule for a path relative to `/api/auth`.
pub fn rule_for(path: &str) -> Rule {
    let strict = ["/sign-in", "/sign-up", "/change-password", "/change-email"];
    let mail = [
        "/request-password-reset",
        "/send-verification-email",
        "/forget-password",
    ];
    if mail.iter().any(|p| path.starts_with(p)) {
        Rule {
            window: Duration::from_secs(60),
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

/// Where counters live.
enum Backend {
    /// This process only.
    Memory(Mutex<HashMap<String, (Instant, u32)>>),
    /// Shared through Redis; in this process's memory while Redis does not answer.
    #[cfg(feature = "redis")]
    Redis {
        connection: redis::aio::ConnectionManager,
        fallback: Box<RateLimiter>,
        /// Until when Redis is skipped after a failure (so an outage costs one slow call per
        /// [`REDIS_RETRY_AFTER`], not one per request).
        down_until: Mutex<Option<Instant>>,
    },
}

/// How long the limiter counts in memory after Redis failed before trying Redis again.
#[cfg(feature = "redis")]
pub const REDIS_RETRY_AFTER: Duration = Duration::from_secs(2);

/// The longest a Redis call may hold up a request (the connection's own timeouts come first).
#[cfg(feature = "redis")]
const REDIS_CALL_LIMIT: Duration = Duration::from_secs(1);

/// Fixed-window rate limiter.
pub struct RateLimiter {
    backend: Backend,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.backend {
            Backend::Memory(_) => "memory",
            #[cfg(feature = "redis")]
            Backend::Redis { .. } => "redis",
        };
        f.debug_struct("RateLimiter")
            .field("backend", &kind)
            .finish()
    }
}

const MAX_MEMORY_KEYS: usize = 100_000;

impl RateLimiter {
    /// In-memory counters.
    pub fn memory() -> RateLimiter {
        RateLimiter {
            backend: Backend::Memory(Mutex::new(HashMap::new())),
        }
    }

    /// Counters in Redis, in memory while Redis does not answer.
    #[cfg(feature = "redis")]
    pub fn redis(connection: redis::aio::ConnectionManager) -> RateLimiter {
        RateLimiter {
            backend: Backend::Redis {
                connection,
                fallback: Box::new(RateLimiter::memory()),
                down_until: Mutex::new(None),
            },
        }
    }

    /// Counts a request for `key` under `rule`; `Err(seconds)` when over the limit.
    pub async fn hit(&self, key: &str, rule: Rule) -> Result<(), u64> {
        match &self.backend {
            Backend::Memory(map) => {
                let now = Instant::now();
                let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
                if map.len() >= MAX_MEMORY_KEYS {
                    map.retain(|_, (start, _)| {
                        now.duration_since(*start) < Duration::from_secs(60)
                    });
                }
                let entry = map.entry(key.to_owned()).or_insert((now, 0));
                if now.duration_since(entry.0) >= rule.window {
                    *entry = (now, 0);
                }
                if entry.1 >= rule.max {
                    let left = rule.window.saturating_sub(now.duration_since(entry.0));
                    return Err(left.as_secs().max(1)
                        + u64::from(left.subsec_nanos() > 0 && left.as_secs() > 0));
                }
                entry.1 += 1;
                Ok(())
            }
            #[cfg(feature = "redis")]
            Backend::Redis {
                connection,
                fallback,
                down_until,
            } => {
                let skip = down_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_some_and(|until| Instant::now() < until);
                if skip {
                    return Box::pin(fallback.hit(key, rule)).await;
                }
                // INCR, and start the window on the first hit; atomic in one script.
                let script = redis::Script::new(
                    "local n = redis.call('INCR', KEYS[1]) \
                     if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
                     return {n, redis.call('PTTL', KEYS[1])}",
                );
                let window_ms = u64::try_from(rule.window.as_millis()).unwrap_or(u64::MAX);
                let mut conn = connection.clone();
                let result: Result<(i64, i64), String> = match tokio::time::timeout(
                    REDIS_CALL_LIMIT,
                    script
                        .key(format!("sigil:rl:{key}"))
                        .arg(window_ms)
                        .invoke_async(&mut conn),
                )
                .await
                {
                    Ok(Ok(answer)) => Ok(answer),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err("no answer".to_owned()),
                };
                match result {
                    Ok((count, ttl_ms)) => {
                        let was_down = down_until
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .take()
                            .is_some();
                        if was_down {
                            tracing::info!(target: "sigil::auth", "rate limiter: Redis answers again; counting there");
                        }
                        if count > i64::from(rule.max) {
                            Err(u64::try_from(ttl_ms).unwrap_or(0).div_ceil(1000).max(1))
                        } else {
                            Ok(())
                        }
                    }
                    Err(error) => {
                        // Count in this process's memory meanwhile: limits still hold per
                        // instance, and no request waits on Redis more than once per
                        // REDIS_RETRY_AFTER.
                        let first = down_until
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .replace(Instant::now() + REDIS_RETRY_AFTER)
                            .is_none();
                        if first {
                            tracing::warn!(target: "sigil::auth", %error, "rate limiter: Redis unavailable; counting in memory");
                        }
                        Box::pin(fallback.hit(key, rule)).await
                    }
                }
            }
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

    #[tokio::test]
    async fn memory_limiter_refuses_after_max() {
        let limiter = RateLimiter::memory();
        let rule = Rule {
            window: Duration::from_secs(10),
            max: 3,
        };
        for _ in 0..3 {
            assert!(limiter.hit("ip|/sign-in/email", rule).await.is_ok());
        }
        let retry = limiter.hit("ip|/sign-in/email", rule).await.unwrap_err();
        assert!((1..=10).contains(&retry));
        assert!(limiter.hit("other|/sign-in/email", rule).await.is_ok());
    }
}
