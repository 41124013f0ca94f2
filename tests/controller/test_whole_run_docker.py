"""One whole AgentRun on the (fake) cluster with real containers: the real controller (its
config naming this checkout's images, `IMAGE_PREFIX`) renders the Job, ConfigMap,
ServiceAccount, Role and minted token; the test kubelet in docker mode runs the Job's Pod from
Podium's own images (the workspace and kubectl skills as native sidecars, then the agent),
host network, so every connection stays on 127.0.0.1. The scripted LLM asks for kubectl tool
calls, which the kubectl skill's container answers with its own least-privilege token against
the fake API: `get pods` works, `get secrets` is refused. The AgentRun ends `Succeeded` with the
pod list in its output."""

from __future__ import annotations

import re
from typing import Any

import pytest

from runtime.mock_llm import MockLLMServer, RecordedRequest
from runtime.mock_llm.script import Script
from tests._runs import call
from tests.controller._docker import build_images, docker_cluster, pod_logs  # noqa: F401
from tests.controller.conftest import NS, Cluster, example, until
from tests.kube import Kubelet

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.controller,
    pytest.mark.docker,
    pytest.mark.timeout(300),
]
IMAGES = ("agent", "workspace", "kubectl")
SCRIPT: dict[str, Any] = {
    "steps": [
        {"tool_calls": [call("kubectl_get", resource="secrets", output="name")]},
        {"tool_calls": [call("kubectl_get", resource="pods", output="name")]},
        {"content": "Pods here: {{last}}"},
    ]
}


@pytest.fixture(scope="module")
def image_prefix() -> str:
    """The images the Pod names, built from this checkout."""
    return build_images(*IMAGES)


def _contents(request: RecordedRequest) -> list[str]:
    return [str(m.get("content") or "") for m in request.body.get("messages", [])]


async def test_agentrun_to_succeeded_in_real_containers_with_the_skills_own_token(
    docker_cluster: Cluster,  # noqa: F811 (the shared fixture, imported above)
    image_prefix: str,
) -> None:
    cluster, fake = docker_cluster, docker_cluster.fake
    server = MockLLMServer(Script.model_validate(SCRIPT))
    with server.running() as base_url, Kubelet(fake, "docker") as kubelet:
        assert kubelet.mode == "docker"
        assert base_url.startswith("http://127.0.0.1:")
        doc = example("docker-run", ttlSecondsAfterFinished=0)
        doc["spec"]["model"] = {**doc["spec"]["model"], "name": "openai:mock", "baseURL": base_url}
        cluster.apply_run(doc)

        job = await until(lambda: cluster.job("docker-run"), timeout=30)
        spec = job["spec"]["template"]["spec"]
        images = {c["name"]: c["image"] for c in [*spec["initContainers"], *spec["containers"]]}
        assert all(i.startswith(image_prefix) for i in images.values()), images
        agent = spec["containers"][0]
        assert not any(m["name"].startswith("kube-") for m in agent["volumeMounts"])
        account = fake.get("v1", "ServiceAccount", "podium-docker-run-kubectl", NS)
        assert account is not None, "the kubectl skill gets its own ServiceAccount"
        assert fake.get("rbac.authorization.k8s.io/v1", "Role", "podium-docker-run-kubectl", NS)
        assert fake.get("v1", "ConfigMap", f"{job['metadata']['name']}-config", NS)
        pods = await until(
            lambda: fake.list("v1", "Pod", NS, labels=f"job-name={job['metadata']['name']}"),
            timeout=30,
        )
        pod = pods[0]["metadata"]["name"]

        await until(lambda: cluster.phase("docker-run") in ("Succeeded", "Failed"), timeout=240)
        status = cluster.status("docker-run")
        assert status["phase"] == "Succeeded", (
            status,
            cluster.events("docker-run"),
            pod_logs(cluster),
        )
        # the pod list the kubectl skill read with its own token, as the model's last answer
        assert status["output"].strip() == f"Pods here: pod/{pod}", status["output"]
        assert status["turns"] == 3 and status["toolCalls"] == 2
        assert len(server.requests) == 3
        # the same token was refused the Secrets (its Role has pods, pods/log, events only)
        secrets_result = _contents(server.requests[1])[-1]
        assert re.search(r"forbidden", secrets_result, re.IGNORECASE), secrets_result
        assert f"pod/{pod}" in _contents(server.requests[2])[-1]
        # ... and both calls reached the API as the kubectl skill's own ServiceAccount
        skill_user = f"system:serviceaccount:{NS}:podium-docker-run-kubectl"
        lists = fake.seen("GET", f"/api/v1/namespaces/{NS}/pods")
        assert skill_user in {r.user for r in lists}, {r.user for r in lists}
        assert {r.user for r in fake.seen("GET", f"/api/v1/namespaces/{NS}/secrets")} == {
            skill_user
        }

        # Credentials revoked at the end, the Job removed (ttlSecondsAfterFinished 0).
        await until(lambda: cluster.condition("docker-run", "CredentialsRevoked"), timeout=30)
        assert fake.get("v1", "ServiceAccount", "podium-docker-run-kubectl", NS) is None
        await until(lambda: cluster.job("docker-run") is None, timeout=30)
