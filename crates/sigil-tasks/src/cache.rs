//! An in-memory cache of each user's task list, for deployments where this process is the only
//! writer of its tasks (the default SQLite deployment): a read is a lookup and a copy of ready
//! JSON instead of a database round trip.
//!
//! Every write goes to the database first and then invalidates the user's entry. A list read
//! from the database is cached only if no write touched its shard meanwhile (an epoch checked
//! under the shard lock), so a read racing a write can never leave a stale list behind. With
//! several processes writing one database (PostgreSQL behind a load balancer) the cache must be
//! off — the binary decides (`SIGIL_TASKS_CACHE`).

use crate::task::Task;
use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

const SHARDS: usize = 16;

/// A user's cached list and its JSON.
#[derive(Clone, Debug)]
pub(crate) struct CachedList {
    pub(crate) tasks: Arc<Vec<Task>>,
    pub(crate) json: Bytes,
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<String, CachedList>,
    epoch: u64,
}

/// Bounded, sharded per-user list cache.
#[derive(Debug)]
pub(crate) struct ListCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    hasher: RandomState,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ListCache {
    pub(crate) fn new(capacity: usize) -> ListCache {
        ListCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard(&self, user_id: &str) -> std::sync::MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(user_id) % SHARDS as u64) as usize;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached list, or the shard epoch to hand back to [`ListCache::insert`].
    /// Counted in `sigil_task_list_cache_lookups_total{result}` (`hit`, `miss`).
    pub(crate) fn get(&self, user_id: &str) -> Result<CachedList, u64> {
        let shard = self.shard(user_id);
        let found = shard.entries.get(user_id).cloned().ok_or(shard.epoch);
        drop(shard);
        let counter = if found.is_ok() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let result = if found.is_ok() { "hit" } else { "miss" };
        metrics::counter!("sigil_task_list_cache_lookups_total", "result" => result).increment(1);
        found
    }

    /// (hits, misses) of [`ListCache::get`] since the cache was created.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Caches a list read from the database, unless a write happened since `epoch`.
    pub(crate) fn insert(&self, user_id: &str, epoch: u64, list: CachedList) {
        let mut shard = self.shard(user_id);
        if shard.epoch != epoch {
            return;
        }
        if shard.entries.len() >= self.per_shard
            && !shard.entries.contains_key(user_id)
            && let Some(victim) = shard.entries.keys().next().cloned()
        {
            shard.entries.remove(&victim);
        }
        shard.entries.insert(user_id.to_owned(), list);
    }

    /// Forgets a user's list after a write.
    pub(crate) fn invalidate(&self, user_id: &str) {
        let mut shard = self.shard(user_id);
        shard.epoch += 1;
        shard.entries.remove(user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize) -> CachedList {
        CachedList {
            tasks: Arc::new(Vec::new()),
            json: Bytes::from(vec![b' '; n]),
        }
    }

    #[test]
    fn a_write_during_a_read_keeps_the_stale_list_out() {
        let cache = ListCache::new(100);
        let epoch = cache.get("u").unwrap_err();
        cache.invalidate("u"); // a write commits while the read was in flight
        cache.insert("u", epoch, list(1));
        assert!(cache.get("u").is_err(), "the racing read is not cached");
        let epoch = cache.get("u").unwrap_err();
        cache.insert("u", epoch, list(2));
        assert_eq!(cache.get("u").unwrap().json.len(), 2);
        cache.invalidate("u");
        assert!(cache.get("u").is_err());
        assert_eq!(cache.stats(), (1, 4), "one hit, four misses counted");
    }

    #[test]
    fn stays_bounded() {
        let cache = ListCache::new(32);
        for i in 0..1000 {
            let user = format!("user{i}");
            let epoch = cache.get(&user).unwrap_err();
            cache.insert(&user, epoch, list(1));
        }
        let cached = (0..1000)
            .filter(|i| cache.get(&format!("user{i}")).is_ok())
            .count();
        assert!(cached <= 32, "{cached}");
    }
}
