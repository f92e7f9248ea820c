//! Revocation feeds: keep a [`SessionDenyList`] in step with the sessions the identity service
//! ended, so that a signed-out session's tokens are refused by every guard, in any process.
//!
//! Sigil records each ended session twice (see `sigil-auth`'s `revocation` module):
//!
//! * in its database, table `revoked_sessions (session_id, revoked_until, created_at, seq)` (times
//!   in milliseconds; `seq` a position given in commit order, so that a reader that has seen
//!   position `n` has seen every row below it): [`follow_database`] reads the rows after the
//!   last position it saw, retrying failures with a capped backoff, and never gives up;
//! * with Redis configured, under the key [`REDIS_KEY_PREFIX`]`<sid>` (value: the Unix second
//!   until which the session stays revoked, with a matching TTL) and as a message
//!   `"<sid> <until>"` on the channel [`REDIS_CHANNEL`]: [`follow_redis`] loads the keys, then
//!   follows the channel, so a sign-out reaches it at once.
//!
//! Both followers are futures that run until dropped (spawn them, abort the task to stop). They
//! are the one implementation used by the `sigil` binary (`serve`, `serve-api`) and by the
//! Python package (`sigil_guard`). Each sits behind a cargo feature (`feed-redis`, `feed-sql`) so
//! that a guard without revocation pulls in neither Redis nor sqlx.
//!
//! The interface is deliberately small: a follower takes its source and the deny-list, and
//! inserts `(session id, until)` pairs. How a follower tracks its position in the source is its
//! own business.
//!
//! [`FeedStatus`] says how far behind the database feed is. A guard that trusts the database as
//! its source of truth checks it ([`FreshDenyList`]): when the last successful read began more
//! than `max_lag` ago, a sign-out may have happened that this process cannot know about, and
//! tokens are refused with 503 until the feed catches up. That is what bounds the time from a
//! sign-out's answer to its refusal everywhere, whatever happened to Redis or the database.

use crate::denylist::SessionDenyList;
use crate::guard::RevocationCheck;
use sigil_token::Claims;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Redis channel on which the identity service publishes `"<session id> <until>"` messages.
pub const REDIS_CHANNEL: &str = "sigil:revoked";

/// Prefix of the Redis keys `sigil:revoked:<session id>` holding each revocation's `until`
/// (Unix seconds), kept until the session's tokens have expired.
pub const REDIS_KEY_PREFIX: &str = "sigil:revoked:";

/// How often [`follow_database`] polls by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The position to start reading the database from: every row (rows recorded before positions
/// existed have position 0).
pub const FIRST_POSITION: i64 = -1;

/// The longest pause between two attempts of a failing follower.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// How far behind the database revocation feed is, shared between the follower (which writes
/// it) and the guard (which refuses tokens while it is too far behind).
#[derive(Debug)]
pub struct FeedStatus {
    epoch: Instant,
    /// Milliseconds after `epoch` at which the last successful read began; `u64::MAX`: never.
    synced_at: AtomicU64,
    position: AtomicI64,
    failures: AtomicU64,
    max_lag: Duration,
    poll_now: tokio::sync::Notify,
}

impl FeedStatus {
    /// A feed that has not read anything yet; it is stale once its last successful read began
    /// more than `max_lag` ago.
    pub fn new(max_lag: Duration) -> FeedStatus {
        FeedStatus {
            epoch: Instant::now(),
            synced_at: AtomicU64::new(u64::MAX),
            position: AtomicI64::new(FIRST_POSITION),
            failures: AtomicU64::new(0),
            max_lag,
            poll_now: tokio::sync::Notify::new(),
        }
    }

    /// Notes a successful read that began at `started` and reached `position`.
    pub fn record_success(&self, started: Instant, position: i64) {
        let at = u64::try_from(started.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX - 1);
        let previous = self.synced_at.load(Ordering::Acquire);
        if previous == u64::MAX || at > previous {
            self.synced_at.store(at, Ordering::Release);
        }
        self.position.fetch_max(position, Ordering::AcqRel);
        self.failures.store(0, Ordering::Release);
    }

