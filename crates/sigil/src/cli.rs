//! The command line. Every setting is a `--flag` and a `SIGIL_*` environment variable (plus
//! `DATABASE_URL`); flags win over the environment.

use crate::settings::{ApiKeys, Mode, Settings};
use crate::telemetry::LogFormat;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use sigil_token::Algorithm;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Sigil: email + password authentication with sessions and JWTs, speaking the Better Auth
/// protocol, plus a tasks API protected by a strict JWT guard.
#[derive(Debug, Parser)]
#[command(name = "sigil", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the identity service, the tasks API and the web UI in one process.
    Serve(ServeArgs),
    /// Run the identity service and the web UI only (split deployments).
    ServeAuth(ServeArgs),
    /// Run the tasks API only, verifying tokens with --jwks-url or --jwt-secret.
    ServeApi(ApiArgs),
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "SIGIL_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    /// Database URL: sqlite://<file> (created on first start) or postgres://...
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://sigil.db", value_parser = secret(), hide_env_values = true)]
    database_url: SecretString,
    /// Origins allowed to call the tasks API from a browser (CORS), comma-separated.
    #[arg(long, env = "SIGIL_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Redis URL for rate limits and revocations shared by several instances.
    #[arg(long, env = "SIGIL_REDIS_URL")]
    redis_url: Option<String>,
    /// Cache verified tokens, so a token seen before costs a hash lookup (on/off).
    #[arg(long, env = "SIGIL_TOKEN_CACHE", default_value = "on", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    token_cache: bool,
    /// Cache each user's task list in memory (on/off) [default: on with SQLite, off with PostgreSQL]
    #[arg(long, env = "SIGIL_TASKS_CACHE", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    tasks_cache: Option<bool>,
    /// Log format.
    #[arg(long, env = "SIGIL_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// How often revocations are read from the database (e.g. 2s, 500ms); tokens are refused with
    /// 503 once the last successful read began more than this plus 1 s ago.
    #[arg(long, env = "SIGIL_REVOCATION_POLL_INTERVAL", default_value = "2s", value_parser = parse_short_duration)]
    revocation_poll_interval: Duration,
    /// How long a request waits for a database connection before answering 503 (e.g. 2s).
    #[arg(long, env = "SIGIL_DB_TIMEOUT", default_value = "2s", value_parser = parse_short_duration)]
    db_timeout: Duration,
    /// Database connections per process [default: 8 with SQLite, 16 with PostgreSQL]
    #[arg(long, env = "SIGIL_DB_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..))]
    db_pool_size: Option<u32>,
    /// Tasks API requests allowed to wait for a database connection beyond the pool's size; the
    /// next ones get 503 SERVICE_BUSY with Retry-After at once.
    #[arg(long, env = "SIGIL_DB_MAX_WAITERS", default_value_t = sigil_tasks::DEFAULT_MAX_WAITERS)]
    db_max_waiters: usize,
    /// How long a Redis connection attempt or command may take before the instance carries on
    /// without it (e.g. 500ms).
    #[arg(long, env = "SIGIL_REDIS_TIMEOUT", default_value = "500ms", value_parser = parse_short_duration)]
    redis_timeout: Duration,
    /// Time allowed for a request's head (request line and headers) to arrive complete.
    #[arg(long, env = "SIGIL_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    header_read_timeout: Duration,
    /// Time allowed for a request's body to arrive complete (then 408).
    #[arg(long, env = "SIGIL_REQUEST_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    request_body_timeout: Duration,
    /// How long a connection with no request in progress is kept open.
    #[arg(long, env = "SIGIL_KEEP_ALIVE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    keep_alive_timeout: Duration,
    /// Most connections at once [default: 10000, or 3/4 of the open-file limit when lower]
    #[arg(long, env = "SIGIL_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Public base URL; its origin is the JWT iss and aud [default: http://<addr>]
    #[arg(long, env = "SIGIL_BASE_URL")]
    base_url: Option<Url>,
    /// Secret (>= 32 bytes) signing session cookies and sealing keys; BETTER_AUTH_SECRET is read
    /// too. Generated and stored beside an SQLite database when absent.
    #[arg(long, env = "SIGIL_SECRET", hide_env_values = true, value_parser = secret())]
    secret: Option<SecretString>,
    /// JWT signing algorithm: EdDSA, ES256, RS256 or HS256.
    #[arg(long, env = "SIGIL_JWT_ALG", default_value = "EdDSA")]
    jwt_alg: Algorithm,
    /// HS256 key (>= 32 bytes), shared with every API that verifies the tokens.
    #[arg(long, env = "SIGIL_JWT_SECRET", hide_env_values = true, value_parser = secret())]
    jwt_secret: Option<SecretString>,
    /// JWT lifetime (e.g. 900, 900s, 15m, 1h).
    #[arg(long, env = "SIGIL_JWT_TTL", default_value = "15m", value_parser = parse_duration)]
    jwt_ttl: Duration,
    /// Extra origins trusted for cookie requests and redirects, comma-separated.
    #[arg(long, env = "SIGIL_TRUSTED_ORIGINS", value_delimiter = ',')]
    trusted_origins: Vec<String>,
    /// Rate limits on (default) or off.
    #[arg(long, env = "SIGIL_RATE_LIMIT", default_value = "on", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    rate_limit: bool,
    /// Refuse sign-in until the email address is verified (on/off).
    #[arg(long, env = "SIGIL_REQUIRE_EMAIL_VERIFICATION", default_value = "off", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    require_email_verification: bool,
    /// Append outgoing mail as JSON lines to this file (development and tests).
    #[arg(long, env = "SIGIL_MAIL_FILE")]
    mail_file: Option<PathBuf>,
    /// Allow the log mailer (reset and verification links written to the log) although
    /// SIGIL_BASE_URL is https (on/off).
    #[arg(long, env = "SIGIL_ALLOW_LOG_MAILER", default_value = "off", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    allow_log_mailer: bool,
    /// SMTP server for outgoing mail (smtps://user:pass@host:465).
    #[arg(long, env = "SIGIL_SMTP_URL", hide_env_values = true, value_parser = secret())]
    smtp_url: Option<SecretString>,
    /// Sender of outgoing mail.
    #[arg(
        long,
        env = "SIGIL_MAIL_FROM",
        default_value = "Sigil <no-reply@localhost>"
    )]
    mail_from: String,
    /// Header carrying the client IP, set by a trusted reverse proxy (e.g. x-forwarded-for).
    #[arg(long, env = "SIGIL_CLIENT_IP_HEADER")]
    client_ip_header: Option<String>,
    /// Public URL of the tasks API, when it runs on another origin (serve-auth's web UI).
    #[arg(long, env = "SIGIL_API_URL")]
    api_url: Option<Url>,
    /// Argon2id memory cost in KiB.
    #[arg(long, env = "SIGIL_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    argon2_memory_kib: u32,
    /// Argon2id iterations.
    #[arg(long, env = "SIGIL_ARGON2_ITERATIONS", default_value_t = 2)]
    argon2_iterations: u32,
    /// Per-account sign-in throttling: a growing delay after repeated failures, for addresses
    /// that never signed in to the account (on/off).
    #[arg(long, env = "SIGIL_ACCOUNT_THROTTLE", default_value = "on", value_parser = on_off(), action = ArgAction::Set, ignore_case = true)]
    account_throttle: bool,
    /// Sign-ins and sign-ups hashing (queued or running) at once per client address; the excess
    /// is answered 429 before any work.
    #[arg(long, env = "SIGIL_HASH_PER_CLIENT", default_value_t = 4, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    hash_per_client: usize,
    /// Issuer name authenticator apps show beside a two-factor (TOTP) entry.
    #[arg(long, env = "SIGIL_TWO_FACTOR_ISSUER", default_value = "Sigil")]
    two_factor_issuer: String,
}

