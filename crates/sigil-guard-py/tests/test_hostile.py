"""The Rust guard's hostile-token cases (crates/sigil-token/tests/token/verify.rs and
crates/sigil-guard/tests/guard/http.rs), run through the Python package: every token the Rust guard
refuses is refused here with the same error kind (`VerifyError::kind` / `GuardError::kind`) and
the same HTTP answer."""

from __future__ import annotations

import json
import time

import pytest
from jose import ISS, Key, b64, b64decode, claims, craft, jwks, sign

from sigil_guard import (
    AuthError,
    ConfigError,
    Forbidden,
    Guard,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    TokenExpired,
    TokenRevoked,
)

ASYMMETRIC = ["EdDSA", "ES256", "RS256"]
SECRET = b"0123456789abcdef0123456789abcdef-hostile"
INVALID = 'Bearer realm="sigil", error="invalid_token", error_description="the access token is invalid"'


def guard_for(*keys: Key, **kwargs) -> Guard:
    """A guard holding `keys`: a static JWKS for asymmetric keys, the shared secret for HS256."""
    if keys and keys[0].alg.startswith("HS"):
        return Guard(secret=keys[0].private.decode(), issuer=ISS, **kwargs)
    return Guard(jwks=jwks(*keys), issuer=ISS, **kwargs)


def hs256() -> Key:
    return Key.hmac_secret(SECRET, "HS256", None)


async def refused(guard: Guard, token: str) -> AuthError:
    with pytest.raises(AuthError) as caught:
        await guard.verify(token)
    return caught.value


async def kind(guard: Guard, token: str) -> str:
    return (await refused(guard, token)).kind


async def test_every_algorithm_round_trips():
    for alg in ASYMMETRIC:
        k = Key.generate(alg)
        user = await guard_for(k).verify(sign(k))
        assert (user.user_id, user.session_id, user.email) == ("user-1", "s1", "a@b.c"), alg
    user = await guard_for(hs256()).verify(sign(hs256()))
    assert user.user_id == "user-1"
    assert user.claims["iss"] == ISS and user.claims["sid"] == "s1"


async def test_alg_none_in_any_spelling_is_refused():
    k = hs256()
    g = guard_for(k)
    payload = b64(json.dumps(claims()))
    for alg in ["none", "None", "NONE", "nOnE"]:
        header = b64(json.dumps({"alg": alg, "kid": "k1"}))
        for token in [f"{header}.{payload}.", f"{header}.{payload}.AAAA"]:
            e = await refused(g, token)
            assert isinstance(e, InvalidToken)
            assert e.kind in {"algorithm_not_allowed", "empty_segment", "signature_length"}, (alg, e.kind)


async def test_the_token_cannot_choose_the_algorithm():
    # Classic confusion: an HS256 token "signed" with the public key as the HMAC secret.
    for alg in ASYMMETRIC:
        k = Key.generate(alg)
        secret = json.dumps(k.public_jwk()).encode().ljust(32, b"\0")
        forger = Key.hmac_secret(secret, "HS256", "k1")
        assert await kind(guard_for(k), sign(forger)) == "algorithm_not_allowed", alg
    # HS512 in the header against an HS256 secret.
    token = craft('{"alg":"HS512"}', json.dumps(claims()), Key.hmac_secret(SECRET, "HS512"))
    assert await kind(guard_for(hs256()), token) == "algorithm_not_allowed"
    # A kid naming a held key of another algorithm.
    ed, es = Key.generate("EdDSA", "ed"), Key.generate("ES256", "es")
    token = craft('{"alg":"ES256","kid":"ed"}', json.dumps(claims()), es)
    assert await kind(guard_for(ed, es), token) == "algorithm_mismatch"


