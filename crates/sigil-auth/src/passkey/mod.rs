//! WebAuthn passkeys over Better Auth's passkey plugin protocol: registration, sign-in with a
//! passkey alone (discoverable credentials), listing, renaming and deleting. No HTTP here: the
//! handlers in `http::passkey` extract, call one method and reply; every refusal is a
//! [`PasskeyError`], mapped to Better Auth's error codes in one place (`error.rs`).
//!
//! The WebAuthn checks (client data type, challenge, origin, rp id hash, user presence and
//! verification, signature, algorithm, signature counter) are webauthn-rs's. Sigil adds what it
//! leaves to the application:
//!
//! * **Challenges** are bound to the browser that asked for them: a random id in Better Auth's
//!   signed `better-auth-passkey` cookie names a server-side row in `verifications` (the
//!   webauthn-rs ceremony state, the ceremony kind and the user). The row is consumed by the
//!   first verification, successful or not (a replayed or second answer finds nothing), and
//!   expires after [`CHALLENGE_TTL`] by the service's clock. Pending challenges are capped at
//!   [`MAX_PENDING_CHALLENGES`] in all.
//! * **Ownership**: registering binds the passkey to the session's user, and a registration
//!   answered under another session is refused. A sign-in asked for under a session accepts only
//!   that user's passkeys, and the `userHandle` an authenticator returns must be the one given
//!   at registration.
//! * **Clones**: a counter that does not move forward is refused (webauthn-rs), and the new
//!   counter is written only if no other sign-in wrote one meanwhile.
//! * **User verification** is required at sign-in (webauthn-rs's passkey ceremonies): a passkey
//!   is possession plus a PIN or biometric, so a passkey sign-in gives a session even to a user
//!   with two-factor on (as Better Auth's, whose two-factor hook does not match passkey
//!   sign-in), and it is never a one-factor sign-in.
//! * **Second factor**: options asked by a browser holding a pending two-factor sign-in (the
//!   `two_factor` cookie after a correct password) name that user's passkeys and bind the
//!   challenge to that sign-in; the answer must then be a passkey of that user, presented with
//!   the same `two_factor` cookie, and it ends the pending sign-in (consumed, "remember me" as
//!   the password step asked) instead of starting an unrelated one. A passkey of another user
//!   never completes it. See `docs/design.md` ("Passkey as a second factor").
//!
//! The relying party id is the host of `SIGIL_BASE_URL`; the accepted origins are its origin
//! and the trusted origins under that host. Browsers refuse an IP address as an rp id, so with
//! a base URL such as `http://127.0.0.1:8080` passkeys are off ([`PasskeyError::Unavailable`]):
//! use `http://localhost:8080`.

