"""A remote JWKS through the Python package: cached, refetched on an unknown `kid` at most once per
interval, served from cache while the endpoint fails, and never blocking the event loop while a
fetch is slow (the Rust guard's crates/sigil-guard/tests/guard/remote_jwks.rs, seen from Python)."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from jose import Key, claims, sign

from sigil_guard import ConfigError, Guard, InvalidToken, JwksError, KeysUnavailable


class JwksServer:
    """A JWKS endpoint on 127.0.0.1:0 whose keys, status and delay a test changes at will."""

    def __init__(self, *keys: Key) -> None:
        self.keys = list(keys)
        self.status = 200
        self.delay = threading.Event()  # set: requests wait until `release` is set
        self.release = threading.Event()
        self.requests = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with server.lock:
                    server.requests += 1
                if server.delay.is_set():
                    server.release.wait(10)
                body = json.dumps({"keys": [k.public_jwk() for k in server.keys]}).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/auth/jwks"
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, key: Key, sub: str = "user-1") -> str:
        return sign(key, claims(sub, iss=self.issuer, aud=self.issuer))

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = JwksServer(Key.generate("EdDSA", "k1"))
    yield s
    s.stop()


async def test_the_jwks_is_fetched_once_and_cached(server):
    guard = await Guard.connect(jwks_url=server.url)
    assert guard.kids == ["k1"]
    assert server.requests == 1
    tokens = [server.token(server.keys[0], f"user-{i}") for i in range(20)]
    for t in tokens * 3:
        await guard.verify(t)
    assert server.requests == 1, "every verification used the cached keys"
    assert repr(guard) == f'Guard(jwks_url="{server.url}")'


async def test_an_unknown_kid_is_refetched_at_most_once_per_interval(server):
    guard = await Guard.connect(jwks_url=server.url, jwks_refetch_interval=30)
    rotated = Key.generate("EdDSA", "k2")
    server.keys.append(rotated)
    # The new key's token is accepted after one refetch.
    assert (await guard.verify(server.token(rotated))).user_id == "user-1"
    assert server.requests == 2
    assert sorted(guard.kids) == ["k1", "k2"]
    # 100 forged kids on a fresh guard: refused, with one refetch for the whole flood.
    fresh = await Guard.connect(jwks_url=server.url, jwks_refetch_interval=30)
    assert server.requests == 3
    forged = [server.token(Key.generate("EdDSA", f"forged-{i}")) for i in range(100)]
    results = await asyncio.gather(*(fresh.verify(t) for t in forged), return_exceptions=True)
    assert all(isinstance(r, InvalidToken) and r.kind == "unknown_key" for r in results)
    assert server.requests == 4, "one refetch for the whole flood"


async def test_cached_keys_are_served_while_the_endpoint_fails(server):
    guard = await Guard.connect(jwks_url=server.url, jwks_refetch_interval=0.001)
    token = server.token(server.keys[0])
    server.status = 500
    with pytest.raises(JwksError):
        await guard.refresh()
    assert (await guard.verify(token)).user_id == "user-1", "the 500 left the cached keys in place"
    server.stop()
    with pytest.raises(JwksError):
        await guard.refresh()
    assert (await guard.verify(token)).user_id == "user-1", "and so did the endpoint disappearing"
    with pytest.raises(InvalidToken) as caught:
        await guard.verify(server.token(Key.generate("EdDSA", "k9")))
    assert caught.value.kind == "unknown_key"


async def test_a_failed_first_fetch_is_401_then_recovers(server):
    server.status = 503
    guard = await Guard.connect(jwks_url=server.url, jwks_retry_interval=0.001)
    token = server.token(server.keys[0])
    with pytest.raises(KeysUnavailable) as caught:
        await guard.verify(token)
    assert (caught.value.status, caught.value.kind) == (401, "no_keys")
    server.status = 200
    await asyncio.sleep(0.01)  # past the retry interval of 1 ms
    assert (await guard.verify(token)).user_id == "user-1"


async def test_a_slow_jwks_does_not_stall_the_event_loop(server):
    """While one request waits for a JWKS fetch that hangs, the loop keeps serving others: a token
    of a known key verifies, and a plain coroutine runs, before the slow fetch is released."""
    guard = await Guard.connect(jwks_url=server.url)
    known = server.token(server.keys[0])
    rotated = Key.generate("EdDSA", "k2")
    server.keys.append(rotated)
    server.delay.set()  # the next fetch hangs until `release`
    slow = asyncio.create_task(guard.verify(server.token(rotated)))
    while server.requests < 2:  # the refetch has reached the server and is hanging there
        await asyncio.sleep(0.005)
    ticks = 0
    for _ in range(20):
        assert (await guard.verify(known)).user_id == "user-1"
        await asyncio.sleep(0)
        ticks += 1
    assert not slow.done(), "the slow verification is still waiting for its fetch"
    assert ticks == 20
    server.release.set()
    assert (await slow).user_id == "user-1", "and completes once the JWKS answers"


async def test_a_slow_first_fetch_does_not_block_connect(server):
    server.delay.set()
    connecting = asyncio.create_task(Guard.connect(jwks_url=server.url))
    while server.requests < 1:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.01)
    assert not connecting.done()
    server.release.set()
    guard = await connecting
    assert guard.kids == ["k1"]


def test_a_jwks_url_must_be_http(server):
    with pytest.raises(ConfigError):
        Guard(jwks_url="ftp://127.0.0.1/jwks")
    guard = Guard(jwks_url=server.url)  # the blocking constructor, for synchronous start-up code
    assert guard.verify_blocking(server.token(server.keys[0])).user_id == "user-1"
