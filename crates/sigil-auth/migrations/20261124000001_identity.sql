-- Sigil identity schema. The same statements run on SQLite and PostgreSQL.
-- Timestamps are milliseconds since the Unix epoch (BIGINT); ids are random 32-character strings;
-- booleans are BIGINT 0/1 (the one integer type both databases and sqlx's Any driver agree on).

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email_verified BIGINT NOT NULL DEFAULT 0,
    image TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The email/password credential of a user (Better Auth's "credential" account).
CREATE TABLE credentials (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Sessions. Only the SHA-256 of the session token is stored.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    ip_address TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    remember BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Single-use tokens (password reset, email verification, account deletion); identifier holds a
-- purpose prefix and the token's SHA-256.
CREATE TABLE verifications (
    identifier TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- JWT signing keys; private halves are sealed with a key derived from SIGIL_SECRET.
CREATE TABLE jwks (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    private_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);

-- Sessions ended before their JWTs expire: guards refuse tokens whose sid is listed here.
CREATE TABLE revoked_sessions (
    session_id TEXT PRIMARY KEY NOT NULL,
    revoked_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX revoked_sessions_created_at ON revoked_sessions (created_at);

-- Rotating refresh tokens for non-browser clients; a family is one session.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    parent_id TEXT,
    child_id TEXT,
    used_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
