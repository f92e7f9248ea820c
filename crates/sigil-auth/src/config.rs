//! The identity service's settings, validated once at start.

use crate::domain::PasswordPolicy;
use crate::throttle::ThrottlePolicy;
use sigil_token::Algorithm;
use std::time::Duration;
use url::Url;
use zeroize::Zeroizing;

/// How long a replaced key stays published after its last token can have expired: two minutes
/// (reload period of other instances, plus the 60 s clock leeway of verifiers, with margin).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(120);

/// Minimum length of `SIGIL_SECRET` and `SIGIL_JWT_SECRET`, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// A server secret: never printed, zeroed on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A secret of at least 32 bytes; `what` names the setting in the error message.
    pub fn new(bytes: impl Into<Vec<u8>>, what: &str) -> Result<Secret, String> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "{what} is {} bytes; at least {MIN_SECRET_BYTES} are required (generate one with `openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        Ok(Secret(Zeroizing::new(bytes)))
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// How JWTs are signed.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// Signing algorithm (EdDSA by default; HS256 uses `hs_secrets`).
    pub alg: Algorithm,
    /// The shared HMAC secrets in HS256 mode (kept apart from the cookie secret): the first
    /// signs, every one verifies (how a shared secret is rotated).
    pub hs_secrets: Vec<Secret>,
    /// Token lifetime.
    pub ttl: Duration,
    /// How long a replaced key stays in `/jwks` after its last token can have expired (its
    /// successor's creation + `ttl`): covers other instances still signing with it until their
    /// next key reload, and verifiers' clock leeway.
    pub grace: Duration,
    /// Create a new signing key this often (`None`: only `sigil keys rotate` does).
    pub rotation_interval: Option<Duration>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            alg: Algorithm::EdDSA,
            hs_secrets: Vec::new(),
            ttl: Duration::from_secs(15 * 60),
            grace: DEFAULT_GRACE,
            rotation_interval: None,
        }
    }
}

/// Session lifetimes (Better Auth's defaults).
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// Lifetime of a session, slid forward on use (7 days).
    pub expires_in: Duration,
    /// A session is slid forward at most once per this interval (1 day).
    pub update_age: Duration,
    /// Sensitive operations need a session younger than this (1 day).
    pub fresh_age: Duration,
    /// Lifetime of a `rememberMe: false` session (1 day, never extended).
    pub short_lived: Duration,
    /// Lifetime of a refresh token family (30 days).
    pub refresh_token_ttl: Duration,
    /// Window in which a replayed refresh token returns the same successor (lost responses).
    pub refresh_grace: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            expires_in: Duration::from_secs(7 * 24 * 3600),
            update_age: Duration::from_secs(24 * 3600),
            fresh_age: Duration::from_secs(24 * 3600),
            short_lived: Duration::from_secs(24 * 3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
        }
    }
}

/// Everything the identity service needs to know.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Public base URL (its origin is the JWT `iss`/`aud` and a trusted origin).
    pub base_url: Url,
    /// Cookie-signing and key-sealing secret.
    pub secret: Secret,
    /// JWT settings.
    pub jwt: JwtConfig,
    /// Session lifetimes.
    pub session: SessionConfig,
    /// Extra origins allowed to make cookie-authenticated requests (exact origins, or
    /// `https://*.example.com` for subdomains).
    pub trusted_origins: Vec<String>,
    /// Whether to rate-limit (on by default).
    pub rate_limit: bool,
    /// Whether sign-in needs a verified email.
    pub require_email_verification: bool,
    /// Password length policy.
    pub password: PasswordPolicy,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Header holding the client IP set by a trusted reverse proxy (e.g. `x-forwarded-for`, whose
    /// last entry is used); `None` uses the TCP peer address.
    pub client_ip_header: Option<http::HeaderName>,
    /// Allow account deletion through `/delete-user`.
    pub allow_delete_user: bool,
    /// Per-account sign-in throttling (`None`: off).
    pub account_throttle: Option<ThrottlePolicy>,
    /// Social and OpenID Connect providers (none by default).
    pub social_providers: Vec<crate::social_config::ProviderConfig>,
    /// How long one call to a provider (discovery, keys, token, profile) may take.
    pub social_timeout: Duration,
    /// Which users are administrators.
    pub admin: AdminPolicy,
    /// How long audit rows are kept (90 days).
    pub audit_retention: Duration,
    /// The issuer authenticator apps show beside a TOTP entry (Better Auth's `appName`).
    pub two_factor_issuer: String,
}

/// Which users are administrators (the rules are in [`crate::admin`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminPolicy {
    /// Roles that make a user an administrator.
    pub admin_roles: Vec<String>,
    /// Users who are administrators whatever their role.
    pub admin_user_ids: Vec<String>,
}

impl Default for AdminPolicy {
    fn default() -> Self {
        AdminPolicy {
            admin_roles: vec!["admin".to_owned()],
            admin_user_ids: Vec::new(),
        }
    }
}

/// The default audit retention: 90 days.
pub const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

impl AuthConfig {
    /// Settings with Better Auth's defaults for `base_url` and `secret`.
    pub fn new(base_url: Url, secret: Secret) -> AuthConfig {
        AuthConfig {
            base_url,
            secret,
            jwt: JwtConfig::default(),
            session: SessionConfig::default(),
            trusted_origins: Vec::new(),
            rate_limit: true,
            require_email_verification: false,
            password: PasswordPolicy::default(),
            max_body_bytes: 64 * 1024,
            client_ip_header: None,
            allow_delete_user: true,
            account_throttle: Some(ThrottlePolicy::default()),
            social_providers: Vec::new(),
            social_timeout: Duration::from_secs(10),
            admin: AdminPolicy::default(),
            audit_retention: DEFAULT_AUDIT_RETENTION,
            two_factor_issuer: "Sigil".to_owned(),
        }
    }

    /// The base URL's origin, e.g. `http://127.0.0.1:8080`.
    pub fn origin(&self) -> String {
        self.base_url.origin().ascii_serialization()
    }

    /// Whether cookies get `Secure` and the `__Secure-` prefix (an https base URL).
    pub fn secure_cookies(&self) -> bool {
        self.base_url.scheme() == "https"
    }
}
