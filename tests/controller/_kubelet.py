"""Playing kubelet by hand where a test needs an exact container state (a crash, an image
that cannot be pulled, a hostile termination message): Pod objects and their status written
straight into the fake API, as the kubelet would report them."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from tests.kube._fake import FakeKube

NOW = "2026-12-01T12:00:00Z"


def start_pod(fake: FakeKube, job: dict[str, Any]) -> str:
    """The Job's Pod, running: sidecars started, the agent running."""
    meta = job["metadata"]
    template = job["spec"]["template"]
    name = f"{meta['name']}-{secrets.token_hex(3)}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {**template["metadata"]["labels"], "job-name": meta["name"]},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                 "uid": meta["uid"], "controller": True}],
        },
        "spec": template["spec"],
    }  # fmt: skip
    fake.create(pod)
    set_status(fake, pod, running(template["spec"]))
    return name


def running(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "phase": "Running",
        "startTime": NOW,
        "initContainerStatuses": [
            {"name": c["name"], "image": c["image"], "ready": True, "restartCount": 0,
             "started": True, "state": {"running": {"startedAt": NOW}}}
            for c in spec["initContainers"]
        ],
        "containerStatuses": [
            {"name": "agent", "image": spec["containers"][0]["image"], "ready": True,
             "restartCount": 0, "state": {"running": {"startedAt": NOW}}}
        ],
    }  # fmt: skip


def set_status(fake: FakeKube, pod: dict[str, Any], status: dict[str, Any]) -> None:
    meta = pod["metadata"]
    fake.apply(
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": meta["name"], "namespace": meta["namespace"]}, "status": status},
        manager="kubelet", sub="status",
    )  # fmt: skip


def pod(fake: FakeKube, namespace: str, name: str) -> dict[str, Any]:
    found = fake.get("v1", "Pod", name, namespace)
    assert found is not None
    return copy.deepcopy(found)  # the fake hands out its stored object: never edit that


def finish_agent(fake: FakeKube, namespace: str, name: str, message: str, code: int = 0) -> None:
    current = pod(fake, namespace, name)
    status = current["status"]
    status["phase"] = "Succeeded" if code == 0 else "Failed"
    status["containerStatuses"][0]["state"] = {
        "terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                       "message": message, "startedAt": NOW, "finishedAt": "2026-12-01T12:00:05Z"}
    }  # fmt: skip
    set_status(fake, current, status)
