"""Where things are: the run's files inside the workspace, and the fixed paths and user of
every container (the same names locally, under Docker and in a cluster)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

UID = 10001
"""The numeric user every Podium image runs as (the images create it)."""
GID = 10001
WORKSPACE = "/workspace"
"""The shared volume's mount path in every container."""
CONFIG_DIR = "/etc/podium"
"""Where the run's ConfigMap (run.json, skill config files) is mounted, read-only."""
MEMORY_DIR = "/var/lib/podium/memory"


@dataclass(frozen=True)
class RunPaths:
    """Where a run keeps its records inside the workspace."""

    workspace: Path

    @property
    def podium(self) -> Path:
        return self.workspace / ".podium"

    @property
    def spec(self) -> Path:
        return self.podium / "run.json"

    @property
    def result(self) -> Path:
        return self.podium / "result.json"

    @property
    def events(self) -> Path:
        return self.podium / "events.jsonl"

    @property
    def sockets(self) -> Path:
        return self.podium / "sockets"

    @property
    def outputs(self) -> Path:
        return self.podium / "outputs"

    @property
    def approvals(self) -> Path:
        """Decisions on calls that need a person's approval (`NUMBER.json`)."""
        return self.podium / "approvals"

    def socket(self, skill: str) -> Path:
        return self.sockets / f"{skill}.sock"

    def create(self) -> RunPaths:
        for folder in (self.sockets, self.outputs):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
