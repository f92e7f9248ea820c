//! The settings of one `sigil` process, and where they come from: each group below is at once
//! the clap definition of its flags and environment variables (with their defaults) and what
//! [`crate::app`] reads. [`crate::cli`] parses the groups a command takes, moves them into one
//! [`Settings`] and checks what involves several fields ([`Settings::check`]); nothing is copied
//! field by field. Tests build the same structs with [`Settings::new`], whose defaults are the
//! clap definitions' own, read without the environment.
//!
//! `Debug` shows no secret: the cookie and JWT secrets are [`SecretString`]s, and URLs that may
//! carry credentials (database, SMTP, Redis) print without their password.

use crate::telemetry::LogFormat;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, FromArgMatches};
use secrecy::{ExposeSecret, SecretString};
use sigil_auth::Secret;
use sigil_token::Algorithm;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// What the process serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Identity service, tasks API and web UI (`serve`).
    All,
    /// Identity service and web UI (`serve-auth`).
    AuthOnly,
    /// Tasks API only (`serve-api`).
    ApiOnly,
}

/// Settings of one process: the mode and the three groups of flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// What to serve.
    pub mode: Mode,
    /// What every command takes.
    pub common: CommonSettings,
    /// The identity service's (`serve`, `serve-auth`); defaults with `serve-api`.
    pub auth: AuthSettings,
    /// The key source of `serve-api`; defaults otherwise.
    pub api: ApiSettings,
}

