"""The schedule logic with a controllable clock: every test moves `now`, none sleeps.

`World` plays what the API would hold (the schedule's status, the runs it owns) and applies
each plan the way the reconciler does, so a test reads like a night of a controller's life.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.crd.agentschedule import AgentSchedule
from controller.schedule import (
    MAX_MISSED,
    SCHEDULE_LABEL,
    TICK_ANNOTATION,
    Cron,
    ObservedRun,
    Plan,
    ScheduleError,
    build_run,
    format_time,
    observe_run,
    reconcile_schedule,
    run_name,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TEMPLATE: dict[str, Any] = {
    "spec": {"task": "sweep the cluster", "model": {"name": "openai:gpt-4.1-mini"}}
}


def schedule(created: datetime = T0 - timedelta(seconds=30), **spec: Any) -> AgentSchedule:
    return AgentSchedule.model_validate(
        {
            "metadata": {
                "name": "sweep",
                "namespace": "ops",
                "uid": "uid-1",
                "generation": 1,
                "creationTimestamp": format_time(created),
            },
            "spec": {"schedule": "0 * * * *", "runTemplate": TEMPLATE, **spec},
        }
    )


@dataclass
class World:
    """The schedule and its runs as the API would show them; `at(t)` reconciles once."""

    schedule: AgentSchedule
    runs: dict[str, ObservedRun] = field(default_factory=lambda: {})
    created: list[str] = field(default_factory=lambda: [])
    cancelled: list[str] = field(default_factory=lambda: [])
    deleted: list[str] = field(default_factory=lambda: [])
    events: list[str] = field(default_factory=lambda: [])

    def at(self, now: datetime) -> Plan:
        plan = reconcile_schedule(self.schedule, list(self.runs.values()), now)
        for name in plan.cancel:
            self.runs[name] = replace(self.runs[name], cancel=True)
            self.cancelled.append(name)
        for name, tick in plan.create:
            assert name not in self.runs, f"{name} created twice"
            self.runs[name] = ObservedRun(name=name, tick=tick, created=now)
            self.created.append(name)
        for name in plan.delete:
            del self.runs[name]
            self.deleted.append(name)
        self.schedule = self.schedule.model_copy(update={"status": plan.status})
        self.events += [e.reason for e in plan.events]
        return plan

    def finish(self, name: str, phase: str, when: datetime) -> None:
        self.runs[name] = replace(self.runs[name], phase=phase, completed=when)

    def minutes(self, start: datetime, end: datetime) -> None:
        """Reconcile once a minute (plus a second) from start to end, as a requeue would."""
        t = start
        while t <= end:
            self.at(t + timedelta(seconds=1))
            t += timedelta(minutes=1)


def name_at(t: datetime) -> str:
    return run_name("sweep", t)


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"),
     ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"), ("  */5  *  * * * ", "*/5 * * * *")],
)  # fmt: skip
def test_macros_and_spacing(text: str, expected: str) -> None:
    assert Cron.parse(text).expression == expected


@pytest.mark.parametrize(
    ("text", "zone", "reason", "words"),
    [
        ("* * * *", None, "InvalidSchedule", "has 4 fields"),
        ("0 * * * * *", None, "InvalidSchedule", "has 6 fields"),
        ("61 * * * *", None, "InvalidSchedule", "Bad minute"),
        ("0 0 30 2 *", None, "InvalidSchedule", "Bad day-of-month"),
        ("@every 5m", None, "InvalidSchedule", "unknown macro"),
        ("CRON_TZ=UTC 0 * * * *", None, "InvalidSchedule", "spec.timeZone"),
        ("0 * * * *", "Mars/Olympus", "UnknownTimeZone", "Mars/Olympus"),
        ("0 * * * *", "localtime", "UnknownTimeZone", "localtime"),
    ],
)
def test_bad_schedules_are_refused(text: str, zone: str | None, reason: str, words: str) -> None:
    with pytest.raises(ScheduleError, match=words) as caught:
        Cron.parse(text, zone)
    assert caught.value.reason == reason


def test_run_names_come_from_the_tick_in_minutes() -> None:
    tick = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert run_name("sweep", tick) == f"sweep-{int(tick.timestamp()) // 60}"
    assert run_name("sweep", tick + timedelta(seconds=59)) == run_name("sweep", tick)
    assert run_name("sweep", tick + timedelta(minutes=1)) != run_name("sweep", tick)


def test_schema_refuses_tz_in_schedule_and_long_names() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="timeZone"):
        schedule(timeZone="Europe/Berlin/../x")
    with pytest.raises(ValidationError, match="concurrencyPolicy"):
        schedule(concurrencyPolicy="Sometimes")


# ---------------------------------------------------------------- ticks and policies


def test_one_run_per_tick_and_requeue_until_the_next() -> None:
    world = World(schedule())
    plan = world.at(T0 - timedelta(seconds=20))
    assert plan.create == [] and plan.requeue_after == pytest.approx(20.1)
    plan = world.at(T0 + timedelta(seconds=2))
    assert plan.create == [(name_at(T0), T0)]
    assert plan.status.lastScheduleTime == format_time(T0)
    assert plan.status.nextScheduleTime == format_time(T0 + timedelta(hours=1))
    assert plan.requeue_after == pytest.approx(3600 - 2 + 0.1)
    # A slow or repeated reconcile of the same tick does nothing more.
    for seconds in (3, 30, 59 * 60):
        assert world.at(T0 + timedelta(seconds=seconds)).create == []
    assert world.created == [name_at(T0)]


def test_allow_runs_overlap() -> None:
    world = World(schedule(concurrencyPolicy="Allow"))
    world.at(T0)
    plan = world.at(T0 + timedelta(hours=1))
    assert world.created == [name_at(T0), name_at(T0 + timedelta(hours=1))]
    assert [r.name for r in plan.status.active] == world.created
    assert world.cancelled == []


def test_replace_cancels_the_active_run_and_starts_the_new_one() -> None:
    world = World(schedule(concurrencyPolicy="Replace"))
    world.at(T0)
    plan = world.at(T0 + timedelta(hours=1))
    assert plan.cancel == [name_at(T0)]
    assert world.created == [name_at(T0), name_at(T0 + timedelta(hours=1))]
    # Until the cancelled run has ended it is still active; it is not cancelled twice.
    assert world.at(T0 + timedelta(hours=1, seconds=5)).cancel == []
    world.finish(name_at(T0), "Cancelled", T0 + timedelta(hours=1, seconds=6))
    plan = world.at(T0 + timedelta(hours=1, seconds=7))
    assert [r.name for r in plan.status.active] == [name_at(T0 + timedelta(hours=1))]
    assert plan.status.lastResult is not None and plan.status.lastResult.phase == "Cancelled"


def test_forbid_skips_while_active_then_starts_the_late_tick() -> None:
    """Without startingDeadlineSeconds a tick blocked by Forbid still starts once the active
    run ends (CronJob does the same): one late run, not one per blocked reconcile."""
    world = World(schedule(concurrencyPolicy="Forbid"))
    world.at(T0)
    t1 = T0 + timedelta(hours=1)
    plan = world.at(t1)
    assert plan.create == [] and "RunAlreadyActive" in world.events
    world.finish(name_at(T0), "Succeeded", t1 + timedelta(minutes=5))
    plan = world.at(t1 + timedelta(minutes=5, seconds=1))
    assert plan.create == [(name_at(t1), t1)]
    assert plan.status.lastSuccessfulTime == format_time(t1 + timedelta(minutes=5))
    assert world.at(t1 + timedelta(minutes=6)).create == []


def test_forbid_with_a_deadline_skips_the_blocked_tick() -> None:
    world = World(schedule(concurrencyPolicy="Forbid", startingDeadlineSeconds=60))
    world.at(T0)
    t1 = T0 + timedelta(hours=1)
    world.at(t1 + timedelta(seconds=1))
    world.finish(name_at(T0), "Failed", t1 + timedelta(minutes=5))
    plan = world.at(t1 + timedelta(minutes=5, seconds=1))
    assert plan.create == []
    assert plan.status.lastMissedTime == format_time(t1)
    assert world.events.count("MissSchedule") == 1
    world.at(t1 + timedelta(minutes=6))  # the miss is reported once, not on every reconcile
    assert world.events.count("MissSchedule") == 1
    world.at(t1 + timedelta(hours=1, seconds=1))
    assert world.created == [name_at(T0), name_at(t1 + timedelta(hours=1))]


# ---------------------------------------------------------------- missed windows


def test_a_day_down_starts_one_run_not_a_burst() -> None:
    world = World(schedule(schedule="* * * * *"))
    world.at(T0)
    back = T0 + timedelta(days=1, seconds=30)
    plan = world.at(back)
    latest = T0 + timedelta(days=1)
    assert plan.create == [(name_at(latest), latest)]
    assert "TooManyMissedTimes" in world.events  # 1,440 ticks went by
    assert world.at(back + timedelta(seconds=5)).create == []
    assert world.created == [name_at(T0), name_at(latest)]


def test_missed_window_without_a_deadline_starts_late() -> None:
    world = World(schedule())
    world.at(T0)
    plan = world.at(T0 + timedelta(hours=5, minutes=40))  # down from 09:00 to 14:40
    assert plan.create == [(name_at(T0 + timedelta(hours=5)), T0 + timedelta(hours=5))]
    assert "TooManyMissedTimes" not in world.events and "MissSchedule" not in world.events


def test_missed_window_with_a_deadline_is_skipped() -> None:
    world = World(schedule(startingDeadlineSeconds=300))
    world.at(T0)
    plan = world.at(T0 + timedelta(hours=5, minutes=40))
    assert plan.create == []
    assert plan.status.lastMissedTime == format_time(T0 + timedelta(hours=5))
    assert world.events == ["MissSchedule"]
    plan = world.at(T0 + timedelta(hours=6, minutes=4))  # within 300 s of 15:00: started
    assert plan.create == [(name_at(T0 + timedelta(hours=6)), T0 + timedelta(hours=6))]


def test_too_many_missed_still_finds_the_latest_tick_in_a_zone() -> None:
    cron = Cron.parse("*/7 * * * *", "America/New_York")
    now = datetime(2026, 11, 1, 12, 0, 30, tzinfo=UTC)
    latest, count = cron.latest(now - timedelta(days=3), now)
    assert count == MAX_MISSED + 1
    assert latest == cron.upcoming(now - timedelta(hours=1), 20)[-1] or latest is not None
    walked = [t for t in cron.upcoming(now - timedelta(hours=2), 40) if t <= now]
    assert latest == walked[-1]


# ---------------------------------------------------------------- suspend, restarts


def test_suspend_then_resume() -> None:
    world = World(schedule(startingDeadlineSeconds=120))
    world.at(T0)
    world.schedule = world.schedule.model_copy(
        update={"spec": world.schedule.spec.model_copy(update={"suspend": True})}
    )
    for hours in (1, 2, 3):
        plan = world.at(T0 + timedelta(hours=hours, seconds=5))
        assert plan.create == [] and plan.requeue_after is None
        assert plan.status.nextScheduleTime is None
    world.schedule = world.schedule.model_copy(
        update={"spec": world.schedule.spec.model_copy(update={"suspend": False})}
    )
    # Resumed at 12:30: the 12:00 tick is past the deadline, so nothing starts until 13:00.
    assert world.at(T0 + timedelta(hours=3, minutes=30)).create == []
    world.at(T0 + timedelta(hours=4, seconds=1))
    assert world.created == [name_at(T0), name_at(T0 + timedelta(hours=4))]


def test_resume_without_a_deadline_starts_the_latest_missed_tick_once() -> None:
    world = World(schedule(suspend=True))
    world.at(T0 + timedelta(seconds=1))
    world.schedule = world.schedule.model_copy(
        update={"spec": world.schedule.spec.model_copy(update={"suspend": False})}
    )
    world.at(T0 + timedelta(hours=2, minutes=10))
    assert world.created == [name_at(T0 + timedelta(hours=2))]


def test_restart_between_two_ticks_loses_no_tick_and_repeats_none() -> None:
    world = World(schedule())
    world.at(T0 + timedelta(seconds=1))
    # The controller dies after creating the run, before its status write lands.
    world.schedule = world.schedule.model_copy(update={"status": None})
    assert world.at(T0 + timedelta(minutes=30)).create == []  # the run itself says so
    # A second replica that has not seen the run yet computes the same name: its create
    # gets 409 from the API, and nothing is started twice.
    lagging = reconcile_schedule(world.schedule.model_copy(update={"status": None}), [], T0)
    assert [n for n, _ in lagging.create] == [name_at(T0)]
    world.at(T0 + timedelta(hours=1, seconds=1))
    assert world.created == [name_at(T0), name_at(T0 + timedelta(hours=1))]


def test_a_new_schedule_does_not_start_ticks_from_before_it_existed() -> None:
    world = World(schedule(created=T0 + timedelta(minutes=10)))
    assert world.at(T0 + timedelta(minutes=11)).create == []
    assert world.at(T0 + timedelta(hours=1, seconds=1)).create != []


# ---------------------------------------------------------------- history


def test_history_is_pruned_to_the_limits() -> None:
    world = World(schedule(successfulRunsHistoryLimit=2, failedRunsHistoryLimit=1))
    phases = ["Succeeded", "Failed", "Succeeded", "TimedOut", "Succeeded", "Cancelled"]
    for hour, phase in enumerate(phases):
        t = T0 + timedelta(hours=hour)
        world.at(t)
        world.finish(name_at(t), phase, t + timedelta(minutes=1))
    plan = world.at(T0 + timedelta(hours=5, minutes=2))
    hours = [name_at(T0 + timedelta(hours=h)) for h in range(6)]
    assert sorted(world.runs) == sorted([hours[2], hours[4], hours[5]])
    assert sorted(world.deleted) == sorted([hours[0], hours[1], hours[3]])
    assert plan.status.lastResult is not None and plan.status.lastResult.name == hours[5]


def test_active_runs_are_never_pruned() -> None:
    world = World(schedule(concurrencyPolicy="Allow", successfulRunsHistoryLimit=0))
    for hour in range(3):
        world.at(T0 + timedelta(hours=hour))
    assert world.deleted == [] and len(world.runs) == 3


# ---------------------------------------------------------------- time zones


def test_spring_forward_in_berlin_fires_once_after_the_gap() -> None:
    """02:30 does not exist on 2026-03-29 in Berlin: the run starts at 03:00 CEST."""
    night = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    world = World(schedule(created=night, schedule="30 2 * * *", timeZone="Europe/Berlin"))
    world.minutes(night, night + timedelta(hours=4))
    gap_end = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST
    assert world.created == [name_at(gap_end)]


def test_fall_back_in_berlin_fires_a_fixed_time_once() -> None:
    night = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    world = World(schedule(created=night, schedule="30 2 * * *", timeZone="Europe/Berlin"))
    world.minutes(night, night + timedelta(hours=5))
    assert world.created == [name_at(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))]  # CEST


def test_fall_back_in_berlin_fires_every_half_hour_of_both_passes() -> None:
    night = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    world = World(schedule(created=night, schedule="*/30 2 * * *", timeZone="Europe/Berlin"))
    world.minutes(night, night + timedelta(hours=5))
    fired = [
        datetime(2026, 10, 25, h, m, tzinfo=UTC) for h, m in ((0, 0), (0, 30), (1, 0), (1, 30))
    ]
    assert world.created == [name_at(t) for t in fired]
    assert len(set(world.created)) == 4  # both 02:00s have their own name


def test_next_schedule_time_crosses_the_change_in_local_terms() -> None:
    cron = Cron.parse("0 9 * * *", "America/New_York")
    before = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)  # 10:00 EDT
    assert cron.upcoming(before, 2) == [
        datetime(2026, 11, 1, 14, 0, tzinfo=UTC),  # 09:00 EST
        datetime(2026, 11, 2, 14, 0, tzinfo=UTC),
    ]
    assert cron.after(datetime(2026, 10, 30, 12, 0, tzinfo=UTC)) == datetime(
        2026, 10, 30, 13, 0, tzinfo=UTC
    )  # 09:00 EDT


# ---------------------------------------------------------------- conditions, the run


def test_invalid_schedule_is_a_condition_reported_once() -> None:
    world = World(schedule(timeZone="Mars/Olympus"))
    plan = world.at(T0)
    assert plan.create == [] and plan.requeue_after is None
    (valid,) = plan.status.conditions
    assert (valid.type, valid.status, valid.reason) == ("Valid", "False", "UnknownTimeZone")
    world.at(T0 + timedelta(hours=1))
    assert world.events == ["UnknownTimeZone"]
    assert world.schedule.status is not None
    assert world.schedule.status.conditions[0].lastTransitionTime == format_time(T0)


def test_build_run_is_owned_labelled_and_shares_memory() -> None:
    s = schedule()
    run = build_run(s, name_at(T0), T0)
    meta = run["metadata"]
    assert meta["name"] == name_at(T0) and meta["namespace"] == "ops"
    assert meta["labels"][SCHEDULE_LABEL] == "sweep"
    assert meta["annotations"][TICK_ANNOTATION] == format_time(T0)
    (owner,) = meta["ownerReferences"]
    assert owner == {
        "apiVersion": "podium.dev/v1alpha1",
        "kind": "AgentSchedule",
        "name": "sweep",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert run["spec"]["memory"]["scope"] == "schedule/sweep"
    assert run["spec"]["task"] == "sweep the cluster"
    mine = AgentSchedule.model_validate(
        {
            **s.model_dump(mode="json"),
            "spec": {
                **s.spec.model_dump(mode="json"),
                "runTemplate": {"spec": {**TEMPLATE["spec"], "memory": {"scope": "team/ops"}}},
            },
        }
    )
    assert build_run(mine, "x", T0)["spec"]["memory"]["scope"] == "team/ops"
    observed = observe_run({**run, "status": {"phase": "Running"}})
    assert (observed.name, observed.tick, observed.phase) == (name_at(T0), T0, "Running")


def test_a_template_cannot_be_cancelled() -> None:
    from controller.crd.agentschedule import RunTemplate

    assert RunTemplate.model_validate(TEMPLATE).spec.cancel is False
