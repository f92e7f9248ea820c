//! The command line. Every setting is a `--flag` and a `SIGIL_*` environment variable (plus
//! `DATABASE_URL`); flags win over the environment. The flags are defined once, by the settings
//! groups of [`crate::settings`]; this module says which command takes which group and turns the
//! parsed groups into one [`Settings`].

use crate::ops::{Database, KeysCommand, OpsCommand, Since};
use crate::settings::{
    ApiSettings, AuthSettings, CommonSettings, Mode, Settings, defaults, parse_duration,
    resolve_secret, secret, secret_file_for, sqlite_path,
};
use crate::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use std::time::Duration;

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
    /// Administer users on the database (DATABASE_URL): list, show, ban, unban, delete, set-role.
    Users(UsersArgs),
    /// End a user's sessions on the database (DATABASE_URL).
    Sessions(SessionsArgs),
    /// Read the audit log on the database (DATABASE_URL).
    Audit(AuditArgs),
    /// Manage the JWT signing keys on the database (DATABASE_URL): list, rotate, retire.
    Keys(KeysArgs),
    /// Print the OpenAPI 3.1 document of the whole HTTP API (what `serve` answers at
    /// /api/openapi.json), for client generation without a server.
    Openapi,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Run {
    /// Start a server with these settings.
    Serve(Box<Settings>),
    /// Run an operator command on a database and exit.
    Ops(Database, OpsCommand),
}

/// Where the operator commands find the database, and what they need to revoke sessions correctly.
#[derive(Debug, Args)]
struct DbArgs {
    /// Database URL: sqlite://<file> or postgres://...
    #[arg(long, global = true, env = "DATABASE_URL", default_value = "sqlite://sigil.db", value_parser = secret(), hide_env_values = true)]
    database_url: SecretString,
    /// The servers' JWT lifetime: an ended session's tokens are refused for this long (plus
    /// leeway), so it must be at least the servers' SIGIL_JWT_TTL.
    #[arg(long, global = true, env = "SIGIL_JWT_TTL", default_value = "15m", value_parser = parse_duration)]
    jwt_ttl: Duration,
    /// Print JSON (one object per line) instead of text.
    #[arg(long, global = true)]
    json: bool,
}

impl DbArgs {
    fn into_database(self) -> Database {
        Database {
            url: self.database_url,
            jwt_ttl: self.jwt_ttl,
            json: self.json,
        }
    }
}

#[derive(Debug, Args)]
struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// List users, oldest first.
    List {
        /// Only users whose email or name contains this text.
        #[arg(long)]
        search: Option<String>,
        /// Only banned users.
        #[arg(long)]
        banned: bool,
        /// Most users shown (at most 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Users skipped.
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Show one user and their live sessions.
    Show {
        /// User id or email.
        user: String,
    },
    /// Ban a user: they cannot sign in, and every session of theirs ends now.
    Ban {
        /// User id or email.
        user: String,
        /// Why (seen by administrators only).
        #[arg(long)]
        reason: Option<String>,
        /// How long (e.g. 1h, 7d); without it, until unbanned.
        #[arg(long = "for", value_parser = parse_duration)]
        duration: Option<Duration>,
    },
    /// Lift a ban.
    Unban {
        /// User id or email.
        user: String,
    },
    /// Delete a user, their sessions (revoked everywhere) and their tasks.
    Delete {
        /// User id or email.
        user: String,
    },
    /// Set a user's roles (comma-separated, e.g. admin or admin,user).
    SetRole {
        /// User id or email.
        user: String,
        /// The roles.
        role: String,
    },
}

#[derive(Debug, Args)]
struct SessionsArgs {
    #[command(subcommand)]
    command: SessionsCommand,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// End every session of a user (their JWTs are refused from now on).
    Revoke {
        /// User id or email.
        #[arg(long)]
        user: String,
    },
}

