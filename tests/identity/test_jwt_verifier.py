"""JwtVerifier and JwksCache in isolation: every rejection path, with a fetcher that counts what it is asked for."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest

from gateway.errors import AuthenticationError
from gateway.identity import jwt_auth
from gateway.identity.config import JwtConfig
from gateway.identity.jwt_auth import JwtVerifier
from gateway.upstream import FetchError
from tests.identity.support import (
    AUDIENCE,
    HS_SECRET,
    ISSUER,
    IdpKeys,
    SigningKey,
    b64url,
    b64url_decode,
    claims,
    forge,
    jwks_of,
    sign,
    sign_hs256,
    with_payload,
)

JWKS_URL = "http://idp.test/realms/acme/jwks.json"


class FakeIdp:
    """A fetcher serving one body (or failing), recording every URL it is asked for."""

    def __init__(self, body: bytes = b"", error: str | None = None) -> None:
        self.body = body
        self.error = error
        self.urls: list[str] = []

    async def __call__(self, url: str, deadline: float, max_bytes: int) -> bytes:
        self.urls.append(url)
        await asyncio.sleep(0)
        if self.error is not None:
            raise FetchError(self.error)
        return self.body


def config(**overrides: Any) -> JwtConfig:
    base = JwtConfig(algorithms=("RS256",), jwks_url=JWKS_URL, issuer=ISSUER, audience=AUDIENCE)
    return dataclasses.replace(base, **overrides)


def verifier(keys: tuple[SigningKey, ...], **overrides: Any) -> tuple[JwtVerifier, FakeIdp]:
    idp = FakeIdp(orjson.dumps(jwks_of(*keys)))
    return JwtVerifier(config(**overrides), idp), idp


async def rejected(verify: JwtVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as caught:
        await verify.verify(token)
    assert caught.value.status == 401
    assert caught.value.code == "invalid_token"
    assert token not in caught.value.message
    return caught.value.message


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
async def test_asymmetric_tokens_are_accepted(idp_keys: IdpKeys, algorithm: str) -> None:
    key = {"RS256": idp_keys.rsa, "ES256": idp_keys.ec, "EdDSA": idp_keys.ed}[algorithm]
    verify, idp = verifier((idp_keys.rsa, idp_keys.ec, idp_keys.ed), algorithms=(algorithm,))
    principal = await verify.verify(sign(key, claims(team="platform")))
    assert (principal.subject, principal.roles, principal.team) == ("alice", ("developer",), "platform")
    assert (principal.method, principal.issuer, principal.key_id) == ("jwt", ISSUER, None)
    assert idp.urls == [JWKS_URL]


async def test_hs256_tokens_are_accepted_with_the_shared_secret() -> None:
    verify = JwtVerifier(config(algorithms=("HS256",), jwks_url=None, secret=HS_SECRET), FakeIdp())
    principal = await verify.verify(sign_hs256(claims(sub="svc-batch", roles=["batch"])))
    assert (principal.subject, principal.roles, principal.team) == ("svc-batch", ("batch",), "default")
    await rejected(verify, sign_hs256(claims(), secret=HS_SECRET[::-1]))


@pytest.mark.parametrize(
    ("overrides", "payload", "expected"),
    [
        (
            {"subject_claim": "preferred_username", "roles_claim": "realm_access.roles", "team_claim": "org.team"},
            {"preferred_username": "carol", "realm_access": {"roles": ["developer", "auditor"]}, "org": {"team": "rs"}},
            ("carol", ("developer", "auditor"), "rs"),
        ),
        (
            {"roles_claim": "groups"},
            {"groups": ["developer"], "team": "platform"},
            ("alice", ("developer",), "platform"),
        ),
        (
            {"roles_claim": "scope", "default_team": "everyone"},
            {"scope": "openid developer  email"},
            ("alice", ("openid", "developer", "email"), "everyone"),
        ),
        ({"roles_claim": "realm_access.roles"}, {"realm_access": "not-an-object"}, ("alice", (), "default")),
    ],
)
async def test_subject_roles_and_team_come_from_configured_claim_paths(
    idp_keys: IdpKeys, overrides: dict[str, Any], payload: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    verify, _ = verifier((idp_keys.rsa,), **overrides)
    principal = await verify.verify(sign(idp_keys.rsa, claims(roles=None, **payload)))
    assert (principal.subject, principal.roles, principal.team) == expected


async def test_a_token_without_a_subject_is_refused(idp_keys: IdpKeys) -> None:
    verify, _ = verifier((idp_keys.rsa,))
    assert "'sub'" in await rejected(verify, sign(idp_keys.rsa, claims(sub=None)))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
async def test_unsigned_tokens_are_refused_before_any_key_lookup(idp_keys: IdpKeys, alg: str) -> None:
    verify, idp = verifier((idp_keys.rsa,), algorithms=("RS256", "HS256"), secret=HS_SECRET)
    token = forge({"alg": alg, "typ": "JWT", "kid": idp_keys.rsa.kid}, claims(roles=["admin"]))
    assert "algorithm is not accepted" in await rejected(verify, token)
    assert idp.urls == []


async def test_hs256_signed_with_the_rsa_public_key_is_refused_when_rs256_is_pinned(idp_keys: IdpKeys) -> None:
    verify, idp = verifier((idp_keys.rsa,))
    token = forge({"alg": "HS256", "typ": "JWT", "kid": idp_keys.rsa.kid}, claims(), hmac_key=idp_keys.rsa.public_pem)
    assert "algorithm is not accepted" in await rejected(verify, token)
    assert idp.urls == []


async def test_hs256_signed_with_the_rsa_public_key_is_refused_when_both_are_allowed(idp_keys: IdpKeys) -> None:
    verify, _ = verifier((idp_keys.rsa,), algorithms=("RS256", "HS256"), secret=HS_SECRET)
    # The genuine keys work, so a refusal below is about the forgery, not the configuration.
    await verify.verify(sign(idp_keys.rsa, claims()))
    await verify.verify(sign_hs256(claims()))
    for material in (idp_keys.rsa.public_pem, idp_keys.rsa.public_pem.strip(), orjson.dumps(idp_keys.rsa.jwk)):
        token = forge({"alg": "HS256", "typ": "JWT", "kid": idp_keys.rsa.kid}, claims(), hmac_key=material)
        await rejected(verify, token)


async def test_a_key_is_only_used_with_its_own_algorithm_family(idp_keys: IdpKeys) -> None:
    verify, _ = verifier((idp_keys.rsa, idp_keys.ec), algorithms=("RS256", "ES256"))
    # An RS256 header naming the EC key: the EC key must not be tried as an RSA key.
    token = sign(idp_keys.rsa, claims(), kid=idp_keys.ec.kid)
    assert "does not match its signing key" in await rejected(verify, token)


async def test_expired_tokens_are_refused_and_leeway_is_honoured(idp_keys: IdpKeys) -> None:
    now = int(time.time())
    strict, _ = verifier((idp_keys.rsa,), leeway=0.0)
    lenient, _ = verifier((idp_keys.rsa,), leeway=30.0)
    ten_seconds_late = sign(idp_keys.rsa, claims(exp=now - 10, iat=now - 100))
    assert await rejected(strict, ten_seconds_late) == "the token has expired"
    assert (await lenient.verify(ten_seconds_late)).subject == "alice"
    assert await rejected(lenient, sign(idp_keys.rsa, claims(exp=now - 60, iat=now - 100))) == "the token has expired"


async def test_tokens_not_valid_yet_are_refused(idp_keys: IdpKeys) -> None:
    verify, _ = verifier((idp_keys.rsa,), leeway=5.0)
    now = int(time.time())
    assert "not valid yet" in await rejected(verify, sign(idp_keys.rsa, claims(nbf=now + 120)))
    assert (await verify.verify(sign(idp_keys.rsa, claims(nbf=now + 2)))).subject == "alice"


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (claims(aud="another-service"), "audience"),
        (claims(aud=["another-service", "billing"]), "audience"),
        (claims(aud=None), "'aud'"),
        (claims(iss="https://evil.example/realms/acme"), "issuer"),
        (claims(iss=None), "'iss'"),
        (claims(exp=None), "'exp'"),
        (claims(exp="tomorrow"), "invalid"),
    ],
)
async def test_claim_checks(idp_keys: IdpKeys, payload: dict[str, Any], fragment: str) -> None:
    verify, _ = verifier((idp_keys.rsa,))
    assert fragment in await rejected(verify, sign(idp_keys.rsa, payload))


async def test_an_audience_list_naming_the_gateway_is_accepted(idp_keys: IdpKeys) -> None:
    verify, _ = verifier((idp_keys.rsa,))
    assert (await verify.verify(sign(idp_keys.rsa, claims(aud=["billing", AUDIENCE])))).subject == "alice"


async def test_a_tampered_payload_is_refused(idp_keys: IdpKeys) -> None:
    verify, _ = verifier((idp_keys.rsa, idp_keys.ed), algorithms=("RS256", "EdDSA"))
    for key in (idp_keys.rsa, idp_keys.ed):
        token = sign(key, claims())
        assert (await verify.verify(token)).roles == ("developer",)
        payload = orjson.loads(b64url_decode(token.split(".")[1]))
        for change in ({"roles": ["admin"]}, {"sub": "root"}, {"exp": payload["exp"] + 86400}):
            assert "signature is invalid" in await rejected(verify, with_payload(token, {**payload, **change}))


async def test_a_token_signed_by_an_unpublished_key_is_refused(idp_keys: IdpKeys) -> None:
    verify, _ = verifier((idp_keys.rsa,))
    # The attacker's key under the genuine kid.
    assert "signature" in await rejected(verify, sign(idp_keys.attacker, claims(), kid=idp_keys.rsa.kid))
    # The attacker's public key embedded in the header, or a key set URL of the attacker's.
    embedded = sign(idp_keys.attacker, claims(), jwk=idp_keys.attacker.jwk, jku="http://127.0.0.1:9/jwks.json")
    assert "unknown key" in await rejected(verify, embedded)


def malformed_token(name: str, key: SigningKey) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
    signed_header = sign(key, claims()).split(".")[0]
    tokens: dict[str, Callable[[], str]] = {
        "garbage": lambda: "a.b.c",
        "empty parts": lambda: "..",
        "payload not base64": lambda: f"{signed_header}.!!!.abc",
        "header a list": lambda: f"{b64url(b'[1, 2]')}.{b64url(b'{}')}.",
        "header not json": lambda: f"{b64url(b'not json')}.{b64url(b'{}')}.",
        "unsupported crit": lambda: forge({**header, "crit": ["exp"]}, claims()),
        "crit not a list": lambda: forge({**header, "crit": "b64"}, claims()),
        "signed payload not json": lambda: jwt.api_jws.encode(
            b"not json", key.private, algorithm="RS256", headers={"kid": key.kid}
        ),
        "signed payload a list": lambda: jwt.api_jws.encode(
            b"[1, 2, 3]", key.private, algorithm="RS256", headers={"kid": key.kid}
        ),
    }
    return tokens[name]()


@pytest.mark.parametrize(
    "name",
    [
        "garbage",
        "empty parts",
        "payload not base64",
        "header a list",
        "header not json",
        "unsupported crit",
        "crit not a list",
        "signed payload not json",
        "signed payload a list",
    ],
)
async def test_malformed_tokens_are_a_401_not_a_crash(idp_keys: IdpKeys, name: str) -> None:
    verify, _ = verifier((idp_keys.rsa,))
    await rejected(verify, malformed_token(name, idp_keys.rsa))


async def test_oversized_tokens_are_refused_without_parsing(idp_keys: IdpKeys) -> None:
    verify, idp = verifier((idp_keys.rsa,), max_token_bytes=1024)
    big = sign(idp_keys.rsa, claims(padding="x" * 1200))
    assert "larger than 1024 bytes" in await rejected(verify, big)
    assert idp.urls == []
    assert (await verify.verify(sign(idp_keys.rsa, claims()))).subject == "alice"


@pytest.mark.parametrize(
    "kid",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "file:///etc/passwd",
        "http://evil.example/jwks.json",
        "rsa-1/../../admin",
        "rsa-1%00",
        "' OR '1'='1",
    ],
)
async def test_kid_tricks_only_ever_fetch_the_configured_url(idp_keys: IdpKeys, kid: str) -> None:
    verify, idp = verifier((idp_keys.rsa,))
    assert "unknown key" in await rejected(verify, sign(idp_keys.rsa, claims(), kid=kid))
    assert idp.urls == [JWKS_URL]


@pytest.mark.parametrize(
    "kid",
    ["k" * 257, "rsa-1\x00", "rsa-1\n", "\x1b[31mred", "rsa\u200b-1", 42, ["rsa-1"], {"a": 1}],
    ids=["257 chars", "nul", "newline", "escape", "zero-width space", "number", "list", "object"],
)
async def test_unprintable_overlong_or_non_string_kids_are_refused_without_a_fetch(
    idp_keys: IdpKeys, kid: object
) -> None:
    verify, idp = verifier((idp_keys.rsa,))
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    token = forge(header, claims(), hmac_key=b"irrelevant")
    await rejected(verify, token)
    assert idp.urls == []


async def test_a_burst_of_unknown_kids_fetches_the_key_set_once(idp_keys: IdpKeys) -> None:
    verify, idp = verifier((idp_keys.rsa,))
    tokens = [sign(idp_keys.attacker, claims(), kid=f"random-{i}") for i in range(50)]
    results = await asyncio.gather(*(verify.verify(t) for t in tokens), return_exceptions=True)
    assert all(isinstance(r, AuthenticationError) and r.status == 401 for r in results)
    assert idp.urls == [JWKS_URL]
    # The one fetch also loaded the genuine keys: known kids need no fetch at all.
    await verify.verify(sign(idp_keys.rsa, claims()))
    assert len(idp.urls) == 1


async def test_a_rotated_key_is_picked_up_on_first_use(idp_keys: IdpKeys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwt_auth, "REFRESH_INTERVAL", 0.2)
    verify, idp = verifier((idp_keys.rsa,))
    await verify.verify(sign(idp_keys.rsa, claims()))
    assert len(idp.urls) == 1
    # Within the refresh interval an unknown kid is not fetched again...
    rotated = sign(idp_keys.rsa_next, claims())
    await rejected(verify, rotated)
    assert len(idp.urls) == 1
    # ...after it, the provider's new key is fetched on its first use, and the old one still works.
    idp.body = orjson.dumps(jwks_of(idp_keys.rsa, idp_keys.rsa_next))
    await asyncio.sleep(0.25)
    assert (await verify.verify(rotated)).subject == "alice"
    assert len(idp.urls) == 2
    assert (await verify.verify(sign(idp_keys.rsa, claims(sub="bob")))).subject == "bob"
    assert len(idp.urls) == 2


async def test_a_withdrawn_key_stops_working_once_the_key_set_is_stale(
    idp_keys: IdpKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwt_auth, "REFRESH_INTERVAL", 0.05)
    verify, idp = verifier((idp_keys.rsa, idp_keys.rsa_next), jwks_max_age=0.1)
    assert (await verify.verify(sign(idp_keys.rsa_next, claims(sub="old")))).subject == "old"
    # The provider withdraws rsa_next (say it leaked); a new token signed with it must fail once stale.
    idp.body = orjson.dumps(jwks_of(idp_keys.rsa))
    await asyncio.sleep(0.15)
    await rejected(verify, sign(idp_keys.rsa_next, claims(sub="new")))
    assert len(idp.urls) == 2
    # While the provider is down, the keys already known keep working.
    idp.error = "HTTP 503"
    await asyncio.sleep(0.15)
    assert (await verify.verify(sign(idp_keys.rsa, claims(sub="still")))).subject == "still"


GARBAGE_KEY_SETS = [
    b"",
    b"<html>502 Bad Gateway</html>",
    b"\xff\xfe\x00garbage",
    b"[]",
    b"null",
    b'"keys"',
    b"42",
    b'{"keys": "rsa-1"}',
    b'{"keys": {"kid": "rsa-1"}}',
    b'{"keys": []}',
    b'{"keys": [{"kty": "RSA", "kid": "rsa-1"}]}',
    b'{"keys": [{"kty": "RSA", "kid": "rsa-1", "n": "!!!", "e": "AQAB"}]}',
    b'{"keys": [{"kty": "nonsense", "kid": "rsa-1"}, 7, null]}',
    b'{"keys": [{"kty": "OKP", "crv": "X25519", "kid": "rsa-1", "x": "AAAA"}]}',
]


@pytest.mark.parametrize("body", GARBAGE_KEY_SETS)
async def test_an_unreadable_key_set_is_a_generic_401(idp_keys: IdpKeys, body: bytes) -> None:
    verify = JwtVerifier(config(), FakeIdp(body))
    message = await rejected(verify, sign(idp_keys.rsa, claims()))
    assert message in {
        "the identity provider's signing keys could not be read",
        "the token was signed with an unknown key",
    }


@pytest.mark.parametrize("error", ["TimeoutError", "larger than 1048576 bytes", "HTTP 500"])
async def test_an_unreachable_key_set_is_a_generic_401(idp_keys: IdpKeys, error: str) -> None:
    verify = JwtVerifier(config(), FakeIdp(error=error))
    message = await rejected(verify, sign(idp_keys.rsa, claims()))
    assert message == "the identity provider's signing keys are unavailable"
    assert JWKS_URL not in message


async def test_keys_from_a_jwks_file_are_loaded_at_start_and_reread_for_new_kids(
    idp_keys: IdpKeys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwt_auth, "REFRESH_INTERVAL", 0.1)
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(jwks_of(idp_keys.ec)))
    idp = FakeIdp(error="must not be called")
    verify = JwtVerifier(config(algorithms=("ES256", "RS256"), jwks_url=None, jwks_file=str(path)), idp)
    await verify.start()
    path.write_bytes(b"{}")  # proves the key below came from the load at start
    assert (await verify.verify(sign(idp_keys.ec, claims()))).subject == "alice"
    path.write_bytes(orjson.dumps(jwks_of(idp_keys.ec, idp_keys.rsa)))
    await asyncio.sleep(0.15)
    assert (await verify.verify(sign(idp_keys.rsa, claims()))).subject == "alice"
    assert idp.urls == []


async def test_a_remembered_token_still_expires(idp_keys: IdpKeys) -> None:
    verify, _ = verifier((idp_keys.rsa,), leeway=0.0)
    exp = math.ceil(time.time() + 0.5)
    token = sign(idp_keys.rsa, claims(exp=exp))
    assert (await verify.verify(token)).subject == "alice"
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
    assert await rejected(verify, token) == "the token has expired"
