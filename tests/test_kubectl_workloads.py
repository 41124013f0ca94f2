"""The kubectl skill on workloads: scale, rollout status / history / restart / undo and top,
with the real kubectl against the stateful fake cluster (tests/kube: deployments, their
replicasets and status as a controller would leave them)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skills.kubectl import (
    kubectl_rollout_history,
    kubectl_rollout_restart,
    kubectl_rollout_status,
    kubectl_rollout_undo,
    kubectl_scale,
    kubectl_top,
)
from skills.sdk import Context, ToolError
from tests.kube import FakeKube
from tests.test_kubectl_skill import KUBECTL

pytestmark = pytest.mark.anyio
LABELS = {"app": "web"}


def context(workspace: Path) -> Context:
    return Context(workspace, "test", "call-1", logging.getLogger("podium.skill.kubectl"))


def template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": LABELS},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch, workspace: Path) -> Iterator[FakeKube]:
    """A deployment `web` at revision 2 (nginx:2), its replicasets for revisions 1 and 2, and
    a status saying the rollout is complete, as the deployment controller would leave it."""
    for name in ("NAMESPACES", "VERBS", "CLUSTER_SCOPE"):
        monkeypatch.delenv(f"PODIUM_KUBECTL_{name}", raising=False)
    with FakeKube() as kube:
        deploy = kube.create({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default",
                         "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": LABELS},
                     "template": template("nginx:2")},
        })  # fmt: skip
        owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                 "uid": deploy["metadata"]["uid"], "controller": True}  # fmt: skip
        for revision, image in ((1, "nginx:1"), (2, "nginx:2")):
            hashed = {**LABELS, "pod-template-hash": f"h{revision}"}
            kube.create({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": f"web-{revision}", "namespace": "default",
                             "labels": hashed,
                             "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                             "ownerReferences": [owner]},
                "spec": {"replicas": 2 if revision == 2 else 0,
                         "selector": {"matchLabels": hashed},
                         "template": template(image)},
            })  # fmt: skip
        generation = deployment(kube)["metadata"]["generation"]
        kube.apply(
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "web", "namespace": "default"},
             "status": {"observedGeneration": generation, "replicas": 2, "updatedReplicas": 2,
                        "readyReplicas": 2, "availableReplicas": 2}},
            sub="status",
        )  # fmt: skip
        monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig()))
        monkeypatch.setenv("HOME", str(workspace))
        monkeypatch.setenv("PODIUM_KUBECTL", str(KUBECTL))
        yield kube


def deployment(kube: FakeKube) -> dict[str, Any]:
    found = kube.get("apps/v1", "Deployment", "web")
    assert found is not None
    return found


def spec(kube: FakeKube) -> dict[str, Any]:
    return deployment(kube)["spec"]


async def test_rollout_status_history_restart_and_undo(cluster: FakeKube, workspace: Path) -> None:
    ctx = context(workspace)
    out = await kubectl_rollout_status(ctx, "deployments", "web", timeout_s=10)
    assert 'deployment "web" successfully rolled out' in out
    history = await kubectl_rollout_history(ctx, "deploy", "web")
    assert "REVISION" in history and "1 " in history and "2 " in history
    one = await kubectl_rollout_history(ctx, "deploy", "web", revision=1)
    assert "nginx:1" in one

    assert "restarted" in await kubectl_rollout_restart(ctx, "deployments", "web")
    annotations = spec(cluster)["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations

    assert "rolled back" in await kubectl_rollout_undo(ctx, "deployments", "web", to_revision=1)
    assert spec(cluster)["template"]["spec"]["containers"][0]["image"] == "nginx:1"


async def test_scale(cluster: FakeKube, workspace: Path) -> None:
    out = await kubectl_scale(context(workspace), "deployments", "web", 5)
    assert "scaled" in out
    assert spec(cluster)["replicas"] == 5
    assert cluster.count(method="PATCH") >= 1


async def test_workload_errors(cluster: FakeKube, workspace: Path) -> None:
    ctx = context(workspace)
    with pytest.raises(ToolError, match="metrics are not available"):
        await kubectl_top(ctx)
    with pytest.raises(ToolError, match='"ghost" not found'):
        await kubectl_rollout_status(ctx, "deployments", "ghost", timeout_s=5)
    with pytest.raises(ToolError, match="scale works on"):
        await kubectl_scale(ctx, "pods", "web", 1)
    with pytest.raises(ToolError, match="replicas must be"):
        await kubectl_scale(ctx, "deployments", "web", -1)
    with pytest.raises(ToolError, match="rollout undo works on"):
        await kubectl_rollout_undo(ctx, "configmaps", "web")
    with pytest.raises(ToolError, match="revision must be"):
        await kubectl_rollout_undo(ctx, "deployments", "web", to_revision=0)
    assert spec(cluster)["replicas"] == 2
