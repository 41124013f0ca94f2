"""Approvals with the docker backend: `podium run --backend docker` waits on a call whose
policy is `ask`; `podium approve` from another process, or the terminal prompt, decides; the
launcher signs the decision on the host and puts it into the Pod's workspace volume, where
the agent waits for it; the skill in its own container verifies it. Real CLI, real
containers, the scripted LLM over real HTTP (host networking keeps it on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.kube import RenderOptions
from runtime.launchers._launch import launch
from runtime.launchers.approvals import Decision
from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script
from runtime.spec import Policy, RunSpec, Sandbox, SkillSpec, ToolRule
from tests._runs import call
from tests.docker.conftest import BUILD_TIMEOUT_S, ROOT, leftovers
from tests.policy._live import LiveRun, approve, of_type
from tests.policy.test_prompt_pty import PROMPT, Terminal

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def run_images(docker_engine: str) -> RenderOptions:
    """Only the images these runs use (cached layers make a rebuild quick)."""
    names = ["agent", "skill-base", "workspace"]
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh"), *names],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
    )  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"scripts/build-images.sh failed:\n{build.stderr[-4000:]}")
    prefix = os.environ.get("IMAGE_PREFIX", RenderOptions.image_prefix)
    return RenderOptions(image_prefix=prefix, memory_claim=None)


def run_args(workspace: Path, images: RenderOptions, *args: str) -> tuple[list[str], str]:
    """`podium run --backend docker` of a spec where every workspace_write asks; its run id."""
    spec = RunSpec(
        task="write the note",
        model="openai:mock",
        sandbox=Sandbox(network="host"),
        skills=[SkillSpec(name="workspace", source="workspace")],
        policy=Policy(rules=[ToolRule(tool="workspace_write", action="ask")], approve="ask"),
    )
    spec_file = workspace / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    return [sys.executable, "-m", "runtime.cli", "run", "--spec", str(spec_file),
            "--backend", "docker", "--workspace", str(workspace / "run"),
            "--image-prefix", images.image_prefix, *args], spec.run_id  # fmt: skip


@contextmanager
def docker_run(
    workspace: Path, images: RenderOptions, script: dict[str, Any]
) -> Iterator[tuple[LiveRun, str]]:
    """`podium run --backend docker --json` in the background."""
    args, run_id = run_args(workspace, images, "--json")
    with MockLLMServer(Script.model_validate(script)).running() as base_url:
        proc = subprocess.Popen(
            args, cwd=ROOT,
            env={**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        run = LiveRun(proc, workspace / "run")
        try:
            yield run, run_id
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(60)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
    assert leftovers(run_id) == []


def test_a_waiting_call_runs_in_the_pod_once_approved_from_another_process(
    run_images: RenderOptions, workspace: Path
) -> None:
    script = {
        "steps": [
            {"tool_calls": [call("workspace_write", path="note.txt", content="approved\n")]},
            {"content": "{{last}}"},
        ]
    }
    with docker_run(workspace, run_images, script) as (run, run_id):
        asked = run.wait_for(of_type("approval_requested"), timeout=120)
        assert asked["name"] == "workspace_write"
        assert not (run.workspace / "note.txt").exists()
        listed = approve(run_id, "--list")
        assert listed.returncode == 0 and "workspace_write" in listed.stdout, listed.stderr
        decided = approve(run_id, asked["id"])
        assert decided.returncode == 0, decided.stderr
        result = run.wait_for(of_type("tool_result", id=asked["id"]), timeout=30)
        assert not result["is_error"], result
        assert run.finish(timeout=120) == 0, run.events
    assert run.result["status"] == "succeeded"
    assert (run.workspace / "note.txt").read_text() == "approved\n"  # written by the skill
    (decision,) = run.of("approval_decided")  # the Pod's events.jsonl, copied back
    assert decision["decision"] == "approved" and decision["by"]
    (requested,) = run.of("approval_requested")
    assert json.loads(requested["arguments"])["path"] == "note.txt"
    # the signed decision went into the Pod's workspace (and came back with it)
    record = json.loads((run.workspace / ".podium/approvals/1.json").read_text())
    assert record["decision"] == "approve" and record["token"]


def test_a_denied_call_is_a_tool_error_and_the_run_goes_on(
    run_images: RenderOptions, workspace: Path
) -> None:
    script = {
        "steps": [
            {"tool_calls": [call("workspace_write", path="note.txt", content="no\n")]},
            {"tool_calls": [call("workspace_list")]},
            {"content": "done"},
        ]
    }
    with docker_run(workspace, run_images, script) as (run, run_id):
        asked = run.wait_for(of_type("approval_requested"), timeout=120)
        decided = approve(run_id, asked["id"], "--deny", "--reason", "not on a Friday")
        assert decided.returncode == 0, decided.stderr
        assert run.finish(timeout=120) == 0, run.events
    assert run.result["status"] == "succeeded" and run.result["output"] == "done"
    assert not (run.workspace / "note.txt").exists()
    results = {e["name"]: e for e in run.of("tool_result")}
    denied = results["workspace_write"]
    assert denied["is_error"] and denied["error_kind"] == "denied"
    assert "not on a Friday" in denied["preview"]
    assert not results["workspace_list"]["is_error"]  # the run went on
    (decision,) = run.of("approval_decided")
    assert (decision["decision"], decision["reason"]) == ("denied", "not on a Friday")


def test_the_terminal_prompt_approves_all_calls_of_a_tool(
    run_images: RenderOptions, workspace: Path
) -> None:
    """At a (pseudo-)terminal: `a` approves this call and the next one of the same tool."""
    script = {
        "steps": [
            {"tool_calls": [call("workspace_write", path="one.txt", content="1\n")]},
            {"tool_calls": [call("workspace_write", path="two.txt", content="2\n")]},
            {"content": "done"},
        ]
    }
    args, run_id = run_args(workspace, run_images)
    with MockLLMServer(Script.model_validate(script)).running() as base_url:
        env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test"}
        term = Terminal(args, env)
        try:
            screen = term.expect(PROMPT, timeout=120)
            assert "approval needed: workspace_write" in screen
            term.type("a")
            term.expect("✔ succeeded", timeout=120)
            assert term.close() == 0
        finally:
            term.kill()
    assert term.screen.count("approval needed") == 1  # the second call was not asked about
    run = workspace / "run"
    assert (run / "one.txt").read_text() == "1\n" and (run / "two.txt").read_text() == "2\n"
    logged = [json.loads(line) for line in (run / ".podium/events.jsonl").read_text().splitlines()]
    decided = [e for e in logged if e["type"] == "approval_decided"]
    assert [e["decision"] for e in decided] == ["approved", "approved"]
    assert leftovers(run_id) == []


@dataclass
class Shown:
    """A `Display` that keeps the events it is shown."""

    events: list[dict[str, Any]]

    def show(self, event: dict[str, Any]) -> None:
        self.events.append(event)


@pytest.mark.anyio
async def test_a_decision_reaches_a_pod_without_a_network(
    run_images: RenderOptions, workspace: Path
) -> None:
    """`--network none`: the decision goes in through the Docker daemon, not the network
    (the model is a script played inside the agent, seeded with the workspace)."""
    ws = workspace / "run"
    ws.mkdir()
    (ws / "script.json").write_text(json.dumps({"steps": [
        {"tool_calls": [call("workspace_write", path="note.txt", content="offline\n")]},
        {"content": "{{last}}"},
    ]}))  # fmt: skip
    spec = RunSpec(
        task="write the note",
        model="scripted:/workspace/script.json",
        sandbox=Sandbox(network="none"),
        skills=[SkillSpec(name="workspace", source="workspace")],
        policy=Policy(rules=[ToolRule(tool="workspace_write", action="ask")]),
    )
    asked: list[dict[str, Any]] = []

    async def prompt(event: dict[str, Any], timeout: float) -> Decision:
        asked.append(event)
        return Decision(True, by="test prompt")

    shown: list[dict[str, Any]] = []
    display = Shown(shown)
    code = await launch(
        spec, ws, display, backend="docker", prompt=prompt, image_prefix=run_images.image_prefix
    )
    assert code == 0, shown[-3:]
    assert [e["name"] for e in asked] == ["workspace_write"]
    assert (ws / "note.txt").read_text() == "offline\n"
    decided = [e for e in shown if e["type"] == "approval_decided"]
    assert [(e["decision"], e["by"]) for e in decided] == [("approved", "test prompt")]
    assert leftovers(spec.run_id) == []
