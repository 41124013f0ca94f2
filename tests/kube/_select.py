"""Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`), field selectors (`a.b=c,d!=e`),
and LabelSelector objects (matchLabels, matchExpressions)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]


class SelectorError(ValueError):
    """A selector that does not parse."""


_SET = re.compile(
    r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\)|(==|=|!=)\s*([^,]*?))?\s*$"
)


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def labels(text: str) -> Predicate:
    """A predicate on an object for a label selector string."""
    tests: list[Callable[[dict[str, str]], bool]] = []
    for part in _split(text):
        m = _SET.match(part)
        if m is None:
            raise SelectorError(f"unable to parse requirement: {part!r}")
        bang, key, set_op, values, op, value = m.groups()
        if set_op:
            wanted = {v.strip() for v in values.split(",") if v.strip()}
            if set_op == "in":
                tests.append(lambda lb, k=key, w=wanted: lb.get(k) in w)
            else:
                tests.append(lambda lb, k=key, w=wanted: lb.get(k) not in w)
        elif op:
            if bang:
                raise SelectorError(f"unable to parse requirement: {part!r}")
            value = value.strip()
            if op == "!=":
                tests.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                tests.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif bang:
            tests.append(lambda lb, k=key: k not in lb)
        else:
            tests.append(lambda lb, k=key: k in lb)

    def check(obj: dict[str, Any]) -> bool:
        found: dict[str, str] = obj.get("metadata", {}).get("labels") or {}
        return all(t(found) for t in tests)

    return check


def _field(obj: Any, path: str) -> str:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return ""
        obj = obj.get(part)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if obj is None:
        return ""
    if isinstance(obj, bool):
        return str(obj).lower()
    return str(obj)  # pyright: ignore[reportUnknownArgumentType]


def fields(text: str) -> Predicate:
    """A predicate on an object for a field selector string (any dotted path, = == !=)."""
    tests: list[Predicate] = []
    for part in _split(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if m is None:
            raise SelectorError(f"invalid field selector: {part!r}")
        path, op, value = m.groups()
        if op == "!=":
            tests.append(lambda o, p=path, v=value: _field(o, p) != v)
        else:
            tests.append(lambda o, p=path, v=value: _field(o, p) == v)
    return lambda obj: all(t(obj) for t in tests)


def label_selector(selector: dict[str, Any]) -> Predicate:
    """A predicate for a LabelSelector object (matchLabels and matchExpressions)."""
    wanted: dict[str, str] = selector.get("matchLabels") or {}
    exprs: list[dict[str, Any]] = selector.get("matchExpressions") or []

    def check(obj: dict[str, Any]) -> bool:
        found: dict[str, str] = obj.get("metadata", {}).get("labels") or {}
        if any(found.get(k) != v for k, v in wanted.items()):
            return False
        for e in exprs:
            key, op, values = e.get("key", ""), e.get("operator"), e.get("values") or []
            ok = {
                "In": found.get(key) in values,
                "NotIn": found.get(key) not in values,
                "Exists": key in found,
                "DoesNotExist": key not in found,
            }.get(str(op), False)
            if not ok:
                return False
        return True

    return check