/// Flags of every command: listening, the database, Redis, caches, connection limits, logs.
#[derive(Clone, Args)]
pub struct CommonSettings {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "SIGIL_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Database URL: sqlite://<file> (created on first start) or postgres://...
    // The doc comment is the `--help` text too, where `<…>` is a placeholder, not HTML.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://sigil.db", value_parser = secret(), hide_env_values = true)]
    pub database_url: SecretString,
    /// Origins allowed to call the tasks API from a browser (CORS), comma-separated.
    #[arg(long, env = "SIGIL_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Redis URL for rate limits and revocations shared by several instances.
    #[arg(long, env = "SIGIL_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Cache verified tokens, so a token seen before costs a hash lookup (on/off).
    #[arg(long, env = "SIGIL_TOKEN_CACHE", default_value = "on", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    pub token_cache: bool,
    /// Cache each user's task list in memory (on/off) [default: on with SQLite, off with PostgreSQL]
    #[arg(long, env = "SIGIL_TASKS_CACHE", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    pub tasks_cache: Option<bool>,
    /// Log format.
    #[arg(long, env = "SIGIL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// How often revocations are read from the database (e.g. 2s, 500ms); tokens are refused with
    /// 503 once the last successful read began more than this plus 1 s ago.
    #[arg(long, env = "SIGIL_REVOCATION_POLL_INTERVAL", default_value = "2s", value_parser = parse_short_duration)]
    pub revocation_poll_interval: Duration,
    /// How long a request waits for a database connection before answering 503 (e.g. 2s).
    #[arg(long, env = "SIGIL_DB_TIMEOUT", default_value = "2s", value_parser = parse_short_duration)]
    pub db_timeout: Duration,
    /// Database connections per process [default: 8 with SQLite, 16 with PostgreSQL]
    #[arg(long, env = "SIGIL_DB_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..))]
    pub db_pool_size: Option<u32>,
    /// Tasks API requests allowed to wait for a database connection beyond the pool's size; the
    /// next ones get 503 SERVICE_BUSY with Retry-After at once.
    #[arg(long, env = "SIGIL_DB_MAX_WAITERS", default_value_t = sigil_tasks::DEFAULT_MAX_WAITERS)]
    pub db_max_waiters: usize,
    /// How long a Redis connection attempt or command may take before the instance carries on
    /// without it (e.g. 500ms).
    #[arg(long, env = "SIGIL_REDIS_TIMEOUT", default_value = "500ms", value_parser = parse_short_duration)]
    pub redis_timeout: Duration,
    /// Time allowed for a request's head (request line and headers) to arrive complete.
    #[arg(long, env = "SIGIL_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// Time allowed for a request's body to arrive complete (then 408).
    #[arg(long, env = "SIGIL_REQUEST_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_body_timeout: Duration,
    /// How long a connection with no request in progress is kept open.
    #[arg(long, env = "SIGIL_KEEP_ALIVE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub keep_alive_timeout: Duration,
    /// Most connections at once [default: 10000, or 3/4 of the open-file limit when lower]
    #[arg(long, env = "SIGIL_MAX_CONNECTIONS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=u64::from(u32::MAX)))]
    pub max_connections: Option<usize>,
    /// Address of a second listener serving Prometheus metrics at /metrics (and /healthz,
    /// /readyz), e.g. 127.0.0.1:9090; off when unset. Keep it off the public network.
    #[arg(long, env = "SIGIL_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// On SIGTERM/SIGINT: how long requests in flight may take to finish before the process
    /// exits anyway (e.g. 30s); /readyz answers 503 meanwhile.
    #[arg(long, env = "SIGIL_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

/// Flags of the identity service (`serve`, `serve-auth`).
#[derive(Clone, Args)]
pub struct AuthSettings {
    /// Public base URL; its origin is the JWT iss and aud [default: http://<addr>]
    // The doc comment is the `--help` text too, where `<…>` is a placeholder, not HTML.
    #[allow(rustdoc::invalid_html_tags)]
    #[arg(long, env = "SIGIL_BASE_URL")]
    pub base_url: Option<Url>,
    /// Secret (>= 32 bytes) signing session cookies and sealing keys; BETTER_AUTH_SECRET is read
    /// too. Generated and stored beside an SQLite database when absent.
    #[arg(long, env = "SIGIL_SECRET", hide_env_values = true, value_parser = secret())]
    pub secret: Option<SecretString>,
    /// JWT signing algorithm: EdDSA, ES256, RS256 or HS256.
    #[arg(long, env = "SIGIL_JWT_ALG", default_value = "EdDSA")]
    pub jwt_alg: Algorithm,
    /// HS256 key (>= 32 bytes), shared with every API that verifies the tokens; repeat the flag
    /// to rotate (the first signs, all verify).
    #[arg(long, env = "SIGIL_JWT_SECRET", hide_env_values = true, value_parser = secret(), action = ArgAction::Append)]
    pub jwt_secret: Vec<SecretString>,
    /// HS256 keys (>= 32 bytes each), comma-separated: the first signs, all verify (rotation).
    /// Instead of SIGIL_JWT_SECRET.
    #[arg(long, env = "SIGIL_JWT_SECRETS", hide_env_values = true, value_parser = secret(), value_delimiter = ',')]
    pub jwt_secrets: Vec<SecretString>,
    /// JWT lifetime (e.g. 900, 900s, 15m, 1h).
    #[arg(long, env = "SIGIL_JWT_TTL", default_value = "15m", value_parser = parse_duration)]
    pub jwt_ttl: Duration,
    /// Create a new signing key this often (e.g. 30d; off by default). The previous key stays in
    /// /jwks until its last token has expired. Not with HS256 (rotate SIGIL_JWT_SECRETS).
    #[arg(long, env = "SIGIL_KEY_ROTATION_INTERVAL", value_parser = parse_duration)]
    pub key_rotation_interval: Option<Duration>,
    /// Extra origins trusted for cookie requests and redirects, comma-separated.
    #[arg(long, env = "SIGIL_TRUSTED_ORIGINS", value_delimiter = ',')]
    pub trusted_origins: Vec<String>,
    /// Rate limits on (default) or off.
    #[arg(long, env = "SIGIL_RATE_LIMIT", default_value = "on", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    pub rate_limit: bool,
    /// Refuse sign-in until the email address is verified (on/off).
    #[arg(long, env = "SIGIL_REQUIRE_EMAIL_VERIFICATION", default_value = "off", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    pub require_email_verification: bool,
    /// Append outgoing mail as JSON lines to this file (development and tests).
    #[arg(long, env = "SIGIL_MAIL_FILE")]
    pub mail_file: Option<PathBuf>,
    /// Allow the log mailer (reset and verification links written to the log) although
    /// SIGIL_BASE_URL is https (on/off).
    #[arg(long, env = "SIGIL_ALLOW_LOG_MAILER", default_value = "off", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    pub allow_log_mailer: bool,
    /// SMTP server for outgoing mail (smtps://user:pass@host:465).
    #[arg(long, env = "SIGIL_SMTP_URL", hide_env_values = true, value_parser = secret())]
    pub smtp_url: Option<SecretString>,
    /// Sender of outgoing mail.
    #[arg(
        long,
        env = "SIGIL_MAIL_FROM",
        default_value = "Sigil <no-reply@localhost>"
    )]
    pub mail_from: String,
    /// Header carrying the client IP, set by a trusted reverse proxy (e.g. x-forwarded-for).
    #[arg(long, env = "SIGIL_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Public URL of the tasks API, when it runs on another origin (serve-auth's web UI).
    #[arg(long, env = "SIGIL_API_URL")]
    pub api_url: Option<Url>,
    /// Argon2id memory cost in KiB.
    #[arg(long, env = "SIGIL_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    #[arg(long, env = "SIGIL_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// Per-account sign-in throttling: a growing delay after repeated failures, for addresses
    /// that never signed in to the account (on/off).
    #[arg(long, env = "SIGIL_ACCOUNT_THROTTLE", default_value = "on", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    pub account_throttle: bool,
    /// Sign-ins and sign-ups hashing (queued or running) at once per client address; the excess
    /// is answered 429 before any work.
    #[arg(long, env = "SIGIL_HASH_PER_CLIENT", default_value_t = 4, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    pub hash_per_client: usize,
    /// Social and OpenID Connect providers: a JSON file (see the README's "Social sign-in").
    #[arg(long, env = "SIGIL_SOCIAL_PROVIDERS_FILE")]
    pub social_providers_file: Option<PathBuf>,
    /// Longest wait for one call to a social provider (discovery, keys, token, profile).
    #[arg(long, env = "SIGIL_SOCIAL_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub social_timeout: Duration,
    /// The providers read from `social_providers_file` by [`Settings::check`].
    #[arg(skip)]
    pub social_providers: Vec<sigil_auth::social::config::ProviderConfig>,
    /// Issuer name authenticator apps show beside a two-factor (TOTP) entry (1 to 64
    /// characters, no ':').
    #[arg(long, env = "SIGIL_TWO_FACTOR_ISSUER", default_value = "Sigil")]
    pub two_factor_issuer: String,
    /// Roles that make a user an administrator of the /api/auth/admin/* routes, comma-separated.
    #[arg(
        long,
        env = "SIGIL_ADMIN_ROLES",
        value_delimiter = ',',
        default_value = "admin"
    )]
    pub admin_roles: Vec<String>,
    /// Users who are administrators whatever their role (ids, comma-separated).
    #[arg(long, env = "SIGIL_ADMIN_USER_IDS", value_delimiter = ',')]
    pub admin_user_ids: Vec<String>,
    /// How long audit log entries are kept (e.g. 90d); older ones are deleted every 10 minutes.
    #[arg(long, env = "SIGIL_AUDIT_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub audit_retention: Duration,
}

