"""A fake cluster with Podium's CRDs installed and the controller running in the test's
event loop, talking to it over HTTPS like to any cluster (an admin kubeconfig)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from controller.app import Controller
from controller.kube import connect
from controller.policy import ControllerConfig
from tests.kube._fake import FakeKube

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
NS = "team-a"
MASTER_KEY = "test-master-key-" + "0" * 32
"""The controller's master key in these tests (each run's keys derive from it)."""


async def until(check: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll `check` (every 20 ms) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


@dataclass
class Cluster:
    fake: FakeKube
    controller: Controller
    kubeconfig: Path

    def run(self, name: str) -> dict[str, Any] | None:
        return self.fake.get("podium.dev/v1alpha1", "AgentRun", name, NS)

    def status(self, name: str) -> dict[str, Any]:
        return (self.run(name) or {}).get("status") or {}

    def phase(self, name: str) -> str | None:
        return self.status(name).get("phase")

    def job(self, name: str) -> dict[str, Any] | None:
        return self.fake.get("batch/v1", "Job", f"podium-{name}", NS)

    def apply_run(self, doc: dict[str, Any]) -> None:
        doc = {**doc, "metadata": {"namespace": NS, **doc["metadata"]}}
        self.fake.create(doc)

    def condition(self, name: str, type: str) -> dict[str, Any] | None:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == type), None)

    def events(self, name: str) -> list[tuple[str, str]]:
        return [
            (e["reason"], e["message"])
            for e in self.fake.list("v1", "Event", NS)
            if e["involvedObject"]["name"] == name
        ]


def example(name: str = "triage-pods", **spec: Any) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "examples/cluster/agentrun.yaml").read_text())
    doc["metadata"]["name"] = name
    doc["spec"].update(spec)
    return doc


def free_port() -> int:
    """A TCP port free now: each test's runs get their own control port (the test kubelet
    runs every pod on 127.0.0.1, and other test sessions may share the machine)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def running(
    fake: FakeKube, config: ControllerConfig | None = None
) -> AsyncIterator[Controller]:
    kubeconfig = fake.kubeconfig()
    kube = connect(kubeconfig)
    config = config or ControllerConfig(apiServer=fake.url)
    if "controlPort" not in config.model_fields_set:
        config = config.model_copy(update={"controlPort": free_port()})
    controller = Controller(kube, config, resync_s=30, master_key=MASTER_KEY)
    task = asyncio.create_task(controller.run())
    try:
        await asyncio.wait_for(controller.runner.ready.wait(), 10)
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kube.close()


@pytest.fixture
def fake() -> Any:
    with FakeKube() as fake:
        for path in sorted((ROOT / "deploy/crds").glob("*.yaml")):
            fake.create(yaml.safe_load(path.read_text()))
        fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        secret = {"name": "openai", "namespace": NS}
        fake.create({"apiVersion": "v1", "kind": "Secret", "metadata": secret,
                     "data": {"api-key": "c2stdGVzdA=="}})  # fmt: skip
        yield fake


@pytest.fixture
async def cluster(fake: FakeKube) -> AsyncIterator[Cluster]:
    async with running(fake) as controller:
        yield Cluster(fake, controller, fake.kubeconfig())