    /// Notes a failed read; returns how many failed in a row.
    pub fn record_failure(&self) -> u64 {
        self.failures.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// How long ago the last successful read began (`None`: there was none). Every revocation
    /// committed before that moment is in the deny-list.
    pub fn lag(&self) -> Option<Duration> {
        let at = self.synced_at.load(Ordering::Acquire);
        (at != u64::MAX).then(|| {
            self.epoch
                .elapsed()
                .saturating_sub(Duration::from_millis(at))
        })
    }

    /// Whether the feed is within `max_lag`.
    pub fn is_fresh(&self) -> bool {
        self.lag().is_some_and(|lag| lag <= self.max_lag)
    }

    /// The last position read.
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::Acquire)
    }

    /// Failed reads in a row.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Acquire)
    }

    /// The lag beyond which the feed is stale.
    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    /// Asks the follower to read now instead of at its next tick (after a Redis reconnection,
    /// messages published meanwhile may have been missed).
    pub fn request_poll(&self) {
        self.poll_now.notify_one();
    }
}

/// A deny-list kept by a database feed: refuses a revoked session's tokens, and every token
/// while the feed is stale ([`FeedStatus::is_fresh`]), since a sign-out may then be unknown here.
#[derive(Debug, Clone)]
pub struct FreshDenyList {
    list: Arc<SessionDenyList>,
    status: Arc<FeedStatus>,
}

impl FreshDenyList {
    /// `list`, trusted only while `status` is fresh.
    pub fn new(list: Arc<SessionDenyList>, status: Arc<FeedStatus>) -> FreshDenyList {
        FreshDenyList { list, status }
    }
}

impl RevocationCheck for FreshDenyList {
    fn is_revoked<'a>(
        &'a self,
        claims: &'a Claims,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        self.list.is_revoked(claims)
    }

    fn is_current(&self) -> bool {
        self.status.is_fresh()
    }
}

/// Parses a channel message `"<session id> <until>"`.
pub fn parse_message(payload: &str) -> Option<(&str, u64)> {
    let (id, until) = payload.split_once(' ')?;
    if id.is_empty() {
        return None;
    }
    Some((id, until.parse().ok()?))
}

/// The deny-list entry for a database row: `revoked_until` is in milliseconds; the entry lasts
/// to the end of that second.
pub fn until_from_millis(revoked_until_ms: i64) -> u64 {
    u64::try_from(revoked_until_ms / 1000 + 1).unwrap_or(0)
}

/// Loads every revocation currently recorded on Redis (`KEYS sigil:revoked:*`) into
/// `deny_list`; returns how many. [`follow_redis`] does this after each (re)subscription; call it
/// yourself to have the list complete before serving (and to check that Redis answers).
#[cfg(feature = "feed-redis")]
pub async fn load_redis(
    client: &redis::Client,
    deny_list: &SessionDenyList,
) -> redis::RedisResult<usize> {
    let mut connection = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{REDIS_KEY_PREFIX}*"))
        .query_async(&mut connection)
        .await?;
    let mut loaded = 0;
    for key in keys {
        let until: Option<u64> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut connection)
            .await?;
        if let (Some(id), Some(until)) = (key.strip_prefix(REDIS_KEY_PREFIX), until) {
            deny_list.insert(id, until);
            loaded += 1;
        }
    }
    Ok(loaded)
}

