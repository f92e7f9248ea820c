-- Positions and locks shared by every instance on one database. The same statements run on
-- SQLite and PostgreSQL.

-- One counter row per name. A transaction that updates a row holds its lock until it commits:
-- * 'revocations' numbers revocations in commit order (a writer takes the next value and keeps
--   the row locked until it commits, so a later number is never visible before an earlier one);
-- * 'jwks' serializes the creation of signing keys at start (one key per algorithm, whichever
--   instance gets there first).
CREATE TABLE sigil_counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO sigil_counters (name, value) VALUES ('revocations', 0);
INSERT INTO sigil_counters (name, value) VALUES ('jwks', 0);

-- Each revocation's position: guards read the rows after the last position they saw.
-- Rows recorded before this migration keep position 0 and are read by a first full load.
ALTER TABLE revoked_sessions ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX revoked_sessions_seq ON revoked_sessions (seq);
