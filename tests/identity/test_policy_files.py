"""The policy engine and its holder: what a policy file may not be, how decisions are versioned, how reloads report."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.identity.principal import Principal
from gateway.policy.config import PolicyConfig
from gateway.policy.engine import PolicyEngine, PolicyError, PolicySource
from gateway.policy.holder import PolicyHolder, load_engine
from tests.conftest import MODEL_CONF, write_policy

REPO = Path(__file__).resolve().parents[2]
MODEL = MODEL_CONF.read_text()
GRANT = "p, developer, *, echo, chat, allow\n"


def engine(rules: str) -> PolicyEngine:
    return PolicyEngine(PolicySource(MODEL, rules, "policies/"))


def who(*roles: str, team: str = "platform", subject: str = "alice") -> Principal:
    return Principal(subject, roles, team, "policy_test")


REFUSED = [
    pytest.param("", "no 'p' rule", id="empty"),
    pytest.param("\n\n   \n", "no 'p' rule", id="blank lines"),
    pytest.param("# only comments\n# p, developer, *, echo, chat, allow\n", "no 'p' rule", id="only comments"),
    pytest.param("g, senior, developer, *\n", "no 'p' rule", id="only inheritance"),
    pytest.param(GRANT + "g, a, b, *\ng, b, a, *\n", "loop", id="two-role loop"),
    pytest.param(GRANT + "g, a, a, *\n", "loop", id="self loop"),
    pytest.param(GRANT + "g, a, b, *\ng, b, c, *\ng, c, a, *\n", "loop", id="three-role loop"),
    pytest.param(GRANT + "g, a, b, research\ng, b, a, research\n", "loop", id="loop inside one team"),
    pytest.param(
        "p, r11, *, echo, chat, allow\n" + "".join(f"g, r{i}, r{i + 1}, *\n" for i in range(11)),
        "deeper than 10",
        id="11-deep chain",
    ),
    pytest.param(GRANT + "p, developer, *, echo, chat, maybe\n", "allow or deny", id="bad effect"),
    pytest.param(GRANT + "p, developer, *, echo, chat, Allow\n", "allow or deny", id="capitalised effect"),
    pytest.param(GRANT + "p, developer, *, echo, chat\n", "allow or deny", id="four fields"),
    pytest.param(GRANT + "p, developer, *, echo, chat, allow, extra\n", "allow or deny", id="six fields"),
    pytest.param(GRANT + "g, senior, developer\n", "does not load", id="inheritance without team"),
]


@pytest.mark.parametrize(("rules", "problem"), REFUSED)
def test_policies_that_refuse_to_load(rules: str, problem: str) -> None:
    with pytest.raises(PolicyError) as refused:
        engine(rules)
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    "line",
    [
        "P, contractor, *, claude-*, *, deny",
        "pp, contractor, *, claude-*, *, deny",
        "d, contractor, *, claude-*, *, deny",
        "contractor, *, claude-*, *, deny",
    ],
)
def test_a_line_of_unknown_type_is_refused_not_silently_dropped(line: str) -> None:
    # Dropping the mistyped line would silently let contractors reach Anthropic models.
    rules = "p, contractor, *, *, chat, allow\n" + line + "\n"
    with pytest.raises(PolicyError) as refused:
        engine(rules)
    assert line.split(",")[0] in str(refused.value)


def test_a_ten_deep_chain_loads_and_resolves_to_the_top() -> None:
    rules = "p, r10, *, echo, chat, allow\n" + "".join(f"g, r{i}, r{i + 1}, *\n" for i in range(10))
    loaded = engine(rules)
    assert loaded.decide(who("r0"), "echo", "chat").allowed
    assert not loaded.decide(who("r0"), "premium", "chat").allowed


def test_shared_ancestors_are_not_a_loop() -> None:
    rules = GRANT + "g, lead, senior, *\ng, lead, reviewer, *\ng, senior, developer, *\ng, reviewer, developer, *\n"
    assert engine(rules).decide(who("lead"), "echo", "chat").allowed


def test_decisions() -> None:
    policy = engine(
        """\
