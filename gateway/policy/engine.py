"""The policy engine: casbin over ``model.conf`` + ``policy.csv``, made safe and cheap.

Safety rules enforced at load time (a policy that breaks one is refused, and the
previous one stays in force):

* no ``p`` line at all is an error: with a deny-override effect an empty policy
  would allow everything;
* every ``p`` line ends in ``allow`` or ``deny``;
* role inheritance (``g`` lines) may not loop or go deeper than
  :data:`MAX_ROLE_DEPTH` (casbin stops resolving deeper chains silently).

Roles come from the caller's key or token, not from ``g`` lines per user, so
loading stays linear in the policy size. The caller's roles are expanded
through the inheritance lines once per (roles, team) and cached; whole
decisions are cached per policy version, since a version never changes.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import casbin
from casbin.persist.adapters import StringAdapter

from gateway.identity.principal import Principal
from gateway.policy.decision import Decision

MAX_ROLE_DEPTH = 10
_CACHE_SIZE = 65_536
_EFFECTS = ("allow", "deny")


class PolicyError(Exception):
    """The policy files are invalid; the message says which line and why."""


@dataclass(frozen=True, slots=True)
class PolicySource:
    model_text: str
    policy_text: str
    origin: str = "<memory>"

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.model_text.encode())
        digest.update(b"\0")
        digest.update(self.policy_text.encode())
        return digest.hexdigest()[:16]

    @classmethod
    def from_dir(cls, directory: str | Path) -> PolicySource:
        base = Path(directory)
        try:
            model_text = (base / "model.conf").read_text(encoding="utf-8")
            policy_text = (base / "policy.csv").read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {exc.filename}: {exc.strerror}") from None
        return cls(model_text, policy_text, str(base))


def _rule_lines(text: str) -> list[str]:
    # casbin's CSV reader knows neither comments nor blank lines; compliance files need both.
    return [line for line in (raw.strip() for raw in text.splitlines()) if line and not line.startswith("#")]


def _glob_match(value: str, pattern: str) -> bool:
    if pattern == "*" or pattern == value:
        return True
    if "*" not in pattern:
        return False
    parts = pattern.split("*")
    if not value.startswith(parts[0]) or not value.endswith(parts[-1]):
        return False
    position = len(parts[0])
    end = len(value) - len(parts[-1])
    for part in parts[1:-1]:
        found = value.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return position <= end


def _find_loop(edges: Sequence[tuple[str, str, str]]) -> list[str] | None:
    parents: dict[str, list[str]] = {}
    for child, parent, _ in edges:
        parents.setdefault(child, []).append(parent)
    done: set[str] = set()

    def visit(role: str, path: list[str]) -> list[str] | None:
        if role in path:
            return [*path[path.index(role) :], role]
        if role in done:
            return None
        for parent in parents.get(role, []):
            loop = visit(parent, [*path, role])
            if loop:
                return loop
        done.add(role)
        return None

    for role in list(parents):
        loop = visit(role, [])
        if loop:
            return loop
    return None


class RoleSet(frozenset[str]):
    """The caller's effective roles; ``str()`` keeps casbin's explain output readable."""

    def __str__(self) -> str:
        return ",".join(sorted(self))


class PolicyEngine:
    """One loaded, validated, immutable policy version."""

    def __init__(self, source: PolicySource) -> None:
        self.source = source
        self.version = source.version
        self._enforcer = self._build(source)
        self._parents = self._inheritance()
        self._lock = threading.Lock()
        self._decisions: OrderedDict[tuple[Any, ...], Decision] = OrderedDict()
        self._expanded: dict[tuple[str, tuple[str, ...], str], RoleSet] = {}

    @staticmethod
    def _build(source: PolicySource) -> casbin.Enforcer:
        lines = _rule_lines(source.policy_text)
        for line in lines:
            kind = line.split(",", 1)[0].strip()
            if kind not in ("p", "g"):
                raise PolicyError(f"{source.origin}: unknown rule type {kind!r} in '{line}' (expected p or g)")
        if not any(line.split(",", 1)[0].strip() == "p" for line in lines):
            raise PolicyError(f"{source.origin}: policy.csv has no 'p' rule; refusing to load an empty policy")
        try:
            model = casbin.Enforcer.new_model(text=source.model_text)
            enforcer = casbin.Enforcer(model, StringAdapter("\n".join(lines)))
        except Exception as exc:  # noqa: BLE001 - casbin raises bare exceptions for bad files
            raise PolicyError(f"{source.origin}: the policy does not load: {exc}") from None
        enforcer.add_function("holds", lambda roles, role, _domain: role == "*" or role in roles)
        enforcer.add_function("globMatch", _glob_match)
        rules = enforcer.get_policy()
        if not rules:
            raise PolicyError(f"{source.origin}: policy.csv has no 'p' rule; refusing to load an empty policy")
        for rule in rules:
            if len(rule) != 5 or rule[4] not in _EFFECTS:
                raise PolicyError(
                    f"{source.origin}: rule 'p, {', '.join(rule)}' must have 5 fields ending in allow or deny"
                )
        return enforcer

    def _inheritance(self) -> list[tuple[str, str, str]]:
        edges = []
        for line in self._enforcer.get_named_grouping_policy("g"):
            if len(line) != 3:
                raise PolicyError(f"{self.source.origin}: 'g, {', '.join(line)}' must be: g, role, inherits, team")
            edges.append((line[0], line[1], line[2]))
        loop = _find_loop(edges)
        if loop:
            raise PolicyError(f"{self.source.origin}: role inheritance loops: {' -> '.join(loop)}")
        # Walk every role to its deepest ancestor: rejects over-deep chains.
        for role, _, domain in edges:
            self._expand((role,), domain, edges)
        return edges

    @staticmethod
    def _expand(
        roles: Iterable[str], domain: str, edges: Sequence[tuple[str, str, str]], *, any_domain: bool = True
    ) -> set[str]:
        found = set(roles)
        frontier = list(found)
        depth = 0
        while frontier:
            depth += 1
            if depth > MAX_ROLE_DEPTH + 1:
                raise PolicyError(f"role inheritance deeper than {MAX_ROLE_DEPTH} levels or looping near {frontier}")
            nxt = []
            for child, parent, where in edges:
                if (
                    child in frontier
                    and (where == "*" or where == domain or (any_domain and domain == "*"))
                    and parent not in found
                ):
                    found.add(parent)
                    nxt.append(parent)
            frontier = nxt
        return found

    def roles_of(self, principal: Principal) -> RoleSet:
        key = (principal.subject, principal.roles, principal.team)
        cached = self._expanded.get(key)
        if cached is None:
            held = [*(r for r in principal.roles if not r.startswith("user:")), f"user:{principal.subject}"]
            cached = RoleSet(self._expand(held, principal.team, self._parents, any_domain=False))
            if len(self._expanded) < _CACHE_SIZE:
                self._expanded[key] = cached
        return cached

    def decide(self, principal: Principal, resource: str, action: str) -> Decision:
        key = (principal.subject, principal.roles, principal.team, resource, action)
        with self._lock:
            cached = self._decisions.get(key)
            if cached is not None:
                self._decisions.move_to_end(key)
                return cached
        roles = self.roles_of(principal)
        allowed, explain = self._enforcer.enforce_ex(roles, principal.team, resource, action)
        decision = Decision(
            allowed=bool(allowed),
            action=action,
            resource=resource,
            domain=principal.team,
            policy_version=self.version,
            rule=f"p, {', '.join(explain)}" if explain else None,
        )
        with self._lock:
            self._decisions[key] = decision
            if len(self._decisions) > _CACHE_SIZE:
                self._decisions.popitem(last=False)
        return decision
