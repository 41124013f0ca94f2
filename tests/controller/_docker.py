"""What the controller tests that run real containers share: this checkout's images built
once per module, a controller naming them, and the Pods' logs for a failure message."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator

import pytest

from controller.policy import ControllerConfig
from runtime.kube import RenderOptions
from tests.controller.conftest import NS, ROOT, Cluster, running
from tests.docker.conftest import unavailable
from tests.kube import FakeKube
from tests.kube._kubelet import docker_available, pod_summary


def build_images(*names: str) -> str:
    """Build `names` from this checkout (scripts/build-images.sh; cached layers make a
    rebuild quick) and return the prefix the Pods must name. IMAGE_PREFIX keeps parallel
    checkouts' images apart."""
    if not docker_available():
        unavailable("Docker is not available")
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh"), *names],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if build.returncode != 0:
        pytest.fail(f"scripts/build-images.sh failed:\n{build.stderr[-4000:]}")
    return os.environ.get("IMAGE_PREFIX", RenderOptions.image_prefix)


@pytest.fixture
async def docker_cluster(fake: FakeKube, image_prefix: str) -> AsyncIterator[Cluster]:
    """The real controller, its Pods naming the module's `image_prefix` images."""
    config = ControllerConfig(apiServer=fake.url, imagePrefix=image_prefix)
    async with running(fake, config) as controller:
        yield Cluster(fake, controller, fake.kubeconfig())


def pod_logs(cluster: Cluster) -> str:
    """Every Pod's state and the tail of each container's log."""
    out: list[str] = []
    for pod in cluster.fake.list("v1", "Pod", NS):
        out.append(f"=== {pod['metadata']['name']}: {pod_summary(pod)}")
        spec = pod["spec"]
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            text = cluster.fake.logs.text(NS, pod["metadata"]["name"], c["name"])
            out.append(f"--- {c['name']}\n{text[-2000:]}")
    return "\n".join(out)
