"""The audit: section, the compliance capture policy, and the built-in redactor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.audit.capture import CapturePolicy, load_capture_policy, mask_text, parse_capture_policy
from gateway.audit.config import AuditConfig, parse_audit_config
from gateway.audit.log import AuditLog
from gateway.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def _document(**audit: Any) -> dict[str, Any]:
    return {
        "providers": {"echo": {"type": "echo"}},
        "models": {"echo": {"deployments": [{"provider": "echo"}]}},
        "auth": {"anonymous": True},
        "audit": audit,
    }


def test_defaults_without_an_audit_section() -> None:
    document = _document()
    del document["audit"]
    config = parse_config(document, env={})
    assert config.audit == AuditConfig()
    assert (config.audit.dir, config.audit.fsync, config.audit.sinks) == ("var/audit", True, ("file",))
    assert config.audit.capture_policy == "policies/audit.yaml"


def test_checkpoint_key_comes_from_the_environment_and_stays_out_of_repr() -> None:
    config = parse_config(_document(checkpoint_key="${AUDIT_CHECKPOINT_KEY}"), env={"AUDIT_CHECKPOINT_KEY": "k-123"})
    assert config.audit.checkpoint_key == "k-123"
    assert "k-123" not in repr(config.audit)


def test_file_sink_is_always_on_and_redis_falls_back_to_state_url() -> None:
    assert parse_audit_config({"sinks": ["stdout"]}).sinks == ("file", "stdout")
    document = _document(sinks=["redis", "stdout"])
    document["state"] = {"redis_url": "redis://127.0.0.1:6379/0"}
    config = parse_config(document, env={})
    assert config.audit.sinks == ("file", "stdout", "redis")
    assert config.audit.redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        ({"colour": 1}, r"audit: unknown key 'colour'"),
        ({"dir": ""}, r"audit\.dir: expected a non-empty string"),
        ({"segment_max_bytes": 10}, r"audit\.segment_max_bytes: expected an integer of at least 4096"),
        ({"group_commit_ms": -1}, r"audit\.group_commit_ms: expected a number greater than 0"),
        ({"fsync": "yes"}, r"audit\.fsync: expected true or false"),
        ({"retention_days": -3}, r"audit\.retention_days"),
        ({"retention_action": "shred"}, r"audit\.retention_action: expected one of delete, archive"),
        ({"sinks": ["kafka"]}, r"audit\.sinks: unknown sink 'kafka'"),
        ({"sinks": ["redis"]}, r"audit\.redis_url: required when the redis sink is enabled"),
        ({"redis_url": "http://x"}, r"audit\.redis_url: expected a redis://"),
        ({"replica_id": "a/b"}, r"audit\.replica_id"),
        ({"checkpoint_every": 0}, r"audit\.checkpoint_every"),
    ],
)
def test_invalid_audit_settings_name_the_key(audit: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_document(**audit), env={})


def test_the_example_config_documents_every_audit_option() -> None:
    text = (ROOT / "config.example.yaml").read_text()
    section = text[text.index("\naudit:") :]
    for option in AuditConfig.__slots__:
        assert f"{option}:" in section, f"config.example.yaml does not document audit.{option}"
    config = load_config(ROOT / "config.example.yaml", env={})
    assert config.audit.checkpoint_key == ""


def test_the_shipped_capture_policy_captures_nothing_by_default() -> None:
    policy = load_capture_policy(ROOT / "policies" / "audit.yaml")
    assert policy.default == "none"
    assert policy.mode_for("anyone") == "none"


def test_per_team_capture_modes() -> None:
    policy = parse_capture_policy({"default": "redacted", "teams": {"legal": "full", "sales": "none"}})
    assert [policy.mode_for(t) for t in ("legal", "sales", "other", None)] == ["full", "none", "redacted", "redacted"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"default": "everything"}, r"default: expected one of none, redacted, full"),
        ({"teams": {"x": "some"}}, r"teams\.x: expected one of"),
        ({"mode": "none"}, r"unknown key 'mode'"),
    ],
)
def test_invalid_capture_policies_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_capture_policy(document)


def test_missing_capture_policy_means_capture_nothing(tmp_path: Path) -> None:
    assert load_capture_policy(tmp_path / "absent.yaml").default == "none"
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_capture_policy(bad)


def test_mask_text_hides_emails_phones_and_keys() -> None:
    text = (
        "Mail jane.doe@example.com or call +1 (555) 010-9999; key sk-proj-AbCdEf123456 "
        "token 9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddcc; order 12345 stays."
    )
    masked = mask_text(text)
    for secret in ("jane.doe@example.com", "555) 010-9999", "sk-proj-AbCdEf123456", "9f8e7d6c5b4a3928"):
        assert secret not in masked
    assert "[email]" in masked
    assert "[phone]" in masked
    assert "order 12345 stays." in masked


def test_a_redactor_hook_replaces_the_built_in_one() -> None:
    policy = CapturePolicy(default="redacted").with_redactor(str.upper)
    assert policy.redactor("abc") == "ABC"


def test_an_unreadable_signing_key_stops_start_up_with_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-key.pem").write_text("hello")
    for key_file in (tmp_path / "absent.pem", tmp_path / "not-a-key.pem"):
        with pytest.raises(ConfigError, match=r"audit\.checkpoint_signing_key"):
            AuditLog(AuditConfig(dir=str(tmp_path), checkpoint_signing_key=str(key_file)), capture=CapturePolicy())
