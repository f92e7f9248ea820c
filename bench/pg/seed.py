#!/usr/bin/env python3
"""Seeds a running Sigil for the PostgreSQL/SQLite tasks benchmark (bench/pg/run).

Signs up N users over HTTP (the same requests on both databases), gives each T tasks, mints
each user's JWT from /api/auth/token, and writes "user_id token" lines to the output file for
bench/pg/users.lua. Standard library only.

    seed.py BASE_URL USERS TASKS OUT
"""

import concurrent.futures
import json
import sys
import urllib.error
import urllib.request


def call(method, url, body=None, bearer=None):
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if bearer:
        headers["Authorization"] = "Bearer " + bearer
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def seed_one(base, i, tasks):
    email = f"bench-{i}@example.com"
    status, headers, body = call("POST", base + "/api/auth/sign-up/email",
                                 {"name": f"Bench {i}", "email": email, "password": "bench-password-123"})
    if status != 200:
        raise RuntimeError(f"sign-up {i}: {status} {body[:200]!r}")
    reply = json.loads(body)
    session = headers.get("set-auth-token") or reply["token"]
    user_id = reply["user"]["id"]
    status, _, body = call("GET", base + "/api/auth/token", bearer=session)
    if status != 200:
        raise RuntimeError(f"token {i}: {status} {body[:200]!r}")
    jwt = json.loads(body)["token"]
    for t in range(tasks):
        status, _, body = call("POST", base + f"/api/{user_id}/tasks",
                               {"title": f"task {t} of user {i}", "description": "x" * 40}, bearer=jwt)
        if status != 201:
            raise RuntimeError(f"task {i}/{t}: {status} {body[:200]!r}")
    status, _, body = call("GET", base + f"/api/{user_id}/tasks", bearer=jwt)
    if status != 200 or len(json.loads(body)) != tasks:
        raise RuntimeError(f"list {i}: {status} {body[:200]!r}")
    return user_id, jwt


def main():
    base, users, tasks, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(lambda i: seed_one(base, i, tasks), range(users)))
    with open(out, "w") as f:
        for user_id, jwt in rows:
            f.write(f"{user_id} {jwt}\n")


if __name__ == "__main__":
    main()
