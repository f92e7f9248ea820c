"""A few JSON HTTP calls for setting up each side (sign-up, tokens, seeding tasks); not used under load."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


class Reply:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body) if self.body else None

    def __repr__(self) -> str:
        return f"<{self.status} {self.body[:300]!r}>"


def call(method: str, url: str, body=None, bearer: str | None = None, timeout: float = 30.0) -> Reply:
    data = None
    headers = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def expect(reply: Reply, what: str, status: int = 200) -> Reply:
    if reply.status != status:
        raise RuntimeError(f"{what}: expected {status}, got {reply!r}")
    return reply
