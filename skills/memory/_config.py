"""The memory skill's settings, read from the environment the launcher sets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_SCOPE_CHARS = 200


class ConfigError(ValueError):
    """A setting is unusable; the message names the variable."""


def default_db_path(env: Mapping[str, str] | None = None) -> Path:
    """Per-user default: `$XDG_DATA_HOME/podium/memory.db` (`~/.local/share/...`)."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "podium" / "memory.db"


def check_scope(scope: str) -> str:
    scope = scope.strip()
    if not scope or len(scope) > MAX_SCOPE_CHARS or not scope.isprintable():
        raise ConfigError(
            f"memory scope must be 1-{MAX_SCOPE_CHARS} printable characters (got {scope[:40]!r})"
        )
    return scope


@dataclass(frozen=True)
class MemoryConfig:
    """Where memories live and whose they are. Never taken from tool arguments."""

    db: Path
    """Database file (`PODIUM_MEMORY_DB`); in a Pod, a file on the mounted volume."""
    scope: str = "default"
    """Whose memories these are, e.g. `tenant/agent` (`PODIUM_MEMORY_SCOPE`)."""
    seeds: Path | None = None
    """Seed memories loaded at start, JSONL or Markdown (`PODIUM_MEMORY_SEEDS`)."""
    hybrid: bool = False
    """Fuse full-text with embedding search (`PODIUM_MEMORY_HYBRID=1`; needs the extra)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MemoryConfig:
        env = os.environ if env is None else env
        db = env.get("PODIUM_MEMORY_DB") or ""
        seeds = env.get("PODIUM_MEMORY_SEEDS") or ""
        hybrid = env.get("PODIUM_MEMORY_HYBRID", "").strip().lower()
        if hybrid not in ("", "0", "1", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(f"PODIUM_MEMORY_HYBRID must be 1 or 0 (got {hybrid!r})")
        return cls(
            db=Path(db).expanduser() if db else default_db_path(env),
            scope=check_scope(env.get("PODIUM_MEMORY_SCOPE") or "default"),
            seeds=Path(seeds).expanduser() if seeds else None,
            hybrid=hybrid in ("1", "true", "yes", "on"),
        )
