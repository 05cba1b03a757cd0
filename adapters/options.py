"""Provider-specific settings (``Target.options``): which ones an adapter reads, and their shape.

Each adapter declares the options it understands in ``accepted_options``;
the gateway checks a provider's ``options`` against them when it loads its
configuration, so a misspelt name or a value of the wrong kind stops the
start (or the reload) with a message naming it, instead of being ignored or
failing later on a client's request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["string", "strings", "integer", "boolean"]

_KIND_TEXT = {
    "string": "a string",
    "strings": "a string or a list of strings",
    "integer": "an integer",
    "boolean": "true or false",
}


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its kind, and the values or the least value it may take."""

    kind: Kind
    choices: tuple[str, ...] = ()
    minimum: int | None = None

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit, or None when it does."""
        if self.kind == "boolean":
            fits = isinstance(value, bool)
        elif self.kind == "integer":
            fits = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind == "strings":
            fits = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        else:
            fits = isinstance(value, str)
        if not fits:
            return f"expected {_KIND_TEXT[self.kind]}, got {value!r}"
        texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        if any("\r" in text or "\n" in text for text in texts):
            # Options end up in header values and URLs, where a line break has no place.
            return f"may not contain a line break, got {value!r}"
        if self.choices and value not in self.choices:
            return f"expected one of {', '.join(self.choices)}, got {value!r}"
        if self.minimum is not None and value < self.minimum:
            return f"expected at least {self.minimum}, got {value!r}"
        return None


def option_problems(options: Mapping[str, Any], accepted: Mapping[str, Option]) -> list[tuple[str, str]]:
    """``(option name, what is wrong)`` for every option that is unknown or does not fit, in name order."""
    problems = []
    for name in sorted(options):
        option = accepted.get(name)
        if option is None:
            known = ", ".join(sorted(accepted)) if accepted else "none"
            problems.append((name, f"unknown option (this provider type accepts: {known})"))
            continue
        problem = option.problem(options[name])
        if problem is not None:
            problems.append((name, problem))
    return problems
