"""Configuration loading: every mistake stops start-up with a message naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def _doc(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "providers": {
            "echo": {"type": "echo"},
            "openai": {"type": "openai", "base_url": "https://api.openai.com/v1", "api_key": "${OPENAI_API_KEY}"},
        },
        "models": {"m": {"deployments": [{"provider": "openai", "model": "gpt-4o"}]}},
        "auth": {"key_file": "var/keys.json"},
    }
    document.update(overrides)
    return document


def test_environment_interpolation() -> None:
    config = parse_config(_doc(), env={"OPENAI_API_KEY": "sk-from-env"})
    assert config.providers["openai"].api_key == "sk-from-env"
    assert "sk-from-env" not in repr(config.providers["openai"])


def test_missing_environment_variable_names_key_and_variable() -> None:
    with pytest.raises(ConfigError, match=r"providers\.openai\.api_key: environment variable OPENAI_API_KEY"):
        parse_config(_doc(), env={})


def test_default_interpolation_and_optional_providers() -> None:
    document = _doc()
    document["providers"]["openai"].update({"api_key": "${OPENAI_API_KEY:-}", "optional": True})
    document["models"]["e"] = {"deployments": [{"provider": "echo", "model": "echo-1"}]}
    config = parse_config(document, env={})
    assert config.inactive_providers == ("openai",)
    assert set(config.models) == {"e"}


def test_required_provider_without_key_refuses_to_start() -> None:
    document = _doc()
    document["providers"]["openai"]["api_key"] = "${OPENAI_API_KEY:-}"
    with pytest.raises(ConfigError, match=r"providers\.openai\.api_key: required"):
        parse_config(document, env={})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["providers"]["openai"].update(type="openia"), r"providers\.openai\.type: unknown provider type"),
        (lambda d: d["providers"]["openai"].update(base_url="ftp://x"), r"providers\.openai\.base_url"),
        (lambda d: d["providers"]["openai"].update(timeouts={"read": -1}), r"providers\.openai\.timeouts\.read"),
        (lambda d: d["providers"]["openai"].update(colour="blue"), r"providers\.openai: unknown key 'colour'"),
        (lambda d: d["providers"]["openai"].update(forward_headers=["Authorization"]), r"may never be forwarded"),
        (lambda d: d["models"]["m"]["deployments"][0].update(provider="nope"), r"no provider named 'nope'"),
        (lambda d: d["models"].update({"bad name!": {"deployments": []}}), r"models\.bad name!"),
        (lambda d: d.update(server={"port": "eighty"}), r"server\.port"),
        (lambda d: d.update(models={}), r"no model is configured"),
        (lambda d: d.update(extra=1), r"unknown key 'extra'"),
    ],
)
def test_invalid_configs_name_the_key(mutate: Any, message: str) -> None:
    document = _doc()
    mutate(document)
    with pytest.raises(ConfigError, match=message):
        parse_config(document, env={"OPENAI_API_KEY": "k"})


def _anthropic(options: Any, **extra: Any) -> dict[str, Any]:
    document = _doc()
    document["providers"]["claude"] = {
        "type": "anthropic",
        "base_url": "https://api.anthropic.com",
        "api_key": "k",
        "options": options,
        **extra,
    }
    return document


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"anthropic_versoin": "2023-06-01"},
            r"providers\.claude\.options\.anthropic_versoin: unknown option \(this provider type accepts: "
            r"anthropic_version, beta, default_max_tokens, drop_sampling_params, thinking_mode\)",
        ),
        ({"default_max_tokens": "lots"}, r"options\.default_max_tokens: expected an integer, got 'lots'"),
        ({"default_max_tokens": 0}, r"options\.default_max_tokens: expected at least 1, got 0"),
        ({"default_max_tokens": True}, r"options\.default_max_tokens: expected an integer"),
        ({"drop_sampling_params": "yes"}, r"options\.drop_sampling_params: expected true or false"),
        ({"thinking_mode": "manual"}, r"options\.thinking_mode: expected one of adaptive, budget, got 'manual'"),
        ({"beta": ["a", 2]}, r"options\.beta: expected a string or a list of strings"),
        ({"anthropic_version": "2023-06-01\r\nx-evil: 1"}, r"options\.anthropic_version: may not contain a line break"),
        ("2023-06-01", r"providers\.claude\.options: expected a mapping"),
    ],
)
def test_provider_options_are_checked_against_the_wire_format(options: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_anthropic(options), env={"OPENAI_API_KEY": "k"})


def test_provider_options_of_an_optional_provider_are_checked_without_its_key() -> None:
    document = _anthropic({"api_verison": "x"}, api_key="${ANTHROPIC_API_KEY:-}", optional=True)
    with pytest.raises(ConfigError, match=r"providers\.claude\.options\.api_verison: unknown option"):
        parse_config(document, env={"OPENAI_API_KEY": "k"})


def test_provider_options_that_fit_are_kept() -> None:
    options = {
        "anthropic_version": "2023-06-01",
        "beta": ["files-api-2025-04-14"],
        "default_max_tokens": 8192,
        "drop_sampling_params": True,
        "thinking_mode": "budget",
    }
    config = parse_config(_anthropic(options), env={"OPENAI_API_KEY": "k"})
    assert dict(config.providers["claude"].options) == options
    document = _doc()
    document["providers"]["openai"]["options"] = {"api_version": "2024-10-21"}
    with pytest.raises(ConfigError, match=r"options\.api_version: unknown option \(this provider type accepts: none\)"):
        parse_config(document, env={"OPENAI_API_KEY": "k"})


def test_authentication_cannot_be_left_out_by_accident() -> None:
    document = _doc()
    del document["auth"]
    with pytest.raises(ConfigError, match=r"auth: no authentication is configured"):
        parse_config(document, env={"OPENAI_API_KEY": "k"})
    document["auth"] = {"key_file": None}
    with pytest.raises(ConfigError, match=r"auth: every way to authenticate is off"):
        parse_config(document, env={"OPENAI_API_KEY": "k"})
    document["auth"] = {"key_file": None, "anonymous": True}
    assert parse_config(document, env={"OPENAI_API_KEY": "k"}).auth.anonymous


@pytest.mark.parametrize(
    ("jwt", "message"),
    [
        ({"algorithms": ["none"]}, r"'none' is not an accepted algorithm"),
        ({"algorithms": ["HS256"]}, r"auth\.jwt\.secret: required"),
        ({"algorithms": ["HS256"], "secret": "short"}, r"at least 32 characters"),
        ({"algorithms": ["RS256"]}, r"jwks_file or jwks_url is required"),
        ({"algorithms": ["RS256"], "jwks_url": "x", "audiance": "typo"}, r"unknown key 'audiance'"),
    ],
)
def test_jwt_settings_are_checked(jwt: dict[str, Any], message: str) -> None:
    document = _doc()
    document["auth"]["jwt"] = jwt
    with pytest.raises(ConfigError, match=message):
        parse_config(document, env={"OPENAI_API_KEY": "k"})


def test_interpolated_values_cannot_inject_structure() -> None:
    config = parse_config(_doc(), env={"OPENAI_API_KEY": "x\nmodels: {}"})
    assert config.providers["openai"].api_key == "x\nmodels: {}"


def test_the_example_config_is_valid_with_and_without_keys() -> None:
    config = load_config(ROOT / "config.example.yaml", env={})
    assert "echo" in config.models
    assert set(config.inactive_providers) == {"openai", "anthropic", "gemini"}
    full = load_config(
        ROOT / "config.example.yaml", env={"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b", "GEMINI_API_KEY": "c"}
    )
    assert not full.inactive_providers
    assert {"gpt-4o-mini", "claude-sonnet", "gemini-flash"} <= set(full.models)


def test_cli_reports_a_bad_config_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n  x: {type: nope}\nmodels: {}\nauth: {}\n")
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "config", "check", "--config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "providers.x.type: unknown provider type 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_deployment_pricing_is_parsed_and_applied() -> None:
    document = _doc()
    document["models"]["m"]["deployments"][0]["pricing"] = {"input": 2.5, "cached_input": 1.25, "output": 10}
    pricing = parse_config(document, env={"OPENAI_API_KEY": "k"}).models["m"].deployments[0].pricing
    assert pricing is not None
    usage: Any = {"prompt_tokens": 1000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 400}}
    assert pricing.cost(usage) == pytest.approx((600 * 2.5 + 400 * 1.25 + 100 * 10) / 1_000_000)
    document["models"]["m"]["deployments"][0]["pricing"] = {"input": -1, "output": 1}
    with pytest.raises(ConfigError, match=r"models\.m\.deployments\[0\]\.pricing\.input"):
        parse_config(document, env={"OPENAI_API_KEY": "k"})
