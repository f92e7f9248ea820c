"""Strict ``Authorization: Bearer <jwt>`` verification for Python backends, built from Sigil's
Rust guard (``sigil-guard``).

.. code-block:: python

    from sigil_guard import Guard

    guard = await Guard.connect(jwks_url="https://auth.example.com/api/auth/jwks",
                                redis_url="redis://127.0.0.1:6379")
    user = await guard.verify(token)          # SigilUser, or raises an AuthError subclass
    user.user_id, user.email, user.session_id, user.claims

* **Keys**: a remote JWKS (``jwks_url``: fetched at start, cached for its ``max-age``,
  refreshed in the background, refetched on an unknown ``kid`` at most once per
  ``jwks_refetch_interval``, served from cache while the endpoint is down), a static JWKS
  (``jwks``), or an HS256 ``secret`` (at least 32 bytes). ``issuer``/``audience`` default to
  the JWKS URL's origin, as Sigil and Better Auth issue them. Or ``Guard(env=os.environ)`` /
  ``Guard.connect(env=os.environ)``: the ``SIGIL_*`` variables of the Rust guard.
* **Revocation**: ``redis_url`` follows Sigil's Redis feed (a sign-out is refused at once);
  ``revocation_database_url`` polls Sigil's database (``revoked_sessions``, every
  ``revocation_poll_interval`` seconds).
* **Async-safe**: ``verify``/``authenticate`` return awaitables; checks against keys already
  held complete on the calling thread without the GIL; network waits run on a Rust runtime
  thread and never block the event loop.
* **Refusals** are typed (:mod:`sigil_guard.errors`) and carry the Rust guard's HTTP answer.

FastAPI: :mod:`sigil_guard.fastapi` (``user: SigilUser = Depends(sigil_user)``).
"""

from __future__ import annotations

from . import errors
from ._guard import Guard
from ._native import SigilUser, __version__
from .errors import (
    AuthError,
    ConfigError,
    Forbidden,
    InvalidRequest,
    InvalidToken,
    JwksError,
    KeysUnavailable,
    MissingToken,
    SigilGuardError,
    TokenExpired,
    TokenRevoked,
)

__all__ = [
    "AuthError",
    "ConfigError",
    "Forbidden",
    "Guard",
    "InvalidRequest",
    "InvalidToken",
    "JwksError",
    "KeysUnavailable",
    "MissingToken",
    "SigilGuardError",
    "SigilUser",
    "TokenExpired",
    "TokenRevoked",
    "__version__",
    "errors",
]
