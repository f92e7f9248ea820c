//! The audit log: an append-only record of security events (sign-ups, sign-ins and their
//! failures, sign-outs, revoked sessions, password and email changes, bans, role changes,
//! removals, every administrator action and every refused one).
//!
//! Each event is one row in the `audit_log` table and one structured log line (target
//! `sigil::audit`). Rows leave only through [`Audit::prune`], when older than the retention
//! setting (`SIGIL_AUDIT_RETENTION`). An entry names accounts, sessions and clients by id and
//! address; it never carries a password, token, hash or secret (its detail is built by Sigil's
//! code from fixed keys, and free text such as a ban reason is cut to [`MAX_DETAIL_TEXT`]).
//!
//! Recording never fails the operation it describes: a failed write is logged at `error` (the log
//! line with the event is written either way).
//!
//! ```ignore
//! audit.record(AuditEntry::new(AuditEvent::KeyRotated, Outcome::Success).detail("kid", kid)).await;
//! ```

use crate::session::ClientInfo;
use crate::store::{AuditQuery, AuditRow, AuthStore, StoreResult};
use sigil_guard::clock::SharedClock;
use std::sync::Arc;
use std::time::Duration;

/// Longest text kept in a detail value (characters).
pub const MAX_DETAIL_TEXT: usize = 200;
/// Most rows one read returns.
pub const MAX_READ: u32 = 1000;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    /// An account was created by sign-up.
    SignUp,
    /// A sign-in (success, or failure with its reason).
    SignIn,
    /// A session was ended by its owner signing out.
    SignOut,
    /// Sessions were ended by their owner (`/revoke-session(s)`) or an administrator.
    SessionRevoked,
    /// The password was changed by its owner.
    PasswordChanged,
    /// The password was reset through a mailed link.
    PasswordReset,
    /// A password reset was requested.
    PasswordResetRequested,
    /// The email address changed.
    EmailChanged,
    /// The email address was verified.
    EmailVerified,
    /// The account was deleted by its owner.
    UserDeleted,
    /// An administrator created an account.
    UserCreated,
    /// An administrator changed an account's profile or email.
    UserUpdated,
    /// An account was banned.
    UserBanned,
    /// A ban was lifted (by an administrator, or because it expired).
    UserUnbanned,
    /// An account's roles changed.
    RoleChanged,
    /// An administrator removed an account.
    UserRemoved,
    /// An administrator set an account's password.
    PasswordSet,
    /// A caller without the permission tried an administrator action.
    AdminDenied,
    /// Two-factor authentication was turned on (email codes, or a verified authenticator app).
    TwoFactorEnabled,
    /// Two-factor authentication was turned off.
    TwoFactorDisabled,
    /// New backup codes replaced the old ones.
    BackupCodesRegenerated,
    /// A passkey was registered.
    PasskeyAdded,
    /// A passkey was deleted by its owner.
    PasskeyRemoved,
    /// A signing key was rotated (recorded by the key service).
    KeyRotated,
    /// A signing key was retired (recorded by the key service).
    KeyRetired,
}

impl AuditEvent {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::SignUp => "sign_up",
            AuditEvent::SignIn => "sign_in",
            AuditEvent::SignOut => "sign_out",
            AuditEvent::SessionRevoked => "session.revoked",
            AuditEvent::PasswordChanged => "password.changed",
            AuditEvent::PasswordReset => "password.reset",
            AuditEvent::PasswordResetRequested => "password.reset_requested",
            AuditEvent::EmailChanged => "email.changed",
            AuditEvent::EmailVerified => "email.verified",
            AuditEvent::UserDeleted => "user.deleted",
            AuditEvent::UserCreated => "user.created",
            AuditEvent::UserUpdated => "user.updated",
            AuditEvent::UserBanned => "user.banned",
            AuditEvent::UserUnbanned => "user.unbanned",
            AuditEvent::RoleChanged => "user.role_changed",
            AuditEvent::UserRemoved => "user.removed",
            AuditEvent::PasswordSet => "user.password_set",
            AuditEvent::AdminDenied => "admin.denied",
            AuditEvent::TwoFactorEnabled => "two_factor.enabled",
            AuditEvent::TwoFactorDisabled => "two_factor.disabled",
            AuditEvent::BackupCodesRegenerated => "two_factor.backup_codes_regenerated",
            AuditEvent::PasskeyAdded => "passkey.added",
            AuditEvent::PasskeyRemoved => "passkey.removed",
            AuditEvent::KeyRotated => "key.rotated",
            AuditEvent::KeyRetired => "key.retired",
        }
    }
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Success,
    /// Tried and failed (a wrong password, a banned account).
    Failure,
    /// Refused for lack of permission.
    Denied,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// Who acted, when not the account's owner: an administrator (by user id) or the server's
/// command line.
pub const CLI_ACTOR: &str = "cli";

