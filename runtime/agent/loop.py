"""The agent loop: ask the model, run the tool calls it asks for (in parallel), feed the
results back, until a final answer or a limit (turns, deadline, token budget).

Every way a run can end becomes a `RunResult`; nothing here raises to the caller except a
bug. Tool trouble (bad JSON, unknown tool, a crashed skill) goes back to the model as a tool
error so it can recover; model trouble the adapter could not retry away fails the run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runtime.agent.base import (
    Approver,
    AssistantMessage,
    Message,
    Model,
    ModelError,
    ModelSettings,
    SkillClient,
    SkillInfo,
    SkillTool,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from runtime.agent.events import EventLog, RunError, RunResult, Status
from runtime.agent.gate import CallGate
from runtime.spec import Limits, Policy

BASE_PROMPT = (
    "You are an agent that completes the user's task by calling the tools you are given. "
    "Call several tools at once when they do not depend on each other. When the task is "
    "done, answer with a short final report and no tool calls."
)


@dataclass(frozen=True)
class AgentConfig:
    """The loop's settings: the run spec's own limits and policy (defined once, with their
    constraints, in `runtime.spec`) and the model settings."""

    limits: Limits = field(default_factory=Limits)
    """Turns, deadlines, token budget, output cap."""
    policy: Policy = field(default_factory=Policy)
    """What the model is offered and which calls need a person's approval."""
    settings: ModelSettings = field(default_factory=ModelSettings)
    """Passed to the model on every request."""


class LimitExceededError(Exception):
    pass


