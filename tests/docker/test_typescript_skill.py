"""The TypeScript example skill as a container: built from its Dockerfile (on a public Node
image, or on the local Debian base with this machine's node), locked down like every
container of a run, and conforming to the launch contract under `podium skill check --image`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.kube import RenderOptions
from tests.docker.conftest import ROOT, docker

PODIUM = str(Path(sys.executable).with_name("podium"))

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def ts_image(docker_engine: str) -> str:
    """Only this image (scripts/build-images.sh typescript-skill): it needs no skill base."""
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh"), "typescript-skill"],
        cwd=ROOT, capture_output=True, text=True, timeout=800, check=False,
    )  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"building the TypeScript skill image failed:\n{build.stderr[-4000:]}")
    return RenderOptions(
        image_prefix=os.environ.get("IMAGE_PREFIX", RenderOptions.image_prefix)
    ).image("typescript-skill")


def test_the_image_is_non_root_and_carries_no_podium(ts_image: str) -> None:
    config = json.loads(docker("image", "inspect", ts_image).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/node", "/skill/server.js"]
    assert config["Labels"]["org.opencontainers.image.title"] == "podium-typescript-skill"
    out = docker("run", "--rm", "--entrypoint", "/usr/local/bin/node", ts_image, "-e",
                 "const fs=require('fs');console.log(fs.existsSync('/opt/podium'),"
                 "fs.readdirSync('/skill').sort().join(','))")  # fmt: skip
    assert out.stdout.strip() == "false node_modules,package.json,server.js,skill.proto,tools.js"


def test_the_image_passes_podium_skill_check(ts_image: str) -> None:
    out = subprocess.run(
        [PODIUM, "skill", "check", "--json", "--image", ts_image],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert out.returncode == 0, out.stdout
    assert report["skill"] == "typescript-example" and report["target"] == f"image {ts_image}"
    sigterm = next(f for f in report["findings"] if f["check"] == "SIGTERM")
    assert sigterm["status"] == "pass"  # node as PID 1 handles SIGTERM itself: no --init needed


@pytest.fixture(scope="module")
def agent_options(docker_engine: str) -> RenderOptions:
    """Only the agent image besides the skill's own (scripts/build-images.sh agent)."""
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh"), "agent"],
        cwd=ROOT, capture_output=True, text=True, timeout=800, check=False,
    )  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"building the agent image failed:\n{build.stderr[-4000:]}")
    prefix = os.environ.get("IMAGE_PREFIX", RenderOptions.image_prefix)
    return RenderOptions(image_prefix=prefix, memory_claim=None)


@pytest.mark.e2e
@pytest.mark.anyio
async def test_a_docker_run_with_the_typescript_skill_image(
    ts_image: str,
    agent_options: RenderOptions,
    workspace: Path,
    no_leftovers: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The image's own entrypoint as a sidecar of the Pod the docker backend runs: no podium
    inside it, no probe; the agent waits for it and calls its tools."""
    from runtime.agent.events import RunResult
    from runtime.launchers.docker import DockerLauncher
    from runtime.layout import RunPaths
    from runtime.mock_llm import MockLLMServer
    from runtime.mock_llm.script import Script
    from runtime.spec import RunSpec, Sandbox, SkillSpec

    (workspace / "notes.txt").write_text("one two three\nfour\n")
    script = {"steps": [
        {"tool_calls": [{"name": "file_stats", "arguments": {"path": "notes.txt"}},
                        {"name": "count_slowly", "arguments": {"to": 2, "interval_ms": 5}}]},
        {"content": "{{last}}"},
    ]}  # fmt: skip
    spec = RunSpec(
        task="stats of notes.txt",
        model="openai:scripted",
        skills=[SkillSpec(name="ts", image=ts_image)],
        sandbox=Sandbox(network="host"),
        model_env=["OPENAI_API_KEY", "OPENAI_BASE_URL"],
    )
    no_leftovers.append(spec.run_id)
    server = MockLLMServer(Script.model_validate(script))
    with server.running() as base_url:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "scripted")
        launcher = DockerLauncher(spec, workspace=workspace, options=agent_options)
        events = [event async for event in launcher.launch()]
    result = RunResult.load(RunPaths(workspace).result)
    assert result.status == "succeeded", (result.error, events[-5:])
    stats = next(e for e in events if e["type"] == "tool_result" and e["name"] == "file_stats")
    assert json.loads(stats["preview"]) == {
        "path": "notes.txt", "bytes": 19, "lines": 2, "words": 4, "characters": 19,
    }  # fmt: skip
    assert "counted to 2" in result.output
    assert [e["message"] for e in events if e["type"] == "tool_progress"] == [
        "1/2 counted 1", "2/2 counted 2",
    ]  # fmt: skip
