//! Per-account sign-in throttling: a soft lock with a growing delay after repeated failures,
//! which a stranger can never turn into a lockout of the account's owner.
//!
//! The per-IP rate limit ([`crate::ratelimit`]) does nothing against an attacker who spreads
//! guesses for one account over many addresses. This module counts failed sign-ins per account
//! (the normalised email, whether or not an account exists, so the throttle's answers reveal
//! nothing about which emails are registered) and, after [`ThrottlePolicy::free_failures`]
//! failures, makes further attempts wait: 1 s, then 2 s, 4 s, … up to
//! [`ThrottlePolicy::max_delay`] (15 minutes). A refused attempt is answered 429 with
//! `X-Retry-After` before any password is hashed, and does not itself extend the lock.
//!
//! **Why a stranger cannot lock the owner out.** Failures are counted in buckets: one shared by
//! every address that has never signed in to the account successfully ("strangers"), and one per
//! address that has (the last [`ThrottlePolicy::known_addresses`] such addresses, remembered for
//! [`ThrottlePolicy::known_for`]). An attempt is judged only by its own bucket, so guesses from a
//! botnet lock out the botnet (and other new devices, for at most `max_delay` per attempt), while
//! the owner's usual addresses keep signing in at once. A known address that itself keeps failing
//! is throttled on its own schedule. Signing up makes the address known too, and so does
//! completing a password reset, so the emailed link is a way in for a new device during an
//! attack. The hash queue serves known addresses first ([`crate::password`]). Counters are
//! forgotten [`ThrottlePolicy::forget_after`] after the last failure; a success resets only the
//! bucket of the address it came from.
//!
//! Addresses are compared as the hash queue's lanes are: IPv6 by /64 (a device's privacy
//! addresses change within its network's /64). Time comes from the injected [`SharedClock`];
//! state lives in this process's memory, bounded
//! by [`ThrottlePolicy::max_accounts`] (oldest entry evicted first).

use crate::password::client_key;
use sigil_guard::clock::SharedClock;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How the throttle counts and delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed (per bucket) before attempts must wait.
    pub free_failures: u32,
    /// The wait after the first failure past `free_failures`; it doubles with each further one.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// A bucket's failures are forgotten this long after its last failure.
    pub forget_after: Duration,
    /// How many addresses per account are remembered as having signed in successfully.
    pub known_addresses: usize,
    /// How long an address stays known after its last successful sign-in.
    pub known_for: Duration,
    /// Accounts tracked at most (each costs a few hundred bytes).
    pub max_accounts: usize,
}

impl Default for ThrottlePolicy {
    /// 5 free failures, then 1 s doubling up to 15 min (Keycloak's maximum wait); forgotten after
    /// a day without failure; 8 known addresses per account for 30 days; 100,000 accounts.
    fn default() -> Self {
        ThrottlePolicy {
            free_failures: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(24 * 3600),
            known_addresses: 8,
            known_for: Duration::from_secs(30 * 24 * 3600),
            max_accounts: 100_000,
        }
    }
}

impl ThrottlePolicy {
    /// The wait imposed after `failures` consecutive failures (zero while they are free).
    pub fn delay_after(&self, failures: u32) -> Duration {
        if failures < self.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_failures).min(31);
        self.first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// How the throttle sees the address of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The address has signed in to this account successfully before.
    Known,
    /// Any other address.
    Stranger,
}

/// Failures counted for one bucket.
#[derive(Clone, Copy, Debug, Default)]
struct Backoff {
    failures: u32,
    last_failure_ms: i64,
    locked_until_ms: i64,
}

impl Backoff {
    fn forget_if_stale(&mut self, now: i64, policy: &ThrottlePolicy) {
        if self.failures > 0 && now.saturating_sub(self.last_failure_ms) >= ms(policy.forget_after)
        {
            *self = Backoff::default();
        }
    }

    /// Seconds to wait, if locked.
    fn wait(&self, now: i64, policy: &ThrottlePolicy) -> Option<u64> {
        let mut current = *self;
        current.forget_if_stale(now, policy);
        let left = current.locked_until_ms.saturating_sub(now);
        (left > 0).then(|| u64::try_from(left).unwrap_or(0).div_ceil(1000).max(1))
    }

