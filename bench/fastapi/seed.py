"""Writes the FastAPI peer's SQLite file from a list of task objects (the same rows Sigil serves).

Accepts snake_case or camelCase keys, so the list can be Sigil's own `GET /api/{user_id}/tasks` answer.
Usage as a script: python seed.py DB_PATH TASKS_JSON_PATH
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys

SCHEMA = """
CREATE TABLE task (
    id          NOT NULL,  -- no declared type: Sigil's ids as they are (integer or text)
    user_id     TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    description TEXT,
    completed   INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE INDEX task_user_id ON task (user_id);
"""


def _get(task: dict, snake: str, camel: str, default=None):
    return task.get(snake, task.get(camel, default))


def seed(db_path: str, tasks: list[dict]) -> None:
    if os.path.exists(db_path):
        os.remove(db_path)
    con = sqlite3.connect(db_path)
    with con:
        con.executescript(SCHEMA)
        for i, t in enumerate(tasks, start=1):
            con.execute(
                "INSERT INTO task (id, user_id, title, description, completed, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    t.get("id", i),
                    _get(t, "user_id", "userId"),
                    t["title"],
                    t.get("description"),
                    1 if t.get("completed") else 0,
                    _get(t, "created_at", "createdAt"),
                    _get(t, "updated_at", "updatedAt"),
                ),
            )
    con.close()


if __name__ == "__main__":
    with open(sys.argv[2], encoding="utf-8") as f:
        seed(sys.argv[1], json.load(f))
