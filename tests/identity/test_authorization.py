"""Authorization end to end: deny by default, explicit deny wins, team domains, inheritance, catalogue, admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.identity.support import MakeSdk, StartGateway, assert_error, bearer, chat, gateway_document

POLICY = """\
# Everyone may list; the list shows only usable models.
p, *, *, *, models.list, allow
p, demo, *, echo, *, allow
p, developer, *, echo, *, allow
p, developer, research, premium, *, allow
g, senior-developer, developer, *
p, senior-developer, *, claude-*, chat, allow
g, intern, developer, research
p, contractor, *, claude-*, *, deny
p, admin, *, *, keys.*, allow
"""

#: name -> (team, roles)
PRINCIPALS: dict[str, tuple[str, list[str]]] = {
    "dev-platform": ("platform", ["developer"]),
    "dev-research": ("research", ["developer"]),
    "senior": ("platform", ["senior-developer"]),
    "contractor-senior": ("platform", ["contractor", "senior-developer"]),
    "intern-research": ("research", ["intern"]),
    "intern-platform": ("platform", ["intern"]),
    "stranger": ("platform", ["superuser"]),
    "no-roles": ("platform", []),
    "admin": ("ops", ["admin"]),
    "demo": ("demo", ["demo"]),
}

MODELS = ("echo", "premium", "claude-sonnet")
#: What each principal may chat with; everything else must be denied.
ALLOWED: dict[str, set[str]] = {
    "dev-platform": {"echo"},
    "dev-research": {"echo", "premium"},
    "senior": {"echo", "claude-sonnet"},
    "contractor-senior": {"echo"},
    "intern-research": {"echo", "premium"},
    "intern-platform": set(),
    "stranger": set(),
    "no-roles": set(),
    "admin": set(),
    "demo": {"echo"},
}


def key_of(name: str) -> str:
    return f"demo-key-{name}"


@pytest.fixture
def gateway(start_gateway: StartGateway, tmp_path: Path) -> str:
    auth = {
        "key_file": None,
        "demo_keys": [
            {"key": key_of(name), "subject": name, "team": team, "roles": roles}
            for name, (team, roles) in PRINCIPALS.items()
        ],
    }
    return start_gateway(gateway_document(tmp_path, auth=auth, rules=POLICY))


def test_chat_is_allowed_exactly_where_the_policy_says(gateway: str) -> None:
    observed: dict[str, set[str]] = {}
    denials: list[dict[str, Any]] = []
    with httpx.Client(timeout=10) as http:
        for name in PRINCIPALS:
            observed[name] = set()
            for model in MODELS:
                response = chat(gateway, bearer(key_of(name)), model=model, client=http)
                assert response.status_code in (200, 403), response.text
                if response.status_code == 200:
                    observed[name].add(model)
                else:
                    denials.append(assert_error(response, 403, "access_denied") | {"model": model})
    assert observed == ALLOWED
    for error in denials:
        assert error["type"] == "permission_error"
        assert error["message"] == f"You are not allowed to use 'chat' with the model '{error['model']}'."


def test_denials_do_not_reveal_policy_internals(gateway: str) -> None:
    response = chat(gateway, bearer(key_of("contractor-senior")), model="claude-sonnet")
    error = assert_error(response, 403, "access_denied")
    for internal in ("p,", "g,", "deny", "contractor", "senior", "claude-*", "policy", "rule", "research"):
        assert internal not in error["message"], internal
    assert "policy" not in response.text.lower()


def test_embeddings_are_authorized_as_their_own_action(gateway: str, sdk: MakeSdk) -> None:
    assert sdk(gateway, api_key=key_of("dev-platform")).embeddings.create(model="echo", input="hi").data
    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(gateway, api_key=key_of("stranger")).embeddings.create(model="echo", input="hi")
    assert "'embeddings'" in str(denied.value)


def test_the_model_list_shows_only_usable_models(gateway: str, sdk: MakeSdk) -> None:
    for name, allowed in ALLOWED.items():
        listed = {model.id for model in sdk(gateway, api_key=key_of(name)).models.list()}
        assert listed == allowed, name


def test_a_forbidden_model_does_not_exist_for_the_caller(gateway: str, sdk: MakeSdk) -> None:
    client = sdk(gateway, api_key=key_of("dev-platform"))
    assert client.models.retrieve("echo").id == "echo"
    assert sdk(gateway, api_key=key_of("dev-research")).models.retrieve("premium").id == "premium"
    messages = {}
    for model in ("premium", "claude-sonnet", "no-such-model"):
        with pytest.raises(openai.NotFoundError) as missing:
            client.models.retrieve(model)
        messages[model] = missing.value.body
    # A forbidden model and a model that does not exist are indistinguishable.
    assert messages["premium"] == {
        "message": "The model 'premium' does not exist.",
        "type": "not_found_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert messages["no-such-model"] == {**messages["premium"], "message": "The model 'no-such-model' does not exist."}


def test_admin_endpoints_are_for_admins_only(gateway: str) -> None:
    with httpx.Client(timeout=10) as http:
        for name in PRINCIPALS:
            response = http.get(f"{gateway}/admin/keys", headers=bearer(key_of(name)))
            if name == "admin":
                # This gateway has no key store: the admin passed authorization and reached the stage.
                assert_error(response, 404)
            else:
                error = assert_error(response, 403, "access_denied")
                assert error["message"] == "You are not allowed to perform 'keys.list'."
            denied = http.post(
                f"{gateway}/admin/keys",
                json={"subject": name, "team": "ops", "roles": ["admin"]},
                headers=bearer(key_of(name)),
            )
            assert denied.status_code == (404 if name == "admin" else 403), denied.text
