#!/usr/bin/env python3
"""PyJWT side of the token benchmark: the same tokens and keys as sigil-token's criterion bench.

Usage:
    bench.py TOKENS_JSON [--criterion DIR] [--out RESULTS_JSON]

TOKENS_JSON is written by `SIGIL_BENCH_EXPORT=... cargo bench -p sigil-token` (see
bench/token-vs-pyjwt). Every token is verified exactly as a FastAPI service would with PyJWT:
`jwt.decode` with the algorithm pinned, issuer and audience checked, exp/sub/iss/aud required and a
60 s leeway, against a key object parsed once (as PyJWKClient caches it). Signing times
`jwt.encode` with the same claims and a `kid` header.

With --criterion, criterion's estimates (target/criterion) are read and a comparison table is
printed: median ns per operation for both, and the ratio PyJWT / sigil-token.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jwt
from jwt import PyJWK


def b64d(s):
    import base64

    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e_int(i):
    import base64

    raw = i.to_bytes((i.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def int_of(s):
    return int.from_bytes(b64d(s), "big")


def private_key(jwk):
    """A signing key object for PyJWT from sigil-token's private JWK."""
    jwk = dict(jwk)
    if jwk["kty"] == "oct":
        return b64d(jwk["k"])
    if jwk["kty"] == "RSA" and "dp" not in jwk:
        # sigil-token stores n, e, d, p, q; PyJWT wants the CRT parameters too.
        d, p, q = int_of(jwk["d"]), int_of(jwk["p"]), int_of(jwk["q"])
        jwk["dp"] = b64e_int(d % (p - 1))
        jwk["dq"] = b64e_int(d % (q - 1))
        jwk["qi"] = b64e_int(pow(q, -1, p))
    return PyJWK(jwk).key


def public_key(case):
    if case["public_jwk"] is None:  # a shared secret
        return b64d(case["private_jwk"]["k"])
    return PyJWK(case["public_jwk"]).key


def measure(fn, min_seconds=0.25, repeats=7):
    """Median nanoseconds per call over `repeats` timed loops of at least `min_seconds` each."""
    fn()
    n = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter_ns() - start
        if elapsed >= min_seconds * 1e9:
            break
        n *= 2
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter_ns() - start) / n)
    return statistics.median(samples)


def run(doc):
    results = {"verify": {}, "sign": {}}
    issuer, audience, leeway = doc["issuer"], doc["audience"], doc["leeway"]
    claims = doc["claims"]
    for case in doc["cases"]:
        alg, token = case["alg"], case["token"]
        key = public_key(case)

        def verify():
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer,
                leeway=leeway,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )

        decoded = verify()
        assert decoded["sub"] == claims["sub"], alg
        results["verify"][alg] = measure(verify)

        signer = private_key(case["private_jwk"])
        headers = {"kid": case["kid"]}

        def sign():
            return jwt.encode(claims, signer, algorithm=alg, headers=headers)

        # What PyJWT signs, sigil-token verifies (and the other way round, above).
        assert jwt.decode(sign(), key, algorithms=[alg], audience=audience, issuer=issuer)
        results["sign"][alg] = measure(sign)
        print(
            f"  pyjwt {alg:6} verify {results['verify'][alg]:>10.0f} ns   sign {results['sign'][alg]:>10.0f} ns",
            file=sys.stderr,
        )
    return results


def criterion_median(directory, group, name):
    path = os.path.join(directory, group, name, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def table(doc, py, criterion_dir):
    algs = [c["alg"] for c in doc["cases"]]
    lines = [
        "| operation | algorithm | sigil-token | PyJWT | PyJWT / sigil-token |",
        "|---|---|---:|---:|---:|",
    ]
    for alg in algs:
        ours = criterion_median(criterion_dir, "verify", alg)
        theirs = py["verify"][alg]
        lines.append(
            f"| verify | {alg} | {fmt_ns(ours)} | {fmt_ns(theirs)} | {theirs / ours:.1f}× |"
        )
    for alg in algs:
        ours = criterion_median(criterion_dir, "verify_cached", alg)
        lines.append(
            f"| verify, cache hit | {alg} | {fmt_ns(ours)} | — (no cache) | "
            f"{py['verify'][alg] / ours:.0f}× vs PyJWT verify |"
        )
    for alg in algs:
        ours = criterion_median(criterion_dir, "sign", alg)
        theirs = py["sign"][alg]
        lines.append(
            f"| sign | {alg} | {fmt_ns(ours)} | {fmt_ns(theirs)} | {theirs / ours:.1f}× |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tokens")
    parser.add_argument("--criterion", help="criterion output directory (target/criterion)")
    parser.add_argument("--out", help="write PyJWT results as JSON here")
    args = parser.parse_args()
    with open(args.tokens) as f:
        doc = json.load(f)
    print(
        f"PyJWT {jwt.__version__} on Python {platform.python_version()}: "
        f"{len(doc['cases'])} tokens of {len(doc['cases'][0]['token'])} bytes (HS256)",
        file=sys.stderr,
    )
    py = run(doc)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"pyjwt": jwt.__version__, "python": platform.python_version(), **py}, f, indent=2)
    if args.criterion:
        print(table(doc, py, args.criterion))


if __name__ == "__main__":
    main()
