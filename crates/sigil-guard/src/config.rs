//! Guard configuration from the environment (or built in code).
//!
//! | variable | meaning |
//! |---|---|
//! | `SIGIL_JWKS_URL` | remote JWKS, e.g. `https://auth.example.com/api/auth/jwks` |
//! | `SIGIL_JWKS_FILE` / `SIGIL_JWKS` | a static JWKS, as a file path or as JSON text |
//! | `SIGIL_JWT_SECRET` | HS256 shared secret (at least 32 bytes) |
//! | `SIGIL_JWT_ISSUER` | required `iss` (default: the JWKS URL's origin, else the origin of `SIGIL_BASE_URL`) |
//! | `SIGIL_JWT_AUDIENCE` | required `aud` (default: `SIGIL_JWT_ISSUER` when set, else the issuer's default) |
//! | `SIGIL_JWT_LEEWAY` | clock-skew allowance in seconds, `0` to `300` (`60` or `60s`; default 60) |
//! | `SIGIL_TOKEN_CACHE` | `off` disables the verified-token cache |
//!
//! Exactly one key source must be set. Better Auth and Sigil both issue tokens whose `iss` and
//! `aud` are the identity service's origin, so pointing `SIGIL_JWKS_URL` at its
//! `/api/auth/jwks` is usually the only setting needed. In secret (HS256) mode there is no URL to
//! take a default from: set `SIGIL_JWT_ISSUER` (or `SIGIL_BASE_URL`).

use crate::guard::Guard;
use crate::remote::{RemoteJwks, RemoteJwksOptions};
use crate::snapshot::DEFAULT_CACHE_CAPACITY;
use sigil_token::{Algorithm, JwkSet, KeySet, Validation, Verifier, VerifyingKey};
use url::Url;

