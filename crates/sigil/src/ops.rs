//! Operator commands for a shell on the server: `sigil users list|show|ban|unban|delete|set-role`,
//! `sigil sessions revoke --user ID`, `sigil audit` and `sigil keys list|rotate|retire`. They open the database named by
//! `DATABASE_URL` (SQLite or PostgreSQL) and go through the same service as the `/admin/*` routes
//! ([`sigil_auth::admin::Admin`]), acting as [`Actor::Cli`]: every change is audited with the
//! actor `cli`, ended sessions are recorded as revoked (every running instance refuses their JWTs
//! within its revocation poll interval), and removed accounts lose their tasks.

use secrecy::{ExposeSecret, SecretString};
use sigil_auth::AccountListener;
use sigil_auth::admin::{Actor, Admin, AdminError, AdminPolicy};
use sigil_auth::audit::{Audit, row_json};
use sigil_auth::config::SessionConfig;
use sigil_auth::domain::{Email, iso8601, parse_time};
use sigil_auth::keys::{KeyInfo, KeyManager, KeyState, Trigger};
use sigil_auth::password::{HashParams, PasswordHasher};
use sigil_auth::revocation::Revocations;
use sigil_auth::session::Sessions;
use sigil_auth::store::{
    AuthStore, FilterOp, FilterValue, SqlStore, User, UserField, UserFilter, UserQuery,
};
use sigil_guard::SessionDenyList;
use sigil_guard::clock::{SharedClock, SystemClock};
use sigil_tasks::TaskStore;
use std::sync::Arc;
use std::time::Duration;

/// The database the commands work on, and how they print.
#[derive(Debug)]
pub struct Database {
    /// `sqlite://...` or `postgres://...`.
    pub url: SecretString,
    /// The servers' JWT lifetime: an ended session's tokens are refused for this long (plus
    /// leeway), so it must be at least the servers' `SIGIL_JWT_TTL`.
    pub jwt_ttl: Duration,
    /// JSON lines instead of text.
    pub json: bool,
}

/// A point in time for `--since`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// A time (ms since the epoch).
    At(i64),
    /// This long before now.
    Back(Duration),
}

impl Since {
    /// Parses an RFC 3339 time, milliseconds, or a duration back from now with `parse_back`
    /// (`24h`, `7d`).
    pub fn parse(
        text: &str,
        parse_back: impl Fn(&str) -> Result<Duration, String>,
    ) -> Result<Since, String> {
        if let Some(ms) = parse_time(text) {
            return Ok(Since::At(ms));
        }
        parse_back(text)
            .map(Since::Back)
            .map_err(|e| format!("{e}; or give an RFC 3339 time such as 2026-11-30T00:00:00Z"))
    }

