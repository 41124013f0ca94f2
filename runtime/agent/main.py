"""The agent process (`podium agent`): what runs in the agent container.

Reads `.podium/run.json`, waits for its skills, runs the loop, and always leaves
`result.json` and `events.jsonl` behind, whatever happened, including SIGTERM. In a Pod it
also writes a one-line summary to the termination message, which the controller reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from protos.handoff import CALL_TOKENS_ENV, make_undumpable, take_secrets
from runtime.agent.approvals import FileApprover
from runtime.agent.base import ModelError, ModelSettings, SkillClient, SkillInfo, ToolOutcome
from runtime.agent.events import EventLog, RunError, RunResult
from runtime.agent.loop import Agent, AgentConfig
from runtime.agent.models import get_model
from runtime.agent.skill_client import SkillNotReadyError, connect_skills
from runtime.layout import RunPaths
from runtime.spec import RunSpec

TERMINATION_LOG = Path(os.environ.get("PODIUM_TERMINATION_LOG") or "/dev/termination-log")
"""Where the kubelet reads the termination message (PODIUM_TERMINATION_LOG: a test kubelet
running the agent as a local process)."""
log = logging.getLogger("podium.agent")


async def run_agent(
    workspace: Path,
    stream: TextIO | None = sys.stdout,
    tokens: Mapping[str, str] | None = None,
) -> RunResult:
    """`tokens` are the skills' call tokens (`PODIUM_CALL_TOKENS`, see runtime.keys)."""
    paths = RunPaths(workspace)
    paths.podium.mkdir(parents=True, exist_ok=True)
    events = EventLog(paths.events, stream)
    started = time.monotonic()
    clients: dict[str, SkillClient] = {}
    run_id = ""
    try:
        spec = _load_spec(paths)
        run_id = spec.run_id
        events.emit(
            "run_started",
            run_id=spec.run_id,
            task=spec.task,
            model=spec.model,
            skills=[s.name for s in spec.skills],
        )
        result = await _run(spec, paths, events, clients, tokens or {})
    except asyncio.CancelledError:
        result = RunResult(
            "cancelled", error=RunError("Cancelled", "cancelled before the loop started")
        )
    except (SkillNotReadyError, NoToolsError, ModelError, ValueError, OSError) as exc:
        result = RunResult("failed", error=RunError(type(exc).__name__, str(exc)))
    except Exception as exc:  # a bug, or a failure we did not foresee: still leave a result
        log.exception("the run failed unexpectedly")
        result = RunResult("failed", error=RunError(type(exc).__name__, str(exc)[:2000]))
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)
    if not result.duration_s:
        result.duration_s = round(time.monotonic() - started, 3)
    result.run_id = run_id
    result.save(paths.result)
    events.emit("run_finished", **result.to_dict())
    events.close()
    _termination_message(result)
    return result


def _load_spec(paths: RunPaths) -> RunSpec:
    """The run spec from PODIUM_RUN_SPEC (in a Pod: the run's ConfigMap, mounted read-only
    outside the workspace), else the workspace's run.json; a copy is kept beside the result."""
    mounted = Path(os.environ.get("PODIUM_RUN_SPEC") or paths.spec)
    spec = RunSpec.load(mounted)
    if mounted.absolute() != paths.spec.absolute():
        spec.save(paths.spec)
    return spec


async def _run(
    spec: RunSpec,
    paths: RunPaths,
    events: EventLog,
    clients: dict[str, SkillClient],
    tokens: Mapping[str, str],
) -> RunResult:
    def on_retry(reason: str) -> None:
        events.emit("model_retry", reason=reason)

    # The provider SDK's import (~0.5 s) overlaps the wait for the skills to come up.
    loading = asyncio.create_task(asyncio.to_thread(get_model, spec.model, on_retry=on_retry))
    t0 = time.monotonic()
    try:
        clients.update(
            await connect_skills(
                paths.sockets,
                [s.name for s in spec.skills],
                spec.limits.readiness_timeout_s,
                tokens,
            )
        )
    finally:
        model = await loading  # a ModelError (bad model string, no key) is reported first
    infos = list(await asyncio.gather(*(c.describe() for c in clients.values())))
    events.emit(
        "skills_ready",
        duration_s=round(time.monotonic() - t0, 3),
        skills=[
            {
                "name": i.name,
                "version": i.version,
                "tools": [t.name for t in i.tools],
                "warnings": [f"{s}: {m}" for s, m in i.warnings],
            }
            for i in infos
        ],
    )
    for info in infos:
        for tool, why in info.refused:
            events.emit("tool_refused", skill=info.name, name=tool, reason=why)
    _require_tools(spec, infos)
    config = AgentConfig(spec.limits, spec.policy, ModelSettings(temperature=spec.temperature))
    approver = FileApprover(paths.approvals)
    agent = Agent(model, clients, infos, config, events, paths.outputs, approver)
    memory = _memory_client(clients, infos)
    extra = spec.system_prompt or ""
    if memory and spec.memory.recall:
        recalled = await _memory_call(
            memory, events, "memory_search", {"query": spec.task, "limit": spec.memory.recall_limit}
        )
        if recalled and not recalled.is_error:
            extra += f"\n\n## Memories that may help\n{recalled.text}"
        events.emit(
            "memory_recall",
            ok=bool(recalled and not recalled.is_error),
            chars=len(recalled.text) if recalled else 0,
        )
    result = await agent.run(spec.task, extra.strip())  # never raises; records cancellation
    try:  # what follows must not cost the run its result, even if cancelled meanwhile
        if memory and spec.memory.summary and result.status == "succeeded":
            summary = f"Task: {spec.task}\nOutcome: {result.output[:1500]}"
            stored = await _memory_call(
                memory,
                events,
                "memory_store",
                {"content": summary, "tags": ["run-summary"], "source": spec.run_id},
            )
            events.emit(
                "memory_summary",
                ok=bool(stored and not stored.is_error),
                detail=stored.text[:200] if stored else "",
            )
    except asyncio.CancelledError:
        events.emit("memory_summary", ok=False, detail="cancelled")
    finally:
        close = getattr(model, "aclose", None)  # adapters with an HTTP pool have one
        if close is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await close()
    return result