class Agent:
    def __init__(
        self,
        model: Model,
        skills: Mapping[str, SkillClient],
        infos: list[SkillInfo],
        config: AgentConfig,
        events: EventLog,
        outputs_dir: Path,
        approver: Approver | None = None,
    ) -> None:
        self.model, self.skills, self.config = model, skills, config
        self.events, self.outputs_dir = events, outputs_dir
        self.limits, policy = config.limits, config.policy
        self.gate = CallGate(policy.tool_policy(), events, approver, policy.approval_timeout_s)
        self.infos = {i.name: i for i in infos}
        self.usage, self.turns, self.tool_calls = Usage(), 0, 0
        self.deadline = time.monotonic() + self.limits.timeout_s  # fixed again by run()
        self._clashes: set[tuple[str, str]] = set()
        # (skill, tool) refusals already reported (the agent's main reports the first ones).
        self._refused = {(i.name, t) for i in infos for t, _ in i.refused}

    def system_prompt(self, extra: str = "") -> str:
        parts = [BASE_PROMPT]
        parts += [
            f"## Skill: {i.name}\n{i.instructions}" for i in self.infos.values() if i.instructions
        ]
        return "\n\n".join([*parts, extra] if extra else parts)

    async def run(self, task: str, extra_prompt: str = "") -> RunResult:
        # One deadline for the run, fixed now as an absolute time on this process's one clock
        # (time.monotonic(), asyncio's too); every tool call's deadline is capped by it.
        started = time.monotonic()
        self.deadline = started + self.limits.timeout_s
        status: Status = "succeeded"
        output, error = "", None
        try:
            async with asyncio.timeout_at(self.deadline):
                output = await self._loop(task, extra_prompt)
        except TimeoutError:
            status, error = (
                "timed_out",
                RunError("Timeout", f"run deadline of {self.limits.timeout_s:g}s passed"),
            )
        except asyncio.CancelledError:
            # SIGTERM or Ctrl-C: record what was done rather than vanish.
            status, error = "cancelled", RunError("Cancelled", "the run was cancelled")
        except (ModelError, LimitExceededError) as exc:
            status, error = "failed", RunError(type(exc).__name__, str(exc))
        return RunResult(
            status=status,
            output=output,
            error=error,
            usage=self.usage,
            tool_calls=self.tool_calls,
            turns=self.turns,
            duration_s=round(time.monotonic() - started, 3),
        )

    async def _loop(self, task: str, extra_prompt: str) -> str:
        messages: list[Message] = [
            SystemMessage(self.system_prompt(extra_prompt)),
            UserMessage(task),
        ]
        while True:
            if time.monotonic() >= self.deadline:  # calls that ended with the run's deadline
                raise TimeoutError
            if self.turns >= self.limits.max_turns:
                raise LimitExceededError(
                    f"the model was still calling tools after {self.limits.max_turns} turns "
                    "(max_turns)"
                )
            tools = await self._tools()
            self.turns += 1
            self.events.emit(
                "model_request", turn=self.turns, messages=len(messages), tools=len(tools)
            )
            t0 = time.monotonic()
            response = await self.model.request(
                messages, [t.spec() for t in tools.values()], self.config.settings
            )
            self.usage = self.usage + response.usage
            self.events.emit(
                "model_response",
                turn=self.turns,
                text=response.text,
                tool_calls=[vars(c) for c in response.tool_calls],
                usage=vars(response.usage),
                duration_s=round(time.monotonic() - t0, 3),
            )
            budget = self.limits.max_tokens
            if budget is not None and self.usage.total > budget:
                raise LimitExceededError(f"token budget exceeded: {self.usage.total} of {budget}")
            messages.append(AssistantMessage(response.text, response.tool_calls))
            if not response.tool_calls:
                return response.text
            results = await asyncio.gather(*(self._call(c, tools) for c in response.tool_calls))
            messages.extend(results)

    async def _tools(self) -> dict[str, SkillTool]:
        """The tools offered this turn; skills whose tool list can change are asked again."""
        for name, info in list(self.infos.items()):
            if info.dynamic_tools:
                try:
                    self.infos[name] = await self.skills[name].describe()
                except Exception as exc:  # any transport's failure: the skill may have died
                    # Keep its last tool list: a call to it then says what went wrong.
                    self.events.emit("skill_unavailable", name=name, error=str(exc)[:500])
        offered: dict[str, SkillTool] = {}
        for info in self.infos.values():
            for tool_name, why in info.refused:
                if (info.name, tool_name) not in self._refused:
                    self._refused.add((info.name, tool_name))
                    self.events.emit("tool_refused", skill=info.name, name=tool_name, reason=why)
            for tool in info.tools:
                if not self.gate.offered(tool):
                    continue
                first = offered.setdefault(tool.name, tool)  # the first skill listed wins
                if first is not tool and (tool.name, tool.skill) not in self._clashes:
                    self._clashes.add((tool.name, tool.skill))
                    self.events.emit(
                        "tool_conflict", name=tool.name, kept=first.skill, dropped=tool.skill
                    )
        return offered

    async def _call(self, call: ToolCall, tools: Mapping[str, SkillTool]) -> ToolResultMessage:
        self.tool_calls += 1
        start = (self.tool_calls, time.monotonic())  # this call's number, for its saved output
        tool = tools.get(call.name)
        decision = self.gate.decide(tool) if tool else None
        self.events.emit(
            "tool_call",
            id=call.id,
            name=call.name,
            arguments=call.arguments,
            skill=tool.skill if tool else None,
            policy=decision.action if decision else None,
            policy_reason=decision.reason if decision else None,
        )
        if tool is None:
            text = (
                f"unknown tool {call.name!r}; available tools: {', '.join(sorted(tools)) or 'none'}"
            )
            return self._result(call, text, True, "unknown_tool", start)
        arguments = call.arguments.strip() or "{}"
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError as exc:
            return self._result(
                call,
                f"arguments are not valid JSON ({exc}); send one JSON "
                "object matching the tool's schema",
                True,
                "invalid_arguments",
                start,
            )
        if not isinstance(parsed, dict):
            return self._result(
                call, "arguments must be a JSON object", True, "invalid_arguments", start
            )
        assert decision is not None
        admission = await self.gate.admit(start[0], call, tool, arguments, decision)
        if admission.refusal:
            return self._result(call, admission.refusal, True, admission.error_kind, start)
        deadline = min(time.monotonic() + self.limits.tool_timeout_s, self.deadline)

        def on_event(kind: str, message: str) -> None:
            self.events.emit(
                "tool_progress", id=call.id, name=call.name, kind=kind, message=message
            )

        outcome = await self.skills[tool.skill].invoke(
            call.id,
            call.name,
            arguments,
            deadline=deadline,
            on_event=on_event,
            approval=admission.approval,
        )
        return self._result(
            call, outcome.text, outcome.is_error, outcome.error_kind, start, list(outcome.artifacts)
        )

    def _result(
        self,
        call: ToolCall,
        text: str,
        is_error: bool,
        error_kind: str,
        start: tuple[int, float],
        artifacts: list[str] | None = None,
    ) -> ToolResultMessage:
        saved_to = None
        cap = self.limits.max_tool_output_chars
        full_length = len(text)
        if full_length > cap:
            # Turn and call counter in the name: model call ids may repeat or be empty.
            saved = self.outputs_dir / f"{self.turns:03d}-{start[0]:04d}-{_safe(call.id)}.txt"
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(text, encoding="utf-8")
            saved_to = f".podium/outputs/{saved.name}"
            note = (
                f"\n\n[output cut for the model: {full_length:,} characters in all; "
                f"the whole output is saved in {saved_to}]"
            )
            text = text[: max(0, cap - len(note))] + note
        self.events.emit(
            "tool_result",
            id=call.id,
            name=call.name,
            is_error=is_error,
            error_kind=error_kind,
            chars=full_length,
            preview=text[:500],
            saved_to=saved_to,
            artifacts=artifacts or [],
            duration_ms=round((time.monotonic() - start[1]) * 1000, 2),
        )
        return ToolResultMessage(call.id, call.name, text, is_error)


def _safe(call_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in call_id)[:80] or "call"
