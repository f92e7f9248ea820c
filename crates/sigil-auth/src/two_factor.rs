//! Second factors (Better Auth's `twoFactor` plugin): an authenticator app (TOTP), single-use
//! backup codes and codes sent by email, the sign-in challenge between the password and the
//! session, and "trust this device" for 30 days. No HTTP here: `http/two_factor.rs` extracts,
//! calls one method and replies; `error.rs` maps [`TwoFactorError`] to Better Auth's codes.
//!
//! What is stored, and why it is safe to leak a database row:
//! * the TOTP key is sealed (`crypto::seal`, a key derived from `SIGIL_SECRET`);
//! * backup codes and emailed codes are kept as keyed hashes (HMAC-SHA256 under keys derived
//!   from `SIGIL_SECRET`), compared in constant time;
//! * challenges, emailed codes and trusted devices live in the verification table under the
//!   SHA-256 of their random id.
//!
//! Stricter than Better Auth 1.7.25: a TOTP code is accepted once (the last accepted time step
//! is stored and only a later one is accepted, so a code seen over a shoulder does not open a
//! second sign-in within its window), and failed attempts are counted per account by the
//! sign-in throttle's rules (`throttle.rs`: a growing delay, judged apart for addresses that
//! signed in to the account before), besides Better Auth's cap of five attempts per challenge.

use crate::accounts::{Accounts, ConfirmError, TRUSTED_DEVICE_PREFIX};
use crate::audit::{AuditEntry, AuditEvent, Outcome};
use crate::crypto;
use crate::domain::Password;
use crate::session::{ClientInfo, Sessions};
use crate::store::{AuthStore, Session, StoreError, TwoFactorRow, User};
use crate::throttle::{AccountThrottle, ThrottlePolicy};
use crate::totp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sigil_guard::clock::SharedClock;
use sigil_token::random;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a sign-in waits for its second factor (Better Auth's `twoFactorCookieMaxAge`).
pub const CHALLENGE_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a trusted device skips the second factor (Better Auth's `trustDeviceMaxAge`).
pub const TRUST_DEVICE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long an emailed code works (Better Auth's OTP `period`: 3 minutes).
pub const OTP_TTL: Duration = Duration::from_secs(3 * 60);
/// Wrong codes allowed per challenge, and per emailed code (Better Auth's default: 5).
pub const ATTEMPTS_PER_CHALLENGE: u32 = 5;
/// Backup codes per set, and their length (before the dash).
pub const BACKUP_CODES: usize = 10;
const BACKUP_CODE_LEN: usize = 10;
/// Bytes of a TOTP key (160 bits, RFC 4226's recommendation).
const TOTP_KEY_BYTES: usize = 20;

const CHALLENGE_PREFIX: &str = "2fa:";
const OTP_PREFIX: &str = "2fa-otp:";
const SEAL_PURPOSE: &str = "sigil/two-factor/totp-key";
const BACKUP_PURPOSE: &str = "sigil/two-factor/backup-code";
const OTP_PURPOSE: &str = "sigil/two-factor/email-code";

/// Why a two-factor operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    /// The password confirmation is missing.
    #[error("password required")]
    PasswordRequired,
    /// The password confirmation failed.
    #[error("{0}")]
    Password(#[from] ConfirmError),
    /// The user has no authenticator app set up.
    #[error("totp not enabled")]
    TotpNotEnabled,
    /// The user has no second factor.
    #[error("two factor not enabled")]
    NotEnabled,
    /// The user has no backup codes.
    #[error("backup codes not enabled")]
    BackupCodesNotEnabled,
    /// A wrong, used or expired code.
    #[error("invalid code")]
    InvalidCode,
    /// A wrong or used backup code.
    #[error("invalid backup code")]
    InvalidBackupCode,
    /// No, a forged, a used or an expired two-factor cookie.
    #[error("invalid two factor cookie")]
    InvalidChallenge,
    /// The challenge (or the emailed code) used up its attempts: sign in again (or send a new code).
    #[error("too many attempts")]
    TooManyAttempts,
    /// No emailed code is pending (never sent, used, or expired).
    #[error("otp expired")]
    OtpExpired,
    /// Too many failures for this account from this address: retry after this many seconds.
    #[error("locked")]
    Locked(u64),
    /// The database is unreachable or overloaded.
    #[error("database unavailable")]
    Unavailable,
    /// Storage or randomness failed.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for TwoFactorError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(target: "sigil::auth", error = %e, "database unavailable: answering 503");
            TwoFactorError::Unavailable
        } else {
            TwoFactorError::Internal(e.to_string())
        }
    }
}

impl From<random::RandomError> for TwoFactorError {
    fn from(e: random::RandomError) -> Self {
        TwoFactorError::Internal(e.to_string())
    }
}

type Result<T> = std::result::Result<T, TwoFactorError>;

/// Which second factor `enable` turns on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// An authenticator app (plus backup codes); on once a first code is verified.
    Totp,
    /// Codes sent by email; on at once.
    Otp,
}