class NoToolsError(Exception):
    """A skill of the run offers no tools, and the run did not allow that."""


def _require_tools(spec: RunSpec, infos: list[SkillInfo]) -> None:
    """A skill with no tools (every MCP server failed, a filter removed everything) would
    let the run "succeed" without the tools it was meant to have: stop before the first turn,
    with the skill's own warnings as the reason."""
    allowed = {s.name for s in spec.skills if s.allow_no_tools}
    empty = [i for i in infos if not i.tools and i.name not in allowed]
    if not empty:
        return
    parts: list[str] = []
    for info in empty:
        why = "; ".join(
            f"{source}: {message.removesuffix('; retrying in the background')}"
            for source, message in info.warnings
        )
        parts.append(f"skill {info.name!r} offers no tools" + (f" ({why})" if why else ""))
    flag = "--mcp-allow-no-tools" if any(_is_mcp(spec, i.name) for i in empty) else None
    hint = f"pass {flag} or " if flag else ""
    raise NoToolsError(
        "; ".join(parts) + f"; to start anyway, {hint}set allow_no_tools: true on the skill"
    )


def _is_mcp(spec: RunSpec, name: str) -> bool:
    return any(s.name == name and s.source == "mcp" for s in spec.skills)


def _memory_client(clients: dict[str, SkillClient], infos: list[SkillInfo]) -> SkillClient | None:
    for info in infos:
        if any(t.name == "memory_search" for t in info.tools):
            return clients[info.name]
    return None


async def _memory_call(
    client: SkillClient, events: EventLog, tool: str, args: dict[str, object]
) -> ToolOutcome | None:
    try:
        return await client.invoke(
            f"podium-{tool}", tool, json.dumps(args), deadline=time.monotonic() + 30
        )
    except Exception as exc:  # memory is a help, never a reason to fail the run
        events.emit("memory_error", tool=tool, error=str(exc))
        return None


TERMINATION_LIMIT = 4096
"""The kubelet keeps at most this many bytes of a termination message."""


def termination_summary(result: RunResult, limit: int = TERMINATION_LIMIT) -> str:
    """The run's summary as one JSON line of at most `limit` UTF-8 bytes: status, usage,
    turns, tool calls and the final answer, cut to fit (the whole one is in result.json)."""
    summary: dict[str, object] = {
        "status": result.status,
        "tool_calls": result.tool_calls,
        "turns": result.turns,
        "duration_s": result.duration_s,
        "usage": {
            "input_tokens": result.usage.input_tokens,
            "output_tokens": result.usage.output_tokens,
        },
        "error": result.error.message[:500] if result.error else None,
        "output": "",
        "truncated": False,
    }
    output = result.output

    def size(n: int) -> int:
        return len(json.dumps({**summary, "output": output[:n]}).encode())

    if size(len(output)) > limit:  # the longest prefix that fits (escapes count in full)
        summary["truncated"] = True
        low, high = 0, len(output)
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if size(mid) <= limit else (low, mid - 1)
        output = output[:low]
    summary["output"] = output
    return json.dumps(summary)


def _termination_message(result: RunResult) -> None:
    if not TERMINATION_LOG.exists():
        return
    try:
        TERMINATION_LOG.write_text(termination_summary(result), encoding="utf-8")
    except OSError as exc:  # read-only or missing outside a Pod: not worth failing over
        log.debug("no termination message: %s", exc)


def main(workspace: Path) -> int:
    """Run the agent in this process; SIGTERM/SIGINT cancel it cleanly."""

    # This process holds the model's key and every skill's call token: keep /proc out of it,
    # and take the tokens out of the environment before anything can inherit them.
    make_undumpable()
    found = take_secrets(CALL_TOKENS_ENV)
    tokens: dict[str, str] = {}
    if found.get(CALL_TOKENS_ENV):
        tokens = {str(k): str(v) for k, v in json.loads(found[CALL_TOKENS_ENV]).items()}

    async def runner() -> RunResult:
        task = asyncio.create_task(run_agent(workspace, tokens=tokens))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        return await task

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = asyncio.run(runner())
    return 0 if result.status == "succeeded" else 1
