-- Sigil tasks schema (SQLite and PostgreSQL). Timestamps in milliseconds since the epoch;
-- booleans as BIGINT 0/1.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    completed BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tasks_user_id_created_at ON tasks (user_id, created_at);
