"""Fixtures of the audit suite: a gateway whose trail the test can read, and the records in it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.audit.files import list_segments
from tests.audit.support import KEY
from tests.conftest import CLIENT_KEY, base_document
from tests.fakes.openai_upstream import FakeOpenAI

#: Keys of the audited gateway: CLIENT_KEY (tester, team qa) may do everything, as may LEGAL_KEY
#: (team legal); DEVELOPER_KEY holds a role the test policy grants nothing.
LEGAL_KEY = "legal-key"
DEVELOPER_KEY = "developer-key"


def trail_lines(directory: Path) -> list[dict[str, Any]]:
    """Every complete line of every segment, in chain order."""
    lines = []
    for segments in list_segments(directory).values():
        for segment in segments:
            lines += [orjson.loads(line) for line in segment.path.read_bytes().split(b"\n")[:-1]]
    return lines


def trail_records(directory: Path) -> dict[str, dict[str, Any]]:
    """The request records by request id."""
    return {line["request_id"]: line for line in trail_lines(directory) if line["type"] == "request"}


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    return tmp_path / "trail"


@pytest.fixture
def audited_document(trail: Path, tmp_path: Path, fake_openai: tuple[FakeOpenAI, str]) -> dict[str, Any]:
    """A gateway document with the echo and fake OpenAI models, writing its trail to ``trail``."""
    capture = tmp_path / "audit-capture.yaml"
    capture.write_text("default: none\nteams:\n  qa: redacted\n  legal: full\n")
    document = base_document(fake_openai[1])
    document["auth"] = {
        "key_file": str(tmp_path / "keys.json"),
        "demo_keys": [
            {"key": CLIENT_KEY, "subject": "tester", "team": "qa", "roles": ["tester"]},
            {"key": LEGAL_KEY, "subject": "lawyer", "team": "legal", "roles": ["tester"]},
            {"key": DEVELOPER_KEY, "subject": "dev", "team": "qa", "roles": ["developer"]},
        ],
    }
    document["audit"] = {"dir": str(trail), "checkpoint_key": KEY, "capture_policy": str(tmp_path / "none.yaml")}
    document["_capture_file"] = str(capture)  # for tests that switch capture on (removed before parsing)
    return document


@pytest.fixture
def audited_gateway(
    audited_document: dict[str, Any], start_gateway: Callable[[dict[str, Any]], str]
) -> Callable[..., str]:
    """Start the gateway; ``capture=True`` applies the capture policy (qa: redacted, legal: full)."""

    def start(*, capture: bool = False, **audit: Any) -> str:
        document = dict(audited_document)
        capture_file = document.pop("_capture_file")
        document["audit"] = {**document["audit"], **audit}
        if capture:
            document["audit"]["capture_policy"] = capture_file
        return start_gateway(document)

    return start
