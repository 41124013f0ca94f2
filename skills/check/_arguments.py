"""Arguments for a tool, made from its JSON Schema: valid ones, and ones that break it.

A small deterministic generator rather than a property-testing library (hypothesis-jsonschema
would draw random, often huge values, and pull hypothesis into every skill image): a
conformance check wants one typical, readable call per tool, the same on every run, and
every value it makes is validated against the schema with `jsonschema` before it is sent.
It covers what tool schemas use: types, enum/const, ranges, lengths, formats, simple
patterns, arrays, nested objects, `$ref`/`$defs`, anyOf/oneOf/allOf.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from protos.schema import MISSING, compile_schema, pointer

Schema = Mapping[str, Any]


class CannotGenerateError(Exception):
    """The schema asks for something this generator cannot make."""


_STRING_CANDIDATES = ("podium-check", "a", "abc", "check1", "0", "a-1", "x.txt", "default")
_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "check@example.com",
    "uri": "https://example.com/podium-check",
    "url": "https://example.com/podium-check",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
}


@dataclass
class Generator:
    """Makes values for the schema `root` (which `$ref`s resolve against)."""

    root: Schema
    full: bool = False
    """Fill every optional property too (otherwise only the required ones)."""

    def value(self, schema: Any, depth: int = 0) -> Any:
        if depth > 12:
            raise CannotGenerateError("the schema nests too deep")
        if schema is True or schema == {}:
            return "podium-check"
        if not isinstance(schema, Mapping):
            raise CannotGenerateError("a sub-schema is not an object")
        s = cast(Schema, schema)
        if "$ref" in s:
            return self.value(self._resolve(str(s["$ref"])), depth + 1)
        if "const" in s:
            return s["const"]
        if "enum" in s:
            options = cast(list[Any], s["enum"])
            if not options:
                raise CannotGenerateError("an enum with no values")
            return options[0]
        for key in ("anyOf", "oneOf"):
            if key in s:
                return self._first_branch(cast(list[Any], s[key]), depth)
        if "allOf" in s:
            merged: dict[str, Any] = {k: v for k, v in s.items() if k != "allOf"}
            for part in cast(list[Any], s["allOf"]):
                merged.update(self._resolve(part["$ref"]) if "$ref" in part else part)
            return self.value(merged, depth + 1)
        kind = s.get("type")
        if isinstance(kind, list):
            kinds = [str(k) for k in cast(list[Any], kind)]
            kind = next((k for k in kinds if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in s else "string"
        return self._typed(str(kind), s, depth)

    def _first_branch(self, branches: list[Any], depth: int) -> Any:
        def is_null(branch: Any) -> bool:
            return isinstance(branch, Mapping) and cast(Schema, branch).get("type") == "null"

        ordered = sorted(branches, key=is_null)
        for branch in ordered:
            try:
                return self.value(branch, depth + 1)
            except CannotGenerateError:
                continue
        raise CannotGenerateError("no branch of anyOf/oneOf can be generated")

    def _typed(self, kind: str, s: Schema, depth: int) -> Any:
        if kind == "string":
            return _string(s)
        if kind in ("integer", "number"):
            return _number(kind, s)
        if kind == "boolean":
            return bool(s.get("default", False))
        if kind == "null":
            return None
        if kind == "array":
            items = s.get("items", {})
            low = int(s.get("minItems", 0))
            high = int(s.get("maxItems", max(low, 1)))
            count = min(max(low, 1), high)
            values = [self.value(items, depth + 1) for _ in range(count)]
            if s.get("uniqueItems") and count > 1:
                raise CannotGenerateError("unique arrays of more than one item")
            return values
        if kind == "object":
            return self._object(s, depth)
        raise CannotGenerateError(f"unknown type {kind!r}")

    def _object(self, s: Schema, depth: int) -> dict[str, Any]:
        properties = cast(Mapping[str, Any], s.get("properties", {}))
        required = [str(r) for r in cast(list[Any], s.get("required", []))]
        out: dict[str, Any] = {}
        for name in required:
            out[name] = self.value(properties.get(name, {}), depth + 1)
        if self.full:
            for name, sub in properties.items():
                if name not in out:
                    out[name] = self.value(sub, depth + 1)
        return out

    def _resolve(self, ref: str) -> Any:
        node = pointer(self.root, ref) if ref.startswith("#") else MISSING
        if node is MISSING:
            raise CannotGenerateError(f"an unresolvable $ref: {ref}")
        return node


def _string(s: Schema) -> str:
    low = int(s.get("minLength", 0))
    high = int(s.get("maxLength", 10_000))
    pattern = s.get("pattern")
    fmt = s.get("format")
    candidates = [_FORMATS[fmt]] if isinstance(fmt, str) and fmt in _FORMATS else []
    candidates += [*_STRING_CANDIDATES, "a" * max(low, 1)]
    for text in candidates:
        if not low <= len(text) <= high:
            continue
        if isinstance(pattern, str):
            try:
                if not re.search(pattern, text):
                    continue
            except re.error:
                raise CannotGenerateError(f"a pattern Python cannot read: {pattern}") from None
        return text
    raise CannotGenerateError(
        f"no string fits {('pattern ' + repr(pattern)) if pattern else 'the length limits'}"
    )


def _number(kind: str, s: Schema) -> int | float:
    low = s.get("minimum")
    high = s.get("maximum")
    if "exclusiveMinimum" in s:
        low = s["exclusiveMinimum"] + (1 if kind == "integer" else 0.5)
    if "exclusiveMaximum" in s:
        high = s["exclusiveMaximum"] - (1 if kind == "integer" else 0.5)
    value: float = low if low is not None else 1
    if high is not None and value > high:
        value = high
    step = s.get("multipleOf")
    if step:
        value = (value // step + (1 if value % step else 0)) * step
    if kind == "integer":
        return int(value)
    return float(value)


def valid_arguments(schema: Schema, full: bool = False) -> dict[str, Any]:
    """Arguments the schema accepts; raises CannotGenerateError (also when what was made
    does not validate, e.g. a pattern no candidate fits)."""
    value = Generator(schema, full=full).value(schema)
    if not isinstance(value, dict):
        raise CannotGenerateError("the schema's root is not an object")
    args = cast(dict[str, Any], value)
    errors = list(compile_schema(schema).iter_errors(args))
    if errors:
        raise CannotGenerateError(f"made arguments that break the schema: {errors[0].message}")
    return args


_WRONG_VALUES: tuple[Any, ...] = (
    {"podium_check": [1, 2]},
    [1, 2, 3],
    12345.5,
    "podium-check-wrong-type",
    True,
    None,
)


@dataclass(frozen=True)
class BrokenCall:
    """Arguments (as JSON text) that a conforming skill must refuse."""

    label: str
    arguments_json: str
    strict: bool
    """Only INVALID_ARGUMENTS will do; otherwise a TOOL error passes with a warning (a skill
    that forwards the call to something that checks it, like an MCP server)."""


def broken_calls(schema: Schema, valid: dict[str, Any]) -> list[BrokenCall]:
    """Not JSON, not an object, and (where the schema allows making them) a required field
    missing, a wrong type, an unknown field."""
    import json

    calls = [
        BrokenCall("not JSON", "{not json", True),
        BrokenCall("not an object", "[1, 2]", True),
    ]
    validator = compile_schema(schema)
    required = [str(r) for r in cast(list[Any], schema.get("required", []))]
    if required:
        missing = {k: v for k, v in valid.items() if k != required[0]}
        calls.append(BrokenCall(f"required {required[0]!r} missing", json.dumps(missing), False))
    properties = cast(Mapping[str, Any], schema.get("properties", {}))
    targets = [*required, *(p for p in properties if p not in required)]
    for name in targets:
        for wrong in _WRONG_VALUES:
            candidate = {**valid, name: wrong}
            if not validator.is_valid(candidate):
                calls.append(BrokenCall(f"{name!r} of a wrong type", json.dumps(candidate), False))
                break
        else:
            continue
        break
    if schema.get("additionalProperties") is False:
        extra = {**valid, "podium_check_unknown_field": 1}
        calls.append(BrokenCall("an unknown field", json.dumps(extra), False))
    return calls
