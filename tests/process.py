"""Run the real ``gateway serve`` process, as a user would, for tests that need one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fakes.server import free_port

ROOT = Path(__file__).resolve().parents[1]


def example_workdir(target: Path) -> Path:
    """A directory holding copies of config.example.yaml and policies/, as in a fresh clone."""
    shutil.copy(ROOT / "config.example.yaml", target / "config.example.yaml")
    shutil.copytree(ROOT / "policies", target / "policies")
    return target


class GatewayProcess:
    def __init__(self, config: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / "gateway.log"
        self._handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(self.port)],
            cwd=cwd,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the gateway did not become ready: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._handle.close()
