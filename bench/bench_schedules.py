"""What schedules cost the controller: `python bench/bench_schedules.py`.

1. evaluation: 1,000 AgentSchedules (a mix of every-minute, */5, hourly, daily and weekday
   schedules across ten time zones, half with runs to look at) reconciled once per simulated
   minute tick with the pure `reconcile_schedule`: the CPU a minute costs (median of ticks).
2. tick-to-run: the AgentSchedule reconciler on the real runner against the fake Kubernetes
   API (HTTPS), the clock shifted so a tick falls shortly after start: from the tick to the
   AgentRun existing, and on to the Job the AgentRun reconciler creates for it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.crd.agentschedule import AgentSchedule  # noqa: E402
from controller.schedule import ObservedRun, format_time, reconcile_schedule  # noqa: E402

SCHEDULES = ["* * * * *", "*/5 * * * *", "0 * * * *", "30 2 * * *", "0 9 * * 1-5"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney",
         "Europe/London", "America/Los_Angeles", "Asia/Kolkata", "America/Sao_Paulo",
         "Africa/Cairo"]  # fmt: skip
TEMPLATE = {"spec": {"task": "sweep", "model": {"name": "openai:gpt-4.1-mini"}}}


def schedules(n: int, start: datetime) -> list[AgentSchedule]:
    return [
        AgentSchedule.model_validate(
            {
                "metadata": {
                    "name": f"s{i}",
                    "namespace": "ops",
                    "uid": f"u{i}",
                    "creationTimestamp": format_time(start - timedelta(days=1)),
                },
                "spec": {
                    "schedule": SCHEDULES[i % len(SCHEDULES)],
                    "timeZone": ZONES[i % 10],
                    "concurrencyPolicy": ["Allow", "Forbid", "Replace"][i % 3],
                    "startingDeadlineSeconds": 300 if i % 2 else None,
                    "runTemplate": TEMPLATE,
                },
            }
        )
        for i in range(n)
    ]


def evaluation(n: int, ticks: int) -> None:
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    items = schedules(n, start)
    runs: dict[str, list[ObservedRun]] = {s.name: [] for s in items}
    per_tick: list[float] = []
    created = 0
    for minute in range(ticks):
        now = start + timedelta(minutes=minute, seconds=1)
        t0 = time.perf_counter()
        for i, s in enumerate(items):
            plan = reconcile_schedule(s, runs[s.name], now)
            items[i] = s.model_copy(update={"status": plan.status})
            for name, tick in plan.create:
                created += 1
                done = ObservedRun(name=name, phase="Succeeded", tick=tick, completed=now)
                runs[s.name] = [*runs[s.name], done][-4:]
        per_tick.append((time.perf_counter() - t0) * 1000)
    print(
        f"schedule evaluation: {n} AgentSchedules all reconciled at every minute tick (the "
        f"runner only wakes those due), {ticks} ticks, {created} runs started"
    )
    print(
        f"  per tick: median {statistics.median(per_tick):.1f} ms, max {max(per_tick):.1f} ms "
        f"({statistics.median(per_tick) / n * 1000:.0f} us per schedule)"
    )


async def until(check: Any, timeout: float = 30.0) -> Any:
    """Poll the fake's state without blocking the controller's event loop."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError("not reached in time")
        await asyncio.sleep(0.005)
    return found


async def tick_to_run(samples: int) -> None:
    from controller.app import Controller
    from controller.crd.schema import crds
    from controller.kube import connect
    from controller.policy import ControllerConfig
    from tests.kube import FakeKube

    delays_run: list[float] = []
    delays_job: list[float] = []
    with FakeKube() as fake:
        for crd in crds().values():
            fake.create(crd)
        fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ops"}})
        kube = connect(fake.kubeconfig())
        controller = Controller(kube, ControllerConfig(), ["ops"], ca="")
        task = asyncio.create_task(controller.run())
        await asyncio.wait_for(controller.runner.ready.wait(), 30)
        for i in range(samples):
            real = datetime.now(UTC)
            # Shift the schedule reconciler's clock so that a minute tick is 1 s away.
            next_minute = (real + timedelta(minutes=1)).replace(second=0, microsecond=0)
            shift = next_minute - (real + timedelta(seconds=1))
            controller.schedules.clock = lambda shift=shift: datetime.now(UTC) + shift
            name = f"b{i}"
            doc: dict[str, Any] = {
                "apiVersion": "podium.dev/v1alpha1", "kind": "AgentSchedule",
                "metadata": {"name": name, "namespace": "ops"},
                "spec": {"schedule": "* * * * *", "runTemplate": TEMPLATE},
            }  # fmt: skip
            fake.create(doc)
            tick_real = time.monotonic() + (next_minute - shift - datetime.now(UTC)).total_seconds()
            run = await until(
                lambda name=name: fake.list(
                    "podium.dev/v1alpha1", "AgentRun", "ops", f"podium.dev/schedule={name}"
                )
            )
            delays_run.append((time.monotonic() - tick_real) * 1000)
            run_name = run[0]["metadata"]["name"]
            await until(
                lambda run_name=run_name: fake.list(
                    "batch/v1", "Job", "ops", f"podium.dev/run={run_name}"
                )
            )
            delays_job.append((time.monotonic() - tick_real) * 1000)
            fake.delete("podium.dev/v1alpha1", "AgentSchedule", name, "ops")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await kube.close()
    print(f"tick-to-run against the fake API ({samples} schedules, one tick each)")
    print(
        f"  tick -> AgentRun: median {statistics.median(delays_run):.0f} ms, "
        f"max {max(delays_run):.0f} ms"
    )
    print(
        f"  tick -> Job:      median {statistics.median(delays_job):.0f} ms, "
        f"max {max(delays_job):.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="schedules")
    parser.add_argument("--ticks", type=int, default=60, help="minute ticks")
    parser.add_argument("--samples", type=int, default=5, help="tick-to-run samples")
    args = parser.parse_args()
    evaluation(args.n, args.ticks)
    asyncio.run(tick_to_run(args.samples))


if __name__ == "__main__":
    main()