/// Flags of `serve-api`: where its keys come from (exactly one of the JWKS URL and the shared
/// secret), and the issuer and audience it requires.
#[derive(Clone, Args)]
pub struct ApiSettings {
    /// JWKS URL of the identity service (Sigil's or Better Auth's /api/auth/jwks).
    #[arg(long, env = "SIGIL_JWKS_URL")]
    pub jwks_url: Option<Url>,
    /// HS256 secret shared with the identity service; repeat the flag to accept several
    /// during a rotation.
    #[arg(long, env = "SIGIL_JWT_SECRET", hide_env_values = true, value_parser = secret(), action = ArgAction::Append)]
    pub jwt_secret: Vec<SecretString>,
    /// HS256 secrets shared with the identity service, comma-separated (any of them verifies).
    /// Instead of SIGIL_JWT_SECRET.
    #[arg(long, env = "SIGIL_JWT_SECRETS", hide_env_values = true, value_parser = secret(), value_delimiter = ',')]
    pub jwt_secrets: Vec<SecretString>,
    /// Required token issuer [default: the JWKS URL's origin].
    #[arg(long, env = "SIGIL_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required token audience [default: the issuer].
    #[arg(long, env = "SIGIL_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

/// The shown form of a secret that is set.
fn hidden(set: bool) -> Option<&'static str> {
    set.then_some("<redacted>")
}

