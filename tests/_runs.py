"""Helpers for whole-run tests: `podium run` as a subprocess against the scripted LLM server,
and a flaky skill written with the SDK the way a skill author would."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script

# A skill written by "someone else" with the SDK, loaded from its file.
FLAKY_SKILL = '''
import asyncio, os
from contextlib import asynccontextmanager
from skills.sdk import Context, Skill

@asynccontextmanager
async def lifespan(skill):
    if os.environ.get("FLAKY_HANG"):
        await asyncio.sleep(3600)   # never becomes ready
    yield

# dynamic_tools: the agent re-describes it every turn, also after it died.
skill = Skill("flaky", instructions="Flaky tools.", lifespan=lifespan, dynamic_tools=True)

@skill.tool
async def die() -> str:
    """Crash the whole skill process mid-call."""
    os._exit(1)

@skill.tool
async def slow(seconds: float) -> str:
    """Sleep."""
    await asyncio.sleep(seconds)
    return "slept"

@skill.tool(read_only=True)
def env_names() -> str:
    """Which environment variables this skill can see."""
    return " ".join(sorted(os.environ))

@skill.tool(read_only=True)
def spec_task(ctx: Context) -> str:
    """The task of the run, as this skill reads it from the run spec."""
    return "task=" + ctx.run_spec["task"]
'''


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    workspace: Path
    requests: list[Any]

    @property
    def result(self) -> dict[str, Any]:
        return json.loads((self.workspace / ".podium" / "result.json").read_text())

    @property
    def events(self) -> list[dict[str, Any]]:
        lines = (self.workspace / ".podium" / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


def runner(workspace: Path) -> Callable[..., Run]:
    """`run(script, *args, env=None)`: `podium run ARGS` against a fresh scripted LLM server."""

    def run(
        script: dict[str, Any], *args: str, env: dict[str, str] | None = None, timeout: float = 45
    ) -> Run:
        server = MockLLMServer(Script.model_validate(script))
        with server.running() as base_url:
            proc = subprocess.run(
                [sys.executable, "-m", "runtime.cli", "run", "--model", "openai:mock",
                 "--workspace", str(workspace / "ws"), *args],
                env={**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test",
                     **(env or {})},
                capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
            return Run(proc.returncode, proc.stdout, proc.stderr, workspace / "ws", server.requests)

    return run


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def gone(pid: int) -> bool:
    """True when the process no longer runs: no such process, or a zombie waiting to be
    reaped. Any other failure to look is an error, not an answer."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # the state follows "(comm)"


def exits_within(pid: int, seconds: float) -> bool:
    """Wait (on a pidfd: an event, not polling) until the process exits; False on timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], seconds)
        return bool(readable) or gone(pid)
    finally:
        os.close(fd)
