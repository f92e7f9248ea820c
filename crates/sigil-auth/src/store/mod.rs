//! Storage of users, credentials, sessions, single-use tokens, signing keys, revocations and
//! refresh tokens: one trait, [`AuthStore`], and one SQL implementation ([`SqlStore`]) that runs
//! the same statements on SQLite and PostgreSQL.
//!
//! Every multi-row change is one transaction, so a failed request leaves no partial rows.

mod admin_sql;
mod passkeys;
mod sql;

pub use sql::{
    Backend, DEFAULT_ACQUIRE_TIMEOUT, PoolSettings, SqlStore, connect, connect_with,
    connect_with_options, is_unavailable,
};

use async_trait::async_trait;

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Random 32-character id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Canonical (lower-case) email.
    pub email: String,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// Avatar URL.
    pub image: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last update (ms).
    pub updated_at: i64,
    /// Comma-separated roles (`user` by default).
    pub role: String,
    /// Whether the user is banned (see [`User::is_banned_at`]: a ban may have lapsed).
    pub banned: bool,
    /// Why, when banned.
    pub ban_reason: Option<String>,
    /// When the ban lifts (ms); `None`: never.
    pub ban_expires: Option<i64>,
    /// Whether sign-in asks for a second factor (Better Auth's `twoFactorEnabled`).
    pub two_factor_enabled: bool,
}

/// A user's two-factor row (see `two_factor.rs`): the sealed TOTP secret and the hashes of the
/// unused backup codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwoFactorRow {
    /// Owner.
    pub user_id: String,
    /// The TOTP key, sealed with `crypto::seal`.
    pub secret: String,
    /// JSON array of the keyed hashes of the unused backup codes.
    pub backup_codes: String,
    /// Whether a first code from the authenticator app was accepted.
    pub verified: bool,
    /// TOTP time step of the last accepted code (-1: none).
    pub last_step: i64,
}

/// The role every new user gets.
pub const DEFAULT_ROLE: &str = "user";

impl User {
    /// A new user with the default role, not banned.
    pub fn new(id: String, name: String, email: String, image: Option<String>, now: i64) -> User {
        User {
            id,
            name,
            email,
            email_verified: false,
            image,
            created_at: now,
            updated_at: now,
            role: DEFAULT_ROLE.to_owned(),
            banned: false,
            ban_reason: None,
            ban_expires: None,
            two_factor_enabled: false,
        }
    }

    /// Whether a ban is in force at `now` (a ban whose expiry has passed is not).
    pub fn is_banned_at(&self, now: i64) -> bool {
        self.banned && self.ban_expires.is_none_or(|until| until > now)
    }

    /// The user's roles.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.role
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
    }
}

/// A session row. The token itself is never stored, only its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Random 32-character id (the JWT `sid`).
    pub id: String,
    /// Hex SHA-256 of the session token.
    pub token_hash: String,
    /// Owner.
    pub user_id: String,
    /// Expiry (ms).
    pub expires_at: i64,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last extension (ms).
    pub updated_at: i64,
    /// Client IP at creation.
    pub ip_address: String,
    /// Client user agent at creation.
    pub user_agent: String,
    /// `false` for `rememberMe: false` sessions (browser-session cookie, not extended).
    pub remember: bool,
}

/// A stored signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwkRow {
    /// Key id.
    pub kid: String,
    /// Algorithm name.
    pub alg: String,
    /// Public JWK JSON.
    pub public_jwk: String,
    /// Sealed private JWK.
    pub private_jwk: String,
    /// Creation (ms).
    pub created_at: i64,
    /// When the key stopped signing (ms): its successor's creation. `None` while it signs.
    pub expires_at: Option<i64>,
    /// When the key was taken out of `/jwks` early (`sigil keys retire`), if it was.
    pub retired_at: Option<i64>,
}

