"""`Guard`: the Python face of the native guard (``_native.Guard``), with coroutine methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import _native
from ._native import SigilUser

Authorization = str | bytes | Sequence[str | bytes] | None


class Guard:
    """Verifies ``Authorization: Bearer <jwt>`` with Sigil's Rust guard.

    Exactly one key source:

    * ``jwks_url``: a remote JWKS (Sigil's or Better Auth's ``/api/auth/jwks``), fetched at start,
      cached for its ``max-age`` (5 min without one), refreshed in the background, refetched on an
      unknown ``kid`` at most once per ``jwks_refetch_interval`` seconds, and served from cache
      while the endpoint is down; ``issuer`` and ``audience`` default to its origin;
    * ``jwks``: a static JWKS document (JSON text);
    * ``secret``: an HS256 shared secret of at least 32 bytes (``issuer`` required), or a list
      of them during a rotation (a token verifies under any; Sigil signs with its first);
    * or ``env``, a mapping such as ``os.environ`` read as the Rust guard reads its environment:
      ``SIGIL_JWKS_URL`` / ``SIGIL_JWKS_FILE`` / ``SIGIL_JWKS`` / ``SIGIL_JWT_SECRET``,
      ``SIGIL_JWT_ISSUER``, ``SIGIL_JWT_AUDIENCE``, ``SIGIL_JWT_LEEWAY``, ``SIGIL_TOKEN_CACHE``,
      plus ``SIGIL_REDIS_URL`` and ``SIGIL_REVOCATION_DATABASE_URL``.

    Revocation (tokens of a signed-out session refused): ``redis_url`` follows Sigil's Redis feed
    (at once); ``revocation_database_url`` polls Sigil's database (``sqlite://...`` or
    ``postgres://...``, table ``revoked_sessions``) every ``revocation_poll_interval`` seconds.
    Both load what is already recorded before the guard is returned; a feed that cannot be read
    then is a ``ConfigError``.

    ``leeway`` (seconds, at most 300, default 60) is the allowed clock skew; ``token_cache=False``
    turns off the verified-token cache; ``realm`` names the ``WWW-Authenticate`` realm.

    The constructor blocks its thread (without holding the GIL) for the first JWKS fetch and the
    feeds' first load: use it in synchronous start-up code. In async code use
    ``await Guard.connect(...)``, which never blocks the event loop.
    """

    __slots__ = ("_native",)

    def __init__(self, **settings: Any) -> None:
        self._native = _native.Guard(**settings)

    @classmethod
    async def connect(
        cls,
        *,
        jwks_url: str | None = None,
        jwks: str | None = None,
        secret: str | Sequence[str] | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: int | None = None,
        token_cache: bool | None = None,
        realm: str | None = None,
        redis_url: str | None = None,
        revocation_database_url: str | None = None,
        revocation_poll_interval: float = 2.0,
        jwks_timeout: float = 5.0,
        jwks_refetch_interval: float = 30.0,
        jwks_retry_interval: float = 5.0,
        env: Mapping[str, str] | None = None,
    ) -> Guard:
        """Builds a guard without blocking the event loop (the fetch and the feeds' first load run
        on the guard's runtime thread). Same settings as the constructor."""
        guard = object.__new__(cls)
        guard._native = await _native.Guard.connect(
            jwks_url=jwks_url,
            jwks=jwks,
            secret=secret,
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            token_cache=token_cache,
            realm=realm,
            redis_url=redis_url,
            revocation_database_url=revocation_database_url,
            revocation_poll_interval=revocation_poll_interval,
            jwks_timeout=jwks_timeout,
            jwks_refetch_interval=jwks_refetch_interval,
            jwks_retry_interval=jwks_retry_interval,
            env=env,
        )
        return guard

    async def verify(self, token: str) -> SigilUser:
        """Verifies a token (without the ``Bearer `` prefix).

        Returns the :class:`SigilUser`; raises an :class:`~sigil_guard.errors.AuthError`
        subclass (``InvalidToken``, ``TokenExpired``, ``TokenRevoked``, ``KeysUnavailable``).
        Against keys already held this completes without yielding to the event loop; a needed
        JWKS fetch is awaited on the guard's runtime thread.
        """
        return await self._native.verify(token)

    async def authenticate(self, authorization: Authorization, *, path_user_id: str | None = None) -> SigilUser:
        """Authenticates a request from its ``Authorization`` header value(s): ``None``, one value,
        or every value the request carried (``str`` as Latin-1, or raw ``bytes``).

        Raises ``MissingToken`` (no bearer credentials), ``InvalidRequest`` (two headers), the
        token errors of :meth:`verify`, and with ``path_user_id`` ``Forbidden`` when a valid
        token belongs to another user.
        """
        return await self._native.authenticate(authorization, path_user_id=path_user_id)

    def verify_blocking(self, token: str) -> SigilUser:
        """:meth:`verify` for synchronous code (Flask, Django, scripts): blocks this thread,
        without holding the GIL, until done."""
        return self._native.verify_blocking(token)

    def deny_session(self, session_id: str, until: int) -> None:
        """Refuses the tokens of ``session_id`` until ``until`` (Unix seconds), in this process
        (the feeds do this for every session Sigil ends)."""
        self._native.deny_session(session_id, until)

    def is_session_denied(self, session_id: str) -> bool:
        """Whether the tokens of ``session_id`` are currently refused."""
        return self._native.is_session_denied(session_id)

    @property
    def kids(self) -> list[str]:
        """The key ids of the remote JWKS currently held (empty for a secret or static keys)."""
        return self._native.kids

    @property
    def realm(self) -> str:
        """The realm of the ``WWW-Authenticate`` challenges."""
        return self._native.realm

    async def refresh(self) -> None:
        """Fetches the remote JWKS now; raises ``JwksError`` if that fails (the keys held so far
        stay in use). Nothing to do for a secret or static keys."""
        await self._native.refresh()

    def close(self) -> None:
        """Stops the revocation feeds (also done when the guard is garbage-collected)."""
        self._native.close()

    def __repr__(self) -> str:
        return repr(self._native)
