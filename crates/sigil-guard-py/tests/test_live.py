"""The Python guard against a live Sigil: its JWKS, its tokens, and its sign-outs, learnt through
the Redis feed (at once) and through Sigil's database (by polling)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from conftest import redis_url

from sigil_guard import Guard, TokenRevoked


async def refused_within(guard: Guard, token: str, seconds: float) -> TokenRevoked:
    """Waits (polling, bounded) until `guard` refuses `token` as revoked."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            await guard.verify(token)
        except TokenRevoked as e:
            return e
        if time.monotonic() > deadline:
            pytest.fail(f"the token was still accepted {seconds} s after the sign-out")
        await asyncio.sleep(0.05)


async def test_sigils_tokens_verify_through_its_jwks(sigil):
    guard = await Guard.connect(jwks_url=sigil.jwks_url)
    published = httpx.get(sigil.jwks_url).json()["keys"]
    assert guard.kids == [k["kid"] for k in published]
    session = sigil.sign_up("Ada")
    user = await guard.verify(session.jwt)
    assert user.user_id == session.user_id
    assert user.email == session.email
    assert user.name == "Ada"
    assert user.session_id and user.claims["sid"] == user.session_id
    assert user.claims["iss"] == sigil.url and user.claims["aud"] == sigil.url
    assert user.expires_at > time.time()
    other = sigil.sign_up("Mallory")
    user = await guard.authenticate(f"Bearer {other.jwt}", path_user_id=other.user_id)
    assert user.user_id == other.user_id
    with pytest.raises(Exception) as caught:
        await guard.authenticate(f"Bearer {other.jwt}", path_user_id=session.user_id)
    assert caught.value.status == 403


async def test_a_sign_out_is_refused_at_once_through_redis(sigil):
    url = redis_url()
    if url is None:
        pytest.skip("SIGIL_TEST_REDIS_URL is not set (scripts/test sets it)")
    guard = await Guard.connect(jwks_url=sigil.jwks_url, redis_url=url)
    session = sigil.sign_up("Grace")
    assert (await guard.verify(session.jwt)).user_id == session.user_id
    sigil.sign_out(session)
    # "At once": Sigil publishes before it answers the sign-out; the feed receives the message
    # within milliseconds. Allow one second for a loaded machine, polling.
    e = await refused_within(guard, session.jwt, 1.0)
    assert (e.status, e.code, e.kind) == (401, "INVALID_TOKEN", "revoked")
    # A guard started after the sign-out learns it from the keys Sigil keeps on Redis.
    late = await Guard.connect(jwks_url=sigil.jwks_url, redis_url=url)
    assert late.is_session_denied((await guard_claims(sigil, session.jwt))["sid"])
    with pytest.raises(TokenRevoked):
        await late.verify(session.jwt)
    guard.close()
    late.close()


async def guard_claims(sigil, jwt: str) -> dict:
    plain = await Guard.connect(jwks_url=sigil.jwks_url)
    return (await plain.verify(jwt)).claims


async def test_a_sign_out_is_refused_through_sigils_database(sigil):
    guard = await Guard.connect(
        jwks_url=sigil.jwks_url,
        revocation_database_url=f"sqlite://{sigil.db}",
        revocation_poll_interval=0.1,
    )
    session = sigil.sign_up("Linus")
    assert (await guard.verify(session.jwt)).user_id == session.user_id
    sigil.sign_out(session)
    await refused_within(guard, session.jwt, 5.0)
    # A guard started later loads the table at once.
    late = await Guard.connect(jwks_url=sigil.jwks_url, revocation_database_url=f"sqlite://{sigil.db}")
    with pytest.raises(TokenRevoked):
        await late.verify(session.jwt)
    # The other sessions of the same user are untouched.
    again = sigil.sign_in(session.email)
    assert (await late.verify(again.jwt)).user_id == session.user_id
    guard.close()
    late.close()


async def test_configuration_from_the_environment(sigil):
    env = {
        "SIGIL_JWKS_URL": sigil.jwks_url,
        "SIGIL_REVOCATION_DATABASE_URL": f"sqlite://{sigil.db}",
        "SIGIL_JWT_LEEWAY": "30s",
        "SIGIL_TOKEN_CACHE": "off",
    }
    guard = await Guard.connect(env=env)
    session = sigil.sign_up("Barbara")
    assert (await guard.verify(session.jwt)).user_id == session.user_id
    sigil.sign_out(session)
    await refused_within(guard, session.jwt, 5.0)  # the default poll interval, 2 s
    # The issuer defaults to the JWKS URL's origin: another issuer is refused.
    strict = await Guard.connect(env={**env, "SIGIL_JWT_ISSUER": "https://elsewhere.example"})
    with pytest.raises(Exception) as caught:
        await strict.verify(sigil.sign_up("Edsger").jwt)
    assert caught.value.kind == "wrong_issuer"


async def test_a_revocation_feed_that_cannot_be_read_is_a_configuration_error(sigil, tmp_path):
    from sigil_guard import ConfigError

    with pytest.raises(ConfigError, match="revoked_sessions"):
        await Guard.connect(jwks_url=sigil.jwks_url, revocation_database_url=f"sqlite://{tmp_path}/none.db")
    empty = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(empty).close()
    with pytest.raises(ConfigError, match="revoked_sessions"):
        await Guard.connect(jwks_url=sigil.jwks_url, revocation_database_url=f"sqlite://{empty}")
    with pytest.raises(ConfigError, match="Redis"):
        await Guard.connect(jwks_url=sigil.jwks_url, redis_url="redis://127.0.0.1:1")
