"""The built-in skills, in one table: what each is called, where its code is, the image it
ships in and what it needs from the run. The CLI (`--skill NAME`), `podium skill serve NAME`,
the Pod renderer (images, volumes) and `scripts/build-images.sh` all read this table.

Standard library only at import time: the Pod renderer (and the build script's plain
`python3`) import it without the SDK, gRPC or any skill's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Need = Literal["config", "memory-volume", "cluster"]
"""`config`: a config file (`SkillSpec.config`, e.g. the MCP servers file); `memory-volume`:
a persistent volume for its database; `cluster`: cluster credentials (its own
ServiceAccount and token in a cluster)."""

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Builtin:
    name: str
    """The name a run spec uses (`source: workspace`), and the default instance name."""
    target: str
    """`MODULE:ATTR` of the `skills.sdk.Skill` that `podium skill serve NAME` serves."""
    image: str
    """The image it ships in: `images/IMAGE/Dockerfile`, tagged `PREFIX + IMAGE:VERSION`."""
    summary: str
    needs: tuple[Need, ...] = ()

    @property
    def module_file(self) -> Path:
        """Where the target's module lives in this tree (a package's `__init__.py`)."""
        module = self.target.split(":", 1)[0].replace(".", "/")
        package = ROOT / module / "__init__.py"
        return package if package.exists() else ROOT / f"{module}.py"


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin("workspace", "skills.workspace:skill", "workspace", "files in /workspace"),
        Builtin(
            "memory",
            "skills.memory:skill",
            "memory",
            "long-term memory (SQLite, full-text search)",
            needs=("memory-volume",),
        ),
        Builtin("mcp", "mcp_bridge:skill", "mcp-bridge", "MCP servers' tools", needs=("config",)),
        Builtin(
            "kubectl", "skills.kubectl:skill", "kubectl", "inspect and apply", needs=("cluster",)
        ),
        Builtin("helm", "skills.helm:skill", "helm", "Helm releases", needs=("cluster",)),
    )
}
BUILTIN: dict[str, str] = {name: b.target for name, b in BUILTINS.items()}
"""Built-in name -> `MODULE:ATTR` (what the SDK's loader takes)."""


def needs(source: str | None, need: Need) -> bool:
    """Whether the skill a spec's `source` names is a built-in with this need."""
    builtin = BUILTINS.get(source) if source is not None else None
    return builtin is not None and need in builtin.needs


def default_name(spec: str) -> str:
    """The instance name a spec gets when none is given: `mcp`, `kubectl`, `my-skill`..."""
    if spec in BUILTINS:
        return spec
    attr_owner = spec.rsplit(":", 1)[0]
    stem = Path(attr_owner).stem if attr_owner.endswith(".py") else attr_owner.rsplit(".", 1)[-1]
    return stem.lower().replace("_", "-")


def images() -> list[str]:
    """The built-in skills' images whose code is in this tree (for scripts/build-images.sh)."""
    return [b.image for b in BUILTINS.values() if b.module_file.exists()]


if __name__ == "__main__":  # `python3 skills/catalog.py images`: the build script's list
    import sys

    if sys.argv[1:] != ["images"]:
        sys.exit("usage: python3 skills/catalog.py images")
    print(" ".join(images()))
