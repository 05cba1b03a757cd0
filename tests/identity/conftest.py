"""Fixtures of the identity suite: the test identity provider's keys and its JWKS endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.server import serve
from tests.identity.support import JWKS_PATH, IdpKeys, JwksServer, ec_key, ed_key, rsa_key


@pytest.fixture(scope="session")
def idp_keys() -> IdpKeys:
    return IdpKeys(
        rsa=rsa_key("rsa-1"),
        rsa_next=rsa_key("rsa-2"),
        ec=ec_key("ec-1"),
        ed=ed_key("ed-1"),
        attacker=rsa_key("evil-1"),
    )


@pytest.fixture
def jwks(idp_keys: IdpKeys) -> Iterator[JwksServer]:
    """A JWKS endpoint publishing the RSA, EC and Ed25519 keys; ``.url`` is the key set's URL."""
    server = JwksServer()
    server.publish(idp_keys.rsa, idp_keys.ec, idp_keys.ed)
    with serve(server.app()) as base:
        server.url = base + JWKS_PATH
        yield server
