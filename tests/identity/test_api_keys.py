"""Gateway-issued API keys: the file store, the admin HTTP API, and every way a key can be refused."""

from __future__ import annotations

import hashlib
import hmac
import re
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.errors import AuthenticationError
from gateway.identity.authenticator import Authenticator
from gateway.identity.config import AuthConfig
from gateway.identity.keys import KeyRecord, new_key, secret_matches, split_key
from gateway.identity.keystore import FileKeyStore
from tests.identity.support import (
    MakeSdk,
    StartGateway,
    assert_error,
    assert_unauthorized,
    bearer,
    chat,
    gateway_document,
)

#: The comparison as gateway.identity.keys reaches it (``hmac.compare_digest``).
COMPARE_DIGEST = "gateway.identity.keys.hmac.compare_digest"
KEY_FORMAT = re.compile(r"^gw-[a-z0-9]{12}_[A-Za-z0-9_-]{43}$")
DEMO_KEY = "demo-key-0123456789"
POLICY = """\
p, *, *, *, models.list, allow
p, admin, *, *, keys.*, allow
p, developer, *, echo, *, allow
p, demo, *, echo, *, allow
"""


@dataclass(frozen=True)
class KeyedGateway:
    url: str
    key_file: Path
    admin: str
    developer: str
    expired: str

    def admin_headers(self) -> dict[str, str]:
        return bearer(self.admin)


@pytest.fixture
def keyed(start_gateway: StartGateway, tmp_path: Path) -> KeyedGateway:
    """A gateway with a key file holding an admin key, a developer key and an expired key."""
    key_file = tmp_path / "state" / "keys.json"
    store = FileKeyStore(key_file)
    minted = {
        "admin": new_key("root", "ops", ("admin",), description="bootstrap"),
        "developer": new_key("dev", "platform", ("developer",)),
        "expired": new_key("old", "platform", ("developer",), expires_at=time.time() - 60),
    }
    for _, record in minted.values():
        store.put_now(record)
    auth = {
        "key_file": str(key_file),
        "demo_keys": [{"key": DEMO_KEY, "subject": "visitor", "team": "demo", "roles": ["demo"]}],
    }
    url = start_gateway(gateway_document(tmp_path / "gw", auth=auth, rules=POLICY))
    return KeyedGateway(url, key_file, minted["admin"][0], minted["developer"][0], minted["expired"][0])


