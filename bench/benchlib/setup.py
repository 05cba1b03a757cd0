"""Everything the harness needs before a run: tools on the PATH, the Go binaries, LiteLLM's venv.

The Go programs use the standard library only and build offline
(``GOPROXY=off``) into ``bench/.build``; LiteLLM lives in its own virtual
environment so its many dependencies never touch the project's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
BUILD = BENCH / ".build"
GO_SOURCES = BENCH / "go"
LITELLM_VENV = BENCH / ".venv-litellm"
PROGRAMS = ("fakeupstream", "openloop", "goproxy")


class SetupError(Exception):
    """A prerequisite is missing; the message says how to install it."""


def check_tools(need_go: bool) -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if need_go and shutil.which("go") is None:
        missing.append("golang-go")
    if missing:
        raise SetupError(
            f"missing: {', '.join(missing)}. On Debian: apt-get update && apt-get install -y wrk golang-go util-linux"
        )


def _stale(binary: Path, sources: Path) -> bool:
    if not binary.exists():
        return True
    built = binary.stat().st_mtime
    return any(p.stat().st_mtime > built for p in sources.rglob("*") if p.is_file())


def build_go() -> dict[str, Path]:
    """Build (when sources changed) and return the paths of the Go programs."""
    BUILD.mkdir(parents=True, exist_ok=True)
    binaries = {name: BUILD / name for name in PROGRAMS}
    if not any(_stale(path, GO_SOURCES) for path in binaries.values()):
        return binaries
    check_tools(need_go=True)
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    for name, path in binaries.items():
        print(f"building {name} …", flush=True)
        subprocess.run(["go", "build", "-o", str(path), f"./{name}"], cwd=GO_SOURCES, env=env, check=True)
    return binaries


def ensure_litellm(spec: str) -> Path:
    """Create ``bench/.venv-litellm`` with ``spec`` installed, unless it is there already."""
    executable = LITELLM_VENV / "bin" / "litellm"
    if executable.exists():
        return executable
    print(f"creating {LITELLM_VENV} and installing {spec} (a few minutes, once) …", flush=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(LITELLM_VENV)], check=True)
    pip = [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, spec], check=True)
    if not executable.exists():
        raise SetupError(f"{spec} installed no litellm command in {LITELLM_VENV}")
    return executable


def package_version(python: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def ensure_py_spy(python: Path) -> Path:
    py_spy = python.parent / "py-spy"
    if not py_spy.exists():
        print("installing py-spy into the project venv …", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return py_spy