async def test_tampered_payload_header_or_signature_is_refused():
    for alg in ASYMMETRIC + ["HS256"]:
        k = hs256() if alg == "HS256" else Key.generate(alg)
        g = guard_for(k)
        h, p, s = sign(k).split(".")
        evil = claims(sub="admin")
        assert await kind(g, f"{h}.{b64(json.dumps(evil))}.{s}") == "bad_signature", alg
        other_header = b64(k.header(x=1))
        assert await kind(g, f"{other_header}.{p}.{s}") == "bad_signature", alg
        sig = bytearray(b64decode(s))
        sig[5] ^= 1
        assert await kind(g, f"{h}.{p}.{b64(bytes(sig))}") == "bad_signature", alg
        assert await kind(g, f"{h}.{p}.{b64(bytes(sig[:-1]))}") == "signature_length", alg


async def test_a_key_the_verifier_does_not_hold_is_refused():
    for alg in ASYMMETRIC:
        ours, theirs, other_kid = Key.generate(alg, "k1"), Key.generate(alg, "k1"), Key.generate(alg, "k2")
        g = guard_for(ours)
        assert await kind(g, sign(theirs)) == "bad_signature", alg
        assert await kind(g, sign(other_kid)) == "unknown_key", alg
    assert await kind(guard_for(hs256()), sign(Key.hmac_secret(b"x" * 40))) == "bad_signature"


async def test_kid_selects_among_held_keys_and_header_key_material_is_ignored():
    a, b = Key.generate("EdDSA", "a"), Key.generate("EdDSA", "b")
    g = guard_for(a, b)
    assert (await g.verify(sign(b))).user_id == "user-1"
    attacker = Key.generate("EdDSA", "b")
    header = json.dumps(
        {
            "alg": "EdDSA",
            "kid": "b",
            "jwk": attacker.public_jwk(),
            "jku": "https://evil.example/jwks",
            "x5u": "https://evil.example/x5u",
            "x5c": ["AAAA"],
        }
    )
    assert await kind(g, craft(header, json.dumps(claims()), attacker)) == "bad_signature"
    no_kid = craft('{"alg":"EdDSA"}', json.dumps(claims()), a)
    assert await kind(g, no_kid) == "unknown_key", "two keys and no kid: ambiguous"
    assert (await guard_for(a).verify(no_kid)).user_id == "user-1", "one key and no kid: used"


async def test_critical_and_unsupported_headers_are_refused():
    k = Key.generate("EdDSA", "k1")
    g = guard_for(k)
    for header in [
        '{"alg":"EdDSA","kid":"k1","crit":["exp"],"exp":1}',
        '{"alg":"EdDSA","kid":"k1","crit":["b64"],"b64":false}',
        '{"alg":"EdDSA","kid":"k1","crit":[]}',
        '{"alg":"EdDSA","kid":"k1","zip":"DEF"}',
        '{"alg":"EdDSA","kid":"k1","cty":"JWT"}',
        '{"alg":"EdDSA","kid":"k1","typ":"better-auth.session-cache+jwt"}',
        '{"alg":"EdDSA","kid":"k1","enc":"A256GCM"}',
        '{"alg":"EdDSA","kid":"k1","cty":"jwt"}',
        '{"alg":"EdDSA","kid":"k1","cty":7}',
    ]:
        assert await kind(g, craft(header, json.dumps(claims()), k)) == "unsupported_header", header
    ok = '{"alg":"EdDSA","kid":"k1","cty":"text/plain","x-custom":{"a":1}}'
    assert (await g.verify(craft(ok, json.dumps(claims()), k))).user_id == "user-1"


async def test_structure_is_checked_before_any_crypto():
    k = hs256()
    g = guard_for(k)
    good = sign(k)
    h, p, s = good.split(".")
    cases = {
        "": "segment_count",
        f"{h}.{p}": "segment_count",
        f"{good}.{p}.{s}": "segment_count",
        f"{h}..{s}": "empty_segment",
        f"{good[:10]}={good[10:]}": "base64",
        f" {good}": "base64",
        f"{h}+.{p}.{s}": "base64",
        '{"payload":"x","signatures":[]}': "base64",
        "a.b.c.d.e": "segment_count",
        craft("[1]", json.dumps(claims()), k): "header_json",
        craft('{"alg":"HS256","alg":"none"}', json.dumps(claims()), k): "header_json",
        craft('{"alg":"HS256"}', '{"sub":"a","sub":"admin","exp":9999999999}', k): "payload_json",
        "a" * 9000: "too_large",
    }
    for token, expected in cases.items():
        assert await kind(g, token) == expected, token[:60]


