"""The AgentSchedule reconciler against the fake Kubernetes API (real HTTPS, real lightkube
client), with a clock the test moves: ticks, policies, a restart, two replicas, pruning and
garbage collection, seen in what the API holds."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.crd.schema import agentrun_crd, agentschedule_crd
from controller.kube import Kube, connect
from controller.runner import Key
from controller.schedule import SCHEDULE_LABEL, TICK_ANNOTATION, Cron, parse_time, run_name
from controller.schedules import AgentScheduleReconciler
from tests.kube import FakeKube

pytestmark = [pytest.mark.anyio, pytest.mark.controller]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((ROOT / "examples/cluster/agentschedule.yaml").read_text())
V1 = "podium.dev/v1alpha1"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as fake:
        fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ops"}})
        fake.create(agentrun_crd())
        fake.create(agentschedule_crd())
        yield fake


@pytest.fixture
async def kube(fake: FakeKube) -> AsyncIterator[Kube]:
    kube = connect(fake.kubeconfig())
    yield kube
    await kube.close()


class World:
    def __init__(self, fake: FakeKube, kube: Kube, **spec: Any) -> None:
        doc = copy.deepcopy(EXAMPLE)
        doc["spec"].update({"schedule": "0 * * * *", "timeZone": "UTC", **spec})
        if "startingDeadlineSeconds" not in spec:
            doc["spec"].pop("startingDeadlineSeconds", None)
        self.fake = fake
        self.created = fake.create(doc)
        born = parse_time(self.created["metadata"]["creationTimestamp"])
        assert born is not None
        tick = Cron.parse("0 * * * *").after(born)
        assert tick is not None
        self.tick: datetime = tick
        self.clock = Clock(self.tick + timedelta(seconds=1))
        self.reconciler = AgentScheduleReconciler(kube, self.clock)
        self.key = Key("AgentSchedule", "ops", "nightly-sweep")

    async def at(self, when: datetime) -> float | None:
        self.clock.now = when
        return await self.reconciler.reconcile(self.key)

    def runs(self) -> dict[str, dict[str, Any]]:
        found = self.fake.list(V1, "AgentRun", "ops")
        return {r["metadata"]["name"]: r for r in found}

    def status(self) -> dict[str, Any]:
        obj = self.fake.get(V1, "AgentSchedule", "nightly-sweep", "ops")
        assert obj is not None
        return obj.get("status") or {}

    def finish(self, name: str, phase: str) -> None:
        self.fake.apply(
            {"apiVersion": V1, "kind": "AgentRun", "metadata": {"name": name, "namespace": "ops"},
             "status": {"phase": phase, "completionTime": "2026-12-01T00:00:00Z"}},
            sub="status",
        )  # fmt: skip

    def name(self, hours: int = 0) -> str:
        return run_name("nightly-sweep", self.tick + timedelta(hours=hours))


async def test_a_tick_creates_one_owned_labelled_run(fake: FakeKube, kube: Kube) -> None:
    w = World(fake, kube, concurrencyPolicy="Allow")
    requeue = await w.at(w.tick + timedelta(seconds=1))
    assert requeue == pytest.approx(3600 - 1 + 0.1)
    (run,) = w.runs().values()
    meta = run["metadata"]
    assert meta["name"] == w.name()
    assert (
        meta["labels"][SCHEDULE_LABEL] == "nightly-sweep" and meta["labels"]["team"] == "platform"
    )
    assert meta["annotations"][TICK_ANNOTATION] == w.tick.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert meta["ownerReferences"][0]["uid"] == w.created["metadata"]["uid"]
    assert run["spec"]["memory"]["claim"] == "podium-memory"
    status = w.status()
    assert status["lastScheduleTime"] == meta["annotations"][TICK_ANNOTATION]
    assert [a["name"] for a in status["active"]] == [w.name()] and status["activeCount"] == 1
    assert (
        status["conditions"][0]["type"] == "Valid" and status["conditions"][0]["status"] == "True"
    )
    # Nothing changes on a second look: no second run, no status write.
    writes = fake.count(verb="patch")
    await w.at(w.tick + timedelta(seconds=5))
    assert len(w.runs()) == 1 and fake.count(verb="patch") == writes
    events = [e["reason"] for e in fake.list("v1", "Event", "ops")]
    assert events.count("SuccessfulCreate") == 1


async def test_two_replicas_and_a_restart_start_a_tick_once(fake: FakeKube, kube: Kube) -> None:
    w = World(fake, kube)
    second = connect(fake.kubeconfig())
    other = AgentScheduleReconciler(second, w.clock)
    await asyncio.gather(w.reconciler.reconcile(w.key), other.reconcile(w.key))
    await second.close()
    assert list(w.runs()) == [w.name()]
    # A restarted controller whose status write was lost starts nothing again.
    fake.apply(
        {"apiVersion": V1, "kind": "AgentSchedule",
         "metadata": {"name": "nightly-sweep", "namespace": "ops"}, "status": {"active": []}},
        manager="podium-controller", sub="status",
    )  # fmt: skip
    restarted = connect(fake.kubeconfig())
    await AgentScheduleReconciler(restarted, w.clock).reconcile(w.key)
    await restarted.close()
    assert list(w.runs()) == [w.name()]
    assert fake.count(verb="create", resource="agentruns") == 2  # one 201, one 409


async def test_replace_cancels_through_spec_cancel(fake: FakeKube, kube: Kube) -> None:
    w = World(fake, kube, concurrencyPolicy="Replace")
    await w.at(w.tick + timedelta(seconds=1))
    await w.at(w.tick + timedelta(hours=1, seconds=1))
    runs = w.runs()
    assert set(runs) == {w.name(), w.name(1)}
    assert runs[w.name()]["spec"]["cancel"] is True
    assert not runs[w.name(1)]["spec"].get("cancel")


async def test_forbid_waits_for_the_active_run(fake: FakeKube, kube: Kube) -> None:
    w = World(fake, kube, concurrencyPolicy="Forbid", startingDeadlineSeconds=600)
    await w.at(w.tick + timedelta(seconds=1))
    await w.at(w.tick + timedelta(hours=1, seconds=1))
    assert set(w.runs()) == {w.name()}
    w.finish(w.name(), "Succeeded")
    await w.at(w.tick + timedelta(hours=1, minutes=5))  # within the deadline: starts late
    assert set(w.runs()) == {w.name(), w.name(1)}
    assert w.status()["lastResult"]["phase"] == "Succeeded"


async def test_prune_history_and_delete_with_the_schedule(fake: FakeKube, kube: Kube) -> None:
    w = World(fake, kube, concurrencyPolicy="Allow", successfulRunsHistoryLimit=1,
              failedRunsHistoryLimit=1)  # fmt: skip
    for hour, phase in enumerate(["Succeeded", "Failed", "Succeeded", "Failed"]):
        await w.at(w.tick + timedelta(hours=hour, seconds=1))
        w.finish(w.name(hour), phase)
    await w.at(w.tick + timedelta(hours=3, minutes=1))
    assert set(w.runs()) == {w.name(2), w.name(3)}
    fake.delete(V1, "AgentSchedule", "nightly-sweep", "ops")
    fake.wait_for(lambda: not w.runs() or None, timeout=10)


async def test_suspend_and_an_unknown_zone(fake: FakeKube, kube: Kube) -> None:
    w = World(fake, kube, suspend=True)
    assert await w.at(w.tick + timedelta(seconds=1)) is None
    assert w.runs() == {} and "nextScheduleTime" not in w.status()
    fake.apply(
        {"apiVersion": V1, "kind": "AgentSchedule",
         "metadata": {"name": "nightly-sweep", "namespace": "ops"},
         "spec": {**w.created["spec"], "suspend": False, "timeZone": "Mars/Olympus"}},
    )  # fmt: skip
    await w.at(w.tick + timedelta(seconds=2))
    (valid,) = w.status()["conditions"]
    assert (valid["status"], valid["reason"]) == ("False", "UnknownTimeZone")
    assert w.runs() == {}
