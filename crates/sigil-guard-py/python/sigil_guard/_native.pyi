"""Type stubs of the native module (``crates/sigil-guard-py/src/lib.rs``)."""

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, final

__version__: str

@final
class SigilUser:
    """The caller, as stated by a verified token."""

    @property
    def user_id(self) -> str:
        """The token's ``sub``: the user id."""
    @property
    def email(self) -> str | None:
        """The ``email`` claim."""
    @property
    def name(self) -> str | None:
        """The ``name`` claim."""
    @property
    def session_id(self) -> str | None:
        """The ``sid`` claim: the identity session the token was issued from."""
    @property
    def expires_at(self) -> int:
        """The ``exp`` claim (Unix seconds)."""
    @property
    def claims(self) -> dict[str, Any]:
        """Every claim of the token, as a new ``dict``."""

@final
class Guard:
    """The native guard; use :class:`sigil_guard.Guard`, which wraps it with coroutines.

    Exactly one key source: ``jwks_url``, ``jwks`` (JWKS JSON text) or ``secret`` (HS256, at
    least 32 bytes, or a list of such secrets during a rotation); or ``env`` (a mapping such as ``os.environ``) holding the Rust guard's
    ``SIGIL_JWKS_URL`` / ``SIGIL_JWKS_FILE`` / ``SIGIL_JWKS`` / ``SIGIL_JWT_SECRET``,
    ``SIGIL_JWT_ISSUER``, ``SIGIL_JWT_AUDIENCE``, ``SIGIL_JWT_LEEWAY``, ``SIGIL_TOKEN_CACHE``,
    and ``SIGIL_REDIS_URL`` / ``SIGIL_REVOCATION_DATABASE_URL`` for the revocation feeds.

    Raises ``ConfigError`` for an unusable configuration or a feed that cannot be read.
    The constructor blocks its thread (not the GIL) for the first JWKS fetch; in async code use
    ``await Guard.connect(...)``.
    """

    def __init__(
        self,
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
    ) -> None: ...
    @staticmethod
    def connect(
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
    ) -> Awaitable[Guard]:
        """Builds a guard without blocking the event loop."""
    def verify(self, token: str) -> Awaitable[SigilUser]:
        """Verifies a token (without ``Bearer``); raises an ``AuthError`` subclass."""
    def authenticate(
        self, authorization: str | bytes | Sequence[str | bytes] | None, *, path_user_id: str | None = None
    ) -> Awaitable[SigilUser]:
        """Authenticates from the request's ``Authorization`` value(s); with ``path_user_id``, a
        valid token of another user raises ``Forbidden``."""
    def verify_blocking(self, token: str) -> SigilUser:
        """``verify`` for synchronous code: blocks this thread (not the GIL)."""
    def deny_session(self, session_id: str, until: int) -> None:
        """Refuses the tokens of ``session_id`` until ``until`` (Unix seconds), in this process."""
    def is_session_denied(self, session_id: str) -> bool:
        """Whether ``session_id`` is currently refused."""
    @property
    def kids(self) -> list[str]:
        """Key ids of the remote JWKS currently held."""
    @property
    def realm(self) -> str:
        """The ``WWW-Authenticate`` realm."""
    def refresh(self) -> Awaitable[None]:
        """Fetches the remote JWKS now; raises ``JwksError`` on failure."""
    def close(self) -> None:
        """Stops the revocation feeds."""
