"""Only the agent may call a skill (issue 13), with real containers: in a docker-backend run,
a process in another skill's container (the workspace skill's: same UID, same /workspace
volume, so the kubectl skill's socket is right there) connects to the kubectl skill's socket
and is refused without the kubectl skill's call token, with its own skill's token, and with a
forged one; the agent's own call in the same run is answered. The kubectl skill's process (and
so its environment, its token) is not even visible from that container."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runtime.kube import RenderOptions
from tests.docker.conftest import DOCKER, ROOT, docker

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]

# Run inside the workspace skill's container, with its Python, gRPC and Podium's stubs.
ATTACK = r"""
import json, os, pathlib, sys
import grpc
from protos import skill_pb2 as pb, skill_pb2_grpc

SOCKET = "unix:/workspace/.podium/sockets/kubectl.sock"
out = {}

def attempt(label, token):
    metadata = [] if token is None else [("podium-call-token", token)]
    with grpc.insecure_channel(SOCKET) as channel:
        stub = skill_pb2_grpc.SkillStub(channel)
        try:
            described = stub.Describe(pb.DescribeRequest(), metadata=metadata, timeout=10)
            out[label + ":describe"] = "OK " + described.name
        except grpc.RpcError as exc:
            out[label + ":describe"] = exc.code().name
        request = pb.InvokeRequest(call_id="rogue-" + label, tool="kubectl_get",
                                   arguments_json='{"resource": "secrets"}')
        try:
            events = list(stub.Invoke(request, metadata=metadata, timeout=10))
            out[label + ":invoke"] = "OK " + events[-1].result.text[:80]
        except grpc.RpcError as exc:
            out[label + ":invoke"] = exc.code().name

attempt("none", None)
attempt("own", os.environ.get("PODIUM_CALL_TOKEN"))
attempt("forged", "x" * 43)
attempt("given", os.environ.get("GIVEN_TOKEN") or None)
out["own_token_held"] = bool(os.environ.get("PODIUM_CALL_TOKEN"))
cmdlines = []
for proc in pathlib.Path("/proc").iterdir():
    if proc.name.isdigit():
        try:
            cmdlines.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
out["kubectl_visible"] = any("serve kubectl" in c for c in cmdlines)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def run_images(docker_engine: str) -> RenderOptions:
    """Only the images this run uses (scripts/build-images.sh; cached layers are quick)."""
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh"), "agent", "workspace", "kubectl"],
        cwd=ROOT, capture_output=True, text=True, timeout=800, check=False,
    )  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"building the images failed:\n{build.stderr[-4000:]}")
    prefix = os.environ.get("IMAGE_PREFIX", RenderOptions.image_prefix)
    return RenderOptions(image_prefix=prefix, memory_claim=None)


def _attack(container: str, given: str | None = None) -> dict[str, Any]:
    env = ["--env", f"GIVEN_TOKEN={given}"] if given else []
    out = subprocess.run(
        [DOCKER, "exec", "--interactive", *env, container, "python3", "-"],
        input=ATTACK, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.anyio
async def test_another_skills_container_cannot_call_the_kubectl_skill(
    run_images: RenderOptions,
    workspace: Path,
    no_leftovers: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runtime.agent.events import RunResult
    from runtime.keys import RunKeys
    from runtime.launchers.docker import DockerLauncher
    from runtime.layout import RunPaths
    from runtime.mock_llm import MockLLMServer
    from runtime.mock_llm.script import Script
    from runtime.spec import RunSpec, Sandbox, SkillSpec

    script = {"steps": [
        {"tool_calls": [{"name": "kubectl_get", "arguments": {"resource": "pods"}}]},
        {"content": "done: {{last}}"},
    ]}  # fmt: skip
    spec = RunSpec(
        task="list the pods",
        model="openai:scripted",
        skills=[SkillSpec(name="kubectl", source="kubectl"),
                SkillSpec(name="workspace", source="workspace")],
        sandbox=Sandbox(network="host"),
        model_env=["OPENAI_API_KEY", "OPENAI_BASE_URL"],
    )  # fmt: skip
    no_leftovers.append(spec.run_id)
    keys = RunKeys.new(spec)
    containers: dict[str, str] = {}
    seen: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    server = MockLLMServer(Script.model_validate(script))
    with server.running() as base_url:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "scripted")
        launcher = DockerLauncher(spec, workspace=workspace, options=run_images, keys=keys)
        async for event in launcher.launch():
            events.append(event)
            if event["type"] == "skill_started":
                containers[event["name"]] = event["container"]
            if event["type"] == "tool_result" and not seen:
                # The agent's call was answered; the skills are still up (the launcher stops
                # them only after this generator goes on): attack from the workspace skill.
                seen = _attack(containers["workspace"])
                given = _attack(containers["workspace"], keys.call_tokens["kubectl"])
                seen |= {k: v for k, v in given.items() if k.startswith("given:")}
    result = RunResult.load(RunPaths(workspace).result)
    assert result.status == "succeeded", (result.error, events[-5:])
    agent_call = next(e for e in events if e["type"] == "tool_result")
    assert agent_call["name"] == "kubectl_get"
    assert (
        "call token" not in agent_call["preview"] and "UNAUTHENTICATED" not in agent_call["preview"]
    )  # the agent's own call ran (kubectl found no API server here)
    assert seen["own_token_held"], "the workspace skill holds a token of its own"
    for who in ("none", "own", "forged"):
        assert seen[f"{who}:describe"] == "UNAUTHENTICATED", seen
        assert seen[f"{who}:invoke"] == "UNAUTHENTICATED", seen
    # The control: the same script with the kubectl skill's token is answered, so the
    # refusals above are the token check, not the socket or the sandbox.
    assert seen["given:describe"] == "OK kubectl", seen
    assert seen["given:invoke"].startswith("OK "), seen
    assert seen["kubectl_visible"] is False, "another container sees the kubectl skill's process"
    log = (RunPaths(workspace).podium / "logs" / "kubectl.log").read_text()
    assert log.count("refused a call without this skill's call token") >= 6, log[-2000:]
    assert docker("ps", "-q", "--filter", f"label=podium.run={spec.run_id}").stdout == ""