use crate::audit::{Audit, AuditEntry, AuditEvent, Outcome};
use crate::config::AuthConfig;
use crate::crypto;
use crate::session::{ClientInfo, Sessions};
use crate::store::{AuthStore, PasskeyRow, PasskeyUse, Session, StoreError, User};
use crate::two_factor::{TwoFactor, TwoFactorError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sigil_guard::clock::SharedClock;
use std::sync::Arc;
use std::time::Duration;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

/// How long a ceremony's challenge stays usable (Better Auth: 5 minutes).
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Most unexpired challenges at once, all users and strangers together (asking for sign-in
/// options needs no account, so this bounds the rows a flood can leave behind).
pub const MAX_PENDING_CHALLENGES: i64 = 10_000;
/// Most passkeys one account may register.
pub const MAX_PASSKEYS_PER_USER: usize = 32;
/// Longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// Identifier prefix of challenge rows in `verifications`.
const CHALLENGE_PREFIX: &str = "passkey-challenge:";

/// Why a passkey operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The base URL's host cannot be a WebAuthn rp id (an IP address).
    #[error("passkeys are not available on this server")]
    Unavailable,
    /// No usable challenge: no cookie, an unknown, used or expired one, or one of the other
    /// ceremony.
    #[error("challenge not found")]
    ChallengeNotFound,
    /// The challenge was issued to another user.
    #[error("not allowed to register this passkey")]
    NotAllowed,
    /// The registration answer did not verify (or its credential is registered already).
    #[error("registration failed")]
    RegistrationFailed,
    /// The account has [`MAX_PASSKEYS_PER_USER`] passkeys.
    #[error("too many passkeys")]
    TooMany,
    /// The assertion names a credential no account has.
    #[error("unknown credential")]
    UnknownCredential,
    /// The assertion did not verify (signature, origin, rp id, counter, user, user handle).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A challenge bound to a pending two-factor sign-in was answered without that sign-in's
    /// `two_factor` cookie, or the sign-in is no longer pending (used, expired, used up).
    #[error("invalid two factor cookie")]
    InvalidTwoFactorCookie,
    /// The passkey's user is banned (no session, as for a password sign-in).
    #[error("banned")]
    Banned,
    /// The caller has no passkey with this id.
    #[error("passkey not found")]
    NotFound,
    /// Too many challenges are pending.
    #[error("too many pending passkey challenges")]
    Busy,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Ending a pending two-factor sign-in failed (storage).
    #[error(transparent)]
    TwoFactor(TwoFactorError),
    /// Something that cannot come from the client went wrong.
    #[error("{0}")]
    Internal(String),
}

/// A ceremony's options for the browser, and the id its cookie must carry back.
#[derive(Debug)]
pub struct Challenge {
    /// `PublicKeyCredentialCreationOptionsJSON` / `PublicKeyCredentialRequestOptionsJSON`.
    pub options: Value,
    /// The challenge row's id (goes into the signed cookie).
    pub id: String,
}

/// `authenticatorAttachment` of the registration options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// A built-in authenticator.
    Platform,
    /// A roaming one (security key, phone).
    CrossPlatform,
}

/// What a challenge row holds.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Pending {
    Registration {
        user_id: String,
        user_handle: String,
        state: PasskeyRegistration,
    },
    Authentication {
        /// The signed-in user who asked, if any: only their passkeys are then accepted.
        user_id: Option<String>,
        /// For a second factor: the SHA-256 of the pending two-factor sign-in's challenge id
        /// (`user_id` is then that sign-in's user).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        second_factor: Option<String>,
        state: DiscoverableAuthentication,
    },
}

/// A successful sign-in with a passkey.
#[derive(Debug)]
pub struct SignedIn {
    /// The user.
    pub user: User,
    /// Whether the session outlives the browser (false only when a pending two-factor sign-in
    /// with `rememberMe: false` was completed).
    pub remember: bool,
    /// Whether it ended a pending two-factor sign-in.
    pub second_factor: bool,
    /// The new session.
    pub session: Session,
    /// Its token.
    pub token: String,
}

/// Passkey operations.
#[derive(Clone)]
pub struct Passkeys {
    store: Arc<dyn AuthStore>,
    sessions: Sessions,
    webauthn: Option<Arc<Webauthn>>,
    clock: SharedClock,
    /// Sign-ins, registrations and deletions are recorded here.
    audit: Audit,
    /// Most pending challenges ([`MAX_PENDING_CHALLENGES`] unless changed).
    challenge_cap: i64,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys")
            .field("enabled", &self.webauthn.is_some())
            .finish_non_exhaustive()
    }
}

/// The relying party for `config`: id = the base URL's host; origins = its origin plus the
/// exact trusted origins on that host or below it. `None` when the host is an IP address.
fn relying_party(config: &AuthConfig) -> Option<Webauthn> {
    let rp_id = config.base_url.domain()?;
    let origin = Url::parse(&config.origin()).ok()?;
    let mut builder = WebauthnBuilder::new(rp_id, &origin).ok()?.rp_name("Sigil");
    for trusted in &config.trusted_origins {
        if trusted.contains('*') {
            continue;
        }
        let Ok(url) = Url::parse(trusted) else {
            continue;
        };
        let under_rp = url
            .domain()
            .is_some_and(|d| d == rp_id || d.ends_with(&format!(".{rp_id}")));
        if under_rp && url.origin() != origin.origin() {
            builder = builder.append_allowed_origin(&url);
        }
    }
    builder.build().ok()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn internal(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Internal(e.to_string())
}

/// The id of a challenge row, from the cookie's random id (only its hash is stored).
fn row_id(id: &str) -> String {
    format!("{CHALLENGE_PREFIX}{}", crypto::sha256_hex(id))
}

/// `singleDevice` or `multiDevice`, as SimpleWebAuthn names them.
fn device_type(backup_eligible: bool) -> &'static str {
    if backup_eligible {
        "multiDevice"
    } else {
        "singleDevice"
    }
}