/// How long one Redis connection attempt (connect, subscribe, load) may take.
#[cfg(feature = "feed-redis")]
const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How often a Redis subscription is checked with a PING (answered within
/// `REDIS_CONNECT_TIMEOUT`, or the follower reconnects).
#[cfg(feature = "feed-redis")]
const REDIS_PING_EVERY: Duration = Duration::from_secs(5);

/// Keeps `deny_list` in step with revocations published on Redis by any Sigil instance:
/// subscribes to [`REDIS_CHANNEL`], loads the current ones ([`load_redis`]; subscribing first
/// means nothing published in between is missed), then follows the channel (checked with a PING
/// every 5 s, so a connection that silently drops packets is noticed), reconnecting after
/// failures (250 ms, doubling up to [`MAX_RETRY_DELAY`], back to 250 ms after each successful
/// subscription). Runs until dropped.
#[cfg(feature = "feed-redis")]
pub async fn follow_redis(client: redis::Client, deny_list: Arc<SessionDenyList>) {
    follow_redis_with(client, deny_list, None).await;
}

/// [`follow_redis`], which also asks the database follower behind `database` to read at once
/// after every reconnection (messages published while the subscription was down are lost on
/// Redis, not in the database).
#[cfg(feature = "feed-redis")]
pub async fn follow_redis_with(
    client: redis::Client,
    deny_list: Arc<SessionDenyList>,
    database: Option<Arc<FeedStatus>>,
) {
    use futures_util::StreamExt;
    const FIRST_DELAY: Duration = Duration::from_millis(250);
    let mut backoff = FIRST_DELAY;
    let mut connected_before = false;
    loop {
        let subscribed = tokio::time::timeout(REDIS_CONNECT_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(REDIS_CHANNEL).await?;
            load_redis(&client, &deny_list).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => {
                backoff = FIRST_DELAY;
                if connected_before {
                    tracing::info!(target: "sigil::guard", "Redis revocation feed reconnected");
                    if let Some(status) = &database {
                        status.request_poll();
                    }
                } else {
                    tracing::debug!(target: "sigil::guard", "following revocations on Redis");
                }
                connected_before = true;
                let (mut sink, mut messages) = pubsub.split();
                // A connection whose packets are dropped never ends by itself: a PING every
                // few seconds notices it, and the follower reconnects.
                let mut ping = tokio::time::interval(REDIS_PING_EVERY);
                ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ping.tick().await;
                loop {
                    tokio::select! {
                        message = messages.next() => {
                            let Some(message) = message else { break };
                            let payload: String = message.get_payload().unwrap_or_default();
                            if let Some((id, until)) = parse_message(&payload) {
                                deny_list.insert(id, until);
                            }
                        }
                        _ = ping.tick() => {
                            let answered = tokio::time::timeout(
                                REDIS_CONNECT_TIMEOUT,
                                sink.ping::<redis::Value>(),
                            )
                            .await;
                            if !matches!(answered, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                tracing::warn!(target: "sigil::guard", "Redis revocation feed interrupted; reconnecting");
            }
            Ok(Err(error)) => {
                tracing::warn!(target: "sigil::guard", %error, retry_in_ms = backoff.as_millis() as u64, "Redis revocation feed unavailable; retrying");
            }
            Err(_) => {
                tracing::warn!(target: "sigil::guard", retry_in_ms = backoff.as_millis() as u64, "Redis revocation feed: no answer within 2 s; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_RETRY_DELAY);
    }
}

/// Opens a small pool on Sigil's database for [`follow_database`]: one connection, acquired
/// within `timeout`; SQLite files are opened read-only (the guard never writes the identity
/// database).
#[cfg(feature = "feed-sql")]
pub async fn connect_database(url: &str) -> Result<sqlx::AnyPool, sqlx::Error> {
    connect_database_with(url, Duration::from_secs(5)).await
}

/// [`connect_database`] with an explicit acquire timeout. The pool connects lazily, so it can be
/// opened while the database is unreachable.
#[cfg(feature = "feed-sql")]
pub async fn connect_database_with(
    url: &str,
    timeout: Duration,
) -> Result<sqlx::AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=ro")
    } else {
        url.to_owned()
    };
    let pool = sqlx::pool::PoolOptions::<sqlx::Any>::new()
        .max_connections(1)
        .acquire_timeout(timeout)
        .connect_lazy(&url)?;
    Ok(pool)
}

/// Reads the revocations recorded in Sigil's `revoked_sessions` table after position `after`
/// ([`FIRST_POSITION`]: all) into `deny_list`; returns the last position read (`after` when
/// there was nothing new). Positions are given in commit order, so nothing committed later can
/// appear below it. Fails on a database without the table.
#[cfg(feature = "feed-sql")]
pub async fn poll_database(
    pool: &sqlx::AnyPool,
    deny_list: &SessionDenyList,
    after: i64,
) -> Result<i64, sqlx::Error> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT session_id, revoked_until, seq FROM revoked_sessions WHERE seq > $1 ORDER BY seq",
    )
    .bind(after)
    .fetch_all(pool)
    .await?;
    let mut position = after;
    for row in rows {
        let session_id: String = row.try_get(0)?;
        let until: i64 = row.try_get(1)?;
        let seq: i64 = row.try_get(2)?;
        deny_list.insert(&session_id, until_from_millis(until));
        position = position.max(seq);
    }
    Ok(position)
}

/// Keeps `deny_list` in step with the `revoked_sessions` table of Sigil's database, reading
/// every `interval` ([`poll_database`]). Runs until dropped; see [`follow_database_with`].
#[cfg(feature = "feed-sql")]
pub async fn follow_database(
    pool: sqlx::AnyPool,
    deny_list: Arc<SessionDenyList>,
    interval: Duration,
) {
    let status = Arc::new(FeedStatus::new(interval + Duration::from_secs(1)));
    follow_database_with(pool, deny_list, interval, status).await;
}

/// Keeps `deny_list` in step with the `revoked_sessions` table: reads the rows after the last
/// position every `interval` (or at once when asked through [`FeedStatus::request_poll`]), each
/// read bounded by `interval + 1 s`. A failure never stops it: it retries after 100 ms, doubling
/// up to `interval` (at most [`MAX_RETRY_DELAY`]), from the same position, and reports in
/// `status` how far behind it is. Runs until dropped.
#[cfg(feature = "feed-sql")]
pub async fn follow_database_with(
    pool: sqlx::AnyPool,
    deny_list: Arc<SessionDenyList>,
    interval: Duration,
    status: Arc<FeedStatus>,
) {
    const FIRST_DELAY: Duration = Duration::from_millis(100);
    let read_timeout = interval + Duration::from_secs(1);
    let max_delay = interval.clamp(FIRST_DELAY, MAX_RETRY_DELAY);
    let mut delay = FIRST_DELAY;
    loop {
        let started = Instant::now();
        let read = tokio::time::timeout(
            read_timeout,
            poll_database(&pool, &deny_list, status.position()),
        )
        .await;
        let wait = match read {
            Ok(Ok(position)) => {
                let failures = status.failures();
                let lag = status.lag();
                status.record_success(started, position);
                if failures > 0 {
                    tracing::info!(target: "sigil::guard", failures, lag_ms = lag.map(|l| l.as_millis() as u64), position, "database revocation feed caught up");
                }
                delay = FIRST_DELAY;
                interval
            }
            failed => {
                let failures = status.record_failure();
                let lag_ms = status.lag().map(|l| l.as_millis() as u64);
                let error = match failed {
                    Ok(Err(error)) => error.to_string(),
                    _ => format!("no answer within {} ms", read_timeout.as_millis()),
                };
                // The first failures, then one line every 30 or so: enough to see an outage
                // and its length without flooding the log.
                if failures <= 3 || failures.is_multiple_of(30) {
                    tracing::warn!(target: "sigil::guard", %error, failures, lag_ms, stale = !status.is_fresh(), "database revocation feed: read failed; retrying");
                }
                let wait = delay;
                delay = (delay * 2).min(max_delay);
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = status.poll_now.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_rows_are_read_strictly() {
        assert_eq!(
            parse_message("abc 1700000000"),
            Some(("abc", 1_700_000_000))
        );
        assert_eq!(parse_message("abc"), None);
        assert_eq!(parse_message(" 17"), None);
        assert_eq!(parse_message("abc -1"), None);
        assert_eq!(parse_message("abc 17x"), None);
        assert_eq!(until_from_millis(1_700_000_000_500), 1_700_000_001);
        assert_eq!(until_from_millis(-5_000), 0);
    }

    #[test]
    fn a_feed_is_stale_until_it_has_read_and_after_max_lag() {
        let status = FeedStatus::new(Duration::from_millis(500));
        assert!(!status.is_fresh(), "never read: stale");
        let earlier = Instant::now();
        status.record_success(earlier, 7);
        assert!(status.is_fresh());
        assert_eq!(status.position(), 7);
        status.record_success(earlier, 3);
        assert_eq!(status.position(), 7, "positions never go back");
        assert_eq!(status.record_failure(), 1);
        assert_eq!(status.record_failure(), 2);
    }
}
