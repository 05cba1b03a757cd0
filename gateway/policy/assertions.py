"""Policy assertions written by compliance: who must, and must not, reach which model.

The file is a YAML list of cases::

    - name: contractors never reach Anthropic
      subject: carol
      roles: [contractor]
      team: platform
      model: claude-sonnet
      action: chat
      expect: deny
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.identity.principal import Principal
from gateway.policy.decision import Decision
from gateway.policy.engine import PolicyEngine, PolicyError

_FIELDS = {"name", "subject", "roles", "team", "model", "action", "expect"}


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    principal: Principal
    model: str
    action: str
    expect: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    decision: Decision

    @property
    def passed(self) -> bool:
        return self.decision.allowed == self.case.expect


def _case(item: Any, index: int, origin: str) -> Case:
    where = f"{origin}: case {index + 1}"
    if not isinstance(item, dict):
        raise PolicyError(f"{where}: expected a mapping with {sorted(_FIELDS)}")
    extra = set(item) - _FIELDS
    missing = _FIELDS - set(item) - {"name", "subject"}
    if extra or missing:
        raise PolicyError(f"{where}: unknown fields {sorted(extra)}; missing fields {sorted(missing)}")
    roles = item["roles"]
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise PolicyError(f"{where}: roles must be a list of names")
    if item["expect"] not in ("allow", "deny"):
        raise PolicyError(f"{where}: expect must be allow or deny")
    for key in ("team", "model", "action"):
        if not isinstance(item[key], str) or not item[key]:
            raise PolicyError(f"{where}: {key} must be a non-empty string")
    subject = str(item.get("subject") or "policy-test")
    return Case(
        name=str(item.get("name") or f"case {index + 1}"),
        principal=Principal(subject, tuple(roles), item["team"], "policy_test"),
        model=item["model"],
        action=item["action"],
        expect=item["expect"] == "allow",
    )


def load_cases(path: str | Path) -> list[Case]:
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read {file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(data, list) or not data:
        raise PolicyError(f"{file}: expected a non-empty list of cases")
    return [_case(item, i, str(file)) for i, item in enumerate(data)]


def run_cases(engine: PolicyEngine, cases: list[Case]) -> list[Outcome]:
    return [Outcome(case, engine.decide(case.principal, case.model, case.action)) for case in cases]
