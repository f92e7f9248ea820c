"""FastAPI peer for the Sigil benchmark: the spec's tasks backend, reduced to the protected read.

`GET /api/{user_id}/tasks` takes `Authorization: Bearer <JWT>`, verifies it with PyJWT (HS256 with the shared
secret, or EdDSA with the auth server's public keys from a JWKS file, picked by `kid`), requires and checks
`exp`, `iss`, `aud` and `sub`, answers 401 for a missing or bad token and 403 when `sub` is not the path's
user id, then reads that user's tasks from a SQLite file and returns them as JSON.

Configuration (environment):
  JWT_ALG       HS256 or EdDSA
  JWT_SECRET    the HS256 key (HS256 only)
  JWKS_FILE     path of a JWKS document (EdDSA only), as served by the auth server's /api/auth/jwks
  JWT_ISSUER    expected `iss`
  JWT_AUDIENCE  expected `aud`
  TASKS_DB      path of the SQLite file (table `task`, written by bench/fastapi/seed.py)
  TASKS_SCHEMA  `seed` (default: the `task` table above) or `sigil`: read Sigil's own `tasks` table
                (timestamps in ms since the epoch) from TASKS_DB, the very file Sigil served
  DATABASE_URL  postgres://... : read Sigil's `tasks` table from PostgreSQL through an asyncpg pool
                (one pool per worker, asyncpg's default size of 10), instead of SQLite

`GET /healthz` is unauthenticated (used for readiness and cold-start timing). Every handler and dependency is
`async def`, so no request goes through the thread pool: the fastest way to write this app in FastAPI.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import jwt
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

ALG = os.environ.get("JWT_ALG", "HS256")
ISSUER = os.environ["JWT_ISSUER"]
AUDIENCE = os.environ["JWT_AUDIENCE"]
DB_PATH = os.environ.get("TASKS_DB", "")
SCHEMA = os.environ.get("TASKS_SCHEMA", "seed")
PG_URL = os.environ.get("DATABASE_URL", "")

if ALG == "HS256":
    _secret = os.environ["JWT_SECRET"]
    if len(_secret.encode()) < 32:
        raise SystemExit("JWT_SECRET must be at least 32 bytes")

    def _key_for(_token: str):
        return _secret

elif ALG == "EdDSA":
    with open(os.environ["JWKS_FILE"], encoding="utf-8") as f:
        _keys = {k["kid"]: jwt.PyJWK(k, algorithm="EdDSA").key for k in json.load(f)["keys"]}

    def _key_for(token: str):
        kid = jwt.get_unverified_header(token).get("kid")
        try:
            return _keys[kid]
        except KeyError:
            raise jwt.InvalidTokenError("unknown kid") from None

else:
    raise SystemExit(f"unsupported JWT_ALG {ALG!r}")

_db = None
_pg = None
if PG_URL:
    import asyncpg
elif SCHEMA == "sigil":
    # Sigil's file (WAL mode): a read-write open so SQLite can use the -shm file; only SELECTs run.
    _db = sqlite3.connect(DB_PATH, check_same_thread=False)
else:
    # One read-only connection per worker process; the event loop thread is the only user.
    _db = sqlite3.connect(f"file:{DB_PATH}?mode=ro", uri=True, check_same_thread=False)


@asynccontextmanager
async def lifespan(_app):
    global _pg
    if PG_URL:
        _pg = await asyncpg.create_pool(PG_URL)
    yield
    if _pg is not None:
        await _pg.close()


app = FastAPI(title="tasks (benchmark peer)", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
bearer = HTTPBearer(auto_error=False)


class Task(BaseModel):
    id: int | str
    user_id: str
    title: str
    description: str | None = None
    completed: bool
    created_at: datetime
    updated_at: datetime


async def current_user_id(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "invalid or missing token", headers={"WWW-Authenticate": "Bearer"}
    )
    if creds is None or creds.scheme.lower() != "bearer":
        raise unauthorized
    token = creds.credentials
    try:
        claims = jwt.decode(
            token,
            _key_for(token),
            algorithms=[ALG],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError:
        raise unauthorized from None
    return claims["sub"]


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}


SIGIL_QUERY = (
    "SELECT id, user_id, title, description, completed, created_at, updated_at"
    " FROM tasks WHERE user_id = {} ORDER BY created_at, id"
)


def _ms(v: int) -> datetime:
    return datetime.fromtimestamp(v / 1000, tz=timezone.utc)


def _sigil_task(r) -> Task:
    return Task(id=r[0], user_id=r[1], title=r[2], description=r[3], completed=bool(r[4]), created_at=_ms(r[5]),
                updated_at=_ms(r[6]))


@app.get("/api/{user_id}/tasks", response_model=list[Task])
async def list_tasks(user_id: str, sub: str = Depends(current_user_id)) -> list[Task]:
    if sub != user_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "token does not belong to this user")
    if _pg is not None:
        # asyncpg prepares and caches the statement per connection.
        async with _pg.acquire() as con:
            rows = await con.fetch(SIGIL_QUERY.format("$1"), user_id)
        return [_sigil_task(r) for r in rows]
    if SCHEMA == "sigil":
        return [_sigil_task(r) for r in _db.execute(SIGIL_QUERY.format("?"), (user_id,)).fetchall()]
    rows = _db.execute(
        "SELECT id, user_id, title, description, completed, created_at, updated_at"
        " FROM task WHERE user_id = ? ORDER BY created_at, rowid",
        (user_id,),
    ).fetchall()
    return [
        Task(
            id=r[0], user_id=r[1], title=r[2], description=r[3], completed=bool(r[4]), created_at=r[5], updated_at=r[6]
        )
        for r in rows
    ]
