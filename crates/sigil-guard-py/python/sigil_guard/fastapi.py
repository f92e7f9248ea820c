"""FastAPI (Starlette) integration: ``user: SigilUser = Depends(sigil_user)``.

.. code-block:: python

    from fastapi import Depends, FastAPI
    from sigil_guard.fastapi import SigilUser, install, sigil_user

    app = FastAPI()
    install(app)                      # refusals answered as the Rust guard answers them

    @app.get("/api/{user_id}/tasks")
    async def tasks(user_id: str, user: SigilUser = Depends(sigil_user)):
        ...                           # runs only for the owner of {user_id}

``sigil_user`` is configured from the environment (``SIGIL_JWKS_URL`` or ``SIGIL_JWT_SECRET``,
``SIGIL_REDIS_URL`` / ``SIGIL_REVOCATION_DATABASE_URL`` for revocations; see
:class:`sigil_guard.Guard`) and starts its guard on first use without blocking the event loop.
For explicit settings build your own: ``sigil_user = SigilAuth(jwks_url=..., redis_url=...)``,
or ``SigilAuth(guard=...)``; pass ``lifespan=sigil_user.lifespan`` to ``FastAPI`` to fetch the
keys at start-up instead of at the first request and stop the feeds at shutdown.

The dependency answers exactly as the Rust guard's ``require_path_user`` layer:

* no credentials: 401 with ``WWW-Authenticate: Bearer realm="sigil"``;
* a bad, expired or revoked token: 401 with ``error="invalid_token"``;
* two ``Authorization`` headers: 400 ``invalid_request``;
* a valid token on a route whose ``{user_id}`` path parameter is another user's: 403, before the
  endpoint runs (routes without that parameter only authenticate).

Bodies are ``{"code", "message"}`` once :func:`install` has registered the exception handler
(without it FastAPI's default handler wraps them as ``{"detail": {...}}``), with
``Cache-Control: no-store``; the token is never echoed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from . import Guard, SigilUser
from .errors import AuthError

__all__ = ["SigilAuth", "SigilAuthError", "SigilUser", "install", "sigil_user"]


class SigilAuthError(HTTPException):
    """The HTTP exception raised by the dependency; ``error`` is the :class:`AuthError`."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(status_code=error.status, detail=error.body(), headers=error.headers())
        self.error = error


async def _answer(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SigilAuthError)
    return JSONResponse(exc.error.body(), status_code=exc.status_code, headers=exc.headers)


def install(app: FastAPI) -> None:
    """Answers refusals with the Rust guard's body ``{"code", "message"}`` (and its headers)."""
    app.add_exception_handler(SigilAuthError, _answer)


class SigilAuth:
    """A FastAPI dependency that authenticates the caller and returns a :class:`SigilUser`.

    ``path_param`` names the path parameter compared with the token's ``sub`` (``None``: never
    compare). Other keyword arguments are :class:`sigil_guard.Guard`'s; without any, the guard
    is configured from ``os.environ`` when first needed.
    """

    def __init__(
        self,
        guard: Guard | None = None,
        *,
        path_param: str | None = "user_id",
        env: Mapping[str, str] | None = None,
        **guard_kwargs: Any,
    ) -> None:
        if guard is not None and (guard_kwargs or env is not None):
            raise TypeError("give either a Guard or its settings, not both")
        self._guard = guard
        self._kwargs = guard_kwargs
        self._env = env
        self._path_param = path_param
        self._lock: asyncio.Lock | None = None

    async def guard(self) -> Guard:
        """The guard, started on first use (``Guard.connect``: never blocks the event loop)."""
        if self._guard is not None:
            return self._guard
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._guard is None:
                kwargs = dict(self._kwargs)
                if not any(k in kwargs for k in ("jwks_url", "jwks", "secret")):
                    kwargs["env"] = dict(os.environ if self._env is None else self._env)
                self._guard = await Guard.connect(**kwargs)
        return self._guard

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        """A FastAPI lifespan: starts the guard before serving, stops its feeds after."""
        guard = await self.guard()
        try:
            yield
        finally:
            guard.close()

    async def __call__(self, request: Request) -> SigilUser:
        guard = self._guard or await self.guard()
        # The raw header values (ASGI lower-cases names): two Authorization headers are refused.
        values = [value for name, value in request.scope["headers"] if name == b"authorization"]
        path_user = request.path_params.get(self._path_param) if self._path_param else None
        if path_user is not None:
            path_user = str(path_user)
        try:
            return await guard.authenticate(values, path_user_id=path_user)
        except AuthError as error:
            raise SigilAuthError(error) from None


sigil_user = SigilAuth()
"""The default dependency: a guard configured from the environment, started on first use."""