#[derive(Debug, Args)]
struct ApiArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// JWKS URL of the identity service (Sigil's or Better Auth's /api/auth/jwks).
    #[arg(long, env = "SIGIL_JWKS_URL")]
    jwks_url: Option<Url>,
    /// HS256 secret shared with the identity service.
    #[arg(long, env = "SIGIL_JWT_SECRET", hide_env_values = true, value_parser = secret())]
    jwt_secret: Option<SecretString>,
    /// Required token issuer [default: the JWKS URL's origin].
    #[arg(long, env = "SIGIL_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// Required token audience [default: the issuer].
    #[arg(long, env = "SIGIL_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
}

/// The parser of secrets and of URLs that may carry credentials: kept as a [`SecretString`] from
/// the command line on, so no `Debug` shows them.
fn secret() -> impl TypedValueParser<Value = SecretString> {
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
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("unknown unit in {text:?}: use s, m, h or d")),
    };
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

impl Cli {
    /// The chosen log format.
    pub fn log_format(&self) -> LogFormat {
        match &self.command {
            Command::Serve(a) | Command::ServeAuth(a) => a.common.log_format,
            Command::ServeApi(a) => a.common.log_format,
        }
    }

    /// Turns the command line into settings, with the cross-field checks clap cannot do.
    pub fn into_settings(self) -> Result<Settings, String> {
        match self.command {
            Command::Serve(args) => serve_settings(Mode::All, args),
            Command::ServeAuth(args) => serve_settings(Mode::AuthOnly, args),
            Command::ServeApi(args) => {
                let mut s = Settings::new(
                    Mode::ApiOnly,
                    &args.common.addr,
                    args.common.database_url.expose_secret(),
                );
                apply_common(&mut s, args.common);
                s.api_keys = match (args.jwks_url, args.jwt_secret) {
                    (Some(url), None) => Some(ApiKeys::JwksUrl(url)),
                    (None, Some(secret)) => Some(ApiKeys::Secret(secret)),
                    _ => return Err("serve-api needs exactly one of --jwks-url / SIGIL_JWKS_URL and --jwt-secret / SIGIL_JWT_SECRET".into()),
                };
                s.api_issuer = args.jwt_issuer;
                s.api_audience = args.jwt_audience;
                Ok(s)
            }
        }
    }
}

