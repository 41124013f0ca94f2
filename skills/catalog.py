"""Built-in skills by name, and loading any skill from a spec string.

A spec is a built-in name (`workspace`, `memory`, `mcp`, ...), `package.module:attr`, or
`path/to/file.py:attr` for a skill someone wrote with the SDK.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skills.sdk import Skill

BUILTIN: dict[str, str] = {
    "workspace": "skills.workspace:skill",
    "memory": "skills.memory:skill",
    "mcp": "mcp_bridge:skill",
    "kubectl": "skills.kubectl:skill",
    "helm": "skills.helm:skill",
}


def default_name(spec: str) -> str:
    """The instance name a spec gets when none is given: `mcp`, `helm`, `my-skill`..."""
    if spec in BUILTIN:
        return spec
    attr_owner = spec.rsplit(":", 1)[0]
    stem = Path(attr_owner).stem if attr_owner.endswith(".py") else attr_owner.rsplit(".", 1)[-1]
    return stem.lower().replace("_", "-")


def load_skill(spec: str) -> Skill:
    """Import the Skill a spec names (a built-in name, MODULE:ATTR or file.py:ATTR)."""
    from skills.sdk.cli import load_skill as load

    return load(spec, BUILTIN)


def check_skill(spec: str) -> None:
    """Refuse a spec that cannot load (unknown built-in, missing file, no such attribute),
    without running the skill's code; raises SkillLoadError."""
    from skills.sdk.cli import check_skill as check

    check(spec, BUILTIN)


def main(argv: list[str]) -> int:
    """`podium skill serve|health`: the SDK's command, knowing the built-in names;
    `podium skill check` (conformance) and `podium skill new` (a scaffold) are their own."""
    if argv[:1] == ["check"]:
        from skills.check import main as check_main

        return check_main(argv[1:])
    if argv[:1] == ["new"]:
        from skills.scaffold import main as new_main

        return new_main(argv[1:])
    from skills.sdk.cli import main as sdk_main

    return sdk_main(argv, BUILTIN, prog="podium skill")
