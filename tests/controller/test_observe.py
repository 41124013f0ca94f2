"""Status from what the Pod shows, as a pure function; the agent's summary as it writes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from controller.crd.models import AgentRunStatus
from controller.observe import MAX_MESSAGE_BYTES, Summary, observe, parse_summary
from runtime.agent.base import Usage
from runtime.agent.events import RunError, RunResult
from runtime.agent.main import termination_summary

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _pod(
    agent_state: dict[str, Any], sidecars: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-12-01T11:59:00Z"},
        "status": {
            "initContainerStatuses": sidecars or [],
            "containerStatuses": [{"name": "agent", "image": "a", "state": agent_state}],
        },
    }


@pytest.mark.parametrize("output", ["short", "x" * 20_000, 'é"\\\n' * 3000, "🙂" * 2000])
def test_the_agents_summary_always_fits_and_parses(output: str) -> None:
    result = RunResult("succeeded", output=output, usage=Usage(10, 5), tool_calls=2, turns=3)
    text = termination_summary(result)
    assert len(text.encode()) <= MAX_MESSAGE_BYTES
    parsed = parse_summary(text)
    assert isinstance(parsed, Summary)
    assert output.startswith(parsed.output) and parsed.truncated == (parsed.output != output)
    assert (parsed.turns, parsed.tool_calls, parsed.usage.input_tokens) == (3, 2, 10)  # type: ignore[union-attr]


def test_failed_summary_carries_the_error() -> None:
    result = RunResult("failed", error=RunError("ModelError", "429 from the provider"))
    parsed = parse_summary(termination_summary(result))
    assert isinstance(parsed, Summary) and parsed.error == "429 from the provider"


@pytest.mark.parametrize(
    "message",
    ["", "null", "[]", "{}", '{"status": "succeeded", "turns": -1}', '{"status": 1}', "x" * 5000],
)
def test_bad_messages_are_reasons_not_crashes(message: str) -> None:
    assert isinstance(parse_summary(message), str)


def test_phases() -> None:
    pending = AgentRunStatus(jobName="podium-x")
    assert observe(pending, {"spec": {}}, [], NOW).status.phase == "Pending"
    running = observe(pending, {"spec": {}}, [_pod({"running": {"startedAt": "t"}})], NOW)
    assert running.status.phase == "Running" and running.events[0][1] == "Started"
    done = {"terminated": {"exitCode": 0, "message": json.dumps({"status": "timed_out"})}}
    timed = observe(running.status, {"spec": {}}, [_pod(done)], NOW)
    assert timed.status.phase == "TimedOut" and timed.terminal
    gone = observe(running.status, None, [], NOW)
    assert gone.status.phase == "Failed"
    assert observe(gone.status, None, [_pod(done)], NOW).status == gone.status  # terminal stays
