//! Storage of users, credentials, sessions, single-use tokens, signing keys, revocations and
//! refresh tokens: one trait, [`AuthStore`], and one SQL implementation ([`SqlStore`]) that runs
//! the same statements on SQLite and PostgreSQL.
//!
//! Every multi-row change is one transaction, so a failed request leaves no partial rows.

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
    /// When the key stops signing (ms); published until then plus the grace period.
    pub expires_at: Option<i64>,
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

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint was hit (e.g. the email is taken).
    #[error("conflict")]
    Conflict,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
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
        matches!(self, StoreError::Database(e) if is_unavailable(e))
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The identity service's storage.
#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Creates a user with a password credential and, optionally, a first session, atomically.
    /// [`StoreError::Conflict`] when the email is taken.
    async fn create_user(
        &self,
        user: &User,
        password_hash: &str,
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
    /// Deletes a user (cascading to credentials, sessions, refresh tokens); returns the ids of the
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
    async fn create_first_jwk(&self, row: &JwkRow, now: i64) -> StoreResult<bool> {
        let live = self
            .jwks()
            .await?
            .iter()
            .any(|r| r.alg == row.alg && r.expires_at.is_none_or(|e| e > now));
        if live {
            return Ok(false);
        }
        self.insert_jwk(row).await?;
        Ok(true)
    }

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
