"""The refusals of `sigil_guard`, one class per kind of the Rust guard's errors.

Every refused request raises an :class:`AuthError` subclass carrying the Rust guard's own HTTP
answer, so a framework integration only has to copy it into a response:

* ``status``: 401, 400 (two ``Authorization`` headers) or 403 (another user's route);
* ``www_authenticate``: the RFC 6750 challenge (``None`` for a 403);
* ``code`` and ``message``: the JSON body ``{"code", "message"}`` (never containing the token);
* ``kind``: the precise reason, for logs and metrics (``"expired"``, ``"bad_signature"``,
  ``"unknown_key"``, ``"wrong_issuer"``, ``"revoked"``, ``"segment_count"``, ...): the Rust
  ``GuardError::kind`` / ``sigil_token::VerifyError::kind``.

======================  ==================  ======  =================
class                   kind(s)             status  code
======================  ==================  ======  =================
``MissingToken``        ``missing``         401     ``UNAUTHORIZED``
``InvalidRequest``      ``duplicate_header`` 400    ``INVALID_REQUEST``
``InvalidToken``        every token error   401     ``INVALID_TOKEN``
``TokenExpired``        ``expired``         401     ``TOKEN_EXPIRED``
``TokenRevoked``        ``revoked``         401     ``INVALID_TOKEN``
``KeysUnavailable``     ``no_keys``         401     ``INVALID_TOKEN``
``Forbidden``           ``forbidden``       403     ``FORBIDDEN``
======================  ==================  ======  =================
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "Forbidden",
    "InvalidRequest",
    "InvalidToken",
    "JwksError",
    "KeysUnavailable",
    "MissingToken",
    "SigilGuardError",
    "TokenExpired",
    "TokenRevoked",
]


class SigilGuardError(Exception):
    """Base class of every error raised by ``sigil_guard``."""


class ConfigError(SigilGuardError, ValueError):
    """The guard could not be built: a missing or contradictory setting, unusable key material,
    or a revocation feed that could not be read at start."""


class JwksError(SigilGuardError):
    """A requested JWKS refresh failed (the keys held so far stay in use)."""


class AuthError(SigilGuardError):
    """A refused request, with the Rust guard's HTTP answer."""

    message: str
    kind: str
    status: int
    code: str
    www_authenticate: str | None

    def __init__(self, message: str, kind: str, status: int, code: str, www_authenticate: str | None) -> None:
        super().__init__(message, kind)
        self.message = message
        self.kind = kind
        self.status = status
        self.code = code
        self.www_authenticate = www_authenticate

    def __str__(self) -> str:
        return f"{self.message} ({self.kind})"

    def body(self) -> dict[str, str]:
        """The JSON body of the answer: ``{"code": ..., "message": ...}``."""
        return {"code": self.code, "message": self.message}

    def headers(self) -> dict[str, str]:
        """The headers of the answer: ``WWW-Authenticate`` (unless a 403) and
        ``Cache-Control: no-store``."""
        headers = {"Cache-Control": "no-store"}
        if self.www_authenticate is not None:
            headers["WWW-Authenticate"] = self.www_authenticate
        return headers


class MissingToken(AuthError):
    """No bearer credentials: no ``Authorization`` header, another scheme, or a token only in
    the query string (never read). 401 with a bare ``Bearer realm=...`` challenge."""


class InvalidRequest(AuthError):
    """More than one ``Authorization`` header. 400 ``invalid_request``."""


class InvalidToken(AuthError):
    """The token (or the ``Bearer`` credential's syntax) was refused: malformed, bad signature,
    unknown key, algorithm not allowed, wrong issuer or audience, unsupported header, ...
    401 ``invalid_token``; ``kind`` says which."""


class TokenExpired(InvalidToken):
    """The token's ``exp`` is past (beyond the leeway). 401 ``TOKEN_EXPIRED``."""


class TokenRevoked(InvalidToken):
    """The token is valid but its session (``sid``) was signed out or revoked."""


class KeysUnavailable(InvalidToken):
    """No verification keys yet: the remote JWKS has never been fetched successfully."""


class Forbidden(AuthError):
    """A valid token used on another user's route (``{user_id}`` is not its ``sub``). 403."""
