"""The FastAPI dependency answers as the Rust guard's `require_path_user` layer does: the same
statuses, challenges, bodies and headers (crates/sigil-guard/tests/guard/http.rs), and the endpoint
never runs for a refused request."""

from __future__ import annotations

import time

import httpx
import pytest
from fastapi import Depends, FastAPI
from jose import ISS, Key, claims, jwks, sign

from sigil_guard import Guard
from sigil_guard.fastapi import SigilAuth, SigilUser, install

INVALID = 'Bearer realm="sigil", error="invalid_token", error_description="the access token is invalid"'


@pytest.fixture
def app_and_key():
    key = Key.generate("EdDSA", "k1")
    guard = Guard(jwks=jwks(key), issuer=ISS)
    user_dep = SigilAuth(guard)
    app = FastAPI()
    install(app)
    app.state.runs = 0

    @app.get("/api/{user_id}/hello")
    async def hello(user_id: str, user: SigilUser = Depends(user_dep)):
        app.state.runs += 1
        return {"user_id": user.user_id, "email": user.email, "role": user.claims.get("role")}

    @app.get("/me")
    async def me(user: SigilUser = Depends(user_dep)):
        return user.user_id

    return app, key, guard


async def call(app: FastAPI, path: str, *authorization: str) -> httpx.Response:
    headers = [("authorization", v) for v in authorization]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def test_the_owner_gets_through(app_and_key):
    app, key, _ = app_and_key
    t = sign(key, claims("alice", role="admin", email="alice@example.com"))
    r = await call(app, "/api/alice/hello", f"Bearer {t}")
    assert r.status_code == 200
    assert r.json() == {"user_id": "alice", "email": "alice@example.com", "role": "admin"}
    assert (await call(app, "/api/al%69ce/hello", f"bearer   {t}")).status_code == 200, "decoded once"
    assert app.state.runs == 2


async def test_refusals_carry_the_rust_guards_answers(app_and_key):
    app, key, guard = app_and_key
    good = sign(key, claims("alice", sid="s-1"))
    for path, auth in [("/api/alice/hello", ()), ("/me", ()), (f"/api/alice/hello?access_token={good}", ())]:
        r = await call(app, path, *auth)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="sigil"'
        assert r.headers["cache-control"] == "no-store"
        assert r.json() == {
            "code": "UNAUTHORIZED",
            "message": "Authentication required: send Authorization: Bearer <token>",
        }
    for auth in ["Bearer not-a-jwt", f"Bearer {sign(Key.generate('EdDSA', 'k1'), claims('alice'))}"]:
        r = await call(app, "/api/alice/hello", auth)
        assert (r.status_code, r.headers["www-authenticate"]) == (401, INVALID)
        assert r.json() == {"code": "INVALID_TOKEN", "message": "The access token is invalid"}
        assert good[:20] not in r.text
    expired = sign(key, claims("alice", exp=int(time.time()) - 3600))
    r = await call(app, "/api/alice/hello", f"Bearer {expired}")
    assert r.status_code == 401 and r.json()["code"] == "TOKEN_EXPIRED"
    assert 'error_description="the access token expired"' in r.headers["www-authenticate"]
    r = await call(app, "/api/alice/hello", f"Bearer {good}", f"Bearer {good}")
    assert r.status_code == 400 and 'error="invalid_request"' in r.headers["www-authenticate"]
    mallory = sign(key, claims("mallory"))
    for path in ["/api/alice/hello", "/api/Mallory/hello", "/api/mallory%20/hello"]:
        r = await call(app, path, f"Bearer {mallory}")
        assert r.status_code == 403, path
        assert "www-authenticate" not in r.headers
        assert r.json() == {"code": "FORBIDDEN", "message": "This resource belongs to another user"}
    assert (await call(app, "/me", f"Bearer {mallory}")).json() == "mallory"
    guard.deny_session("s-1", int(time.time()) + 600)
    r = await call(app, "/api/alice/hello", f"Bearer {good}")
    assert r.status_code == 401 and "the session was signed out" in r.headers["www-authenticate"]
    assert app.state.runs == 0, "the endpoint never ran for a refused request"


async def test_without_install_the_status_and_headers_are_the_same():
    key = Key.generate("EdDSA", "k1")
    app = FastAPI()
    dep = SigilAuth(Guard(jwks=jwks(key), issuer=ISS))

    @app.get("/api/{user_id}/x")
    async def x(user: SigilUser = Depends(dep)):
        return "ok"

    r = await call(app, "/api/alice/x")
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="sigil"'
    assert r.json()["detail"]["code"] == "UNAUTHORIZED"


async def test_the_default_dependency_is_configured_from_the_environment(monkeypatch):
    key = Key.generate("EdDSA", "k1")
    monkeypatch.setenv("SIGIL_JWKS", jwks(key))
    monkeypatch.setenv("SIGIL_JWT_ISSUER", ISS)
    dep = SigilAuth()
    app = FastAPI(lifespan=dep.lifespan)
    install(app)

    @app.get("/api/{user_id}/x")
    async def x(user_id: str, user: SigilUser = Depends(dep)):
        return user.user_id

    assert (await call(app, "/api/alice/x", f"Bearer {sign(key, claims('alice'))}")).json() == "alice"
    with pytest.raises(TypeError):
        SigilAuth(Guard(jwks=jwks(key), issuer=ISS), jwks_url="https://x.example/jwks")
