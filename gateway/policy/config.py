"""The ``policy:`` configuration section: where the compliance-owned files live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.config_fields import ConfigError, mapping, number, string, unknown_keys


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    #: Directory holding ``model.conf`` and ``policy.csv``.
    dir: str = "policies"
    #: Assertions that an edited policy must pass before it replaces the running one.
    tests: str | None = "policies/tests.yaml"
    #: Seconds between checks of the files for edits.
    reload_interval: float = 2.0


def parse_policy_config(value: Any, path: str = "policy") -> PolicyConfig:
    data = mapping(value, path)
    unknown_keys(data, {"dir", "tests", "reload_interval"}, path)
    defaults = PolicyConfig()
    tests = data.get("tests", defaults.tests)
    if tests is not None and (not isinstance(tests, str) or not tests):
        raise ConfigError(f"{path}.tests: expected a file path, or null for none")
    return PolicyConfig(
        dir=string(data, "dir", path, defaults.dir),
        tests=tests,
        reload_interval=number(data, "reload_interval", path, defaults.reload_interval),
    )
