"""One whole run on the (fake) cluster: `kubectl apply -f run.yaml` of an AgentRun, the real
controller renders its Job, the test kubelet runs the Job's Pod for real (the skills as native
sidecars, the agent as `podium agent`, as local processes) against the scripted LLM server, and
the AgentRun ends `Succeeded` with the agent's output on its status; the run's credentials (the
skills' ServiceAccounts) and, with ttlSecondsAfterFinished 0, its Job are gone afterwards.

The kubectl skill lists the pods with its own minted token: its kubeconfig names the token and
CA relative to itself, so it works from the host folder the local kubelet mounts it from.
(tests/controller/test_whole_run_docker.py is the same run in real containers.)"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script
from tests._runs import call
from tests.controller.conftest import NS, Cluster, example, until
from tests.kube import Kubelet

pytestmark = [pytest.mark.anyio, pytest.mark.controller, pytest.mark.timeout(120)]
KUBECTL = str(Path(sys.executable).parent / "kubectl")
SCRIPT: dict[str, Any] = {
    "steps": [
        {"tool_calls": [call("workspace_list")]},
        {"tool_calls": [call("kubectl_get", resource="pods", output="name")]},
        {"content": "No pods are failing. {{last}}"},
    ]
}


def _print_logs(cluster: Cluster) -> None:
    for pod in cluster.fake.list("v1", "Pod", NS):
        spec = pod["spec"]
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            text = cluster.fake.logs.text(NS, pod["metadata"]["name"], c["name"])
            print(f"--- {c['name']}\n{text[-2000:]}")


async def _kubectl(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_kubectl_apply_to_succeeded_with_the_agents_output(
    cluster: Cluster, tmp_path: Path
) -> None:
    fake = cluster.fake
    server = MockLLMServer(Script.model_validate(SCRIPT))
    with server.running() as base_url, Kubelet(fake, "local") as kubelet:
        assert kubelet.mode == "local"
        doc = example("whole-run", ttlSecondsAfterFinished=0)
        doc["spec"]["model"] = {**doc["spec"]["model"], "name": "openai:mock", "baseURL": base_url}
        run_yaml = tmp_path / "run.yaml"
        run_yaml.write_text(yaml.safe_dump(doc))
        code, _, err = await _kubectl(fake.env(namespace=NS), "apply", "-f", str(run_yaml))
        assert code == 0, err

        job = await until(lambda: cluster.job("whole-run"), timeout=20)
        accounts = [
            a["metadata"]["name"]
            for a in fake.list("v1", "ServiceAccount", NS)
            if a["metadata"]["name"].startswith("podium-whole-run")
        ]
        assert accounts, "the kubectl skill gets its own ServiceAccount"
        selector = f"job-name={job['metadata']['name']}"
        pods = await until(lambda: fake.list("v1", "Pod", NS, labels=selector), timeout=20)
        await until(lambda: cluster.phase("whole-run") in ("Succeeded", "Failed"), timeout=90)
        status = cluster.status("whole-run")
        if status["phase"] != "Succeeded":
            _print_logs(cluster)
        assert status["phase"] == "Succeeded", (status, cluster.events("whole-run"))
        # the model's last answer, with the kubectl skill's real tool result in it
        pod = pods[0]["metadata"]["name"]
        assert status["output"].strip() == f"No pods are failing. pod/{pod}"
        assert "(no files)" in str(server.requests[1].body["messages"][-1]["content"])
        assert status["turns"] == 3 and status["toolCalls"] == 2
        assert len(server.requests) == 3

        # What the controller promises once a run ends: its credentials revoked at once,
        # the Job removed after ttlSecondsAfterFinished (0 here).
        await until(lambda: cluster.condition("whole-run", "CredentialsRevoked"), timeout=20)
        for name in accounts:
            assert fake.get("v1", "ServiceAccount", name, NS) is None
        await until(lambda: cluster.job("whole-run") is None, timeout=20)
        assert fake.get("batch/v1", "Job", job["metadata"]["name"], NS) is None
