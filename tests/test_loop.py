"""The agent loop against a scripted model and a real skill served over a real Unix socket:
parallel calls, bad tool calls the model can recover from, limits, and big outputs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from runtime.agent.base import ToolResultMessage, Usage
from runtime.agent.events import EventLog
from runtime.agent.loop import Agent, AgentConfig
from runtime.agent.models.scripted_model import ScriptedModel, text_response, tool_response
from runtime.agent.skill_client import GrpcSkillClient, connect_skills
from runtime.spec import Limits, Policy
from skills.sdk import Context, Skill, serve

probe = Skill("probe", instructions="Probe tools for loop tests.")
state: dict[str, asyncio.Event] = {}
cancelled: list[str] = []


def event(name: str) -> asyncio.Event:
    return state.setdefault(name, asyncio.Event())


@probe.tool(read_only=True)
async def ping(text: str = "pong") -> str:
    """Echo text back."""
    return text


@probe.tool
async def wait_for(ctx: Context, name: str, then_set: str) -> str:
    """Set one event and wait for another: deadlocks unless calls run concurrently."""
    state.setdefault(then_set, asyncio.Event()).set()
    await state.setdefault(name, asyncio.Event()).wait()
    return f"{name} seen"


@probe.tool
async def hang(ctx: Context) -> str:
    """Never finishes; says it started, and records that it was cancelled."""
    event("hang started").set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        cancelled.append(ctx.call_id)
        event("hang cancelled").set()
        raise
    return "unreachable"


@probe.tool(read_only=True)
async def big(size: int) -> str:
    """Return `size` characters."""
    return "".join(chr(ord("a") + i % 26) for i in range(size))


@probe.tool(destructive=True)
async def wipe() -> str:
    """Pretend to delete everything."""
    return "wiped"


@asynccontextmanager
async def probe_skill(workspace: Path) -> AsyncIterator[dict[str, GrpcSkillClient]]:
    for e in state.values():  # the same events (a test may already wait on one), reset
        e.clear()
    cancelled.clear()
    stop = asyncio.Event()
    sockets = workspace / ".podium" / "sockets"
    task = asyncio.create_task(
        serve(probe, socket=sockets / "probe.sock", workspace=workspace, stop=stop)
    )
    clients = await connect_skills(sockets, ["probe"], timeout=10)
    try:
        yield dict(clients)
    finally:
        for c in clients.values():
            await c.close()
        stop.set()
        await asyncio.wait_for(task, 10)


async def run(workspace: Path, model: ScriptedModel, **config: Any):
    """Run the loop; `config` holds Limits and Policy fields (`timeout_s=`, `read_only=`...)."""
    policy = {k: config.pop(k) for k in list(config) if k in Policy.model_fields}
    async with probe_skill(workspace) as clients:
        infos = [await c.describe() for c in clients.values()]
        events = EventLog(workspace / "events.jsonl")
        agent = Agent(
            model,
            clients,
            infos,
            AgentConfig(Limits(**config), Policy(**policy)),
            events,  # type: ignore[arg-type]
            workspace / ".podium" / "outputs",
        )
        result = await agent.run("do the thing")
        events.close()
        return result, events.events


def tool_results(model: ScriptedModel, call: int) -> list[ToolResultMessage]:
    return [m for m in model.calls[call].messages if isinstance(m, ToolResultMessage)]


@pytest.mark.anyio
async def test_final_answer_and_system_prompt(workspace: Path) -> None:
    model = ScriptedModel([tool_response(("ping", {"text": "hi"})), text_response("done")])
    result, events = await run(workspace, model)
    model.assert_complete()
    assert (result.status, result.output, result.turns, result.tool_calls) == (
        "succeeded",
        "done",
        2,
        1,
    )
    first = model.calls[0]
    assert "## Skill: probe" in first.messages[0].text  # type: ignore[union-attr]
    assert {t.name for t in first.tools} == {"ping", "wait_for", "hang", "big", "wipe"}
    assert tool_results(model, 1)[0].text == "hi"
    assert [e["type"] for e in events] == [
        "model_request",
        "model_response",
        "tool_call",
        "tool_result",
        "model_request",
        "model_response",
    ]


@pytest.mark.anyio
async def test_parallel_calls_run_concurrently(workspace: Path) -> None:
    # Each call waits for the other's event: run one after the other, this would hang.
    model = ScriptedModel(
        [
            tool_response(
                ("wait_for", {"name": "a", "then_set": "b"}),
                ("wait_for", {"name": "b", "then_set": "a"}),
            ),
            text_response("both"),
        ]
    )
    result, _ = await run(workspace, model, timeout_s=10)
    assert result.status == "succeeded"
    assert sorted(m.text for m in tool_results(model, 1)) == ["a seen", "b seen"]


@pytest.mark.anyio
async def test_bad_tool_calls_go_back_to_the_model(workspace: Path) -> None:
    model = ScriptedModel(
        [
            tool_response(
                ("ping", "{not json"), ("nope", {}), ("ping", {"text": 5}), ("ping", "[1, 2]")
            ),
            text_response("recovered"),
        ]
    )
    result, _ = await run(workspace, model)
    assert result.status == "succeeded" and result.output == "recovered"
    not_json, unknown, schema, not_object = tool_results(model, 1)
    assert not_json.is_error and "not valid JSON" in not_json.text
    assert unknown.is_error and "unknown tool 'nope'" in unknown.text and "ping" in unknown.text
    assert schema.is_error and "text" in schema.text and "string" in schema.text
    assert not_object.is_error and "JSON object" in not_object.text


@pytest.mark.anyio
async def test_a_model_that_never_stops_hits_max_turns(workspace: Path) -> None:
    model = ScriptedModel([tool_response(("ping", {})) for _ in range(3)])
    result, _ = await run(workspace, model, max_turns=3)
    assert result.status == "failed" and result.error is not None
    assert result.error.type == "LimitExceededError" and "3 turns" in result.error.message
    assert result.tool_calls == 3


@pytest.mark.anyio
async def test_deadline_cancels_the_tool_at_the_skill(workspace: Path) -> None:
    model = ScriptedModel([tool_response(("hang", {}))])
    result, events = await run(workspace, model, timeout_s=0.5)
    assert result.status == "timed_out" and result.turns == 1
    async with asyncio.timeout(5):  # the run's deadline reaches the skill's task
        await event("hang cancelled").wait()
    assert len(cancelled) == 1
    # The call ended with the run (cancelled by the agent, or its capped deadline at the skill):
    # no further turn was started.
    assert [e["type"] for e in events][-1] in ("tool_call", "tool_result")
    assert [e["type"] for e in events].count("model_request") == 1


@pytest.mark.anyio
async def test_huge_output_is_cut_for_the_model_and_kept_whole(workspace: Path) -> None:
    size = 10 * 1024 * 1024
    model = ScriptedModel([tool_response(("big", {"size": size})), text_response("ok")])
    result, events = await run(workspace, model, max_tool_output_chars=2000)
    assert result.status == "succeeded"
    seen = tool_results(model, 1)[0].text
    assert len(seen) < 2100 and ".podium/outputs/" in seen and f"{size:,}" in seen
    saved = next(e["saved_to"] for e in events if e["type"] == "tool_result")
    assert len((workspace / saved).read_text()) == size


@pytest.mark.anyio
async def test_token_budget(workspace: Path) -> None:
    model = ScriptedModel(
        [
            tool_response(("ping", {}), usage=Usage(600, 100)),
            text_response("late", usage=Usage(5000, 10)),
        ]
    )
    result, _ = await run(workspace, model, max_tokens=1000)
    assert result.status == "failed" and result.error is not None
    assert "token budget" in result.error.message


@pytest.mark.anyio
async def test_policy_filters_tools(workspace: Path) -> None:
    model = ScriptedModel([text_response("looked")])
    await run(workspace, model, read_only=True, deny_tools=["bi*"])
    assert {t.name for t in model.calls[0].tools} == {"ping"}


@pytest.mark.anyio
async def test_cancellation_records_a_cancelled_result(workspace: Path) -> None:
    model = ScriptedModel([tool_response(("hang", {}))])
    task = asyncio.create_task(run(workspace, model))
    async with asyncio.timeout(10):
        await event("hang started").wait()
    task.cancel()
    result, _ = await task
    assert result.status == "cancelled" and result.tool_calls == 1
    lines = [json.loads(x) for x in (workspace / "events.jsonl").read_text().splitlines()]
    assert lines[-1]["type"] == "tool_call"


@pytest.mark.anyio
async def test_small_caps_still_cut_and_repeated_ids_keep_every_output(workspace: Path) -> None:
    same = tool_response(("big", {"size": 5000}), ("big", {"size": 6000}))
    twin = type(same)(
        tool_calls=tuple(type(c)("dup", c.name, c.arguments) for c in same.tool_calls)
    )  # both calls id "dup"
    model = ScriptedModel([twin, text_response("ok")])
    result, events = await run(workspace, model, max_tool_output_chars=200)
    assert result.status == "succeeded"
    assert all(len(m.text) <= 200 for m in tool_results(model, 1))
    saved = sorted(e["saved_to"] for e in events if e["type"] == "tool_result")
    assert len(set(saved)) == 2
    assert sorted(len((workspace / s).read_text()) for s in saved) == [5000, 6000]


@pytest.mark.anyio
async def test_two_skills_offering_one_tool_name_is_reported(workspace: Path) -> None:
    async with probe_skill(workspace) as clients:
        twin = GrpcSkillClient.for_socket("probe-2", workspace / ".podium/sockets/probe.sock")
        both: dict[str, GrpcSkillClient] = {**clients, "probe-2": twin}
        infos = [await c.describe() for c in both.values()]
        events = EventLog(None)
        model = ScriptedModel([text_response("done")])
        agent = Agent(model, both, infos, AgentConfig(), events, workspace / "out")
        assert (await agent.run("x")).status == "succeeded"
        await twin.close()
    clashes = [e for e in events.events if e["type"] == "tool_conflict"]
    assert {e["name"] for e in clashes} == {"ping", "wait_for", "hang", "big", "wipe"}
    assert all(e["kept"] == "probe" and e["dropped"] == "probe-2" for e in clashes)
    assert len(model.calls[0].tools) == 5  # each name offered once
