"""The command-line tools compliance teams and operators use: ``gateway policy`` and ``gateway keys``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
