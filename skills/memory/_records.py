"""What a memory is, and the rules every writer applies to content and tags."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

MAX_CONTENT_CHARS = 20_000
MAX_TAGS = 20
MAX_TAG_CHARS = 64
MAX_SOURCE_CHARS = 500


class InvalidMemory(ValueError):
    """Content, tags or source break a limit; the message says which and how to fix it."""


@dataclass(frozen=True)
class Memory:
    """One stored memory, as tools, the CLI and export files see it."""

    id: str
    scope: str
    content: str
    tags: list[str] = field(default_factory=lambda: [])
    source: str | None = None
    created_at: str = ""
    """UTC, ISO 8601 with milliseconds (sorts as text)."""
    updated_at: str = ""


@dataclass(frozen=True)
class Hit:
    """A search result: the memory's id, a highlighted snippet, and its rank score."""

    id: str
    snippet: str
    tags: list[str]
    created_at: str
    score: float
    """Higher is better (negated bm25, or fused rank when hybrid search is on)."""
    source: str | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    return secrets.token_hex(8)


def digest(content: str) -> str:
    """Identity of a memory's text within a scope: the same text is never stored twice."""
    return hashlib.sha256(" ".join(content.split()).encode()).hexdigest()[:32]


def normalize_tags(tags: list[str] | None) -> list[str]:
    """Lowercase, trimmed, inner spaces as `-`, no duplicates, order kept."""
    seen: dict[str, None] = {}
    for tag in tags or []:
        clean = re.sub(r"\s+", "-", tag.encode("utf-8", "replace").decode().strip().lower())
        if not clean:
            continue
        if len(clean) > MAX_TAG_CHARS:
            raise InvalidMemory(f"tag {clean[:20]!r}... is longer than {MAX_TAG_CHARS} characters")
        seen[clean] = None
    if len(seen) > MAX_TAGS:
        raise InvalidMemory(f"at most {MAX_TAGS} tags per memory (got {len(seen)})")
    return list(seen)


def check_content(content: str) -> str:
    # A lone surrogate (valid in JSON, not in UTF-8) would make SQLite refuse the text.
    content = content.encode("utf-8", "replace").decode("utf-8").strip()
    if not content:
        raise InvalidMemory("content must not be empty")
    if len(content) > MAX_CONTENT_CHARS:
        raise InvalidMemory(
            f"content is {len(content)} characters; the limit is "
            f"{MAX_CONTENT_CHARS}: store a shorter summary"
        )
    return content


def check_source(source: str | None) -> str | None:
    if source is not None and len(source) > MAX_SOURCE_CHARS:
        raise InvalidMemory(f"source is longer than {MAX_SOURCE_CHARS} characters")
    return source or None


def head(content: str, chars: int = 400) -> str:
    """The start of a memory, for results that have no highlighted snippet."""
    return content if len(content) <= chars else content[:chars].rstrip() + "…"
