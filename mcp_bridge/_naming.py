"""Tool names as the model sees them: `PREFIX_TOOL`, cut to what model APIs accept.

OpenAI and Anthropic accept `^[a-zA-Z0-9_-]{1,64}$`. Other characters become `_`; a name
that is too long is cut and given a short hash of the full name, so two long names that
share a beginning stay apart. When two tools still end up with one name, the one that sorts
first by (server, tool) keeps it and each other gets a hash suffix: deterministic, and
reported.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

MAX_NAME = 64
_BAD = re.compile(r"[^A-Za-z0-9_-]")
_HASH = 8


@dataclass(frozen=True)
class ToolKey:
    """A tool as its server names it."""

    server: str
    tool: str

    def __str__(self) -> str:
        return f"{self.server}/{self.tool}"


@dataclass(frozen=True)
class Naming:
    names: dict[ToolKey, str]
    """Every tool's exposed name, unique."""
    collisions: list[str]
    """One sentence per renamed tool, for the operator."""


def sanitize(text: str) -> str:
    return _BAD.sub("_", text)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH]


def _fit(name: str, key: ToolKey, suffix: str = "") -> str:
    """Cut `name` so that it, plus `suffix`, fits; a cut name gets a hash of the tool."""
    if len(name) + len(suffix) <= MAX_NAME:
        return name + suffix
    tail = "_" + _digest(str(key)) + suffix
    return name[: MAX_NAME - len(tail)] + tail


def exposed_name(prefix: str, tool: str, key: ToolKey) -> str:
    """The name before collisions are considered."""
    base = sanitize(f"{prefix}_{tool}" if prefix else tool) or "tool"
    return _fit(base, key)


def assign_names(tools: Iterable[tuple[str, ToolKey]]) -> Naming:
    """Give each (prefix, key) a unique model-safe name."""
    wanted: dict[str, list[ToolKey]] = defaultdict(list)
    for prefix, key in tools:
        wanted[exposed_name(prefix, key.tool, key)].append(key)
    names: dict[ToolKey, str] = {}
    collisions: list[str] = []
    taken = set(wanted)  # every plain name is reserved before any renamed one is chosen
    for name, keys in sorted(wanted.items()):
        keys.sort(key=lambda k: (k.server, k.tool))
        names[keys[0]] = name
        for other in keys[1:]:
            renamed, attempt = name, 0
            while renamed in taken:
                salt = str(other) if attempt == 0 else f"{other}#{attempt}"
                renamed = _fit(name, other, "_" + _digest(salt))
                attempt += 1
            taken.add(renamed)
            names[other] = renamed
            collisions.append(
                f"{other} would be named {name} like {keys[0]}; it is exposed as {renamed}"
            )
    return Naming(names, collisions)