async def test_payload_must_be_a_json_object_behind_a_good_signature():
    k = hs256()
    g = guard_for(k)
    for payload in ["[]", '"sub"', "42", "null", "{", '{"sub":"a"} x']:
        assert await kind(g, craft('{"alg":"HS256"}', payload, k)) == "payload_json", payload


async def test_time_claims_with_leeway():
    k = Key.generate("EdDSA")
    g = guard_for(k)
    now = int(time.time())
    assert (await g.verify(sign(k, claims(exp=now - 30)))).user_id == "user-1", "inside the 60 s leeway"
    e = await refused(g, sign(k, claims(exp=now - 3600, iat=now - 7200)))
    assert isinstance(e, TokenExpired) and e.kind == "expired" and e.code == "TOKEN_EXPIRED"
    assert e.www_authenticate == (
        'Bearer realm="sigil", error="invalid_token", error_description="the access token expired"'
    )
    assert await kind(g, sign(k, claims(nbf=now + 3600))) == "not_yet_valid"
    assert await kind(g, sign(k, claims(iat=now + 3600))) == "issued_in_future"
    no_exp = claims()
    del no_exp["exp"]
    assert await kind(g, sign(k, no_exp)) == "missing_claim"
    assert await kind(g, sign(k, claims(exp="99999999999"))) == "invalid_claim"
    strict = guard_for(k, leeway=0)
    assert await kind(strict, sign(k, claims(exp=now - 2, iat=now - 100))) == "expired"


async def test_issuer_audience_and_subject_are_enforced():
    k = Key.generate("EdDSA")
    g = guard_for(k)

    def without(name: str) -> dict:
        c = claims()
        del c[name]
        return c

    assert await kind(g, sign(k, claims(iss="https://evil"))) == "wrong_issuer"
    assert await kind(g, sign(k, claims(iss="HTTPS://AUTH.EXAMPLE"))) == "wrong_issuer"
    assert await kind(g, sign(k, without("iss"))) == "wrong_issuer"
    assert await kind(g, sign(k, claims(aud="https://api"))) == "wrong_audience"
    assert await kind(g, sign(k, claims(aud=[]))) == "wrong_audience"
    assert await kind(g, sign(k, without("aud"))) == "wrong_audience"
    assert (await g.verify(sign(k, claims(aud=["x", ISS])))).user_id == "user-1"
    assert await kind(g, sign(k, claims(sub=""))) == "invalid_claim"
    assert await kind(g, sign(k, claims(sub=42))) == "invalid_claim"
    # An explicit audience is required as given.
    api = Guard(jwks=jwks(k), issuer=ISS, audience="https://api.example")
    assert await kind(api, sign(k)) == "wrong_audience"
    assert (await api.verify(sign(k, claims(aud="https://api.example")))).user_id == "user-1"


async def test_typ_must_name_a_jwt():
    k = Key.generate("EdDSA")
    g = guard_for(k)
    payload = json.dumps(claims())
    for typ in ["JWT", "jwt", "application/jwt", "application/JWT"]:
        assert (await g.verify(craft(json.dumps({"alg": "EdDSA", "kid": "k1", "typ": typ}), payload, k))).user_id
    assert (await g.verify(craft('{"alg":"EdDSA","kid":"k1"}', payload, k))).user_id, "typ is optional"
    for typ in ["at+jwt", "JWE", " JWT", "", None]:
        header = json.dumps({"alg": "EdDSA", "kid": "k1", "typ": typ})
        assert await kind(g, craft(header, payload, k)) == "unsupported_header", typ


async def test_ed25519_is_accepted_as_the_fully_specified_name_of_eddsa():
    k = Key.generate("EdDSA")
    g = guard_for(k)
    payload = json.dumps(claims())
    assert (await g.verify(craft('{"alg":"Ed25519","kid":"k1"}', payload, k))).user_id == "user-1"
    for alg in ["ed25519", "ED25519", "Ed448", "EdDSA "]:
        assert await kind(g, craft(json.dumps({"alg": alg, "kid": "k1"}), payload, k)) == "algorithm_not_allowed"