/// One event, built with its setters and passed to [`Audit::record`].
#[derive(Clone, Debug)]
pub struct AuditEntry {
    event: AuditEvent,
    outcome: Outcome,
    user_id: Option<String>,
    actor_id: Option<String>,
    session_id: Option<String>,
    ip: String,
    user_agent: String,
    detail: serde_json::Map<String, serde_json::Value>,
}

impl AuditEntry {
    /// An event with its outcome and nothing else yet.
    pub fn new(event: AuditEvent, outcome: Outcome) -> AuditEntry {
        AuditEntry {
            event,
            outcome,
            user_id: None,
            actor_id: None,
            session_id: None,
            ip: String::new(),
            user_agent: String::new(),
            detail: serde_json::Map::new(),
        }
    }

    /// The account concerned.
    pub fn user(mut self, id: &str) -> AuditEntry {
        self.user_id = Some(id.to_owned());
        self
    }

    /// Who acted (an administrator's id or [`CLI_ACTOR`]).
    pub fn actor(mut self, id: &str) -> AuditEntry {
        self.actor_id = Some(id.to_owned());
        self
    }

    /// The session concerned.
    pub fn session(mut self, id: &str) -> AuditEntry {
        self.session_id = Some(id.to_owned());
        self
    }

    /// The client's address and user agent.
    pub fn client(mut self, client: &ClientInfo) -> AuditEntry {
        self.ip = client.ip.chars().take(64).collect();
        self.user_agent = client.user_agent.chars().take(256).collect();
        self
    }

    /// A detail. Text is cut to [`MAX_DETAIL_TEXT`] characters. Never pass a secret.
    pub fn detail(mut self, key: &'static str, value: impl Into<serde_json::Value>) -> AuditEntry {
        let value = match value.into() {
            serde_json::Value::String(s) if s.chars().count() > MAX_DETAIL_TEXT => {
                serde_json::Value::String(s.chars().take(MAX_DETAIL_TEXT).collect())
            }
            other => other,
        };
        self.detail.insert(key.to_owned(), value);
        self
    }

    /// The event.
    pub fn event(&self) -> AuditEvent {
        self.event
    }
}

/// The audit log.
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn AuthStore>,
    clock: SharedClock,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

impl Audit {
    /// The audit log kept in `store`, timed by `clock`.
    pub fn new(store: Arc<dyn AuthStore>, clock: SharedClock) -> Audit {
        Audit { store, clock }
    }

    /// Records `entry`: a structured log line (target `sigil::audit`) and a row. Never fails: a
    /// row that cannot be written is reported in the log.
    pub async fn record(&self, entry: AuditEntry) {
        let detail = serde_json::Value::Object(entry.detail).to_string();
        let row = AuditRow {
            id: sigil_token::random::alphanumeric(24).unwrap_or_default(),
            at: self.clock.now_ms(),
            event: entry.event.as_str().to_owned(),
            outcome: entry.outcome.as_str().to_owned(),
            user_id: entry.user_id,
            actor_id: entry.actor_id,
            session_id: entry.session_id,
            ip_address: entry.ip,
            user_agent: entry.user_agent,
            detail,
        };
        tracing::info!(
            target: "sigil::audit",
            event = %row.event,
            outcome = %row.outcome,
            user_id = row.user_id.as_deref().unwrap_or(""),
            actor_id = row.actor_id.as_deref().unwrap_or(""),
            session_id = row.session_id.as_deref().unwrap_or(""),
            ip = %row.ip_address,
            detail = %row.detail,
            "audit"
        );
        if row.id.is_empty() {
            tracing::error!(target: "sigil::audit", event = %row.event, "audit row not written: no random id");
            return;
        }
        if let Err(error) = self.store.insert_audit(&row).await {
            tracing::error!(target: "sigil::audit", event = %row.event, %error, "audit row not written");
        }
    }

    /// Rows about `user_id` (as the account or the actor), since `since` (ms), newest first, at
    /// most `limit` (capped at [`MAX_READ`]).
    pub async fn read(
        &self,
        user_id: Option<&str>,
        since: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        self.store
            .audit_rows(&AuditQuery {
                user_id: user_id.map(str::to_owned),
                since,
                limit: limit.clamp(1, MAX_READ),
            })
            .await
    }

    /// Deletes rows older than `retention`; how many.
    pub async fn prune(&self, retention: Duration) -> StoreResult<u64> {
        let keep = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let before = self.clock.now_ms().saturating_sub(keep);
        let pruned = self.store.prune_audit(before).await?;
        if pruned > 0 {
            tracing::info!(target: "sigil::audit", pruned, "audit rows past retention deleted");
        }
        Ok(pruned)
    }

    /// The clock (ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// An audit row as JSON (the admin route and the command line print this).
pub fn row_json(row: &AuditRow) -> serde_json::Value {
    let detail: serde_json::Value =
        serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "id": row.id,
        "at": crate::domain::iso8601(row.at),
        "event": row.event,
        "outcome": row.outcome,
        "userId": row.user_id,
        "actorId": row.actor_id,
        "sessionId": row.session_id,
        "ipAddress": row.ip_address,
        "userAgent": row.user_agent,
        "detail": detail,
    })
}
