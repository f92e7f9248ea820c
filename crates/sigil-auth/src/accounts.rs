//! The account service: the rules of signing up, signing in, changing and resetting passwords,
//! profiles, email changes and deletion, without HTTP. It takes parsed values ([`Email`],
//! [`Password`]) and answers with domain results or typed errors; `error.rs` maps each error to
//! Better Auth's code and status in one place.

use crate::audit::{Audit, AuditEntry, AuditEvent, Outcome};
use crate::crypto;
use crate::domain::{Email, Password};
use crate::password::{HashError, PasswordHasher};
use crate::session::{ClientInfo, Sessions};
use crate::store::{AuthStore, Session, StoreError, StoreResult, User, UserPatch};
use crate::throttle::{AccountThrottle, Standing};
use sigil_guard::clock::SharedClock;
use sigil_token::random;
use std::sync::Arc;

/// Receives account events from the identity service.
#[async_trait::async_trait]
pub trait AccountListener: Send + Sync + 'static {
    /// The account `user_id` was deleted (its sessions are already ended).
    async fn user_deleted(&self, user_id: &str);
}

/// Prefix of password-reset rows in the verification table.
pub(crate) const RESET_PREFIX: &str = "reset-password:";
/// How long a reset link works.
const RESET_TTL_MS: i64 = 3600 * 1000;
/// Prefix of trusted-device rows in the verification table (created by `two_factor.rs`, ended
/// here too: a password change or reset ends every trusted device of the account).
pub const TRUSTED_DEVICE_PREFIX: &str = "trust-device:";

/// How a sign-in with the right password goes on.
#[derive(Debug)]
pub enum SignedIn {
    /// A session was created.
    Session(User, Session, String),
    /// The user has a second factor: no session yet (see `two_factor.rs`).
    SecondFactor(User),
}

/// Why a sign-up did not create an account.
#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    /// The email belongs to another account (only when that may be said: without
    /// email verification).
    #[error("email taken")]
    EmailTaken,
    /// Password hashing is saturated.
    #[error("busy")]
    Busy,
    /// This client's share of the hash queue is in use.
    #[error("client busy")]
    ClientBusy,
    /// The database is unreachable or overloaded (a 503 with `Retry-After`, not a 500).
    #[error("database unavailable")]
    Unavailable,
    /// Hashing or storage failed.
    #[error("{0}")]
    Internal(String),
}

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown email, no password credential, or a wrong password (one answer for all).
    #[error("invalid email or password")]
    InvalidCredentials,
    /// The account is throttled for this address: retry after this many seconds.
    #[error("throttled")]
    Throttled(u64),
    /// The password is right but the email is not verified (and verification is required).
    #[error("email not verified")]
    EmailNotVerified,
    /// The password is right but the account is banned.
    #[error("banned")]
    Banned,
    /// Password hashing is saturated.
    #[error("busy")]
    Busy,
    /// This client's share of the hash queue is in use.
    #[error("client busy")]
    ClientBusy,
    /// The database is unreachable or overloaded (a 503 with `Retry-After`, not a 500).
    #[error("database unavailable")]
    Unavailable,
    /// Hashing or storage failed.
    #[error("{0}")]
    Internal(String),
}

impl SignInError {
    /// A short stable name for metrics and logs: `bad_credentials`, `throttled`,
    /// `email_not_verified`, `banned`, `busy` (the hash queue is full, or this client's share of
    /// it is in use), `unavailable` or `error`.
    pub fn outcome(&self) -> &'static str {
        match self {
            SignInError::InvalidCredentials => "bad_credentials",
            SignInError::Throttled(_) => "throttled",
            SignInError::EmailNotVerified => "email_not_verified",
            SignInError::Banned => "banned",
            SignInError::Busy | SignInError::ClientBusy => "busy",
            SignInError::Unavailable => "unavailable",
            SignInError::Internal(_) => "error",
        }
    }
}

/// Why a password confirmation (change, deletion) failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// The account has no password credential.
    #[error("no credential account")]
    NoCredential,
    /// The current password is wrong.
    #[error("invalid password")]
    InvalidPassword,
    /// Password hashing is saturated.
    #[error("busy")]
    Busy,
    /// This client's share of the hash queue is in use.
    #[error("client busy")]
    ClientBusy,
    /// The database is unreachable or overloaded (a 503 with `Retry-After`, not a 500).
    #[error("database unavailable")]
    Unavailable,
    /// Hashing or storage failed.
    #[error("{0}")]
    Internal(String),
}