impl std::fmt::Debug for CommonSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommonSettings")
            .field("addr", &self.addr)
            .field(
                "database_url",
                &redact_url(self.database_url.expose_secret()),
            )
            .field("cors_origins", &self.cors_origins)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("token_cache", &self.token_cache)
            .field("tasks_cache", &self.tasks_cache)
            .field("log_format", &self.log_format)
            .field("revocation_poll_interval", &self.revocation_poll_interval)
            .field("db_timeout", &self.db_timeout)
            .field("db_pool_size", &self.db_pool_size)
            .field("db_max_waiters", &self.db_max_waiters)
            .field("redis_timeout", &self.redis_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("request_body_timeout", &self.request_body_timeout)
            .field("keep_alive_timeout", &self.keep_alive_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("base_url", &self.base_url.as_ref().map(Url::as_str))
            .field("secret", &hidden(self.secret.is_some()))
            .field("jwt_alg", &self.jwt_alg)
            .field("jwt_secret", &hidden(!self.jwt_secret.is_empty()))
            .field("jwt_secrets", &hidden(!self.jwt_secrets.is_empty()))
            .field("jwt_ttl", &self.jwt_ttl)
            .field("trusted_origins", &self.trusted_origins)
            .field("rate_limit", &self.rate_limit)
            .field(
                "require_email_verification",
                &self.require_email_verification,
            )
            .field("mail_file", &self.mail_file)
            .field("allow_log_mailer", &self.allow_log_mailer)
            .field(
                "smtp_url",
                &self
                    .smtp_url
                    .as_ref()
                    .map(|u| redact_url(u.expose_secret())),
            )
            .field("mail_from", &self.mail_from)
            .field("client_ip_header", &self.client_ip_header)
            .field("api_url", &self.api_url.as_ref().map(Url::as_str))
            .field("argon2_memory_kib", &self.argon2_memory_kib)
            .field("argon2_iterations", &self.argon2_iterations)
            .field("account_throttle", &self.account_throttle)
            .field("hash_per_client", &self.hash_per_client)
            .field("social_providers_file", &self.social_providers_file)
            .field("social_timeout", &self.social_timeout)
            .field(
                "social_providers",
                &self
                    .social_providers
                    .iter()
                    .map(|p| &p.id)
                    .collect::<Vec<_>>(),
            )
            .field("two_factor_issuer", &self.two_factor_issuer)
            .field("admin_roles", &self.admin_roles)
            .field("admin_user_ids", &self.admin_user_ids)
            .field("audit_retention", &self.audit_retention)
            .finish()
    }
}

impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings")
            .field("jwks_url", &self.jwks_url.as_ref().map(Url::as_str))
            .field("jwt_secret", &hidden(!self.jwt_secret.is_empty()))
            .field("jwt_secrets", &hidden(!self.jwt_secrets.is_empty()))
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .finish()
    }
}

/// A URL with its password (if any) replaced by `****`, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        // Parsed with a host: any '@' separates a user name without password.
        Ok(u) if u.has_host() => url.to_owned(),
        _ if url.contains('@') => "(not shown: it may hold credentials)".to_owned(),
        _ => url.to_owned(),
    }
}

