//! User administration: the rules behind Better Auth's `admin` plugin routes and the `sigil users`
//! / `sigil sessions` commands, without HTTP. Who may do what ([`Actor`], [`Action`]), listing and
//! searching users, creating and editing them, roles, bans (which end every session and so refuse
//! the session's JWTs at once), passwords, sessions and removal. Every change and every refusal is
//! written to the audit log.
//!
//! Permissions follow Better Auth's default access control: a caller holding one of the admin
//! roles (`SIGIL_ADMIN_ROLES`, default `admin`) or listed in `SIGIL_ADMIN_USER_IDS` may do every
//! action of its `admin` role; anyone else none. The command line ([`Actor::Cli`]) runs with the
//! server's own authority.

use crate::accounts::AccountListener;
pub use crate::config::AdminPolicy;

use crate::audit::{Audit, AuditEntry, AuditEvent, CLI_ACTOR, Outcome};
use crate::domain::{Email, Password};
use crate::password::{HashError, PasswordHasher};
use crate::session::{ClientInfo, Sessions};
use crate::store::{AuthStore, Session, StoreError, User, UserPatch, UserQuery};
use sigil_guard::clock::SharedClock;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Largest page of a user list.
pub const MAX_PAGE: u32 = 500;
/// Page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 100;
/// Longest ban (100 years): a longer `expiresIn` is refused rather than overflowing.
pub const MAX_BAN: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// Most roles a user may hold.
pub const MAX_ROLES: usize = 16;
/// Longest ban reason (characters).
pub const MAX_BAN_REASON: usize = 500;
/// Better Auth's default ban reason.
pub const DEFAULT_BAN_REASON: &str = "No reason";

/// An administrator action (Better Auth's `resource:action` permissions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `user:create`
    CreateUser,
    /// `user:list`
    ListUsers,
    /// `user:get`
    GetUser,
    /// `user:update`
    UpdateUser,
    /// `user:set-role`
    SetRole,
    /// `user:ban`
    Ban,
    /// `user:set-email`
    SetEmail,
    /// `user:set-password`
    SetPassword,
    /// `user:delete`
    DeleteUser,
    /// `session:list`
    ListSessions,
    /// `session:revoke`
    RevokeSessions,
    /// Reading the audit log (Sigil's own).
    ReadAudit,
}

impl Action {
    /// The permission's name, `resource:action`.
    pub fn name(self) -> &'static str {
        match self {
            Action::CreateUser => "user:create",
            Action::ListUsers => "user:list",
            Action::GetUser => "user:get",
            Action::UpdateUser => "user:update",
            Action::SetRole => "user:set-role",
            Action::Ban => "user:ban",
            Action::SetEmail => "user:set-email",
            Action::SetPassword => "user:set-password",
            Action::DeleteUser => "user:delete",
            Action::ListSessions => "session:list",
            Action::RevokeSessions => "session:revoke",
            Action::ReadAudit => "audit:read",
        }
    }
}

/// The actions of Better Auth's default `admin` role, by resource (`has-permission` answers from
/// this). `impersonate` is not offered by Sigil (see README, "Admin").
const ADMIN_STATEMENTS: &[(&str, &[&str])] = &[
    (
        "user",
        &[
            "create",
            "list",
            "set-role",
            "ban",
            "delete",
            "set-password",
            "set-email",
            "get",
            "update",
        ],
    ),
    ("session", &["list", "revoke", "delete"]),
];
/// The resources of the default `user` role (no actions).
const USER_STATEMENTS: &[(&str, &[&str])] = &[("user", &[]), ("session", &[])];

/// Who is acting.
#[derive(Clone, Debug)]
pub enum Actor {
    /// A signed-in user (an administrator or not) and their client.
    User {
        /// The caller.
        user: Box<User>,
        /// The caller's session.
        session_id: String,
        /// The caller's client.
        client: ClientInfo,
    },
    /// The server's command line.
    Cli,
}

impl Actor {
    fn id(&self) -> &str {
        match self {
            Actor::User { user, .. } => &user.id,
            Actor::Cli => CLI_ACTOR,
        }
    }

    fn entry(&self, event: AuditEvent, outcome: Outcome) -> AuditEntry {
        let entry = AuditEntry::new(event, outcome).actor(self.id());
        match self {
            Actor::User {
                client, session_id, ..
            } => entry.client(client).session(session_id),
            Actor::Cli => entry,
        }
    }
}

