"""How the gateway reaches providers: TLS verified against the trust store; no proxy variables, no redirects."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.base import HttpRequest
from gateway.config import ProviderConfig
from gateway.upstream import Http1Client
from tests.conftest import base_document
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import free_port, serve

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello over TLS"}]}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for localhost signed by it: (CA, certificate, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("gateway test CA"))
        .issuer_name(_name("gateway test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@contextmanager
def _serve_tls(app: Any, directory: Path) -> Iterator[tuple[str, Path]]:
    """Serve ``app`` over HTTPS with a certificate from a private CA: (https base URL, the CA's certificate)."""
    ca, certificate, key = _certificates(directory)
    with serve(app, ssl_certfile=str(certificate), ssl_keyfile=str(key)) as url:
        yield url.replace("http://127.0.0.1", "https://localhost"), ca


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[FakeOpenAI, str, Path]]:
    """A fake OpenAI served over HTTPS by a private CA: (fake, https base URL, the CA's certificate)."""
    fake = FakeOpenAI()
    with _serve_tls(fake.app, tmp_path) as (url, ca):
        yield fake, url, ca
    assert not fake.violations


def _chat(gateway: str, sdk: Callable[..., openai.OpenAI]) -> Any:
    return sdk(gateway).chat.completions.create(**CHAT)


def test_a_provider_whose_certificate_the_trust_store_vouches_for_is_reached(
    tls_upstream: tuple[FakeOpenAI, str, Path],
    start_gateway: Callable[[dict[str, Any]], str],
    sdk: Callable[..., openai.OpenAI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url, ca = tls_upstream
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the standard way to name a private CA bundle
    answer = _chat(start_gateway(base_document(url)), sdk)
    assert answer.choices[0].message.content
    assert fake.requests, "the provider was not called"


def test_a_provider_with_an_unknown_certificate_authority_is_refused_without_details(
    tls_upstream: tuple[FakeOpenAI, str, Path],
    start_gateway: Callable[[dict[str, Any]], str],
    sdk: Callable[..., openai.OpenAI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url, _ = tls_upstream
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(openai.APIStatusError) as info:
        _chat(start_gateway(base_document(url)), sdk)
    assert info.value.status_code == 503
    text = info.value.response.text
    assert "cannot be reached" in text
    assert "localhost" not in text
    assert "certificate" not in text
    assert not fake.requests, "a request crossed a connection whose certificate was not verified"


def test_proxy_variables_in_the_environment_do_not_divert_provider_traffic(
    fake_openai: tuple[FakeOpenAI, str],
    start_gateway: Callable[[dict[str, Any]], str],
    sdk: Callable[..., openai.OpenAI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = fake_openai
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: a request sent there would fail
    names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
    for name in names:
        monkeypatch.setenv(name, nowhere)
    gateway = start_gateway(base_document(url))  # its provider clients are built with the variables set
    for name in names:  # the test's own client must not use them
        monkeypatch.delenv(name)
    answer = _chat(gateway, sdk)
    assert answer.choices[0].message.content
    assert fake.requests


def test_a_provider_redirect_is_not_followed_so_the_key_stays_with_the_configured_host(
    fake_openai: tuple[FakeOpenAI, str],
    start_gateway: Callable[[dict[str, Any]], str],
    sdk: Callable[..., openai.OpenAI],
) -> None:
    elsewhere, elsewhere_url = fake_openai  # where the redirect points: it must never be called

    async def moved(request: Request) -> Response:
        return Response(status_code=307, headers={"location": f"{elsewhere_url}/v1/chat/completions"})

    redirector = Starlette(routes=[Route("/v1/chat/completions", moved, methods=["POST"])])
    with serve(redirector) as url:
        gateway = start_gateway(base_document(url))
        with pytest.raises(openai.APIStatusError) as info:
            _chat(gateway, sdk)
    assert info.value.status_code == 502
    assert elsewhere_url not in info.value.response.text
    assert not elsewhere.requests, "the provider's key was sent where a redirect pointed"


@pytest.mark.parametrize(
    "body",
    [
        '{"messages":[{"role":"user","content":"café, 東京 and 🙂"}]}'.encode(),  # JSON: sent as text
        bytes(range(256)),  # not UTF-8: sent as bytes
        b"",
    ],
    ids=["utf8-json", "binary", "empty"],
)
async def test_the_request_body_reaches_the_provider_byte_for_byte(body: bytes) -> None:
    received: list[tuple[bytes, str | None, str | None]] = []

    async def record(request: Request) -> Response:
        received.append(
            (await request.body(), request.headers.get("content-type"), request.headers.get("content-length"))
        )
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route("/v1/echo", record, methods=["POST"])])
    with serve(app) as url:
        client = Http1Client(ProviderConfig(name="p", type="openai", base_url=url))
        try:
            answer = await client.send(
                HttpRequest("POST", f"{url}/v1/echo", {"content-type": "application/octet-stream"}, body)
            )
        finally:
            await client.close()
    assert answer.status == 200
    # An empty body goes without a length (HTTP/1.1 reads none as zero), either way the client sends it.
    assert received == [(body, "application/octet-stream", str(len(body)) if body else None)]


async def test_requests_over_tls_share_one_verified_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ports: list[int] = []

    async def record(request: Request) -> Response:
        assert request.client is not None
        ports.append(request.client.port)
        return Response(b"{}", media_type="application/json")

    app = Starlette(routes=[Route("/v1/echo", record, methods=["POST"])])
    with _serve_tls(app, tmp_path) as (url, ca):
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        client = Http1Client(ProviderConfig(name="p", type="openai", base_url=url))
        try:
            for _ in range(3):
                answer = await client.send(HttpRequest("POST", f"{url}/v1/echo", {}, b"{}"))
                assert answer.status == 200
        finally:
            await client.close()
    assert len(ports) == 3
    assert len(set(ports)) == 1, "each request opened a connection (and paid a TLS handshake) of its own"
