from __future__ import annotations

from typing import Any

import pytest

from adapters.options import Option, option_problems
from adapters.registry import adapter_names, get_adapter


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        (Option("string"), "2024-10-21", None),
        (Option("string"), 20241021, "expected a string, got 20241021"),
        (Option("string"), "a\nb", "may not contain a line break, got 'a\\nb'"),
        (Option("strings"), "one", None),
        (Option("strings"), ["one", "two"], None),
        (Option("strings"), ["one", "tw\ro"], "may not contain a line break"),
        (Option("strings"), {"one": 1}, "expected a string or a list of strings"),
        (Option("integer", minimum=1), 1, None),
        (Option("integer", minimum=1), 0, "expected at least 1, got 0"),
        (Option("integer"), 4096.0, "expected an integer, got 4096.0"),
        (Option("integer"), False, "expected an integer, got False"),
        (Option("boolean"), False, None),
        (Option("boolean"), "false", "expected true or false, got 'false'"),
        (Option("string", choices=("adaptive", "budget")), "budget", None),
        (Option("string", choices=("adaptive", "budget")), "manual", "expected one of adaptive, budget"),
    ],
)
def test_an_option_says_why_a_value_does_not_fit(option: Option, value: Any, problem: str | None) -> None:
    found = option.problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)


def test_problems_name_every_unknown_or_misfit_option_in_order() -> None:
    accepted = {"api_version": Option("string"), "retries": Option("integer")}
    problems = option_problems({"retries": "3", "api_verison": "x", "api_version": "v1"}, accepted)
    assert problems == [
        ("api_verison", "unknown option (this provider type accepts: api_version, retries)"),
        ("retries", "expected an integer, got '3'"),
    ]
    assert option_problems({}, {}) == []
    assert option_problems({"x": 1}, {}) == [("x", "unknown option (this provider type accepts: none)")]


@pytest.mark.parametrize("name", adapter_names())
def test_every_wire_format_declares_its_options(name: str) -> None:
    accepted = get_adapter(name).accepted_options
    assert all(isinstance(option, Option) for option in accepted.values())
    assert {
        "azure": {"api_version"},
        "anthropic": {"anthropic_version", "beta", "default_max_tokens", "drop_sampling_params", "thinking_mode"},
    }.get(name, set()) == set(accepted)