impl AdminPolicy {
    /// Whether `user` is an administrator.
    pub fn is_admin(&self, user: &User) -> bool {
        self.admin_user_ids.contains(&user.id)
            || user
                .roles()
                .any(|r| self.admin_roles.iter().any(|a| a == r))
    }

    /// Better Auth's `hasPermission`: whether a user with `user_id` and `roles` may do every
    /// action listed in `permissions` (resource → actions).
    pub fn has_permission(
        &self,
        user_id: Option<&str>,
        roles: &str,
        permissions: &BTreeMap<String, Vec<String>>,
    ) -> bool {
        if user_id.is_some_and(|id| self.admin_user_ids.iter().any(|a| a == id)) {
            return true;
        }
        let roles: Vec<&str> = roles.split(',').map(str::trim).collect();
        roles.iter().any(|role| {
            let statements = if self.admin_roles.iter().any(|a| a == role) {
                ADMIN_STATEMENTS
            } else if *role == crate::store::DEFAULT_ROLE {
                USER_STATEMENTS
            } else {
                return false;
            };
            permissions.iter().all(|(resource, actions)| {
                statements
                    .iter()
                    .find(|(r, _)| r == resource)
                    .is_some_and(|(_, allowed)| {
                        actions.iter().all(|a| allowed.contains(&a.as_str()))
                    })
            })
        })
    }
}

/// Why an administrator operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller lacks the permission.
    #[error("not allowed: {}", .0.name())]
    Forbidden(Action),
    /// No such user.
    #[error("user not found")]
    UserNotFound,
    /// An administrator cannot ban themself.
    #[error("cannot ban yourself")]
    CannotBanSelf,
    /// An administrator cannot remove themself.
    #[error("cannot remove yourself")]
    CannotRemoveSelf,
    /// The email belongs to another account.
    #[error("email taken")]
    EmailTaken,
    /// A role name is empty, too long or has characters other than letters, digits, `-`, `_`.
    #[error("invalid role")]
    InvalidRole,
    /// Nothing to change.
    #[error("no data to update")]
    NoData,
    /// A ban longer than [`MAX_BAN`], or not positive.
    #[error("invalid ban duration")]
    InvalidBanDuration,
    /// Password hashing is saturated.
    #[error("busy")]
    Busy,
    /// The database is unreachable or overloaded.
    #[error("database unavailable")]
    Unavailable,
    /// Hashing or storage failed.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => AdminError::EmailTaken,
            e if e.is_unavailable() => AdminError::Unavailable,
            e => AdminError::Internal(e.to_string()),
        }
    }
}

impl From<HashError> for AdminError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy | HashError::ClientBusy => AdminError::Busy,
            other => AdminError::Internal(other.to_string()),
        }
    }
}

/// Result of an administrator operation.
pub type AdminResult<T> = Result<T, AdminError>;

/// A new account made by an administrator.
#[derive(Debug)]
pub struct NewUser {
    /// Email.
    pub email: Email,
    /// Display name (checked).
    pub name: String,
    /// Password (policy checked); `None`: no password credential.
    pub password: Option<Password>,
    /// Roles (checked with [`parse_roles`]); `None`: the default role.
    pub role: Option<String>,
    /// Avatar URL (checked).
    pub image: Option<String>,
    /// Whether the email counts as verified.
    pub email_verified: bool,
}

/// Checks and joins role names: 1 to 64 letters, digits, `-` or `_` each, at most
/// [`MAX_ROLES`], no duplicates kept.
pub fn parse_roles<'a>(roles: impl IntoIterator<Item = &'a str>) -> AdminResult<String> {
    let mut out: Vec<&str> = Vec::new();
    for role in roles {
        let role = role.trim();
        let ok = !role.is_empty()
            && role.len() <= 64
            && role
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(AdminError::InvalidRole);
        }
        if !out.contains(&role) {
            out.push(role);
        }
    }
    if out.is_empty() || out.len() > MAX_ROLES {
        return Err(AdminError::InvalidRole);
    }
    Ok(out.join(","))
}