async def test_kid_is_a_bounded_string():
    k = Key.generate("EdDSA", "k" * 256)
    g = guard_for(k)
    assert (await g.verify(sign(k))).user_id == "user-1", "256 bytes"
    too_long = Key("EdDSA", "k" * 257, k.private)
    assert await kind(g, sign(too_long)) == "bad_kid"
    for kid in ["", 1, ["k"], {"k": 1}, None]:
        header = json.dumps({"alg": "EdDSA", "kid": kid})
        assert await kind(g, craft(header, json.dumps(claims()), k)) == "bad_kid", kid


async def test_the_size_cap_is_checked_first():
    k = Key.generate("EdDSA")
    big = sign(k, claims(pad="x" * 7000))
    assert len(big) > 8192
    assert await kind(guard_for(k), big) == "too_large"


async def test_a_secret_list_verifies_the_tokens_of_every_secret_during_a_rotation():
    """`secret=[new, old]`, as `SIGIL_JWT_SECRETS`: tokens signed before the rotation (old) and
    after it (new) both verify; a secret not in the list does not, nor does an HMAC token under
    another algorithm or a key id the list does not have."""
    new = Key.hmac_secret(b"the-new-secret-" + b"n" * 24)
    old = Key.hmac_secret(b"the-old-secret-" + b"o" * 24)
    g = Guard(secret=[new.private.decode(), old.private.decode()], issuer=ISS)
    for k in (new, old):
        assert (await g.verify(sign(k))).user_id == "user-1"
    assert await kind(g, sign(Key.hmac_secret(b"x" * 40))) == "bad_signature"
    assert await kind(g, sign(Key.hmac_secret(old.private, "HS384"))) == "algorithm_not_allowed"
    assert await kind(g, sign(Key.hmac_secret(old.private, "HS256", "k1"))) == "unknown_key"
    # A tuple is a list too; the retired secret, once dropped, verifies nothing.
    after = Guard(secret=(new.private.decode(),), issuer=ISS)
    assert (await after.verify(sign(new))).user_id == "user-1"
    assert await kind(after, sign(old)) == "bad_signature"
    with pytest.raises(ConfigError):
        Guard(secret=[], issuer=ISS)
    with pytest.raises(ConfigError):
        Guard(secret=[new.private.decode(), "x" * 31], issuer=ISS)


def test_short_secrets_and_contradictory_settings_are_refused():
    with pytest.raises(ConfigError):
        Guard(secret="x" * 31, issuer=ISS)
    with pytest.raises(ConfigError):
        Guard(secret="x" * 40)  # no issuer to require
    with pytest.raises(ConfigError):
        Guard(secret="x" * 40, jwks='{"keys":[]}', issuer=ISS)
    with pytest.raises(ConfigError):
        Guard(jwks_url="file:///etc/jwks.json")
    with pytest.raises(ConfigError):
        Guard(secret="x" * 40, issuer=ISS, leeway=301)
    with pytest.raises(ConfigError):
        Guard(env={})


# ---- the request-level cases of crates/sigil-guard/tests/guard/http.rs ----------------------------------


@pytest.fixture
def owner():
    k = Key.generate("EdDSA", "k1")
    return k, guard_for(k)


def bearer(token: str) -> str:
    return f"Bearer {token}"


async def test_the_owner_gets_through_with_every_claim(owner):
    k, g = owner
    t = sign(k, claims("alice", name="Alice", role="admin", sid="session-1", email="alice@example.com"))
    user = await g.authenticate(bearer(t), path_user_id="alice")
    assert (user.user_id, user.email, user.name, user.session_id) == (
        "alice",
        "alice@example.com",
        "Alice",
        "session-1",
    )
    assert user.claims["role"] == "admin"
    for scheme in ["bearer", "BEARER", "bEaReR"]:
        assert (await g.authenticate(f"{scheme}   {t}")).user_id == "alice"
    assert (await g.authenticate([bearer(t).encode()])).user_id == "alice", "raw header bytes"