/// A refresh token row (see `refresh.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshToken {
    /// Random id.
    pub id: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// The session (family) it belongs to.
    pub session_id: String,
    /// The token it was rotated from.
    pub parent_id: Option<String>,
    /// The token it was rotated into.
    pub child_id: Option<String>,
    /// When it was exchanged (ms), if it was.
    pub used_at: Option<i64>,
    /// Creation (ms).
    pub created_at: i64,
    /// Absolute expiry (ms).
    pub expires_at: i64,
}

/// An identity at an outside provider linked to a user (Better Auth's `account` row of a social
/// provider). The provider's tokens are stored sealed (`crypto::seal`), never in clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Random 32-character id (what `/unlink-account` and `/get-access-token` name).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The configured provider's id (`google`, `github`, or a generic provider's own id).
    pub provider_id: String,
    /// The user's id at the provider (the ID token's `sub`, GitHub's numeric id, ...).
    pub account_id: String,
    /// Sealed access token.
    pub access_token: Option<String>,
    /// Sealed refresh token.
    pub refresh_token: Option<String>,
    /// Sealed ID token.
    pub id_token: Option<String>,
    /// When the access token expires (ms).
    pub access_token_expires_at: Option<i64>,
    /// When the refresh token expires (ms).
    pub refresh_token_expires_at: Option<i64>,
    /// Granted scopes, comma-separated (Better Auth's format).
    pub scope: String,
    /// Creation (ms).
    pub created_at: i64,
    /// Last update (ms).
    pub updated_at: i64,
}

/// What an attempt to unlink an account found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unlinked {
    /// The account was removed.
    Removed,
    /// The user has no account with that id.
    NotFound,
    /// It is the user's last way to sign in (no password, no other account): kept.
    Last,
}

/// A registered WebAuthn passkey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyRow {
    /// Random 32-character id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The name its owner gave it.
    pub name: Option<String>,
    /// The credential id, base64url without padding.
    pub credential_id: String,
    /// The credential as webauthn-rs serialises it (public key, counter, flags).
    pub public_key: String,
    /// The WebAuthn `user.id` given at registration, base64url without padding.
    pub user_handle: String,
    /// The last signature counter seen.
    pub counter: i64,
    /// `singleDevice` or `multiDevice` (backup eligible).
    pub device_type: String,
    /// Whether the credential is backed up (synced).
    pub backed_up: bool,
    /// Transports the browser reported, comma-separated.
    pub transports: String,
    /// Registration time (ms).
    pub created_at: i64,
}