/// The administrator operations.
#[derive(Clone)]
pub struct Admin {
    store: Arc<dyn AuthStore>,
    hasher: PasswordHasher,
    sessions: Sessions,
    audit: Audit,
    policy: Arc<AdminPolicy>,
    listener: Option<Arc<dyn AccountListener>>,
    clock: SharedClock,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// The operations over `store`; ended sessions go through `sessions` (revoked everywhere),
    /// removed accounts are announced to `listener`.
    pub fn new(
        store: Arc<dyn AuthStore>,
        hasher: PasswordHasher,
        sessions: Sessions,
        audit: Audit,
        policy: AdminPolicy,
        listener: Option<Arc<dyn AccountListener>>,
        clock: SharedClock,
    ) -> Admin {
        Admin {
            store,
            hasher,
            sessions,
            audit,
            policy: Arc::new(policy),
            listener,
            clock,
        }
    }

    /// Which users are administrators.
    pub fn policy(&self) -> &AdminPolicy {
        &self.policy
    }

    /// The audit log.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Refuses (and records the refusal) unless `actor` may do `action`.
    pub async fn require(&self, actor: &Actor, action: Action) -> AdminResult<()> {
        let allowed = match actor {
            Actor::Cli => true,
            Actor::User { user, .. } => self.policy.is_admin(user),
        };
        if allowed {
            return Ok(());
        }
        tracing::info!(target: "sigil::auth", actor_id = actor.id(), action = action.name(), "administrator action refused");
        self.audit
            .record(
                actor
                    .entry(AuditEvent::AdminDenied, Outcome::Denied)
                    .detail("action", action.name()),
            )
            .await;
        Err(AdminError::Forbidden(action))
    }

    async fn user(&self, id: &str) -> AdminResult<User> {
        if id.is_empty() || id.len() > 64 {
            return Err(AdminError::UserNotFound);
        }
        self.store
            .user_by_id(id)
            .await?
            .ok_or(AdminError::UserNotFound)
    }

    /// A page of users and how many match in all.
    pub async fn list_users(
        &self,
        actor: &Actor,
        mut query: UserQuery,
    ) -> AdminResult<(Vec<User>, u64)> {
        self.require(actor, Action::ListUsers).await?;
        query.limit = query.limit.clamp(1, MAX_PAGE);
        Ok(self.store.list_users(&query).await?)
    }

    /// One user.
    pub async fn get_user(&self, actor: &Actor, id: &str) -> AdminResult<User> {
        self.require(actor, Action::GetUser).await?;
        self.user(id).await
    }

    /// Creates an account (email taken: [`AdminError::EmailTaken`]).
    pub async fn create_user(&self, actor: &Actor, input: NewUser) -> AdminResult<User> {
        self.require(actor, Action::CreateUser).await?;
        if input.role.is_some() {
            self.require(actor, Action::SetRole).await?;
        }
        let now = self.clock.now_ms();
        let mut user = User::new(
            sigil_token::random::alphanumeric(32).map_err(StoreError::from)?,
            input.name,
            input.email.as_str().to_owned(),
            input.image,
            now,
        );
        user.email_verified = input.email_verified;
        if let Some(role) = input.role {
            user.role = role;
        }
        if self.store.user_by_email(&user.email).await?.is_some() {
            return Err(AdminError::EmailTaken);
        }
        let hash = match input.password {
            Some(p) => Some(self.hasher.hash(p).await?),
            None => None,
        };
        self.store.create_user(&user, hash.as_deref(), None).await?;
        self.audit
            .record(
                actor
                    .entry(AuditEvent::UserCreated, Outcome::Success)
                    .user(&user.id)
                    .detail("role", user.role.clone())
                    .detail("password", hash.is_some()),
            )
            .await;
        Ok(user)
    }