fn apply_common(s: &mut Settings, common: CommonArgs) {
    s.cors_origins = common
        .cors_origins
        .into_iter()
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    s.redis_url = common.redis_url;
    s.token_cache = common.token_cache;
    s.tasks_cache = common.tasks_cache;
    s.revocation_poll_interval = common.revocation_poll_interval;
    s.db_timeout = common.db_timeout;
    s.db_pool_size = common.db_pool_size;
    s.db_max_waiters = common.db_max_waiters;
    s.redis_timeout = common.redis_timeout;
    s.header_read_timeout = common.header_read_timeout;
    s.request_body_timeout = common.request_body_timeout;
    s.keep_alive_timeout = common.keep_alive_timeout;
    s.max_connections = common.max_connections.map(|n| n as usize);
}

fn serve_settings(mode: Mode, args: ServeArgs) -> Result<Settings, String> {
    let mut s = Settings::new(
        mode,
        &args.common.addr,
        args.common.database_url.expose_secret(),
    );
    apply_common(&mut s, args.common);
    s.base_url = args.base_url;
    s.secret = args.secret.or_else(|| {
        std::env::var("BETTER_AUTH_SECRET")
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
    });
    s.jwt_alg = args.jwt_alg;
    s.jwt_secret = args.jwt_secret;
    s.jwt_ttl = args.jwt_ttl;
    s.trusted_origins = args
        .trusted_origins
        .into_iter()
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    if s.trusted_origins.iter().any(|o| o == "*") {
        return Err(
            "SIGIL_TRUSTED_ORIGINS must not contain \"*\": it would disable CSRF protection".into(),
        );
    }
    s.rate_limit = args.rate_limit;
    s.require_email_verification = args.require_email_verification;
    s.mail_file = args.mail_file;
    s.smtp_url = args.smtp_url;
    s.allow_log_mailer = args.allow_log_mailer;
    s.mail_from = args.mail_from;
    s.client_ip_header = args.client_ip_header;
    s.api_url = args.api_url;
    s.argon2_memory_kib = args.argon2_memory_kib;
    s.argon2_iterations = args.argon2_iterations;
    s.account_throttle = args.account_throttle;
    s.hash_per_client = args.hash_per_client;
    let issuer = args.two_factor_issuer.trim();
    if issuer.is_empty() || issuer.chars().count() > 64 || issuer.contains(':') {
        return Err(
            "SIGIL_TWO_FACTOR_ISSUER must be 1 to 64 characters without ':' (it is part of the TOTP label)"
                .into(),
        );
    }
    s.two_factor_issuer = issuer.to_owned();
    if s.jwt_alg.is_symmetric() && s.jwt_secret.is_none() {
        return Err(format!(
            "--jwt-alg {} needs --jwt-secret / SIGIL_JWT_SECRET (at least 32 bytes)",
            s.jwt_alg
        ));
    }
    if let Some(secret) = &s.jwt_secret {
        let secret = secret.expose_secret();
        if secret.len() < sigil_auth::config::MIN_SECRET_BYTES {
            return Err(format!(
                "SIGIL_JWT_SECRET is {} bytes; at least 32 are required",
                secret.len()
            ));
        }
        if s.secret.as_ref().map(ExposeSecret::expose_secret) == Some(secret) {
            return Err("SIGIL_JWT_SECRET must differ from SIGIL_SECRET (the API servers know the JWT secret)".into());
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations() {
        assert_eq!(
            parse_short_duration("250ms"),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(parse_short_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_short_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_short_duration("0ms").is_err());
        assert!(parse_short_duration("2h").is_err());
        assert!(parse_short_duration("fast").is_err());
    }

    #[test]
    fn secrets_are_typed_from_the_command_line_on() {
        let cli = Cli::try_parse_from([
            "sigil",
            "serve",
            "--database-url",
            "postgres://u:db-password-1@db/sigil",
            "--secret",
            "cookie-secret-0123456789-abcdefghijklmnop",
            "--jwt-alg",
            "HS256",
            "--jwt-secret",
            "jwt-secret-0123456789-abcdefghijklmnopqr",
            "--smtp-url",
            "smtps://mailer:smtp-password-2@smtp.example.com",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        let settings = cli.into_settings().unwrap();
        let shown = format!("{shown} {settings:?}");
        for secret in [
            "db-password-1",
            "cookie-secret",
            "jwt-secret",
            "smtp-password-2",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(
            settings.database_url.expose_secret(),
            "postgres://u:db-password-1@db/sigil"
        );
        assert_eq!(
            settings
                .jwt_secret
                .as_ref()
                .map(ExposeSecret::expose_secret),
            Some("jwt-secret-0123456789-abcdefghijklmnopqr")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("15 minutes").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn hs256_needs_a_long_jwt_secret() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
        };
        assert!(
            parse(&["sigil", "serve", "--jwt-alg", "HS256"])
                .unwrap_err()
                .contains("--jwt-secret")
        );
        assert!(
            parse(&[
                "sigil",
                "serve",
                "--jwt-alg",
                "HS256",
                "--jwt-secret",
                "short"
            ])
            .unwrap_err()
            .contains("at least 32")
        );
        let ok = parse(&[
            "sigil",
            "serve",
            "--jwt-alg",
            "hs256",
            "--jwt-secret",
            &"k".repeat(32),
        ])
        .unwrap();
        assert_eq!(ok.jwt_alg, Algorithm::HS256);
        assert!(parse(&["sigil", "serve", "--trusted-origins", "*"]).is_err());
        assert!(parse(&["sigil", "serve-api"]).is_err());
    }

    #[test]
    fn the_account_throttle_and_the_hash_share_are_settings() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
        };
        let defaults = parse(&["sigil", "serve"]).unwrap();
        assert!(defaults.account_throttle);
        assert_eq!(defaults.hash_per_client, 4);
        let set = parse(&[
            "sigil",
            "serve-auth",
            "--account-throttle",
            "off",
            "--hash-per-client",
            "16",
        ])
        .unwrap();
        assert!(!set.account_throttle);
        assert_eq!(set.hash_per_client, 16);
        assert!(parse(&["sigil", "serve", "--hash-per-client", "0"]).is_err());
    }

    #[test]
    fn the_two_factor_issuer_is_a_setting() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
        };
        assert_eq!(
            parse(&["sigil", "serve"]).unwrap().two_factor_issuer,
            "Sigil"
        );
        let set = parse(&["sigil", "serve", "--two-factor-issuer", "Acme Tasks"]).unwrap();
        assert_eq!(set.two_factor_issuer, "Acme Tasks");
        for bad in ["", "   ", "Acme:Tasks", &"x".repeat(65)] {
            let refused = parse(&["sigil", "serve", "--two-factor-issuer", bad]).unwrap_err();
            assert!(refused.contains("SIGIL_TWO_FACTOR_ISSUER"), "{refused}");
        }
    }

    #[test]
    fn rate_limits_are_on_unless_turned_off() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
        };
        assert!(parse(&["sigil", "serve"]).unwrap().rate_limit);
        assert!(
            !parse(&["sigil", "serve", "--rate-limit", "off"])
                .unwrap()
                .rate_limit
        );
        assert!(
            !parse(&["sigil", "serve", "--rate-limit", "false"])
                .unwrap()
                .rate_limit
        );
        assert!(parse(&["sigil", "serve", "--rate-limit", "sometimes"]).is_err());
        let verify = parse(&["sigil", "serve", "--require-email-verification", "true"]).unwrap();
        assert!(verify.require_email_verification);
        let defaults = parse(&["sigil", "serve"]).unwrap();
        assert!(defaults.token_cache);
        assert_eq!(defaults.tasks_cache, None, "decided by the database");
        let off = parse(&[
            "sigil",
            "serve",
            "--token-cache",
            "off",
            "--tasks-cache",
            "off",
        ])
        .unwrap();
        assert!(!off.token_cache);
        assert_eq!(off.tasks_cache, Some(false));
    }

    #[test]
    fn connection_limits_have_defaults_and_flags() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
        };
        let defaults = parse(&["sigil", "serve"]).unwrap();
        assert_eq!(defaults.header_read_timeout, Duration::from_secs(30));
        assert_eq!(defaults.request_body_timeout, Duration::from_secs(30));
        assert_eq!(defaults.keep_alive_timeout, Duration::from_secs(5));
        assert_eq!(defaults.max_connections, None);
        let set = parse(&[
            "sigil",
            "serve-api",
            "--jwt-secret",
            &"k".repeat(32),
            "--header-read-timeout",
            "10s",
            "--request-body-timeout",
            "1m",
            "--keep-alive-timeout",
            "2",
            "--max-connections",
            "50",
        ])
        .unwrap();
        assert_eq!(set.header_read_timeout, Duration::from_secs(10));
        assert_eq!(set.request_body_timeout, Duration::from_secs(60));
        assert_eq!(set.keep_alive_timeout, Duration::from_secs(2));
        assert_eq!(set.max_connections, Some(50));
        assert!(parse(&["sigil", "serve", "--max-connections", "0"]).is_err());
        assert!(parse(&["sigil", "serve", "--keep-alive-timeout", "0"]).is_err());
    }

    #[test]
    fn the_database_pool_settings_have_defaults_and_flags() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
        };
        let defaults = parse(&["sigil", "serve"]).unwrap();
        assert_eq!(defaults.db_pool_size, None);
        assert_eq!(defaults.db_max_waiters, sigil_tasks::DEFAULT_MAX_WAITERS);
        let set = parse(&[
            "sigil",
            "serve-api",
            "--jwt-secret",
            &"k".repeat(32),
            "--db-pool-size",
            "4",
            "--db-max-waiters",
            "0",
        ])
        .unwrap();
        assert_eq!(set.db_pool_size, Some(4));
        assert_eq!(set.db_max_waiters, 0);
        assert!(parse(&["sigil", "serve", "--db-pool-size", "0"]).is_err());
    }

    #[test]
    fn switches_are_documented_as_on_off_and_accept_the_usual_spellings() {
        use clap::CommandFactory;
        let mut command = Cli::command();
        let serve = command.find_subcommand_mut("serve").unwrap();
        let help = serve.render_long_help().to_string();
        assert!(help.contains("[possible values: on, off]"), "{help}");
        assert!(!help.contains("true, false"), "{help}");
        let parse = |value: &str| {
            Cli::try_parse_from(["sigil", "serve", "--rate-limit", value])
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
                .map(|s| s.rate_limit)
        };
        for on in ["on", "ON", "true", "yes", "1"] {
            assert_eq!(parse(on), Ok(true), "{on}");
        }
        for off in ["off", "Off", "false", "no", "0"] {
            assert_eq!(parse(off), Ok(false), "{off}");
        }
        let error = parse("maybe").unwrap_err();
        assert!(error.contains("[possible values: on, off]"), "{error}");
    }
}