    fn ms(self, now: i64) -> i64 {
        match self {
            Since::At(ms) => ms,
            Since::Back(d) => now.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

/// An operator command (users are named by id or email).
#[derive(Debug)]
pub enum OpsCommand {
    /// `sigil users list`: users, oldest first.
    ListUsers {
        /// Only users whose email or name contains this text.
        search: Option<String>,
        /// Only banned users.
        banned: bool,
        /// Most users shown (at most 500).
        limit: u32,
        /// Users skipped.
        offset: u64,
    },
    /// `sigil users show`: one user and their live sessions.
    ShowUser {
        /// The user.
        user: String,
    },
    /// `sigil users ban`.
    Ban {
        /// The user.
        user: String,
        /// Why.
        reason: Option<String>,
        /// How long; `None`: until unbanned.
        duration: Option<Duration>,
    },
    /// `sigil users unban`.
    Unban {
        /// The user.
        user: String,
    },
    /// `sigil users delete`.
    Delete {
        /// The user.
        user: String,
    },
    /// `sigil users set-role`.
    SetRole {
        /// The user.
        user: String,
        /// Comma-separated roles.
        role: String,
    },
    /// `sigil sessions revoke --user`.
    RevokeSessions {
        /// The user.
        user: String,
    },
    /// `sigil keys ...` for the servers' algorithm.
    Keys {
        /// The servers' `SIGIL_JWT_ALG`.
        alg: sigil_token::Algorithm,
        /// What to do.
        command: KeysCommand,
    },
    /// `sigil audit`.
    Audit {
        /// Only events about this user (as the account or the actor).
        user: Option<String>,
        /// Only events since then.
        since: Option<Since>,
        /// Most events, newest first (at most 1000).
        limit: u32,
    },
}

/// `sigil keys`: the signing keys on the database.
#[derive(Debug)]
pub enum KeysCommand {
    /// `sigil keys list`: every key, its state and when it leaves `/jwks`.
    List,
    /// `sigil keys rotate`: a new signing key; needs the servers' `SIGIL_SECRET` to seal it.
    Rotate {
        /// The servers' `SIGIL_SECRET`.
        secret: sigil_auth::Secret,
    },
    /// `sigil keys retire KID`: a replaced key out of `/jwks` now.
    Retire {
        /// The key id.
        kid: String,
    },
}

/// What went wrong, for the exit message.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(String),
    /// The user does not exist.
    #[error("no such user: {0}")]
    NoSuchUser(String),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// The operation failed.
    #[error("{0}")]
    Admin(#[from] AdminError),
    /// A key operation was refused or failed.
    #[error("{0}")]
    Keys(#[from] sigil_auth::keys::KeyError),
}

/// Erases a removed user's tasks, if this database holds the tasks API's tables.
struct TasksCleanup(TaskStore);

#[async_trait::async_trait]
impl AccountListener for TasksCleanup {
    async fn user_deleted(&self, user_id: &str) {
        if let Err(error) = self.0.delete_all_of(user_id).await {
            // A database of `serve-auth` alone has no tasks table.
            tracing::debug!(target: "sigil", %error, "no tasks erased");
        }
    }
}

struct Opened {
    admin: Admin,
    store: Arc<dyn AuthStore>,
    pool: sqlx::AnyPool,
}

async fn open(db: &Database, clock: SharedClock) -> Result<Opened, OpsError> {
    let url = db.url.expose_secret();
    let (pool, _) = sigil_auth::store::connect(url)
        .await
        .map_err(|e| OpsError::Database(e.to_string()))?;
    let sql = SqlStore::new(pool.clone());
    sql.migrate()
        .await
        .map_err(|e| OpsError::Database(e.to_string()))?;
    let store: Arc<dyn AuthStore> = Arc::new(sql);
    let revocations = Revocations::new(Arc::new(SessionDenyList::with_clock(clock.clone())), None);
    let sessions = Sessions::new(
        store.clone(),
        SessionConfig::default(),
        revocations,
        db.jwt_ttl,
        clock.clone(),
    );
    // The commands hash no passwords; the hasher is the service's and idles.
    let hasher = PasswordHasher::new(HashParams::default(), 1)
        .map_err(|e| OpsError::Usage(e.to_string()))?;
    let audit = Audit::new(store.clone(), clock.clone());
    let listener: Arc<dyn AccountListener> = Arc::new(TasksCleanup(
        TaskStore::new(pool.clone()).with_clock(clock.clone()),
    ));
    let admin = Admin::new(
        store.clone(),
        hasher,
        sessions,
        audit,
        AdminPolicy::default(),
        Some(listener),
        clock,
    );
    Ok(Opened { admin, store, pool })
}

/// A user by id or email.
async fn find(store: &dyn AuthStore, who: &str) -> Result<User, OpsError> {
    let found = if let Some(email) = who.contains('@').then(|| Email::parse(who)).flatten() {
        store.user_by_email(email.as_str()).await
    } else {
        store.user_by_id(who).await
    };
    found
        .map_err(|e| OpsError::Database(e.to_string()))?
        .ok_or_else(|| OpsError::NoSuchUser(who.to_owned()))
}

fn user_line(u: &User, json: bool) -> String {
    if json {
        return serde_json::json!({
            "id": u.id,
            "email": u.email,
            "name": u.name,
            "emailVerified": u.email_verified,
            "role": u.role,
            "banned": u.banned,
            "banReason": u.ban_reason,
            "banExpires": u.ban_expires.map(iso8601),
            "createdAt": iso8601(u.created_at),
        })
        .to_string();
    }
    let ban = if u.banned {
        match u.ban_expires {
            Some(until) => format!("banned until {}", iso8601(until)),
            None => "banned".to_owned(),
        }
    } else {
        "-".to_owned()
    };
    format!(
        "{}  {}  {:?}  role={}  {}  created {}",
        u.id,
        u.email,
        u.name,
        u.role,
        ban,
        iso8601(u.created_at)
    )
}

/// Runs a command by the system clock; returns what to print.
pub async fn run(db: Database, command: OpsCommand) -> Result<Vec<String>, OpsError> {
    run_with_clock(db, command, SystemClock::shared()).await
}

/// Runs a command by `clock` (tests); returns what to print.
pub async fn run_with_clock(
    db: Database,
    command: OpsCommand,
    clock: SharedClock,
) -> Result<Vec<String>, OpsError> {
    let opened = open(&db, clock.clone()).await?;
    let result = match command {
        OpsCommand::Keys { alg, command } => keys(&opened, alg, command, &db, &clock).await,
        command => execute(&opened, command, db.json, &clock).await,
    };
    opened.pool.close().await;
    result
}

/// `sigil keys ...`: through the same [`KeyManager`] as the servers' automatic rotation, audited
/// with the actor `cli`. Running servers use a new key within their reload period (2 s).
async fn keys(
    opened: &Opened,
    alg: sigil_token::Algorithm,
    command: KeysCommand,
    db: &Database,
    clock: &SharedClock,
) -> Result<Vec<String>, OpsError> {
    let seal: &[u8] = match &command {
        KeysCommand::Rotate { secret } => secret.expose(),
        KeysCommand::List | KeysCommand::Retire { .. } => &[],
    };
    let manager = KeyManager::new(
        opened.store.clone(),
        Audit::new(opened.store.clone(), clock.clone()),
        alg,
        seal,
        db.jwt_ttl,
        sigil_auth::keys::DEFAULT_GRACE,
        clock.clone(),
    );
    let mut out = Vec::new();
    match command {
        KeysCommand::List => {
            let keys = manager.list().await?;
            for key in &keys {
                out.push(key_line(key, db.json));
            }
            if !db.json {
                out.push(format!("{} key(s)", keys.len()));
            }
        }
        KeysCommand::Rotate { .. } => {
            let kid = manager.rotate(Trigger::Cli).await?;
            let line = match manager.list().await?.into_iter().find(|k| k.kid == kid) {
                Some(key) => key_line(&key, db.json),
                None => kid.clone(),
            };
            out.push(line);
            if !db.json {
                out.push(format!(
                    "new signing key {kid}: running servers sign with it within {} s; the previous key stays in /jwks until its last token has expired",
                    sigil_auth::keys::RELOAD_PERIOD.as_secs()
                ));
            }
        }
        KeysCommand::Retire { kid } => {
            manager.retire(&kid, Trigger::Cli).await?;
            out.push(if db.json {
                serde_json::json!({ "kid": kid, "state": "retired" }).to_string()
            } else {
                format!(
                    "retired {kid}: out of /jwks now; its tokens are refused everywhere within 2 s"
                )
            });
        }
    }
    Ok(out)
}

fn key_line(key: &KeyInfo, json: bool) -> String {
    if json {
        return serde_json::json!({
            "kid": key.kid,
            "alg": key.alg,
            "createdAt": iso8601(key.created_at),
            "state": key.state.as_str(),
            "replacedAt": key.replaced_at.map(iso8601),
            "leavesJwksAt": key.leaves_jwks_at.map(iso8601),
        })
        .to_string();
    }
    let leaves = match (key.state, key.leaves_jwks_at) {
        (KeyState::Retired, Some(at)) => format!("left /jwks {}", iso8601(at)),
        (_, Some(at)) => format!("leaves /jwks {}", iso8601(at)),
        (_, None) => "in /jwks while signing".to_owned(),
    };
    format!(
        "{}  {}  created {}  {:<14}  {}",
        key.kid,
        key.alg,
        iso8601(key.created_at),
        key.state.as_str(),
        leaves
    )
}

async fn execute(
    opened: &Opened,
    command: OpsCommand,
    json: bool,
    clock: &SharedClock,
) -> Result<Vec<String>, OpsError> {
    let (admin, store) = (&opened.admin, opened.store.as_ref());
    let me = Actor::Cli;
    let mut out = Vec::new();
    match command {
        OpsCommand::ListUsers {
            search,
            banned,
            limit,
            offset,
        } => {
            let mut filters = Vec::new();
            if banned {
                filters.push(UserFilter {
                    field: UserField::Banned,
                    op: FilterOp::Eq,
                    values: vec![FilterValue::Int(1)],
                });
            }
            let mut query = UserQuery {
                filters,
                sort: None,
                limit,
                offset,
            };
            let (users, total) = match search {
                // Email or name: two queries, merged (a list query's conditions all hold).
                Some(text) => {
                    let mut users: Vec<User> = Vec::new();
                    for field in [UserField::Email, UserField::Name] {
                        let mut q = query.clone();
                        q.filters.push(UserFilter {
                            field,
                            op: FilterOp::Contains,
                            values: vec![FilterValue::Text(text.clone())],
                        });
                        q.offset = 0;
                        q.limit = limit.saturating_add(u32::try_from(offset).unwrap_or(u32::MAX));
                        for u in admin.list_users(&me, q).await?.0 {
                            if !users.iter().any(|x| x.id == u.id) {
                                users.push(u);
                            }
                        }
                    }
                    users.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
                    let total = users.len() as u64;
                    let start = usize::try_from(offset)
                        .unwrap_or(usize::MAX)
                        .min(users.len());
                    let page: Vec<User> =
                        users.into_iter().skip(start).take(limit as usize).collect();
                    (page, total)
                }
                None => {
                    query.limit = limit;
                    admin.list_users(&me, query).await?
                }
            };
            for u in &users {
                out.push(user_line(u, json));
            }
            if !json {
                out.push(format!("{} shown, {total} in all", users.len()));
            }
        }
        OpsCommand::ShowUser { user } => {
            let u = find(store, &user).await?;
            let u = admin.get_user(&me, &u.id).await?;
            out.push(user_line(&u, json));
            for s in admin.list_sessions(&me, &u.id).await? {
                out.push(if json {
                    serde_json::json!({
                        "session": s.id,
                        "createdAt": iso8601(s.created_at),
                        "expiresAt": iso8601(s.expires_at),
                        "ipAddress": s.ip_address,
                        "userAgent": s.user_agent,
                    })
                    .to_string()
                } else {
                    format!(
                        "  session {}  from {}  created {}  expires {}",
                        s.id,
                        if s.ip_address.is_empty() {
                            "?"
                        } else {
                            &s.ip_address
                        },
                        iso8601(s.created_at),
                        iso8601(s.expires_at)
                    )
                });
            }
        }
        OpsCommand::Ban {
            user,
            reason,
            duration,
        } => {
            let u = find(store, &user).await?;
            let u = admin.ban(&me, &u.id, reason.as_deref(), duration).await?;
            out.push(user_line(&u, json));
        }
        OpsCommand::Unban { user } => {
            let u = find(store, &user).await?;
            let u = admin.unban(&me, &u.id).await?;
            out.push(user_line(&u, json));
        }
        OpsCommand::Delete { user } => {
            let u = find(store, &user).await?;
            admin.remove_user(&me, &u.id).await?;
            out.push(format!("deleted {} ({})", u.id, u.email));
        }
        OpsCommand::SetRole { user, role } => {
            let u = find(store, &user).await?;
            let role = sigil_auth::admin::parse_roles(role.split(','))?;
            let u = admin.set_role(&me, &u.id, role).await?;
            out.push(user_line(&u, json));
        }
        OpsCommand::RevokeSessions { user } => {
            let u = find(store, &user).await?;
            let ended = admin.revoke_sessions(&me, &u.id).await?;
            out.push(format!("{ended} session(s) of {} ended", u.id));
        }
        OpsCommand::Keys { .. } => {
            // Run by `keys` (see `run_with_clock`).
            return Err(OpsError::Usage("sigil keys: not an account command".into()));
        }
        OpsCommand::Audit { user, since, limit } => {
            let user_id = match &user {
                // An id of a removed account is still found in the log.
                Some(who) => Some(match find(store, who).await {
                    Ok(u) => u.id,
                    Err(OpsError::NoSuchUser(_)) => who.clone(),
                    Err(e) => return Err(e),
                }),
                None => None,
            };
            let since = since.map(|s| s.ms(clock.now_ms()));
            let rows = admin
                .read_audit(&me, user_id.as_deref(), since, limit)
                .await?;
            for row in &rows {
                out.push(if json {
                    row_json(row).to_string()
                } else {
                    format!(
                        "{}  {:<24} {:<8} user={} actor={} session={} ip={} {}",
                        iso8601(row.at),
                        row.event,
                        row.outcome,
                        row.user_id.as_deref().unwrap_or("-"),
                        row.actor_id.as_deref().unwrap_or("-"),
                        row.session_id.as_deref().unwrap_or("-"),
                        if row.ip_address.is_empty() {
                            "-"
                        } else {
                            &row.ip_address
                        },
                        row.detail
                    )
                });
            }
            if !json {
                out.push(format!("{} event(s)", rows.len()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::Since;
    use std::time::Duration;

    #[test]
    fn since_takes_a_time_or_a_duration_back() {
        let back = |_: &str| Ok(Duration::from_secs(1));
        assert_eq!(Since::parse("1000", back).unwrap().ms(5000), 1000);
        assert_eq!(Since::parse("1s", back).unwrap().ms(5000), 4000);
        assert_eq!(
            Since::parse("1970-01-01T00:00:01Z", back).unwrap().ms(0),
            1000
        );
        assert!(Since::parse("yesterday", |_: &str| Err("no".to_owned())).is_err());
    }
}
