"""Turn a request's credentials into a :class:`Principal`, or a specific 401."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping

from gateway.errors import AuthenticationError
from gateway.identity.config import AuthConfig
from gateway.identity.jwt_auth import Fetcher, JwtVerifier
from gateway.identity.keys import PREFIX, KeyRecord, secret_matches, split_key
from gateway.identity.keystore import KeyStore
from gateway.identity.principal import Principal

MAX_CREDENTIAL_BYTES = 16 * 1024
#: Keys whose last good secret is remembered; past this the memory starts afresh.
MAX_VERIFIED_KEYS = 10_000


def credential_of(headers: Mapping[str, str]) -> str | None:
    """The bearer credential: ``Authorization: Bearer …`` or Azure-style ``api-key: …``."""
    header = headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("The Authorization header must be 'Bearer <key or token>'.", code="invalid_auth")
        return value.strip()
    api_key = headers.get("api-key")
    return api_key.strip() if api_key and api_key.strip() else None


class Authenticator:
    def __init__(self, config: AuthConfig, keys: KeyStore | None, fetch: Fetcher) -> None:
        self._config = config
        self._keys = keys
        self._jwt = JwtVerifier(config.jwt, fetch) if config.jwt else None
        self._demo = {demo.key: demo for demo in config.demo_keys}
        # key id -> (the record a secret was checked against, that secret, its principal). Hashing a
        # secret costs more than the rest of authentication (OpenSSL's digest set-up, cold on every
        # request); a key store that changes a key hands out a new record, which forces a new check.
        # One principal per record also lets the audit trail serialise it once.
        self._verified: dict[str, tuple[KeyRecord, str, Principal]] = {}

    async def start(self) -> None:
        if self._jwt is not None:
            await self._jwt.start()

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        credential = credential_of(headers)
        if credential is None:
            if self._config.anonymous:
                return Principal("anonymous", self._config.anonymous_roles, "default", "anonymous")
            raise AuthenticationError(
                "No credentials: send 'Authorization: Bearer <key or token>'.",
                code="missing_credentials",
                credentials_sent=False,
            )
        if len(credential) > MAX_CREDENTIAL_BYTES:
            raise AuthenticationError("The credential is too large.", code="invalid_auth")
        if credential.startswith(PREFIX):
            return await self._api_key(credential)
        if credential.count(".") == 2 and self._jwt is not None:
            return await self._jwt.verify(credential)
        demo = self._demo_key(credential)
        if demo is not None:
            return demo
        raise AuthenticationError("The credential is not a valid API key or token.", code="invalid_api_key")

    def _demo_key(self, credential: str) -> Principal | None:
        for key, demo in self._demo.items():
            if hmac.compare_digest(key.encode(), credential.encode()):
                return Principal(demo.subject, demo.roles, demo.team, "demo_key", key_id="demo")
        return None

    async def _api_key(self, credential: str) -> Principal:
        parts = split_key(credential)
        record = await self._keys.get(parts[0]) if parts and self._keys is not None else None
        if parts is None or record is None or (principal := self._principal_if_valid(record, parts[1])) is None:
            raise AuthenticationError("The API key is not valid.", code="invalid_api_key")
        if record.revoked_at is not None:
            raise AuthenticationError("The API key has been revoked.", code="revoked_api_key")
        if record.expires_at is not None and record.expires_at <= time.time():
            raise AuthenticationError("The API key has expired.", code="expired_api_key")
        return principal

    def _principal_if_valid(self, record: KeyRecord, secret: str) -> Principal | None:
        """The key's principal if ``secret`` is its secret, else None."""
        known = self._verified.get(record.key_id)
        if known is not None and known[0] is record:
            return known[2] if hmac.compare_digest(known[1], secret) else None
        if not secret_matches(record, secret):
            return None
        if len(self._verified) >= MAX_VERIFIED_KEYS:
            self._verified.clear()
        principal = Principal(record.subject, record.roles, record.team, "api_key", key_id=record.key_id)
        self._verified[record.key_id] = (record, secret, principal)
        return principal
