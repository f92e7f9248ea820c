//! The validated settings of one `sigil` process.

use secrecy::{ExposeSecret, SecretString};
use sigil_auth::Secret;
use sigil_token::Algorithm;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// What the process serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Identity service, tasks API and web UI.
    All,
    /// Identity service and web UI.
    AuthOnly,
    /// Tasks API only.
    ApiOnly,
}

/// How the tasks API of `serve-api` verifies tokens.
#[derive(Clone)]
pub enum ApiKeys {
    /// A remote JWKS (Sigil's or Better Auth's `/api/auth/jwks`).
    JwksUrl(Url),
    /// The HS256 secret shared with the identity service.
    Secret(SecretString),
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiKeys::JwksUrl(url) => f.debug_tuple("JwksUrl").field(&url.as_str()).finish(),
            ApiKeys::Secret(_) => f.write_str("Secret(<redacted>)"),
        }
    }
}

/// Settings of one process. Built from the command line by [`crate::cli`], or directly in tests.
/// `Debug` shows no secret: the cookie and JWT secrets print as `<redacted>`, and URLs that may
/// carry credentials (database, SMTP, Redis) without their password. The secrets and the URLs
/// that may carry credentials are [`SecretString`]s: read with `expose_secret()` only where a
/// component uses them.
#[derive(Clone)]
pub struct Settings {
    /// What to serve.
    pub mode: Mode,
    /// Listen address (`127.0.0.1:0` for any free port).
    pub addr: String,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: SecretString,
    /// Public base URL (default `http://<bound address>`).
    pub base_url: Option<Url>,
    /// Cookie/key secret (`SIGIL_SECRET` or `BETTER_AUTH_SECRET`).
    pub secret: Option<SecretString>,
    /// JWT algorithm.
    pub jwt_alg: Algorithm,
    /// HS256 secret.
    pub jwt_secret: Option<SecretString>,
    /// JWT lifetime.
    pub jwt_ttl: Duration,
    /// Extra trusted origins for cookie requests.
    pub trusted_origins: Vec<String>,
    /// Origins allowed to call the tasks API cross-origin.
    pub cors_origins: Vec<String>,
    /// Rate limiting.
    pub rate_limit: bool,
    /// Require a verified email to sign in.
    pub require_email_verification: bool,
    /// Mail outbox file (JSON lines).
    pub mail_file: Option<PathBuf>,
    /// SMTP URL.
    pub smtp_url: Option<SecretString>,
    /// Use the log mailer even with an https base URL.
    pub allow_log_mailer: bool,
    /// Sender address.
    pub mail_from: String,
    /// Redis URL (shared rate limits and revocations).
    pub redis_url: Option<String>,
    /// Trusted proxy header for the client IP.
    pub client_ip_header: Option<String>,
    /// Key source of `serve-api`.
    pub api_keys: Option<ApiKeys>,
    /// Issuer required by `serve-api` (default: the JWKS URL's origin).
    pub api_issuer: Option<String>,
    /// Audience required by `serve-api` (default: the issuer).
    pub api_audience: Option<String>,
    /// The tasks API's public URL, for the web UI of `serve-auth` (split deployments).
    pub api_url: Option<Url>,
    /// Keep a cache of verified tokens in the guard (default on).
    pub token_cache: bool,
    /// Cache task lists in memory: `None` = on with SQLite (this process is the only writer),
    /// off with PostgreSQL.
    pub tasks_cache: Option<bool>,
    /// Argon2id memory cost in KiB (default 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations (default 2).
    pub argon2_iterations: u32,
    /// How often the database's revocations are read (default 2 s); tokens are refused with 503
    /// once the last successful read began more than this plus 1 s ago.
    pub revocation_poll_interval: Duration,
    /// How long a request waits for a database connection before a 503 (default 2 s).
    pub db_timeout: Duration,
    /// Database connections per process (`None`: 8 with SQLite, 16 with PostgreSQL).
    pub db_pool_size: Option<u32>,
    /// Tasks API requests admitted to wait for a database connection beyond the pool's size;
    /// the next ones get 503 `SERVICE_BUSY` at once (default 4096).
    pub db_max_waiters: usize,
    /// How long a Redis connection attempt or command may take (default 500 ms).
    pub redis_timeout: Duration,
    /// Time allowed for a request head to arrive complete (default 30 s).
    pub header_read_timeout: Duration,
    /// Time allowed for a request body to arrive complete (default 30 s).
    pub request_body_timeout: Duration,
    /// How long a connection without a request is kept open (default 5 s).
    pub keep_alive_timeout: Duration,
    /// Most connections at once (`None`: 10,000, or three quarters of the open-file limit).
    pub max_connections: Option<usize>,
    /// Per-account sign-in throttling (default on).
    pub account_throttle: bool,
    /// Sign-ins and sign-ups admitted to the hash queue at once per client address (default 4).
    pub hash_per_client: usize,
    /// Issuer shown by authenticator apps beside a TOTP entry (default `Sigil`).
    pub two_factor_issuer: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { Some("<redacted>") } else { None };
        let url = |u: Option<&str>| u.map(redact_url);
        f.debug_struct("Settings")
            .field("mode", &self.mode)
            .field("addr", &self.addr)
            .field(
                "database_url",
                &redact_url(self.database_url.expose_secret()),
            )
            .field("base_url", &self.base_url.as_ref().map(Url::as_str))
            .field("secret", &hidden(self.secret.is_some()))
            .field("jwt_alg", &self.jwt_alg)
            .field("jwt_secret", &hidden(self.jwt_secret.is_some()))
            .field("jwt_ttl", &self.jwt_ttl)
            .field("trusted_origins", &self.trusted_origins)
            .field("cors_origins", &self.cors_origins)
            .field("rate_limit", &self.rate_limit)
            .field(
                "require_email_verification",
                &self.require_email_verification,
            )
            .field("mail_file", &self.mail_file)
            .field(
                "smtp_url",
                &url(self.smtp_url.as_ref().map(ExposeSecret::expose_secret)),
            )
            .field("allow_log_mailer", &self.allow_log_mailer)
            .field("mail_from", &self.mail_from)
            .field("redis_url", &url(self.redis_url.as_deref()))
            .field("client_ip_header", &self.client_ip_header)
            .field("api_keys", &self.api_keys)
            .field("api_issuer", &self.api_issuer)
            .field("api_audience", &self.api_audience)
            .field("api_url", &self.api_url.as_ref().map(Url::as_str))
            .field("token_cache", &self.token_cache)
            .field("tasks_cache", &self.tasks_cache)
            .field("argon2_memory_kib", &self.argon2_memory_kib)
            .field("argon2_iterations", &self.argon2_iterations)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("request_body_timeout", &self.request_body_timeout)
            .field("keep_alive_timeout", &self.keep_alive_timeout)
            .field("max_connections", &self.max_connections)
            .field("account_throttle", &self.account_throttle)
            .field("hash_per_client", &self.hash_per_client)
            .field("two_factor_issuer", &self.two_factor_issuer)
            .finish_non_exhaustive()
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

impl Settings {
    /// Defaults for `sigil serve` on `addr` with `database_url` (what tests start from).
    pub fn new(mode: Mode, addr: &str, database_url: &str) -> Settings {
        Settings {
            mode,
            addr: addr.to_owned(),
            database_url: database_url.into(),
            base_url: None,
            secret: None,
            jwt_alg: Algorithm::EdDSA,
            jwt_secret: None,
            jwt_ttl: Duration::from_secs(15 * 60),
            trusted_origins: Vec::new(),
            cors_origins: Vec::new(),
            rate_limit: true,
            require_email_verification: false,
            mail_file: None,
            smtp_url: None,
            allow_log_mailer: false,
            mail_from: "Sigil <no-reply@localhost>".to_owned(),
            redis_url: None,
            client_ip_header: None,
            api_keys: None,
            api_issuer: None,
            api_audience: None,
            api_url: None,
            token_cache: true,
            tasks_cache: None,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            revocation_poll_interval: Duration::from_secs(2),
            db_timeout: Duration::from_secs(2),
            db_pool_size: None,
            db_max_waiters: sigil_tasks::DEFAULT_MAX_WAITERS,
            redis_timeout: Duration::from_millis(500),
            header_read_timeout: Duration::from_secs(30),
            request_body_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(5),
            max_connections: None,
            account_throttle: true,
            hash_per_client: 4,
            two_factor_issuer: "Sigil".to_owned(),
        }
    }
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
    if let Some(secret) = &settings.secret {
        return Secret::new(secret.expose_secret().as_bytes().to_vec(), "SIGIL_SECRET")
            .map(|s| (s, false));
    }
    let Some(db) = sqlite_path(settings.database_url.expose_secret()) else {
        if settings.database_url.expose_secret().starts_with("sqlite:") {
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
        s.secret = Some("cookie-secret-0123456789-abcdefghijklmnop".into());
        s.jwt_secret = Some("jwt-secret-0123456789-abcdefghijklmnopqr".into());
        s.smtp_url = Some("smtps://mailer:smtp-password-2@smtp.example.com".into());
        s.redis_url = Some("redis://:redis-password-3@cache.internal:6379".into());
        s.api_keys = Some(ApiKeys::Secret(
            "api-secret-0123456789-abcdefghijklmnopq".into(),
        ));
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
        s.secret = Some("short".into());
        assert!(resolve_secret(&s).unwrap_err().contains("at least 32"));
        s.secret = None;
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
        s.database_url = "postgres://localhost/x".into();
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