/// A group's values when no flag and no environment variable is given: its clap definitions'
/// defaults, parsed with the environment switched off (a test's settings never depend on the
/// `SIGIL_*` variables of the shell that runs it).
pub fn defaults<T: Args + FromArgMatches>() -> T {
    let command =
        T::augment_args(clap::Command::new("sigil")).mut_args(|arg| arg.env(None::<&'static str>));
    match command
        .try_get_matches_from(["sigil"])
        .and_then(|matches| T::from_arg_matches(&matches))
    {
        Ok(values) => values,
        // Every group's defaults parse: `tests::defaults_come_from_the_flag_definitions`.
        Err(error) => unreachable!("a settings group's own defaults do not parse: {error}"),
    }
}

impl Settings {
    /// The defaults of `mode` on `addr` with `database_url` (what tests start from).
    pub fn new(mode: Mode, addr: &str, database_url: &str) -> Settings {
        let mut common: CommonSettings = defaults();
        common.addr = addr.to_owned();
        common.database_url = database_url.into();
        Settings {
            mode,
            common,
            auth: defaults(),
            api: defaults(),
        }
    }

    /// Normalises the lists and checks what involves several fields, as the command line does
    /// before starting: trusted and CORS origins trimmed, `*` refused as a trusted origin, an
    /// HS256 issuer's secret long enough and apart from the cookie secret, `serve-api` given
    /// exactly one key source.
    pub fn check(&mut self) -> Result<(), String> {
        let tidy = |origins: &mut Vec<String>| {
            for origin in origins.iter_mut() {
                *origin = origin.trim().to_owned();
            }
            origins.retain(|o| !o.is_empty());
        };
        tidy(&mut self.common.cors_origins);
        tidy(&mut self.auth.trusted_origins);
        self.auth.two_factor_issuer = self.auth.two_factor_issuer.trim().to_owned();
        tidy(&mut self.auth.admin_roles);
        tidy(&mut self.auth.admin_user_ids);
        match self.mode {
            Mode::ApiOnly => self.api.keys().map(|_| ()),
            Mode::All | Mode::AuthOnly => {
                self.auth.check()?;
                self.auth.load_social_providers()
            }
        }
    }
}

impl AuthSettings {
    /// Reads the social providers file, if one is named (secrets named by `*_env` fields come
    /// from the environment); a file that does not parse stops the start with the reason.
    fn load_social_providers(&mut self) -> Result<(), String> {
        let Some(path) = &self.social_providers_file else {
            return Ok(());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("SIGIL_SOCIAL_PROVIDERS_FILE {}: {e}", path.display()))?;
        self.social_providers =
            sigil_auth::social::config::parse_providers(&text, |name| std::env::var(name).ok())?;
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        if self.admin_roles.is_empty() {
            return Err("SIGIL_ADMIN_ROLES must name at least one role".into());
        }
        let issuer = &self.two_factor_issuer;
        if issuer.is_empty() || issuer.chars().count() > 64 || issuer.contains(':') {
            return Err(
                "SIGIL_TWO_FACTOR_ISSUER must be 1 to 64 characters without ':' (it is part of the TOTP label)"
                    .into(),
            );
        }
        if self.trusted_origins.iter().any(|o| o == "*") {
            return Err(
                "SIGIL_TRUSTED_ORIGINS must not contain \"*\": it would disable CSRF protection"
                    .into(),
            );
        }
        let secrets = jwt_secret_list(&self.jwt_secret, &self.jwt_secrets)?;
        if self.jwt_alg.is_symmetric() && secrets.is_empty() {
            return Err(format!(
                "--jwt-alg {} needs --jwt-secret / SIGIL_JWT_SECRET (at least 32 bytes)",
                self.jwt_alg
            ));
        }
        for secret in secrets {
            if self.secret.as_ref().map(ExposeSecret::expose_secret) == Some(secret.expose_secret())
            {
                return Err("SIGIL_JWT_SECRET must differ from SIGIL_SECRET (the API servers know the JWT secret)".into());
            }
        }
        if self.jwt_alg.is_symmetric() && self.key_rotation_interval.is_some() {
            return Err(format!(
                "SIGIL_KEY_ROTATION_INTERVAL rotates stored keys; --jwt-alg {} uses shared secrets: rotate SIGIL_JWT_SECRETS instead",
                self.jwt_alg
            ));
        }
        if self
            .key_rotation_interval
            .is_some_and(|interval| interval < Duration::from_secs(60))
        {
            return Err("SIGIL_KEY_ROTATION_INTERVAL must be at least 60s".into());
        }
        Ok(())
    }

    /// The HS256 secrets, the signing one first: not both forms, none shorter than 32 bytes, no
    /// duplicates.
    pub fn jwt_secret_list(&self) -> Result<Vec<&SecretString>, String> {
        jwt_secret_list(&self.jwt_secret, &self.jwt_secrets)
    }
}

/// The HS256 secrets of `--jwt-secret` (repeatable) or `--jwt-secrets` (a list), the signing
/// one first: not both, none shorter than 32 bytes, no duplicates.
fn jwt_secret_list<'a>(
    single: &'a [SecretString],
    list: &'a [SecretString],
) -> Result<Vec<&'a SecretString>, String> {
    if !single.is_empty() && !list.is_empty() {
        return Err(
            "give the HS256 secrets either as --jwt-secret / SIGIL_JWT_SECRET or as --jwt-secrets / SIGIL_JWT_SECRETS, not both"
                .into(),
        );
    }
    let secrets: Vec<&SecretString> = single.iter().chain(list).collect();
    for (i, secret) in secrets.iter().enumerate() {
        let bytes = secret.expose_secret();
        if bytes.len() < sigil_auth::config::MIN_SECRET_BYTES {
            let which = if secrets.len() == 1 {
                "SIGIL_JWT_SECRET is".to_owned()
            } else {
                format!("HS256 secret {} of {} is", i + 1, secrets.len())
            };
            return Err(format!(
                "{which} {} bytes; at least 32 are required",
                bytes.len()
            ));
        }
        if secrets[..i].iter().any(|s| s.expose_secret() == bytes) {
            return Err(format!("HS256 secret {} is listed twice", i + 1));
        }
    }
    Ok(secrets)
}

