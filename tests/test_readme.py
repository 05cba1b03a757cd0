"""The README's examples, executed against the real gateway started on config.example.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process import ROOT, GatewayProcess, example_workdir

README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


@pytest.fixture(scope="module")
def example_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = example_workdir(tmp_path_factory.mktemp("readme"))
    gateway = GatewayProcess(workdir / "config.example.yaml", workdir)
    yield gateway
    gateway.stop()


def test_quickstart_commands_are_the_documented_ones() -> None:
    shell = _blocks("sh")
    assert "gateway serve --config config.example.yaml" in shell[0]
    assert "pip install -e '.[dev]' && python -m pytest" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[dev]' && python -m pytest" in ci


def test_curl_example(example_gateway: GatewayProcess) -> None:
    command = next(block for block in _blocks("sh") if block.lstrip().startswith("curl"))
    command = command.replace("http://127.0.0.1:8080", example_gateway.url)
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True, timeout=30)
    assert '"content":"Hello, gateway"' in result.stdout


def test_python_sdk_example(example_gateway: GatewayProcess) -> None:
    snippet = next(block for block in _blocks("python") if "OpenAI(" in block)
    snippet = snippet.replace("http://127.0.0.1:8080", example_gateway.url)
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello\nstreamed words")


def test_policy_commands_in_the_readme(tmp_path: Path) -> None:
    workdir = example_workdir(tmp_path)
    block = next(block for block in _blocks("sh") if "gateway policy check" in block)
    for line in block.splitlines():
        command = line.split("#", 1)[0].strip()
        if not command:
            continue
        args = command.split()[1:]
        result = subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            capture_output=True,
            text=True,
            cwd=workdir,
            timeout=60,
            check=False,
        )
        expected = 1 if args[:2] == ["policy", "check"] else 0
        assert result.returncode == expected, f"{command}: {result.stdout}{result.stderr}"
