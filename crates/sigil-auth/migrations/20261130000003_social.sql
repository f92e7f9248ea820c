-- Social and OpenID Connect sign-in: Better Auth's `account` rows for identities at outside
-- providers. The same statements run on SQLite and PostgreSQL. The provider's tokens are sealed
-- (XChaCha20-Poly1305 under a key derived from SIGIL_SECRET), never stored in clear.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    access_token TEXT,
    refresh_token TEXT,
    id_token TEXT,
    access_token_expires_at BIGINT,
    refresh_token_expires_at BIGINT,
    scope TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- One local user per identity at a provider.
CREATE UNIQUE INDEX accounts_provider_account ON accounts (provider_id, account_id);
CREATE INDEX accounts_user_id ON accounts (user_id);
