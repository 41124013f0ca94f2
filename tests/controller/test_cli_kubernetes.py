"""`podium run --backend kubernetes`: the real CLI against the fake cluster with the
controller running; phases and the agent's events followed, the result from the status,
Ctrl-C cancels the run, --detach only creates it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.controller import _kubelet
from tests.controller.conftest import NS, Cluster, until

pytestmark = [pytest.mark.anyio, pytest.mark.controller]

USAGE = {"input_tokens": 10, "output_tokens": 3}
SUMMARY = {"status": "succeeded", "output": "All pods are Running.", "turns": 2,
           "tool_calls": 1, "duration_s": 1.5, "usage": USAGE}  # fmt: skip


async def _podium(cluster: Cluster, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "OPENAI_API_KEY": "sk-test"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.cli", "run", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def _runs(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.fake.list("podium.dev/v1alpha1", "AgentRun", NS)


async def _pod_of(cluster: Cluster) -> tuple[str, str]:
    run = (await until(lambda: _runs(cluster)))[0]
    name = run["metadata"]["name"]
    job = await until(lambda: cluster.job(name))
    return name, _kubelet.start_pod(cluster.fake, job)


async def test_follow_to_the_result(cluster: Cluster) -> None:
    proc = await _podium(cluster, "Check the pods", "--backend", "kubernetes", "-n", NS,
                         "--skill", "workspace", "--json")  # fmt: skip
    name, pod = await _pod_of(cluster)
    run = cluster.run(name)
    assert run is not None
    assert run["spec"]["model"]["apiKeySecretRef"] == {
        "name": f"podium-{name}-env",
        "key": "OPENAI_API_KEY",
    }
    secret = cluster.fake.get("v1", "Secret", f"podium-{name}-env", NS)
    assert secret is not None and secret["metadata"]["ownerReferences"][0]["name"] == name
    await until(lambda: cluster.phase(name) == "Running")
    live = {"type": "tool_call", "name": "workspace_list", "arguments": "{}", "id": "c1"}
    lie = {"type": "run_finished", "status": "succeeded", "output": "from the log"}
    cluster.fake.logs.write(
        NS, pod, "agent", (json.dumps(live) + "\n" + json.dumps(lie) + "\n").encode()
    )
    await asyncio.sleep(1.0)
    _kubelet.finish_agent(cluster.fake, NS, pod, json.dumps(SUMMARY))
    cluster.fake.logs.close(NS, pod, "agent")
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    events = [json.loads(line) for line in out.decode().splitlines()]
    phases = [e["phase"] for e in events if e["type"] == "cluster_phase"]
    assert phases[-1] == "Succeeded" and "Running" in phases
    assert live in events
    (finished,) = [e for e in events if e["type"] == "run_finished"]
    assert finished["output"] == "All pods are Running."  # the status's, not the log's
    assert finished["usage"] == {"input_tokens": 10, "output_tokens": 3}


async def test_ctrl_c_cancels(cluster: Cluster) -> None:
    proc = await _podium(cluster, "Wait", "--backend", "kubernetes", "-n", NS)
    name, _ = await _pod_of(cluster)
    await until(lambda: cluster.phase(name) == "Running")
    await asyncio.sleep(1.0)  # the CLI has seen Running
    proc.send_signal(signal.SIGINT)
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 130, err.decode()
    assert cluster.run(name)["spec"]["cancel"] is True  # type: ignore[index]
    assert cluster.phase(name) == "Cancelled"
    assert cluster.job(name) is None


async def test_detach_and_bad_skills(cluster: Cluster, tmp_path: Path) -> None:
    proc = await _podium(cluster, "Later", "--backend", "kubernetes", "-n", NS, "--detach")
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert out.decode().startswith("agentrun.podium.dev/run-") and NS in out.decode()
    mine = tmp_path / "mine.py"
    mine.write_text('from skills.sdk import Skill\n\nskill = Skill("mine")\n')
    proc = await _podium(cluster, "x", "--backend", "kubernetes", "-n", NS, "--detach",
                         "--skill", f"mine={mine}:skill")  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().count("\n") == 1 and "needs an image" in err.decode()
