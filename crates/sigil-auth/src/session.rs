//! Sessions: creation, lookup with Better Auth's sliding expiry, and ending them everywhere.
//!
//! A session token is 32 random alphanumeric characters (≈ 190 bits); the database keeps only its
//! SHA-256, so a leaked row does not hand out a session. Ending a session deletes the row and
//! lists its id as revoked until every JWT issued from it has expired, so the tokens stop working
//! at the guards too.

use crate::config::SessionConfig;
use crate::crypto;
use crate::revocation::Revocations;
use crate::store::{AuthStore, Session, StoreResult, User};
use sigil_guard::clock::SharedClock;
use std::sync::Arc;
use std::time::Duration;

/// Who is calling, for the session record.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// Client IP (peer address, or the configured proxy header).
    pub ip: String,
    /// `User-Agent`, truncated to 512 bytes.
    pub user_agent: String,
}

/// Session operations.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn AuthStore>,
    config: SessionConfig,
    revocations: Revocations,
    /// How long a revoked session stays listed: the JWT lifetime plus verification leeway.
    revoke_for: Duration,
    clock: SharedClock,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Sessions {
    /// Session operations over `store`; ended sessions are also revoked through `revocations`.
    pub fn new(
        store: Arc<dyn AuthStore>,
        config: SessionConfig,
        revocations: Revocations,
        jwt_ttl: Duration,
        clock: SharedClock,
    ) -> Sessions {
        Sessions {
            store,
            config,
            revocations,
            revoke_for: jwt_ttl + Duration::from_secs(sigil_token::DEFAULT_LEEWAY_SECS),
            clock,
        }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The lifetimes.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// A new session for `user_id` (not yet stored) and its token.
    pub fn build(
        &self,
        user_id: &str,
        remember: bool,
        client: &ClientInfo,
    ) -> StoreResult<(Session, String)> {
        let now = self.now_ms();
        let token = sigil_token::random::alphanumeric(32)?;
        let lifetime = if remember {
            self.config.expires_in
        } else {
            self.config.short_lived
        };
        let session = Session {
            id: sigil_token::random::alphanumeric(32)?,
            token_hash: crypto::sha256_hex(&token),
            user_id: user_id.to_owned(),
            expires_at: now + ms(lifetime),
            created_at: now,
            updated_at: now,
            ip_address: client.ip.clone(),
            user_agent: client.user_agent.chars().take(512).collect(),
            remember,
        };
        Ok((session, token))
    }

    /// Creates and stores a session.
    pub async fn create(
        &self,
        user_id: &str,
        remember: bool,
        client: &ClientInfo,
    ) -> StoreResult<(Session, String)> {
        let (session, token) = self.build(user_id, remember, client)?;
        self.store.insert_session(&session).await?;
        Ok((session, token))
    }

    /// The live session for a token. An expired session is deleted and reported as absent.
    pub async fn resolve(&self, token: &str) -> StoreResult<Option<(Session, User)>> {
        if token.is_empty() || token.len() > 256 {
            return Ok(None);
        }
        let Some((session, user)) = self
            .store
            .session_by_token_hash(&crypto::sha256_hex(token))
            .await?
        else {
            return Ok(None);
        };
        let now = self.now_ms();
        // A banned user's sessions are ended when the ban is made; one that slipped in beside
        // it (a sign-in racing the ban) ends the first time it is presented.
        if session.expires_at <= now || user.is_banned_at(now) {
            self.end(vec![session.id.clone()]).await?;
            return Ok(None);
        }
        Ok(Some((session, user)))
    }

    /// Slides a remembered session forward when it was last extended more than `update_age` ago
    /// (so the row is written at most once a day, not on every request), as Better Auth's session
    /// check does on every session-authenticated route. Returns whether it moved (the caller then
    /// re-sends the session cookie and `set-auth-token`).
    ///
    /// A `rememberMe: false` session never moves: it ends one day after sign-in. Better Auth
    /// decides this from the `dont_remember` cookie, so it slides such a session to seven days
    /// when it is presented as a bearer token; Sigil keeps the choice in the session row and
    /// honours it on every path (docs/design.md, "Sessions").
    pub async fn extend_if_due(&self, session: &mut Session) -> StoreResult<bool> {
        let now = self.now_ms();
        let last_extended = session.expires_at - ms(self.config.expires_in);
        if !session.remember || now < last_extended + ms(self.config.update_age) {
            return Ok(false);
        }
        session.expires_at = now + ms(self.config.expires_in);
        session.updated_at = now;
        self.store
            .extend_session(&session.id, session.expires_at, now)
            .await?;
        Ok(true)
    }

    /// The user's live sessions, newest first.
    pub async fn list(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        self.store.sessions_of(user_id, self.now_ms()).await
    }

    /// The id of `user_id`'s session named by `handle`: its token, or the session id that
    /// `/list-sessions` gives for sessions other than the caller's. Another user's session is
    /// never found.
    pub async fn find_own(&self, user_id: &str, handle: &str) -> StoreResult<Option<String>> {
        let by_token = self
            .store
            .session_by_token_hash(&crypto::sha256_hex(handle))
            .await?
            .map(|(s, _)| s);
        let found = match by_token {
            Some(s) => Some(s),
            None if handle.len() <= 64 => self.store.session_by_id(handle).await?,
            None => None,
        };
        Ok(found.filter(|s| s.user_id == user_id).map(|s| s.id))
    }

    /// Deletes expired sessions, single-use tokens, revocations and refresh tokens.
    pub async fn purge_expired(&self) -> StoreResult<u64> {
        self.store.purge_expired(self.now_ms()).await
    }

    /// Whether the session was created within `fresh_age`.
    pub fn is_fresh(&self, session: &Session) -> bool {
        self.config.fresh_age.is_zero()
            || self.now_ms() - session.created_at <= ms(self.config.fresh_age)
    }

    /// Ends sessions: their JWTs are refused from now on, here at once and in every other
    /// process within its revocation poll interval.
    ///
    /// The order is what makes the answer a promise: this process's deny-list first; then the
    /// database, where the revocation row and the session deletion are one transaction (an error
    /// here is answered as an error, and nothing is half done); then, in the background and
    /// never awaited, the Redis announcement — a fast path only, since every instance also reads
    /// the database's revocation rows by position, so a lost publish is never a lost revocation.
    pub async fn end(&self, session_ids: Vec<String>) -> StoreResult<()> {
        if session_ids.is_empty() {
            return Ok(());
        }
        let now = self.now_ms();
        let until = now + ms(self.revoke_for);
        let until_secs = u64::try_from(until / 1000 + 1).unwrap_or(u64::MAX);
        self.revocations.list_here(&session_ids, until_secs);
        let recorded = self.store.end_sessions(&session_ids, until, now).await;
        // Announced even when the database failed: the other instances that hear it refuse the
        // tokens too, which is the safe direction.
        self.revocations.announce(session_ids, until_secs);
        recorded
    }

    /// Ends one session.
    pub async fn end_one(&self, session_id: &str) -> StoreResult<()> {
        self.end(vec![session_id.to_owned()]).await
    }

    /// Ends every session of a user except `keep`. The sessions are revoked before they are
    /// deleted (see [`Sessions::end`]); one created meanwhile is deleted, then revoked.
    pub async fn end_all_of(&self, user_id: &str, keep: Option<&str>) -> StoreResult<Vec<String>> {
        let mut ids: Vec<String> = self
            .store
            .sessions_of(user_id, i64::MIN)
            .await?
            .into_iter()
            .map(|s| s.id)
            .filter(|id| Some(id.as_str()) != keep)
            .collect();
        self.end(ids.clone()).await?;
        let late = self.store.delete_sessions_of(user_id, keep).await?;
        if !late.is_empty() {
            self.end(late.clone()).await?;
            ids.extend(late);
        }
        Ok(ids)
    }
}
