"""pydantic's errors as one line a user can act on: which field (or flag), what is wrong, and
for an unknown key the close one; never pydantic's multi-line dump or its documentation link.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


class SpecError(ValueError):
    """A run spec (file or flags) cannot be used; the message is one line naming the cause."""


def read_data(path: Path, what: str = "run spec") -> Any:
    """A JSON or YAML file's data; SpecError with line and column when it does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a folder, not a {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(
            f"{path}: cannot read it ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}: not valid YAML: {problem}{where}") from None


def explain(
    exc: ValidationError,
    model: type[BaseModel],
    *,
    where: str = "",
    flags: Mapping[str, str] | None = None,
) -> str:
    """One line for the first error (and how many more there are). `flags` maps a dotted
    field path (`limits.timeout_s`) to the flag that set it (`--timeout`), so the user reads
    the name they typed."""
    errors = exc.errors(include_url=False)
    text = _one(errors[0], model, where, flags or {})
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return text


def _one(err: ErrorDetails, model: type[BaseModel], where: str, flags: Mapping[str, str]) -> str:
    loc = [str(p) for p in err["loc"]]
    dotted = ".".join(loc)
    # The flag that set this field, or the one that set the item it belongs to (`skills.2`).
    flag = next(
        (flags[".".join(loc[:n])] for n in range(len(loc), 0, -1) if ".".join(loc[:n]) in flags),
        None,
    )
    name = flag or (f"{where}: {dotted}" if where and dotted else where or dotted)
    kind = err["type"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(loc[-1], _fields_at(model, loc[:-1]), n=1, cutoff=0.6)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        return f"{name}: unknown key{hint}"
    message = err["msg"].removeprefix("Value error, ")
    if kind == "missing":
        return f"{name}: required"
    message = message.replace("Input should be", "must be", 1)
    value = err.get("input")
    quiet = isinstance(value, dict | list) or repr(value) in message
    shown = "" if quiet else f" (got {value!r})"
    return f"{name}: {message[:1].lower()}{message[1:]}{shown}"


def _fields_at(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """The field names of the model reached by following `loc` (list indexes skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if part.isdigit():
            continue
        field = current.model_fields.get(part)
        current = _model_in(field.annotation) if field else None
    return list(current.model_fields) if current else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated or origin in (list, types.UnionType, typing.Union):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
