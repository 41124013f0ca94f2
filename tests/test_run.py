"""Whole runs across processes: `podium run` spawns real skill processes and the agent
process; the scripted OpenAI-compatible server plays the model over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script
from tests._runs import call, gone

pytestmark = pytest.mark.e2e


def test_a_run_succeeds_and_leaves_its_records(podium: Any, flaky: Path) -> None:
    run = podium(
        {
            "steps": [
                {
                    "tool_calls": [
                        call("workspace_write", path="a.txt", content="alpha"),
                        call("env_names"),
                        call("spec_task"),
                    ]
                },
                {"content": "done: {{last}}"},
            ]
        },
        "write a file",
        "--skill",
        "workspace",
        "--skill",
        f"{flaky}:skill",
    )
    assert run.code == 0, run.stdout + run.stderr
    result = run.result
    assert result["status"] == "succeeded" and result["tool_calls"] == 3
    assert result["turns"] == 2 and result["usage"]["input_tokens"] > 0
    assert result["error"] is None and result["duration_s"] > 0
    assert (run.workspace / "a.txt").read_text() == "alpha"
    types = [e["type"] for e in run.events]
    assert types[:2] == ["run_started", "skills_ready"] and types[-1] == "run_finished"
    assert "▸ workspace_write" in run.stdout and "Final answer:" in run.stdout
    # The model's key stays with the agent: the skill process never sees it.
    env_result = next(
        e for e in run.events if e["type"] == "tool_result" and e["name"] == "env_names"
    )
    assert "OPENAI_API_KEY" not in env_result["preview"]
    assert "PODIUM_WORKSPACE" in env_result["preview"]
    assert "PODIUM_SKILL_SOCKET" in env_result["preview"]
    # ...and it reads the run spec the launcher wrote (PODIUM_RUN_SPEC), as in a Pod.
    task = next(e for e in run.events if e["type"] == "tool_result" and e["name"] == "spec_task")
    assert task["preview"] == "task=write a file"
    # The model was offered both skills' tools through the real OpenAI adapter.
    tools = {t["function"]["name"] for t in run.requests[0].body["tools"]}
    assert {"workspace_read", "die", "slow"} <= tools


def test_json_output_is_one_event_per_line(podium: Any) -> None:
    run = podium({"steps": [{"content": "hi"}]}, "say hi", "--skill", "workspace", "--json")
    assert run.code == 0
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert events[-1]["type"] == "run_finished" and events[-1]["output"] == "hi"
    pids = [e["pid"] for e in events if e["type"] == "skill_started"]
    assert pids and all(gone(p) for p in pids)


def test_llm_errors_are_retried_honouring_retry_after(podium: Any) -> None:
    run = podium(
        {
            "steps": [
                {"error": {"status": 500, "message": "boom"}},
                {"error": {"status": 429, "retry_after": 1}},
                {"content": "made it"},
            ]
        },
        "try",
        "--skill",
        "workspace",
    )
    assert run.code == 0, run.stdout + run.stderr
    assert run.result["output"] == "made it"
    retries = [e for e in run.events if e["type"] == "model_retry"]
    assert len(retries) == 2 and "429" in retries[1]["reason"]
    assert run.requests[2].time - run.requests[1].time >= 0.95  # waited for Retry-After


def test_a_bad_request_fails_the_run_clearly(podium: Any) -> None:
    run = podium(
        {"steps": [{"error": {"status": 400, "message": "model not found"}}]},
        "try",
        "--skill",
        "workspace",
    )
    assert run.code == 1
    assert run.result["status"] == "failed"
    assert "model not found" in run.result["error"]["message"]
    assert "sk-test" not in run.stdout + json.dumps(run.events)  # the key never leaks
    assert len(run.requests) == 1  # a 400 is not retried


def test_a_skill_that_dies_mid_call_is_an_error_the_model_sees(podium: Any, flaky: Path) -> None:
    run = podium(
        {
            "steps": [
                {"tool_calls": [call("die")]},
                {"content": "the flaky skill crashed: {{last}}"},
            ]
        },
        "use flaky",
        "--skill",
        f"flaky={flaky}:skill",
    )
    assert run.code == 0, run.stdout + run.stderr
    assert "skill 'flaky' stopped answering" in run.result["output"]
    assert "✗ skill flaky exited with code 1" in run.stdout  # the launcher says so too


def test_a_skill_that_never_gets_ready_is_named(podium: Any, flaky: Path, workspace: Path) -> None:
    spec = workspace / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "task": "x",
                "limits": {"readiness_timeout_s": 1.5},
                "skills": [
                    {"name": "flaky", "source": f"{flaky}:skill", "env": {"FLAKY_HANG": "1"}}
                ],
            }
        )
    )
    run = podium(
        {"steps": [{"content": "never asked"}]}, "--spec", str(spec), "--skill", "workspace"
    )
    assert run.code == 1
    error = run.result["error"]
    assert error["type"] == "SkillNotReadyError" and "flaky" in error["message"]
    assert "workspace" not in error["message"].split(":")[1]  # only the laggard is named
    assert run.requests == []


def test_a_skill_that_cannot_start_fails_fast_with_its_log(podium: Any, workspace: Path) -> None:
    broken = workspace.parent / f"{workspace.name}-broken.py"
    # It defines `skill` (so the pre-flight check passes) but fails when imported.
    broken.write_text("raise ImportError('missing dependency: frobnicate')\nskill = None\n")
    try:
        started = time.monotonic()
        run = podium({"steps": [{"content": "never"}]}, "x", "--skill", f"{broken}:skill")
        assert time.monotonic() - started < 20  # not the 30 s readiness timeout
    finally:
        broken.unlink()
    assert run.code == 1
    assert run.result["error"]["type"] == "SkillExited"
    message = run.result["error"]["message"]
    assert "ImportError: missing dependency: frobnicate" in message
    assert "\n" not in message and "broken.log)" in message  # one line, and where the log is
    assert "frobnicate" in run.stdout
    # The log's tail is shown once (with the exit), not again inside the error.
    assert run.stdout.count("raise ImportError('missing dependency: frobnicate')") == 1


def test_deadline_during_a_slow_tool(podium: Any, flaky: Path) -> None:
    run = podium(
        {"steps": [{"tool_calls": [call("slow", seconds=30)]}]},
        "wait",
        "--skill",
        f"{flaky}:skill",
        "--timeout",
        "1.5",
    )
    assert run.code == 1
    assert run.result["status"] == "timed_out"


def test_unknown_skill_is_refused_before_anything_starts(podium: Any) -> None:
    run = podium({"steps": []}, "x", "--skill", "nosuchskill")
    assert run.code == 2 and "nosuchskill" in run.stderr
    assert run.requests == []


def test_sigterm_cancels_and_leaves_no_process_behind(workspace: Path, flaky: Path) -> None:
    script = {"steps": [{"tool_calls": [call("slow", seconds=60)]}]}
    server = MockLLMServer(Script.model_validate(script))
    ws = workspace / "ws"
    with server.running() as base_url:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runtime.cli",
                "run",
                "wait",
                "--model",
                "openai:mock",
                "--workspace",
                str(ws),
                "--skill",
                f"{flaky}:skill",
                "--skill",
                "workspace",
                "--json",
            ],
            env={**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "x"},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        pids = []
        for line in proc.stdout:  # wait on observable state: the slow call has started
            event = json.loads(line)
            if event["type"] == "skill_started":
                pids.append(event["pid"])
            if event["type"] == "tool_call":
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        code = proc.wait(timeout=30)
        proc.stdout.close()
    assert code == 128 + signal.SIGTERM
    assert '"run_finished"' in rest
    result = json.loads((ws / ".podium" / "result.json").read_text())
    assert result["status"] == "cancelled" and result["tool_calls"] == 1
    for pid in pids:
        assert gone(pid), f"skill {pid} still alive"


def test_agent_takes_its_spec_from_the_pods_config_map(workspace: Path) -> None:
    """In a Pod the spec is mounted read-only outside the workspace (PODIUM_RUN_SPEC)."""
    from runtime.spec import RunSpec

    mounted = workspace / "etc" / "run.json"
    RunSpec(task="nothing to do", model="nosuch:model").save(mounted)
    ws = workspace / "ws"
    proc = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "agent", "--workspace", str(ws)],
        env={**os.environ, "PODIUM_RUN_SPEC": str(mounted)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert (ws / ".podium" / "run.json").exists()
    result = json.loads((ws / ".podium" / "result.json").read_text())
    assert (
        result["status"] == "failed"
        and "unknown model 'nosuch:model'" in result["error"]["message"]
    )


def test_long_event_lines_and_a_second_run_in_the_same_workspace(podium: Any) -> None:
    big = "x" * 200_000  # one tool_call event far over asyncio's default 64 KiB line limit
    # A file the model plants in the workspace is never imported by the next run's processes.
    run = podium(
        {
            "steps": [
                {
                    "tool_calls": [
                        call("workspace_write", path="big.txt", content=big),
                        call(
                            "workspace_write",
                            path="watchfiles.py",
                            content="raise SystemExit('planted module ran')",
                        ),
                    ]
                },
                {"content": "ok"},
            ]
        },
        "write",
        "--skill",
        "workspace",
    )
    assert run.code == 0, run.stdout + run.stderr
    assert (run.workspace / "big.txt").stat().st_size == len(big)
    again = podium({"steps": [{"content": "second"}]}, "again", "--skill", "workspace")
    assert again.code == 0, again.stdout + again.stderr
    assert again.result["output"] == "second"
    assert [e["type"] for e in again.events].count("run_started") == 1  # a fresh event log
