"""Fixtures: the app on a fresh SQLite file, guarded by a key of the test's own (a static JWKS),
and a client that signs tokens with it."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sigil_guard import Guard
from sigil_guard.fastapi import SigilAuth

from tasks_api.main import create_app

ISS = "https://auth.example"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """Signs EdDSA tokens as Sigil does (header alg/kid/typ; sub, iss, aud, iat, exp, sid)."""

    def __init__(self) -> None:
        self.key = ed25519.Ed25519PrivateKey.generate()
        x = b64(self.key.public_key().public_bytes_raw())
        self.jwks = json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA"}]})

    def token(self, sub: str, sid: str = "s1", **extra) -> str:
        now = int(time.time())
        claims = {"sub": sub, "iss": ISS, "aud": ISS, "iat": now, "exp": now + 900, "sid": sid, **extra}
        signing_input = (
            b64(json.dumps({"alg": "EdDSA", "kid": "k1", "typ": "JWT"}).encode())
            + "."
            + b64(json.dumps(claims).encode())
        )
        return signing_input + "." + b64(self.key.sign(signing_input.encode()))


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def guard(issuer: Issuer) -> Guard:
    return Guard(jwks=issuer.jwks, issuer=ISS)


@pytest.fixture
async def client(tmp_path, guard):
    app = create_app(f"sqlite:///{tmp_path / 'tasks.db'}", cors_origins=["http://app.example"], auth=SigilAuth(guard))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.example") as c:
            yield c
