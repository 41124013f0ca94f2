"""Loading the Skill object a spec string names: `package.module:attr` or `path/file.py:attr`
(and, given a table of built-ins, a built-in name)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path

from skills.sdk._skill import Skill


class SkillLoadError(Exception):
    """The spec names no loadable Skill; the message says why."""


def load_skill(spec: str, builtins: Mapping[str, str] | None = None) -> Skill:
    """Import the Skill object a spec names; clear errors for every way that can fail."""
    builtins = builtins or {}
    target = builtins.get(spec, spec)
    if ":" not in target:
        known = ", ".join(sorted(builtins)) or "none"
        raise SkillLoadError(
            f"unknown skill {spec!r}: use a built-in ({known}), MODULE:ATTR or path/to/file.py:ATTR"
        )
    where, attr = target.rsplit(":", 1)
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.is_file():
            raise SkillLoadError(f"skill file not found: {where}")
        module_spec = importlib.util.spec_from_file_location(f"podium_user_skill_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise SkillLoadError(f"cannot load {where} as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            raise SkillLoadError(f"cannot import {where!r} for skill {spec!r}: {exc}") from exc
    skill = getattr(module, attr, None)
    if not isinstance(skill, Skill):
        raise SkillLoadError(f"{target} is not a skills.sdk.Skill (got {type(skill).__name__})")
    return skill
