"""The run's process contract, defined once for every backend: what the agent and each skill
get (the `podium` arguments, the `PODIUM_*` environment, the socket, the config file, the
environment passed by reference), given where the run's files are (`Placement`).

The local launcher runs these as processes (`local_argv`, `child_env`); the Pod renderer
turns them into containers (so the docker backend and the controller get the same). Every
skill gets:

    PODIUM_SKILL_NAME     its instance name
    PODIUM_SKILL_SOCKET   where it serves gRPC (`podium skill serve` reads it)
    PODIUM_WORKSPACE      the shared workspace
    PODIUM_RUN_ID         the run's id
    PODIUM_RUN_SPEC       run.json (read-only in a Pod; `skills.sdk.run_spec()` reads it)
    PODIUM_MEMORY_SCOPE   the run's memory scope
    PODIUM_SKILL_CONFIG   its config file, when it has one

and the agent gets PODIUM_WORKSPACE, PODIUM_RUN_ID, PODIUM_RUN_SPEC and, by name only, the
provider environment its model implies (`RunSpec.provider_env`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.layout import CONFIG_DIR, MEMORY_DIR, WORKSPACE, RunPaths
from runtime.spec import RunSpec, SkillSpec
from skills.catalog import needs

__all__ = [
    "AGENT",
    "BASE_ENV",
    "STOP_GRACE_S",
    "Placement",
    "Process",
    "agent_process",
    "check_local",
    "child_env",
    "config_key",
    "local_argv",
    "processes",
    "skill_process",
]

AGENT = "agent"
"""The agent's process (and container) name."""
STOP_GRACE_S = 10
"""How long a stopped process has between SIGTERM and SIGKILL, on every backend (the Pod's
terminationGracePeriodSeconds, `docker stop --time`, the local launcher)."""

# What every local child may see of our environment; everything else must be asked for.
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
    "NODE_EXTRA_CA_CERTS",
    "NPM_CONFIG_CACHE",
)


@dataclass(frozen=True)
class Placement:
    """Where a run's files are, as its processes see them."""

    workspace: str
    """The shared workspace."""
    run_spec: str
    """run.json: in a Pod the ConfigMap's file, read-only, outside the workspace."""
    config_dir: str | None = None
    """Where skill config files are mounted (a Pod), or None: where the spec names them."""
    memory_db: str | None = None
    """The memory database a memory skill uses (None: the skill's own default)."""

    @classmethod
    def pod(cls) -> Placement:
        """Inside a Pod (or the docker backend's containers)."""
        return cls(WORKSPACE, f"{CONFIG_DIR}/run.json", CONFIG_DIR, f"{MEMORY_DIR}/memory.db")

    @classmethod
    def local(cls, workspace: Path, memory_db: str | None = None) -> Placement:
        """Processes on this machine: run.json is the launcher's copy in the workspace."""
        workspace = workspace.absolute()
        memory_db = memory_db or os.environ.get("PODIUM_MEMORY_DB") or None
        return cls(str(workspace), str(RunPaths(workspace).spec), None, memory_db)

    def socket(self, skill: str) -> str:
        return f"{self.workspace}/.podium/sockets/{skill}.sock"

    def config(self, skill: SkillSpec) -> str | None:
        if skill.config is None:
            return None
        if self.config_dir is not None:
            return f"{self.config_dir}/{config_key(skill)}"
        return str(Path(skill.config).resolve())


