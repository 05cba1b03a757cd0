"""Validate payloads against OpenAI's published OpenAPI description (../shared/specs).

The description is OpenAPI 3.1 but still uses 3.0's ``nullable: true`` in
places; that keyword is rewritten into JSON Schema before validation.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "specs" / "openai-openapi.yaml"


def _fix_nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_fix_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _fix_nullable(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            return {"anyOf": [node, {"type": "null"}]}
    return node


@functools.cache
def _spec() -> dict[str, Any]:
    with SPEC_PATH.open() as handle:
        raw = yaml.load(handle, Loader=yaml.CSafeLoader)
    return {"components": _fix_nullable(raw["components"])}


@functools.cache
def validator(schema_name: str) -> jsonschema.protocols.Validator:
    root = {**_spec(), "$ref": f"#/components/schemas/{schema_name}"}
    return jsonschema.Draft202012Validator(root)


def validate(payload: Any, schema_name: str) -> None:
    """Raise ``jsonschema.ValidationError`` if ``payload`` does not fit the named schema."""
    validator(schema_name).validate(payload)
