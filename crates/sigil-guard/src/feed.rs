//! Revocation feeds: keep a [`SessionDenyList`] in step with the sessions the identity service
//! ended, so that a signed-out session's tokens are refused by every guard, in any process.
//!
//! Sigil records each ended session twice (see `sigil-auth`'s `revocation` module):
//!
//! * in its database, table `revoked_sessions (session_id, revoked_until, created_at)` (times in
//!   milliseconds): [`follow_database`] polls it;
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

#[cfg(any(feature = "feed-redis", feature = "feed-sql"))]
use crate::denylist::SessionDenyList;
#[cfg(any(feature = "feed-redis", feature = "feed-sql"))]
use std::sync::Arc;
use std::time::Duration;

/// Redis channel on which the identity service publishes `"<session id> <until>"` messages.
pub const REDIS_CHANNEL: &str = "sigil:revoked";

/// Prefix of the Redis keys `sigil:revoked:<session id>` holding each revocation's `until`
/// (Unix seconds), kept until the session's tokens have expired.
pub const REDIS_KEY_PREFIX: &str = "sigil:revoked:";

/// How often [`follow_database`] polls by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

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

/// Keeps `deny_list` in step with revocations published on Redis by any Sigil instance:
/// subscribes to [`REDIS_CHANNEL`], loads the current ones ([`load_redis`]; subscribing first
/// means nothing published in between is missed), then follows the channel, reconnecting after
/// failures (250 ms, doubling up to 10 s). Runs until dropped.
#[cfg(feature = "feed-redis")]
pub async fn follow_redis(client: redis::Client, deny_list: Arc<SessionDenyList>) {
    use futures_util::StreamExt;
    let mut backoff = Duration::from_millis(250);
    loop {
        let result: redis::RedisResult<()> = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(REDIS_CHANNEL).await?;
            load_redis(&client, &deny_list).await?;
            tracing::debug!(target: "sigil::guard", "following revocations on Redis");
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let payload: String = message.get_payload().unwrap_or_default();
                if let Some((id, until)) = parse_message(&payload) {
                    deny_list.insert(id, until);
                }
            }
            Ok(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(target: "sigil::guard", %error, "Redis revocation feed interrupted; reconnecting");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Opens a small pool on Sigil's database for [`follow_database`]: one connection; SQLite files
/// are opened read-only (the guard never writes the identity database).
#[cfg(feature = "feed-sql")]
pub async fn connect_database(url: &str) -> Result<sqlx::AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=ro")
    } else {
        url.to_owned()
    };
    sqlx::pool::PoolOptions::<sqlx::Any>::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
}

/// Reads the revocations recorded in Sigil's `revoked_sessions` table at or after `since_ms`
/// (0: all) into `deny_list`; returns the `since_ms` to pass next time (a few seconds before
/// this read began, so that a row committed during the query is not missed). Fails on a
/// database without the table.
#[cfg(feature = "feed-sql")]
pub async fn poll_database(
    pool: &sqlx::AnyPool,
    deny_list: &SessionDenyList,
    since_ms: i64,
) -> Result<i64, sqlx::Error> {
    use sqlx::Row;
    let started = deny_list.clock().now_ms();
    let rows = sqlx::query(
        "SELECT session_id, revoked_until FROM revoked_sessions WHERE created_at >= $1",
    )
    .bind(since_ms)
    .fetch_all(pool)
    .await?;
    for row in rows {
        let session_id: String = row.try_get(0)?;
        let until: i64 = row.try_get(1)?;
        deny_list.insert(&session_id, until_from_millis(until));
    }
    Ok(started - 5_000)
}

/// Keeps `deny_list` in step with the `revoked_sessions` table of Sigil's database, polling
/// every `interval` ([`poll_database`]). If the very first query fails (a database without
/// Sigil's identity tables, such as `serve-api`'s own) it logs once and returns; later failures
/// are logged and retried at the next tick. Runs until dropped.
#[cfg(feature = "feed-sql")]
pub async fn follow_database(
    pool: sqlx::AnyPool,
    deny_list: Arc<SessionDenyList>,
    interval: Duration,
) {
    let mut since = 0i64;
    let mut ever_worked = false;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match poll_database(&pool, &deny_list, since).await {
            Ok(next) => {
                ever_worked = true;
                since = next;
            }
            Err(error) if !ever_worked => {
                tracing::info!(target: "sigil::guard", %error, "no revocation table in this database; database revocation feed off");
                return;
            }
            Err(error) => {
                tracing::warn!(target: "sigil::guard", %error, "database revocation feed: query failed; retrying");
            }
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
}
