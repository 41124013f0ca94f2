"""Built-in skills by name, and loading any skill from a spec string.

A spec is a built-in name (`workspace`, `memory`, `mcp`, ...), `package.module:attr`, or
`path/to/file.py:attr` for a skill someone wrote with the SDK.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from skills.sdk import Skill

BUILTIN: dict[str, str] = {
    "workspace": "skills.workspace:skill",
    "memory": "skills.memory:skill",
    "mcp": "mcp_bridge:skill",
    "kubectl": "skills.kubectl:skill",
    "helm": "skills.helm:skill",
}


class SkillLoadError(Exception):
    pass


def default_name(spec: str) -> str:
    """The instance name a spec gets when none is given: `mcp`, `helm`, `my-skill`..."""
    if spec in BUILTIN:
        return spec
    attr_owner = spec.rsplit(":", 1)[0]
    stem = Path(attr_owner).stem if attr_owner.endswith(".py") else attr_owner.rsplit(".", 1)[-1]
    return stem.lower().replace("_", "-")


def load_skill(spec: str) -> Skill:
    """Import the Skill object a spec names; clear errors for every way that can fail."""
    target = BUILTIN.get(spec, spec)
    if ":" not in target:
        known = ", ".join(sorted(BUILTIN))
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
