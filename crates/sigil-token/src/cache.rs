//! A bounded cache of verified tokens, so a hot token costs a hash lookup instead of a
//! signature check.
//!
//! Entries are keyed by the SHA-256 of the exact token bytes and hold the claims that passed
//! every check except time; callers re-run [`crate::Validation::check_time`] on each hit, and an
//! entry is never served after its `exp`. The cache belongs to one key set: when keys change,
//! the owner drops or [`VerifiedCache::clear`]s it, so a cached token never outlives its key.
//! Only successfully verified tokens are inserted, so a forged token can never be served from it.

use crate::claims::Claims;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

const SHARDS: usize = 16;

type Key = [u8; 32];

#[derive(Debug)]
struct Entry {
    claims: Arc<Claims>,
}

/// A sharded, size-bounded map from token hash to verified claims.
#[derive(Debug)]
pub struct VerifiedCache {
    shards: Vec<Mutex<HashMap<Key, Entry>>>,
    per_shard: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How many lookups a cache answered and how many it did not, since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups the cache could not answer (unknown or expired token).
    pub misses: u64,
}

impl CacheStats {
    /// Hits as a share of all lookups (0 when there were none).
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

impl std::ops::Add for CacheStats {
    type Output = CacheStats;
    fn add(self, other: CacheStats) -> CacheStats {
        CacheStats {
            hits: self.hits + other.hits,
            misses: self.misses + other.misses,
        }
    }
}

impl VerifiedCache {
    /// A cache holding at most about `capacity` tokens (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        VerifiedCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn key(token: &str) -> Key {
        Sha256::digest(token.as_bytes()).into()
    }

    fn shard(&self, key: &Key) -> &Mutex<HashMap<Key, Entry>> {
        &self.shards[usize::from(key[0]) % SHARDS]
    }

    /// The cached claims of `token`, if it was verified before and has not expired by `now`.
    pub fn get(&self, token: &str, now: u64) -> Option<Arc<Claims>> {
        let key = Self::key(token);
        let map = self
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let found = map
            .get(&key)
            .filter(|entry| now < entry.claims.exp)
            .map(|entry| entry.claims.clone());
        drop(map);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Hits and misses of [`VerifiedCache::get`] since the cache was created.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Remembers a verified token. When the shard is full, expired entries are dropped first,
    /// then an arbitrary one.
    pub fn insert(&self, token: &str, claims: Arc<Claims>, now: u64) {
        let key = Self::key(token);
        let mut map = self
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.per_shard && !map.contains_key(&key) {
            map.retain(|_, e| e.claims.exp > now);
            if map.len() >= self.per_shard
                && let Some(victim) = map.keys().next().copied()
            {
                map.remove(&victim);
            }
        }
        map.insert(key, Entry { claims });
    }

    /// Forgets everything (call when the key set changes).
    pub fn clear(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_until_exp_and_stays_bounded() {
        let cache = VerifiedCache::new(16);
        let claims = Arc::new(Claims::new("u", 0, 100));
        cache.insert("t1", claims.clone(), 10);
        assert_eq!(cache.get("t1", 99).as_deref(), Some(&*claims));
        assert!(cache.get("t1", 100).is_none());
        assert!(cache.get("t2", 10).is_none());
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 2 });
        assert!((cache.stats().hit_rate() - 1.0 / 3.0).abs() < 1e-9);
        for i in 0..1000 {
            cache.insert(&format!("tok{i}"), claims.clone(), 10);
        }
        assert!(cache.len() <= 16);
        cache.clear();
        assert!(cache.is_empty());
    }
}
