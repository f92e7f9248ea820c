"""One FastAPI app, five ways to authenticate it: the benchmark of the Python sigil-guard.

`GET /api/{user_id}/tasks` answers a fixed two-task list for the caller (no database: the
benchmark isolates authentication). `BENCH_AUTH` picks the dependency:

  none            no authentication at all (what the rest of the request costs)
  pyjwt           PyJWT: `jwt.decode` with the EdDSA key parsed once from the JWKS file (as
                  PyJWKClient caches it), algorithm pinned, exp/iat/iss/aud/sub required, 60 s
                  leeway, 401/403 as the guard answers; the usual hand-written FastAPI verifier
  pyjwt-redis     pyjwt, plus what a PyJWT service must do to refuse a signed-out session: one
                  Redis round trip per request (EXISTS sigil:revoked:<sid>, the key Sigil sets)
  sigil           sigil_guard's dependency, static JWKS, verified-token cache off (every request
                  verifies the signature: the like-for-like row against pyjwt)
  sigil-cache     sigil_guard's dependency with its verified-token cache (the default)
  sigil-redis     sigil, cache off, following Sigil's Redis revocation feed (the deny-list is in
                  memory; the feed runs on the guard's runtime thread)

Environment: BENCH_AUTH, BENCH_JWKS_FILE, BENCH_ISSUER, BENCH_REDIS_URL.
"""

import json
import os

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

AUTH = os.environ.get("BENCH_AUTH", "none")
ISSUER = os.environ["BENCH_ISSUER"]
JWKS = open(os.environ["BENCH_JWKS_FILE"], encoding="utf-8").read()
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")

TASKS = [
    {"id": "a" * 32, "title": "Write the README", "description": "", "completed": True},
    {"id": "b" * 32, "title": "Ship the stack", "description": "today", "completed": False},
]

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


def unauthorized() -> HTTPException:
    return HTTPException(401, "invalid or missing token", headers={"WWW-Authenticate": 'Bearer realm="sigil"'})


if AUTH in ("pyjwt", "pyjwt-redis"):
    KEYS = {k["kid"]: jwt.PyJWK(k, algorithm="EdDSA").key for k in json.loads(JWKS)["keys"]}
    if AUTH == "pyjwt-redis":
        import redis.asyncio as aioredis

        REDIS = aioredis.from_url(REDIS_URL)

    async def caller(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            claims = jwt.decode(
                token,
                KEYS[kid],
                algorithms=["EdDSA"],
                issuer=ISSUER,
                audience=ISSUER,
                leeway=60,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, KeyError):
            raise unauthorized() from None
        if AUTH == "pyjwt-redis" and claims.get("sid") and await REDIS.exists(f"sigil:revoked:{claims['sid']}"):
            raise unauthorized()
        if claims["sub"] != request.path_params.get("user_id"):
            raise HTTPException(403, "this resource belongs to another user")
        return claims["sub"]

elif AUTH.startswith("sigil"):
    from sigil_guard import Guard
    from sigil_guard.fastapi import SigilAuth, install

    install(app)
    settings = {"jwks": JWKS, "issuer": ISSUER, "token_cache": AUTH == "sigil-cache"}
    if AUTH == "sigil-redis":
        settings["redis_url"] = REDIS_URL
    auth = SigilAuth(Guard(**settings))

    async def caller(user=Depends(auth)) -> str:  # noqa: B008 (FastAPI's idiom)
        return user.user_id

elif AUTH == "none":

    async def caller() -> str:
        return ""

else:
    raise SystemExit(f"unknown BENCH_AUTH {AUTH!r}")


@app.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}


@app.get("/api/{user_id}/tasks")
async def tasks(user_id: str, _caller: str = Depends(caller)) -> JSONResponse:
    return JSONResponse([{**t, "user_id": user_id} for t in TASKS])