p, *, *, *, models.list, allow
p, developer, *, echo, *, allow
p, developer, research, gemini-*, *, allow
g, senior-developer, developer, *
p, senior-developer, *, claude-*, chat, allow
p, contractor, *, claude-*, *, deny
p, user:dana, *, premium, chat, allow
"""
    )
    cases: list[tuple[Principal, str, str, bool]] = [
        (who("developer"), "echo", "chat", True),
        (who("developer"), "echo", "embeddings", True),
        (who("developer"), "premium", "chat", False),  # no rule: deny
        (who("superuser"), "echo", "chat", False),  # unknown role
        (who(), "echo", "chat", False),  # no roles at all
        (who(), "*", "models.list", True),  # the wildcard role
        (who("developer", team="research"), "gemini-flash", "chat", True),
        (who("developer", team="platform"), "gemini-flash", "chat", False),  # team domain
        (who("senior-developer"), "echo", "chat", True),  # inherited
        (who("senior-developer"), "claude-sonnet", "chat", True),
        (who("contractor", "senior-developer"), "claude-sonnet", "chat", False),  # explicit deny wins
        (who("contractor", "senior-developer"), "echo", "chat", True),
        (who(subject="dana"), "premium", "chat", True),  # one named user
        (who(subject="dan"), "premium", "chat", False),
        (who("developer"), "*", "keys.create", False),
    ]
    for principal, model, action, expected in cases:
        decision = policy.decide(principal, model, action)
        assert decision.allowed is expected, (principal, model, action, decision)
        assert (decision.resource, decision.action, decision.domain) == (model, action, principal.team)
        assert decision.policy_version == policy.version
    allowed = policy.decide(who("developer"), "echo", "chat")
    assert allowed.rule == "p, developer, *, echo, *, allow"


def test_a_caller_whose_team_is_the_wildcard_gets_no_other_teams_inheritance() -> None:
    # "*" is a wildcard in policy lines only; a caller's team is a plain name.
    policy = engine(GRANT + "g, intern, developer, research\n")
    assert policy.decide(who("intern", team="research"), "echo", "chat").allowed
    assert not policy.decide(who("intern", team="platform"), "echo", "chat").allowed
    assert not policy.decide(who("intern", team="*"), "echo", "chat").allowed


def test_a_role_named_like_a_user_does_not_grant_that_users_rights() -> None:
    # "user:<name>" names one person: a key or token listing it as a role must not become that person.
    policy = engine(GRANT + "p, user:carol, *, premium, chat, allow\n")
    assert policy.decide(who(subject="carol"), "premium", "chat").allowed
    assert not policy.decide(who("user:carol", subject="mallory"), "premium", "chat").allowed


def test_the_version_is_a_hash_of_the_content() -> None:
    first, same, other = engine(GRANT), engine(GRANT), engine(GRANT + "p, developer, *, premium, chat, allow\n")
    assert first.version == same.version != other.version
    assert len(first.version) == 16


def test_failing_assertions_refuse_the_policy(tmp_path: Path) -> None:
    directory = write_policy(tmp_path / "policy", "p, *, *, echo, *, allow\n")
    tests = tmp_path / "tests.yaml"
    tests.write_text(
        "- name: strangers get nothing\n  roles: [superuser]\n  team: platform\n  model: echo\n  action: chat\n"
        "  expect: deny\n"
    )
    with pytest.raises(PolicyError) as refused:
        load_engine(PolicyConfig(dir=str(directory), tests=str(tests)))
    assert "strangers get nothing (got allow)" in str(refused.value)


def test_the_shipped_policy_passes_its_own_assertions() -> None:
    loaded = load_engine(PolicyConfig(dir=str(REPO / "policies"), tests=str(REPO / "policies" / "tests.yaml")))
    assert loaded.decide(who("contractor", "senior-developer"), "claude-sonnet", "chat").allowed is False


# --- the holder: reload, versions, events ----------------------------------


class Events:
    """An ``on_event`` sink; async, as the audit trail's would be."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, kind: str, **fields: Any) -> None:
        await asyncio.sleep(0)
        self.seen.append((kind, fields))


class PolicyFiles:
    """A policy directory whose every edit gets a new modification time."""

    def __init__(self, root: Path) -> None:
        self.dir = write_policy(root / "policy", GRANT)
        self.tests = root / "tests.yaml"
        self.tests.write_text(
            "- name: developers chat with echo\n  roles: [developer]\n  team: platform\n  model: echo\n"
            "  action: chat\n  expect: allow\n"
            "- name: strangers get nothing\n  roles: [superuser]\n  team: platform\n  model: echo\n"
            "  action: chat\n  expect: deny\n"
        )
        self._tick = time.time_ns() - 10**9

    def write(self, name: str, text: str) -> None:
        path = self.dir / name
        path.write_text(text)
        self._tick += 10_000_000
        os.utime(path, ns=(self._tick, self._tick))

    def config(self, reload_interval: float = 2.0) -> PolicyConfig:
        return PolicyConfig(dir=str(self.dir), tests=str(self.tests), reload_interval=reload_interval)


async def test_check_reloads_a_valid_edit_and_reports_the_new_version(tmp_path: Path) -> None:
    files, events = PolicyFiles(tmp_path), Events()
    holder = PolicyHolder.load(files.config(), on_event=events)
    first = holder.engine.version
    assert await holder.check() is False
    assert events.seen == []
    files.write("policy.csv", GRANT + "p, intern, *, echo, chat, allow\n")
    assert await holder.check() is True
    second = holder.engine.version
    assert second != first
    assert events.seen == [("policy.reloaded", {"version": second, "previous": first})]
    decision = holder.engine.decide(who("intern"), "echo", "chat")
    assert decision.allowed
    assert decision.policy_version == second
    assert holder.rejected is None


