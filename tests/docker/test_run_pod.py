"""`run_pod`: a rendered Pod, its ConfigMap and its Secrets run as containers, the way a
kubelet would: the docker backend is this, for the very objects the controller creates. The
agent and the skills read the run spec from the ConfigMap's mount, as in a cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.agent.events import RunResult
from runtime.keys import RunKeys
from runtime.kube import (
    RenderOptions,
    config_map_name,
    keys_secret_name,
    render_config_map,
    render_pod,
    secret_name,
)
from runtime.launchers.docker import run_pod
from runtime.layout import RunPaths
from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script
from runtime.spec import Policy, RunSpec, Sandbox, SkillSpec
from tests._runs import call

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

WRITE = {
    "steps": [
        {"tool_calls": [call("workspace_write", path="a.txt", content="x")]},
        {"content": "{{last}}"},
    ]
}


def spec_and_objects(
    spec: RunSpec, images: RenderOptions, base_url: str
) -> tuple[dict[str, Any], dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The Pod, its ConfigMap's data and its Secrets' data, as the controller would make them
    (the model's key and base URL by reference, from the run's Secret)."""
    keys = RunKeys.new(spec)
    secrets = {
        secret_name(spec): {"OPENAI_API_KEY": "scripted", "OPENAI_BASE_URL": base_url},
        keys_secret_name(spec): keys.secret_data(),
    }
    config_maps = {config_map_name(spec): render_config_map(spec)["data"]}
    return render_pod(spec, images), config_maps, secrets


def run_spec(**extra: Any) -> RunSpec:
    spec = RunSpec(
        task="write a file",
        model="openai:scripted",
        skills=[SkillSpec(name="workspace", source="workspace")],
        sandbox=Sandbox(network="host"),
        **extra,
    )
    spec.policy.resolve_approve(False)
    return spec


@pytest.mark.anyio
async def test_a_pod_runs_from_its_config_map_and_secrets_alone(
    images: RenderOptions, tmp_path: Path, no_leftovers: list[str]
) -> None:
    spec = run_spec()
    no_leftovers.append(spec.run_id)
    events: list[dict[str, Any]] = []
    with MockLLMServer(Script.model_validate(WRITE)).running() as base_url:
        pod, config_maps, secrets = spec_and_objects(spec, images, base_url)
        # No workspace is given: nothing but the ConfigMap holds the run spec.
        status = await run_pod(
            pod, config_maps, secrets, network="host", logs=tmp_path / "logs",
            on_event=events.append,
        )  # fmt: skip
    assert status.phase == "Succeeded", (status, events[-3:])
    assert status.exit_codes["agent"] == 0
    started = next(e for e in events if e["type"] == "run_started")
    assert (started["run_id"], started["task"]) == (spec.run_id, "write a file")
    summary = json.loads(status.termination_message)  # what the controller reads
    assert summary["status"] == "succeeded" and summary["tool_calls"] == 1
    assert "wrote" in summary["output"] or "a.txt" in summary["output"], summary
    assert [e["type"] for e in events][-1] == "run_finished"
    assert (tmp_path / "logs" / "workspace.log").exists()
    assert (tmp_path / "logs" / "agent.log").exists()


@pytest.mark.anyio
async def test_agent_and_skills_follow_the_config_map_not_the_workspace(
    images: RenderOptions, tmp_path: Path, no_leftovers: list[str]
) -> None:
    """A workspace that carries another run.json (another task, a policy denying every
    workspace tool) changes nothing: the agent and the skill read the one mounted from the
    ConfigMap (and run_pod never seeds a run.json into the Pod's volume)."""
    spec = run_spec()
    no_leftovers.append(spec.run_id)
    workspace = tmp_path / "ws"
    decoy = run_spec(run_id="decoy", policy=Policy(deny_tools=["workspace_*"]))
    decoy.task = "a task from a stale copy"
    decoy.save(RunPaths(workspace).create().spec)
    events: list[dict[str, Any]] = []
    with MockLLMServer(Script.model_validate(WRITE)).running() as base_url:
        pod, config_maps, secrets = spec_and_objects(spec, images, base_url)
        status = await run_pod(
            pod, config_maps, secrets, network="host", workspace=workspace,
            on_event=events.append,
        )  # fmt: skip
    assert status.phase == "Succeeded", (status, events[-3:])
    started = next(e for e in events if e["type"] == "run_started")
    assert (started["run_id"], started["task"]) == (spec.run_id, "write a file")
    # The skill enforced the ConfigMap's policy (the decoy's would have refused the write).
    result = next(e for e in events if e["type"] == "tool_result")
    assert not result["is_error"], result
    assert (workspace / "a.txt").read_text() == "x"
    # What came back: the agent's copy of the spec it ran, beside its result.
    paths = RunPaths(workspace)
    assert RunSpec.load(paths.spec).run_id == spec.run_id
    assert RunResult.load(paths.result).status == "succeeded"


@pytest.mark.anyio
async def test_a_missing_config_map_is_refused_before_anything_starts(
    images: RenderOptions, no_leftovers: list[str]
) -> None:
    spec = run_spec()
    no_leftovers.append(spec.run_id)
    status = await run_pod(render_pod(spec, images), {}, {})
    assert status.phase == "Failed" and status.reason == "DockerError"
    assert config_map_name(spec) in status.message
