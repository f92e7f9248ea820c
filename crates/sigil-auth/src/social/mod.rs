//! Social sign-in and generic OpenID Connect, the Better Auth 1.7 way: every configured provider
//! (a preset or any OpenID Connect issuer) is a social provider with its own id, reached through
//! `/sign-in/social` and `/callback/{id}`. No HTTP types here: the handlers in
//! `http/social.rs` extract, call one method, reply; `error.rs` maps [`SocialError`].
//!
//! The flow (authorization code, RFC 9700's recommendations):
//! 1. [`Social::start`] mints `state` (32 random characters), a PKCE verifier (S256 always) and,
//!    for OpenID Connect, a `nonce`. The flow's data (provider, redirect targets, verifier,
//!    nonce, the user to link) is sealed into a verification row keyed by the SHA-256 of `state`
//!    for ten minutes; the browser gets `state` in a signed cookie for five. The user goes to
//!    the provider's authorization URL.
//! 2. [`Social::callback`] consumes the row (single use), requires the state cookie to name the
//!    same `state` (the flow is bound to the browser that started it), exchanges the code with
//!    the verifier, verifies the ID token (signature by the provider's published keys, `iss`,
//!    `aud`, `exp`, `iat`, `azp`, `nonce`) or, for GitHub and Discord, reads their user
//!    endpoints, then signs in, signs up or links under Better Auth's account-linking rules.
//!
//! Every refusal names one of Better Auth's callback error codes and leaves no user, account or
//! session behind.

pub use crate::social_config as config;
pub mod oidc;
pub mod provider;

use self::config::{Kind, ProviderConfig};
use self::oidc::{Metadata, ProviderClient, ProviderError};
use self::provider::{AuthorizationRequest, Profile, Tokens};
use crate::audit::{Audit, AuditEntry, AuditEvent, Outcome};
use crate::crypto;
use crate::domain::Email;
use crate::session::{ClientInfo, Sessions};
use crate::store::{Account, AuthStore, StoreError, Unlinked, User};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sigil_guard::clock::SharedClock;
use sigil_token::random;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Prefix of flow-state rows in the verification table.
const STATE_PREFIX: &str = "oauth-state:";
/// How long a started flow may take at the provider.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;
/// Lifetime of the browser's state cookie (Better Auth's five minutes).
pub const STATE_COOKIE_SECS: u64 = 5 * 60;
/// Purpose of the key that seals provider tokens.
const TOKEN_PURPOSE: &str = "sigil/social-tokens/v1";
/// Purpose of the key that seals flow state.
const STATE_PURPOSE: &str = "sigil/social-state/v1";
/// Most scopes a request may add.
const MAX_SCOPES: usize = 20;

/// What a banned user is told at the error callback (`error_description`), Better Auth's default.
const BANNED_MESSAGE: &str = "You have been banned from this application. Please contact support if you believe this is an error.";

/// Why a social operation was refused (`error.rs` gives each its Better Auth code).
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    /// No provider with that id is configured.
    #[error("provider not found")]
    ProviderNotFound,
    /// The provider issues no ID tokens (GitHub, Discord).
    #[error("id token not supported")]
    IdTokenNotSupported,
    /// The ID token failed verification.
    #[error("invalid id token: {0}")]
    InvalidIdToken(String),
    /// The provider gave no usable profile.
    #[error("failed to get user info")]
    UserInfo,
    /// The provider gave no email.
    #[error("user email not found")]
    EmailNotFound,
    /// Sign-in needs a verified email (`SIGIL_REQUIRE_EMAIL_VERIFICATION`) and neither the
    /// account nor the provider vouches for it.
    #[error("email not verified")]
    EmailNotVerified,
    /// An account with this email exists and may not be linked automatically.
    #[error("account not linked")]
    NotLinked,
    /// Sign-up through this provider is disabled.
    #[error("sign-up disabled")]
    SignUpDisabled,
    /// The identity is linked to another user.
    #[error("social account already linked")]
    AlreadyLinked,
    /// Linking needs a verified email (or a trusted provider).
    #[error("linking not allowed")]
    LinkingNotAllowed,
    /// The provider's email is not the user's.
    #[error("different emails")]
    DifferentEmails,
    /// The user has no such account.
    #[error("account not found")]
    AccountNotFound,
    /// It is the user's last way to sign in.
    #[error("last account")]
    LastAccount,
    /// No refresh token is stored for the account.
    #[error("no refresh token")]
    NoRefreshToken,
    /// The provider failed when asked for or with a token.
    #[error("provider: {0}")]
    Provider(ProviderError),
    /// Too many scopes, a scope with spaces, a bad login hint.
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    /// The user is banned (Better Auth's admin plugin refuses the session at the callback).
    #[error("banned")]
    Banned,
    /// The database is unreachable.
    #[error("database unavailable")]
    Unavailable,
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for SocialError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            SocialError::Unavailable
        } else {
            SocialError::Internal(e.to_string())
        }
    }
}

