"""Seed memories: a JSONL file or a Markdown file with one memory per section.

Each seed gets an id derived from the scope and a stable key (its `id` field, its section
heading, or its text), so loading the same file again changes nothing, and an edited seed is
updated in place instead of duplicated.

JSONL: one object per line, `{"content": "...", "tags": [...], "id": "...", "source": "..."}`
(only `content` is required), or a bare JSON string.
Markdown: every heading starts a memory (heading plus body); a `Tags: a, b` line in the body
sets tags. A heading directly followed by deeper headings is a title, not a memory.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, cast

from skills.memory._records import InvalidMemory, Memory, check_content, normalize_tags, now
from skills.memory._store import Store

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TAGS_LINE = re.compile(r"^\s*tags\s*:\s*(.*)$", re.IGNORECASE)


class SeedError(ValueError):
    """The seed file is missing or malformed; the message has the file and line."""


def seed_id(scope: str, key: str) -> str:
    return "seed-" + hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()[:16]


def read_seeds(path: Path, scope: str) -> list[Memory]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"cannot read seed file {path}: {exc}") from exc
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson") or (
        path.suffix.lower() not in (".md", ".markdown") and text.lstrip()[:1] in ("{", '"')
    )
    entries = _jsonl(text, path) if is_jsonl else _markdown(text)
    stamp = now()
    seeds: list[Memory] = []
    for where, key, content, tags, source in entries:
        try:
            content = check_content(content)
            seeds.append(
                Memory(
                    id=seed_id(scope, key or content),
                    scope=scope,
                    content=content,
                    tags=normalize_tags(tags),
                    source=source or f"seed:{path.name}",
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
        except InvalidMemory as exc:
            raise SeedError(f"{path}:{where}: {exc}") from exc
    return seeds


def load_seeds(store: Store, scope: str, path: Path) -> int:
    """Load (or refresh) seeds; returns how many memories were added or changed."""
    return sum(store.put(memory) for memory in read_seeds(path, scope))


_Entry = tuple[int, str, str, list[str], str | None]


def _jsonl(text: str, path: Path) -> list[_Entry]:
    entries: list[_Entry] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SeedError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if isinstance(value, str):
            value = {"content": value}
        obj = cast(dict[str, Any], value) if isinstance(value, dict) else {}
        if not isinstance(obj.get("content"), str):
            raise SeedError(f'{path}:{number}: expected an object with a string "content"')
        tags: Any = obj.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):  # pyright: ignore[reportUnknownVariableType]
            raise SeedError(f'{path}:{number}: "tags" must be a list of strings')
        key, source = obj.get("id"), obj.get("source")
        entries.append(
            (
                number,
                str(key) if key is not None else "",
                obj["content"],
                cast(list[str], tags),
                str(source) if source is not None else None,
            )
        )
    return entries


def _markdown(text: str) -> list[_Entry]:
    sections: list[tuple[int, int, str, list[str]]] = []  # line, level, heading, body
    preamble: list[str] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading:
            sections.append((number, len(heading[1]), heading[2], []))
        elif sections:
            sections[-1][3].append(line)
        else:
            preamble.append(line)
    entries: list[_Entry] = []
    if "\n".join(preamble).strip():
        entries.append((1, "preamble", *_body(preamble), None))
    for i, (number, level, title, lines) in enumerate(sections):
        deeper_next = i + 1 < len(sections) and sections[i + 1][1] > level
        body, tags = _body(lines)
        if not body and deeper_next:
            continue  # a title over sub-sections
        entries.append((number, title, f"{title}\n\n{body}".strip(), tags, None))
    return entries


def _body(lines: list[str]) -> tuple[str, list[str]]:
    tags: list[str] = []
    kept: list[str] = []
    for line in lines:
        match = _TAGS_LINE.match(line)
        if match:
            tags += [t for t in re.split(r"[,\s]+", match[1]) if t]
        else:
            kept.append(line)
    return "\n".join(kept).strip(), tags