async def test_no_credentials_get_a_bare_challenge(owner):
    _, g = owner
    for authorization in [None, [], "Basic YWxpY2U6c2VjcmV0"]:
        with pytest.raises(MissingToken) as caught:
            await g.authenticate(authorization)
        e = caught.value
        assert (e.status, e.code, e.kind) == (401, "UNAUTHORIZED", "missing")
        assert e.www_authenticate == 'Bearer realm="sigil"'
        assert e.headers()["Cache-Control"] == "no-store"


async def test_bad_credentials_get_invalid_token(owner):
    k, g = owner
    good = sign(k, claims("alice"))
    cases = {
        "garbage": ("Bearer not-a-jwt", "segment_count"),
        "empty": ("Bearer ", "malformed_header"),
        "comma": (f"Bearer {good},x", "malformed_header"),
        "tab": (f"Bearer\t{good}", "missing"),
        "other key": (bearer(sign(Key.generate("EdDSA", "k1"), claims("alice"))), "bad_signature"),
        "wrong audience": (bearer(sign(k, claims("alice", aud="https://other.example"))), "wrong_audience"),
        "too large": ("Bearer " + "a" * 9000, "too_large"),
        "alg none": (f"Bearer eyJhbGciOiJub25lIn0.{good.split('.')[1]}.", "empty_segment"),
        "non-ascii": ("Bearer é" + good, "malformed_header"),
    }
    for what, (authorization, expected) in cases.items():
        with pytest.raises(AuthError) as caught:
            await g.authenticate(authorization, path_user_id="alice")
        e = caught.value
        assert e.kind == expected, what
        assert good[:20] not in str(e) and good[:20] not in e.message, f"{what}: no echo"
        if expected != "missing":
            assert isinstance(e, InvalidToken), what
            assert (e.status, e.code, e.www_authenticate) == (401, "INVALID_TOKEN", INVALID), what


async def test_two_authorization_headers_are_an_invalid_request(owner):
    k, g = owner
    t = bearer(sign(k, claims("alice")))
    with pytest.raises(InvalidRequest) as caught:
        await g.authenticate([t, t])
    assert caught.value.status == 400
    assert 'error="invalid_request"' in caught.value.www_authenticate


async def test_another_users_route_is_403(owner):
    k, g = owner
    t = bearer(sign(k, claims("mallory")))
    for path_user in ["alice", "Mallory", "mallory ", "mallory/"]:
        with pytest.raises(Forbidden) as caught:
            await g.authenticate(t, path_user_id=path_user)
        e = caught.value
        assert (e.status, e.code, e.www_authenticate) == (403, "FORBIDDEN", None)
    assert (await g.authenticate(t)).user_id == "mallory", "without a path user: authentication only"


async def test_a_signed_out_sessions_tokens_are_refused_even_from_the_cache(owner):
    k, g = owner
    t = sign(k, claims("alice", sid="session-1"))
    assert (await g.verify(t)).session_id == "session-1"  # now in the verified-token cache
    g.deny_session("session-1", int(time.time()) + 600)
    assert g.is_session_denied("session-1")
    with pytest.raises(TokenRevoked) as caught:
        await g.verify(t)
    assert caught.value.kind == "revoked"
    assert "the session was signed out" in caught.value.www_authenticate
    assert (await g.verify(sign(k, claims("alice", sid="session-2")))).user_id == "alice"


def test_verify_blocking_for_synchronous_code(owner):
    k, g = owner
    assert g.verify_blocking(sign(k, claims("alice"))).user_id == "alice"
    with pytest.raises(TokenExpired):
        g.verify_blocking(sign(k, claims("alice", exp=int(time.time()) - 3600)))


def test_a_guard_used_after_a_fork_raises_instead_of_hanging(owner):
    import os

    k, g = owner
    token = sign(k, claims("alice"))
    assert g.verify_blocking(token).user_id == "alice"  # the runtime is running
    pid = os.fork()
    if pid == 0:  # the child: the runtime's threads did not survive the fork
        code = 1
        try:
            g.verify_blocking(token)
        except RuntimeError as e:
            code = 0 if "forked" in str(e) else 2
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
