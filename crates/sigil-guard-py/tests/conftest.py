"""Fixtures: a live Sigil (`sigil serve` on port 0 with a fresh SQLite database) and a client
that signs users up, in and out over HTTP, as the official client does."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]


def sigil_binary() -> Path:
    binary = Path(os.environ.get("SIGIL_BIN", ROOT / "target" / "debug" / "sigil"))
    if not binary.exists():
        pytest.fail(f"no sigil binary at {binary}: run `cargo build -p sigil` (or set SIGIL_BIN)")
    return binary


def redis_url() -> str | None:
    return os.environ.get("SIGIL_TEST_REDIS_URL") or None


@dataclass
class Session:
    user_id: str
    email: str
    session_token: str
    jwt: str


class Sigil:
    """A running `sigil serve`."""

    def __init__(self, *, redis: str | None) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="sigil-pyguard-")
        self.db = Path(self.dir.name) / "sigil.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGIL_") and k != "DATABASE_URL"}
        env.update(
            SIGIL_ADDR="127.0.0.1:0",
            DATABASE_URL=f"sqlite://{self.db}",
            SIGIL_SECRET=secrets.token_urlsafe(32),
            SIGIL_RATE_LIMIT="off",
            SIGIL_ARGON2_MEMORY_KIB="8192",
            SIGIL_ARGON2_ITERATIONS="1",
            SIGIL_LOG="warn",
        )
        if redis:
            env["SIGIL_REDIS_URL"] = redis
        self.log = open(Path(self.dir.name) / "sigil.log", "w+b")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [str(sigil_binary()), "serve"], env=env, stdout=subprocess.PIPE, stderr=self.log
        )
        self.url = self._wait_for_url()
        # As a browser on Sigil's own origin would (Sigil checks Origin on cookie requests).
        self.client = httpx.Client(base_url=self.url, timeout=10, headers={"Origin": self.url})

    def _wait_for_url(self) -> str:
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:
            # Keeps draining stdout after the URL so the server never blocks on a full pipe.
            assert self.process.stdout is not None
            for line in self.process.stdout:
                match = re.search(rb"Sigil listening on (\S+)", line)
                if match and not found:
                    found.append(match.group(1).decode().rstrip("/"))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        ready.wait(30)
        if not found:
            self.stop()
            raise RuntimeError("sigil serve did not start within 30 s")
        return found[0]

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/api/auth/jwks"

    def sign_up(self, name: str = "Ada") -> Session:
        email = f"{name.lower()}-{secrets.token_hex(4)}@example.com"
        r = self.client.post("/api/auth/sign-up/email", json={"name": name, "email": email, "password": "a long passphrase"})
        assert r.status_code == 200, r.text
        return self._session(r.json()["token"], email)

    def sign_in(self, email: str) -> Session:
        r = self.client.post("/api/auth/sign-in/email", json={"email": email, "password": "a long passphrase"})
        assert r.status_code == 200, r.text
        return self._session(r.json()["token"], email)

    def _session(self, session_token: str, email: str) -> Session:
        auth = {"Authorization": f"Bearer {session_token}"}
        user_id = self.client.get("/api/auth/get-session", headers=auth).json()["user"]["id"]
        jwt = self.client.get("/api/auth/token", headers=auth).json()["token"]
        return Session(user_id, email, session_token, jwt)

    def sign_out(self, session: Session) -> None:
        r = self.client.post("/api/auth/sign-out", headers={"Authorization": f"Bearer {session.session_token}"})
        assert r.status_code == 200 and r.json() == {"success": True}, r.text

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        self.dir.cleanup()


@pytest.fixture(scope="module")
def sigil():
    s = Sigil(redis=redis_url())
    yield s
    s.stop()
