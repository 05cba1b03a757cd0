"""JWT bearer tokens from the organisation's identity provider.

The accepted algorithms come from configuration, never from the token: a token
whose header names another algorithm (``none`` included) is refused before
any key is chosen, and a key is used only with the algorithm family of its own
type, which closes algorithm-confusion attacks (an HS256 token "signed" with an
RSA public key). ``exp`` is required; ``nbf``/``iat`` are honoured with a small
leeway; ``iss`` and ``aud`` are checked when configured.

Signing keys come from a shared secret (HS*), a JWKS file, or a JWKS URL
fetched with a timeout and a size cap, cached, and refreshed when a token
names an unknown ``kid`` (at most once per :data:`REFRESH_INTERVAL`, so that
random kids cannot turn the gateway into a request amplifier).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import orjson

from gateway.errors import AuthenticationError
from gateway.identity.config import JwtConfig
from gateway.identity.principal import Principal
from gateway.upstream import FetchError

REFRESH_INTERVAL = 30.0
_VERIFIED_CACHE = 16_384
_KEY_TYPES = {"HS": "oct", "RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}

Fetcher = Callable[[str, float, int], Awaitable[bytes]]


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _as_roles(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v for v in value.replace(",", " ").split() if v)
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int) and str(v))
    return ()


def _fail(message: str) -> AuthenticationError:
    # Every refusal of a presented token is RFC 6750's invalid_token.
    return AuthenticationError(message, code="invalid_token")


class JwksCache:
    """Signing keys by ``kid``, from a file or URL."""

    def __init__(self, config: JwtConfig, fetch: Fetcher) -> None:
        self._config = config
        self._fetch = fetch
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -REFRESH_INTERVAL
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def _load(self, raw: bytes) -> None:
        try:
            document = orjson.loads(raw)
            if not isinstance(document, dict):
                raise TypeError("a key set is a JSON object")
            keyset = jwt.PyJWKSet.from_dict(document)
        except (jwt.PyJWKSetError, jwt.InvalidKeyError, orjson.JSONDecodeError, TypeError) as exc:
            raise _fail("the identity provider's signing keys could not be read") from exc
        keys = {str(key.key_id): key for key in keyset.keys if key.key_id}
        if len(keyset.keys) == 1 and not keyset.keys[0].key_id:
            keys[""] = keyset.keys[0]
        self._keys, self._loaded_at = keys, time.monotonic()

    async def refresh(self) -> None:
        config = self._config
        async with self._lock:
            if time.monotonic() - self._fetched_at < REFRESH_INTERVAL:
                return
            self._fetched_at = time.monotonic()
            if config.jwks_file:
                self._load(await asyncio.to_thread(Path(config.jwks_file).read_bytes))
            elif config.jwks_url:
                try:
                    raw = await self._fetch(config.jwks_url, config.jwks_timeout, config.jwks_max_bytes)
                except FetchError as exc:
                    raise _fail("the identity provider's signing keys are unavailable") from exc
                self._load(raw)

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        lookup = kid or ""
        if self._keys and time.monotonic() - self._loaded_at > self._config.jwks_max_age:
            # Re-read periodically so that keys the provider withdrew stop working; if the
            # provider is briefly unreachable, the keys already known keep serving.
            with contextlib.suppress(AuthenticationError):
                await self.refresh()
        key = self._keys.get(lookup)
        if key is None:
            await self.refresh()
            key = self._keys.get(lookup)
        if key is None:
            raise _fail("the token was signed with an unknown key")
        return key


class JwtVerifier:
    def __init__(self, config: JwtConfig, fetch: Fetcher) -> None:
        self._config = config
        self._jwks = JwksCache(config, fetch) if (config.jwks_file or config.jwks_url) else None
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def start(self) -> None:
        if self._jwks is not None and self._config.jwks_file:
            await self._jwks.refresh()

    async def _key(self, header: dict[str, Any], algorithm: str) -> Any:
        family = _KEY_TYPES.get(algorithm[:2], "")
        if family == "oct":
            if not self._config.secret:
                raise _fail("the token's algorithm is not accepted")
            return self._config.secret
        if self._jwks is None:
            raise _fail("the token's algorithm is not accepted")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > 256 or not kid.isprintable()):
            raise _fail("the token names an invalid key id")
        key = await self._jwks.key_for(kid)
        if key.key_type != family:
            raise _fail("the token's algorithm does not match its signing key")
        return key.key

    async def verify(self, token: str) -> Principal:
        config = self._config
        if len(token) > config.max_token_bytes:
            raise _fail(f"the token is larger than {config.max_token_bytes} bytes")
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and now <= cached[1] + config.leeway:
            return cached[0]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _fail("the token is malformed") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in config.algorithms:
            raise _fail("the token's algorithm is not accepted")
        key = await self._key(header, algorithm)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway,
                options={"require": ["exp"], "verify_aud": config.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise _fail("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise _fail("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise _fail("the token is not meant for this gateway (audience)") from None
        except jwt.InvalidIssuerError:
            raise _fail("the token's issuer is not accepted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _fail(f"the token lacks the required '{exc.claim}' claim") from None
        except jwt.InvalidSignatureError:
            raise _fail("the token's signature is invalid") from None
        except (jwt.InvalidTokenError, jwt.InvalidKeyError):
            raise _fail("the token is invalid") from None
        principal = self._principal(claims)
        self._remember(token, principal, float(claims["exp"]))
        return principal

    def _principal(self, claims: dict[str, Any]) -> Principal:
        config = self._config
        subject = _claim(claims, config.subject_claim)
        if not isinstance(subject, str | int) or not str(subject):
            raise _fail(f"the token has no '{config.subject_claim}' claim")
        team = _claim(claims, config.team_claim)
        return Principal(
            subject=str(subject),
            roles=_as_roles(_claim(claims, config.roles_claim)),
            team=str(team) if isinstance(team, str | int) and str(team) else config.default_team,
            method="jwt",
            issuer=str(claims.get("iss")) if claims.get("iss") else None,
        )

    def _remember(self, token: str, principal: Principal, expires: float) -> None:
        self._verified[token] = (principal, expires)
        if len(self._verified) > _VERIFIED_CACHE:
            self._verified.popitem(last=False)
