"""Shared fixtures. Async tests use anyio's plugin on asyncio: `@pytest.mark.anyio`."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Fail closed: no test may reach a real, paid model by accident.
for _key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "PODIUM_MODEL"):
    os.environ.pop(_key, None)
# Runs made by tests go to an index of their own, never the user's (runtime.cli.history).
os.environ["PODIUM_RUNS_INDEX"] = os.path.join(  # noqa: PTH118
    tempfile.gettempdir(), f"podium-test-runs-{os.getpid()}.jsonl"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def workspace() -> Iterator[Path]:
    """A short workspace path: Unix socket paths are limited to 107 bytes, and pytest's
    tmp_path can be longer than that once `.podium/sockets/NAME.sock` is added."""
    path = Path(tempfile.mkdtemp(prefix="pw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def flaky(workspace: Path) -> Iterator[Path]:
    """A skill file written with the SDK (see tests/_runs.py), next to the workspace."""
    from tests._runs import FLAKY_SKILL

    path = workspace.parent / f"{workspace.name}-flaky.py"
    path.write_text(FLAKY_SKILL)
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def podium(workspace: Path) -> Any:
    """`podium(script, *args, env=None) -> Run`: a whole `podium run` against a scripted LLM."""
    from tests._runs import runner

    return runner(workspace)