#[derive(Debug, Args)]
struct AuditArgs {
    /// Only events about this user (id or email; as the account or the actor).
    #[arg(long)]
    user: Option<String>,
    /// Only events since then: an RFC 3339 time (2026-11-30T00:00:00Z) or a duration back from
    /// now (24h, 7d).
    #[arg(long, value_parser = |s: &str| Since::parse(s, parse_duration))]
    since: Option<Since>,
    /// Most events shown, newest first (at most 1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Args)]
struct KeysArgs {
    #[command(subcommand)]
    command: KeysSubcommand,
    /// The servers' signing algorithm (which keys sign and which a rotation creates).
    #[arg(long, global = true, env = "SIGIL_JWT_ALG", default_value = "EdDSA")]
    jwt_alg: sigil_token::Algorithm,
    /// The servers' secret, sealing a new private key (`rotate`); read from the file beside an
    /// SQLite database when absent. BETTER_AUTH_SECRET is read too.
    #[arg(long, global = true, env = "SIGIL_SECRET", hide_env_values = true, value_parser = secret())]
    secret: Option<SecretString>,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum KeysSubcommand {
    /// List the keys: kid, algorithm, creation, state (signing, verifying-only, retired) and
    /// when each leaves /jwks.
    List,
    /// Create a new signing key; running servers sign with it within seconds, and the previous
    /// key stays in /jwks until its last token has expired.
    Rotate,
    /// Take a replaced key out of /jwks now (its tokens are refused). The signing key cannot be
    /// retired: rotate first.
    Retire {
        /// The key id (see `sigil keys list`).
        kid: String,
    },
}

impl KeysArgs {
    fn into_ops(self) -> Result<(Database, OpsCommand), String> {
        let command = match self.command {
            KeysSubcommand::List => KeysCommand::List,
            KeysSubcommand::Retire { kid } => KeysCommand::Retire { kid },
            KeysSubcommand::Rotate => {
                if self.jwt_alg.is_symmetric() {
                    return Err(format!(
                        "--jwt-alg {} signs with shared secrets, not stored keys: rotate SIGIL_JWT_SECRETS (docs/operations.md)",
                        self.jwt_alg
                    ));
                }
                let mut settings = Settings::new(
                    Mode::AuthOnly,
                    "127.0.0.1:0",
                    secrecy::ExposeSecret::expose_secret(&self.db.database_url),
                );
                settings.auth.secret = self.secret.or_else(|| {
                    std::env::var("BETTER_AUTH_SECRET")
                        .ok()
                        .filter(|v| !v.is_empty())
                        .map(SecretString::from)
                });
                // Never create a secret here: a new one could not open the stored keys.
                if settings.auth.secret.is_none()
                    && let Some(db) = sqlite_path(secrecy::ExposeSecret::expose_secret(
                        &settings.common.database_url,
                    ))
                    && !secret_file_for(&db).exists()
                {
                    return Err(format!(
                        "sigil keys rotate needs the servers' SIGIL_SECRET (no secret file at {})",
                        secret_file_for(&db).display()
                    ));
                }
                KeysCommand::Rotate {
                    secret: resolve_secret(&settings)?,
                }
            }
        };
        Ok((
            self.db.into_database(),
            OpsCommand::Keys {
                alg: self.jwt_alg,
                command,
            },
        ))
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    common: CommonSettings,
    #[command(flatten)]
    auth: AuthSettings,
}

#[derive(Debug, Args)]
struct ApiArgs {
    #[command(flatten)]
    common: CommonSettings,
    #[command(flatten)]
    api: ApiSettings,
}

impl Cli {
    /// The chosen log format.
    pub fn log_format(&self) -> LogFormat {
        match &self.command {
            Command::Serve(a) | Command::ServeAuth(a) => a.common.log_format,
            Command::ServeApi(a) => a.common.log_format,
            Command::Users(_)
            | Command::Sessions(_)
            | Command::Audit(_)
            | Command::Keys(_)
            | Command::Openapi => LogFormat::Text,
        }
    }

    /// Whether this is `sigil openapi` (prints the document, touches nothing).
    pub fn is_openapi_command(&self) -> bool {
        matches!(self.command, Command::Openapi)
    }

    /// Whether this is an operator command (whose output is the point: logs stay quiet).
    pub fn is_operator_command(&self) -> bool {
        matches!(
            self.command,
            Command::Users(_) | Command::Sessions(_) | Command::Audit(_) | Command::Keys(_)
        )
    }

