"""The auditors' page in a real (headless) browser: paste a key, see records, filter, open one, see the chain."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.audit.browser import Browser, png_pixels
from tests.audit.conftest import DEVELOPER_KEY
from tests.conftest import CLIENT_KEY

ROWS = "Array.from(document.querySelectorAll('#results tbody tr'))"
CELLS = f"{ROWS}.map(r => Array.from(r.cells).map(c => c.textContent))"


@pytest.fixture
def page(audited_gateway: Callable[..., str], tmp_path: Path) -> Iterator[tuple[Browser, str]]:
    url = audited_gateway()
    chat = {"model": "echo", "messages": [{"role": "user", "content": "hello from the browser test"}]}
    for key in (CLIENT_KEY, CLIENT_KEY, DEVELOPER_KEY):
        httpx.post(f"{url}/v1/chat/completions", json=chat, headers={"authorization": f"Bearer {key}"})
    browser = Browser(f"{url}/audit", tmp_path / "profile")
    try:
        browser.wait_for("document.readyState === 'complete' && !!document.getElementById('key-state')")
        yield browser, url
    finally:
        browser.close()


def test_an_auditor_searches_filters_and_opens_a_record(page: tuple[Browser, str], tmp_path: Path) -> None:
    browser, _ = page
    assert browser.evaluate(f"{ROWS}.length") == 0, "the page itself must carry no data"
    browser.type_into("#key", CLIENT_KEY)
    browser.click("#save-key")
    browser.wait_for(f"{ROWS}.length >= 3")
    assert browser.evaluate("sessionStorage.getItem('gatewayAuditKey')") == CLIENT_KEY
    assert browser.evaluate("localStorage.length") == 0
    assert browser.evaluate("document.getElementById('key').value") == "", "the key must not stay on screen"
    status = browser.wait_for(
        "(() => { const s = document.getElementById('verify-status').textContent;"
        " return s.startsWith('Verifying') ? '' : s; })()"
    )
    assert status.startswith("Chain intact"), status

    browser.type_into("#filters [name=subject]", "dev")
    browser.click("#run-search")
    browser.wait_for(f"{ROWS}.length === 1")
    (row,) = browser.evaluate(CELLS)
    assert row[2:5] == ["dev", "qa", "chat.completions"]
    assert row[7:9] == ["deny", "403"]

    browser.click("#results tbody tr")
    browser.wait_for("!document.getElementById('detail').hidden && document.getElementById('detail-raw').textContent")
    detail = browser.evaluate("document.getElementById('detail-fields').textContent")
    assert "permission_error" in detail
    assert "demo_key" in detail

    shot = Path(os.environ.get("AUDIT_SCREENSHOT", tmp_path / "audit-page.png"))
    width, height, rows = png_pixels(browser.screenshot(shot))
    assert (width, height) == (1400, 1000)
    colours = {row[x : x + 3] for row in rows[::10] for x in range(0, len(row), 4 * 10)}
    assert len(colours) > 20, f"the screenshot looks blank ({len(colours)} colours)"
    assert rows[20][40:43] != rows[500][40:43], "the dark header band is missing"


def test_a_wrong_key_shows_the_refusal(page: tuple[Browser, str]) -> None:
    browser, _ = page
    browser.type_into("#key", "not-a-key")
    browser.click("#save-key")
    message = browser.wait_for(
        "(() => { const s = document.getElementById('search-status').textContent;"
        " return s.startsWith('Searching') ? '' : s; })()"
    )
    assert message.startswith("401"), message
    assert browser.evaluate(f"{ROWS}.length") == 0
