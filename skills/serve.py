"""`podium skill ...`: serve and health (the SDK's `skills.sdk.cli`, knowing the built-in
names of `skills.catalog`), check and new."""

from __future__ import annotations

from skills.catalog import BUILTIN
from skills.sdk import Skill
from skills.sdk.cli import check_skill as sdk_check
from skills.sdk.cli import load_skill as sdk_load
from skills.sdk.cli import main as sdk_main


def load_skill(spec: str) -> Skill:
    """Import the Skill a spec names (a built-in name, MODULE:ATTR or file.py:ATTR)."""
    return sdk_load(spec, BUILTIN)


def check_skill(spec: str) -> None:
    """Refuse a spec that cannot load (unknown built-in, missing file, no such attribute),
    without running the skill's code; raises SkillLoadError."""
    sdk_check(spec, BUILTIN)


def main(argv: list[str]) -> int:
    """`podium skill serve|health` (the SDK's); `podium skill check` (conformance) and
    `podium skill new` (a scaffold) are their own."""
    if argv[:1] == ["check"]:
        from skills.check import main as check_main

        return check_main(argv[1:])
    if argv[:1] == ["new"]:
        from skills.scaffold import main as new_main

        return new_main(argv[1:])
    return sdk_main(argv, BUILTIN, prog="podium skill")