    /// Changes a user's profile, email, verification, roles or ban. Each kind of change needs its
    /// permission; a ban through here ends the user's sessions as [`Admin::ban`] does.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: &str,
        patch: UserPatch,
    ) -> AdminResult<User> {
        self.require(actor, Action::UpdateUser).await?;
        if patch.is_empty() {
            return Err(AdminError::NoData);
        }
        if patch.role.is_some() {
            self.require(actor, Action::SetRole).await?;
        }
        if patch.ban.is_some() {
            self.require(actor, Action::Ban).await?;
            if patch.ban.as_ref().is_some_and(|b| b.0) && actor.id() == id {
                return Err(AdminError::CannotBanSelf);
            }
        }
        if patch.email.is_some() || patch.email_verified.is_some() {
            self.require(actor, Action::SetEmail).await?;
        }
        if let Some(email) = &patch.email
            && self
                .store
                .user_by_email(email)
                .await?
                .is_some_and(|u| u.id != id)
        {
            return Err(AdminError::EmailTaken);
        }
        let before = self.user(id).await?;
        if !self
            .store
            .patch_user(id, &patch, self.clock.now_ms())
            .await?
        {
            return Err(AdminError::UserNotFound);
        }
        let mut fields: Vec<&str> = Vec::new();
        for (set, name) in [
            (patch.name.is_some(), "name"),
            (patch.image.is_some(), "image"),
            (patch.email.is_some(), "email"),
            (patch.email_verified.is_some(), "emailVerified"),
            (patch.role.is_some(), "role"),
            (patch.ban.is_some(), "banned"),
        ] {
            if set {
                fields.push(name);
            }
        }
        self.audit
            .record(
                actor
                    .entry(AuditEvent::UserUpdated, Outcome::Success)
                    .user(id)
                    .detail("fields", fields),
            )
            .await;
        if let Some(role) = &patch.role {
            self.role_changed(actor, &before, role).await;
        }
        if let Some((banned, reason, expires)) = &patch.ban {
            if *banned {
                self.banned(actor, id, reason.as_deref(), *expires).await?;
            } else if before.banned {
                self.audit
                    .record(
                        actor
                            .entry(AuditEvent::UserUnbanned, Outcome::Success)
                            .user(id),
                    )
                    .await;
            }
        }
        self.user(id).await
    }

    async fn role_changed(&self, actor: &Actor, before: &User, role: &str) {
        self.audit
            .record(
                actor
                    .entry(AuditEvent::RoleChanged, Outcome::Success)
                    .user(&before.id)
                    .detail("from", before.role.clone())
                    .detail("to", role.to_owned()),
            )
            .await;
    }

    /// Sets a user's roles (checked with [`parse_roles`]).
    pub async fn set_role(&self, actor: &Actor, id: &str, role: String) -> AdminResult<User> {
        self.require(actor, Action::SetRole).await?;
        let before = self.user(id).await?;
        let patch = UserPatch {
            role: Some(role.clone()),
            ..UserPatch::default()
        };
        self.store
            .patch_user(id, &patch, self.clock.now_ms())
            .await?;
        self.role_changed(actor, &before, &role).await;
        self.user(id).await
    }

    /// Bans a user: they cannot sign in until `expires_in` has passed (never, when `None`), and
    /// every session of theirs ends now (their JWTs are refused at once, here, and on every
    /// instance within its revocation poll).
    pub async fn ban(
        &self,
        actor: &Actor,
        id: &str,
        reason: Option<&str>,
        expires_in: Option<Duration>,
    ) -> AdminResult<User> {
        self.require(actor, Action::Ban).await?;
        let user = self.user(id).await?;
        if actor.id() == user.id {
            return Err(AdminError::CannotBanSelf);
        }
        let expires = match expires_in {
            Some(d) if d.is_zero() || d > MAX_BAN => return Err(AdminError::InvalidBanDuration),
            Some(d) => Some(
                self.clock
                    .now_ms()
                    .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            ),
            None => None,
        };
        let reason: String = reason
            .filter(|r| !r.trim().is_empty())
            .unwrap_or(DEFAULT_BAN_REASON)
            .chars()
            .take(MAX_BAN_REASON)
            .collect();
        let patch = UserPatch {
            ban: Some((true, Some(reason.clone()), expires)),
            ..UserPatch::default()
        };
        self.store
            .patch_user(id, &patch, self.clock.now_ms())
            .await?;
        self.banned(actor, id, Some(&reason), expires).await?;
        self.user(id).await
    }

    /// After a ban is stored: ends the sessions, records the event.
    async fn banned(
        &self,
        actor: &Actor,
        id: &str,
        reason: Option<&str>,
        expires: Option<i64>,
    ) -> AdminResult<()> {
        let ended = self.sessions.end_all_of(id, None).await?;
        tracing::info!(target: "sigil::auth", user_id = %id, sessions = ended.len(), "user banned; sessions ended");
        let mut entry = actor
            .entry(AuditEvent::UserBanned, Outcome::Success)
            .user(id)
            .detail("sessionsEnded", ended.len());
        if let Some(reason) = reason {
            entry = entry.detail("reason", reason.to_owned());
        }
        if let Some(expires) = expires {
            entry = entry.detail("expires", crate::domain::iso8601(expires));
        }
        self.audit.record(entry).await;
        Ok(())
    }

    /// Lifts a ban.
    pub async fn unban(&self, actor: &Actor, id: &str) -> AdminResult<User> {
        self.require(actor, Action::Ban).await?;
        self.user(id).await?;
        let patch = UserPatch {
            ban: Some((false, None, None)),
            ..UserPatch::default()
        };
        self.store
            .patch_user(id, &patch, self.clock.now_ms())
            .await?;
        self.audit
            .record(
                actor
                    .entry(AuditEvent::UserUnbanned, Outcome::Success)
                    .user(id),
            )
            .await;
        self.user(id).await
    }

    /// Sets a user's password (creating the credential if they had none). Outstanding reset
    /// links stop working; sessions stay (as in Better Auth; revoke them separately).
    pub async fn set_password(
        &self,
        actor: &Actor,
        id: &str,
        password: Password,
    ) -> AdminResult<()> {
        self.require(actor, Action::SetPassword).await?;
        self.user(id).await?;
        let hash = self.hasher.hash(password).await?;
        self.store
            .set_password(id, &hash, self.clock.now_ms())
            .await?;
        self.store
            .delete_verifications(crate::accounts::RESET_PREFIX, id)
            .await?;
        self.audit
            .record(
                actor
                    .entry(AuditEvent::PasswordSet, Outcome::Success)
                    .user(id),
            )
            .await;
        Ok(())
    }

    /// A user's live sessions, newest first.
    pub async fn list_sessions(&self, actor: &Actor, id: &str) -> AdminResult<Vec<Session>> {
        self.require(actor, Action::ListSessions).await?;
        if id.is_empty() || id.len() > 64 {
            return Ok(Vec::new());
        }
        Ok(self.sessions.list(id).await?)
    }

    /// Ends one session, named by its id (what the session lists give) or its token. Unknown
    /// sessions are not an error (as in Better Auth); whether one ended is returned.
    pub async fn revoke_session(&self, actor: &Actor, handle: &str) -> AdminResult<bool> {
        self.require(actor, Action::RevokeSessions).await?;
        if handle.is_empty() || handle.len() > 256 {
            return Ok(false);
        }
        let by_token = self
            .store
            .session_by_token_hash(&crate::crypto::sha256_hex(handle))
            .await?
            .map(|(s, _)| s);
        let found = match by_token {
            Some(s) => Some(s),
            None if handle.len() <= 64 => self.store.session_by_id(handle).await?,
            None => None,
        };
        let Some(session) = found else {
            return Ok(false);
        };
        self.sessions.end_one(&session.id).await?;
        self.audit
            .record(
                actor
                    .entry(AuditEvent::SessionRevoked, Outcome::Success)
                    .user(&session.user_id)
                    .detail("revokedSession", session.id.clone()),
            )
            .await;
        Ok(true)
    }

    /// Ends every session of a user; how many.
    pub async fn revoke_sessions(&self, actor: &Actor, id: &str) -> AdminResult<usize> {
        self.require(actor, Action::RevokeSessions).await?;
        if id.is_empty() || id.len() > 64 {
            return Ok(0);
        }
        let ended = self.sessions.end_all_of(id, None).await?;
        self.audit
            .record(
                actor
                    .entry(AuditEvent::SessionRevoked, Outcome::Success)
                    .user(id)
                    .detail("sessionsEnded", ended.len()),
            )
            .await;
        Ok(ended.len())
    }

    /// Removes an account: its sessions end (revoked everywhere), then its rows go, then the
    /// listener erases the user's other data.
    pub async fn remove_user(&self, actor: &Actor, id: &str) -> AdminResult<()> {
        self.require(actor, Action::DeleteUser).await?;
        if actor.id() == id {
            return Err(AdminError::CannotRemoveSelf);
        }
        let user = self.user(id).await?;
        self.sessions.end_all_of(id, None).await?;
        let ended = self.store.delete_user(id).await?;
        self.sessions.end(ended).await?;
        if let Some(listener) = &self.listener {
            listener.user_deleted(id).await;
        }
        self.audit
            .record(
                actor
                    .entry(AuditEvent::UserRemoved, Outcome::Success)
                    .user(&user.id),
            )
            .await;
        Ok(())
    }

    /// Audit rows about `user_id` (or all), since `since` (ms), newest first.
    pub async fn read_audit(
        &self,
        actor: &Actor,
        user_id: Option<&str>,
        since: Option<i64>,
        limit: u32,
    ) -> AdminResult<Vec<crate::store::AuditRow>> {
        self.require(actor, Action::ReadAudit).await?;
        Ok(self.audit.read(user_id, since, limit).await?)
    }
}
