"""An image-only skill end to end on the (fake) cluster: an AgentRun naming just an `image`
(the TypeScript example skill: node and grpc-js, no Podium inside) passes the CRD's schema and
CEL rules, the real controller renders its Job with the image's own entrypoint and no probe,
and the test kubelet in docker mode runs that Pod: the agent waits for the sidecar's socket and
SERVING health itself, calls its tool, and the AgentRun ends `Succeeded` with the result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.crd.schema import agentrun_crd
from runtime.kube import RenderOptions
from runtime.mock_llm import MockLLMServer
from runtime.mock_llm.script import Script
from tests._runs import call
from tests.controller._docker import build_images, docker_cluster, pod_logs  # noqa: F401
from tests.controller._k8s import validate_custom
from tests.controller.conftest import Cluster, example, until
from tests.kube import Kubelet

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.controller,
    pytest.mark.docker,
    pytest.mark.timeout(300),
]
SCRIPT: dict[str, Any] = {
    "steps": [
        {"tool_calls": [call("text_stats", text="one two\nthree\n")]},
        {"content": "{{last}}"},
    ]
}


@pytest.fixture(scope="module")
def image_prefix() -> str:
    """The images the Pod names, built from this checkout."""
    return build_images("agent", "typescript-skill")


async def test_an_image_only_skill_runs_its_own_entrypoint_in_the_job(
    docker_cluster: Cluster,  # noqa: F811 (the shared fixture, imported above)
    image_prefix: str,
) -> None:
    cluster, fake = docker_cluster, docker_cluster.fake
    image = RenderOptions(image_prefix=image_prefix).image("typescript-skill")
    server = MockLLMServer(Script.model_validate(SCRIPT))
    with server.running() as base_url, Kubelet(fake, "docker") as kubelet:
        assert kubelet.mode == "docker"
        doc = example("ts-run", ttlSecondsAfterFinished=0, skills=[{"name": "ts", "image": image}])
        doc["spec"]["model"] = {**doc["spec"]["model"], "name": "openai:mock", "baseURL": base_url}
        assert validate_custom(agentrun_crd(), doc) == []
        cluster.apply_run(doc)

        job = await until(lambda: cluster.job("ts-run"), timeout=30)
        inits = {c["name"]: c for c in job["spec"]["template"]["spec"]["initContainers"]}
        sidecar = inits["skill-ts"]
        assert sidecar["image"] == image
        assert "command" not in sidecar and "args" not in sidecar
        assert "startupProbe" not in sidecar

        await until(lambda: cluster.phase("ts-run") in ("Succeeded", "Failed"), timeout=240)
        status = cluster.status("ts-run")
        assert status["phase"] == "Succeeded", (status, cluster.events("ts-run"), pod_logs(cluster))
        assert json.loads(status["output"]) == {"lines": 2, "words": 3, "characters": 14}
        assert status["toolCalls"] == 1
        await until(lambda: cluster.job("ts-run") is None, timeout=30)
