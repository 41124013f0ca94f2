"""What a tool in a Describe must be, checked the same way by the agent (which refuses a bad
tool and keeps the skill's others) and by `podium skill check` (which reports it)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, cast

from jsonschema import Draft202012Validator, SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

SKILL_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A skill's own name: a DNS label."""
TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""What model providers accept as a function name."""

MISSING = object()


def compile_schema(schema: Any) -> Validator:
    """A validator for a tool's input schema; raises ValueError saying what is wrong: not an
    object schema, a schema that does not compile, or a `$ref` that points nowhere."""
    if not isinstance(schema, dict):
        raise ValueError(f"the schema is a JSON {type(schema).__name__}, not an object")
    s = cast(dict[str, Any], schema)
    if s.get("type") != "object":
        raise ValueError(f"the schema's type is {s.get('type')!r}, not 'object'")
    cls = validator_for(s, default=Draft202012Validator)
    try:
        cls.check_schema(s)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ValueError(f"the schema does not compile at {where}: {exc.message}") from None
    for ref in _refs(s):  # an unresolvable $ref would show only when a value reaches it
        if not ref.startswith("#"):
            raise ValueError(f"the schema does not compile: $ref {ref!r} leaves the schema")
        if pointer(s, ref) is MISSING:
            raise ValueError(f"the schema does not compile: $ref {ref!r} points nowhere")
    return cls(s)


def check_tool(name: str, schema_json: str) -> dict[str, Any]:
    """The tool's schema as a dict, or ValueError naming what is wrong with the tool."""
    if not TOOL_NAME_RE.match(name):
        raise ValueError(f"its name {name!r} does not match {TOOL_NAME_RE.pattern}")
    try:
        schema = json.loads(schema_json)
    except json.JSONDecodeError as exc:
        raise ValueError(f"input_schema_json is not JSON: {exc}") from None
    compile_schema(schema)
    return cast(dict[str, Any], schema)


def _refs(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        items = cast(Mapping[str, Any], node)
        found = [str(items["$ref"])] if isinstance(items.get("$ref"), str) else []
        return found + [r for v in items.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in cast(list[Any], node) for r in _refs(v)]
    return []


def pointer(root: Any, ref: str) -> Any:
    """What a local `$ref` ("#/$defs/X") points at, or MISSING."""
    node = root
    for part in ref[2:].split("/") if ref.startswith("#/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = cast(Mapping[str, Any], node)[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(cast(list[Any], node)):
            node = cast(list[Any], node)[int(part)]
        else:
            return MISSING
    return node
