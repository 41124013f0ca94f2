"""Helpers for the skill-check tests: the TypeScript example's node_modules (installed by
scripts/install-node-deps.sh, which `scripts/dev test` runs) and `podium skill check` as a
subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TS_SKILL = ROOT / "examples" / "typescript-skill"
BAD_SKILL = Path(__file__).with_name("bad_skill.py")
PODIUM = str(Path(sys.executable).with_name("podium"))


def need_node() -> None:
    """Skip (locally) or fail (in CI) when node or the example's packages are missing."""
    missing = ""
    if shutil.which("node") is None:
        missing = "no node on PATH"
    elif not (TS_SKILL / "node_modules" / "@grpc" / "grpc-js").is_dir():
        missing = f"{TS_SKILL}/node_modules is missing: run scripts/install-node-deps.sh"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


@dataclass
class Checked:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def status(self, check: str) -> str:
        """The status of the first finding whose name contains `check`."""
        for f in self.report["findings"]:
            if check in f["check"]:
                return f["status"]
        raise AssertionError(f"no finding {check!r} in {self.stdout}")

    def failed(self) -> list[str]:
        return [f["check"] for f in self.report["findings"] if f["status"] == "fail"]


def check(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Checked:
    out = subprocess.run(
        [PODIUM, "skill", "check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        check=False,
    )
    return Checked(out.returncode, out.stdout, out.stderr)
