"""Everything `podium run` can check before it creates a workspace or starts a process: the
workspace folder, each skill spec, the model string, MCP config files, the memory database.
Each problem is one `UsageError` line that names the flag or field."""

from __future__ import annotations

import os
from pathlib import Path

from runtime.spec import RunSpec, SkillSpec


class UsageError(Exception):
    """A mistake in what the user asked for: printed as one line, exit status 2."""


def check_workspace(path: Path) -> None:
    """The folder must be a folder (or creatable) and writable; nothing is created here."""
    path = path.expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise UsageError(f"--workspace {path}: is a file, not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(
            f"--workspace {path}: {existing} is a file, so no folder can be made there"
        )
    if not _writable(existing):
        what = (
            "is not writable" if existing == path else f"cannot be made: {existing} is not writable"
        )
        raise UsageError(f"--workspace {path}: {what}")


def _writable(folder: Path) -> bool:
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:  # root passes os.access everywhere; a read-only mount still refuses
        return not os.statvfs(folder).f_flag & os.ST_RDONLY
    except OSError:
        return False


def check_skill_source(source: str, flag: str) -> None:
    from skills.sdk.cli import SkillLoadError
    from skills.serve import check_skill

    try:
        check_skill(source)
    except SkillLoadError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def check_spec(spec: RunSpec, *, model_flag: str, skill_flags: dict[str, str]) -> None:
    """The parts of a valid spec that can still fail at start: model, skills, their files."""
    from runtime.agent.base import ModelError
    from runtime.agent.models import check_model

    try:
        check_model(spec.model)
    except ModelError as exc:
        raise UsageError(f"{model_flag}: {exc}") from None
    for skill in spec.skills:
        flag = skill_flags.get(skill.name, f"skill {skill.name!r}")
        if skill.source is not None:
            check_skill_source(skill.source, flag)
        if skill.source == "mcp":
            _check_mcp(skill, flag)
        if skill.source == "memory":
            _check_memory(skill, flag)


def _check_mcp(skill: SkillSpec, flag: str) -> None:
    from mcp_bridge._config import ConfigError, load_config

    if skill.config is None:
        if not skill.allow_no_tools:
            raise UsageError(f"{flag}: the MCP bridge needs a servers file (give --mcp FILE)")
        return
    try:
        config = load_config(skill.config)
    except ConfigError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    usable = [s for s in config.servers.values() if not s.disabled]
    if not usable and not skill.allow_no_tools:
        why = "; ".join(f"{name}: {error}" for name, error in config.errors.items())
        raise UsageError(
            f"{flag}: no server in {skill.config} can start"
            + (f" ({config.redact(why)})" if why else " (all are disabled)")
        )


def _check_memory(skill: SkillSpec, flag: str) -> None:
    from skills.memory import MemoryConfig, MemoryDBError, check_database

    config = MemoryConfig.from_env({**os.environ, **skill.env})
    try:
        check_database(config.db)
    except MemoryDBError as exc:
        raise UsageError(f"{flag}: memory database {exc}") from None