    fn fail(&mut self, now: i64, policy: &ThrottlePolicy) {
        self.forget_if_stale(now, policy);
        self.failures = self.failures.saturating_add(1);
        self.last_failure_ms = now;
        let delay = policy.delay_after(self.failures);
        if !delay.is_zero() {
            self.locked_until_ms = now.saturating_add(ms(delay));
        }
    }
}

#[derive(Debug)]
struct KnownAddress {
    ip: String,
    last_success_ms: i64,
    backoff: Backoff,
}

#[derive(Debug, Default)]
struct Account {
    strangers: Backoff,
    known: Vec<KnownAddress>,
}

impl Account {
    fn known_index(&self, ip: &str, now: i64, policy: &ThrottlePolicy) -> Option<usize> {
        self.known.iter().position(|k| {
            k.ip == ip && now.saturating_sub(k.last_success_ms) < ms(policy.known_for)
        })
    }
}

#[derive(Debug, Default)]
struct Table {
    accounts: HashMap<String, Account>,
    /// Insertion order, for eviction in O(1).
    order: VecDeque<String>,
}

impl Table {
    fn entry(&mut self, account: &str, policy: &ThrottlePolicy) -> &mut Account {
        if !self.accounts.contains_key(account) {
            while self.accounts.len() >= policy.max_accounts.max(1) {
                match self.order.pop_front() {
                    Some(oldest) => {
                        self.accounts.remove(&oldest);
                    }
                    None => break,
                }
            }
            self.order.push_back(account.to_owned());
        }
        self.accounts.entry(account.to_owned()).or_default()
    }
}

/// Per-account sign-in throttle (see the module documentation).
pub struct AccountThrottle {
    policy: ThrottlePolicy,
    clock: SharedClock,
    table: Mutex<Table>,
}

