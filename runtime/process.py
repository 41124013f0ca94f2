"""What each process of a run gets: its environment (and, with the run spec, its argv), defined
once for every backend."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from runtime.spec import RunSpec, SkillSpec

# What every child may see of our environment; everything else must be asked for.
BASE_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "PODIUM_MEMORY_DB",
    "NODE_EXTRA_CA_CERTS",
    "NPM_CONFIG_CACHE",
)


def child_env(names: tuple[str, ...] | list[str], extra: Mapping[str, str]) -> dict[str, str]:
    env = {n: os.environ[n] for n in (*BASE_ENV, *names) if n in os.environ}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    # Children start in the workspace, which the model can write to: never import from it.
    env["PYTHONSAFEPATH"] = "1"
    return env


def skill_env(spec: RunSpec, skill: SkillSpec, workspace: Path) -> dict[str, str]:
    """The environment one skill gets: the run's identity, its own settings and secrets."""
    extra = {
        "PODIUM_WORKSPACE": str(workspace),
        "PODIUM_RUN_ID": spec.run_id,
        "PODIUM_SKILL_NAME": skill.name,
        "PODIUM_MEMORY_SCOPE": spec.memory.scope,
        **skill.env,
    }
    if skill.config:
        extra["PODIUM_SKILL_CONFIG"] = str(Path(skill.config).resolve())
    return child_env(skill.secret_env, extra)
