"""``gateway policy check|test|validate``: policy tooling for compliance teams."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.identity.principal import Principal
from gateway.policy.assertions import load_cases, run_cases
from gateway.policy.engine import PolicyEngine, PolicyError, PolicySource


def _engine(directory: str) -> PolicyEngine:
    return PolicyEngine(PolicySource.from_dir(directory))


def _check(args: argparse.Namespace) -> int:
    try:
        engine = _engine(args.dir)
    except PolicyError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    principal = Principal(args.subject, tuple(args.role or ()), args.team, "policy_check")
    decision = engine.decide(principal, args.model, args.action)
    verdict = "allow" if decision.allowed else "deny"
    print(
        f"{verdict}: {args.action} on {args.model} for {args.subject} (roles {','.join(principal.roles) or '-'}, "
        f"team {args.team})"
    )
    if decision.rule:
        print(f"  decided by: {decision.rule}")
    else:
        print("  decided by: no rule matched (deny by default)")
    print(f"  policy version: {decision.policy_version}")
    return 0 if decision.allowed else 1


def _test(args: argparse.Namespace) -> int:
    try:
        engine = _engine(args.dir)
        cases = load_cases(args.file)
    except PolicyError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    failures = 0
    for outcome in run_cases(engine, cases):
        got = "allow" if outcome.decision.allowed else "deny"
        mark = "PASS" if outcome.passed else "FAIL"
        failures += not outcome.passed
        line = f"{mark}  {outcome.case.name}: {got}"
        if not outcome.passed:
            line += f" (expected {'allow' if outcome.case.expect else 'deny'}; rule: {outcome.decision.rule or 'none'})"
        print(line)
    print(f"{len(cases) - failures} passed, {failures} failed (policy version {engine.version})")
    return 1 if failures else 0


def _validate(args: argparse.Namespace) -> int:
    try:
        engine = _engine(args.dir)
    except PolicyError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    print(f"{args.dir}: OK, policy version {engine.version}")
    return 0


def register(commands: Any) -> None:
    policy = commands.add_parser("policy", help="policy tools for compliance teams")
    sub = policy.add_subparsers(dest="policy_command", required=True)

    check = sub.add_parser("check", help="would this caller be allowed? prints the deciding rule")
    check.add_argument("--subject", default="someone", help="the caller's name")
    check.add_argument("--role", action="append", help="a role the caller holds; repeat for several")
    check.add_argument("--team", default="default", help="the caller's team")
    check.add_argument("--model", required=True, help="the model name, or * for admin actions")
    check.add_argument("--action", required=True, help="chat, embeddings, models.list, keys.create, …")
    check.set_defaults(handler=_check)

    test = sub.add_parser("test", help="run policy assertions; exits non-zero on a failure")
    test.add_argument("file", help="assertions file, e.g. policies/tests.yaml")
    test.set_defaults(handler=_test)

    validate = sub.add_parser("validate", help="load the policy files and print their version")
    validate.set_defaults(handler=_validate)

    for parser in (check, test, validate):
        parser.add_argument("--dir", default="policies", help="directory with model.conf and policy.csv")