/// A successful passkey sign-in to record: the new credential state, written only if the
/// counter is still the one the sign-in was checked against.
#[derive(Clone, Copy, Debug)]
pub struct PasskeyUse<'a> {
    /// The passkey's id.
    pub id: &'a str,
    /// The counter the assertion was checked against.
    pub previous_counter: i64,
    /// The new counter.
    pub counter: i64,
    /// The updated credential (webauthn-rs serialisation).
    pub public_key: &'a str,
    /// Whether the credential is now backed up.
    pub backed_up: bool,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was hit (e.g. the email is taken).
    #[error("conflict")]
    Conflict,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A read on the SQLite file's own reader connections failed ([`sigil_db::SqliteReads`]).
    #[error("database error: {0}")]
    Sqlite(#[from] sigil_db::rusqlite::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// No id or token could be made for the row: the OS random generator failed.
    #[error("{0}")]
    Random(#[from] sigil_token::random::RandomError),
}

impl StoreError {
    /// Whether the database is unreachable or overloaded (a 503, not a 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => is_unavailable(e),
            StoreError::Sqlite(e) => sigil_db::sqlite_is_unavailable(e),
            _ => false,
        }
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The identity service's storage.
#[async_trait]
pub trait AuthStore: UserAdminStore + AuditStore + Send + Sync + 'static {
    /// Creates a user with (if `password_hash` is given) a password credential and, optionally, a
    /// first session, atomically. [`StoreError::Conflict`] when the email is taken.
    async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        session: Option<&Session>,
    ) -> StoreResult<()>;
    /// A user by id.
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    /// A user by canonical email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// A user and their password hash (if they have a credential) by canonical email.
    async fn credentials_by_email(
        &self,
        email: &str,
    ) -> StoreResult<Option<(User, Option<String>)>>;
    /// The password hash of a user.
    async fn password_hash(&self, user_id: &str) -> StoreResult<Option<String>>;
    /// Sets (or creates) the password credential.
    async fn set_password(&self, user_id: &str, hash: &str, now: i64) -> StoreResult<()>;
    /// Updates name and/or image.
    async fn update_profile(
        &self,
        user_id: &str,
        name: Option<&str>,
        image: Option<Option<&str>>,
        now: i64,
    ) -> StoreResult<()>;
    /// Changes the email; [`StoreError::Conflict`] when taken.
    async fn set_email(
        &self,
        user_id: &str,
        email: &str,
        verified: bool,
        now: i64,
    ) -> StoreResult<()>;
    /// Marks the email verified.
    async fn set_email_verified(&self, user_id: &str, now: i64) -> StoreResult<()>;
    /// Deletes a user (cascading to credentials, provider accounts, sessions, refresh tokens); returns the ids of the
    /// sessions that existed.
    async fn delete_user(&self, user_id: &str) -> StoreResult<Vec<String>>;

    /// Stores a session.
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    /// A session and its user, by token hash.
    async fn session_by_token_hash(&self, token_hash: &str)
    -> StoreResult<Option<(Session, User)>>;
    /// A session by id.
    async fn session_by_id(&self, id: &str) -> StoreResult<Option<Session>>;
    /// Moves a session's expiry.
    async fn extend_session(&self, id: &str, expires_at: i64, now: i64) -> StoreResult<()>;
    /// The user's unexpired sessions, newest first.
    async fn sessions_of(&self, user_id: &str, now: i64) -> StoreResult<Vec<Session>>;
    /// Deletes one session; whether it existed.
    async fn delete_session(&self, id: &str) -> StoreResult<bool>;
    /// Deletes sessions by id (absent ones are ignored).
    async fn delete_many_sessions(&self, ids: &[String]) -> StoreResult<()>;
    /// Deletes the user's sessions except `keep`; returns the deleted ids.
    async fn delete_sessions_of(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> StoreResult<Vec<String>>;
    /// Deletes expired sessions, verifications, revocations and refresh tokens.
    async fn purge_expired(&self, now: i64) -> StoreResult<u64>;

    /// Stores a single-use token.
    async fn insert_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()>;
    /// Consumes a single-use token atomically: returns its value if it existed and had not expired.
    async fn take_verification(&self, identifier: &str, now: i64) -> StoreResult<Option<String>>;
    /// Whether an unexpired single-use token exists (without consuming it); returns its value.
    async fn peek_verification(&self, identifier: &str, now: i64) -> StoreResult<Option<String>>;
    /// Deletes single-use tokens whose identifier starts with `prefix` and whose value is `value`.
    async fn delete_verifications(&self, prefix: &str, value: &str) -> StoreResult<()>;

    /// How many unexpired single-use tokens have an identifier starting with `prefix`.
    async fn count_verifications(&self, prefix: &str, now: i64) -> StoreResult<i64>;

    /// Stores a passkey; [`StoreError::Conflict`] when its credential id is registered already.
    async fn insert_passkey(&self, row: &PasskeyRow) -> StoreResult<()>;
    /// The user's passkeys, oldest first.
    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<PasskeyRow>>;
    /// A passkey by credential id.
    async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<PasskeyRow>>;
    /// Records a sign-in with a passkey if its counter is still `previous_counter`; returns
    /// whether it was recorded (two concurrent uses of one assertion: only one is).
    async fn record_passkey_use(&self, update: &PasskeyUse<'_>) -> StoreResult<bool>;
    /// Renames the user's passkey `id`; `None` when the user has no such passkey.
    async fn rename_passkey(
        &self,
        id: &str,
        user_id: &str,
        name: &str,
    ) -> StoreResult<Option<PasskeyRow>>;
    /// Deletes the user's passkey `id`; whether it existed.
    async fn delete_passkey(&self, id: &str, user_id: &str) -> StoreResult<bool>;

    /// All stored signing keys, newest first.
    async fn jwks(&self) -> StoreResult<Vec<JwkRow>>;
    /// Stores a signing key.
    async fn insert_jwk(&self, row: &JwkRow) -> StoreResult<()>;

    /// Records that these sessions' tokens must be refused until `until` (ms).
    async fn revoke_sessions(
        &self,
        session_ids: &[String],
        until: i64,
        now: i64,
    ) -> StoreResult<()>;

    /// Ends sessions: records their revocation until `until` (ms) and deletes them. The
    /// revocation is written first (one transaction in [`SqlStore`]), so a session is never
    /// gone without its tokens being refused everywhere.
    async fn end_sessions(&self, session_ids: &[String], until: i64, now: i64) -> StoreResult<()> {
        self.revoke_sessions(session_ids, until, now).await?;
        self.delete_many_sessions(session_ids).await
    }

    /// Stores `row` as the first live signing key of its algorithm, unless one exists at `now`;
    /// returns whether it was stored. [`SqlStore`] does this under a database lock, so that
    /// instances starting together agree on one key.
    async fn create_first_jwk(&self, row: &JwkRow, _now: i64) -> StoreResult<bool> {
        let live = self
            .jwks()
            .await?
            .iter()
            .any(|r| r.alg == row.alg && r.retired_at.is_none() && r.expires_at.is_none());
        if live {
            return Ok(false);
        }
        self.insert_jwk(row).await?;
        Ok(true)
    }

    /// Stores `row` as the new signing key of its algorithm and marks the keys it replaces as
    /// no longer signing (their `expires_at` becomes `row.created_at`), atomically. With
    /// `min_age`, nothing happens (`false`) when a key of the algorithm younger than `min_age`
    /// ms exists: [`SqlStore`] checks and writes under a database lock, so instances rotating on
    /// the same interval create one key between them.
    async fn rotate_jwk(&self, row: &JwkRow, min_age: Option<i64>) -> StoreResult<bool>;

    /// Takes a key that no longer signs out of `/jwks` now; `false` when there is no such key
    /// (unknown, still signing, or retired already).
    async fn retire_jwk(&self, kid: &str, now: i64) -> StoreResult<bool>;

    /// Creates a user without a password, its first provider account and its first session,
    /// atomically. [`StoreError::Conflict`] when the email or the provider identity is taken.
    async fn create_social_user(
        &self,
        user: &User,
        account: &Account,
        session: &Session,
    ) -> StoreResult<()>;
    /// Stores a provider account for an existing user; [`StoreError::Conflict`] when the
    /// provider identity is already linked.
    async fn insert_account(&self, account: &Account) -> StoreResult<()>;
    /// The account of identity `account_id` at provider `provider_id`.
    async fn account_by_identity(
        &self,
        provider_id: &str,
        account_id: &str,
    ) -> StoreResult<Option<Account>>;
    /// The user's provider accounts, oldest first.
    async fn accounts_of(&self, user_id: &str) -> StoreResult<Vec<Account>>;
    /// Replaces an account's tokens, expiries and scope.
    async fn update_account_tokens(&self, account: &Account) -> StoreResult<()>;
    /// Removes the user's account `id` unless it is their last way to sign in (checked in the
    /// same statement, so two concurrent unlinks cannot remove both of the last two ways).
    async fn unlink_account(&self, user_id: &str, id: &str) -> StoreResult<Unlinked>;
    /// The user's two-factor row.
    async fn two_factor(&self, user_id: &str) -> StoreResult<Option<TwoFactorRow>>;
    /// Creates or replaces the user's two-factor row (a new secret: `last_step` starts again).
    async fn put_two_factor(&self, row: &TwoFactorRow, now: i64) -> StoreResult<()>;
    /// Sets `users.two_factor_enabled`; with `enabled` false the two-factor row is deleted too,
    /// in the same transaction.
    async fn set_two_factor_enabled(
        &self,
        user_id: &str,
        enabled: bool,
        now: i64,
    ) -> StoreResult<()>;
    /// Marks the row verified and the user's two-factor on, in one transaction.
    async fn confirm_two_factor(&self, user_id: &str, now: i64) -> StoreResult<()>;
    /// Records `step` as the last accepted TOTP step if it is later than the stored one;
    /// whether it was (of two concurrent uses of one code, exactly one gets `true`).
    async fn advance_totp_step(&self, user_id: &str, step: i64, now: i64) -> StoreResult<bool>;
    /// Replaces the backup codes if they are still `expected`; whether they were (a
    /// compare-and-swap: of two concurrent uses of one code, exactly one gets `true`).
    async fn swap_backup_codes(
        &self,
        user_id: &str,
        expected: &str,
        new: &str,
        now: i64,
    ) -> StoreResult<bool>;

    /// Stores a refresh token.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()>;
    /// A refresh token by hash.
    async fn refresh_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// Marks `old_id` used and stores `new`, atomically, only if `old_id` was still unused;
    /// returns whether the rotation happened.
    async fn rotate_refresh_token(
        &self,
        old_id: &str,
        new: &RefreshToken,
        now: i64,
    ) -> StoreResult<bool>;
}

/// A user attribute that lists may be searched, filtered and sorted by (Better Auth's field names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserField {
    /// `id`
    Id,
    /// `name`
    Name,
    /// `email`
    Email,
    /// `emailVerified`
    EmailVerified,
    /// `image`
    Image,
    /// `role`
    Role,
    /// `banned`
    Banned,
    /// `banReason`
    BanReason,
    /// `banExpires`
    BanExpires,
    /// `createdAt`
    CreatedAt,
    /// `updatedAt`
    UpdatedAt,
}