/// How the tasks API of `serve-api` verifies tokens.
#[derive(Clone, Debug)]
pub enum ApiKeys<'a> {
    /// A remote JWKS (Sigil's or Better Auth's `/api/auth/jwks`).
    JwksUrl(&'a Url),
    /// The HS256 secrets shared with the identity service (any of them verifies).
    Secrets(Vec<&'a SecretString>),
}

impl ApiSettings {
    /// The key source: exactly one of `--jwks-url` and `--jwt-secret(s)`.
    pub fn keys(&self) -> Result<ApiKeys<'_>, String> {
        let secrets = jwt_secret_list(&self.jwt_secret, &self.jwt_secrets)?;
        match (&self.jwks_url, secrets.is_empty()) {
            (Some(url), true) => Ok(ApiKeys::JwksUrl(url)),
            (None, false) => Ok(ApiKeys::Secrets(secrets)),
            _ => Err("serve-api needs exactly one of --jwks-url / SIGIL_JWKS_URL and --jwt-secret / SIGIL_JWT_SECRET (or --jwt-secrets / SIGIL_JWT_SECRETS)".into()),
        }
    }
}

/// The parser of secrets and of URLs that may carry credentials: kept as a [`SecretString`] from
/// the command line on, so no `Debug` shows them.
pub(crate) fn secret() -> impl TypedValueParser<Value = SecretString> {
    clap::builder::StringValueParser::new().map(SecretString::from)
}

/// The parser of switches: `on` or `off` (what the help lists and the README documents), also
/// `true`/`false`, `yes`/`no`, `1`/`0`, in any case.
fn on_off() -> impl TypedValueParser<Value = bool> {
    PossibleValuesParser::new([
        PossibleValue::new("on").aliases(["true", "yes", "1"]),
        PossibleValue::new("off").aliases(["false", "no", "0"]),
    ])
    .map(|value: String| {
        matches!(
            value.to_ascii_lowercase().as_str(),
            "on" | "true" | "yes" | "1"
        )
    })
}

/// Parses `900`, `900s`, `15m`, `1h`, `1d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (use e.g. 900, 15m, 1h)"))?;
    let secs = match unit {
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => return Err(format!("unknown unit in {text:?}: use s, m, h or d")),
    }
    .ok_or_else(|| format!("{text:?} is too long a duration"))?;
    if secs == 0 {
        return Err("the duration must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Parses `250ms`, `2s` or `2` (seconds), for the short timeouts and intervals.
pub fn parse_short_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.strip_suffix("ms") {
        Some(ms) => ms
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("not a duration: {text:?} (use e.g. 500ms or 2s)"))?,
        None => parse_duration(text)?,
    };
    if duration.is_zero() || duration > Duration::from_secs(3600) {
        return Err(format!("{text:?}: use a duration between 1ms and 1h"));
    }
    Ok(duration)
}

