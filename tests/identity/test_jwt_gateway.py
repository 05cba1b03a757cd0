"""JWT bearer tokens end to end: a real gateway, a real JWKS endpoint, the official SDK and raw HTTP."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from gateway.identity import jwt_auth
from tests.fakes.server import serve
from tests.identity.support import (
    AUDIENCE,
    HS_SECRET,
    ISSUER,
    JWKS_PATH,
    IdpKeys,
    JwksServer,
    MakeSdk,
    StartGateway,
    assert_unauthorized,
    b64url_decode,
    bearer,
    chat,
    claims,
    forge,
    gateway_document,
    jwks_of,
    sign,
    sign_hs256,
    with_payload,
)

POLICY = """\
p, *, *, *, models.list, allow
p, developer, *, echo, *, allow
p, user:carol, *, premium, chat, allow
p, developer, research, claude-*, chat, allow
"""
DEMO_KEY = "demo-key-for-health-checks"


def jwt_gateway(start_gateway: StartGateway, directory: Path, **jwt: Any) -> str:
    auth = {
        "key_file": None,
        "jwt": {"issuer": ISSUER, "audience": AUDIENCE, **jwt},
        "demo_keys": [{"key": DEMO_KEY, "subject": "demo", "team": "demo", "roles": ["developer"]}],
    }
    return start_gateway(gateway_document(directory, auth=auth, rules=POLICY))


def ask(client: openai.OpenAI, model: str) -> str | None:
    completion = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}])
    return completion.choices[0].message.content


def test_every_configured_algorithm_is_accepted_and_reaches_authorization(
    start_gateway: StartGateway, sdk: MakeSdk, jwks: JwksServer, idp_keys: IdpKeys, tmp_path: Path
) -> None:
    url = jwt_gateway(
        start_gateway, tmp_path, algorithms=["RS256", "ES256", "EdDSA", "HS256"], jwks_url=jwks.url, secret=HS_SECRET
    )
    tokens = {
        "RS256": sign(idp_keys.rsa, claims()),
        "ES256": sign(idp_keys.ec, claims()),
        "EdDSA": sign(idp_keys.ed, claims()),
        "HS256": sign_hs256(claims()),
    }
    for algorithm, token in tokens.items():
        client = sdk(url, api_key=token)
        assert ask(client, "echo") == "hello", algorithm
        with pytest.raises(openai.PermissionDeniedError) as denied:
            ask(client, "premium")
        assert denied.value.status_code == 403
        assert [m.id for m in client.models.list()] == ["echo"]
    assert jwks.paths == [JWKS_PATH]


CLAIM_LAYOUTS = [
    pytest.param(
        {"subject_claim": "preferred_username", "roles_claim": "realm_access.roles", "team_claim": "org.team"},
        {"preferred_username": "carol", "realm_access": {"roles": ["developer"]}, "org": {"team": "research"}},
        ["echo", "premium", "claude-sonnet"],
        {"preferred_username": "dave", "realm_access": {"roles": ["developer"]}, "org": {"team": "platform"}},
        ["premium", "claude-sonnet"],
        id="keycloak realm_access.roles",
    ),
    pytest.param(
        {"roles_claim": "groups"},
        {"groups": ["developer"], "team": "research"},
        ["echo", "claude-sonnet"],
        {"groups": ["viewer"], "team": "research"},
        ["echo", "claude-sonnet"],
        id="groups",
    ),
    pytest.param(
        {"roles_claim": "scope"},
        {"scope": "openid developer email"},
        ["echo"],
        {"scope": "openid email"},
        ["echo"],
        id="space-separated scope",
    ),
]


@pytest.mark.parametrize(("layout", "granted", "allowed", "other", "denied"), CLAIM_LAYOUTS)
def test_claim_paths_decide_subject_roles_and_team(
    start_gateway: StartGateway,
    sdk: MakeSdk,
    jwks: JwksServer,
    idp_keys: IdpKeys,
    tmp_path: Path,
    layout: dict[str, Any],
    granted: dict[str, Any],
    allowed: list[str],
    other: dict[str, Any],
    denied: list[str],
) -> None:
    url = jwt_gateway(start_gateway, tmp_path, algorithms=["RS256"], jwks_url=jwks.url, **layout)
    client = sdk(url, api_key=sign(idp_keys.rsa, claims(roles=None, **granted)))
    for model in allowed:
        assert ask(client, model) == "hello", model
    assert sorted(m.id for m in client.models.list()) == sorted(allowed)
    refused = sdk(url, api_key=sign(idp_keys.rsa, claims(roles=None, **other)))
    for model in denied:
        with pytest.raises(openai.PermissionDeniedError):
            ask(refused, model)


def test_bad_tokens_are_401_in_openai_shape_without_echoing_the_token(
    start_gateway: StartGateway, jwks: JwksServer, idp_keys: IdpKeys, tmp_path: Path
) -> None:
    url = jwt_gateway(start_gateway, tmp_path, algorithms=["RS256"], jwks_url=jwks.url, leeway=30, max_token_bytes=2048)
    now = int(time.time())
    genuine = sign(idp_keys.rsa, claims())
    payload = orjson.loads(b64url_decode(genuine.split(".")[1]))
    cases = {
        "unsigned": (forge({"alg": "none", "typ": "JWT"}, claims(roles=["admin"])), "algorithm is not accepted"),
        "hs256 keyed with the rsa public key": (
            forge({"alg": "HS256", "kid": idp_keys.rsa.kid}, claims(), hmac_key=idp_keys.rsa.public_pem),
            "algorithm is not accepted",
        ),
        "expired": (sign(idp_keys.rsa, claims(exp=now - 120, iat=now - 600)), "the token has expired"),
        "not valid yet": (sign(idp_keys.rsa, claims(nbf=now + 600)), "not valid yet"),
        "wrong audience": (sign(idp_keys.rsa, claims(aud="billing")), "audience"),
        "wrong issuer": (sign(idp_keys.rsa, claims(iss="https://evil.example/")), "issuer"),
        "no exp": (sign(idp_keys.rsa, claims(exp=None)), "'exp'"),
        "tampered": (with_payload(genuine, {**payload, "roles": ["admin"]}), "signature"),
        "attacker's key under the genuine kid": (
            sign(idp_keys.attacker, claims(), kid=idp_keys.rsa.kid),
            "signature",
        ),
        "unknown kid": (sign(idp_keys.attacker, claims()), "unknown key"),
        "oversized": (sign(idp_keys.rsa, claims(padding="x" * 3000)), "larger than 2048 bytes"),
    }
    problems = []
    with httpx.Client(timeout=10) as http:
        for name, (token, fragment) in cases.items():
            response = chat(url, bearer(token), client=http)
            try:
                message = assert_unauthorized(response, code="invalid_token", secret=token)
            except AssertionError as exc:
                problems.append(f"{name}: {exc}")
                continue
            if fragment not in message:
                problems.append(f"{name}: {message!r} lacks {fragment!r}")
        assert problems == []
        # Leeway: ten seconds late is still inside the configured 30 s.
        late = sign(idp_keys.rsa, claims(exp=now - 10, iat=now - 600))
        assert chat(url, bearer(late), client=http).status_code == 200
        assert chat(url, bearer(genuine), client=http).status_code == 200
    assert jwks.paths == [JWKS_PATH]


def test_algorithm_confusion_is_refused_when_hs256_and_rs256_are_both_allowed(
    start_gateway: StartGateway, jwks: JwksServer, idp_keys: IdpKeys, tmp_path: Path
) -> None:
    url = jwt_gateway(start_gateway, tmp_path, algorithms=["HS256", "RS256"], jwks_url=jwks.url, secret=HS_SECRET)
    forged = forge({"alg": "HS256", "typ": "JWT", "kid": idp_keys.rsa.kid}, claims(), hmac_key=idp_keys.rsa.public_pem)
    assert_unauthorized(chat(url, bearer(forged)), code="invalid_token", secret=forged)
    assert chat(url, bearer(sign(idp_keys.rsa, claims()))).status_code == 200
    assert chat(url, bearer(sign_hs256(claims()))).status_code == 200


def test_a_burst_of_unknown_kids_fetches_the_key_set_once(
    start_gateway: StartGateway, jwks: JwksServer, idp_keys: IdpKeys, tmp_path: Path
) -> None:
    url = jwt_gateway(start_gateway, tmp_path, algorithms=["RS256"], jwks_url=jwks.url)
    tokens = [sign(idp_keys.attacker, claims(), kid=f"random-{i}") for i in range(40)]
    with httpx.Client(timeout=10) as http, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda t: chat(url, bearer(t), client=http).status_code, tokens))
        assert statuses == [401] * len(tokens)
        assert jwks.paths == [JWKS_PATH]
        assert chat(url, bearer(sign(idp_keys.rsa, claims())), client=http).status_code == 200
    assert jwks.fetches == 1


def test_a_rotated_key_is_picked_up_on_first_use(
    start_gateway: StartGateway,
    jwks: JwksServer,
    idp_keys: IdpKeys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jwt_auth, "REFRESH_INTERVAL", 0.3)
    url = jwt_gateway(start_gateway, tmp_path, algorithms=["RS256"], jwks_url=jwks.url)
    assert chat(url, bearer(sign(idp_keys.rsa, claims()))).status_code == 200
    assert jwks.fetches == 1
    jwks.publish(idp_keys.rsa, idp_keys.rsa_next)
    time.sleep(0.35)
    assert chat(url, bearer(sign(idp_keys.rsa_next, claims()))).status_code == 200
    assert chat(url, bearer(sign(idp_keys.rsa, claims(sub="bob")))).status_code == 200
    assert jwks.fetches == 2


def test_kid_and_header_tricks_never_fetch_anything_but_the_configured_url(
    start_gateway: StartGateway, jwks: JwksServer, idp_keys: IdpKeys, tmp_path: Path
) -> None:
    evil = JwksServer()
    evil.publish(idp_keys.attacker)
    with serve(evil.app()) as evil_base:
        evil.url = evil_base + JWKS_PATH
        url = jwt_gateway(start_gateway, tmp_path, algorithms=["RS256"], jwks_url=jwks.url)
        attacker = idp_keys.attacker
        tokens = {
            "path traversal": sign(attacker, claims(), kid="../../etc/passwd"),
            "absolute path": sign(attacker, claims(), kid="/etc/passwd"),
            "url kid": sign(attacker, claims(), kid=evil.url),
            "evil host kid": sign(attacker, claims(), kid="http://evil/"),
            "file url kid": sign(attacker, claims(), kid="file:///etc/passwd"),
            "very long kid": sign(attacker, claims(), kid="k" * 4000),
            "nul in kid": sign(attacker, claims(), kid="rsa-1\x00"),
            "newline in kid": sign(attacker, claims(), kid="rsa-1\r\nX-Injected: 1"),
            "escape in kid": sign(attacker, claims(), kid="\x1b[2J"),
            "jku header": sign(attacker, claims(), jku=evil.url),
            "x5u header": sign(attacker, claims(), x5u=evil.url),
            "embedded jwk": sign(attacker, claims(), jwk=attacker.jwk),
            "numeric kid": forge({"alg": "RS256", "kid": 7}, claims(), hmac_key=b"x"),
        }
        problems = []
        with httpx.Client(timeout=10) as http:
            for name, token in tokens.items():
                try:
                    assert_unauthorized(chat(url, bearer(token), client=http), code="invalid_token", secret=token)
                except AssertionError as exc:
                    problems.append(f"{name}: {exc}")
        assert problems == []
        assert evil.paths == []
    assert set(jwks.paths) <= {JWKS_PATH}
    assert jwks.fetches <= 1


JWKS_FAILURES = [
    pytest.param({"delay": 1.5}, id="slow"),
    pytest.param({"body": orjson.dumps({"keys": [], "padding": "x" * 100_000})}, id="huge"),
    pytest.param({"status": 500, "body": b"Internal Server Error"}, id="http 500"),
    pytest.param({"status": 302, "body": b""}, id="redirect"),
    pytest.param({"body": b"<html>not json</html>"}, id="html"),
    pytest.param({"body": b'{"keys": "none"}'}, id="keys not a list"),
    pytest.param({"body": b"[]"}, id="json list"),
    pytest.param({"body": b"null"}, id="json null"),
]


@pytest.mark.parametrize("failure", JWKS_FAILURES)
def test_a_broken_jwks_url_is_a_generic_401_and_the_gateway_stays_healthy(
    start_gateway: StartGateway,
    jwks: JwksServer,
    idp_keys: IdpKeys,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: dict[str, Any],
) -> None:
    monkeypatch.setattr(jwt_auth, "REFRESH_INTERVAL", 0.0)
    url = jwt_gateway(
        start_gateway, tmp_path, algorithms=["RS256"], jwks_url=jwks.url, jwks_timeout=0.3, jwks_max_bytes=4096
    )
    for attribute, value in failure.items():
        setattr(jwks, attribute, value)
    token = sign(idp_keys.rsa, claims())
    started = time.monotonic()
    response = chat(url, bearer(token))
    assert time.monotonic() - started < 1.2
    message = assert_unauthorized(response, code="invalid_token", secret=token)
    assert message.startswith("the identity provider's signing keys") or message.endswith("unknown key"), message
    port = jwks.url.split(":")[2].split("/")[0]
    for leak in ("127.0.0.1", port, "jwks", "Timeout", "500", "302"):
        assert leak not in response.text
    # Healthy: probes and other credentials work, and a repaired key set is used at once.
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert chat(url, bearer(DEMO_KEY)).status_code == 200
    jwks.body, jwks.status, jwks.delay = None, 200, 0.0
    assert chat(url, bearer(token)).status_code == 200


def test_keys_from_a_jwks_file(start_gateway: StartGateway, idp_keys: IdpKeys, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(jwks_of(idp_keys.ec, idp_keys.ed)))
    url = jwt_gateway(start_gateway, tmp_path / "gw", algorithms=["ES256", "EdDSA", "RS256"], jwks_file=str(path))
    assert chat(url, bearer(sign(idp_keys.ec, claims()))).status_code == 200
    assert chat(url, bearer(sign(idp_keys.ed, claims()))).status_code == 200
    unpublished = sign(idp_keys.rsa, claims())
    assert_unauthorized(chat(url, bearer(unpublished)), code="invalid_token", secret=unpublished)