/// Why a password reset failed.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, used or expired token.
    #[error("invalid token")]
    InvalidToken,
    /// The token's account no longer exists.
    #[error("user not found")]
    UserNotFound,
    /// Password hashing is saturated.
    #[error("busy")]
    Busy,
    /// This client's share of the hash queue is in use.
    #[error("client busy")]
    ClientBusy,
    /// The database is unreachable or overloaded (a 503 with `Retry-After`, not a 500).
    #[error("database unavailable")]
    Unavailable,
    /// Hashing or storage failed.
    #[error("{0}")]
    Internal(String),
}

macro_rules! from_hash_and_store {
    ($error:ident) => {
        impl From<HashError> for $error {
            fn from(e: HashError) -> Self {
                match e {
                    HashError::Busy => $error::Busy,
                    HashError::ClientBusy => $error::ClientBusy,
                    other => $error::Internal(other.to_string()),
                }
            }
        }
        impl From<StoreError> for $error {
            fn from(e: StoreError) -> Self {
                if e.is_unavailable() {
                    tracing::warn!(target: "sigil::auth", error = %e, "database unavailable: answering 503");
                    $error::Unavailable
                } else {
                    $error::Internal(e.to_string())
                }
            }
        }
    };
}
from_hash_and_store!(SignUpError);
from_hash_and_store!(SignInError);
from_hash_and_store!(ConfirmError);
from_hash_and_store!(ResetError);

/// A sign-up request, parsed.
#[derive(Debug)]
pub struct SignUp<'a> {
    /// Display name (checked).
    pub name: &'a str,
    /// Email.
    pub email: Email,
    /// Password (policy checked).
    pub password: Password,
    /// Avatar URL (checked).
    pub image: Option<&'a str>,
    /// Long-lived session.
    pub remember: bool,
}

/// What a sign-up produced.
#[derive(Debug)]
pub enum SignedUp {
    /// The account and its first session (token).
    SignedIn(User, String),
    /// The account exists, its email must be verified before signing in.
    NeedsVerification(User),
    /// The email was taken and verification is required: a made-up user to answer with, so that
    /// the answer does not reveal the account.
    Concealed(User),
}

/// A password reset that was started: the account and the token to mail.
#[derive(Debug)]
pub struct ResetStarted {
    /// The account.
    pub user: User,
    /// The single-use token (only its hash is stored).
    pub token: String,
}

/// The account rules.
pub struct Accounts {
    store: Arc<dyn AuthStore>,
    hasher: PasswordHasher,
    sessions: Sessions,
    throttle: Option<AccountThrottle>,
    clock: SharedClock,
    require_email_verification: bool,
    audit: Audit,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field(
                "require_email_verification",
                &self.require_email_verification,
            )
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// The account service over `store`.
    pub fn new(
        store: Arc<dyn AuthStore>,
        hasher: PasswordHasher,
        sessions: Sessions,
        throttle: Option<AccountThrottle>,
        clock: SharedClock,
        require_email_verification: bool,
        audit: Audit,
    ) -> Accounts {
        Accounts {
            store,
            hasher,
            sessions,
            throttle,
            clock,
            require_email_verification,
            audit,
        }
    }

    /// The audit log.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Creates an account (and, unless its email must be verified first, its first session).
    pub async fn sign_up(
        &self,
        input: SignUp<'_>,
        client: &ClientInfo,
    ) -> Result<SignedUp, SignUpError> {
        let now = self.now();
        let user = User::new(
            random::alphanumeric(32).map_err(StoreError::from)?,
            input.name.to_owned(),
            input.email.as_str().to_owned(),
            input.image.map(str::to_owned),
            now,
        );
        let verify_first = self.require_email_verification;
        let hash = self
            .hasher
            .admit(&client.ip, None, false)?
            .hash(input.password)
            .await?;
        let session =
            (!verify_first).then(|| self.sessions.build(&user.id, input.remember, client));
        let session = session.transpose()?;
        match self
            .store
            .create_user(&user, Some(&hash), session.as_ref().map(|(s, _)| s))
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) if verify_first => {
                tracing::info!(target: "sigil::auth", "sign-up for an existing email (answered generically)");
                return Ok(SignedUp::Concealed(user));
            }
            Err(StoreError::Conflict) => return Err(SignUpError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(target: "sigil::auth", user_id = %user.id, "user signed up");
        let mut entry = AuditEntry::new(AuditEvent::SignUp, Outcome::Success)
            .user(&user.id)
            .client(client);
        if let Some((s, _)) = &session {
            entry = entry.session(&s.id);
        }
        self.audit.record(entry).await;
        // Whoever chose the password is its owner: this address is known to the account.
        if let Some(throttle) = &self.throttle {
            throttle.succeeded(&user.email, &client.ip);
        }
        Ok(match session {
            Some((_, token)) => SignedUp::SignedIn(user, token),
            None => SignedUp::NeedsVerification(user),
        })
    }

