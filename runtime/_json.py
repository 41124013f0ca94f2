"""Reading untyped JSON (provider responses) without sprinkling casts everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast


def obj(value: object) -> Mapping[str, object]:
    return cast(Mapping[str, object], value) if isinstance(value, Mapping) else {}


def items(value: object) -> list[object]:
    return cast(list[object], value) if isinstance(value, list) else []


def string(value: object) -> str:
    return value if isinstance(value, str) else ""


def integer(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