/// What a field holds, which decides the operators and values it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Text.
    Text,
    /// A 0/1 boolean.
    Bool,
    /// A time in ms.
    Time,
}

impl UserField {
    /// The field named `name` (Better Auth's camelCase name).
    pub fn parse(name: &str) -> Option<UserField> {
        Some(match name {
            "id" => UserField::Id,
            "name" => UserField::Name,
            "email" => UserField::Email,
            "emailVerified" => UserField::EmailVerified,
            "image" => UserField::Image,
            "role" => UserField::Role,
            "banned" => UserField::Banned,
            "banReason" => UserField::BanReason,
            "banExpires" => UserField::BanExpires,
            "createdAt" => UserField::CreatedAt,
            "updatedAt" => UserField::UpdatedAt,
            _ => return None,
        })
    }

    /// The column (a fixed identifier: the only thing a list query splices into its SQL).
    pub fn column(self) -> &'static str {
        match self {
            UserField::Id => "u.id",
            UserField::Name => "u.name",
            UserField::Email => "u.email",
            UserField::EmailVerified => "u.email_verified",
            UserField::Image => "u.image",
            UserField::Role => "u.role",
            UserField::Banned => "u.banned",
            UserField::BanReason => "u.ban_reason",
            UserField::BanExpires => "u.ban_expires",
            UserField::CreatedAt => "u.created_at",
            UserField::UpdatedAt => "u.updated_at",
        }
    }

    /// What the field holds.
    pub fn kind(self) -> FieldKind {
        match self {
            UserField::EmailVerified | UserField::Banned => FieldKind::Bool,
            UserField::BanExpires | UserField::CreatedAt | UserField::UpdatedAt => FieldKind::Time,
            _ => FieldKind::Text,
        }
    }
}