/// What `enable` hands out, once.
#[derive(Debug)]
pub struct Enabled {
    /// The `otpauth://` URI for the app (TOTP only).
    pub totp_uri: Option<String>,
    /// The backup codes in clear (TOTP only; only their hashes are kept).
    pub backup_codes: Vec<String>,
}

/// How a sign-in with a correct password goes on for a user with a second factor.
#[derive(Debug)]
pub enum Begun {
    /// The device is trusted: a session, and the trust cookie's new value (rotated).
    Trusted {
        /// The new session.
        session: Session,
        /// Its token.
        token: String,
        /// The trust cookie's next value.
        trust: String,
    },
    /// A second factor is needed: the challenge id for the signed `two_factor` cookie and the
    /// factors the user can use (`totp`, `otp`).
    Challenge {
        /// The challenge id (random; stored hashed).
        challenge: String,
        /// Usable factors.
        methods: Vec<&'static str>,
    },
}

/// Who presents a second factor.
#[derive(Clone, Copy, Debug)]
pub enum Presenter<'a> {
    /// A sign-in waiting for its second factor, by the `two_factor` cookie's challenge id.
    Challenge(&'a str),
    /// A signed-in user (setting up the app, or checking a code again).
    Session {
        /// The user.
        user: &'a User,
        /// Their session.
        session: &'a Session,
    },
}

/// A second factor.
#[derive(Clone, Copy, Debug)]
pub enum Factor<'a> {
    /// A code from the authenticator app.
    Totp(&'a str),
    /// A code sent by email.
    Otp(&'a str),
    /// A backup code.
    Backup(&'a str),
}

impl Factor<'_> {
    /// The factor's name in the audit log (never the code).
    fn name(&self) -> &'static str {
        match self {
            Factor::Totp(_) => "totp",
            Factor::Otp(_) => "otp",
            Factor::Backup(_) => "backup_code",
        }
    }
}

/// A verified second factor.
#[derive(Debug)]
pub struct Verified {
    /// The user (as now stored).
    pub user: User,
    /// The session a sign-in challenge ended with (`None` for a signed-in presenter).
    pub new_session: Option<(Session, String, bool)>,
    /// A trust cookie value, when the device is to be trusted.
    pub trust: Option<String>,
}

/// A pending emailed code: where to send what.
#[derive(Debug)]
pub struct OtpToSend {
    /// The user.
    pub user: User,
    /// The code (only its hash is stored).
    pub code: String,
}

/// A pending challenge, as stored.
struct Challenge {
    attempts: u32,
    remember: bool,
    expires_at: i64,
    user_id: String,
}

impl Challenge {
    fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.attempts,
            u8::from(self.remember),
            self.expires_at,
            self.user_id
        )
    }

    fn decode(value: &str) -> Option<Challenge> {
        let mut parts = value.splitn(4, '|');
        Some(Challenge {
            attempts: parts.next()?.parse().ok()?,
            remember: parts.next()? == "1",
            expires_at: parts.next()?.parse().ok()?,
            user_id: parts.next()?.to_owned(),
        })
    }
}

/// The two-factor rules.
pub struct TwoFactor {
    store: Arc<dyn AuthStore>,
    accounts: Arc<Accounts>,
    sessions: Sessions,
    throttle: AccountThrottle,
    clock: SharedClock,
    secret: Zeroizing<Vec<u8>>,
    issuer: String,
}