    /// Checks credentials and opens a session. Unknown email, missing credential and wrong
    /// password are one error after the same work (a full verification against a dummy hash
    /// when there is no user).
    pub async fn sign_in(
        &self,
        email: &Email,
        password: Password,
        remember: bool,
        client: &ClientInfo,
    ) -> Result<SignedIn, SignInError> {
        // Cheap refusals first, before the database is read or anything is hashed: the account's
        // throttle (known addresses are judged apart from strangers), then this client's and
        // this account's share of the hash queue.
        let standing = match &self.throttle {
            Some(throttle) => throttle.check(email.as_str(), &client.ip).map_err(|wait| {
                // Debug only: refused before any check, so a flood of these would be a log flood.
                tracing::debug!(target: "sigil::auth", wait_secs = wait, "sign-in refused: account throttled for this address");
                SignInError::Throttled(wait)
            })?,
            None => Standing::Stranger,
        };
        let admission = self.hasher.admit(
            &client.ip,
            Some(email.as_str()),
            standing == Standing::Known,
        )?;
        let (user, stored) = match self.store.credentials_by_email(email.as_str()).await? {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        let ok = admission.verify(password, stored).await?;
        drop(admission);
        if let Some(throttle) = &self.throttle {
            if ok {
                throttle.succeeded(email.as_str(), &client.ip);
            } else {
                throttle.failed(email.as_str(), &client.ip);
            }
        }
        let failed = |user_id: Option<&str>, reason: &'static str| {
            let mut entry = AuditEntry::new(AuditEvent::SignIn, Outcome::Failure)
                .client(client)
                .detail("reason", reason);
            if let Some(id) = user_id {
                entry = entry.user(id);
            }
            entry
        };
        let user = match (ok, user) {
            (true, Some(user)) => user,
            (_, user) => {
                tracing::info!(target: "sigil::auth", "sign-in refused: invalid email or password");
                // An unknown email is recorded without the address (it may be a mistyped
                // password); the answer is the same either way.
                let reason = if user.is_some() {
                    "invalid_password"
                } else {
                    "unknown_email"
                };
                self.audit
                    .record(failed(user.as_ref().map(|u| u.id.as_str()), reason))
                    .await;
                return Err(SignInError::InvalidCredentials);
            }
        };
        if user.banned {
            let now = self.now();
            if user.is_banned_at(now) {
                tracing::info!(target: "sigil::auth", user_id = %user.id, "sign-in refused: banned");
                self.audit.record(failed(Some(&user.id), "banned")).await;
                return Err(SignInError::Banned);
            }
            // The ban has expired: lift it (as Better Auth does when the next session starts).
            let lift = UserPatch {
                ban: Some((false, None, None)),
                ..UserPatch::default()
            };
            self.store.patch_user(&user.id, &lift, now).await?;
            self.audit
                .record(
                    AuditEntry::new(AuditEvent::UserUnbanned, Outcome::Success)
                        .user(&user.id)
                        .client(client)
                        .detail("reason", "expired"),
                )
                .await;
        }
        if self.require_email_verification && !user.email_verified {
            self.audit
                .record(failed(Some(&user.id), "email_not_verified"))
                .await;
            return Err(SignInError::EmailNotVerified);
        }
        if user.two_factor_enabled {
            return Ok(SignedIn::SecondFactor(user));
        }
        let (session, token) = self.sessions.create(&user.id, remember, client).await?;
        tracing::info!(target: "sigil::auth", user_id = %user.id, session_id = %session.id, "signed in");
        self.audit
            .record(
                AuditEntry::new(AuditEvent::SignIn, Outcome::Success)
                    .user(&user.id)
                    .session(&session.id)
                    .client(client),
            )
            .await;
        let user = if user.banned {
            self.store.user_by_id(&user.id).await?.unwrap_or(user)
        } else {
            user
        };
        Ok(SignedIn::Session(user, session, token))
    }