/// A comparison in a user list query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `lt`
    Lt,
    /// `lte`
    Lte,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
    /// `in`
    In,
    /// `not_in`
    NotIn,
    /// `contains` (case-insensitive)
    Contains,
    /// `starts_with` (case-insensitive)
    StartsWith,
    /// `ends_with` (case-insensitive)
    EndsWith,
}

impl FilterOp {
    /// The operator named `name` (Better Auth's `whereOperators`).
    pub fn parse(name: &str) -> Option<FilterOp> {
        Some(match name {
            "eq" => FilterOp::Eq,
            "ne" => FilterOp::Ne,
            "lt" => FilterOp::Lt,
            "lte" => FilterOp::Lte,
            "gt" => FilterOp::Gt,
            "gte" => FilterOp::Gte,
            "in" => FilterOp::In,
            "not_in" => FilterOp::NotIn,
            "contains" => FilterOp::Contains,
            "starts_with" => FilterOp::StartsWith,
            "ends_with" => FilterOp::EndsWith,
            _ => return None,
        })
    }
}

/// A value compared with a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterValue {
    /// Text.
    Text(String),
    /// A number (booleans as 0/1, times in ms).
    Int(i64),
}

/// One condition of a user list query: `field op values` (one value except for `in`/`not_in`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserFilter {
    /// The field.
    pub field: UserField,
    /// The comparison.
    pub op: FilterOp,
    /// The values (at least one; at most [`MAX_FILTER_VALUES`]).
    pub values: Vec<FilterValue>,
}

