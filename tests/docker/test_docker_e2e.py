"""Whole runs through real containers: Podium's images, the Pod spec run by DockerLauncher,
a scripted OpenAI-compatible model on 127.0.0.1 (host networking keeps traffic on loopback),
every built-in skill whose code exists, once under runc and once under gVisor (runsc)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.agent.events import RunResult
from runtime.kube import RenderOptions
from runtime.launchers.docker import DockerLauncher
from runtime.layout import RunPaths
from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script
from runtime.spec import RunSpec, Sandbox, SkillSpec
from skills.serve import load_skill
from tests.docker.conftest import ROOT, docker, leftovers

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]

# A stdio MCP server written with the MCP SDK's own server class; the bridge starts it inside
# its container, from the shared workspace, with the image's Python.
MCP_SERVER = '''
from mcp.server.mcpserver import MCPServer

server = MCPServer("echo")


@server.tool()
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


server.run()
'''
MODEL_ENV = ["OPENAI_API_KEY", "OPENAI_BASE_URL"]


def available_skills() -> list[str]:
    """The built-in skills whose code is in this tree (their images are built with it)."""
    names: list[str] = []
    for name in ("workspace", "memory", "mcp"):
        try:
            load_skill(name)
        except Exception:
            continue
        names.append(name)
    return names


def calls_for(skills: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Two turns of tool calls touching every skill, and what the final answer must show."""
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    expect: list[str] = []
    if "workspace" in skills:
        first.append(
            {
                "name": "workspace_write",
                "arguments": {"path": "hello.txt", "content": "hi from a pod"},
            }
        )
        second.append({"name": "workspace_read", "arguments": {"path": "hello.txt"}})
        expect.append("hi from a pod")
    if "memory" in skills:
        first.append(
            {"name": "memory_store", "arguments": {"content": "the deploy window is Tuesday"}}
        )
        second.append({"name": "memory_search", "arguments": {"query": "deploy window"}})
        expect.append("Tuesday")
    if "mcp" in skills:
        second.append({"name": "echo_shout", "arguments": {"text": "quiet please"}})
        expect.append("QUIET PLEASE")
    return first, second, expect


def run_spec(workspace: Path, skills: list[str], runtime_class: str | None) -> RunSpec:
    specs: list[SkillSpec] = []
    for name in skills:
        if name == "mcp":
            (workspace / "echo_server.py").write_text(MCP_SERVER)
            config = workspace / "servers.json"
            config.write_text(
                json.dumps(
                    {
                        "mcpServers": {
                            "echo": {
                                "command": "/opt/podium/bin/python",
                                "args": ["/workspace/echo_server.py"],
                                "prefix": "echo",
                            }
                        }
                    }
                )
            )
            specs.append(SkillSpec(name="mcp", source="mcp", config=str(config)))
        else:
            specs.append(SkillSpec(name=name, source=name))
    return RunSpec(
        task="Use every tool once and report.",
        model="openai:scripted",
        skills=specs,
        sandbox=Sandbox(network="host", runtime_class=runtime_class),
        model_env=MODEL_ENV,
    )


async def collect(launcher: DockerLauncher) -> list[dict[str, Any]]:
    return [event async for event in launcher.launch()]


@pytest.mark.parametrize("runtime_class", [None, "gvisor"], ids=["runc", "gvisor"])
@pytest.mark.anyio
async def test_a_whole_run_through_containers(
    runtime_class: str | None,
    images: RenderOptions,
    workspace: Path,
    no_leftovers: list[str],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if runtime_class:
        request.getfixturevalue("gvisor")
    skills = available_skills()
    assert "workspace" in skills
    first, second, expect = calls_for(skills)
    steps: list[dict[str, Any]] = [{"tool_calls": t} for t in (first, second) if t]
    steps.append({"content": "Results:\n{{last}}"})
    server = MockLLMServer(Script.model_validate({"steps": steps}))
    spec = run_spec(workspace, skills, runtime_class)
    no_leftovers.append(spec.run_id)
    with server.running() as base_url:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "scripted")
        events = await collect(DockerLauncher(spec, workspace=workspace, options=images))
    result = RunResult.load(RunPaths(workspace).result)
    assert result.status == "succeeded", (result.error, events[-5:])
    for text in expect:
        assert text in result.output
    called = [e for e in events if e["type"] == "tool_result"]
    assert sorted(e["name"] for e in called) == sorted(c["name"] for c in first + second)
    assert not [e for e in called if e["is_error"]]
    assert events[-1]["type"] == "run_finished"
    # The run's files came back to the host, owned by us, not by the Pod's UID.
    assert (workspace / "hello.txt").read_text() == "hi from a pod"
    assert (workspace / "hello.txt").stat().st_uid == os.getuid()
    assert RunPaths(workspace).events.exists()
    # The model was reached over loopback only.
    assert all(r.headers.get("host", "").startswith("127.0.0.1") for r in server.requests)
    assert leftovers(spec.run_id) == []


