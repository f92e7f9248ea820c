"""Writes the benchmark's key and tokens: an Ed25519 key (kid k1) as a JWKS file, and N tokens
shaped as Sigil issues them (header alg/kid/typ; sub, email, name, iat, exp, iss, aud, sid, jti),
one per user, as `<user_id> <token>` lines for wrk (tokens.txt).

    mktokens.py OUT_DIR ISSUER N
"""

import base64
import json
import secrets
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    out, issuer, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    key = ed25519.Ed25519PrivateKey.generate()
    x = b64(key.public_key().public_bytes_raw())
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA", "use": "sig"}]}
    (out / "jwks.json").write_text(json.dumps(jwks))
    header = b64(json.dumps({"alg": "EdDSA", "kid": "k1", "typ": "JWT"}, separators=(",", ":")).encode())
    now = int(time.time())
    lines = []
    for i in range(n):
        user = secrets.token_hex(16)
        claims = {
            "sub": user,
            "email": f"user{i}@example.com",
            "name": f"User {i}",
            "iat": now,
            "exp": now + 3600,
            "iss": issuer,
            "aud": issuer,
            "sid": secrets.token_hex(16),
            "jti": secrets.token_hex(16),
        }
        payload = b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}"
        lines.append(f"{user} {signing_input}.{b64(key.sign(signing_input.encode()))}")
    (out / "tokens.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
