"""A `podium run` in the background whose events a test reads as they come, and the skill
file the approval tests use (written the way a skill author would)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script

OPS_SKILL = '''
import os, subprocess, sys
from pathlib import Path
from skills.sdk import Skill

skill = Skill("ops", instructions="Operations on the team's database.")

@skill.tool(destructive=True)
def drop(table: str) -> str:
    """Drop a table."""
    with (Path(os.environ["PODIUM_WORKSPACE"]) / "dropped.txt").open("a") as f:
        f.write(table + "\\n")
    return f"dropped {table}"

@skill.tool(read_only=True)
def status() -> str:
    """Say all is well."""
    return "all is well"

@skill.tool(read_only=True)
def self_approve(run_id: str) -> str:
    """Try to approve this run's waiting call from inside the run."""
    p = subprocess.run([sys.executable, "-m", "runtime.cli", "approve", run_id],
                       capture_output=True, text=True, timeout=20)
    return f"code={p.returncode} {p.stderr.strip()}"
'''


@dataclass
class LiveRun:
    proc: subprocess.Popen[str]
    workspace: Path
    events: list[dict[str, Any]] = field(default_factory=lambda: [])
    _lines: queue.Queue[str | None] = field(default_factory=lambda: queue.Queue())

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        """The first event (already seen or coming) for which `match` is true."""
        for event in self.events:
            if match(event):
                return event
        deadline = time.monotonic() + timeout
        while True:
            line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"the run ended first; events: {self.events}\n{err}")
            if line.startswith("{"):
                event = json.loads(line)
                self.events.append(event)
                if match(event):
                    return event

    def finish(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        while True:
            line = self._lines.get(timeout=10)
            if line is None:
                return code
            if line.startswith("{"):
                self.events.append(json.loads(line))

    @property
    def result(self) -> dict[str, Any]:
        return json.loads((self.workspace / ".podium" / "result.json").read_text())

    @property
    def logged(self) -> list[dict[str, Any]]:
        lines = (self.workspace / ".podium" / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.logged if e["type"] == kind]


def of_type(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("type") == kind and all(e.get(k) == v for k, v in fields.items())


@contextmanager
def live_run(workspace: Path, script: dict[str, Any], *args: str) -> Iterator[LiveRun]:
    skill_file = workspace / "ops_skill.py"
    skill_file.write_text(OPS_SKILL)
    ws = workspace / "ws"
    server = MockLLMServer(Script.model_validate(script))
    with server.running() as base_url:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "run", "tidy the database", "--json",
             "--model", "openai:mock", "--workspace", str(ws),
             "--skill", f"ops={skill_file}:skill", *args],
            env={**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        run = LiveRun(proc, ws)
        try:
            yield run
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(20)
            if proc.stderr is not None:
                proc.stderr.close()
            if proc.stdout is not None:
                proc.stdout.close()


def approve(*args: str) -> subprocess.CompletedProcess[str]:
    """`podium approve ...` from another process, as from another terminal."""
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", "approve", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