/// The file of an SQLite URL, if it names one (`sqlite://sigil.db`, `sqlite:data/s.db?mode=rwc`).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Where the generated secret of an SQLite database is kept: beside it, `<name>.secret`.
pub fn secret_file_for(db: &Path) -> PathBuf {
    db.with_extension("secret")
}

/// Resolves the cookie/key secret: the configured one (at least 32 bytes), or, for an SQLite
/// file, one generated on first start and kept beside the database (mode 0600). PostgreSQL
/// deployments must configure it: every instance has to share it.
pub fn resolve_secret(settings: &Settings) -> Result<Secret, String> {
    resolve_secret_noting(settings).map(|(secret, _)| secret)
}

/// [`resolve_secret`], also telling whether this call created the secret file.
///
/// Several processes starting at once on a new database agree on one secret: each writes its
/// candidate to a private temporary file and links it into place, which only one can do; the
/// others read the winner's (complete) file.
pub fn resolve_secret_noting(settings: &Settings) -> Result<(Secret, bool), String> {
    if let Some(secret) = &settings.auth.secret {
        return Secret::new(secret.expose_secret().as_bytes().to_vec(), "SIGIL_SECRET")
            .map(|s| (s, false));
    }
    let Some(db) = sqlite_path(settings.common.database_url.expose_secret()) else {
        if settings
            .common
            .database_url
            .expose_secret()
            .starts_with("sqlite:")
        {
            tracing::warn!(target: "sigil", "no SIGIL_SECRET and an in-memory database: using a throwaway secret");
            return Secret::new(random_secret()?.into_bytes(), "generated secret")
                .map(|s| (s, false));
        }
        return Err(
            "SIGIL_SECRET (or --secret) is required with PostgreSQL: every instance must share the same secret".into(),
        );
    };
    let file = secret_file_for(&db);
    let read = |file: &Path| match std::fs::read_to_string(file) {
        Ok(text) => Secret::new(
            text.trim().as_bytes().to_vec(),
            &format!("the secret in {}", file.display()),
        )
        .map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", file.display())),
    };
    if let Some(secret) = read(&file)? {
        return Ok((secret, false));
    }
    let secret = random_secret()?;
    let created = create_private(&file, &secret)
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    if !created {
        // Another process starting at the same time stored its secret first: use that one.
        return match read(&file)? {
            Some(secret) => Ok((secret, false)),
            None => Err(format!("{} vanished while starting", file.display())),
        };
    }
    tracing::warn!(
        target: "sigil",
        file = %file.display(),
        "no SIGIL_SECRET given: generated one and stored it beside the database; set SIGIL_SECRET in production"
    );
    Secret::new(secret.into_bytes(), "generated secret").map(|s| (s, true))
}

