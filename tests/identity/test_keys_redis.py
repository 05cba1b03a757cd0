"""Two gateway replicas sharing one throwaway Redis: keys are shared and revocations reach every replica at once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from gateway.identity.keystore_redis import CACHE_SECONDS
from tests.identity.support import StartGateway, assert_unauthorized, bearer, chat, gateway_document
from tests.redis_server import RedisServer

ADMIN_KEY = "replica-admin-demo-key"
POLICY = """\
p, admin, *, *, keys.*, allow
p, developer, *, echo, *, allow
"""


def replica(start_gateway: StartGateway, directory: Path, redis_url: str) -> str:
    auth = {
        "key_file": None,
        "demo_keys": [{"key": ADMIN_KEY, "subject": "ops", "team": "ops", "roles": ["admin"]}],
    }
    return start_gateway(gateway_document(directory, auth=auth, rules=POLICY, state={"redis_url": redis_url}))


def test_a_key_made_on_one_replica_works_on_another_and_its_revocation_is_immediate(
    start_gateway: StartGateway, redis_server: RedisServer, tmp_path: Path
) -> None:
    a = replica(start_gateway, tmp_path / "a", redis_server.url)
    b = replica(start_gateway, tmp_path / "b", redis_server.url)
    with httpx.Client(timeout=10) as http:
        created = http.post(
            f"{a}/admin/keys",
            json={"subject": "erin", "team": "platform", "roles": ["developer"]},
            headers=bearer(ADMIN_KEY),
        )
        assert created.status_code == 201, created.text
        key, key_id = created.json()["key"], created.json()["key_id"]

        # B has never seen the key: it reads it from Redis, then serves it from its cache.
        for _ in range(3):
            assert chat(b, bearer(key), client=http).status_code == 200
        listed = http.get(f"{b}/admin/keys", headers=bearer(ADMIN_KEY)).json()["data"]
        assert [item["key_id"] for item in listed] == [key_id]
        assert "salt" not in listed[0]
        assert "digest" not in listed[0]

        revoked = http.delete(f"{a}/admin/keys/{key_id}", headers=bearer(ADMIN_KEY))
        assert revoked.status_code == 200, revoked.text
        started = time.monotonic()
        while chat(b, bearer(key), client=http).status_code == 200:
            assert time.monotonic() - started < CACHE_SECONDS, "B kept serving a revoked key from its cache"
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        assert elapsed < 0.5, f"the revocation took {elapsed:.2f}s to reach replica B"
        message = assert_unauthorized(chat(b, bearer(key), client=http), code="revoked_api_key", secret=key)
        assert "revoked" in message
        assert_unauthorized(chat(a, bearer(key), client=http), code="revoked_api_key", secret=key)