impl std::fmt::Debug for TwoFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactor")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn keyed_hash(secret: &[u8], purpose: &str, code: &str) -> String {
    let key = crypto::derive_key(secret, purpose);
    URL_SAFE_NO_PAD.encode(crypto::hmac_sha256(&key[..], code.as_bytes()))
}

impl TwoFactor {
    /// The service. `secret` is the server secret (keys for sealing and hashing derive from it);
    /// `issuer` names the service in authenticator apps.
    pub fn new(
        store: Arc<dyn AuthStore>,
        accounts: Arc<Accounts>,
        sessions: Sessions,
        clock: SharedClock,
        secret: &[u8],
        issuer: String,
    ) -> TwoFactor {
        TwoFactor {
            store,
            accounts,
            sessions,
            throttle: AccountThrottle::new(ThrottlePolicy::default(), clock.clone()),
            clock,
            secret: Zeroizing::new(secret.to_vec()),
            issuer,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    async fn confirm(&self, user: &User, password: Option<Password>) -> Result<()> {
        let password = password.ok_or(TwoFactorError::PasswordRequired)?;
        self.accounts.confirm_password(&user.id, password).await?;
        Ok(())
    }

    fn totp_key(&self, row: &TwoFactorRow) -> Result<Zeroizing<Vec<u8>>> {
        crypto::open(&self.secret, SEAL_PURPOSE, &row.secret).ok_or_else(|| {
            TwoFactorError::Internal("two-factor secret does not open with this secret".into())
        })
    }

    fn new_backup_codes(&self) -> Result<(Vec<String>, String)> {
        let mut codes = Vec::with_capacity(BACKUP_CODES);
        let mut hashes = Vec::with_capacity(BACKUP_CODES);
        for _ in 0..BACKUP_CODES {
            let raw = random::alphanumeric(BACKUP_CODE_LEN)?;
            let code = format!("{}-{}", &raw[..5], &raw[5..]);
            hashes.push(keyed_hash(&self.secret, BACKUP_PURPOSE, &code));
            codes.push(code);
        }
        let stored =
            serde_json::to_string(&hashes).map_err(|e| TwoFactorError::Internal(e.to_string()))?;
        Ok((codes, stored))
    }

    /// Turns a second factor on after confirming the password. TOTP: a new key and backup
    /// codes (replacing earlier ones); the factor gates sign-in once a first code is verified
    /// (`verify` with a session). Email codes: on at once.
    pub async fn enable(
        &self,
        user: &User,
        password: Option<Password>,
        method: Method,
        issuer: Option<&str>,
    ) -> Result<Enabled> {
        self.confirm(user, password).await?;
        let now = self.now();
        if method == Method::Otp {
            self.store
                .set_two_factor_enabled(&user.id, true, now)
                .await?;
            tracing::info!(target: "sigil::auth", user_id = %user.id, "two-factor (email codes) enabled");
            self.record(
                AuditEntry::new(AuditEvent::TwoFactorEnabled, Outcome::Success)
                    .user(&user.id)
                    .detail("method", "otp"),
            )
            .await;
            return Ok(Enabled {
                totp_uri: None,
                backup_codes: Vec::new(),
            });
        }
        let mut key = Zeroizing::new(vec![0u8; TOTP_KEY_BYTES]);
        random::fill(&mut key)?;
        let sealed = crypto::seal(&self.secret, SEAL_PURPOSE, &key)
            .ok_or_else(|| TwoFactorError::Internal("sealing the TOTP key failed".into()))?;
        let (codes, hashes) = self.new_backup_codes()?;
        // Re-enabling keeps an already verified set-up verified (as Better Auth does): the
        // user confirmed the password and gets the new key at once.
        let verified = self
            .store
            .two_factor(&user.id)
            .await?
            .is_some_and(|r| r.verified);
        self.store
            .put_two_factor(
                &TwoFactorRow {
                    user_id: user.id.clone(),
                    secret: sealed,
                    backup_codes: hashes,
                    verified,
                    last_step: -1,
                },
                now,
            )
            .await?;
        tracing::info!(target: "sigil::auth", user_id = %user.id, "two-factor (authenticator app) set up");
        Ok(Enabled {
            totp_uri: Some(totp::uri(&key, issuer.unwrap_or(&self.issuer), &user.email)),
            backup_codes: codes,
        })
    }

    /// The `otpauth://` URI again, after confirming the password.
    pub async fn totp_uri(&self, user: &User, password: Option<Password>) -> Result<String> {
        let row = self
            .store
            .two_factor(&user.id)
            .await?
            .ok_or(TwoFactorError::TotpNotEnabled)?;
        self.confirm(user, password).await?;
        let key = self.totp_key(&row)?;
        Ok(totp::uri(&key, &self.issuer, &user.email))
    }

    /// A new set of backup codes (the old ones stop working), after confirming the password.
    pub async fn regenerate_backup_codes(
        &self,
        user: &User,
        password: Option<Password>,
    ) -> Result<Vec<String>> {
        if !user.two_factor_enabled {
            return Err(TwoFactorError::NotEnabled);
        }
        self.confirm(user, password).await?;
        let mut row = self
            .store
            .two_factor(&user.id)
            .await?
            .ok_or(TwoFactorError::NotEnabled)?;
        let (codes, hashes) = self.new_backup_codes()?;
        row.backup_codes = hashes;
        self.store.put_two_factor(&row, self.now()).await?;
        tracing::info!(target: "sigil::auth", user_id = %user.id, "backup codes regenerated");
        self.record(
            AuditEntry::new(AuditEvent::BackupCodesRegenerated, Outcome::Success).user(&user.id),
        )
        .await;
        Ok(codes)
    }

    /// Turns two-factor off after confirming the password: the key, the backup codes and every
    /// trusted device of the user go.
    pub async fn disable(&self, user: &User, password: Option<Password>) -> Result<()> {
        self.confirm(user, password).await?;
        self.store
            .set_two_factor_enabled(&user.id, false, self.now())
            .await?;
        self.accounts.end_trusted_devices(&user.id).await?;
        tracing::info!(target: "sigil::auth", user_id = %user.id, "two-factor disabled");
        self.record(
            AuditEntry::new(AuditEvent::TwoFactorDisabled, Outcome::Success).user(&user.id),
        )
        .await;
        Ok(())
    }

    /// Records a second-factor event in the audit log.
    async fn record(&self, entry: AuditEntry) {
        self.accounts.audit().record(entry).await;
    }

    /// The factors `user` can present at sign-in.
    async fn methods(&self, user: &User) -> Result<Vec<&'static str>> {
        let mut methods = Vec::with_capacity(2);
        if self
            .store
            .two_factor(&user.id)
            .await?
            .is_some_and(|r| r.verified)
        {
            methods.push("totp");
        }
        methods.push("otp");
        Ok(methods)
    }

    /// Continues a sign-in whose password was right, for a user with a second factor: a session
    /// at once when `trust` is a valid trust cookie of this user (rotated: the old value stops
    /// working), a challenge otherwise.
    pub async fn begin(
        &self,
        user: &User,
        remember: bool,
        trust: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Begun> {
        if let Some(trust) = trust
            && self.take_trust(user, trust).await?
        {
            let (session, token) = self.sessions.create(&user.id, remember, client).await?;
            let trust = self.new_trust(&user.id).await?;
            tracing::info!(target: "sigil::auth", user_id = %user.id, session_id = %session.id, "signed in from a trusted device");
            self.record(
                AuditEntry::new(AuditEvent::SignIn, Outcome::Success)
                    .user(&user.id)
                    .session(&session.id)
                    .client(client)
                    .detail("second_factor", "trusted_device"),
            )
            .await;
            return Ok(Begun::Trusted {
                session,
                token,
                trust,
            });
        }
        // `2fa-…`, the shape of Better Auth's challenge ids.
        let challenge = format!("2fa-{}", random::alphanumeric(32)?);
        let now = self.now();
        let expires_at = now + ms(CHALLENGE_TTL);
        let stored = Challenge {
            attempts: 0,
            remember,
            expires_at,
            user_id: user.id.clone(),
        };
        self.store
            .insert_verification(&challenge_id(&challenge), &stored.encode(), expires_at, now)
            .await?;
        tracing::info!(target: "sigil::auth", user_id = %user.id, "password accepted; second factor required");
        Ok(Begun::Challenge {
            challenge,
            methods: self.methods(user).await?,
        })
    }

    /// The id of the user a pending sign-in challenge (the `two_factor` cookie's id) waits for;
    /// `None` for a malformed, unknown, used, expired or used-up challenge. Nothing is consumed.
    pub async fn pending_user(&self, challenge: &str) -> Result<Option<String>> {
        if challenge.is_empty() || challenge.len() > 64 {
            return Ok(None);
        }
        Ok(self
            .store
            .peek_verification(&challenge_id(challenge), self.now())
            .await?
            .and_then(|value| Challenge::decode(&value))
            .filter(|c| c.attempts < ATTEMPTS_PER_CHALLENGE)
            .map(|c| c.user_id))
    }

    /// Ends a pending sign-in with a passkey: the caller has verified a passkey assertion of
    /// `user_id` (possession and user verification, itself two factors). The challenge is
    /// consumed; it must be live, not used up, and waiting for `user_id` (of another user it is
    /// left alone and refused). The session keeps the sign-in's "remember me"; answers it, its
    /// token and that flag.
    pub async fn complete_with_passkey(
        &self,
        challenge: &str,
        user_id: &str,
        client: &ClientInfo,
    ) -> Result<(Session, String, bool)> {
        if challenge.is_empty() || challenge.len() > 64 {
            return Err(TwoFactorError::InvalidChallenge);
        }
        let now = self.now();
        let value = self
            .store
            .peek_verification(&challenge_id(challenge), now)
            .await?
            .ok_or(TwoFactorError::InvalidChallenge)?;
        let stored = Challenge::decode(&value).ok_or(TwoFactorError::InvalidChallenge)?;
        if !crypto::ct_eq(stored.user_id.as_bytes(), user_id.as_bytes()) {
            return Err(TwoFactorError::InvalidChallenge);
        }
        // Taken, and checked again as taken: of two concurrent completions one wins.
        let taken = self
            .store
            .take_verification(&challenge_id(challenge), now)
            .await?
            .and_then(|value| Challenge::decode(&value))
            .ok_or(TwoFactorError::InvalidChallenge)?;
        if !crypto::ct_eq(taken.user_id.as_bytes(), user_id.as_bytes()) {
            return Err(TwoFactorError::InvalidChallenge);
        }
        if taken.attempts >= ATTEMPTS_PER_CHALLENGE {
            return Err(TwoFactorError::TooManyAttempts);
        }
        let (session, token) = self
            .sessions
            .create(user_id, taken.remember, client)
            .await?;
        tracing::info!(target: "sigil::auth", user_id, session_id = %session.id, "signed in with a second factor (a passkey)");
        self.record(
            AuditEntry::new(AuditEvent::SignIn, Outcome::Success)
                .user(user_id)
                .session(&session.id)
                .client(client)
                .detail("second_factor", "passkey"),
        )
        .await;
        Ok((session, token, taken.remember))
    }

    /// Whether `value` is a valid trust cookie of `user`; a valid one is used up.
    async fn take_trust(&self, user: &User, value: &str) -> Result<bool> {
        let Some((mac, id)) = value.split_once('!') else {
            return Ok(false);
        };
        if id.is_empty() || id.len() > 64 {
            return Ok(false);
        }
        let expected = trust_mac(&self.secret, &user.id, id);
        if !crypto::ct_eq(mac.as_bytes(), expected.as_bytes()) {
            return Ok(false);
        }
        let owner = self
            .store
            .take_verification(&trust_id(id), self.now())
            .await?;
        Ok(owner.is_some_and(|owner| crypto::ct_eq(owner.as_bytes(), user.id.as_bytes())))
    }

    /// A new trusted-device record for `user_id` and its cookie value, `mac!id`: the MAC binds
    /// the id to the user, the record makes it revocable.
    async fn new_trust(&self, user_id: &str) -> Result<String> {
        // `trust-device-…`, the shape of Better Auth's identifiers.
        let id = format!("trust-device-{}", random::alphanumeric(32)?);
        let now = self.now();
        self.store
            .insert_verification(&trust_id(&id), user_id, now + ms(TRUST_DEVICE_TTL), now)
            .await?;
        Ok(format!("{}!{id}", trust_mac(&self.secret, user_id, &id)))
    }

    /// The presenter's user and, for a challenge, the challenge itself (still stored).
    async fn presenter(&self, presenter: Presenter<'_>) -> Result<(User, Option<Challenge>)> {
        match presenter {
            Presenter::Session { user, .. } => Ok((user.clone(), None)),
            Presenter::Challenge(id) => {
                if id.is_empty() || id.len() > 64 {
                    return Err(TwoFactorError::InvalidChallenge);
                }
                let value = self
                    .store
                    .peek_verification(&challenge_id(id), self.now())
                    .await?
                    .ok_or(TwoFactorError::InvalidChallenge)?;
                let challenge =
                    Challenge::decode(&value).ok_or(TwoFactorError::InvalidChallenge)?;
                let user = self
                    .accounts
                    .user_by_id(&challenge.user_id)
                    .await?
                    .ok_or(TwoFactorError::InvalidChallenge)?;
                Ok((user, Some(challenge)))
            }
        }
    }

    /// The key emailed codes are filed under for this presenter.
    fn otp_key(presenter: Presenter<'_>) -> String {
        let key = match presenter {
            Presenter::Challenge(id) => format!("challenge:{id}"),
            Presenter::Session { session, .. } => format!("session:{}", session.id),
        };
        format!("{OTP_PREFIX}{}", crypto::sha256_hex(&key))
    }

    /// Creates a code to email to the presenter (replacing a pending one).
    pub async fn send_otp(&self, presenter: Presenter<'_>) -> Result<OtpToSend> {
        let (user, _) = self.presenter(presenter).await?;
        if !user.two_factor_enabled && matches!(presenter, Presenter::Challenge(_)) {
            return Err(TwoFactorError::NotEnabled);
        }
        let code = random_digits(6)?;
        let now = self.now();
        let expires_at = now + ms(OTP_TTL);
        let key = Self::otp_key(presenter);
        let value = format!(
            "0|{expires_at}|{}",
            keyed_hash(&self.secret, OTP_PURPOSE, &code)
        );
        self.store.take_verification(&key, now).await?;
        self.store
            .insert_verification(&key, &value, expires_at, now)
            .await?;
        tracing::info!(target: "sigil::auth", user_id = %user.id, "two-factor email code created");
        Ok(OtpToSend { user, code })
    }

    /// Checks a second factor. For a sign-in challenge it is consumed on success (and on its
    /// fifth failure) and a session is created; for a signed-in user a first TOTP code turns the
    /// authenticator app on. `trust_device` asks for a trust cookie (sign-in only).
    pub async fn verify(
        &self,
        presenter: Presenter<'_>,
        factor: Factor<'_>,
        trust_device: bool,
        client: &ClientInfo,
    ) -> Result<Verified> {
        let (user, challenge) = self.presenter(presenter).await?;
        self.throttle
            .check(&user.id, &client.ip)
            .map_err(TwoFactorError::Locked)?;
        // The challenge is taken (deleted) while its code is checked: of two concurrent
        // attempts one proceeds, the other finds no challenge. A failure puts it back with one
        // attempt more.
        if let (Presenter::Challenge(id), Some(stored)) = (presenter, &challenge) {
            let now = self.now();
            let value = self
                .store
                .take_verification(&challenge_id(id), now)
                .await?
                .ok_or(TwoFactorError::InvalidChallenge)?;
            let taken = Challenge::decode(&value).ok_or(TwoFactorError::InvalidChallenge)?;
            if taken.user_id != stored.user_id {
                return Err(TwoFactorError::InvalidChallenge);
            }
            if taken.attempts >= ATTEMPTS_PER_CHALLENGE {
                return Err(TwoFactorError::TooManyAttempts);
            }
        }
        let outcome = self.check(presenter, &user, factor).await;
        match outcome {
            Ok(()) => {}
            Err(e) => {
                if matches!(
                    e,
                    TwoFactorError::InvalidCode | TwoFactorError::InvalidBackupCode
                ) {
                    self.throttle.failed(&user.id, &client.ip);
                    tracing::info!(target: "sigil::auth", user_id = %user.id, "second factor refused");
                    if matches!(presenter, Presenter::Challenge(_)) {
                        self.record(
                            AuditEntry::new(AuditEvent::SignIn, Outcome::Failure)
                                .user(&user.id)
                                .client(client)
                                .detail("second_factor", factor.name())
                                .detail("reason", "invalid_second_factor"),
                        )
                        .await;
                    }
                }
                if let (Presenter::Challenge(id), Some(mut stored)) = (presenter, challenge) {
                    if !matches!(e, TwoFactorError::Unavailable | TwoFactorError::Internal(_)) {
                        stored.attempts += 1;
                    }
                    // Put back with the attempt counted; one that has used up its attempts
                    // answers the next try with `TooManyAttempts` and is gone after it.
                    self.store
                        .insert_verification(
                            &challenge_id(id),
                            &stored.encode(),
                            stored.expires_at,
                            self.now(),
                        )
                        .await?;
                }
                return Err(e);
            }
        }
        self.throttle.succeeded(&user.id, &client.ip);
        let was_enabled = user.two_factor_enabled;
        let user = self
            .accounts
            .user_by_id(&user.id)
            .await?
            .ok_or(TwoFactorError::InvalidChallenge)?;
        let Some(challenge) = challenge else {
            if user.two_factor_enabled && !was_enabled {
                self.record(
                    AuditEntry::new(AuditEvent::TwoFactorEnabled, Outcome::Success)
                        .user(&user.id)
                        .client(client)
                        .detail("method", "totp"),
                )
                .await;
            }
            return Ok(Verified {
                user,
                new_session: None,
                trust: None,
            });
        };
        let (session, token) = self
            .sessions
            .create(&user.id, challenge.remember, client)
            .await?;
        let trust = if trust_device {
            Some(self.new_trust(&user.id).await?)
        } else {
            None
        };
        tracing::info!(target: "sigil::auth", user_id = %user.id, session_id = %session.id, "signed in with a second factor");
        self.record(
            AuditEntry::new(AuditEvent::SignIn, Outcome::Success)
                .user(&user.id)
                .session(&session.id)
                .client(client)
                .detail("second_factor", factor.name()),
        )
        .await;
        Ok(Verified {
            user,
            new_session: Some((session, token, challenge.remember)),
            trust,
        })
    }

    /// Checks one factor of `user` (no challenge bookkeeping).
    async fn check(&self, presenter: Presenter<'_>, user: &User, factor: Factor<'_>) -> Result<()> {
        let signing_in = matches!(presenter, Presenter::Challenge(_));
        match factor {
            Factor::Totp(code) => {
                let row = self
                    .store
                    .two_factor(&user.id)
                    .await?
                    .filter(|r| r.verified || !signing_in)
                    .ok_or(TwoFactorError::TotpNotEnabled)?;
                let key = self.totp_key(&row)?;
                let step = totp::matching_step(&key, code.trim(), self.clock.now_unix())
                    .and_then(|s| i64::try_from(s).ok())
                    .ok_or(TwoFactorError::InvalidCode)?;
                // Single use: only a step later than the last accepted one.
                if !self
                    .store
                    .advance_totp_step(&user.id, step, self.now())
                    .await?
                {
                    tracing::info!(target: "sigil::auth", user_id = %user.id, "TOTP code replayed: refused");
                    return Err(TwoFactorError::InvalidCode);
                }
                if !row.verified {
                    self.store.confirm_two_factor(&user.id, self.now()).await?;
                    tracing::info!(target: "sigil::auth", user_id = %user.id, "two-factor (authenticator app) enabled");
                }
                Ok(())
            }
            Factor::Backup(code) => {
                let row = self
                    .store
                    .two_factor(&user.id)
                    .await?
                    .ok_or(TwoFactorError::BackupCodesNotEnabled)?;
                let hashes: Vec<String> = serde_json::from_str(&row.backup_codes)
                    .map_err(|e| TwoFactorError::Internal(e.to_string()))?;
                let given = keyed_hash(&self.secret, BACKUP_PURPOSE, code.trim());
                let mut found = None;
                for (i, hash) in hashes.iter().enumerate() {
                    if crypto::ct_eq(hash.as_bytes(), given.as_bytes()) && found.is_none() {
                        found = Some(i);
                    }
                }
                let Some(index) = found else {
                    return Err(TwoFactorError::InvalidBackupCode);
                };
                let mut left = hashes;
                left.remove(index);
                let left = serde_json::to_string(&left)
                    .map_err(|e| TwoFactorError::Internal(e.to_string()))?;
                // Compare-and-swap: a concurrent use of the same code loses.
                if !self
                    .store
                    .swap_backup_codes(&user.id, &row.backup_codes, &left, self.now())
                    .await?
                {
                    return Err(TwoFactorError::InvalidBackupCode);
                }
                tracing::info!(target: "sigil::auth", user_id = %user.id, "backup code used");
                Ok(())
            }
            Factor::Otp(code) => {
                let key = Self::otp_key(presenter);
                let now = self.now();
                let value = self
                    .store
                    .take_verification(&key, now)
                    .await?
                    .ok_or(TwoFactorError::OtpExpired)?;
                let mut parts = value.splitn(3, '|');
                let (Some(attempts), Some(expires_at), Some(hash)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(TwoFactorError::OtpExpired);
                };
                let attempts: u32 = attempts.parse().unwrap_or(ATTEMPTS_PER_CHALLENGE);
                let expires_at: i64 = expires_at.parse().unwrap_or(0);
                if attempts >= ATTEMPTS_PER_CHALLENGE {
                    return Err(TwoFactorError::TooManyAttempts);
                }
                let given = keyed_hash(&self.secret, OTP_PURPOSE, code.trim());
                if crypto::ct_eq(hash.as_bytes(), given.as_bytes()) {
                    if !user.two_factor_enabled && !signing_in {
                        self.store
                            .set_two_factor_enabled(&user.id, true, now)
                            .await?;
                    }
                    return Ok(());
                }
                if attempts + 1 < ATTEMPTS_PER_CHALLENGE {
                    self.store
                        .insert_verification(
                            &key,
                            &format!("{}|{expires_at}|{hash}", attempts + 1),
                            expires_at,
                            now,
                        )
                        .await?;
                }
                Err(TwoFactorError::InvalidCode)
            }
        }
    }
}

fn challenge_id(challenge: &str) -> String {
    format!("{CHALLENGE_PREFIX}{}", crypto::sha256_hex(challenge))
}

fn trust_id(id: &str) -> String {
    format!("{TRUSTED_DEVICE_PREFIX}{}", crypto::sha256_hex(id))
}

fn trust_mac(secret: &[u8], user_id: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(crypto::hmac_sha256(
        secret,
        format!("{user_id}!{id}").as_bytes(),
    ))
}

/// `n` random decimal digits (rejection sampling: no modulo bias).
fn random_digits(n: usize) -> std::result::Result<String, random::RandomError> {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        let mut byte = [0u8; 1];
        random::fill(&mut byte)?;
        if byte[0] < 250 {
            out.push(char::from(b'0' + byte[0] % 10));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_round_trip() {
        let c = Challenge {
            attempts: 3,
            remember: true,
            expires_at: 1_700_000_000_000,
            user_id: "u|1".into(),
        };
        let d = Challenge::decode(&c.encode()).unwrap();
        assert_eq!(
            (d.attempts, d.remember, d.expires_at, d.user_id.as_str()),
            (3, true, 1_700_000_000_000, "u|1")
        );
        assert!(Challenge::decode("x|1|2|u").is_none());
    }

    #[test]
    fn digits_are_digits() {
        let code = random_digits(6).unwrap();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn trust_macs_bind_the_user() {
        let secret = b"0123456789abcdef0123456789abcdef";
        assert_ne!(
            trust_mac(secret, "alice", "id1"),
            trust_mac(secret, "bob", "id1")
        );
    }
}