@dataclass(frozen=True)
class Process:
    """One process of a run: the agent or a skill."""

    name: str
    """`agent`, or the skill's instance name."""
    args: tuple[str, ...]
    """Arguments of the `podium` command (a container's `args`; `command` is `podium`)."""
    env: dict[str, str]
    """Plain environment, by value."""
    secret_env: tuple[str, ...] = ()
    """Environment passed by reference (names only): from the launcher's environment
    locally, from the run's Secret in a cluster. Never in a spec or a log."""
    socket: str | None = None
    """The skill's gRPC socket."""
    config: str | None = None
    """The skill's config file."""
    mounts: tuple[str, ...] = ()
    """What the process needs mounted beyond the workspace and run.json: `memory`."""
    command: tuple[str, ...] = ()
    """Locally, a program of the skill's own instead of `podium ARGS` (the spec's `command`)."""
    own_entrypoint: bool = False
    """In a container, the image's own entrypoint runs: a sidecar with no Python `source`
    (no `podium` command, no `podium skill health` probe)."""


def config_key(skill: SkillSpec) -> str:
    """The skill's config file's key in the run's ConfigMap (and its name under CONFIG_DIR)."""
    assert skill.config is not None
    return f"skill-{skill.name}-{Path(skill.config).name}"


def skill_process(spec: RunSpec, skill: SkillSpec, where: Placement) -> Process:
    socket = where.socket(skill.name)
    config = where.config(skill)
    env: dict[str, str] = {}
    mounts: tuple[str, ...] = ()
    if needs(skill.source, "memory-volume"):
        mounts = ("memory",)
        if where.memory_db:
            env["PODIUM_MEMORY_DB"] = where.memory_db  # a default the skill's env may change
    env.update(skill.env)
    env.update(
        {
            "PODIUM_SKILL_NAME": skill.name,
            "PODIUM_SKILL_SOCKET": socket,
            "PODIUM_WORKSPACE": where.workspace,
            "PODIUM_RUN_ID": spec.run_id,
            "PODIUM_RUN_SPEC": where.run_spec,
            "PODIUM_MEMORY_SCOPE": spec.memory.scope,
        }
    )
    if config is not None:
        env["PODIUM_SKILL_CONFIG"] = config
    return Process(
        name=skill.name,
        args=() if skill.source is None else ("skill", "serve", skill.source),
        env=env,
        secret_env=tuple(skill.secret_env),
        socket=socket,
        config=config,
        mounts=mounts,
        command=tuple(skill.command or ()),
        own_entrypoint=skill.source is None,
    )


def agent_process(spec: RunSpec, where: Placement) -> Process:
    return Process(
        name=AGENT,
        args=("agent", "--workspace", where.workspace),
        env={
            "PODIUM_WORKSPACE": where.workspace,
            "PODIUM_RUN_ID": spec.run_id,
            "PODIUM_RUN_SPEC": where.run_spec,
        },
        secret_env=tuple(spec.provider_env()),
    )


def processes(spec: RunSpec, where: Placement) -> list[Process]:
    """Every process of the run: the skills in the spec's order, then the agent."""
    return [*(skill_process(spec, s, where) for s in spec.skills), agent_process(spec, where)]


def local_argv(process: Process, python: str) -> list[str]:
    """The command line of a local process: its own `command`, or `podium ARGS` run with this
    Python (`python -m runtime.cli`)."""
    if process.command:
        return list(process.command)
    if not process.args:
        raise ValueError(local_problem(process.name))
    return [python, "-m", "runtime.cli", *process.args]


def local_problem(skill: str) -> str:
    return (
        f"skill {skill!r} has only an image: the local backend needs a `command` (or a "
        "Python `source`); or run it with --backend docker"
    )


def check_local(spec: RunSpec) -> None:
    """ValueError when a skill cannot run as a local process."""
    for skill in spec.skills:
        if skill.source is None and not skill.command:
            raise ValueError(local_problem(skill.name))


def child_env(names: Sequence[str], extra: Mapping[str, str]) -> dict[str, str]:
    """A local child's whole environment: the base variables and the named ones from ours
    (values by reference), then `extra` (a process's plain env)."""
    env = {n: os.environ[n] for n in (*BASE_ENV, *names) if n in os.environ}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    # Children start in the workspace, which the model can write to: never import from it.
    env["PYTHONSAFEPATH"] = "1"
    return env
