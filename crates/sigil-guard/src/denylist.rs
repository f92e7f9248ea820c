//! A deny-list of revoked sessions: tokens whose `sid` is listed are refused until the listed
//! time (the latest moment a token of that session can still be unexpired).
//!
//! The identity service inserts a session here when it is signed out or revoked; deployments
//! with several processes keep their lists in step from the database or Redis. Lookups take a
//! read lock and one hash probe.

use crate::clock::{SharedClock, SystemClock};
use crate::guard::RevocationCheck;
use sigil_token::Claims;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{PoisonError, RwLock};

/// Revoked session ids, each with the Unix time (seconds) until which it stays listed.
#[derive(Debug)]
pub struct SessionDenyList {
    entries: RwLock<HashMap<String, u64>>,
    clock: SharedClock,
}

impl Default for SessionDenyList {
    fn default() -> Self {
        SessionDenyList::with_clock(SystemClock::shared())
    }
}

impl SessionDenyList {
    /// An empty list on the system clock.
    pub fn new() -> SessionDenyList {
        SessionDenyList::default()
    }

    /// An empty list that reads the time from `clock`.
    pub fn with_clock(clock: SharedClock) -> SessionDenyList {
        SessionDenyList {
            entries: RwLock::default(),
            clock,
        }
    }

    /// The clock this list compares against.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Lists `session_id` until `until` (Unix seconds). Expired entries are purged as the list
    /// grows.
    pub fn insert(&self, session_id: &str, until: u64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= 1024 && entries.len().is_power_of_two() {
            let now = self.clock.now_unix();
            entries.retain(|_, until| *until > now);
        }
        let slot = entries.entry(session_id.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
    }

    /// Whether `session_id` is revoked at `now` (Unix seconds).
    pub fn contains(&self, session_id: &str, now: u64) -> bool {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(session_id)
            .is_some_and(|until| *until > now)
    }

    /// Number of entries (including not yet purged expired ones).
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RevocationCheck for SessionDenyList {
    fn is_revoked<'a>(
        &'a self,
        claims: &'a Claims,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        let revoked = claims
            .sid
            .as_deref()
            .is_some_and(|sid| self.contains(sid, self.clock.now_unix()));
        Box::pin(std::future::ready(revoked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let list = SessionDenyList::new();
        list.insert("s1", 100);
        assert!(list.contains("s1", 99));
        assert!(!list.contains("s1", 100));
        assert!(!list.contains("s2", 0));
        list.insert("s1", 50);
        assert!(
            list.contains("s1", 99),
            "a shorter revocation never shortens a longer one"
        );
    }
}
