"""In-process cost of authenticating one request, without HTTP: what each FastAPI dependency of
app.py does per request, timed in one asyncio loop (median of 7 runs of N operations).

    micro.py OUT_DIR ISSUER REDIS_URL
"""

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import jwt
import redis.asyncio as aioredis

from sigil_guard import Guard


def main() -> None:
    out, issuer, redis_url = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    jwks = (out / "jwks.json").read_text()
    pairs = [line.split(" ") for line in (out / "tokens.txt").read_text().split("\n") if line]
    keys = {k["kid"]: jwt.PyJWK(k, algorithm="EdDSA").key for k in json.loads(jwks)["keys"]}
    results = asyncio.run(measure(pairs, keys, jwks, issuer, redis_url))
    print(json.dumps(results))


async def timed(op, pairs, n):
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for i in range(n):
            user, token = pairs[i % len(pairs)]
            await op(user, token)
        runs.append((time.perf_counter() - start) / n * 1e6)
    return round(statistics.median(runs), 2)


async def measure(pairs, keys, jwks, issuer, redis_url):
    redis = aioredis.from_url(redis_url)

    async def pyjwt(user, token):
        kid = jwt.get_unverified_header(token)["kid"]
        claims = jwt.decode(token, keys[kid], algorithms=["EdDSA"], issuer=issuer, audience=issuer, leeway=60,
                            options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        assert claims["sub"] == user
        return claims

    async def pyjwt_redis(user, token):
        claims = await pyjwt(user, token)
        assert not await redis.exists(f"sigil:revoked:{claims['sid']}")

    plain = Guard(jwks=jwks, issuer=issuer, token_cache=False)
    cached = Guard(jwks=jwks, issuer=issuer)
    fed = Guard(jwks=jwks, issuer=issuer, token_cache=False, redis_url=redis_url)

    def sigil(guard):
        async def op(user, token):
            await guard.authenticate(b"Bearer " + token.encode(), path_user_id=user)
        return op

    n = 2000
    one = pairs[:1]
    result = {
        "pyjwt": await timed(pyjwt, pairs, n),
        "sigil": await timed(sigil(plain), pairs, n),
        "sigil-cache": await timed(sigil(cached), one, n),
        "pyjwt-redis": await timed(pyjwt_redis, pairs, n),
        "sigil-redis": await timed(sigil(fed), pairs, n),
    }
    fed.close()
    await redis.aclose()
    return result


if __name__ == "__main__":
    main()