/// The transports a registration answer reports, as Better Auth stores them (comma-joined);
/// at most 8 known short names are kept.
fn transports_of(response: &Value) -> String {
    response
        .pointer("/response/transports")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .filter(|t| {
                    !t.is_empty()
                        && t.len() <= 16
                        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
                .take(8)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A passkey as Better Auth's `Passkey` type serialises it.
pub fn passkey_json(p: &PasskeyRow) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "publicKey": p.public_key,
        "userId": p.user_id,
        "credentialID": p.credential_id,
        "counter": p.counter,
        "deviceType": p.device_type,
        "backedUp": p.backed_up,
        "transports": p.transports,
        "createdAt": crate::domain::iso8601(p.created_at),
        "aaguid": null,
    })
}

impl Passkeys {
    /// Passkey operations for `config` (off when its base URL's host is an IP address).
    pub fn new(
        store: Arc<dyn AuthStore>,
        sessions: Sessions,
        config: &AuthConfig,
        clock: SharedClock,
    ) -> Passkeys {
        let webauthn = relying_party(config).map(Arc::new);
        if webauthn.is_none() {
            tracing::info!(target: "sigil::auth", "passkeys off: the base URL's host is not a domain name (browsers refuse an IP address as WebAuthn relying party)");
        }
        Passkeys {
            audit: Audit::new(store.clone(), clock.clone()),
            store,
            sessions,
            webauthn,
            clock,
            challenge_cap: MAX_PENDING_CHALLENGES,
        }
    }

    /// The same service with another cap on pending challenges.
    pub fn with_challenge_cap(mut self, cap: i64) -> Passkeys {
        self.challenge_cap = cap;
        self
    }

    /// Whether passkeys work on this server.
    pub fn enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, PasskeyError> {
        self.webauthn.as_deref().ok_or(PasskeyError::Unavailable)
    }

    /// Stores a challenge row and returns its random id.
    async fn save(&self, pending: &Pending) -> Result<String, PasskeyError> {
        let now = self.clock.now_ms();
        if self
            .store
            .count_verifications(CHALLENGE_PREFIX, now)
            .await?
            >= self.challenge_cap
        {
            tracing::warn!(target: "sigil::auth", "passkey challenges at their cap: refusing new ones until some expire");
            return Err(PasskeyError::Busy);
        }
        let id = sigil_token::random::alphanumeric(32).map_err(internal)?;
        let value = serde_json::to_string(pending).map_err(internal)?;
        self.store
            .insert_verification(&row_id(&id), &value, now + ms(CHALLENGE_TTL), now)
            .await?;
        Ok(id)
    }

    /// Consumes the challenge row named by the cookie's id.
    async fn take(&self, id: Option<&str>) -> Result<Pending, PasskeyError> {
        let id = id.ok_or(PasskeyError::ChallengeNotFound)?;
        let value = self
            .store
            .take_verification(&row_id(id), self.clock.now_ms())
            .await?
            .ok_or(PasskeyError::ChallengeNotFound)?;
        serde_json::from_str(&value).map_err(|_| PasskeyError::ChallengeNotFound)
    }