/// Most values an `in`/`not_in` filter may list.
pub const MAX_FILTER_VALUES: usize = 100;

/// A page of users: conditions (all must hold), order and window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserQuery {
    /// Conditions, all of which must hold.
    pub filters: Vec<UserFilter>,
    /// Sort field and whether descending (then by id, so pages are stable).
    pub sort: Option<(UserField, bool)>,
    /// Page size.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u64,
}

/// Changes an administrator makes to a user; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New display name.
    pub name: Option<String>,
    /// New image (`Some(None)` removes it).
    pub image: Option<Option<String>>,
    /// New canonical email.
    pub email: Option<String>,
    /// New verification state.
    pub email_verified: Option<bool>,
    /// New roles (comma-separated).
    pub role: Option<String>,
    /// New ban state: banned, reason, expiry (ms).
    pub ban: Option<(bool, Option<String>, Option<i64>)>,
}

impl UserPatch {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == UserPatch::default()
    }
}

/// User administration storage.
#[async_trait]
pub trait UserAdminStore: Send + Sync + 'static {
    /// A page of users matching `query`, and how many match in all.
    async fn list_users(&self, query: &UserQuery) -> StoreResult<(Vec<User>, u64)>;
    /// Applies `patch` to a user; whether the user exists. [`StoreError::Conflict`] when a new
    /// email is taken.
    async fn patch_user(&self, user_id: &str, patch: &UserPatch, now: i64) -> StoreResult<bool>;
}

/// One audit log row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Random id.
    pub id: String,
    /// When (ms).
    pub at: i64,
    /// What happened (`sign_in`, `user.banned`, ...).
    pub event: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// The account concerned.
    pub user_id: Option<String>,
    /// Who acted on it, when not the user (an administrator's id, or `cli`).
    pub actor_id: Option<String>,
    /// The session concerned.
    pub session_id: Option<String>,
    /// Client address.
    pub ip_address: String,
    /// Client user agent.
    pub user_agent: String,
    /// A small JSON object with details (never a secret).
    pub detail: String,
}

/// Which audit rows to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Rows about this user (as subject or actor).
    pub user_id: Option<String>,
    /// Rows at or after this time (ms).
    pub since: Option<i64>,
    /// Most rows, newest first.
    pub limit: u32,
}

/// Audit log storage: append, read, prune.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends a row.
    async fn insert_audit(&self, row: &AuditRow) -> StoreResult<()>;
    /// Rows matching `query`, newest first.
    async fn audit_rows(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRow>>;
    /// Deletes rows older than `before` (ms); how many.
    async fn prune_audit(&self, before: i64) -> StoreResult<u64>;
}