impl From<random::RandomError> for SocialError {
    fn from(e: random::RandomError) -> Self {
        SocialError::Internal(e.to_string())
    }
}

/// A refused callback: where the browser goes, with which Better Auth error code.
#[derive(Debug)]
pub struct CallbackFailure {
    /// The error page (`errorCallbackURL`, or Better Auth's `/api/auth/error`).
    pub error_url: String,
    /// Better Auth's code (`state_mismatch`, `invalid_code`, ...).
    pub code: String,
    /// A short, secret-free reason.
    pub description: Option<String>,
}

impl CallbackFailure {
    /// The redirect target: `error_url?error=code[&error_description=…]`.
    pub fn location(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("error", &self.code);
        if let Some(d) = &self.description {
            q.append_pair("error_description", d);
        }
        let sep = if self.error_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{}", self.error_url, q.finish())
    }
}

/// The user a link flow attaches the identity to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinkTarget {
    /// The signed-in user.
    pub user_id: String,
    /// Their email (the provider's must match).
    pub email: String,
}

/// A sign-in or link request, checked by the handler (redirect targets are trusted).
#[derive(Debug, Default)]
pub struct Start<'a> {
    /// Provider id.
    pub provider: &'a str,
    /// Where to go after success.
    pub callback_url: Option<&'a str>,
    /// Where to go after a refusal.
    pub error_url: Option<&'a str>,
    /// Where a new user goes after sign-up.
    pub new_user_url: Option<&'a str>,
    /// Extra scopes.
    pub scopes: Vec<String>,
    /// `login_hint`.
    pub login_hint: Option<&'a str>,
    /// Explicit sign-up.
    pub request_sign_up: bool,
    /// Link to this user instead of signing in.
    pub link: Option<LinkTarget>,
}

/// A started flow: where the browser goes, and the `state` for its cookie.
#[derive(Debug)]
pub struct Started {
    /// The provider's authorization URL.
    pub url: String,
    /// The state (for the signed cookie).
    pub state: String,
}

/// The callback's parameters.
#[derive(Debug, Default)]
pub struct CallbackParams {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
    /// Apple's `user` (JSON, first sign-in only).
    pub user: Option<String>,
}

/// A finished callback.
// Returned once per callback and consumed at once: boxing the user would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Finished {
    /// Signed in (or up): the new session's token, and where to go.
    SignedIn {
        /// The user.
        user: User,
        /// The session token.
        token: String,
        /// Redirect target.
        redirect: String,
    },
    /// An identity was linked to the signed-in user.
    Linked {
        /// Redirect target.
        redirect: String,
    },
}

/// An ID-token sign-in (native and mobile apps that got the token themselves).
#[derive(Debug)]
pub struct IdTokenSignIn<'a> {
    /// Provider id.
    pub provider: &'a str,
    /// The ID token.
    pub token: &'a str,
    /// The nonce the app sent, if any.
    pub nonce: Option<&'a str>,
    /// The provider's access token, if the app has one.
    pub access_token: Option<&'a str>,
    /// The provider's refresh token, if the app has one.
    pub refresh_token: Option<&'a str>,
    /// Explicit sign-up.
    pub request_sign_up: bool,
}

/// What `/get-access-token` returns.
#[derive(Debug)]
pub struct AccessToken {
    /// The access token.
    pub access_token: Zeroizing<String>,
    /// Its expiry (ms).
    pub expires_at: Option<i64>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The ID token.
    pub id_token: Option<String>,
}

/// What the flow keeps between start and callback.
#[derive(Serialize, Deserialize)]
struct FlowState {
    provider: String,
    callback_url: String,
    error_url: Option<String>,
    new_user_url: Option<String>,
    code_verifier: String,
    nonce: Option<String>,
    link: Option<LinkTarget>,
    request_sign_up: bool,
}

/// The social sign-in service.
pub struct Social {
    providers: Vec<Arc<ProviderConfig>>,
    client: ProviderClient,
    store: Arc<dyn AuthStore>,
    sessions: Sessions,
    clock: SharedClock,
    /// The server secret (`SIGIL_SECRET`): keys for sealing flow state and provider tokens.
    secret: Zeroizing<Vec<u8>>,
    /// `{base}/api/auth`.
    api_base: String,
    /// Where a flow without `callbackURL` ends: the base URL.
    default_callback: String,
    /// Sign-in needs a verified email.
    require_verified_email: bool,
    /// Sign-ins, refusals and links are recorded here.
    audit: Audit,
}