    /// Registration options for `user` (`name`: the WebAuthn user name to show, default the
    /// email). Existing passkeys are excluded, so an authenticator is not registered twice.
    pub async fn registration_options(
        &self,
        user: &User,
        name: Option<&str>,
        attachment: Option<Attachment>,
    ) -> Result<Challenge, PasskeyError> {
        let webauthn = self.webauthn()?;
        let existing = self.store.passkeys_of(&user.id).await?;
        let exclude = existing
            .iter()
            .filter_map(|p| serde_json::from_str::<Passkey>(&p.public_key).ok())
            .map(|p| p.cred_id().clone())
            .collect::<Vec<_>>();
        let mut handle = [0u8; 16];
        sigil_token::random::fill(&mut handle).map_err(internal)?;
        let user_name = name.filter(|n| !n.trim().is_empty()).unwrap_or(&user.email);
        let (creation, state) = webauthn
            .start_passkey_registration(
                Uuid::from_bytes(handle),
                user_name,
                &user.email,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(internal)?;
        let mut options = serde_json::to_value(&creation.public_key).map_err(internal)?;
        // A passkey is a discoverable credential (sign-in without a name needs one): ask for it
        // as Better Auth does ("preferred"; webauthn-rs leaves it "discouraged").
        if let Some(selection) = options
            .get_mut("authenticatorSelection")
            .and_then(Value::as_object_mut)
        {
            selection.insert("residentKey".into(), json!("preferred"));
            if let Some(a) = attachment {
                let a = match a {
                    Attachment::Platform => "platform",
                    Attachment::CrossPlatform => "cross-platform",
                };
                selection.insert("authenticatorAttachment".into(), json!(a));
            }
        }
        let id = self
            .save(&Pending::Registration {
                user_id: user.id.clone(),
                user_handle: URL_SAFE_NO_PAD.encode(handle),
                state,
            })
            .await?;
        Ok(Challenge { options, id })
    }

    /// Verifies a registration answer (`response`: SimpleWebAuthn's `RegistrationResponseJSON`)
    /// against the challenge `challenge_id` names, for `user_id`, and stores the passkey.
    pub async fn finish_registration(
        &self,
        user_id: &str,
        challenge_id: Option<&str>,
        response: &Value,
        name: Option<&str>,
    ) -> Result<PasskeyRow, PasskeyError> {
        let webauthn = self.webauthn()?;
        let Pending::Registration {
            user_id: owner,
            user_handle,
            state,
        } = self.take(challenge_id).await?
        else {
            return Err(PasskeyError::ChallengeNotFound);
        };
        if !crypto::ct_eq(owner.as_bytes(), user_id.as_bytes()) {
            return Err(PasskeyError::NotAllowed);
        }
        let credential: RegisterPublicKeyCredential = serde_json::from_value(response.clone())
            .map_err(|_| PasskeyError::RegistrationFailed)?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(|e| {
                tracing::info!(target: "sigil::auth", user_id, error = %e, "passkey registration refused");
                PasskeyError::RegistrationFailed
            })?;
        if self.store.passkeys_of(user_id).await?.len() >= MAX_PASSKEYS_PER_USER {
            return Err(PasskeyError::TooMany);
        }
        let cred = Credential::from(passkey.clone());
        let row = PasskeyRow {
            id: sigil_token::random::alphanumeric(32).map_err(internal)?,
            user_id: user_id.to_owned(),
            name: name.map(str::to_owned),
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_ref()),
            public_key: serde_json::to_string(&passkey).map_err(internal)?,
            user_handle,
            counter: i64::from(cred.counter),
            device_type: device_type(cred.backup_eligible).to_owned(),
            backed_up: cred.backup_state,
            transports: transports_of(response),
            created_at: self.clock.now_ms(),
        };
        match self.store.insert_passkey(&row).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(PasskeyError::RegistrationFailed),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(target: "sigil::auth", user_id, passkey_id = %row.id, "passkey registered");
        self.audit
            .record(
                AuditEntry::new(AuditEvent::PasskeyAdded, Outcome::Success)
                    .user(user_id)
                    .detail("passkey_id", row.id.as_str()),
            )
            .await;
        Ok(row)
    }

    /// Sign-in options. Without a session they name no credential (the browser offers the
    /// discoverable passkeys it has for this site); with one, they list the user's passkeys
    /// and only those are accepted.
    pub async fn authentication_options(
        &self,
        user: Option<&User>,
    ) -> Result<Challenge, PasskeyError> {
        self.request_options(user.map(|u| u.id.as_str()), None)
            .await
    }

