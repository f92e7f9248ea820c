//! Telling every instance that sessions ended, so that guards everywhere refuse their JWTs.
//!
//! Each ended session is (1) put on this process's [`SessionDenyList`], (2) recorded in the
//! database's `revoked_sessions` table under a commit-ordered position, which other instances on
//! the same database read by position every poll interval (2 s by default), and (3) with Redis
//! configured, published in the background on the `sigil:revoked` channel and kept under
//! `sigil:revoked:<sid>` until its tokens have expired — the fast path, which also reaches API
//! processes that do not share the identity database (`sigil serve-api` with `SIGIL_REDIS_URL`).
//! The answer to a sign-out waits for (1) and (2) only.
//!
//! The other side, following these records, is `sigil_guard::feed` (used by the binary and by
//! the Python guard alike).

use async_trait::async_trait;
use sigil_guard::SessionDenyList;
#[cfg(feature = "redis")]
use sigil_guard::clock::{SharedClock, SystemClock};
use std::sync::Arc;

/// Publishes revocations to other processes.
#[async_trait]
pub trait RevocationPublisher: Send + Sync + 'static {
    /// Announces that `session_ids` are revoked until `until` (Unix seconds).
    async fn publish(&self, session_ids: &[String], until: u64);
}

/// Redis channel carrying `<session id> <until>` messages (followed by
/// `sigil_guard::feed::follow_redis`).
pub const CHANNEL: &str = sigil_guard::feed::REDIS_CHANNEL;
const KEY_PREFIX: &str = sigil_guard::feed::REDIS_KEY_PREFIX;

/// Redis-backed revocation broadcast.
#[cfg(feature = "redis")]
#[derive(Clone)]
pub struct RedisRevocations {
    connection: redis::aio::ConnectionManager,
    clock: SharedClock,
}

#[cfg(feature = "redis")]
impl std::fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisRevocations")
    }
}

#[cfg(feature = "redis")]
impl RedisRevocations {
    /// A publisher over an open connection.
    pub fn new(connection: redis::aio::ConnectionManager) -> RedisRevocations {
        RedisRevocations {
            connection,
            clock: SystemClock::shared(),
        }
    }

    /// Computes key lifetimes with `clock` (the system clock by default).
    pub fn with_clock(self, clock: SharedClock) -> RedisRevocations {
        RedisRevocations { clock, ..self }
    }
}

#[cfg(feature = "redis")]
#[async_trait]
impl RevocationPublisher for RedisRevocations {
    async fn publish(&self, session_ids: &[String], until: u64) {
        let now = self.clock.now_unix();
        let ttl = until.saturating_sub(now).max(1);
        let mut pipe = redis::pipe();
        for id in session_ids {
            pipe.cmd("SET")
                .arg(format!("{KEY_PREFIX}{id}"))
                .arg(until)
                .arg("EX")
                .arg(ttl)
                .ignore();
            pipe.cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(format!("{id} {until}"))
                .ignore();
        }
        let mut connection = self.connection.clone();
        if let Err(error) = pipe.query_async::<()>(&mut connection).await {
            // The database record still reaches instances on the same database.
            tracing::warn!(target: "sigil::auth", %error, "could not publish revocations to Redis");
        }
    }
}

/// Records revocations locally and, when configured, announces them.
#[derive(Clone)]
pub struct Revocations {
    deny_list: Arc<SessionDenyList>,
    publisher: Option<Arc<dyn RevocationPublisher>>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations")
            .field("published", &self.publisher.is_some())
            .finish()
    }
}

impl Revocations {
    /// Local deny-list plus an optional publisher.
    pub fn new(
        deny_list: Arc<SessionDenyList>,
        publisher: Option<Arc<dyn RevocationPublisher>>,
    ) -> Revocations {
        Revocations {
            deny_list,
            publisher,
        }
    }

    /// The local deny-list.
    pub fn deny_list(&self) -> &Arc<SessionDenyList> {
        &self.deny_list
    }

    /// Lists `session_ids` in this process's deny-list.
    pub fn list_here(&self, session_ids: &[String], until: u64) {
        for id in session_ids {
            self.deny_list.insert(id, until);
        }
    }

    /// Announces `session_ids` to other processes in the background (at most
    /// [`PUBLISH_TIMEOUT`]); never waits for it. A failed announcement is logged; instances on
    /// the same database still learn the revocation from its row.
    pub fn announce(&self, session_ids: Vec<String>, until: u64) {
        let Some(publisher) = self.publisher.clone() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let published =
                tokio::time::timeout(PUBLISH_TIMEOUT, publisher.publish(&session_ids, until)).await;
            if published.is_err() {
                tracing::warn!(target: "sigil::auth", "publishing revocations to Redis timed out; instances on the database still learn them by polling it");
            }
        });
    }

    /// Lists `session_ids` here and announces them (in the background).
    pub fn revoke(&self, session_ids: &[String], until: u64) {
        self.list_here(session_ids, until);
        self.announce(session_ids.to_vec(), until);
    }
}

/// How long a background announcement may take before it is given up.
pub const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
