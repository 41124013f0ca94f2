"""Arguments made from tool schemas: every value validates; broken calls really break the
schema; schemas that are not object schemas or do not compile are named."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from protos.schema import compile_schema
from skills.check._arguments import CannotGenerateError, broken_calls, valid_arguments
from skills.sdk import Skill


class Point(BaseModel):
    x: int
    y: float = 0.5


demo = Skill("demo")


@demo.tool
def everything(
    name: str,
    count: int,
    mode: Literal["fast", "slow"],
    where: Point,
    tags: list[str],
    limit: int | None = None,
    ratio: float = 1.0,
    flag: bool = False,
) -> str:
    """A tool with every kind of parameter the SDK makes."""
    return name


SCHEMAS: list[dict[str, Any]] = [
    demo.tools["everything"].input_schema,  # $defs, $ref, anyOf with null, enums
    {"type": "object", "properties": {}},
    {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "exclusiveMinimum": 3, "maximum": 9, "multipleOf": 2},
            "s": {"type": "string", "minLength": 5, "maxLength": 8},
            "p": {"type": "string", "pattern": "^[a-z]+-[0-9]$"},
            "f": {"type": "string", "format": "date-time"},
            "a": {"type": "array", "items": {"type": "integer"}, "minItems": 2},
            "c": {"const": "exactly"},
            "t": {"type": ["null", "number"]},
            "o": {"allOf": [{"type": "object", "properties": {"k": {"type": "boolean"}},
                             "required": ["k"]}]},
        },
        "required": ["n", "s", "p", "f", "a", "c", "t", "o"],
        "additionalProperties": False,
    },
]  # fmt: skip


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("full", [False, True])
def test_made_arguments_validate(schema: dict[str, Any], full: bool) -> None:
    args = valid_arguments(schema, full=full)
    assert compile_schema(schema).is_valid(args)
    assert set(schema.get("required", [])) <= set(args)
    if full:
        assert set(args) == set(schema["properties"])


def test_the_sdk_accepts_what_is_made() -> None:
    args = valid_arguments(demo.tools["everything"].input_schema, full=True)
    assert everything(**{**args, "where": Point(**args["where"])}) == args["name"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_broken_calls_break_the_schema(schema: dict[str, Any]) -> None:
    valid = valid_arguments(schema)
    calls = broken_calls(schema, valid)
    labels = [c.label for c in calls]
    assert labels[:2] == ["not JSON", "not an object"]
    validator = compile_schema(schema)
    for call in calls[2:]:
        assert not validator.is_valid(json.loads(call.arguments_json)), call.label
    if schema.get("required"):
        assert any("missing" in label for label in labels)
        assert any("wrong type" in label for label in labels)
    if schema.get("additionalProperties") is False:
        assert "an unknown field" in labels


def test_an_impossible_pattern_is_reported_not_sent() -> None:
    schema = {"type": "object", "properties": {"k": {"type": "string", "pattern": "^Z{3}$"}},
              "required": ["k"]}  # fmt: skip
    with pytest.raises(CannotGenerateError, match="pattern"):
        valid_arguments(schema)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string"}, "not 'object'"),
        ([1, 2], "a JSON list, not an object"),
        ({"type": "object", "properties": {"a": {"type": "nonsense"}}}, "does not compile at"),
        ({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, "does not compile"),
    ],
)
def test_schemas_that_do_not_compile(schema: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_schema(schema)
