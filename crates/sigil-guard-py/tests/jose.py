"""Test helpers: keys of every algorithm the guard accepts, public JWKs, and tokens crafted from
raw JSON texts (so a test controls every byte an attacker would), signed with `cryptography`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISS = "https://auth.example"


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(n: int, length: int | None = None) -> str:
    length = length or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(length, "big"))


@dataclass
class Key:
    alg: str
    kid: str | None
    private: Any

    @staticmethod
    def generate(alg: str, kid: str | None = "k1") -> Key:
        if alg == "EdDSA":
            private: Any = ed25519.Ed25519PrivateKey.generate()
        elif alg == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif alg == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg.startswith("HS"):
            private = hashlib.sha512(repr((alg, kid, time.time_ns())).encode()).digest()
        else:
            raise ValueError(alg)
        return Key(alg, kid, private)

    @staticmethod
    def hmac_secret(secret: bytes, alg: str = "HS256", kid: str | None = None) -> Key:
        return Key(alg, kid, secret)

    def sign_raw(self, data: bytes) -> bytes:
        if self.alg == "EdDSA":
            return self.private.sign(data)
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if self.alg == "RS256":
            return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[self.alg]
        return hmac.new(self.private, data, digest).digest()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any]
        if self.alg == "EdDSA":
            raw = self.private.public_key().public_bytes_raw()
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        elif self.alg == "ES256":
            numbers = self.private.public_key().public_numbers()
            jwk = {"kty": "EC", "crv": "P-256", "x": _int_b64(numbers.x, 32), "y": _int_b64(numbers.y, 32)}
        elif self.alg == "RS256":
            numbers = self.private.public_key().public_numbers()
            jwk = {"kty": "RSA", "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
        else:
            raise ValueError("no public JWK for an HMAC key")
        jwk["alg"] = self.alg
        jwk["use"] = "sig"
        if self.kid is not None:
            jwk["kid"] = self.kid
        return jwk

    def header(self, **extra: Any) -> str:
        header: dict[str, Any] = {"alg": self.alg, "typ": "JWT"}
        if self.kid is not None:
            header["kid"] = self.kid
        header.update(extra)
        return json.dumps(header)


def jwks(*keys: Key) -> str:
    return json.dumps({"keys": [k.public_jwk() for k in keys]})


def claims(sub: str = "user-1", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": sub,
        "iss": ISS,
        "aud": ISS,
        "iat": now,
        "exp": now + 900,
        "sid": "s1",
        "email": "a@b.c",
    }
    base.update(extra)
    return base


def craft(header: str, payload: str, key: Key) -> str:
    """A token from raw JSON texts, signed by `key` over exactly what is sent."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    return f"{signing_input}.{b64(key.sign_raw(signing_input.encode()))}"


def sign(key: Key, payload: dict[str, Any] | None = None, **header: Any) -> str:
    return craft(key.header(**header), json.dumps(payload if payload is not None else claims()), key)