@pytest.mark.parametrize(
    ("file", "text", "reason"),
    [
        pytest.param("policy.csv", "", "no 'p' rule", id="empty"),
        pytest.param("policy.csv", "# nothing here\n", "no 'p' rule", id="only comments"),
        pytest.param("policy.csv", GRANT + "p, intern, *, echo, chat\n", "allow or deny", id="short line"),
        pytest.param("policy.csv", GRANT + "g, x, y, *\ng, y, x, *\n", "loop", id="loop"),
        pytest.param("policy.csv", "p, *, *, echo, *, allow\n", "strangers get nothing", id="failing assertion"),
        pytest.param("model.conf", "[request_definition]\nr = sub\n", "does not load", id="broken model"),
        pytest.param("model.conf", "garbage\n", "does not load", id="garbage model"),
    ],
)
async def test_check_keeps_the_last_good_policy_and_reports_the_rejection(
    tmp_path: Path, file: str, text: str, reason: str
) -> None:
    files, events = PolicyFiles(tmp_path), Events()
    holder = PolicyHolder.load(files.config(), on_event=events)
    good = holder.engine
    files.write(file, text)
    assert await holder.check() is False
    assert holder.engine is good
    rejection = holder.rejected
    assert rejection is not None
    assert reason in rejection
    assert len(events.seen) == 1
    kind, fields = events.seen[0]
    assert kind == "policy.rejected"
    assert fields["version"] == good.version
    assert reason in fields["reason"]
    assert not holder.engine.decide(who("superuser"), "echo", "chat").allowed
    # The next valid edit takes effect, and clears the rejection.
    files.write(file, (MODEL if file == "model.conf" else GRANT + "p, intern, *, echo, chat, allow\n"))
    if file == "model.conf":
        files.write("policy.csv", GRANT + "p, intern, *, echo, chat, allow\n")
    assert await holder.check() is True
    assert holder.rejected is None
    assert events.seen[-1][0] == "policy.reloaded"
    assert holder.engine.decide(who("intern"), "echo", "chat").allowed


async def test_a_deleted_policy_file_keeps_the_last_good_policy(tmp_path: Path) -> None:
    files, events = PolicyFiles(tmp_path), Events()
    holder = PolicyHolder.load(files.config(), on_event=events)
    good = holder.engine
    (files.dir / "policy.csv").unlink()
    assert await holder.check() is False
    assert holder.engine is good
    assert [kind for kind, _ in events.seen] == ["policy.rejected"]
    assert "policy.csv" in events.seen[0][1]["reason"]


async def test_the_watcher_applies_edits_on_its_own(tmp_path: Path) -> None:
    files = PolicyFiles(tmp_path)
    seen: list[str] = []
    holder = PolicyHolder.load(files.config(reload_interval=0.05), on_event=lambda kind, **_: seen.append(kind))
    await holder.start()
    try:
        files.write("policy.csv", "")
        files.write("policy.csv", GRANT + "p, intern, *, echo, chat, allow\n")
        deadline = time.monotonic() + 2
        while not holder.engine.decide(who("intern"), "echo", "chat").allowed:
            assert time.monotonic() < deadline, "the watcher never applied the edit"
            await asyncio.sleep(0.02)
        files.write("model.conf", "garbage\n")
        while "policy.rejected" not in seen:
            assert time.monotonic() < deadline, "the watcher never reported the broken model"
            await asyncio.sleep(0.02)
        # A broken file must not stop the watcher: a later valid edit still takes effect.
        files.write("model.conf", MODEL)
        files.write("policy.csv", GRANT + "p, auditor, *, echo, chat, allow\n")
        while not holder.engine.decide(who("auditor"), "echo", "chat").allowed:
            assert time.monotonic() < deadline, "the watcher stopped after a rejected edit"
            await asyncio.sleep(0.02)
    finally:
        await holder.close()
    assert "policy.reloaded" in seen


async def test_a_failing_event_sink_does_not_stop_the_watcher(tmp_path: Path) -> None:
    files = PolicyFiles(tmp_path)
    calls: list[str] = []

    def flaky_sink(kind: str, **fields: Any) -> None:
        calls.append(kind)
        if len(calls) == 1:
            raise OSError("the audit trail is unavailable")

    holder = PolicyHolder.load(files.config(reload_interval=0.05), on_event=flaky_sink)
    await holder.start()
    try:
        files.write("policy.csv", GRANT + "p, intern, *, echo, chat, allow\n")
        deadline = time.monotonic() + 2
        while not calls:
            assert time.monotonic() < deadline, "the watcher never reported the first edit"
            await asyncio.sleep(0.02)
        files.write("policy.csv", GRANT + "p, auditor, *, echo, chat, allow\n")
        while not holder.engine.decide(who("auditor"), "echo", "chat").allowed:
            assert time.monotonic() < deadline, "the watcher died with the event sink's error"
            await asyncio.sleep(0.02)
    finally:
        await holder.close()
    assert calls == ["policy.reloaded", "policy.reloaded"]