    /// Turns the command line into what to run.
    pub fn into_run(self) -> Result<Run, String> {
        Ok(match self.command {
            Command::Users(a) => {
                let command = match a.command {
                    UsersCommand::List {
                        search,
                        banned,
                        limit,
                        offset,
                    } => OpsCommand::ListUsers {
                        search,
                        banned,
                        limit,
                        offset,
                    },
                    UsersCommand::Show { user } => OpsCommand::ShowUser { user },
                    UsersCommand::Ban {
                        user,
                        reason,
                        duration,
                    } => OpsCommand::Ban {
                        user,
                        reason,
                        duration,
                    },
                    UsersCommand::Unban { user } => OpsCommand::Unban { user },
                    UsersCommand::Delete { user } => OpsCommand::Delete { user },
                    UsersCommand::SetRole { user, role } => OpsCommand::SetRole { user, role },
                };
                Run::Ops(a.db.into_database(), command)
            }
            Command::Sessions(a) => {
                let SessionsCommand::Revoke { user } = a.command;
                Run::Ops(a.db.into_database(), OpsCommand::RevokeSessions { user })
            }
            Command::Audit(a) => Run::Ops(
                a.db.into_database(),
                OpsCommand::Audit {
                    user: a.user,
                    since: a.since,
                    limit: a.limit,
                },
            ),
            Command::Keys(a) => {
                let (db, command) = a.into_ops()?;
                Run::Ops(db, command)
            }
            _ => Run::Serve(Box::new(self.into_settings()?)),
        })
    }

    /// Turns the command line into settings (the parsed groups, moved), with the cross-field
    /// checks clap cannot do.
    pub fn into_settings(self) -> Result<Settings, String> {
        let mut settings = match self.command {
            Command::Serve(args) => serve(Mode::All, args),
            Command::ServeAuth(args) => serve(Mode::AuthOnly, args),
            Command::ServeApi(ApiArgs { common, api }) => Settings {
                mode: Mode::ApiOnly,
                common,
                auth: defaults(),
                api,
            },
            Command::Users(_)
            | Command::Sessions(_)
            | Command::Audit(_)
            | Command::Keys(_)
            | Command::Openapi => {
                return Err("an operator command starts no server".into());
            }
        };
        settings.check()?;
        Ok(settings)
    }
}

fn serve(mode: Mode, ServeArgs { common, mut auth }: ServeArgs) -> Settings {
    // Better Auth's name for the secret, read when Sigil's is not given.
    if auth.secret.is_none() {
        auth.secret = std::env::var("BETTER_AUTH_SECRET")
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from);
    }
    Settings {
        mode,
        common,
        auth,
        api: defaults(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{parse_duration, parse_short_duration};
    use secrecy::ExposeSecret;
    use sigil_token::Algorithm;
    use std::time::Duration;

    #[test]
    fn the_two_factor_issuer_is_a_setting() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
        };
        assert_eq!(
            parse(&["sigil", "serve"]).unwrap().auth.two_factor_issuer,
            "Sigil"
        );
        let set = parse(&["sigil", "serve", "--two-factor-issuer", "Acme Tasks"]).unwrap();
        assert_eq!(set.auth.two_factor_issuer, "Acme Tasks");
        for bad in ["", "   ", "Acme:Tasks", &"x".repeat(65)] {
            let refused = parse(&["sigil", "serve", "--two-factor-issuer", bad]).unwrap_err();
            assert!(refused.contains("SIGIL_TWO_FACTOR_ISSUER"), "{refused}");
        }
    }

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
            settings.common.database_url.expose_secret(),
            "postgres://u:db-password-1@db/sigil"
        );
        assert_eq!(
            settings
                .auth
                .jwt_secret
                .first()
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
        assert_eq!(ok.auth.jwt_alg, Algorithm::HS256);
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
        assert!(defaults.auth.account_throttle);
        assert_eq!(defaults.auth.hash_per_client, 4);
        let set = parse(&[
            "sigil",
            "serve-auth",
            "--account-throttle",
            "off",
            "--hash-per-client",
            "16",
        ])
        .unwrap();
        assert!(!set.auth.account_throttle);
        assert_eq!(set.auth.hash_per_client, 16);
        assert!(parse(&["sigil", "serve", "--hash-per-client", "0"]).is_err());
    }

