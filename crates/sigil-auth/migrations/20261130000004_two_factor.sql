-- Two-factor authentication (Better Auth's twoFactor plugin). The same statements run on SQLite
-- and PostgreSQL.

-- Whether sign-in asks for a second factor (Better Auth's user.twoFactorEnabled).
ALTER TABLE users ADD COLUMN two_factor_enabled BIGINT NOT NULL DEFAULT 0;

-- A user's authenticator-app secret and backup codes.
-- * secret: the TOTP key, sealed (XChaCha20-Poly1305 under a key derived from SIGIL_SECRET);
-- * backup_codes: JSON array of keyed hashes (HMAC-SHA256) of the unused codes, never the codes;
-- * verified: 0 until a first code from the app was accepted (an abandoned set-up never gates
--   sign-in);
-- * last_step: the TOTP time step of the last accepted code; a code of that step or an earlier
--   one is refused, so a code works once, even in a new sign-in within its window.
CREATE TABLE two_factors (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    backup_codes TEXT NOT NULL,
    verified BIGINT NOT NULL DEFAULT 0,
    last_step BIGINT NOT NULL DEFAULT -1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
