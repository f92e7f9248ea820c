-- Signing-key rotation. A key is signing while expires_at is NULL (the newest such key of the
-- configured algorithm signs); a rotation sets the old key's expires_at to the successor's
-- created_at, after which it only verifies and stays in /jwks until its last token can have
-- expired (expires_at + token lifetime + grace). retired_at takes a replaced key out of /jwks
-- early (`sigil keys retire`). The same statement runs on SQLite and PostgreSQL.
ALTER TABLE jwks ADD COLUMN retired_at BIGINT;
