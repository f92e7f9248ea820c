-- WebAuthn passkeys (Better Auth's passkey plugin). The same statements run on SQLite and
-- PostgreSQL.
--
-- public_key holds the credential as webauthn-rs serialises it (its public key, algorithm,
-- signature counter and flags: nothing secret); counter and backed_up repeat what the answers
-- show. credential_id is the credential's id, base64url without padding; user_handle the
-- WebAuthn user.id given at registration (16 random bytes, base64url), which discoverable
-- sign-ins send back. The ceremonies' challenges live in `verifications` (single-use rows).
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT,
    credential_id TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    user_handle TEXT NOT NULL,
    counter BIGINT NOT NULL DEFAULT 0,
    device_type TEXT NOT NULL,
    backed_up BIGINT NOT NULL DEFAULT 0,
    transports TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);
