"""The auditors' JSON API and page: authenticated, authorized, audited, read-only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.audit.conftest import DEVELOPER_KEY, trail_records
from tests.conftest import CLIENT_KEY

AUTH = {"authorization": f"Bearer {CLIENT_KEY}"}
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def review_url(audited_gateway: Callable[..., str]) -> str:
    url = audited_gateway()
    for _ in range(3):
        assert httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH).status_code == 200
    denied = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {DEVELOPER_KEY}"})
    assert denied.status_code == 403
    return url


def test_the_api_needs_a_key_and_the_audit_permission(review_url: str, trail: Path) -> None:
    anonymous = httpx.get(f"{review_url}/admin/audit/records")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"
    developer = httpx.get(f"{review_url}/admin/audit/verify", headers={"authorization": f"Bearer {DEVELOPER_KEY}"})
    assert developer.status_code == 403
    # Looking at the trail is itself on the trail, refused attempts included.
    record = trail_records(trail)[developer.headers["x-request-id"]]
    assert (record["operation"], record["decision"]["action"], record["status"]) == (
        "audit.verify",
        "audit.verify",
        403,
    )


def test_search_filters_and_limits(review_url: str) -> None:
    page = httpx.get(f"{review_url}/admin/audit/records", params={"subject": "tester", "model": "echo"}, headers=AUTH)
    assert page.status_code == 200
    body = page.json()
    assert body["object"] == "list"
    assert [r["principal"]["subject"] for r in body["data"]] == ["tester"] * 3
    times = [r["time"] for r in body["data"]]
    assert times == sorted(times, reverse=True)
    denials = httpx.get(f"{review_url}/admin/audit/records", params={"decision": "deny"}, headers=AUTH).json()["data"]
    assert [r["principal"]["subject"] for r in denials] == ["dev"]
    limited = httpx.get(f"{review_url}/admin/audit/records", params={"limit": "2"}, headers=AUTH).json()
    assert (len(limited["data"]), limited["has_more"]) == (2, True)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"colour": "red"}, "colour"),
        ({"decision": "maybe"}, "decision"),
        ({"limit": "0"}, "limit"),
        ({"since": "x"}, "since"),
    ],
)
def test_bad_filters_are_named(review_url: str, params: dict[str, str], param: str) -> None:
    response = httpx.get(f"{review_url}/admin/audit/records", params=params, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_one_record_by_request_id_and_chain_status(review_url: str) -> None:
    chat = httpx.post(f"{review_url}/v1/chat/completions", json=CHAT, headers=AUTH)
    request_id = chat.headers["x-request-id"]
    record = httpx.get(f"{review_url}/admin/audit/records/{request_id}", headers=AUTH)
    assert record.status_code == 200
    assert record.json()["request_id"] == request_id
    missing = httpx.get(f"{review_url}/admin/audit/records/req_nope", headers=AUTH)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "record_not_found")
    report = httpx.get(f"{review_url}/admin/audit/verify", headers=AUTH).json()
    assert report["ok"] is True
    assert report["replicas"][0]["records"] >= 5


def test_the_page_is_static_and_locked_down(review_url: str) -> None:
    page = httpx.get(f"{review_url}/audit")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script" in page.text
    assert "http" not in page.text.replace("http-equiv", ""), "the page must load nothing from elsewhere"
    script = httpx.get(f"{review_url}/audit/audit.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text
    assert httpx.get(f"{review_url}/audit/audit.css").status_code == 200
    assert httpx.post(f"{review_url}/audit").status_code == 405
