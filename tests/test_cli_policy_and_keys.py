"""The command-line tools compliance teams and operators use: ``gateway policy`` and ``gateway keys``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.audit.conftest import trail_lines

ROOT = Path(__file__).resolve().parents[1]


def gateway(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=60
    )


def test_policy_check_prints_the_deciding_rule() -> None:
    allowed = gateway(
        "policy", "check", "--role", "developer", "--team", "platform", "--model", "gpt-4o-mini", "--action", "chat"
    )
    assert allowed.returncode == 0
    assert allowed.stdout.startswith("allow: chat on gpt-4o-mini")
    assert "decided by: p, developer, *, gpt-4o-mini*, chat, allow" in allowed.stdout
    denied = gateway(
        "policy",
        "check",
        "--role",
        "contractor",
        "--role",
        "senior-developer",
        "--team",
        "platform",
        "--model",
        "claude-sonnet",
        "--action",
        "chat",
    )
    assert denied.returncode == 1
    assert "decided by: p, contractor, *, claude-*, *, deny" in denied.stdout
    nothing = gateway("policy", "check", "--role", "nobody", "--model", "echo", "--action", "chat")
    assert nothing.returncode == 1
    assert "no rule matched (deny by default)" in nothing.stdout


def test_the_shipped_policy_passes_its_own_assertions() -> None:
    result = gateway("policy", "test", "policies/tests.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed" in result.stdout


def test_policy_test_fails_when_an_assertion_breaks(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    policy = tmp_path / "policies" / "policy.csv"
    policy.write_text(policy.read_text().replace("p, contractor, *, claude-*, *, deny\n", ""))
    result = gateway("policy", "test", str(tmp_path / "policies" / "tests.yaml"), "--dir", str(tmp_path / "policies"))
    assert result.returncode == 1
    assert "FAIL  contractors never reach Anthropic, even with senior rights: allow" in result.stdout


def test_policy_validate_refuses_an_empty_policy(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    (tmp_path / "policies" / "policy.csv").write_text("# nothing but comments\n")
    result = gateway("policy", "validate", "--dir", str(tmp_path / "policies"))
    assert result.returncode == 2
    assert "refusing to load an empty policy" in result.stderr


@pytest.fixture
def key_config(tmp_path: Path) -> Path:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"auth: {{key_file: {tmp_path / 'keys.json'}}}\n"
        f"audit: {{dir: {tmp_path / 'audit'}}}\n"
        "providers: {echo: {type: echo}}\n"
        "models: {echo: {deployments: [{provider: echo, model: echo-1}]}}\n"
    )
    return config


def test_keys_create_list_revoke(key_config: Path, tmp_path: Path) -> None:
    created = gateway(
        "keys",
        "create",
        "--config",
        str(key_config),
        "--subject",
        "alice",
        "--team",
        "platform",
        "--role",
        "developer",
        "--role",
        "auditor",
        "--expires-in-days",
        "30",
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.split("key:")[1].split()[0]
    key_id = created.stdout.split("key id:")[1].split()[0]
    assert key.startswith(f"gw-{key_id}_")
    stored = (tmp_path / "keys.json").read_text()
    assert key.split("_", 1)[1] not in stored, "the secret must never be stored"
    assert (tmp_path / "keys.json").stat().st_mode & 0o777 == 0o600

    listed = gateway("keys", "list", "--config", str(key_config), "--format", "json")
    record = json.loads(listed.stdout.splitlines()[0])
    assert record["key_id"] == key_id
    assert record["roles"] == ["developer", "auditor"]
    assert "digest" not in record
    assert "salt" not in record

    revoked = gateway("keys", "revoke", key_id, "--config", str(key_config))
    assert revoked.returncode == 0
    table = gateway("keys", "list", "--config", str(key_config)).stdout
    assert "revoked" in table
    assert gateway("keys", "revoke", "nosuchkey", "--config", str(key_config)).returncode == 1

    # Both changes are in the audit trail, as the admin API's are, in the command's own chain.
    events = [line for line in trail_lines(tmp_path / "audit") if line["type"] == "event"]
    assert [(e["kind"], e["key_id"]) for e in events] == [("key.created", key_id), ("key.revoked", key_id)]
    for event in events:
        assert event["via"] == "cli"
        assert event["by"]
        assert event["replica"].endswith("-cli")
        assert (event["subject"], event["team"], event["roles"]) == ("alice", "platform", ["developer", "auditor"])
    assert key.split("_", 1)[1] not in json.dumps(events)
    checked = gateway("audit", "verify", "--config", str(key_config))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_keys_are_not_changed_when_the_audit_trail_cannot_be_written(key_config: Path, tmp_path: Path) -> None:
    (tmp_path / "audit").write_text("a file where the trail's directory should be")
    created = gateway("keys", "create", "--config", str(key_config), "--subject", "bob", "--team", "t", "--role", "r")
    assert created.returncode == 1
    assert "audit trail" in created.stderr
    assert "key:" not in created.stdout
    assert "Traceback" not in created.stderr
    assert not (tmp_path / "keys.json").exists() or "bob" not in (tmp_path / "keys.json").read_text()
