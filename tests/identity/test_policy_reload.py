"""Hot reload of the policy while requests flow: broken edits never take effect, a good one does within seconds."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.identity.support import StartGateway, bearer, chat, gateway_document

ALLOWED_KEY = "demo-key-developer"
DENIED_KEY = "demo-key-intern"
RULES = "p, *, *, *, models.list, allow\np, developer, *, echo, *, allow\n"
GRANT_INTERN = RULES + "p, intern, *, echo, *, allow\n"
TESTS = """\
- name: developers chat with echo
  roles: [developer]
  team: platform
  model: echo
  action: chat
  expect: allow
- name: strangers get nothing
  roles: [superuser]
  team: platform
  model: echo
  action: chat
  expect: deny
"""
#: Edits that must never take effect; each would let the intern in if it did.
BROKEN_EDITS = {
    "syntactically invalid": RULES + 'p, intern, *, echo, *\np, intern, *, "echo, *, allow\n',
    "empty": "",
    "only comments": "# p, intern, *, echo, *, allow\n",
    "failing an assertion": "p, *, *, *, *, allow\n",
}
RELOAD_INTERVAL = 0.2


class Traffic:
    """Keeps sending chat requests as the allowed and the denied caller, logging every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.log: list[tuple[float, str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                for who, key in (("allowed", ALLOWED_KEY), ("denied", DENIED_KEY)):
                    status = chat(self.url, bearer(key), client=http).status_code
                    self.log.append((time.monotonic(), who, status))
                time.sleep(0.005)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def first_allowed_denied_after(self, since: float) -> float | None:
        times = [t for t, who, status in list(self.log) if who == "denied" and status == 200 and t >= since]
        return times[0] if times else None


def edit(path: Path, text: str) -> None:
    """Rewrite in place, as an editor would, with a modification time the watcher cannot miss."""
    path.write_text(text)
    stamp = time.time_ns()
    os.utime(path, ns=(stamp, stamp))


def test_broken_edits_keep_the_last_good_policy_and_a_good_edit_applies_within_seconds(
    start_gateway: StartGateway, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.policy")
    auth = {
        "key_file": None,
        "demo_keys": [
            {"key": ALLOWED_KEY, "subject": "dev", "team": "platform", "roles": ["developer"]},
            {"key": DENIED_KEY, "subject": "intern", "team": "platform", "roles": ["intern"]},
        ],
    }
    document = gateway_document(tmp_path, auth=auth, rules=RULES, tests=TESTS, reload_interval=RELOAD_INTERVAL)
    url = start_gateway(document)
    policy_csv = tmp_path / "policy" / "policy.csv"

    with Traffic(url) as traffic:
        time.sleep(0.3)
        for text in BROKEN_EDITS.values():
            edit(policy_csv, text)
            time.sleep(3 * RELOAD_INTERVAL)
        rejections = [r for r in caplog.records if "policy change rejected" in r.getMessage()]
        granted_at = time.monotonic()
        edit(policy_csv, GRANT_INTERN)
        deadline = granted_at + 2.0
        while traffic.first_allowed_denied_after(granted_at) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)

    log = traffic.log
    assert {status for _, _, status in log} <= {200, 403}, sorted({s for _, _, s in log})
    before = [(who, status) for t, who, status in log if t < granted_at]
    assert len(before) >= 20, "too little traffic to tell"
    assert ("denied", 403) in before
    assert ("allowed", 200) in before
    assert ("denied", 200) not in before, "a broken edit let the denied caller in"
    assert ("allowed", 403) not in before, "a broken edit locked the allowed caller out"
    first = traffic.first_allowed_denied_after(granted_at)
    assert first is not None, "the valid edit did not take effect"
    assert first - granted_at < 2.0, f"the valid edit took {first - granted_at:.2f}s to take effect"
    after = [(who, status) for t, who, status in log if t > first]
    assert after
    assert set(after) <= {("denied", 200), ("allowed", 200)}
    # Every broken edit was seen and refused; the good one was applied once.
    assert len(rejections) >= len(BROKEN_EDITS)
    assert [r for r in caplog.records if "now in force" in r.getMessage()]
