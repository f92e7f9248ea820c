//! Where the time comes from.
//!
//! Everything in Sigil that compares against "now" (token expiry, session expiry and sliding,
//! lockouts, rate-limit windows, key rotation) reads it from a [`Clock`] held in its state, never
//! from the system directly (clippy's `disallowed-methods` enforces it outside this module). In
//! production that is [`SystemClock`]; tests hold a [`ManualClock`] and move it forward by hours or
//! days without sleeping. Timers that must really wait (background polls, refresh loops) use tokio's
//! time, which tests pause and advance with `tokio::time::pause`/`advance`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A source of wall-clock time, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Whole seconds since the Unix epoch (what JWT `iat`/`exp`/`nbf` use).
    fn now_unix(&self) -> u64 {
        u64::try_from(self.now_ms().div_euclid(1000)).unwrap_or(0)
    }
}

/// A shared, cheaply clonable clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock as a [`SharedClock`].
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to: for tests of expiry, sliding sessions, lockouts and
/// rotations at +25 hours or +8 days without waiting. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock reading `now_ms` milliseconds since the epoch.
    pub fn at_ms(now_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now_ms)))
    }

    /// A clock starting at the system's current time.
    pub fn starting_now() -> Self {
        Self::at_ms(SystemClock.now_ms())
    }

    /// Moves the clock forward (never backward) by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `now_ms` (tests of clock steps backwards use this).
    pub fn set_ms(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    /// This clock as a [`SharedClock`] (sharing its time with `self`).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let clock = ManualClock::at_ms(1_000_000);
        let shared = clock.shared();
        assert_eq!(shared.now_ms(), 1_000_000);
        assert_eq!(shared.now_unix(), 1_000);
        clock.advance(Duration::from_secs(25 * 3600));
        assert_eq!(shared.now_ms(), 1_000_000 + 25 * 3_600_000);
        clock.set_ms(5);
        assert_eq!(shared.now_unix(), 0);
    }

    #[test]
    fn system_clock_is_after_2025() {
        assert!(SystemClock.now_unix() > 1_735_689_600);
    }
}