    /// Sign-in options for the second step of a pending two-factor sign-in (`challenge`: the
    /// `two_factor` cookie's id, whose user is `user_id`): they list that user's passkeys, and
    /// the answer completes that sign-in ([`Passkeys::finish_authentication`]).
    pub async fn second_factor_options(
        &self,
        user_id: &str,
        challenge: &str,
    ) -> Result<Challenge, PasskeyError> {
        self.request_options(Some(user_id), Some(crypto::sha256_hex(challenge)))
            .await
    }

    async fn request_options(
        &self,
        user_id: Option<&str>,
        second_factor: Option<String>,
    ) -> Result<Challenge, PasskeyError> {
        let webauthn = self.webauthn()?;
        let (request, state) = webauthn
            .start_discoverable_authentication()
            .map_err(internal)?;
        let mut options = serde_json::to_value(&request.public_key).map_err(internal)?;
        if let Some(user_id) = user_id {
            let allow: Vec<Value> = self
                .store
                .passkeys_of(user_id)
                .await?
                .iter()
                .map(|p| {
                    let mut entry = json!({ "type": "public-key", "id": p.credential_id });
                    if !p.transports.is_empty() {
                        entry["transports"] = json!(p.transports.split(',').collect::<Vec<_>>());
                    }
                    entry
                })
                .collect();
            options["allowCredentials"] = Value::Array(allow);
        }
        // Better Auth leaves an empty list out (SimpleWebAuthn drops it before calling the browser
        // anyway: an empty list would block discoverable credentials in some browsers).
        if let Some(map) = options.as_object_mut()
            && map
                .get("allowCredentials")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
        {
            map.remove("allowCredentials");
        }
        let id = self
            .save(&Pending::Authentication {
                user_id: user_id.map(str::to_owned),
                second_factor,
                state,
            })
            .await?;
        Ok(Challenge { options, id })
    }