def create_key(gateway: KeyedGateway, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{gateway.url}/admin/keys", json=body, headers=gateway.admin_headers())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_keys_from_the_file_store_work_as_bearer_and_as_azure_api_key(keyed: KeyedGateway, sdk: MakeSdk) -> None:
    completion = sdk(keyed.url, api_key=keyed.developer).chat.completions.create(
        model="echo", messages=[{"role": "user", "content": "hi there"}]
    )
    assert completion.choices[0].message.content == "hi there"
    assert chat(keyed.url, {"api-key": keyed.developer}).status_code == 200
    message = assert_unauthorized(chat(keyed.url, bearer(keyed.expired)), code="expired_api_key", secret=keyed.expired)
    assert "expired" in message
    assert_unauthorized(chat(keyed.url, {"api-key": keyed.expired}), code="expired_api_key", secret=keyed.expired)


def test_the_admin_api_shows_the_key_once_lists_no_secrets_and_revokes(keyed: KeyedGateway) -> None:
    created = create_key(keyed, subject="erin", team="platform", roles=["developer"], description="ci runner")
    key = created["key"]
    assert KEY_FORMAT.match(key)
    parts = split_key(key)
    assert parts is not None
    key_id, secret = parts
    assert created["key_id"] == key_id
    assert (created["subject"], created["team"], created["roles"]) == ("erin", "platform", ["developer"])
    assert created["description"] == "ci runner"
    assert created["revoked_at"] is None
    assert created["expires_at"] is None
    assert not {"salt", "digest"} & set(created)

    assert chat(keyed.url, bearer(key)).status_code == 200
    assert chat(keyed.url, {"api-key": key}).status_code == 200

    listing = httpx.get(f"{keyed.url}/admin/keys", headers=keyed.admin_headers())
    assert listing.status_code == 200
    items = listing.json()["data"]
    assert key_id in [item["key_id"] for item in items]
    assert len(items) == 4
    for item in items:
        assert not {"salt", "digest", "key", "secret"} & set(item), item
    assert secret not in listing.text
    assert key not in listing.text

    # On disk: the digest, never the secret; readable by the owner only.
    text = keyed.key_file.read_text()
    assert key_id in text
    assert secret not in text
    assert key not in text
    assert stat.S_IMODE(keyed.key_file.stat().st_mode) == 0o600

    revoked = httpx.delete(f"{keyed.url}/admin/keys/{key_id}", headers=keyed.admin_headers())
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["key_id"] == key_id
    assert revoked.json()["revoked_at"] is not None
    assert not {"salt", "digest", "key"} & set(revoked.json())
    for headers in (bearer(key), {"api-key": key}):
        message = assert_unauthorized(chat(keyed.url, headers), code="revoked_api_key", secret=key)
        assert "revoked" in message
    relisted = httpx.get(f"{keyed.url}/admin/keys", headers=keyed.admin_headers()).json()["data"]
    assert [i["revoked_at"] is not None for i in relisted if i["key_id"] == key_id] == [True]
    assert stat.S_IMODE(keyed.key_file.stat().st_mode) == 0o600

    missing = httpx.delete(f"{keyed.url}/admin/keys/zzzzzzzzzzzz", headers=keyed.admin_headers())
    assert_error(missing, 404, "key_not_found")


def test_a_key_created_to_expire_stops_working_when_it_does(keyed: KeyedGateway) -> None:
    created = create_key(keyed, subject="temp", team="platform", roles=["developer"], expires_in_days=1.0 / 86400)
    assert created["expires_at"] is not None
    assert chat(keyed.url, bearer(created["key"])).status_code == 200
    time.sleep(max(0.0, created["expires_at"] - time.time()) + 0.05)
    message = assert_unauthorized(
        chat(keyed.url, bearer(created["key"])), code="expired_api_key", secret=created["key"]
    )
    assert "expired" in message


INVALID_CREATIONS: list[dict[str, Any]] = [
    {"subject": "x", "team": "t", "roles": []},
    {"subject": "x", "team": "t", "roles": "admin"},
    {"subject": "x", "team": "t", "roles": [""]},
    {"subject": "", "team": "t", "roles": ["developer"]},
    {"team": "t", "roles": ["developer"]},
    {"subject": "x", "team": "t", "roles": ["developer"], "expires_in_days": 0},
    {"subject": "x", "team": "t", "roles": ["developer"], "expires_in_days": -1},
    {"subject": "x", "team": "t", "roles": ["developer"], "expires_in_days": True},
    {"subject": "x" * 1000, "team": "t", "roles": ["developer"]},
]


def test_invalid_key_requests_are_400_and_create_nothing(keyed: KeyedGateway) -> None:
    with httpx.Client(timeout=10, headers=keyed.admin_headers()) as http:
        for body in INVALID_CREATIONS:
            assert_error(http.post(f"{keyed.url}/admin/keys", json=body), 400)
        assert_error(http.post(f"{keyed.url}/admin/keys", content=b"{not json"), 400)
        assert len(http.get(f"{keyed.url}/admin/keys").json()["data"]) == 3


def other_secret(key: str) -> str:
    """The same key id with another well-formed secret."""
    head, _, secret = key.rpartition("_")
    return f"{head}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"


def test_a_wrong_secret_for_a_real_key_id_is_refused_without_telling_its_state(keyed: KeyedGateway) -> None:
    for key in (keyed.developer, keyed.expired, keyed.admin):
        forged = other_secret(key)
        message = assert_unauthorized(chat(keyed.url, bearer(forged)), code="invalid_api_key", secret=forged)
        assert "expired" not in message
        assert "revoked" not in message
    # A revoked key's id with a wrong secret says nothing about the revocation either.
    created = create_key(keyed, subject="gone", team="platform", roles=["developer"])
    assert httpx.delete(f"{keyed.url}/admin/keys/{created['key_id']}", headers=keyed.admin_headers()).status_code == 200
    forged = other_secret(created["key"])
    assert "revoked" not in assert_unauthorized(chat(keyed.url, bearer(forged)), code="invalid_api_key", secret=forged)


MALFORMED_KEYS = [
    "gw-",
    "gw-_",
    "gw-abc_def",
    "gw-ABCDEFGHIJKL_" + "a" * 43,
    "gw-abcdefghijkl_" + "a" * 42,
    "gw-abcdefghijkl_" + "a" * 44,
    "gw-abcdefghijkl-" + "a" * 43,
    "gw-abcdefghijk_" + "a" * 44,
    "gw-abcdefghijkl_" + "a" * 42 + "=",
    "gw-abcdefghijkl_" + "a" * 42 + "/",
    "gw-../../etc/pas_" + "a" * 43,
    "gw-abcdefghijkl_" + "a" * 43 + "_" + "a" * 43,
    "gw-" + "a" * 20000,
    "GW-abcdefghijkl_" + "a" * 43,
]


def test_malformed_gateway_keys_are_401(keyed: KeyedGateway) -> None:
    with httpx.Client(timeout=10) as http:
        for credential in MALFORMED_KEYS:
            assert_unauthorized(chat(keyed.url, bearer(credential), client=http), secret=credential)


def test_a_well_formed_key_unknown_to_the_store_is_401(keyed: KeyedGateway) -> None:
    unknown, _ = new_key("nobody", "platform", ("admin",))
    assert_unauthorized(chat(keyed.url, bearer(unknown)), code="invalid_api_key", secret=unknown)
    response = httpx.get(f"{keyed.url}/admin/keys", headers=bearer(unknown))
    assert_unauthorized(response, code="invalid_api_key", secret=unknown)


def test_only_admins_reach_the_admin_api(keyed: KeyedGateway) -> None:
    calls = [
        ("POST", "/admin/keys", {"subject": "x", "team": "t", "roles": ["admin"]}, "keys.create"),
        ("GET", "/admin/keys", None, "keys.list"),
        ("DELETE", "/admin/keys/abcdefghijkl", None, "keys.revoke"),
    ]
    for credential in (keyed.developer, DEMO_KEY):
        for method, path, body, action in calls:
            response = httpx.request(method, f"{keyed.url}{path}", json=body, headers=bearer(credential))
            error = assert_error(response, 403, "access_denied")
            assert error["type"] == "permission_error"
            assert action in error["message"]
        for method, path, body, _ in calls:
            response = httpx.request(method, f"{keyed.url}{path}", json=body)
            assert_unauthorized(response, code="missing_credentials")
    assert len(httpx.get(f"{keyed.url}/admin/keys", headers=keyed.admin_headers()).json()["data"]) == 3


UNUSABLE_CREDENTIALS = [
    ({}, "missing_credentials"),
    ({"api-key": ""}, "missing_credentials"),
    ({"authorization": "Basic YWRtaW46YWRtaW4="}, "invalid_auth"),
    ({"authorization": "Bearer"}, "invalid_auth"),
    ({"authorization": "bearer"}, "invalid_auth"),
    ({"authorization": "Token gw-abcdefghijkl_" + "a" * 43}, "invalid_auth"),
    ({"authorization": DEMO_KEY}, "invalid_auth"),
    ({"authorization": "Bearer not-a-key"}, "invalid_api_key"),
]


def test_missing_or_unusable_credentials_are_401(keyed: KeyedGateway) -> None:
    with httpx.Client(timeout=10) as http:
        for headers, code in UNUSABLE_CREDENTIALS:
            for response in (
                chat(keyed.url, headers, client=http),
                http.get(f"{keyed.url}/v1/models", headers=headers),
            ):
                assert_unauthorized(response, code=code)


def test_the_demo_key_works_only_where_the_policy_grants_the_demo_role(keyed: KeyedGateway, sdk: MakeSdk) -> None:
    client = sdk(keyed.url, api_key=DEMO_KEY)
    assert client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}]).choices
    for model in ("premium", "claude-sonnet"):
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert [m.id for m in client.models.list()] == ["echo"]
    assert_error(httpx.get(f"{keyed.url}/admin/keys", headers=bearer(DEMO_KEY)), 403, "access_denied")