impl std::fmt::Debug for Social {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Social")
            .field(
                "providers",
                &self.providers.iter().map(|p| &p.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A configured provider as the UI lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ProviderInfo {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl Social {
    /// The service over `providers`; each provider call ends within `timeout`. `api_base` is
    /// the public URL of the `/api/auth` routes (callbacks and the error page live there); a
    /// flow without `callbackURL` ends on `base_url`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        providers: Vec<ProviderConfig>,
        store: Arc<dyn AuthStore>,
        sessions: Sessions,
        clock: SharedClock,
        secret: Zeroizing<Vec<u8>>,
        base_url: &url::Url,
        api_base: String,
        timeout: Duration,
        require_verified_email: bool,
    ) -> Result<Social, String> {
        let base = base_url.as_str().trim_end_matches('/').to_owned();
        Ok(Social {
            providers: providers.into_iter().map(Arc::new).collect(),
            client: ProviderClient::new(clock.clone(), timeout)?,
            audit: Audit::new(store.clone(), clock.clone()),
            store,
            sessions,
            clock,
            secret,
            api_base,
            default_callback: format!("{base}/"),
            require_verified_email,
        })
    }

    /// The configured providers.
    pub fn providers(&self) -> Vec<ProviderInfo> {
        self.providers
            .iter()
            .map(|p| ProviderInfo {
                id: p.id.clone(),
                name: p.name.clone(),
            })
            .collect()
    }

    /// Better Auth's error page.
    pub fn default_error_url(&self) -> String {
        format!("{}/error", self.api_base)
    }

    fn provider(&self, id: &str) -> Result<Arc<ProviderConfig>, SocialError> {
        self.providers
            .iter()
            .find(|p| p.id == id)
            .cloned()
            .ok_or(SocialError::ProviderNotFound)
    }

    fn redirect_uri(&self, p: &ProviderConfig) -> String {
        format!("{}/callback/{}", self.api_base, p.id)
    }

    fn now_secs(&self) -> u64 {
        self.clock.now_unix()
    }

    async fn metadata(&self, p: &ProviderConfig) -> Result<Metadata, SocialError> {
        self.client.metadata(p).await.map_err(|e| {
            tracing::warn!(target: "sigil::social", provider = %p.id, error = %e, "provider metadata unavailable");
            SocialError::Provider(e)
        })
    }

    /// Starts a sign-in (or, with `link`, a link) flow.
    pub async fn start(&self, req: Start<'_>) -> Result<Started, SocialError> {
        let p = self.provider(req.provider)?;
        if req.scopes.len() > MAX_SCOPES
            || req.scopes.iter().any(|s| {
                s.is_empty()
                    || s.len() > 128
                    || s.chars().any(|c| c.is_whitespace() || c.is_control())
            })
        {
            return Err(SocialError::Invalid("scopes"));
        }
        if req.login_hint.is_some_and(|h| h.len() > 320) {
            return Err(SocialError::Invalid("loginHint"));
        }
        let meta = self.metadata(&p).await?;
        let state = random::alphanumeric(32)?;
        let verifier = random::alphanumeric(64)?;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        let nonce = p
            .kind
            .is_oidc()
            .then(|| random::alphanumeric(32))
            .transpose()?;
        let mut scopes = p.scopes.clone();
        for s in req.scopes {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        let url = provider::authorization_url(
            &p,
            &meta,
            &AuthorizationRequest {
                state: &state,
                code_challenge: &challenge,
                nonce: nonce.as_deref(),
                scopes: &scopes,
                login_hint: req.login_hint,
                redirect_uri: &self.redirect_uri(&p),
            },
        )
        .map_err(SocialError::Provider)?;
        let flow = FlowState {
            provider: p.id.clone(),
            callback_url: req
                .callback_url
                .map(str::to_owned)
                .unwrap_or_else(|| self.default_callback.clone()),
            error_url: req.error_url.map(str::to_owned),
            new_user_url: req.new_user_url.map(str::to_owned),
            code_verifier: verifier,
            nonce,
            link: req.link,
            request_sign_up: req.request_sign_up,
        };
        let json = Zeroizing::new(
            serde_json::to_vec(&flow).map_err(|e| SocialError::Internal(e.to_string()))?,
        );
        let sealed = crypto::seal(&self.secret, STATE_PURPOSE, &json)
            .ok_or_else(|| SocialError::Internal("sealing failed".into()))?;
        let now = self.clock.now_ms();
        self.store
            .insert_verification(&state_identifier(&state), &sealed, now + STATE_TTL_MS, now)
            .await?;
        tracing::info!(target: "sigil::social", provider = %p.id, link = flow.link.is_some(), "social flow started");
        Ok(Started {
            url: url.to_string(),
            state,
        })
    }

    /// Finishes a flow at `/callback/{provider_id}`. `browser_state` is the (signature-checked)
    /// state cookie of the browser.
    pub async fn callback(
        &self,
        provider_id: &str,
        params: CallbackParams,
        browser_state: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Finished, CallbackFailure> {
        let fail = |url: &str, code: &str, description: Option<&str>| CallbackFailure {
            error_url: url.to_owned(),
            code: code.to_owned(),
            description: description.map(str::to_owned),
        };
        let default_error = self.default_error_url();
        let Some(state) = params
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 128)
        else {
            return Err(fail(&default_error, "state_not_found", None));
        };
        // Single use: the row is gone whatever happens next.
        let now = self.clock.now_ms();
        let row = match self
            .store
            .take_verification(&state_identifier(state), now)
            .await
        {
            Ok(row) => row,
            Err(e) => {
                tracing::error!(target: "sigil::social", error = %e, "state lookup failed");
                return Err(fail(&default_error, "internal_server_error", None));
            }
        };
        let flow = row
            .and_then(|sealed| crypto::open(&self.secret, STATE_PURPOSE, &sealed))
            .and_then(|json| serde_json::from_slice::<FlowState>(&json).ok());
        let Some(flow) = flow else {
            tracing::info!(target: "sigil::social", "callback refused: unknown, used or expired state");
            return Err(fail(&default_error, "state_mismatch", None));
        };
        let error_url = flow.error_url.clone().unwrap_or(default_error);
        let browser_matches =
            browser_state.is_some_and(|b| crypto::ct_eq(b.as_bytes(), state.as_bytes()));
        if !browser_matches || flow.provider != provider_id {
            tracing::info!(target: "sigil::social", "callback refused: state not started by this browser or for this provider");
            return Err(fail(&error_url, "state_mismatch", None));
        }
        if let Some(error) = params.error.as_deref() {
            let code: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(64)
                .collect();
            let description = params.error_description.as_deref().map(|d| {
                d.chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect::<String>()
            });
            tracing::info!(target: "sigil::social", provider = %provider_id, %code, "provider answered an error");
            return Err(fail(&error_url, &code, description.as_deref()));
        }
        let Some(code) = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 2048)
        else {
            return Err(fail(&error_url, "no_code", None));
        };
        let Ok(p) = self.provider(provider_id) else {
            return Err(fail(&error_url, "oauth_provider_not_found", None));
        };
        let meta = match self.client.metadata(&p).await {
            Ok(meta) => meta,
            Err(e) => {
                tracing::warn!(target: "sigil::social", provider = %p.id, error = %e, "provider metadata unavailable");
                return Err(fail(
                    &error_url,
                    "invalid_code",
                    Some("provider unavailable"),
                ));
            }
        };
        if let (Some(iss), Some(expected)) = (params.iss.as_deref(), meta.issuer.as_deref())
            && !expected.contains("{tenantid}")
            && iss != expected
        {
            return Err(fail(&error_url, "issuer_mismatch", None));
        }
        let tokens = match provider::exchange_code(
            &self.client,
            &p,
            &meta,
            code,
            &flow.code_verifier,
            &self.redirect_uri(&p),
            self.now_secs(),
        )
        .await
        {
            Ok(tokens) => tokens,
            Err(e) => {
                tracing::info!(target: "sigil::social", provider = %p.id, error = %e, "code exchange refused");
                return Err(fail(&error_url, "invalid_code", None));
            }
        };
        let apple_user = params
            .user
            .as_deref()
            .filter(|u| u.len() <= 4096)
            .and_then(|u| serde_json::from_str::<Value>(u).ok());
        let profile = match self
            .profile(
                &p,
                &meta,
                &tokens,
                flow.nonce.as_deref(),
                apple_user.as_ref(),
            )
            .await
        {
            Ok(profile) => profile,
            Err(e) => {
                tracing::info!(target: "sigil::social", provider = %p.id, error = %e, "profile refused");
                let reason = match &e {
                    SocialError::InvalidIdToken(why) => format!("id_token {why}"),
                    _ => "profile".to_owned(),
                };
                return Err(fail(&error_url, "unable_to_get_user_info", Some(&reason)));
            }
        };
        let account = match self.new_account(&p, &profile, &tokens) {
            Ok(account) => account,
            Err(e) => {
                tracing::error!(target: "sigil::social", error = %e, "account build failed");
                return Err(fail(&error_url, "internal_server_error", None));
            }
        };
        if let Some(link) = &flow.link {
            return match self.link(&p, link, &profile, account).await {
                Ok(()) => Ok(Finished::Linked {
                    redirect: flow.callback_url,
                }),
                Err(e) => {
                    let code = match e {
                        SocialError::AlreadyLinked => "account_already_linked_to_different_user",
                        SocialError::DifferentEmails => "email_does_not_match",
                        SocialError::LinkingNotAllowed => "unable_to_link_account",
                        SocialError::EmailNotFound => "email_not_found",
                        _ => "unable_to_link_account",
                    };
                    Err(fail(&error_url, code, None))
                }
            };
        }
        let sign_up_allowed = !p.disable_sign_up || flow.request_sign_up;
        match self
            .sign_in_or_up(&p, &profile, account, sign_up_allowed, client)
            .await
        {
            Ok((user, token, created)) => {
                let redirect = match (created, flow.new_user_url) {
                    (true, Some(url)) => url,
                    _ => flow.callback_url,
                };
                Ok(Finished::SignedIn {
                    user,
                    token,
                    redirect,
                })
            }
            Err(e) => {
                let code = match &e {
                    SocialError::EmailNotFound => "email_not_found",
                    SocialError::NotLinked => "account_not_linked",
                    SocialError::SignUpDisabled => "signup_disabled",
                    SocialError::EmailNotVerified => "email_not_verified",
                    SocialError::Banned => "banned",
                    SocialError::Unavailable => "internal_server_error",
                    _ => "unable_to_create_user",
                };
                tracing::info!(target: "sigil::social", provider = %p.id, %code, "social sign-in refused");
                let description = matches!(e, SocialError::Banned).then_some(BANNED_MESSAGE);
                Err(fail(&error_url, code, description))
            }
        }
    }

    /// The user's profile at the provider: from the verified ID token (OpenID Connect), or the
    /// user endpoints (GitHub, Discord).
    async fn profile(
        &self,
        p: &ProviderConfig,
        meta: &Metadata,
        tokens: &Tokens,
        nonce: Option<&str>,
        apple_user: Option<&Value>,
    ) -> Result<Profile, SocialError> {
        let access = tokens.access_token.as_deref().map(String::as_str);
        match p.kind {
            Kind::Github => {
                let access = access.ok_or(SocialError::UserInfo)?;
                let user = provider::user_info(&self.client, meta, access)
                    .await
                    .map_err(SocialError::Provider)?;
                provider::github_profile(&self.client, p, &user, access)
                    .await
                    .map_err(SocialError::Provider)
            }
            Kind::Discord => {
                let access = access.ok_or(SocialError::UserInfo)?;
                let user = provider::user_info(&self.client, meta, access)
                    .await
                    .map_err(SocialError::Provider)?;
                provider::discord_profile(&user).map_err(SocialError::Provider)
            }
            _ => {
                let id_token = tokens
                    .id_token
                    .as_deref()
                    .ok_or(SocialError::InvalidIdToken("missing".into()))?;
                let claims = self
                    .client
                    .verify_id_token(
                        p,
                        meta,
                        id_token,
                        Some(nonce.ok_or(SocialError::InvalidIdToken("nonce".into()))?),
                    )
                    .await
                    .map_err(|e| match e {
                        ProviderError::IdToken(why) => SocialError::InvalidIdToken(why),
                        other => SocialError::Provider(other),
                    })?;
                // The user-info answer fills names and pictures the token leaves out; its
                // failure is not fatal (the verified token is the identity).
                let info = match (
                    access,
                    meta.user_info.is_some(),
                    claims.email.is_none() || claims.name.is_none(),
                ) {
                    (Some(access), true, true) => {
                        provider::user_info(&self.client, meta, access).await.ok()
                    }
                    _ => None,
                };
                Ok(provider::oidc_profile(&claims, info.as_ref(), apple_user))
            }
        }
    }

    fn seal(&self, value: Option<&str>) -> Result<Option<String>, SocialError> {
        value
            .map(|v| {
                crypto::seal(&self.secret, TOKEN_PURPOSE, v.as_bytes())
                    .ok_or_else(|| SocialError::Internal("sealing failed".into()))
            })
            .transpose()
    }

    fn unseal(&self, value: Option<&str>) -> Option<Zeroizing<String>> {
        let opened = crypto::open(&self.secret, TOKEN_PURPOSE, value?)?;
        String::from_utf8(opened.to_vec()).ok().map(Zeroizing::new)
    }

    fn new_account(
        &self,
        p: &ProviderConfig,
        profile: &Profile,
        tokens: &Tokens,
    ) -> Result<Account, SocialError> {
        let now = self.clock.now_ms();
        Ok(Account {
            id: random::alphanumeric(32)?,
            user_id: String::new(),
            provider_id: p.id.clone(),
            account_id: profile.id.clone(),
            access_token: self.seal(tokens.access_token.as_deref().map(String::as_str))?,
            refresh_token: self.seal(tokens.refresh_token.as_deref().map(String::as_str))?,
            id_token: self.seal(tokens.id_token.as_deref())?,
            access_token_expires_at: tokens
                .expires_in
                .map(|s| now + s.clamp(0, i64::MAX / 2000) * 1000),
            refresh_token_expires_at: tokens
                .refresh_expires_in
                .map(|s| now + s.clamp(0, i64::MAX / 2000) * 1000),
            scope: tokens.scopes.join(","),
            created_at: now,
            updated_at: now,
        })
    }

    /// A banned user gets no session through a provider either (Better Auth's admin plugin
    /// refuses the session at the callback with `error=banned`). An expired ban does not
    /// refuse: the session check lifts it, as for a password sign-in. Refusals are audited.
    async fn refuse_if_banned(
        &self,
        p: &ProviderConfig,
        user: &User,
        client: &ClientInfo,
    ) -> Result<(), SocialError> {
        if !user.is_banned_at(self.clock.now_ms()) {
            return Ok(());
        }
        tracing::info!(target: "sigil::social", provider = %p.id, user_id = %user.id, "social sign-in refused: banned");
        self.audit
            .record(
                AuditEntry::new(AuditEvent::SignIn, Outcome::Failure)
                    .user(&user.id)
                    .client(client)
                    .detail("method", "social")
                    .detail("provider", p.id.as_str())
                    .detail("reason", "banned"),
            )
            .await;
        Err(SocialError::Banned)
    }

    /// A provider sign-in in the audit log (the provider's id, never its tokens).
    async fn record_sign_in(
        &self,
        p: &ProviderConfig,
        user_id: &str,
        session_id: &str,
        client: &ClientInfo,
        how: Option<&'static str>,
    ) {
        let mut entry = AuditEntry::new(AuditEvent::SignIn, Outcome::Success)
            .user(user_id)
            .session(session_id)
            .client(client)
            .detail("method", "social")
            .detail("provider", p.id.as_str());
        if let Some(how) = how {
            entry = entry.detail("how", how);
        }
        self.audit.record(entry).await;
    }

    /// Better Auth's `handleOAuthUserInfo`: a known identity signs in (its tokens refreshed);
    /// an unknown one with a known email is linked only when the provider vouches for the email
    /// (verified, or the provider is trusted) and the local account's email is verified too;
    /// otherwise a new user is created. Returns the user, the session token and whether the
    /// user is new.
    async fn sign_in_or_up(
        &self,
        p: &ProviderConfig,
        profile: &Profile,
        mut account: Account,
        sign_up_allowed: bool,
        client: &ClientInfo,
    ) -> Result<(User, String, bool), SocialError> {
        let email = profile
            .email
            .as_deref()
            .and_then(Email::parse)
            .ok_or(SocialError::EmailNotFound)?;
        if let Some(existing) = self.store.account_by_identity(&p.id, &profile.id).await? {
            let user = self
                .store
                .user_by_id(&existing.user_id)
                .await?
                .ok_or(SocialError::NotLinked)?;
            if self.require_verified_email && !user.email_verified {
                return Err(SocialError::EmailNotVerified);
            }
            account.id = existing.id;
            account.user_id = existing.user_id;
            account.created_at = existing.created_at;
            if account.refresh_token.is_none() {
                account.refresh_token = existing.refresh_token;
                account.refresh_token_expires_at = existing.refresh_token_expires_at;
            }
            self.refuse_if_banned(p, &user, client).await?;
            self.store.update_account_tokens(&account).await?;
            let (session, token) = self.sessions.create(&user.id, true, client).await?;
            tracing::info!(target: "sigil::social", provider = %p.id, user_id = %user.id, session_id = %session.id, "signed in with provider");
            self.record_sign_in(p, &user.id, &session.id, client, None)
                .await;
            return Ok((user, token, false));
        }
        if let Some(user) = self.store.user_by_email(email.as_str()).await? {
            if !(p.trusted || profile.email_verified) || !user.email_verified {
                tracing::info!(target: "sigil::social", provider = %p.id, "an account with this email exists; not linked (email not verified on both sides)");
                return Err(SocialError::NotLinked);
            }
            if self.require_verified_email && !user.email_verified {
                return Err(SocialError::EmailNotVerified);
            }
            self.refuse_if_banned(p, &user, client).await?;
            account.user_id = user.id.clone();
            match self.store.insert_account(&account).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => return Err(SocialError::AlreadyLinked),
                Err(e) => return Err(e.into()),
            }
            let (session, token) = self.sessions.create(&user.id, true, client).await?;
            tracing::info!(target: "sigil::social", provider = %p.id, user_id = %user.id, session_id = %session.id, "provider linked by verified email; signed in");
            self.record_sign_in(p, &user.id, &session.id, client, Some("linked_by_email"))
                .await;
            return Ok((user, token, false));
        }
        if !sign_up_allowed {
            return Err(SocialError::SignUpDisabled);
        }
        if self.require_verified_email && !profile.email_verified {
            return Err(SocialError::EmailNotVerified);
        }
        let now = self.clock.now_ms();
        let name: String = profile
            .name
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect();
        let image = profile
            .image
            .clone()
            .filter(|i| crate::domain::check_image(i).is_ok());
        let mut user = User::new(
            random::alphanumeric(32)?,
            name,
            email.as_str().to_owned(),
            image,
            now,
        );
        user.email_verified = profile.email_verified;
        account.user_id = user.id.clone();
        let (session, token) = self.sessions.build(&user.id, true, client)?;
        match self
            .store
            .create_social_user(&user, &account, &session)
            .await
        {
            Ok(()) => {}
            // Raced by a concurrent sign-up with the same email or identity.
            Err(StoreError::Conflict) => return Err(SocialError::NotLinked),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(target: "sigil::social", provider = %p.id, user_id = %user.id, session_id = %session.id, "signed up with provider");
        self.audit
            .record(
                AuditEntry::new(AuditEvent::SignUp, Outcome::Success)
                    .user(&user.id)
                    .session(&session.id)
                    .client(client)
                    .detail("method", "social")
                    .detail("provider", p.id.as_str()),
            )
            .await;
        Ok((user, token, true))
    }

    /// Attaches an identity to `link`'s user (Better Auth's link rules: the provider must
    /// vouch for the email unless trusted, the email must be the user's, the identity must not
    /// belong to someone else).
    async fn link(
        &self,
        p: &ProviderConfig,
        link: &LinkTarget,
        profile: &Profile,
        mut account: Account,
    ) -> Result<(), SocialError> {
        if !p.trusted && !profile.email_verified {
            tracing::info!(target: "sigil::social", provider = %p.id, "link refused: provider email not verified");
            return Err(SocialError::LinkingNotAllowed);
        }
        let email = profile
            .email
            .as_deref()
            .and_then(Email::parse)
            .ok_or(SocialError::EmailNotFound)?;
        if email.as_str() != link.email.to_lowercase() {
            tracing::info!(target: "sigil::social", provider = %p.id, "link refused: different email");
            return Err(SocialError::DifferentEmails);
        }
        if let Some(existing) = self.store.account_by_identity(&p.id, &profile.id).await? {
            if existing.user_id != link.user_id {
                return Err(SocialError::AlreadyLinked);
            }
            account.id = existing.id;
            account.user_id = existing.user_id;
            account.created_at = existing.created_at;
            self.store.update_account_tokens(&account).await?;
            return Ok(());
        }
        // The user may have been deleted since the flow started.
        if self.store.user_by_id(&link.user_id).await?.is_none() {
            return Err(SocialError::LinkingNotAllowed);
        }
        account.user_id = link.user_id.clone();
        match self.store.insert_account(&account).await {
            Ok(()) => {
                tracing::info!(target: "sigil::social", provider = %p.id, user_id = %link.user_id, "provider linked");
                Ok(())
            }
            Err(StoreError::Conflict) => Err(SocialError::AlreadyLinked),
            Err(e) => Err(e.into()),
        }
    }

    async fn verify_given_id_token(
        &self,
        req: &IdTokenSignIn<'_>,
    ) -> Result<(Arc<ProviderConfig>, Profile, Account), SocialError> {
        let p = self.provider(req.provider)?;
        if !p.kind.is_oidc() {
            return Err(SocialError::IdTokenNotSupported);
        }
        let meta = self.metadata(&p).await?;
        let claims = self
            .client
            .verify_id_token(&p, &meta, req.token, req.nonce)
            .await
            .map_err(|e| match e {
                ProviderError::IdToken(why) => SocialError::InvalidIdToken(why),
                other => SocialError::Provider(other),
            })?;
        // A token minted with a nonce must be presented with it.
        if req.nonce.is_none() && claims.extra.contains_key("nonce") {
            return Err(SocialError::InvalidIdToken("nonce".into()));
        }
        let profile = provider::oidc_profile(&claims, None, None);
        let tokens = Tokens {
            access_token: req.access_token.map(|t| Zeroizing::new(t.to_owned())),
            refresh_token: req.refresh_token.map(|t| Zeroizing::new(t.to_owned())),
            id_token: Some(req.token.to_owned()),
            ..Tokens::default()
        };
        let account = self.new_account(&p, &profile, &tokens)?;
        Ok((p, profile, account))
    }

    /// Signs in (or up) with an ID token the app obtained itself.
    pub async fn sign_in_with_id_token(
        &self,
        req: IdTokenSignIn<'_>,
        client: &ClientInfo,
    ) -> Result<(User, String), SocialError> {
        let (p, profile, account) = self.verify_given_id_token(&req).await?;
        let allowed = !p.disable_sign_up || req.request_sign_up;
        let (user, token, _) = self
            .sign_in_or_up(&p, &profile, account, allowed, client)
            .await?;
        Ok((user, token))
    }

    /// Links the identity in an ID token to `user`.
    pub async fn link_with_id_token(
        &self,
        user: &User,
        req: IdTokenSignIn<'_>,
    ) -> Result<(), SocialError> {
        let (p, profile, account) = self.verify_given_id_token(&req).await?;
        let target = LinkTarget {
            user_id: user.id.clone(),
            email: user.email.clone(),
        };
        self.link(&p, &target, &profile, account).await
    }

    /// The user's provider accounts.
    pub async fn accounts(&self, user_id: &str) -> Result<Vec<Account>, SocialError> {
        Ok(self.store.accounts_of(user_id).await?)
    }

    /// Removes an account, never the user's last way to sign in.
    pub async fn unlink(&self, user_id: &str, account_id: &str) -> Result<(), SocialError> {
        match self.store.unlink_account(user_id, account_id).await? {
            Unlinked::Removed => {
                tracing::info!(target: "sigil::social", %user_id, "provider account unlinked");
                Ok(())
            }
            Unlinked::NotFound => Err(SocialError::AccountNotFound),
            Unlinked::Last => Err(SocialError::LastAccount),
        }
    }

    async fn own_account(&self, user_id: &str, account_id: &str) -> Result<Account, SocialError> {
        self.store
            .accounts_of(user_id)
            .await?
            .into_iter()
            .find(|a| a.id == account_id)
            .ok_or(SocialError::AccountNotFound)
    }

    async fn refreshed(
        &self,
        p: &ProviderConfig,
        account: &mut Account,
    ) -> Result<Tokens, SocialError> {
        let refresh_token = self
            .unseal(account.refresh_token.as_deref())
            .ok_or(SocialError::NoRefreshToken)?;
        let meta = self.metadata(p).await?;
        let tokens = provider::refresh(&self.client, p, &meta, &refresh_token, self.now_secs())
            .await
            .map_err(SocialError::Provider)?;
        let now = self.clock.now_ms();
        account.access_token = self.seal(tokens.access_token.as_deref().map(String::as_str))?;
        if tokens.refresh_token.is_some() {
            account.refresh_token =
                self.seal(tokens.refresh_token.as_deref().map(String::as_str))?;
        }
        if tokens.id_token.is_some() {
            account.id_token = self.seal(tokens.id_token.as_deref())?;
        }
        account.access_token_expires_at = tokens
            .expires_in
            .map(|s| now + s.clamp(0, i64::MAX / 2000) * 1000);
        if let Some(s) = tokens.refresh_expires_in {
            account.refresh_token_expires_at = Some(now + s.clamp(0, i64::MAX / 2000) * 1000);
        }
        account.updated_at = now;
        self.store.update_account_tokens(account).await?;
        Ok(tokens)
    }

    /// A valid access token for the user's account (refreshed first when it expires within
    /// five seconds and a refresh token is stored).
    pub async fn access_token(
        &self,
        user_id: &str,
        account_id: &str,
    ) -> Result<AccessToken, SocialError> {
        let mut account = self.own_account(user_id, account_id).await?;
        let p = self.provider(&account.provider_id)?;
        let expiring = account
            .access_token_expires_at
            .is_some_and(|at| at - self.clock.now_ms() < 5_000);
        if expiring && account.refresh_token.is_some() {
            self.refreshed(&p, &mut account).await?;
        }
        let access_token = self
            .unseal(account.access_token.as_deref())
            .ok_or(SocialError::NoRefreshToken)?;
        Ok(AccessToken {
            access_token,
            expires_at: account.access_token_expires_at,
            scopes: split_scopes(&account.scope),
            id_token: self
                .unseal(account.id_token.as_deref())
                .map(|t| t.to_string()),
        })
    }

    /// Refreshes the account's tokens at the provider now.
    pub async fn refresh_token(
        &self,
        user_id: &str,
        account_id: &str,
    ) -> Result<(Account, AccessToken), SocialError> {
        let mut account = self.own_account(user_id, account_id).await?;
        let p = self.provider(&account.provider_id)?;
        let tokens = self.refreshed(&p, &mut account).await?;
        let token = AccessToken {
            access_token: tokens.access_token.unwrap_or_default(),
            expires_at: account.access_token_expires_at,
            scopes: split_scopes(&account.scope),
            id_token: self
                .unseal(account.id_token.as_deref())
                .map(|t| t.to_string()),
        };
        Ok((account, token))
    }

    /// The provider's current profile for the account (Better Auth's `/account-info`).
    pub async fn account_info(
        &self,
        user_id: &str,
        account_id: &str,
    ) -> Result<(Account, Profile, Value), SocialError> {
        let token = self.access_token(user_id, account_id).await?;
        let account = self.own_account(user_id, account_id).await?;
        let p = self.provider(&account.provider_id)?;
        let meta = self.metadata(&p).await?;
        let data = provider::user_info(&self.client, &meta, &token.access_token)
            .await
            .map_err(SocialError::Provider)?;
        let profile = match p.kind {
            Kind::Github => {
                provider::github_profile(&self.client, &p, &data, &token.access_token).await
            }
            Kind::Discord => provider::discord_profile(&data),
            _ => {
                let mut claims = sigil_token::Claims::new(account.account_id.clone(), 0, 0);
                claims.email = data.get("email").and_then(Value::as_str).map(str::to_owned);
                claims.name = data.get("name").and_then(Value::as_str).map(str::to_owned);
                claims.extra = data.clone();
                Ok(provider::oidc_profile(&claims, None, None))
            }
        }
        .map_err(SocialError::Provider)?;
        Ok((account, profile, Value::Object(data)))
    }
}

fn split_scopes(scope: &str) -> Vec<String> {
    scope
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn state_identifier(state: &str) -> String {
    format!("{STATE_PREFIX}{}", crypto::sha256_hex(state))
}
