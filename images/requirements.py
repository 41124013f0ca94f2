"""Print the pyproject.toml requirement lines for the named distributions, one a line.

Images install only what they need: `pip install --no-deps .` for Podium itself, plus the
requirements this prints for an explicit list of names kept in each Dockerfile. Version
ranges come from pyproject.toml, the one place they are written. A name pyproject does not
list (or that became an extra) fails the build, so a list cannot silently go stale.

    python3 images/requirements.py [--pyproject FILE] NAME[extra] ... > requirements.txt

`podium[EXTRA]` takes the requirements of an optional-dependency group instead
(`podium[litellm]`), and `build-system` the build backend's own (`setuptools>=69`), so an
image can install Podium with `--no-build-isolation` from a cached layer, offline.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def select(pyproject: dict[str, object], names: list[str]) -> list[str]:
    project = pyproject["project"]
    assert isinstance(project, dict)
    deps: list[str] = list(project.get("dependencies", []))  # pyright: ignore
    extras: dict[str, list[str]] = dict(project.get("optional-dependencies", {}))  # pyright: ignore
    build: list[str] = list(pyproject.get("build-system", {}).get("requires", []))  # pyright: ignore
    by_name: dict[str, str] = {}
    for line in deps:
        match = _NAME.match(line)
        if match:
            by_name[_canonical(match.group(1))] = line
    chosen: list[str] = []
    missing: list[str] = []
    for name in names:
        group = re.fullmatch(r"podium\[([a-z0-9-]+)\]", name)
        if name == "build-system":
            chosen.extend(build)
        elif group:
            if group.group(1) not in extras:
                missing.append(name)
            else:
                chosen.extend(extras[group.group(1)])
        elif _canonical(name) in by_name:
            chosen.append(by_name[_canonical(name)])
        else:
            missing.append(name)
    if missing:
        raise SystemExit(
            f"requirements.py: not in pyproject.toml's dependencies: {', '.join(missing)}"
        )
    return chosen


def main(argv: list[str]) -> int:
    path = Path("pyproject.toml")
    if argv[:1] == ["--pyproject"]:
        path, argv = Path(argv[1]), argv[2:]
    if not argv:
        raise SystemExit(__doc__)
    with path.open("rb") as f:
        print("\n".join(select(tomllib.load(f), argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