def test_a_revocation_by_another_process_reaches_the_gateway_within_seconds(keyed: KeyedGateway) -> None:
    assert chat(keyed.url, bearer(keyed.developer)).status_code == 200
    parts = split_key(keyed.developer)
    assert parts is not None
    FileKeyStore(keyed.key_file).revoke_now(parts[0])  # as `gateway keys revoke` would
    deadline = time.monotonic() + 3
    status = 200
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        status = chat(keyed.url, bearer(keyed.developer)).status_code
    assert status == 401


# --- the comparison itself -------------------------------------------------


def test_compare_digest_is_what_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    key, record = new_key("alice", "platform", ("developer",))
    parts = split_key(key)
    assert parts is not None
    secret = parts[1]
    wrong = other_secret(key).rpartition("_")[2]
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(COMPARE_DIGEST, spy)
    assert not secret_matches(record, wrong)
    expected = hashlib.sha256(bytes.fromhex(record.salt) + wrong.encode()).hexdigest()
    assert calls == [(expected, record.digest)]
    assert secret_matches(record, secret)
    assert len(calls) == 2
    # Whatever compare_digest answers is the answer: no other comparison short-cuts it.
    monkeypatch.setattr(COMPARE_DIGEST, lambda a, b: False)
    assert not secret_matches(record, secret)
    monkeypatch.setattr(COMPARE_DIGEST, lambda a, b: True)
    assert secret_matches(record, wrong)