impl std::fmt::Debug for AccountThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountThrottle")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl AccountThrottle {
    /// A throttle with `policy`, reading time from `clock`.
    pub fn new(policy: ThrottlePolicy, clock: SharedClock) -> AccountThrottle {
        AccountThrottle {
            policy,
            clock,
            table: Mutex::new(Table::default()),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> ThrottlePolicy {
        self.policy
    }

    /// Whether an attempt on `account` from `ip` may proceed now: its standing, or
    /// `Err(seconds to wait)`.
    pub fn check(&self, account: &str, ip: &str) -> Result<Standing, u64> {
        let ip = &client_key(ip);
        let now = self.clock.now_ms();
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = table.accounts.get(account) else {
            return Ok(Standing::Stranger);
        };
        let (standing, backoff) = match entry.known_index(ip, now, &self.policy) {
            Some(i) => (Standing::Known, &entry.known[i].backoff),
            None => (Standing::Stranger, &entry.strangers),
        };
        match backoff.wait(now, &self.policy) {
            Some(secs) => Err(secs),
            None => Ok(standing),
        }
    }

    /// Records a failed attempt (wrong password, or no such account) on `account` from `ip`.
    pub fn failed(&self, account: &str, ip: &str) {
        let ip = &client_key(ip);
        let now = self.clock.now_ms();
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = table.entry(account, &self.policy);
        match entry.known_index(ip, now, &self.policy) {
            Some(i) => entry.known[i].backoff.fail(now, &self.policy),
            None => entry.strangers.fail(now, &self.policy),
        }
    }

    /// Records that `ip` proved knowledge of `account`'s password (or completed a password reset):
    /// the address becomes known, with a clean record. Strangers' failures are kept.
    pub fn succeeded(&self, account: &str, ip: &str) {
        let ip = &client_key(ip);
        let now = self.clock.now_ms();
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let policy = self.policy;
        let entry = table.entry(account, &policy);
        if let Some(k) = entry.known.iter_mut().find(|k| &k.ip == ip) {
            k.last_success_ms = now;
            k.backoff = Backoff::default();
            return;
        }
        if entry.known.len() >= policy.known_addresses.max(1)
            && let Some(oldest) = entry
                .known
                .iter()
                .enumerate()
                .min_by_key(|(_, k)| k.last_success_ms)
                .map(|(i, _)| i)
        {
            entry.known.swap_remove(oldest);
        }
        entry.known.push(KnownAddress {
            ip: ip.to_owned(),
            last_success_ms: now,
            backoff: Backoff::default(),
        });
    }

    /// How many accounts are tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .accounts
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_guard::clock::ManualClock;

    fn throttle() -> (AccountThrottle, ManualClock) {
        let clock = ManualClock::at_ms(1_000_000_000);
        (
            AccountThrottle::new(ThrottlePolicy::default(), clock.shared()),
            clock,
        )
    }

    #[test]
    fn delays_grow_from_one_second_and_are_capped() {
        let p = ThrottlePolicy::default();
        let delays: Vec<u64> = (0..20).map(|n| p.delay_after(n).as_secs()).collect();
        assert_eq!(
            delays,
            [
                0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900
            ]
        );
        assert_eq!(p.delay_after(u32::MAX), p.max_delay);
    }

    #[test]
    fn strangers_are_locked_and_known_addresses_are_not() {
        let (t, clock) = throttle();
        t.succeeded("a@x", "10.0.0.1");
        for i in 0..5 {
            assert_eq!(
                t.check("a@x", &format!("203.0.113.{i}")),
                Ok(Standing::Stranger)
            );
            t.failed("a@x", &format!("203.0.113.{i}"));
        }
        assert_eq!(t.check("a@x", "198.51.100.7"), Err(1));
        assert_eq!(t.check("a@x", "10.0.0.1"), Ok(Standing::Known));
        clock.advance(Duration::from_secs(1));
        assert_eq!(t.check("a@x", "198.51.100.7"), Ok(Standing::Stranger));
        t.failed("a@x", "198.51.100.7");
        assert_eq!(t.check("a@x", "198.51.100.8"), Err(2));
        // A day without failures: forgotten.
        clock.advance(Duration::from_secs(24 * 3600));
        assert_eq!(t.check("a@x", "198.51.100.8"), Ok(Standing::Stranger));
    }

    #[test]
    fn a_known_address_that_keeps_failing_is_throttled_on_its_own() {
        let (t, _clock) = throttle();
        t.succeeded("b@x", "10.0.0.1");
        for _ in 0..5 {
            t.failed("b@x", "10.0.0.1");
        }
        assert_eq!(t.check("b@x", "10.0.0.1"), Err(1));
        // Strangers were not charged for it.
        assert_eq!(t.check("b@x", "203.0.113.1"), Ok(Standing::Stranger));
        // A success from that address clears its record, not the strangers'.
        t.failed("b@x", "203.0.113.1");
        t.succeeded("b@x", "10.0.0.1");
        assert_eq!(t.check("b@x", "10.0.0.1"), Ok(Standing::Known));
    }

    #[test]
    fn known_addresses_are_bounded_and_expire() {
        let (t, clock) = throttle();
        for i in 0..9 {
            t.succeeded("c@x", &format!("10.0.0.{i}"));
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(t.check("c@x", "10.0.0.0"), Ok(Standing::Stranger));
        assert_eq!(t.check("c@x", "10.0.0.8"), Ok(Standing::Known));
        clock.advance(Duration::from_secs(31 * 24 * 3600));
        assert_eq!(t.check("c@x", "10.0.0.8"), Ok(Standing::Stranger));
    }

    #[test]
    fn ipv6_addresses_are_known_by_their_64() {
        let (t, _clock) = throttle();
        t.succeeded("d@x", "2001:db8:1:2::10");
        assert_eq!(t.check("d@x", "2001:db8:1:2:aaaa::1"), Ok(Standing::Known));
        assert_eq!(t.check("d@x", "2001:db8:1:3::10"), Ok(Standing::Stranger));
    }

    #[test]
    fn the_table_is_bounded() {
        let clock = ManualClock::at_ms(0);
        let t = AccountThrottle::new(
            ThrottlePolicy {
                max_accounts: 100,
                ..ThrottlePolicy::default()
            },
            clock.shared(),
        );
        for i in 0..1000 {
            t.failed(&format!("user{i}@x"), "203.0.113.1");
        }
        assert_eq!(t.tracked(), 100);
        // The newest survive.
        for _ in 0..4 {
            t.failed("user999@x", "203.0.113.1");
        }
        assert!(t.check("user999@x", "203.0.113.2").is_err());
    }
}
