"""The tasks API behind the Python sigil-guard: CRUD for the owner, 401/403 for everyone else,
input validated, and a signed-out session's token refused."""

from __future__ import annotations

import time


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_owner_manages_tasks(client, issuer):
    h = auth(issuer.token("alice"))
    assert (await client.get("/api/alice/tasks", headers=h)).json() == []
    created = []
    for title in ["Write the README", "Ship", "  Rest  "]:
        r = await client.post("/api/alice/tasks", headers=h, json={"title": title, "id": "x", "user_id": "bob"})
        assert r.status_code == 201, r.text
        created.append(r.json())
    assert created[2]["title"] == "Rest", "trimmed"
    assert all(t["user_id"] == "alice" and len(t["id"]) == 32 for t in created), "client ids ignored"
    tasks = (await client.get("/api/alice/tasks", headers=h)).json()
    assert [t["title"] for t in tasks] == ["Write the README", "Ship", "Rest"]

    first = created[0]["id"]
    r = await client.patch(f"/api/alice/tasks/{first}/complete", headers=h)
    assert r.json()["completed"] is True
    r = await client.patch(f"/api/alice/tasks/{first}/complete", headers=h, json={"completed": True})
    assert r.json()["completed"] is True, "set, not toggled"
    assert [t["title"] for t in (await client.get("/api/alice/tasks?status=completed", headers=h)).json()] == [
        "Write the README"
    ]
    assert len((await client.get("/api/alice/tasks?status=pending", headers=h)).json()) == 2
    assert (await client.get("/api/alice/tasks?status=odd", headers=h)).status_code == 422

    r = await client.put(
        f"/api/alice/tasks/{created[1]['id']}", headers=h, json={"title": "Ship it", "description": "today"}
    )
    assert (r.json()["title"], r.json()["description"], r.json()["completed"]) == ("Ship it", "today", False)
    assert (await client.get(f"/api/alice/tasks/{created[1]['id']}", headers=h)).json()["title"] == "Ship it"
    assert (await client.delete(f"/api/alice/tasks/{created[2]['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/alice/tasks/{created[2]['id']}", headers=h)).status_code == 404
    assert len((await client.get("/api/alice/tasks", headers=h)).json()) == 2


async def test_bad_input_changes_nothing(client, issuer):
    h = auth(issuer.token("alice"))
    for body in [{}, {"title": ""}, {"title": "   "}, {"title": "x" * 201}, {"title": "a\u0000b"},
                 {"title": "ok", "description": "d" * 1001}, {"title": 5}]:
        r = await client.post("/api/alice/tasks", headers=h, json=body)
        assert r.status_code == 422, body
    r = await client.post("/api/alice/tasks", headers={**h, "Content-Type": "application/json"}, content=b"{nope")
    assert r.status_code == 422
    assert (await client.get("/api/alice/tasks", headers=h)).json() == []


async def test_strangers_and_other_users_are_refused(client, issuer, guard):
    alice = auth(issuer.token("alice"))
    task = (await client.post("/api/alice/tasks", headers=alice, json={"title": "secret"})).json()
    r = await client.get("/api/alice/tasks")
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="sigil"'
    assert r.json()["code"] == "UNAUTHORIZED"
    r = await client.get("/api/alice/tasks", headers=auth("not.a.jwt"))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    mallory = auth(issuer.token("mallory"))
    for method, path in [
        ("GET", "/api/alice/tasks"),
        ("POST", "/api/alice/tasks"),
        ("GET", f"/api/alice/tasks/{task['id']}"),
        ("DELETE", f"/api/alice/tasks/{task['id']}"),
        ("PATCH", f"/api/alice/tasks/{task['id']}/complete"),
    ]:
        r = await client.request(method, path, headers=mallory, json={"title": "pwned"})
        assert r.status_code == 403, (method, path)
        assert r.json() == {"code": "FORBIDDEN", "message": "This resource belongs to another user"}
    # Alice's task id under Mallory's own path: not found (existence is not revealed).
    assert (await client.get(f"/api/mallory/tasks/{task['id']}", headers=mallory)).status_code == 404
    assert (await client.get(f"/api/alice/tasks/{task['id']}", headers=alice)).json()["title"] == "secret"


async def test_a_signed_out_sessions_token_is_refused(client, issuer, guard):
    token = issuer.token("alice", sid="session-9")
    assert (await client.get("/api/alice/tasks", headers=auth(token))).status_code == 200
    guard.deny_session("session-9", int(time.time()) + 900)  # what the Redis feed does on sign-out
    r = await client.get("/api/alice/tasks", headers=auth(token))
    assert r.status_code == 401 and "signed out" in r.headers["www-authenticate"]


async def test_cors_allows_the_front_end_without_credentials(client):
    r = await client.options(
        "/api/alice/tasks",
        headers={
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    assert "access-control-allow-credentials" not in r.headers
    r = await client.options(
        "/api/alice/tasks", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert r.headers.get("access-control-allow-origin") is None