    #[test]
    fn rate_limits_are_on_unless_turned_off() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
        };
        assert!(parse(&["sigil", "serve"]).unwrap().auth.rate_limit);
        assert!(
            !parse(&["sigil", "serve", "--rate-limit", "off"])
                .unwrap()
                .auth
                .rate_limit
        );
        assert!(
            !parse(&["sigil", "serve", "--rate-limit", "false"])
                .unwrap()
                .auth
                .rate_limit
        );
        assert!(parse(&["sigil", "serve", "--rate-limit", "sometimes"]).is_err());
        let verify = parse(&["sigil", "serve", "--require-email-verification", "true"]).unwrap();
        assert!(verify.auth.require_email_verification);
        let defaults = parse(&["sigil", "serve"]).unwrap();
        assert!(defaults.common.token_cache);
        assert_eq!(defaults.common.tasks_cache, None, "decided by the database");
        let off = parse(&[
            "sigil",
            "serve",
            "--token-cache",
            "off",
            "--tasks-cache",
            "off",
        ])
        .unwrap();
        assert!(!off.common.token_cache);
        assert_eq!(off.common.tasks_cache, Some(false));
    }

    #[test]
    fn connection_limits_have_defaults_and_flags() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .map_err(|e| e.to_string())
                .and_then(Cli::into_settings)
        };
        let defaults = parse(&["sigil", "serve"]).unwrap();
        assert_eq!(defaults.common.header_read_timeout, Duration::from_secs(30));
        assert_eq!(
            defaults.common.request_body_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(defaults.common.keep_alive_timeout, Duration::from_secs(5));
        assert_eq!(defaults.common.max_connections, None);
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
        assert_eq!(set.common.header_read_timeout, Duration::from_secs(10));
        assert_eq!(set.common.request_body_timeout, Duration::from_secs(60));
        assert_eq!(set.common.keep_alive_timeout, Duration::from_secs(2));
        assert_eq!(set.common.max_connections, Some(50));
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
        assert_eq!(defaults.common.db_pool_size, None);
        assert_eq!(
            defaults.common.db_max_waiters,
            sigil_tasks::DEFAULT_MAX_WAITERS
        );
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
        assert_eq!(set.common.db_pool_size, Some(4));
        assert_eq!(set.common.db_max_waiters, 0);
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
                .map(|s| s.auth.rate_limit)
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

    /// The README's settings table is the command line's: every flag of `serve`, `serve-auth`
    /// and `serve-api` is documented (in the table, or for serve-api's own in the paragraph
    /// below it), with its environment variable, and a default the parser has is the one shown.
    #[test]
    fn the_readme_settings_table_matches_the_command_line() {
        use clap::CommandFactory;
        use std::collections::BTreeMap;
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .unwrap();
        let code = |cell: &str| -> Option<String> {
            let rest = cell.trim().strip_prefix('`')?;
            Some(rest[..rest.find('`')?].to_owned())
        };
        // flag -> (environment, default cell)
        let mut table = BTreeMap::new();
        let mut rows = readme
            .lines()
            .skip_while(|l| !l.starts_with("| flag | environment | default | meaning |"))
            .skip(2);
        for row in rows.by_ref().take_while(|l| l.starts_with('|')) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let flag = code(cells[0].trim_start_matches('|')).unwrap();
            let env = code(cells[1]).unwrap();
            table.insert(flag, (env, cells[2].trim().to_owned()));
        }
        assert!(
            table.len() > 30,
            "the settings table was not found: {table:?}"
        );
        let after: String = rows
            .take_while(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join(" ");

        let mut command = Cli::command();
        let mut seen = BTreeMap::new();
        for sub in ["serve", "serve-auth", "serve-api"] {
            let sub = command.find_subcommand_mut(sub).unwrap();
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                if long == "help" || long == "version" {
                    continue;
                }
                let flag = format!("--{long}");
                let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                let defaults: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                seen.insert(flag, (env, defaults));
            }
        }
        for (flag, (env, defaults)) in &seen {
            let env = env
                .as_deref()
                .unwrap_or_else(|| panic!("{flag} has no environment variable"));
            match table.get(flag) {
                Some((documented_env, default)) => {
                    assert_eq!(documented_env, env, "{flag}'s environment variable");
                    match defaults.as_slice() {
                        // None in the parser: "—", or what the program decides ("`http://<addr>`",
                        // "on with SQLite, off with PostgreSQL"), never a bare value.
                        [] => assert!(
                            default == "—" || default.contains(' ') || default.contains('<'),
                            "{flag} has no default in the parser, the README shows {default}"
                        ),
                        [value] => assert_eq!(default, &format!("`{value}`"), "{flag}'s default"),
                        more => panic!("{flag}: several defaults {more:?}"),
                    }
                }
                None => assert!(
                    after.contains(&format!("`{flag}`/`{env}`")),
                    "{flag} ({env}) is in neither the README's settings table nor the serve-api paragraph"
                ),
            }
        }
        for flag in table.keys() {
            assert!(
                seen.contains_key(flag),
                "the README documents {flag}, which no command takes"
            );
        }
    }
}
