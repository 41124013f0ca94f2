"""YAML out, typed (PyYAML's stubs leave `width` unknown, which strict pyright rejects)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TextIO

import yaml

_dump: Callable[..., str] = yaml.safe_dump  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
_dump_all: Callable[..., None] = yaml.safe_dump_all  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


def dump(obj: Any) -> str:
    return _dump(obj, sort_keys=False, default_flow_style=False, width=100)


def dump_all(documents: Iterable[Any], stream: TextIO) -> None:
    _dump_all(list(documents), stream, sort_keys=False, default_flow_style=False)