/// Creates `path` (mode 0600) holding `content`, complete or not at all: written to a temporary
/// file beside it, then hard-linked into place, which fails when `path` exists. `Ok(false)`:
/// it already existed and is left as it was.
fn create_private(path: &Path, content: &str) -> std::io::Result<bool> {
    let mut name = path.as_os_str().to_owned();
    let unique = random_secret().map_err(std::io::Error::other)?;
    name.push(format!(".tmp-{}-{unique}", std::process::id()));
    let temp = PathBuf::from(name);
    write_private(&temp, content)?;
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// 32 random bytes, base64url: a generated secret (and unique temporary file names).
fn random_secret() -> Result<String, String> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    sigil_token::random::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let mut s = Settings::new(
            Mode::All,
            "127.0.0.1:0",
            "postgres://sigil:db-password-1@db.internal/sigil",
        );
        s.auth.secret = Some("cookie-secret-0123456789-abcdefghijklmnop".into());
        s.auth.jwt_secret = vec!["jwt-secret-0123456789-abcdefghijklmnopqr".into()];
        s.auth.smtp_url = Some("smtps://mailer:smtp-password-2@smtp.example.com".into());
        s.common.redis_url = Some("redis://:redis-password-3@cache.internal:6379".into());
        s.api.jwt_secret = vec!["api-secret-0123456789-abcdefghijklmnopq".into()];
        let shown = format!("{s:?} {s:#?}");
        for secret in [
            "db-password-1",
            "cookie-secret",
            "jwt-secret",
            "smtp-password-2",
            "redis-password-3",
            "api-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("db.internal"),
            "the rest stays readable: {shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    /// `Settings::new` takes its defaults from the flag definitions (one place), read without
    /// the environment: the values the README's settings table shows.
    #[test]
    fn defaults_come_from_the_flag_definitions() {
        let s = Settings::new(Mode::ApiOnly, "127.0.0.1:0", "sqlite::memory:");
        assert_eq!(s.common.addr, "127.0.0.1:0");
        assert_eq!(s.common.database_url.expose_secret(), "sqlite::memory:");
        assert!(s.common.cors_origins.is_empty());
        assert!(s.common.token_cache);
        assert_eq!(s.common.tasks_cache, None);
        assert_eq!(s.common.revocation_poll_interval, Duration::from_secs(2));
        assert_eq!(s.common.db_timeout, Duration::from_secs(2));
        assert_eq!(s.common.db_max_waiters, sigil_tasks::DEFAULT_MAX_WAITERS);
        assert_eq!(s.common.redis_timeout, Duration::from_millis(500));
        assert_eq!(s.common.header_read_timeout, Duration::from_secs(30));
        assert_eq!(s.common.keep_alive_timeout, Duration::from_secs(5));
        assert_eq!(s.common.max_connections, None);
        assert_eq!(s.auth.jwt_alg, Algorithm::EdDSA);
        assert_eq!(s.auth.jwt_ttl, Duration::from_secs(15 * 60));
        assert!(s.auth.rate_limit && s.auth.account_throttle);
        assert!(!s.auth.require_email_verification && !s.auth.allow_log_mailer);
        assert_eq!(s.auth.mail_from, "Sigil <no-reply@localhost>");
        assert_eq!(
            (s.auth.argon2_memory_kib, s.auth.argon2_iterations),
            (19_456, 2)
        );
        assert_eq!(s.auth.hash_per_client, 4);
        assert!(s.auth.secret.is_none() && s.api.jwks_url.is_none());
        assert!(s.api.keys().is_err(), "serve-api needs a key source");
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://sigil.db"),
            Some(PathBuf::from("sigil.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://localhost/db"), None);
        assert_eq!(
            secret_file_for(Path::new("data/sigil.db")),
            PathBuf::from("data/sigil.secret")
        );
    }

    #[test]
    fn short_secrets_are_refused_and_missing_ones_generated() {
        let dir = std::env::temp_dir().join(format!("sigil-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        let mut s = Settings::new(
            Mode::All,
            "127.0.0.1:0",
            &format!("sqlite://{}", db.display()),
        );
        s.auth.secret = Some("short".into());
        assert!(resolve_secret(&s).unwrap_err().contains("at least 32"));
        s.auth.secret = None;
        let first = resolve_secret(&s).unwrap();
        let again = resolve_secret(&s).unwrap();
        assert_eq!(
            first.expose(),
            again.expose(),
            "the generated secret is reused"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("t.secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "the generated secret is private: {mode:o}"
            );
        }
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["t.secret"], "no temporary file is left");
        s.common.database_url = "postgres://localhost/x".into();
        assert!(resolve_secret(&s).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_secret_created_meanwhile_by_another_process_is_used_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("sigil-settings-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("r.secret");
        let theirs = "s".repeat(43);
        assert!(
            create_private(&file, &theirs).unwrap(),
            "the first one creates it"
        );
        assert!(
            !create_private(&file, &"m".repeat(43)).unwrap(),
            "the second one does not"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), theirs);
        let s = Settings::new(
            Mode::All,
            "127.0.0.1:0",
            &format!("sqlite://{}", dir.join("r.db").display()),
        );
        let (secret, created) = resolve_secret_noting(&s).unwrap();
        assert!(!created);
        assert_eq!(secret.expose(), theirs.as_bytes());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
