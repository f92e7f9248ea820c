-- Roles and bans (Better Auth's admin plugin) and the audit log. The same statements run on
-- SQLite and PostgreSQL.

-- Comma-separated roles ("user", "admin", "admin,user"); an admin is a user holding one of the
-- configured admin roles (SIGIL_ADMIN_ROLES) or listed in SIGIL_ADMIN_USER_IDS.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
-- A banned user cannot sign in; ban_expires (ms, NULL: never) lifts the ban when passed.
ALTER TABLE users ADD COLUMN banned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN ban_reason TEXT;
ALTER TABLE users ADD COLUMN ban_expires BIGINT;

-- Security events, appended only (rows leave only when older than SIGIL_AUDIT_RETENTION). No
-- foreign keys: an account's history outlives the account. Never a secret, token, hash or password.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,
    user_id TEXT,
    actor_id TEXT,
    session_id TEXT,
    ip_address TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_user_at ON audit_log (user_id, at);