def _stored_key(tmp_path: Path) -> tuple[FileKeyStore, str, KeyRecord, Authenticator]:
    """A key in a file store, and an authenticator over that store (no JWT, so no fetches)."""
    store = FileKeyStore(tmp_path / "keys.json")
    key, record = new_key("alice", "platform", ("developer",))
    store.put_now(record)

    async def no_fetch(url: str, deadline: float, max_bytes: int) -> bytes:
        raise AssertionError("no fetch expected")

    return store, key, record, Authenticator(AuthConfig(key_file=str(store.path)), store, no_fetch)


async def test_the_authenticator_compares_a_wrong_secret_with_compare_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key, record, authenticator = _stored_key(tmp_path)
    assert (await authenticator.authenticate(bearer(key))).key_id == record.key_id
    digests: list[Any] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        digests.append(b)
        return real(a, b)

    monkeypatch.setattr(COMPARE_DIGEST, spy)
    with pytest.raises(AuthenticationError) as caught:
        await authenticator.authenticate(bearer(other_secret(key)))
    assert caught.value.code == "invalid_api_key"
    # The key's good secret is remembered after the first check: the wrong one is compared with it.
    wrong = split_key(other_secret(key))
    assert wrong is not None
    assert digests == [wrong[1]]


async def test_a_verified_secret_is_not_hashed_again_until_its_record_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []

    def counting(record: KeyRecord, secret: str) -> bool:
        hashed.append(secret)
        return secret_matches(record, secret)

    monkeypatch.setattr("gateway.identity.authenticator.secret_matches", counting)
    store, key, record, authenticator = _stored_key(tmp_path)
    for _ in range(3):
        assert (await authenticator.authenticate(bearer(key))).key_id == record.key_id
    assert len(hashed) == 1
    with pytest.raises(AuthenticationError):
        await authenticator.authenticate(bearer(other_secret(key)))
    assert len(hashed) == 1  # refused by comparing with the remembered secret
    # A changed record (here: revoked by another process) is a new object: checked afresh, then refused.
    store.put_now(record.revoked())
    monkeypatch.setattr("gateway.identity.keystore.RECHECK_SECONDS", 0.0)
    with pytest.raises(AuthenticationError) as caught:
        await authenticator.authenticate(bearer(key))
    assert caught.value.code == "revoked_api_key"
    assert len(hashed) == 2


async def test_a_key_keeps_one_principal_until_its_record_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, key, record, authenticator = _stored_key(tmp_path)
    first = await authenticator.authenticate(bearer(key))
    # The same object each time: the audit trail serialises a principal once, keyed by identity.
    assert await authenticator.authenticate(bearer(key)) is first
    rotated = replace(record, roles=("auditor",))
    store.put_now(rotated)
    monkeypatch.setattr("gateway.identity.keystore.RECHECK_SECONDS", 0.0)
    changed = await authenticator.authenticate(bearer(key))
    assert changed is not first
    assert changed.roles == ("auditor",)


def test_records_hold_a_salted_digest_and_public_views_hold_neither(tmp_path: Path) -> None:
    key, record = new_key("alice", "platform", ("developer",))
    again, other = new_key("alice", "platform", ("developer",))
    assert key != again
    assert record.key_id != other.key_id
    assert record.salt != other.salt
    parts = split_key(key)
    assert parts is not None
    assert record.digest == hashlib.sha256(bytes.fromhex(record.salt) + parts[1].encode()).hexdigest()
    assert parts[1] not in repr(record)
    assert record.digest not in repr(record)
    assert not {"salt", "digest"} & set(record.public())
    assert KeyRecord.from_dict(record.to_dict()) == record
    store = FileKeyStore(tmp_path / "nested" / "keys.json")
    store.put_now(record)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert parts[1] not in store.path.read_text()
    assert FileKeyStore(store.path).get_now(record.key_id) == record
    revoked = store.revoke_now(record.key_id)
    assert revoked is not None
    assert revoked.revoked_at is not None
    assert store.revoke_now("nonexistent12") is None