    /// Verifies a sign-in answer (`response`: SimpleWebAuthn's `AuthenticationResponseJSON`)
    /// against the challenge `challenge_id` names, and starts a session for the passkey's user.
    /// A challenge from [`Passkeys::second_factor_options`] needs `pending`, the same pending
    /// sign-in's `two_factor` cookie id, and ends that sign-in through `two_factor`.
    pub async fn finish_authentication(
        &self,
        challenge_id: Option<&str>,
        response: &Value,
        pending: Option<&str>,
        two_factor: &TwoFactor,
        client: &ClientInfo,
    ) -> Result<SignedIn, PasskeyError> {
        let webauthn = self.webauthn()?;
        let Pending::Authentication {
            user_id: asked_by,
            second_factor,
            state,
        } = self.take(challenge_id).await?
        else {
            return Err(PasskeyError::ChallengeNotFound);
        };
        // A challenge bound to a pending sign-in is answered with that sign-in's cookie only.
        let second_step = match (&second_factor, pending) {
            (None, _) => None,
            (Some(bound), Some(pending))
                if crypto::ct_eq(bound.as_bytes(), crypto::sha256_hex(pending).as_bytes()) =>
            {
                Some(pending)
            }
            (Some(_), _) => return Err(PasskeyError::InvalidTwoFactorCookie),
        };
        let credential: PublicKeyCredential = serde_json::from_value(response.clone())
            .map_err(|_| PasskeyError::AuthenticationFailed)?;
        let credential_id = URL_SAFE_NO_PAD.encode(credential.get_credential_id());
        let row = self
            .store
            .passkey_by_credential_id(&credential_id)
            .await?
            .ok_or(PasskeyError::UnknownCredential)?;
        let refuse = |why: &str| {
            tracing::info!(target: "sigil::auth", user_id = %row.user_id, passkey_id = %row.id, why, "passkey sign-in refused");
            PasskeyError::AuthenticationFailed
        };
        if asked_by
            .as_deref()
            .is_some_and(|asked| !crypto::ct_eq(asked.as_bytes(), row.user_id.as_bytes()))
        {
            return Err(refuse("another user's passkey"));
        }
        if let Some(handle) = credential.get_user_unique_id() {
            let stored = URL_SAFE_NO_PAD.decode(&row.user_handle).map_err(internal)?;
            if !crypto::ct_eq(handle, &stored) {
                return Err(refuse("user handle does not match the passkey"));
            }
        }
        let mut passkey: Passkey = serde_json::from_str(&row.public_key).map_err(internal)?;
        let key = DiscoverableKey::from(&passkey);
        let result = webauthn
            .finish_discoverable_authentication(&credential, state, &[key])
            .map_err(|e| match e {
                WebauthnError::CredentialPossibleCompromise => {
                    tracing::warn!(target: "sigil::auth", user_id = %row.user_id, passkey_id = %row.id, "passkey signature counter did not increase: possibly a cloned authenticator; refused");
                    PasskeyError::AuthenticationFailed
                }
                other => refuse(&other.to_string()),
            })?;
        passkey.update_credential(&result);
        let public_key = serde_json::to_string(&passkey).map_err(internal)?;
        let recorded = self
            .store
            .record_passkey_use(&PasskeyUse {
                id: &row.id,
                previous_counter: row.counter,
                counter: i64::from(result.counter()).max(row.counter),
                public_key: &public_key,
                backed_up: result.backup_state(),
            })
            .await?;
        if !recorded {
            return Err(refuse("the passkey was used concurrently"));
        }
        let user = self
            .store
            .user_by_id(&row.user_id)
            .await?
            .ok_or(PasskeyError::AuthenticationFailed)?;
        if user.is_banned_at(self.clock.now_ms()) {
            tracing::info!(target: "sigil::auth", user_id = %user.id, "passkey sign-in refused: banned");
            self.audit
                .record(
                    AuditEntry::new(AuditEvent::SignIn, Outcome::Failure)
                        .user(&user.id)
                        .client(client)
                        .detail("method", "passkey")
                        .detail("reason", "banned"),
                )
                .await;
            return Err(PasskeyError::Banned);
        }
        let (session, token, remember) = match second_step {
            None => {
                let (session, token) = self.sessions.create(&user.id, true, client).await?;
                self.audit
                    .record(
                        AuditEntry::new(AuditEvent::SignIn, Outcome::Success)
                            .user(&user.id)
                            .session(&session.id)
                            .client(client)
                            .detail("method", "passkey"),
                    )
                    .await;
                (session, token, true)
            }
            Some(pending) => two_factor
                .complete_with_passkey(pending, &user.id, client)
                .await
                .map_err(|e| match e {
                    TwoFactorError::Unavailable | TwoFactorError::Internal(_) => {
                        PasskeyError::TwoFactor(e)
                    }
                    _ => PasskeyError::InvalidTwoFactorCookie,
                })?,
        };
        tracing::info!(target: "sigil::auth", user_id = %user.id, session_id = %session.id, passkey_id = %row.id, second_factor = second_step.is_some(), "signed in with a passkey");
        Ok(SignedIn {
            user,
            remember,
            second_factor: second_step.is_some(),
            session,
            token,
        })
    }

    /// The user's passkeys, oldest first.
    pub async fn list(&self, user_id: &str) -> Result<Vec<PasskeyRow>, PasskeyError> {
        Ok(self.store.passkeys_of(user_id).await?)
    }

    /// Renames one of the user's passkeys.
    pub async fn rename(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<PasskeyRow, PasskeyError> {
        self.store
            .rename_passkey(id, user_id, name)
            .await?
            .ok_or(PasskeyError::NotFound)
    }

    /// Deletes one of the user's passkeys.
    pub async fn delete(&self, user_id: &str, id: &str) -> Result<(), PasskeyError> {
        if self.store.delete_passkey(id, user_id).await? {
            tracing::info!(target: "sigil::auth", user_id, passkey_id = id, "passkey deleted");
            self.audit
                .record(
                    AuditEntry::new(AuditEvent::PasskeyRemoved, Outcome::Success)
                        .user(user_id)
                        .detail("passkey_id", id),
                )
                .await;
            Ok(())
        } else {
            Err(PasskeyError::NotFound)
        }
    }
}