    /// Checks a user's current password.
    pub async fn confirm_password(
        &self,
        user_id: &str,
        password: Password,
    ) -> Result<(), ConfirmError> {
        let Some(stored) = self.store.password_hash(user_id).await? else {
            return Err(ConfirmError::NoCredential);
        };
        if !self.hasher.verify(password, Some(stored)).await? {
            return Err(ConfirmError::InvalidPassword);
        }
        Ok(())
    }

    /// Changes the password after checking the current one. With `revoke`, every session of the
    /// user (`current` too) ends and a new one, like `current`, is returned.
    pub async fn change_password(
        &self,
        user: &User,
        current: &Session,
        current_password: Password,
        new_password: Password,
        revoke: bool,
    ) -> Result<Option<(Session, String)>, ConfirmError> {
        self.confirm_password(&user.id, current_password).await?;
        let hash = self.hasher.hash(new_password).await?;
        self.store.set_password(&user.id, &hash, self.now()).await?;
        self.end_reset_links(&user.id).await?;
        self.end_trusted_devices(&user.id).await?;
        tracing::info!(target: "sigil::auth", user_id = %user.id, revoke, "password changed");
        self.audit
            .record(
                AuditEntry::new(AuditEvent::PasswordChanged, Outcome::Success)
                    .user(&user.id)
                    .session(&current.id)
                    .client(&ClientInfo {
                        ip: current.ip_address.clone(),
                        user_agent: current.user_agent.clone(),
                    })
                    .detail("otherSessionsRevoked", revoke),
            )
            .await;
        if !revoke {
            return Ok(None);
        }
        self.sessions.end_all_of(&user.id, None).await?;
        let client = ClientInfo {
            ip: current.ip_address.clone(),
            user_agent: current.user_agent.clone(),
        };
        Ok(Some(
            self.sessions
                .create(&user.id, current.remember, &client)
                .await?,
        ))
    }

    /// Updates name and/or image (already checked).
    pub async fn update_profile(
        &self,
        user_id: &str,
        name: Option<&str>,
        image: Option<Option<&str>>,
    ) -> StoreResult<()> {
        self.store
            .update_profile(user_id, name, image, self.now())
            .await
    }

    /// Whether the user has a password (a credential account).
    pub async fn has_password(&self, user_id: &str) -> StoreResult<bool> {
        Ok(self.store.password_hash(user_id).await?.is_some())
    }