/// Where the verification keys come from.
#[derive(Clone)]
pub enum KeyConfig {
    /// A shared HMAC secret (HS256).
    Secret(Vec<u8>),
    /// Several shared HMAC secrets (HS256) during a rotation: a token verifies under any of
    /// them (the identity service signs with its first).
    Secrets(Vec<Vec<u8>>),
    /// A JWKS document held locally.
    Jwks(String),
    /// A JWKS served at a URL.
    JwksUrl(Url),
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyConfig::Secret(_) => f.write_str("Secret(<redacted>)"),
            KeyConfig::Secrets(list) => write!(f, "Secrets(<{} redacted>)", list.len()),
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

/// Largest accepted clock-skew allowance: more would quietly stretch every token's lifetime.
pub const MAX_LEEWAY_SECS: u64 = 300;

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
        GuardConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`GuardConfig::from_env`], reading variables through `lookup` (for tests, or for
    /// settings kept elsewhere). Empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<GuardConfig, ConfigError> {
        let env = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut sources = Vec::new();
        if let Some(url) = env("SIGIL_JWKS_URL") {
            let url = Url::parse(&url)
                .map_err(|e| ConfigError::Invalid(format!("SIGIL_JWKS_URL: {e}")))?;
            if !matches!(url.scheme(), "https" | "http") {
                return Err(ConfigError::Invalid(format!(
                    "SIGIL_JWKS_URL: expected an https:// (or http://) URL, got {url}"
                )));
            }
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
        // The JWKS URL's origin is the better default issuer (see `validation`); the base URL
        // is only a fallback for the key sources that have no URL.
        let base = match keys {
            KeyConfig::JwksUrl(_) => None,
            _ => env("SIGIL_BASE_URL").map(|b| origin_of(&b).unwrap_or(b)),
        };
        let leeway = match env("SIGIL_JWT_LEEWAY") {
            Some(v) => parse_leeway(&v)?,
            None => sigil_token::DEFAULT_LEEWAY_SECS,
        };
        let issuer = env("SIGIL_JWT_ISSUER");
        let cache = match env("SIGIL_TOKEN_CACHE").map(|v| v.trim().to_ascii_lowercase()) {
            None => true,
            Some(v) if v == "on" => true,
            Some(v) if v == "off" => false,
            Some(v) => {
                return Err(ConfigError::Invalid(format!(
                    "SIGIL_TOKEN_CACHE: expected on or off, got {v}"
                )));
            }
        };
        Ok(GuardConfig {
            keys,
            audience: env("SIGIL_JWT_AUDIENCE")
                .or_else(|| issuer.clone())
                .or_else(|| base.clone()),
            issuer: issuer.or(base),
            leeway,
            cache,
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
        if self.leeway > MAX_LEEWAY_SECS {
            return Err(ConfigError::Invalid(format!(
                "leeway of {} s is above the {MAX_LEEWAY_SECS} s limit",
                self.leeway
            )));
        }
        Ok(Validation::new(issuer, audience).leeway(self.leeway))
    }
}

/// `60` or `60s`, at most [`MAX_LEEWAY_SECS`].
fn parse_leeway(value: &str) -> Result<u64, ConfigError> {
    let v = value.trim();
    let digits = v.strip_suffix('s').unwrap_or(v);
    match digits.parse::<u64>() {
        Ok(secs) if secs <= MAX_LEEWAY_SECS => Ok(secs),
        Ok(_) => Err(ConfigError::Invalid(format!(
            "SIGIL_JWT_LEEWAY: {value} is above the {MAX_LEEWAY_SECS} s limit"
        ))),
        Err(_) => Err(ConfigError::Invalid(format!(
            "SIGIL_JWT_LEEWAY: not a number of seconds: {value}"
        ))),
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
        Guard::from_config_with_options(config, RemoteJwksOptions::default()).await
    }

    /// Like [`Guard::from_config`], with the tuning of a remote JWKS (timeouts, refetch and
    /// retry intervals; the cache capacity still follows `config.cache`). Static key sources
    /// ignore `options`.
    pub async fn from_config_with_options(
        config: GuardConfig,
        options: RemoteJwksOptions,
    ) -> Result<Guard, ConfigError> {
        let validation = config.validation()?;
        let capacity = config.cache.then_some(DEFAULT_CACHE_CAPACITY);
        Ok(match config.keys {
            KeyConfig::Secret(secret) => {
                let key = VerifyingKey::hmac(Algorithm::HS256, &secret, None)?;
                let keys = KeySet::try_from(vec![key])?;
                Guard::from_verifier_with_cache(Verifier::new(keys, validation), capacity)
            }
            KeyConfig::Secrets(secrets) => {
                let keys = secrets
                    .iter()
                    .map(|secret| VerifyingKey::hmac(Algorithm::HS256, secret, None))
                    .collect::<Result<Vec<_>, _>>()?;
                let keys = KeySet::try_from(keys)?;
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
                    ..options
                };
                Guard::from_remote(RemoteJwks::start(url, validation, options).await?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<GuardConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        GuardConfig::from_lookup(|name| vars.get(name).cloned())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn exactly_one_key_source() {
        assert!(matches!(config(&[]), Err(ConfigError::KeySource)));
        assert!(matches!(
            config(&[
                ("SIGIL_JWKS_URL", "https://auth.example/api/auth/jwks"),
                ("SIGIL_JWT_SECRET", SECRET),
            ]),
            Err(ConfigError::KeySource)
        ));
        assert!(matches!(
            config(&[("SIGIL_JWKS_URL", "   ")]),
            Err(ConfigError::KeySource)
        ));
        assert!(matches!(
            config(&[("SIGIL_JWKS_URL", "not a url")]),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            config(&[("SIGIL_JWKS_URL", "file:///etc/jwks.json")]),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            config(&[("SIGIL_JWKS_FILE", "/nonexistent/jwks.json")]),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn jwks_url_defaults_issuer_and_audience_to_its_origin() {
        let c = config(&[
            ("SIGIL_JWKS_URL", "https://auth.example:8443/api/auth/jwks"),
            ("SIGIL_BASE_URL", "https://api.example"),
        ])
        .unwrap();
        assert!(matches!(c.keys, KeyConfig::JwksUrl(_)));
        let v = c.validation().unwrap();
        assert_eq!(v.issuer(), Some("https://auth.example:8443"));
        assert_eq!(v.audience(), Some("https://auth.example:8443"));
        assert_eq!(c.leeway, 60);
        assert!(c.cache);
    }

    #[test]
    fn explicit_issuer_is_also_the_default_audience() {
        let c = config(&[
            ("SIGIL_JWKS_URL", "https://auth.example/api/auth/jwks"),
            ("SIGIL_JWT_ISSUER", "https://issuer.example"),
        ])
        .unwrap();
        let v = c.validation().unwrap();
        assert_eq!(v.issuer(), Some("https://issuer.example"));
        assert_eq!(v.audience(), Some("https://issuer.example"));
        let c = config(&[
            ("SIGIL_JWKS_URL", "https://auth.example/api/auth/jwks"),
            ("SIGIL_JWT_ISSUER", "https://issuer.example"),
            ("SIGIL_JWT_AUDIENCE", "https://api.example"),
        ])
        .unwrap();
        assert_eq!(
            c.validation().unwrap().audience(),
            Some("https://api.example")
        );
    }

    #[test]
    fn secret_mode_needs_an_issuer() {
        let c = config(&[("SIGIL_JWT_SECRET", SECRET)]).unwrap();
        assert!(matches!(c.keys, KeyConfig::Secret(_)));
        assert!(c.validation().is_err(), "no URL to take a default from");
        let c = config(&[
            ("SIGIL_JWT_SECRET", SECRET),
            ("SIGIL_BASE_URL", "https://auth.example/some/path"),
        ])
        .unwrap();
        let v = c.validation().unwrap();
        assert_eq!(v.issuer(), Some("https://auth.example"));
        assert_eq!(v.audience(), Some("https://auth.example"));
    }

    #[test]
    fn static_jwks_from_text() {
        let c = config(&[
            ("SIGIL_JWKS", r#"{"keys":[]}"#),
            ("SIGIL_JWT_ISSUER", "https://auth.example"),
        ])
        .unwrap();
        assert!(matches!(c.keys, KeyConfig::Jwks(_)));
    }

    #[test]
    fn leeway_and_cache_settings() {
        let base = [("SIGIL_JWT_SECRET", SECRET), ("SIGIL_JWT_ISSUER", "i")];
        let with = |extra: (&'static str, &'static str)| {
            let mut vars = base.to_vec();
            vars.push(extra);
            config(&vars)
        };
        assert_eq!(with(("SIGIL_JWT_LEEWAY", "0")).unwrap().leeway, 0);
        assert_eq!(with(("SIGIL_JWT_LEEWAY", "30s")).unwrap().leeway, 30);
        assert_eq!(with(("SIGIL_JWT_LEEWAY", " 300 ")).unwrap().leeway, 300);
        assert!(with(("SIGIL_JWT_LEEWAY", "301")).is_err());
        assert!(with(("SIGIL_JWT_LEEWAY", "-1")).is_err());
        assert!(with(("SIGIL_JWT_LEEWAY", "1m")).is_err());
        assert!(!with(("SIGIL_TOKEN_CACHE", "OFF")).unwrap().cache);
        assert!(with(("SIGIL_TOKEN_CACHE", "on")).unwrap().cache);
        assert!(with(("SIGIL_TOKEN_CACHE", "maybe")).is_err());
    }

    #[test]
    fn leeway_set_in_code_is_bounded_too() {
        let mut c = GuardConfig::new(KeyConfig::Secret(SECRET.into()));
        c.issuer = Some("i".into());
        c.audience = Some("a".into());
        c.leeway = 3600;
        assert!(c.validation().is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let c = config(&[("SIGIL_JWT_SECRET", SECRET), ("SIGIL_JWT_ISSUER", "i")]).unwrap();
        assert!(!format!("{c:?}").contains(SECRET));
    }
}