@pytest.mark.anyio
async def test_containers_get_the_pods_security_and_only_their_own_secrets(
    images: RenderOptions,
    workspace: Path,
    no_leftovers: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = RunSpec(
        task="t",
        model="openai:scripted",
        skills=[
            SkillSpec(name="workspace", source="workspace", secret_env=["PODIUM_TEST_TOKEN"]),
            SkillSpec(name="files", source="workspace"),
        ],
        sandbox=Sandbox(network="host"),
        model_env=MODEL_ENV,
    )
    spec.skills[0].resources.memory = "200Mi"
    no_leftovers.append(spec.run_id)
    monkeypatch.setenv("PODIUM_TEST_TOKEN", "s3cret-value")
    server = MockLLMServer(Script.model_validate({"steps": [{"content": "ok"}]}))
    with server.running() as base_url:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "scripted")
        launcher = DockerLauncher(spec, workspace=workspace, keep=True, options=images)
        await collect(launcher)
    names = docker("ps", "-a", "--filter", f"label=podium.run={spec.run_id}", "--format",
                   "{{.Names}}").stdout.split()  # fmt: skip
    inspected = {n: json.loads(docker("inspect", n).stdout)[0] for n in names}
    assert len(inspected) == 4  # infra, two skills, agent
    for name, info in inspected.items():
        host = info["HostConfig"]
        assert info["Config"]["User"] == "10001:10001", name
        assert host["ReadonlyRootfs"] is True, name
        assert host["CapDrop"] == ["ALL"], name
        assert "no-new-privileges" in host["SecurityOpt"], name
        env = dict(e.split("=", 1) for e in info["Config"]["Env"])
        has_token = env.get("PODIUM_TEST_TOKEN") == "s3cret-value"
        assert has_token == name.endswith("-skill-workspace"), name
        assert ("OPENAI_API_KEY" in env) == name.endswith("-agent"), name
        assert "s3cret-value" not in " ".join(info["Args"]), name
    (skill,) = [i for n, i in inspected.items() if n.endswith("-skill-workspace")]
    assert skill["HostConfig"]["Memory"] == 200 * 2**20
    ids = [i["Id"] for i in inspected.values()]
    docker("rm", "-f", *ids)
    docker("volume", "rm", "-f", *docker("volume", "ls", "-q", "--filter",
           f"label=podium.run={spec.run_id}").stdout.split(), check=False)  # fmt: skip


@pytest.mark.anyio
async def test_a_skill_that_dies_is_reported_with_its_last_log_lines(
    images: RenderOptions, workspace: Path, no_leftovers: list[str]
) -> None:
    spec = RunSpec(
        task="t",
        model="openai:scripted",
        skills=[SkillSpec(name="broken", source="no_such_module:skill")],
        sandbox=Sandbox(network="none"),
    )
    no_leftovers.append(spec.run_id)
    events = await collect(DockerLauncher(spec, workspace=workspace, options=images))
    result = RunResult.load(RunPaths(workspace).result)
    assert result.status == "failed" and result.error is not None
    assert result.error.type == "SkillExited"
    assert "No module named 'no_such_module'" in result.error.message
    assert any(e["type"] == "skill_exited" and e["name"] == "broken" for e in events)


@pytest.mark.anyio
async def test_a_missing_image_says_how_to_build_it(
    images: RenderOptions, workspace: Path, no_leftovers: list[str]
) -> None:
    spec = RunSpec(task="t", skills=[SkillSpec(name="workspace", source="workspace")])
    no_leftovers.append(spec.run_id)
    options = RenderOptions(image_tag="0.0.0-missing")
    await collect(DockerLauncher(spec, workspace=workspace, options=options))
    result = RunResult.load(RunPaths(workspace).result)
    assert result.error is not None
    assert "scripts/build-images.sh agent" in result.error.message
    assert "scripts/build-images.sh workspace" in result.error.message


def test_ctrl_c_removes_every_container(
    images: RenderOptions, workspace: Path, no_leftovers: list[str]
) -> None:
    """`podium run --backend docker`, interrupted mid-run, stops and removes all it made."""
    script = workspace / "slow.yaml"
    script.write_text(json.dumps({"steps": [{"delay": 60, "content": "too late"}]}))
    spec = RunSpec(task="wait", model="openai:scripted", sandbox=Sandbox(network="host"),
                   skills=[SkillSpec(name="workspace", source="workspace")])  # fmt: skip
    no_leftovers.append(spec.run_id)
    spec_file = workspace / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    with MockLLMServer(script).running() as base_url:
        env = {**os.environ, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "scripted"}
        with subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "run", "--spec", str(spec_file), "--json",
             "--backend", "docker", "--workspace", str(workspace / "run"),
             "--image-prefix", images.image_prefix],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ) as proc:  # fmt: skip
            assert proc.stdout is not None and proc.stderr is not None
            try:
                for line in proc.stdout:  # wait until the agent is asking the model
                    if json.loads(line)["type"] == "model_request":
                        break
                proc.send_signal(signal.SIGINT)
                code = proc.wait(timeout=60)
            finally:
                proc.kill()
            errors = proc.stderr.read()
    assert code == 128 + signal.SIGINT, errors
    assert leftovers(spec.run_id) == []
    result = RunResult.load(RunPaths(workspace / "run").result)
    assert result.status == "cancelled"