    /// A user by email.
    pub async fn user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
        self.store.user_by_email(email.as_str()).await
    }

    /// A user by id.
    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.store.user_by_id(id).await
    }

    /// Deletes the account and ends its sessions: revoked first (recorded for every instance),
    /// then the account and its rows go.
    pub async fn delete(&self, user_id: &str) -> StoreResult<()> {
        self.sessions.end_all_of(user_id, None).await?;
        let ended = self.store.delete_user(user_id).await?;
        self.sessions.end(ended).await?;
        self.audit
            .record(AuditEntry::new(AuditEvent::UserDeleted, Outcome::Success).user(user_id))
            .await;
        Ok(())
    }

    /// Starts a password reset: for a registered email, a single-use token valid one hour. An
    /// unknown email costs comparable database work and gives `None`.
    pub async fn start_password_reset(&self, email: &Email) -> StoreResult<Option<ResetStarted>> {
        let token = random::alphanumeric(24)?;
        let identifier = reset_identifier(&token);
        let now = self.now();
        match self.store.user_by_email(email.as_str()).await? {
            Some(user) => {
                self.store
                    .insert_verification(&identifier, &user.id, now + RESET_TTL_MS, now)
                    .await?;
                tracing::info!(target: "sigil::auth", user_id = %user.id, "password reset requested");
                self.audit
                    .record(
                        AuditEntry::new(AuditEvent::PasswordResetRequested, Outcome::Success)
                            .user(&user.id),
                    )
                    .await;
                Ok(Some(ResetStarted { user, token }))
            }
            None => {
                self.store.take_verification(&identifier, now).await?;
                Ok(None)
            }
        }
    }

    /// Whether a reset token is (still) valid, without consuming it.
    pub async fn reset_token_is_valid(&self, token: &str) -> StoreResult<bool> {
        if token.len() > 64 {
            return Ok(false);
        }
        Ok(self
            .store
            .peek_verification(&reset_identifier(token), self.now())
            .await?
            .is_some())
    }

    /// Consumes a reset token, sets the new password and ends every session of the account (a
    /// reset usually means the old password may be known to someone else).
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: Password,
        client: &ClientInfo,
    ) -> Result<String, ResetError> {
        if token.is_empty() || token.len() > 64 {
            return Err(ResetError::InvalidToken);
        }
        let user_id = self
            .store
            .take_verification(&reset_identifier(token), self.now())
            .await?
            .ok_or(ResetError::InvalidToken)?;
        let Some(user) = self.store.user_by_id(&user_id).await? else {
            return Err(ResetError::UserNotFound);
        };
        let hash = self.hasher.hash(new_password).await?;
        self.store.set_password(&user_id, &hash, self.now()).await?;
        self.end_reset_links(&user_id).await?;
        self.end_trusted_devices(&user_id).await?;
        self.sessions.end_all_of(&user_id, None).await?;
        // The emailed link proved control of the account: this address may sign in during an
        // attack on it (the way in for a new device while strangers are throttled).
        if let Some(throttle) = &self.throttle {
            throttle.succeeded(&user.email, &client.ip);
        }
        tracing::info!(target: "sigil::auth", %user_id, "password reset; all sessions ended");
        self.audit
            .record(
                AuditEntry::new(AuditEvent::PasswordReset, Outcome::Success)
                    .user(&user_id)
                    .client(client),
            )
            .await;
        Ok(user_id)
    }

    /// Ends every outstanding password-reset link of `user_id`: once the password has been
    /// changed or reset, an earlier link (perhaps mailed to an inbox someone else reads) must not
    /// set it again. Better Auth 1.7.25 leaves them valid until they expire; Sigil is stricter.
    pub async fn end_reset_links(&self, user_id: &str) -> StoreResult<()> {
        self.store.delete_verifications(RESET_PREFIX, user_id).await
    }

    /// Ends every trusted device of `user_id` (their next sign-in asks for the second factor
    /// again): on a password change or reset, and when two-factor is turned off. Better Auth
    /// 1.7.25 ends them only when two-factor is turned off, and only the caller's device.
    pub async fn end_trusted_devices(&self, user_id: &str) -> StoreResult<()> {
        self.store
            .delete_verifications(TRUSTED_DEVICE_PREFIX, user_id)
            .await
    }

    /// A short fingerprint of the account's current password hash, carried by change-email
    /// links: a password change or reset alters it and so ends every pending email change
    /// (whoever asked for it with a stolen session must not take the account over by email
    /// afterwards). The hash is salted and hashed again, so the fingerprint reveals nothing usable.
    pub async fn password_stamp(&self, user_id: &str) -> StoreResult<String> {
        let hash = self.store.password_hash(user_id).await?;
        let digest = crypto::sha256_hex(&format!(
            "sigil/email-change/v1:{}",
            hash.as_deref().unwrap_or("")
        ));
        Ok(digest[..16].to_owned())
    }

    /// Marks the user's email verified.
    pub async fn mark_email_verified(&self, user_id: &str) -> StoreResult<()> {
        self.store.set_email_verified(user_id, self.now()).await?;
        self.audit
            .record(AuditEntry::new(AuditEvent::EmailVerified, Outcome::Success).user(user_id))
            .await;
        Ok(())
    }

    /// Changes the user's email, keeping its verification state; [`StoreError::Conflict`] when
    /// the address was taken in the meantime. Returns the updated user.
    pub async fn change_email(&self, user: &User, new_email: &str) -> StoreResult<User> {
        self.store
            .set_email(&user.id, new_email, user.email_verified, self.now())
            .await?;
        tracing::info!(target: "sigil::auth", user_id = %user.id, "email changed");
        self.audit
            .record(AuditEntry::new(AuditEvent::EmailChanged, Outcome::Success).user(&user.id))
            .await;
        Ok(self
            .store
            .user_by_id(&user.id)
            .await?
            .unwrap_or_else(|| user.clone()))
    }
}

fn reset_identifier(token: &str) -> String {
    format!("{RESET_PREFIX}{}", crypto::sha256_hex(token))
}
