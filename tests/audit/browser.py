"""Headless Chromium driven over the DevTools protocol, and a stdlib PNG reader to check screenshots.

The browser is Debian's ``chromium`` (``.ci/run`` installs it). It runs in its
own process group with a throwaway profile, and the group is killed at the end.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import os
import shutil
import signal
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.sync.client import ClientConnection, connect

from tests.fakes.server import free_port


class Browser:
    def __init__(self, url: str, profile: Path, size: tuple[int, int] = (1400, 1000)) -> None:
        binary = shutil.which("chromium")
        if binary is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        self.port = free_port()
        self._process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",  # tests run as root, where Chromium's sandbox cannot start
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--remote-debugging-port={self.port}",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        self._stack = contextlib.ExitStack()
        self._socket = self._attach(url)
        # A fixed viewport, whatever room the headless window leaves for browser chrome.
        self.call(
            "Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1, mobile=False
        )

    def _attach(self, url: str) -> ClientConnection:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                targets = httpx.get(f"http://127.0.0.1:{self.port}/json/list", timeout=1).json()
            except (httpx.HTTPError, ValueError):
                time.sleep(0.1)
                continue
            for target in targets:
                if target.get("type") == "page" and target.get("url", "").startswith(url):
                    socket = connect(target["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
                    return self._stack.enter_context(socket)
            time.sleep(0.1)
        self.close()
        raise RuntimeError("Chromium did not open the page")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._socket.send(orjson.dumps({"id": message_id, "method": method, "params": params}).decode())
        while True:
            message = orjson.loads(self._socket.recv(timeout=30))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]  # type: ignore[no-any-return]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, within: float = 15.0) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"never true: {expression}")

    def type_into(self, selector: str, text: str) -> None:
        """Focus a field and type as a keyboard would (input events included)."""
        self.evaluate(f"document.querySelector({orjson.dumps(selector).decode()}).focus()")
        self.evaluate(f"document.querySelector({orjson.dumps(selector).decode()}).select()")
        self.call("Input.insertText", text=text)

    def click(self, selector: str) -> None:
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({orjson.dumps(selector).decode()}).getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def close(self) -> None:
        self._stack.close()
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)  # the group this test started, renderers included
        self._process.wait(timeout=10)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of pixels (8-bit RGB or RGBA) of a PNG, unfiltered."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        chunk = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8, f"unexpected PNG bit depth {depth}"
    assert colour in (2, 6), f"unexpected PNG colour type {colour}"
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            corner = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows
