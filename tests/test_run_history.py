"""Runs you can find again: a reused workspace keeps every run's records, the latest stays at
`.podium/result.json`, and `podium runs` / `podium show RUN` find them through the index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests._runs import runner

pytestmark = pytest.mark.e2e


@pytest.fixture
def podium_run(workspace: Path) -> Any:
    return runner(workspace)


def podium(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
    )


def test_runs_are_kept_listed_and_shown(podium_run: Any, workspace: Path) -> None:
    env = {"PODIUM_RUNS_INDEX": str(workspace / "index.jsonl")}
    first = podium_run({"steps": [{"content": "first \x1b[2J answer"}]}, "task one", env=env)
    first_id = first.result["run_id"]  # read now: the next run replaces the latest records
    second = podium_run({"steps": [{"content": "second answer"}]}, "task two", env=env)
    assert first.code == 0 and second.code == 0, first.stdout + second.stdout
    second_id = second.result["run_id"]
    assert first_id != second_id
    records = workspace / "ws" / ".podium"
    assert second.result["run_id"] == second_id  # the latest stays where it always was
    for run_id, answer in ((first_id, "first \x1b[2J answer"), (second_id, "second answer")):
        kept = records / "runs" / run_id
        assert json.loads((kept / "result.json").read_text())["output"] == answer
        assert (kept / "events.jsonl").read_text().count('"run_finished"') == 1
        assert json.loads((kept / "run.json").read_text())["run_id"] == run_id

    listed = podium("runs", "--json", env=env)
    assert [json.loads(line)["run_id"] for line in listed.stdout.splitlines()] == [
        second_id,
        first_id,
    ]
    table = podium("runs", env=env).stdout
    assert "task two" in table and "succeeded" in table and str(workspace / "ws") in table

    shown = json.loads(podium("show", first_id, "--json", env=env).stdout)
    assert shown["result"]["output"] == "first \x1b[2J answer"
    assert shown["events"][0]["type"] == "run_started"
    readable = podium("show", first_id[:8], env=env)
    assert readable.returncode == 0 and "first \ufffd[2J answer" in readable.stdout
    assert "\x1b" not in readable.stdout

    missing = podium("show", "run-nope", env=env)
    assert missing.returncode == 2 and missing.stderr.startswith("podium show: no run 'run-nope'")
