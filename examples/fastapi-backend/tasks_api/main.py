"""The tasks API of the seed's backend, on FastAPI and SQLModel, guarded by ``sigil_guard``.

======================================================  =========================================
route                                                   does
======================================================  =========================================
``GET    /api/{user_id}/tasks?status=all|pending|completed``  list the user's tasks (oldest first)
``POST   /api/{user_id}/tasks`` ``{title, description?}``      create (201)
``GET    /api/{user_id}/tasks/{id}``                           one task
``PUT    /api/{user_id}/tasks/{id}`` ``{title, description?, completed?}``  replace
``DELETE /api/{user_id}/tasks/{id}``                           delete (204)
``PATCH  /api/{user_id}/tasks/{id}/complete`` ``{completed?}``  toggle, or set
======================================================  =========================================

Every route depends on ``sigil_user``: no or a bad token is a 401 (``WWW-Authenticate``), a
signed-out session's token a 401 at once (Redis feed), a token for another user's
``{user_id}`` a 403 before the handler runs. Queries are scoped to the path's user, so another
user's task id is a 404.

Settings (environment):

* the guard's: ``SIGIL_JWKS_URL`` (Sigil's ``/api/auth/jwks``) or ``SIGIL_JWT_SECRET``,
  ``SIGIL_REDIS_URL`` and/or ``SIGIL_REVOCATION_DATABASE_URL`` (see ``sigil_guard``);
* ``DATABASE_URL``: the tasks database, SQLAlchemy syntax (``sqlite:///tasks.db`` by default,
  or ``postgresql+psycopg://...``);
* ``CORS_ORIGINS``: comma-separated origins of the front end allowed to call this API from a
  browser (no credentials: identity travels in ``Authorization``).
"""


# No `from __future__ import annotations`: FastAPI must resolve the endpoint annotations, and
# `Db`/`Caller` below are local to `create_app`.
import os
import secrets
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel, Field, field_validator
from sigil_guard.fastapi import SigilAuth, SigilUser, install, sigil_user
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, create_engine, select
from sqlmodel import Field as Column

TITLE_MAX = 200
DESCRIPTION_MAX = 1000


class Task(SQLModel, table=True):
    """A task row."""

    id: str = Column(primary_key=True, max_length=32)
    user_id: str = Column(index=True, max_length=255)
    title: str = Column(max_length=TITLE_MAX)
    description: str = Column(default="", max_length=DESCRIPTION_MAX)
    completed: bool = False
    created_at: datetime
    updated_at: datetime


def _title(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= TITLE_MAX:
        raise ValueError(f"title must be 1 to {TITLE_MAX} characters")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise ValueError("title must not contain control characters")
    return value


class NewTask(BaseModel):
    title: str
    description: str = Field(default="", max_length=DESCRIPTION_MAX)

    _check_title = field_validator("title")(_title)


class ReplaceTask(NewTask):
    completed: bool | None = None


class Completion(BaseModel):
    completed: bool | None = None


def make_engine(url: str) -> Engine:
    args = {"check_same_thread": False} if url.startswith("sqlite") else {}
    return create_engine(url, connect_args=args)


def create_app(
    database_url: str | None = None, cors_origins: list[str] | None = None, auth: SigilAuth = sigil_user
) -> FastAPI:
    """The application, on ``database_url`` (default: ``DATABASE_URL`` or ``sqlite:///tasks.db``),
    guarded by ``auth`` (default: ``sigil_user``, configured from the environment)."""
    engine = make_engine(database_url or os.environ.get("DATABASE_URL", "sqlite:///tasks.db"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        SQLModel.metadata.create_all(engine)
        async with auth.lifespan(app):  # fetch Sigil's keys and load revocations at start
            yield

    app = FastAPI(title="tasks", lifespan=lifespan)
    install(app)  # refusals answered exactly as Sigil's Rust guard answers them
    if cors_origins is None:
        cors_origins = [o.strip() for o in os.environ.get("CORS_ORIGINS", "").split(",") if o.strip()]
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["WWW-Authenticate"],
            allow_credentials=False,
            max_age=600,
        )

    def db():
        with Session(engine) as session:
            yield session

    Db = Annotated[Session, Depends(db)]
    # Authenticates and, since these paths have {user_id}, answers 403 for another user's.
    Caller = Annotated[SigilUser, Depends(auth)]

    def owned(session: Session, user_id: str, task_id: str) -> Task:
        task = session.get(Task, task_id)
        if task is None or task.user_id != user_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Task not found")
        return task

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/{user_id}/tasks")
    def list_tasks(
        user_id: str,
        _user: Caller,
        session: Db,
        status_filter: Annotated[Literal["all", "pending", "completed"], Query(alias="status")] = "all",
    ) -> list[Task]:
        query = select(Task).where(Task.user_id == user_id)
        if status_filter != "all":
            query = query.where(Task.completed == (status_filter == "completed"))
        return list(session.exec(query.order_by(Task.created_at, Task.id)))

    @app.post("/api/{user_id}/tasks", status_code=status.HTTP_201_CREATED)
    def create_task(user_id: str, body: NewTask, _user: Caller, session: Db) -> Task:
        now = datetime.now(UTC)
        task = Task(
            id=secrets.token_hex(16),
            user_id=user_id,
            title=body.title,
            description=body.description,
            created_at=now,
            updated_at=now,
        )
        session.add(task)
        session.commit()
        session.refresh(task)
        return task

    @app.get("/api/{user_id}/tasks/{task_id}")
    def get_task(user_id: str, task_id: str, _user: Caller, session: Db) -> Task:
        return owned(session, user_id, task_id)

    @app.put("/api/{user_id}/tasks/{task_id}")
    def replace_task(user_id: str, task_id: str, body: ReplaceTask, _user: Caller, session: Db) -> Task:
        task = owned(session, user_id, task_id)
        task.title = body.title
        task.description = body.description
        if body.completed is not None:
            task.completed = body.completed
        task.updated_at = datetime.now(UTC)
        session.add(task)
        session.commit()
        session.refresh(task)
        return task

    @app.delete("/api/{user_id}/tasks/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_task(user_id: str, task_id: str, _user: Caller, session: Db) -> Response:
        session.delete(owned(session, user_id, task_id))
        session.commit()
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @app.patch("/api/{user_id}/tasks/{task_id}/complete")
    def complete_task(
        user_id: str, task_id: str, _user: Caller, session: Db, body: Completion | None = None
    ) -> Task:
        task = owned(session, user_id, task_id)
        task.completed = (not task.completed) if body is None or body.completed is None else body.completed
        task.updated_at = datetime.now(UTC)
        session.add(task)
        session.commit()
        session.refresh(task)
        return task

    return app


app = create_app()
"""The application for ``uvicorn tasks_api.main:app``."""
