"""How much an authorization decision costs: casbin uncached, cached, and right after a reload.

    .venv/bin/python bench/policy_decisions.py [--policies policies] [--n 20000]

Prints decisions per second and microseconds per decision for:
* uncached: every call a new (subject, model) pair, so casbin evaluates the matcher;
* cached: the same few pairs again (the engine caches decisions per policy version);
* reload: loading and validating the policy files (what a hot reload costs, off the event loop).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from gateway.identity.principal import Principal
from gateway.policy.engine import PolicyEngine, PolicySource

ROLES = [("developer",), ("senior-developer",), ("contractor", "senior-developer"), ("demo",), ("auditor",)]
MODELS = ["echo", "gpt-4o-mini", "gpt-4o", "claude-sonnet", "gemini-flash", "text-embedding-3-small"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", default=str(Path(__file__).resolve().parents[1] / "policies"))
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()

    started = time.perf_counter()
    reloads = 50
    for _ in range(reloads):
        engine = PolicyEngine(PolicySource.from_dir(args.policies))
    reload_ms = (time.perf_counter() - started) / reloads * 1000

    started = time.perf_counter()
    for i in range(args.n):
        principal = Principal(f"user-{i}", ROLES[i % len(ROLES)], "platform", "bench")
        engine.decide(principal, MODELS[i % len(MODELS)], "chat")
    uncached = (time.perf_counter() - started) / args.n

    principals = [Principal(f"user-{i}", ROLES[i % len(ROLES)], "platform", "bench") for i in range(10)]
    started = time.perf_counter()
    for i in range(args.n * 10):
        engine.decide(principals[i % 10], MODELS[i % len(MODELS)], "chat")
    cached = (time.perf_counter() - started) / (args.n * 10)

    print(f"policy {args.policies} (version {engine.version})")
    print(f"uncached decision  {uncached * 1e6:8.1f} us   {1 / uncached:>10,.0f} /s")
    print(f"cached decision    {cached * 1e6:8.1f} us   {1 / cached:>10,.0f} /s")
    print(f"load + validate    {reload_ms:8.1f} ms   (a hot reload, run off the event loop)")


if __name__ == "__main__":
    main()
