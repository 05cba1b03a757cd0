"""Helpers for the identity suite: signing keys, hand-forged tokens, a JWKS server, gateway documents."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import openai
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import base_document, write_policy

#: The ``start_gateway`` fixture and the ``sdk`` fixture of tests/conftest.py.
StartGateway = Callable[[dict[str, Any]], str]
MakeSdk = Callable[..., openai.OpenAI]

ISSUER = "https://idp.example.test/realms/acme"
AUDIENCE = "ai-gateway"
#: A shared HS256 secret (the gateway requires at least 32 characters).
HS_SECRET = "hs256-shared-secret-for-tests-0123456789abcdef"
JWKS_PATH = "/jwks.json"
#: Routes to the echo provider under other names, so policies can tell models apart.
EXTRA_MODELS = ("premium", "claude-sonnet")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SigningKey:
    """A private key of the test identity provider, with the kid it is published under."""

    kid: str
    algorithm: str
    private: Any

    @property
    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        exporter: Any = {"RS": RSAAlgorithm, "ES": ECAlgorithm, "Ed": OKPAlgorithm}[self.algorithm[:2]]
        data: dict[str, Any] = exporter.to_jwk(public, as_dict=True)
        return {**data, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    @property
    def public_pem(self) -> bytes:
        return bytes(
            self.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def rsa_key(kid: str = "rsa-1") -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str = "ec-1") -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def ed_key(kid: str = "ed-1") -> SigningKey:
    return SigningKey(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate())


@dataclass(frozen=True)
class IdpKeys:
    """The test identity provider's signing keys."""

    rsa: SigningKey
    rsa_next: SigningKey
    ec: SigningKey
    ed: SigningKey
    #: A key the identity provider never published (an attacker's).
    attacker: SigningKey


def jwks_of(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.jwk for key in keys]}


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid claim set for the test issuer and audience; ``None`` values are left out."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "roles": ["developer"],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: SigningKey, payload: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid, **headers})


def sign_hs256(payload: dict[str, Any], secret: str = HS_SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def forge(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None = None) -> str:
    """A token built by hand: unsigned (empty signature) or HMAC-SHA256-signed with any bytes at all."""
    signing_input = f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(payload))}"
    signature = b"" if hmac_key is None else hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def with_payload(token: str, payload: dict[str, Any]) -> str:
    """The same header and signature over another payload (a tampered token)."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url(orjson.dumps(payload))}.{signature}"


@dataclass
class JwksServer:
    """The identity provider's key endpoint; records every path it is asked for.

    ``body``/``status``/``delay`` script broken answers; by default it serves ``keys``.
    """

    keys: list[dict[str, Any]] = field(default_factory=list)
    body: bytes | None = None
    status: int = 200
    delay: float = 0.0
    paths: list[str] = field(default_factory=list)
    #: The key set's URL once served (see the ``jwks`` fixture).
    url: str = ""

    @property
    def fetches(self) -> int:
        return len(self.paths)

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [key.jwk for key in keys]

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            self.paths.append(request.url.path)
            if self.delay:
                await asyncio.sleep(self.delay)
            body = self.body if self.body is not None else orjson.dumps({"keys": self.keys})
            return Response(body, status_code=self.status, media_type="application/json")

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST"])])


def gateway_document(
    directory: Path,
    *,
    auth: dict[str, Any],
    rules: str,
    tests: str | None = None,
    reload_interval: float | None = None,
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A gateway config with the echo model (plus :data:`EXTRA_MODELS`), ``auth`` and a policy of ``rules``.

    Everything the gateway writes (policy, audit trail) lives under ``directory``.
    """
    document = base_document()
    for name in EXTRA_MODELS:
        document["models"][name] = {"deployments": [{"provider": "echo", "model": "echo-1"}]}
    document["auth"] = auth
    policy_dir = write_policy(directory / "policy", rules)
    policy: dict[str, Any] = {"dir": str(policy_dir), "tests": None}
    if tests is not None:
        (policy_dir / "tests.yaml").write_text(tests)
        policy["tests"] = str(policy_dir / "tests.yaml")
    if reload_interval is not None:
        policy["reload_interval"] = reload_interval
    document["policy"] = policy
    document["audit"] = {"dir": str(directory / "audit")}
    if state is not None:
        document["state"] = state
    return document


def bearer(credential: str) -> dict[str, str]:
    return {"authorization": f"Bearer {credential}"}


def chat(url: str, headers: dict[str, str], model: str = "echo", client: httpx.Client | None = None) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    if client is not None:
        return client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=10)


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error answer; returns its ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert isinstance(error, dict)
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["type"], str)
    assert error["type"]
    assert "code" in error
    if code is not None:
        assert error["code"] == code, error
    assert "Traceback" not in response.text
    return error


def assert_unauthorized(response: httpx.Response, *, code: str | None = None, secret: str | None = None) -> str:
    """A 401 in OpenAI's shape, with a ``WWW-Authenticate`` challenge, never echoing ``secret``.

    Returns the error message.
    """
    error = assert_error(response, 401, code)
    assert error["type"] == "authentication_error"
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer"), response.headers
    # RFC 6750: no error code in the challenge when no credentials were sent at all.
    assert ('error="invalid_token"' in challenge) == (error["code"] != "missing_credentials"), challenge
    if secret:
        everything = response.text + "".join(f"{k}: {v}\n" for k, v in response.headers.items())
        for part in {secret, *[p for p in secret.split(".") if len(p) > 8]}:
            assert part not in everything
    return str(error["message"])
