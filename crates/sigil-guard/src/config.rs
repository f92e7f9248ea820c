//! Guard configuration from the environment (or built in code).
//!
//! | variable | meaning |
//! |---|---|
//! | `SIGIL_JWKS_URL` | remote JWKS, e.g. `https://auth.example.com/api/auth/jwks` |
//! | `SIGIL_JWKS_FILE` / `SIGIL_JWKS` | a static JWKS, as a file path or as JSON text |
//! | `SIGIL_JWT_SECRET` | HS256 shared secret (at least 32 bytes) |
//! | `SIGIL_JWT_ISSUER` | required `iss` (default: the JWKS URL's origin, else `SIGIL_BASE_URL`) |
//! | `SIGIL_JWT_AUDIENCE` | required `aud` (same default as the issuer) |
//! | `SIGIL_JWT_LEEWAY` | clock-skew allowance in seconds (default 60) |
//! | `SIGIL_TOKEN_CACHE` | `off` disables the verified-token cache |
//!
//! Exactly one key source must be set.

use crate::guard::{DEFAULT_CACHE_CAPACITY, Guard};
use crate::remote::{RemoteJwks, RemoteJwksOptions};
use sigil_token::{Algorithm, JwkSet, KeySet, Validation, Verifier, VerifyingKey};
use url::Url;

/// Where the verification keys come from.
#[derive(Clone)]
pub enum KeyConfig {
    /// A shared HMAC secret (HS256).
    Secret(Vec<u8>),
    /// A JWKS document held locally.
    Jwks(String),
    /// A JWKS served at a URL.
    JwksUrl(Url),
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyConfig::Secret(_) => f.write_str("Secret(<redacted>)"),
            KeyConfig::Jwks(_) => f.write_str("Jwks(..)"),
            KeyConfig::JwksUrl(u) => write!(f, "JwksUrl({u})"),
        }
    }
}

/// Everything needed to build a [`Guard`].
#[derive(Clone, Debug)]
pub struct GuardConfig {
    /// The key source.
    pub keys: KeyConfig,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `aud`.
    pub audience: Option<String>,
    /// Clock-skew allowance in seconds.
    pub leeway: u64,
    /// Whether to keep a verified-token cache.
    pub cache: bool,
}

/// A configuration problem, reported at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No key source, or several.
    #[error("set exactly one of SIGIL_JWKS_URL, SIGIL_JWKS_FILE, SIGIL_JWKS or SIGIL_JWT_SECRET")]
    KeySource,
    /// A value could not be used.
    #[error("{0}")]
    Invalid(String),
    /// The key material was refused.
    #[error("invalid key: {0}")]
    Key(#[from] sigil_token::KeyError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl GuardConfig {
    /// A configuration with the given key source and the default leeway and cache.
    pub fn new(keys: KeyConfig) -> GuardConfig {
        GuardConfig {
            keys,
            issuer: None,
            audience: None,
            leeway: sigil_token::DEFAULT_LEEWAY_SECS,
            cache: true,
        }
    }

    /// Reads the `SIGIL_*` variables listed in the module documentation.
    pub fn from_env() -> Result<GuardConfig, ConfigError> {
        let mut sources = Vec::new();
        if let Some(url) = env("SIGIL_JWKS_URL") {
            let url = Url::parse(&url)
                .map_err(|e| ConfigError::Invalid(format!("SIGIL_JWKS_URL: {e}")))?;
            sources.push(KeyConfig::JwksUrl(url));
        }
        if let Some(path) = env("SIGIL_JWKS_FILE") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::Invalid(format!("SIGIL_JWKS_FILE {path}: {e}")))?;
            sources.push(KeyConfig::Jwks(text));
        }
        if let Some(text) = env("SIGIL_JWKS") {
            sources.push(KeyConfig::Jwks(text));
        }
        if let Some(secret) = env("SIGIL_JWT_SECRET") {
            sources.push(KeyConfig::Secret(secret.into_bytes()));
        }
        let keys = match sources.len() {
            1 => sources.remove(0),
            _ => return Err(ConfigError::KeySource),
        };
        let base = env("SIGIL_BASE_URL").map(|b| origin_of(&b).unwrap_or(b));
        let leeway = match env("SIGIL_JWT_LEEWAY") {
            Some(v) => v.parse().map_err(|_| {
                ConfigError::Invalid(format!("SIGIL_JWT_LEEWAY: not a number of seconds: {v}"))
            })?,
            None => sigil_token::DEFAULT_LEEWAY_SECS,
        };
        Ok(GuardConfig {
            keys,
            issuer: env("SIGIL_JWT_ISSUER").or_else(|| base.clone()),
            audience: env("SIGIL_JWT_AUDIENCE").or(base),
            leeway,
            cache: !env("SIGIL_TOKEN_CACHE").is_some_and(|v| v.eq_ignore_ascii_case("off")),
        })
    }

    fn validation(&self) -> Result<Validation, ConfigError> {
        let default = match &self.keys {
            KeyConfig::JwksUrl(url) => Some(url.origin().ascii_serialization()),
            _ => None,
        };
        let issuer = self
            .issuer
            .clone()
            .or_else(|| default.clone())
            .ok_or_else(|| {
                ConfigError::Invalid(
                    "set SIGIL_JWT_ISSUER (or SIGIL_BASE_URL): the issuer every token must name"
                        .into(),
                )
            })?;
        let audience = self.audience.clone().or(default).ok_or_else(|| {
            ConfigError::Invalid(
                "set SIGIL_JWT_AUDIENCE (or SIGIL_BASE_URL): the audience every token must name"
                    .into(),
            )
        })?;
        Ok(Validation::new(issuer, audience).leeway(self.leeway))
    }
}

/// The origin (`scheme://host[:port]`) of a URL, which Better Auth and Sigil use as `iss`/`aud`.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

impl Guard {
    /// Builds a guard from a configuration (fetching a remote JWKS once).
    pub async fn from_config(config: GuardConfig) -> Result<Guard, ConfigError> {
        let validation = config.validation()?;
        let capacity = config.cache.then_some(DEFAULT_CACHE_CAPACITY);
        Ok(match config.keys {
            KeyConfig::Secret(secret) => {
                let key = VerifyingKey::hmac(Algorithm::HS256, &secret, None)?;
                let keys = KeySet::try_from(vec![key])?;
                Guard::from_verifier_with_cache(Verifier::new(keys, validation), capacity)
            }
            KeyConfig::Jwks(text) => {
                let (keys, skipped) = JwkSet::parse_keys(&text)?;
                for key in skipped {
                    tracing::warn!(target: "sigil::guard", kid = ?key.kid, reason = %key.reason, "JWKS key skipped");
                }
                Guard::from_verifier_with_cache(Verifier::new(keys, validation), capacity)
            }
            KeyConfig::JwksUrl(url) => {
                let options = RemoteJwksOptions {
                    cache_capacity: capacity,
                    ..RemoteJwksOptions::default()
                };
                Guard::from_remote(RemoteJwks::start(url, validation, options).await?)
            }
        })
    }
}
